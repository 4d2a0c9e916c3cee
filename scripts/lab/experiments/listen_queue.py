"""listen-queue (C14): the accept queue; a small backlog drops a burst, a large one absorbs it.

The kernel completes handshakes without the application: a SYN makes a request socket (the SYN
queue: full at the listen backlog with tcp_syncookies=1, the default; tcp_max_syn_backlog bounds
it only with cookies off, see syn_flood.py), the final ACK a full socket on the accept queue until
accept() takes it. listen()'s backlog is capped at net.core.somaxconn, and the queue is full when
sk_ack_backlog > sk_max_ack_backlog (include/net/sock.h), so backlog + 1 connections fit. Past
that, tcp_conn_request() drops the SYN and counts ListenOverflows and ListenDrops; no SYN-ACK or
RST goes back (tcp_abort_on_overflow is off), so the client retransmits until its connect
timeout. somaxconn defaults to 4096 since Linux 5.4 (128 before): a burst of 200 then waits in the
queue while the server is paused. docs/labs/listen-queue.md is the worksheet.
"""

from ..framework import fmt

NAME = "listen-queue"
CLAIMS = "C14"
TITLE = "The accept queue: a small backlog drops a burst, a large one absorbs it"


def run(lab):
    n = 200
    small = lab.ns("small", ["198.18.0.1"], {"net.core.somaxconn": 16})
    big = lab.ns("big", ["198.18.0.1"])
    somaxconn_big = int(big.get("net.core.somaxconn"))
    syn_backlog = small.get("net.ipv4.tcp_max_syn_backlog")

    lab.server(small, "198.18.0.1:7000", "--pause-accept", 0, "--quiet")
    before = small.netstat()
    c1 = lab.client(small, "-n", n, "--connect-timeout", 3, "--hold", 1, "--quiet")
    after = small.netstat()
    s1 = c1.last("summary")
    ov = after.get("ListenOverflows", 0) - before.get("ListenOverflows", 0)
    dr = after.get("ListenDrops", 0) - before.get("ListenDrops", 0)

    s2 = lab.server(big, "198.18.0.1:7000", "--pause-accept", 3, "--stats-interval", 0.5)
    before = big.netstat()
    c2 = lab.client(big, "-n", n, "--connect-timeout", 3, "--hold", 4, "--quiet")
    after = big.netstat()
    s2.stop()
    ov2 = after.get("ListenOverflows", 0) - before.get("ListenOverflows", 0)
    peak2 = (s2.last("summary") or {}).get("peak_connections", 0)
    e2 = c2.last("summary")["established"]

    lab.row("net.core.somaxconn", "default 128 (C14)",
            f"16 in the small namespace; {fmt(somaxconn_big)} by default (since Linux 5.4)")
    lab.row("net.ipv4.tcp_max_syn_backlog", "bounds the SYN queue",
            f"{syn_backlog} (bounds it only with tcp_syncookies=0: see syn-flood)")
    lab.row(f"backlog 16, server not accepting, burst of {n}: established / timed out",
            "too small drops connections", f"{fmt(s1['established'])} / {fmt(s1['failed'].get('ETIMEDOUT', 0))}")
    lab.row("TcpExt ListenOverflows / ListenDrops during that burst", "-", f"{fmt(ov)} / {fmt(dr)}")
    lab.row(f"backlog {fmt(somaxconn_big)}, server paused 3 s, same burst: established / overflows",
            "-", f"{fmt(e2)} / {fmt(ov2)}")
    lab.row("... then accepted by the server once it resumed", "-", fmt(peak2))
    lab.check("small backlog: at most ~backlog+1 established, the rest time out",
              s1["established"] <= 40 and s1["failed"].get("ETIMEDOUT", 0) >= n - 40)
    lab.check("ListenOverflows and ListenDrops climbed", ov > 0 and dr > 0)
    lab.check("large backlog: all established, no overflow, all accepted later",
              e2 == n and ov2 == 0 and peak2 == n)
