"""socket-memory (C13): what a connection costs the kernel, idle and with data in flight.

An idle socket is a handful of slab objects: a struct tcp_sock (cache TCP), a sockfs inode
(sock_inode_cache), a dentry, a struct file (filp), an epoll registration (eventpoll_epi) and
security module data; it holds no buffers. Bytes sent but not yet read sit in socket buffers,
charged as whole sk_buffs (payload plus truesize bookkeeping): sockstat's `mem`, in pages, the
unit of net.ipv4.tcp_mem. /proc/slabinfo, meminfo's Slab: and sockstat's mem count the whole
machine, not the namespace, so anything else running moves them.

The idle connections open at a fixed rate while /proc/slabinfo is sampled: each cache grows in
step with the connections (a slab cache takes whole pages from the page allocator as its objects
need them, so the steps are a slab, a few pages, wide), and the slope of each line is what one
more connection costs in that cache. docs/labs/socket-memory.md is the worksheet.
"""

import os
import statistics
import time

from procutil import meminfo_slab, slabinfo

from ..framework import fmt
from ..predictions import percent, quantity

SAMPLE_S = 0.2

PREDICTIONS = [
    quantity("idle_pair_bytes", "Kernel slab memory per idle connection, both of its sockets on "
             "this machine (a client and a server end)", "bytes", percent(30),
             "Each socket is a handful of slab objects: its tcp_sock (about 2.5 KB), a sockfs "
             "inode, a dentry, a file and an epoll item: about 5 KB a socket, 10 KB a pair, and no "
             "buffers while idle.", paragraph="An idle socket is a handful of objects."),
    quantity("busy_bytes", "With 64 KiB sent and never read, TCP buffer memory per connection "
             "(sockstat's mem)", "bytes", percent(25),
             "The 64 KiB (65,536 B) waits in the receiver's queue, charged as whole sk_buffs "
             "(truesize): somewhat more than the data itself.", paragraph="Buffers come with data."),
]

NAME = "socket-memory"
CLAIMS = "C13"
TITLE = "What a connection costs the kernel, idle and with data in flight"


def tcp_inuse(server):
    """TCP sockets in the server's namespace: the listener and both ends of each connection."""
    return server.kernel("sockstat")["sockstat"]["tcp_inuse"]


def ramp(server, n, samples):
    """Appends (connections, Slab bytes, cache -> bytes) every SAMPLE_S until `n` are open."""
    end = time.time() + 30
    while time.time() < end:
        inuse = tcp_inuse(server)
        samples.append((max(inuse - 1, 0) // 2, meminfo_slab(), slabinfo()))
        if inuse >= 2 * n:
            return
        time.sleep(SAMPLE_S)


def slope(xs, ys):
    """Bytes per connection: the median over the sampling intervals of growth / connections
    opened, so that a step from something else (a process listing /proc/PID/fd makes a
    proc_inode_cache inode and a dentry per descriptor) moves it little."""
    steps = [(y1 - y0) / (x1 - x0) for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:]) if x1 > x0]
    return statistics.median(steps) if steps else 0.0


def growth_curve(lab, samples, n, rate):
    """MiB grown since the start against connections: all of Slab and the two caches growing
    fastest with the connections in one panel, the next four in a second at their own scale.
    Returns Slab's slope."""
    s0, c0 = samples[0][1], samples[0][2]
    conns = [x for x, _, _ in samples]
    grown = {k: [c.get(k, 0) - c0.get(k, 0) for _, _, c in samples] for k in samples[-1][2]}
    fastest = sorted(grown, key=lambda k: -slope(conns, grown[k]))[:6]
    total = [b - s0 for _, b, _ in samples]
    panels = [(f"Kernel slab while {fmt(n)} idle connections open at {fmt(rate)}/s",
               [("Slab (meminfo), all caches", total)] + [(k, grown[k]) for k in fastest[:2]]),
              ("... and the next four caches", [(k, grown[k]) for k in fastest[2:]])]
    for title, lines in panels:
        lab.curve(title, "connections established (a client and a server socket each)",
                  "MiB grown since the first connect",
                  [(f"{name}: {slope(conns, ys):,.0f} B/conn", conns, [round(y / 2**20, 3) for y in ys])
                   for name, ys in lines], legend="upper left")
    return slope(conns, total)


def run(lab):
    n_idle, n_busy, payload, rate = 10000, 2000, 65536, 2500
    ns = lab.ns("mem", ["198.18.0.1"])
    s = lab.server(ns, "198.18.0.1:7000", "--quiet")
    time.sleep(0.3)
    slab0, caches0 = meminfo_slab(), slabinfo()
    samples = [(0, slab0, caches0)]
    c = lab.client_start(ns, "-n", n_idle, "--rate", rate, "--hold", 3, "--quiet")
    ramp(s, n_idle, samples)
    time.sleep(1.0)
    slab1, caches1 = meminfo_slab(), slabinfo()
    samples.append(((tcp_inuse(s) - 1) // 2, slab1, caches1))
    c.wait(60)
    s.stop()
    ramp_slope = growth_curve(lab, samples, n_idle, rate)
    pair = (slab1 - slab0) / n_idle
    moved = sorted(((k, (caches1.get(k, 0) - caches0.get(k, 0)) / n_idle) for k in caches1),
                   key=lambda kv: -kv[1])
    top = [(k, v) for k, v in moved if v >= 64][:8]

    busy = lab.ns("busy", ["198.18.0.1"])
    lab.server(busy, "198.18.0.1:7000", "--pause-accept", 0, "--quiet")
    mem0 = busy.sockstat()["tcp_mem_pages"]
    c = lab.client_start(busy, "-n", n_busy, "--concurrency", n_busy, "--ping-interval", 0.5,
                         "--payload", payload, "--hold", 3, "--quiet")
    peak = 0
    while c.p.poll() is None:
        peak = max(peak, busy.sockstat()["tcp_mem_pages"])
        time.sleep(0.1)
    c.wait(30)
    per_busy = (peak - mem0) * os.sysconf("SC_PAGE_SIZE") / n_busy

    lab.row(f"idle: kernel slab per connection pair ({fmt(n_idle)} pairs, both ends here)",
            "4-32 KB per connection (C13)", f"{pair:,.0f} B ({pair / 2:,.0f} B per socket)")
    for k, v in top:
        lab.row(f"  slab cache {k}", "-", f"{v:,.0f} B per pair")
    lab.row(f"... Slab's slope while they opened at {fmt(rate)}/s (median of {len(samples) - 1} "
            "intervals)", "-", f"{ramp_slope:,.0f} B per pair")
    lab.row(f"with {payload // 1024} KiB unread per connection ({fmt(n_busy)} connections): "
            "TCP buffer memory (sockstat mem)", "-", f"{per_busy:,.0f} B per connection")
    lab.measure("idle_pair_bytes", round(pair))
    lab.measure("busy_bytes", round(per_busy))
    lab.check("an idle socket costs 2..16 KB of slab", 2048 <= pair / 2 <= 16384)
    lab.check(f"a connection holding {payload // 1024} KiB costs at least that",
              per_busy >= payload)
    lab.note("Slab counts are machine-wide (/proc/slabinfo): anything else running moves them too. "
             "A process listing /proc/PID/fd (lsof, a monitor) adds a proc_inode_cache inode and "
             "a dentry per descriptor listed: steps in the curve, no part of a socket.")
