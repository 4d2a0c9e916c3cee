"""socket-memory (C13): what a connection costs the kernel, idle and with data in flight.

An idle socket is a handful of slab objects: a struct tcp_sock (cache TCP), a sockfs inode
(sock_inode_cache), a dentry, a struct file (filp), an epoll registration (eventpoll_epi) and
security module data; it holds no buffers. Bytes sent but not yet read sit in socket buffers,
charged as whole sk_buffs (payload plus truesize bookkeeping): sockstat's `mem`, in pages, the
unit of net.ipv4.tcp_mem. /proc/slabinfo, meminfo's Slab: and sockstat's mem count the whole
machine, not the namespace, so anything else running moves them.
docs/labs/socket-memory.md is the worksheet.
"""

import os
import time

from procutil import meminfo_slab, slabinfo

from ..framework import fmt
from ..run import wait_for

NAME = "socket-memory"
CLAIMS = "C13"
TITLE = "What a connection costs the kernel, idle and with data in flight"


def run(lab):
    n_idle, n_busy, payload = 10000, 2000, 65536
    ns = lab.ns("mem", ["198.18.0.1"])
    s = lab.server(ns, "198.18.0.1:7000", "--quiet")
    time.sleep(0.3)
    slab0, caches0 = meminfo_slab(), slabinfo()
    c = lab.client_start(ns, "-n", n_idle, "--hold", 3, "--quiet")
    wait_for(lambda: ns.sockstat().get("inuse", 0) >= 2 * n_idle, 30, 0.2)
    time.sleep(1.0)
    slab1, caches1 = meminfo_slab(), slabinfo()
    c.wait(60)
    s.stop()
    pair = (slab1 - slab0) / n_idle
    moved = sorted(((k, (caches1.get(k, 0) - caches0.get(k, 0)) / n_idle) for k in caches1),
                   key=lambda kv: -kv[1])
    top = [(k, v) for k, v in moved if v >= 64][:8]

    busy = lab.ns("busy", ["198.18.0.1"])
    lab.server(busy, "198.18.0.1:7000", "--pause-accept", 0, "--quiet")
    mem0 = busy.sockstat().get("mem", 0)
    c = lab.client_start(busy, "-n", n_busy, "--concurrency", n_busy, "--ping-interval", 0.5,
                         "--payload", payload, "--hold", 3, "--quiet")
    peak = 0
    while c.p.poll() is None:
        peak = max(peak, busy.sockstat().get("mem", 0))
        time.sleep(0.1)
    c.wait(30)
    per_busy = (peak - mem0) * os.sysconf("SC_PAGE_SIZE") / n_busy

    lab.row(f"idle: kernel slab per connection pair ({fmt(n_idle)} pairs, both ends here)",
            "4-32 KB per connection (C13)", f"{pair:,.0f} B ({pair / 2:,.0f} B per socket)")
    for k, v in top:
        lab.row(f"  slab cache {k}", "-", f"{v:,.0f} B per pair")
    lab.row(f"with {payload // 1024} KiB unread per connection ({fmt(n_busy)} connections): "
            "TCP buffer memory (sockstat mem)", "-", f"{per_busy:,.0f} B per connection")
    lab.check("an idle socket costs 2..16 KB of slab", 2048 <= pair / 2 <= 16384)
    lab.check(f"a connection holding {payload // 1024} KiB costs at least that",
              per_busy >= payload)
    lab.note("Slab counts are machine-wide (/proc/slabinfo): anything else running moves them too.")
