"""conntrack: a stateful firewall's table silently drops new connections once it is full.

A rule that matches on `ct state` makes netfilter track every flow of the namespace: each
connection gets an entry in the connection-tracking table (one slab object, nf_conntrack).
The table's size is net.netfilter.nf_conntrack_max, 262,144 on this machine by default, and it
is machine-wide (writable only from the host's namespace; each namespace's entries are counted
against it separately). When __nf_conntrack_alloc() finds the namespace's count at the limit, it
tries to evict an entry that never completed a handshake (early_drop); held connections are
"assured" and cannot go, so the packet is dropped and the kernel logs "nf_conntrack: table
full, dropping packet" (rate-limited). The SYN never leaves: the client retries it and times
out. The two fixes: a larger table, or no tracking for the listener's port (a `notrack` rule in
a raw-priority chain), which the stateful rule then sees as `ct state untracked`.

The experiment lowers the global nf_conntrack_max to LIMIT for its runs and puts the old value
back on every exit path. docs/labs/conntrack.md is the worksheet.
"""

import os

from procutil import slabinfo

from ..errors import LabSkipped
from ..framework import fmt, main_errno, require_nft
from ..predictions import percent, plus_minus, quantity, text
from ..run import kernel_log, machine_sysctl, wait_for

NAME = "conntrack"
CLAIMS = "C16"  # millions of connections meet this limit long before the article's
TITLE = "A full connection-tracking table drops new connections; a larger table or notrack fixes it"

MAX = "/proc/sys/net/netfilter/nf_conntrack_max"
LIMIT = 2000
N = 3000

PREDICTIONS = [
    quantity("established_full", "A stateful ruleset and nf_conntrack_max at 2,000: a client asks "
             "for 3,000 connections. How many are established?", "connections", plus_minus(0),
             "Every connection is one entry; held connections are assured and cannot be evicted, "
             "so at 2,000 entries every new SYN is dropped: 2,000.", paragraph="Full."),
    quantity("errno_full", "What do the other connects of that client fail with?", "errno name",
             text(), "The SYN is dropped before it reaches any socket, silently: the client "
             "retransmits it until its connect timeout, ETIMEDOUT, not a refusal.", paragraph="Full."),
    quantity("bytes_per_entry", "Kernel memory per tracked connection (the nf_conntrack slab's "
             "growth per entry)", "bytes", percent(20),
             "One object of the nf_conntrack slab per connection, both directions in it: its object "
             "size, 256 bytes in /proc/slabinfo.", paragraph="One entry per connection."),
]

STATEFUL = """table inet c10m {
    chain input {
        type filter hook input priority 0; policy accept;
        ct state established,related counter accept
        ct state new tcp dport 7000 counter accept
        ct state untracked counter accept
    }
}
"""
NOTRACK = """table inet c10m_raw {
    chain pre {
        type filter hook prerouting priority raw; policy accept;
        tcp dport 7000 notrack
        tcp sport 7000 notrack
    }
    chain out {
        type filter hook output priority raw; policy accept;
        tcp dport 7000 notrack
        tcp sport 7000 notrack
    }
}
"""


def kmsg_table_full():
    """The kernel log's lines that say the table was full ("nf_conntrack: table full in netns
    N, dropping packet" on 6.x; "table full, dropping packet" before)."""
    return kernel_log("table full", "dropping packet")


def one_run(lab, tag, limit, notrack=False):
    ns = lab.ns(tag, ["198.18.0.1"])
    lab.nft(ns, STATEFUL + (NOTRACK if notrack else ""))
    with open(MAX, "w") as f:
        f.write(str(limit))
    lab.server(ns, "198.18.0.1:7000", "--quiet")
    slab0 = slabinfo().get("nf_conntrack", 0)
    st0 = ns.kernel("conntrack")["conntrack"]
    log0 = len(kmsg_table_full())
    c = lab.client_start(ns, "-n", N, "--connect-timeout", 3, "--hold", 2, "--quiet")
    count = 0
    slab = slab0

    def peak():
        nonlocal count, slab
        count = max(count, int(ns.get("net.netfilter.nf_conntrack_count")))
        slab = max(slab, slabinfo().get("nf_conntrack", 0))
        return c.p.poll() is not None
    wait_for(peak, 60, 0.2)
    c.wait(60)
    st = ns.kernel("conntrack")["conntrack"]
    s = c.last("summary")
    return {
        "established": s["established"], "failed": s["failed"], "count": count,
        "drop": st.get("drop", 0) - st0.get("drop", 0),
        "early_drop": st.get("early_drop", 0) - st0.get("early_drop", 0),
        "logged": len(kmsg_table_full()) - log0,
        "log_line": (kmsg_table_full() or [""])[-1].split("] ", 1)[-1],
        "bytes_per_entry": (slab - slab0) / count if count else None,
    }


def run(lab):
    require_nft()
    if not os.path.exists(MAX):
        raise LabSkipped(f"{MAX} is absent: no nf_conntrack in this kernel")
    # The limit is machine-wide and every namespace's count is held against it: a host that
    # tracks its own connections (Docker, kube-proxy) would lose new ones while it is low.
    with open("/proc/sys/net/netfilter/nf_conntrack_count") as f:
        host = int(f.read())
    if host > LIMIT // 10:
        raise LabSkipped(f"this machine tracks {host:,} connections of its own; lowering the "
                         f"machine-wide nf_conntrack_max to {LIMIT:,} would drop its new ones")
    with machine_sysctl(MAX, LIMIT) as before:  # each run sets its own limit inside
        full = one_run(lab, "full", LIMIT)
        bigger = one_run(lab, "bigger", 2 * N)
        untracked = one_run(lab, "notrack", LIMIT, notrack=True)
    lab.note(f"net.netfilter.nf_conntrack_max is machine-wide: set to {fmt(LIMIT)} and "
             f"{fmt(2 * N)} for the runs, put back to {before} after them.")
    lab.row("nf_conntrack_max on this machine", "-", f"{int(before):,} (machine-wide)")
    for label, r, limit in ((f"table of {fmt(LIMIT)}", full, LIMIT),
                            (f"table of {fmt(2 * N)}", bigger, 2 * N),
                            (f"table of {fmt(LIMIT)} + notrack for port 7000", untracked, LIMIT)):
        failed = ", ".join(f"{k} {fmt(v)}" for k, v in sorted(r["failed"].items())) or "none"
        lab.row(f"{label}: {fmt(N)} connections: established / failed",
                "folklore: a full table refuses connections" if r is full else "-",
                f"{fmt(r['established'])} / {failed}")
        lab.row(f"{label}: conntrack entries at the peak", "-", fmt(r["count"]))
        lab.row(f"{label}: packets dropped (stat drop) / early drops / 'table full' log lines", "-",
                f"{fmt(r['drop'])} / {fmt(r['early_drop'])} / {fmt(r['logged'])}")
    if full["log_line"]:
        lab.note(f"kernel log: {full['log_line']} (rate-limited: a few lines for "
                 f"{fmt(full['drop'])} drops)")
    bpe = bigger["bytes_per_entry"]
    lab.row("kernel memory per entry (nf_conntrack slab growth / entries)",
            "folklore: ~300 bytes per entry",
            f"{bpe:.0f} B" if bpe else "-")
    lab.measure("established_full", full["established"])
    lab.measure("errno_full", main_errno(full["failed"]))
    lab.measure("bytes_per_entry", round(bpe) if bpe else None)
    lab.check("a full table: new connections fail, packets dropped",
              full["established"] <= LIMIT and full["established"] < N and full["drop"] > 0
              and sum(full["failed"].values()) > 0 and full["count"] <= LIMIT
              and full["logged"] > 0)
    lab.check("a larger table: all established, nothing dropped",
              bigger["established"] == N and bigger["drop"] == 0 and bigger["count"] >= N)
    lab.check("notrack for the port: all established with the small table, no entries",
              untracked["established"] == N and untracked["drop"] == 0 and untracked["count"] < 10)
