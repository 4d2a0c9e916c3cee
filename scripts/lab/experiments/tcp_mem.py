"""tcp-mem (C13): connections with data waiting cost buffer memory, and net.ipv4.tcp_mem caps it.

An idle connection's socket buffers are empty: it costs its slab objects only (socket-memory).
Data that nobody reads sits in the receiver's queue (and what the receiver will not take, in the
sender's), charged to the machine-wide TCP memory pool, counted in pages as the `mem` of
/proc/net/sockstat. net.ipv4.tcp_mem is three page counts for that pool (tcp_memory_allocated,
net/ipv4/tcp.c): below the first, nothing happens; above the second the stack is "under
pressure" (TCPMemoryPressures counts entries into it): queues are pruned and windows shrink
(tcp_prune_queue: PruneCalled, RcvPruned); above the third a receiver's allocation fails and
arriving data is dropped (TCPRcvQDrop), so the sender retransmits. A sender is not refused:
__sk_mem_raise_allocated() (net/core/sock.c) shrinks its sndbuf (sk_stream_moderate_sndbuf) and
lets a socket at or over it charge anyway, so the pool can pass the third value. The log line
"out of memory -- consider tuning tcp_mem" comes from tcp_check_oom(), for orphaned sockets
only. tcp_mem is not a
per-namespace sysctl on this kernel: the experiment lowers the machine's for one run and puts
it back on every exit path.

Each run: a server that never accepts (its connections wait in the accept queue, where the
kernel still takes their data), N clients each sending one 64 KiB ping that is never read.
docs/labs/tcp-mem.md is the worksheet.
"""

from procutil import fact

from ..errors import LabSkipped
from ..framework import fmt
from ..predictions import percent, plus_minus, quantity
from ..run import kernel_log, machine_sysctl, wait_for

NAME = "tcp-mem"
CLAIMS = "C13"
TITLE = "Data waiting in buffers costs memory per connection; tcp_mem caps it, with pressure first"

TCP_MEM = "/proc/sys/net/ipv4/tcp_mem"
N = 1000
PAYLOAD = 65536
# The lowered limits, in pages above what the machine uses already.
LOW, PRESSURE, HIGH = 1000, 1500, 2000
COUNTERS = ["TCPMemoryPressures", "PruneCalled", "RcvPruned", "TCPRcvQDrop"]
PAGE = 4096

PREDICTIONS = [
    quantity("peak_pages", "1,000 connections each holding one 64 KiB ping that nobody reads, the "
             "machine's own tcp_mem: TCP buffer memory at the peak (sockstat mem, 4 KiB pages)",
             "pages", percent(15),
             "1,000 x 64 KiB is 16,000 pages of data, charged as sk_buffs (truesize) a little "
             "above the data: some 17,000 to 18,000 pages, far below tcp_mem's first value.",
             paragraph="Where the memory goes."),
    quantity("established_capped", "tcp_mem lowered to what TCP holds plus 1,000 / 1,500 / 2,000 "
             "pages, the same 1,000 pings: how many connections stay established?", "connections",
             plus_minus(0),
             "tcp_mem refuses data, not connections: receivers drop segments past the limit and "
             "senders retransmit them, but no connection is closed: all 1,000.",
             paragraph="Senders are not refused."),
]


def tcp_pages():
    return fact("sockstat")["tcp_mem_pages"]


def oom_lines():
    return len(kernel_log("out of memory -- consider tuning tcp_mem"))


def one_run(lab, tag, base):
    ns = lab.ns(tag, ["198.18.0.1"])
    lab.server(ns, "198.18.0.1:7000", "--pause-accept", 0, "--backlog", 4096, "--quiet")
    before, log0 = ns.netstat(), oom_lines()
    c = lab.client_start(ns, "-n", N, "--payload", PAYLOAD, "--ping-interval", 0.5,
                         "--hold", 5, "--connect-timeout", 3, "--quiet")
    peak = [0]

    def sample():
        peak[0] = max(peak[0], tcp_pages() - base)
        return c.p.poll() is not None
    wait_for(sample, 60, 0.1)
    c.wait(60)
    after = ns.netstat()
    s = c.last("summary") or {}
    return {"peak_pages": peak[0], "established": s.get("established", 0),
            "pings_sent": s.get("pings_sent", 0), "pings_ok": s.get("pings_ok", 0),
            "failed": s.get("failed", {}), "oom_logged": oom_lines() - log0,
            **{k: after.get(k, 0) - before.get(k, 0) for k in COUNTERS}}


def run(lab):
    with open(TCP_MEM) as f:
        machine = f.read().split()
    base = tcp_pages()
    if base > 5000:
        raise LabSkipped(f"this machine's TCP already holds {base:,} pages of buffers; lowering "
                         f"the machine-wide tcp_mem to {base + HIGH:,} would starve it")
    free = one_run(lab, "free", base)
    lowered = [base + LOW, base + PRESSURE, base + HIGH]
    with machine_sysctl(TCP_MEM, " ".join(str(v) for v in lowered)):
        capped = one_run(lab, "capped", base)
    lab.note(f"net.ipv4.tcp_mem is machine-wide here: {' '.join(machine)} pages; lowered to "
             f"{' '.join(map(str, lowered))} for the second run (what TCP held before plus "
             f"{LOW}, {PRESSURE}, {HIGH}), put back after it.")
    want = N * PAYLOAD
    lab.row(f"{fmt(N)} connections, one {PAYLOAD // 1024} KiB ping each, never read: data waiting",
            "-", f"{want / 2**20:.1f} MiB")
    per_conn = free["peak_pages"] * PAGE / N
    lab.row("machine's tcp_mem: TCP buffer memory at the peak (sockstat mem)",
            "C13: memory per connection grows with the data it carries",
            f"{fmt(free['peak_pages'])} pages = {free['peak_pages'] * PAGE / 2**20:.1f} MiB, "
            f"{per_conn:,.0f} B per connection")
    lab.row("machine's tcp_mem: pressure entries / pruned / dropped", "-",
            " / ".join(fmt(free[k]) for k in ("TCPMemoryPressures", "PruneCalled", "TCPRcvQDrop")))
    lab.row(f"tcp_mem lowered to +{LOW}/+{PRESSURE}/+{HIGH} pages: buffer memory at the peak",
            "tcp_mem caps it", f"{fmt(capped['peak_pages'])} pages "
            f"({capped['peak_pages'] * PAGE / 2**20:.1f} MiB)")
    lab.row("lowered: " + ", ".join(COUNTERS), "-", ", ".join(fmt(capped[k]) for k in COUNTERS))
    lab.row("lowered: 'out of memory -- consider tuning tcp_mem' log lines (orphans only)", "-",
            fmt(capped["oom_logged"]))
    for label, r in (("machine's tcp_mem", free), ("lowered", capped)):
        failed = ", ".join(f"{k} {fmt(v)}" for k, v in sorted(r["failed"].items())) or "none"
        lab.row(f"{label}: client: established / pings sent / echoed / failures", "-",
                f"{fmt(r['established'])} / {fmt(r['pings_sent'])} / {fmt(r['pings_ok'])} / {failed}")
    lab.measure("peak_pages", free["peak_pages"])
    lab.measure("established_capped", capped["established"])
    lab.check("the data waits in buffers: more than the payload's pages are charged",
              free["peak_pages"] * PAGE >= want and free["TCPMemoryPressures"] == 0)
    lab.check("lowered: pressure was entered and receivers dropped data",
              capped["TCPMemoryPressures"] > 0 and capped["TCPRcvQDrop"] > 0)
    lab.check("lowered: the third value is no cap on senders: the pool passed it",
              capped["peak_pages"] > HIGH)
    lab.check("connections survive: every client connection stays established",
              free["established"] == N and capped["established"] == N)
