"""listen-queue (C14): the accept queue; a small backlog drops a burst, a large one absorbs it.

The kernel completes handshakes without the application: a SYN makes a request socket (the SYN
queue: full at the listen backlog with tcp_syncookies=1, the default; tcp_max_syn_backlog bounds
it only with cookies off, see syn_flood.py), the final ACK a full socket on the accept queue until
accept() takes it. listen()'s backlog is capped at net.core.somaxconn, and the queue is full when
sk_ack_backlog > sk_max_ack_backlog (include/net/sock.h), so backlog + 1 connections fit. Past
that, tcp_conn_request() drops the SYN and counts ListenOverflows and ListenDrops; no SYN-ACK or
RST goes back (tcp_abort_on_overflow is off), so the client retransmits until its connect
timeout. somaxconn defaults to 4096 since Linux 5.4 (128 before): a burst of 200 then waits in the
queue while the server is paused.

Both bursts are watched every 50 ms: the listener's accept-queue length (for a LISTEN socket,
/proc/net/tcp's rx_queue is sk_ack_backlog) and the namespace's TcpExt counters. The small queue
fills at once and stays full; every dropped SYN counts once more when the client retransmits it,
so the drops climb in steps: the SYN retransmission timeout starts at 1 s (TCP_TIMEOUT_INIT) and,
since Linux 6.5, does not double for net.ipv4.tcp_syn_linear_timeouts (4) more timeouts: the
SYN's timeouts run 1, 1, 1, 1, 1, 2, 4 s (ip-sysctl.rst), so with the client's 3 s connect
timeout the steps come at 0, 1 and 2 s. The large queue takes the whole burst and empties when
accept() resumes.
docs/labs/listen-queue.md is the worksheet.
"""

import time

from procutil import KernelError

from ..errors import LabError
from ..framework import fmt, main_errno
from ..predictions import plus_minus, quantity, text

PORT = 7000
SAMPLE_S = 0.05

NAME = "listen-queue"
CLAIMS = "C14"
TITLE = "The accept queue: a small backlog drops a burst, a large one absorbs it"


def burst(lab, ns, server, n, hold):
    """Runs the client's burst of `n` while sampling the listener every SAMPLE_S; returns the
    client and [(seconds since the burst began, accept queue, ListenDrops, ListenOverflows)],
    the counters counted from the burst's start."""
    def sample():
        k = server.kernel("netstat", "listen-queues")
        tcp = k["netstat"].get("TcpExt", {})
        return (k["listen-queues"].get(str(PORT), 0),
                tcp.get("ListenDrops", 0), tcp.get("ListenOverflows", 0))
    _, drops0, over0 = sample()
    t0 = time.time()
    c = lab.client_start(ns, "-n", n, "--connect-timeout", 3, "--hold", hold, "--quiet")
    samples = []
    while c.p.poll() is None and time.time() - t0 < hold + 15:
        q, d, o = sample()
        samples.append((round(time.time() - t0, 3), q, d - drops0, o - over0))
        time.sleep(SAMPLE_S)
    c.wait(30)
    if c.last("summary") is None:
        raise LabError("the client printed no summary:\n" + c.dump())
    q, d, o = sample()  # after the burst: its whole count
    samples.append((round(time.time() - t0, 3), q, d - drops0, o - over0))
    return c, samples, t0


def curves(lab, n, small, big, resume_s):
    """Queue length and drops against time, the two backlogs side by side in each panel."""
    t = lambda ss: [x[0] for x in ss]
    col = lambda ss, i: [x[i] for x in ss]
    lab.curve(f"Accept queue while {n} clients connect at once", "seconds since the burst began",
              "connections waiting for accept()",
              [("backlog 16", t(small), col(small, 1)), ("backlog 4,096", t(big), col(big, 1))],
              marks=[("full: backlog 16 + 1", 17)],
              vmarks=[("4,096: accept() resumes", resume_s)], legend="center")
    same = all(x[2] == x[3] for x in small + big)
    series = [("backlog 16", t(small), col(small, 2)), ("backlog 4,096", t(big), col(big, 2))]
    if not same:
        series.insert(1, ("backlog 16: ListenOverflows", t(small), col(small, 3)))
    lab.curve("SYNs dropped at the full queue, and retransmitted", "seconds since the burst began",
              "TcpExt ListenDrops" + (" (= ListenOverflows)" if same else ""), series,
              legend="center right")


def steps(samples, min_jump):
    """When the drop count jumped by at least `min_jump` in one sample: the SYN and its
    retransmissions arriving."""
    return [b[0] for a, b in zip([(0, 0, 0, 0)] + samples, samples) if b[2] - a[2] >= min_jump]


PREDICTIONS = [
    quantity("small_established", "Backlog 16, a server that never accepts, a burst of 200 "
             "connections: how many are established?", "connections", plus_minus(1),
             "The accept queue is full when it holds more than the backlog (sk_acceptq_is_full() "
             "tests >, not >=): 16 + 1 fit.", paragraph="Backlog + 1."),
    quantity("small_errno", "What do the other clients of that burst get?", "errno name", text(),
             "Their SYNs are dropped silently (no RST: tcp_abort_on_overflow is off), so each "
             "client retries until its connect timeout: ETIMEDOUT, not ECONNREFUSED.",
             paragraph="What happens to the rest."),
    quantity("big_established", "Backlog 4,096 (the default somaxconn), the server paused for 3 s, "
             "the same burst: how many are established?", "connections", plus_minus(0),
             "Handshakes complete into the accept queue without the application; 4,097 places hold "
             "all 200 until the server accepts them.", paragraph="Two queues."),
]


def run(lab):
    n = 200
    small = lab.ns("small", ["198.18.0.1"], {"net.core.somaxconn": 16})
    big = lab.ns("big", ["198.18.0.1"])
    somaxconn_big = int(big.get("net.core.somaxconn"))
    syn_backlog = small.get("net.ipv4.tcp_max_syn_backlog")
    try:
        linear = small.get("net.ipv4.tcp_syn_linear_timeouts")
    except KernelError:  # before Linux 6.5: exponential from the first
        linear = "absent"

    srv1 = lab.server(small, "198.18.0.1:7000", "--pause-accept", 0, "--quiet")
    c1, q1, _ = burst(lab, small, srv1, n, 1)
    s1 = c1.last("summary")
    dr, ov = q1[-1][2], q1[-1][3]

    t_start = time.time()
    s2 = lab.server(big, "198.18.0.1:7000", "--pause-accept", 3, "--stats-interval", 0.5)
    c2, q2, t_burst = burst(lab, big, s2, n, 4)
    s2.stop()
    ov2 = q2[-1][3]
    peak2 = (s2.last("summary") or {}).get("peak_connections", 0)
    e2 = c2.last("summary")["established"]

    full1, full2 = (max((x[1] for x in q), default=0) for q in (q1, q2))
    jumps = steps(q1, (n - 17) // 4)
    emptied = next((x[0] for x in q2 if x[0] > 0.5 and x[1] == 0), None)

    lab.row("net.core.somaxconn", "default 128 (C14)",
            f"16 in the small namespace; {fmt(somaxconn_big)} by default (since Linux 5.4)")
    lab.row("net.ipv4.tcp_max_syn_backlog", "bounds the SYN queue",
            f"{syn_backlog} (bounds it only with tcp_syncookies=0: see syn-flood)")
    lab.row(f"backlog 16, server not accepting, burst of {n}: established / timed out",
            "too small drops connections", f"{fmt(s1['established'])} / {fmt(s1['failed'].get('ETIMEDOUT', 0))}")
    lab.row("TcpExt ListenOverflows / ListenDrops during that burst", "-", f"{fmt(ov)} / {fmt(dr)}")
    lab.row("... sampled every 50 ms: accept queue at its fullest / drops jumped at", "-",
            f"{full1} / " + ", ".join(f"{x:.1f}" for x in jumps) + " s (the SYNs, then their "
            f"retransmissions; tcp_syn_linear_timeouts = {linear})")
    lab.row(f"backlog {fmt(somaxconn_big)}, server paused 3 s, same burst: established / overflows",
            "-", f"{fmt(e2)} / {fmt(ov2)}")
    lab.row("... accept queue at its fullest / empty again at", "-",
            f"{full2} / " + (f"{emptied:.2f} s" if emptied else "never"))
    lab.row("... then accepted by the server once it resumed", "-", fmt(peak2))
    lab.measure("small_established", s1["established"])
    lab.measure("small_errno", main_errno(s1["failed"]))
    lab.measure("big_established", e2)
    lab.check("small backlog: at most ~backlog+1 established, the rest time out",
              s1["established"] <= 40 and s1["failed"].get("ETIMEDOUT", 0) >= n - 40)
    lab.check("ListenOverflows and ListenDrops climbed", ov > 0 and dr > 0)
    lab.check("large backlog: all established, no overflow, all accepted later",
              e2 == n and ov2 == 0 and peak2 == n)
    lab.check("small backlog: the sampled queue reached backlog + 1 = 17 and never passed it",
              full1 == 17)
    lab.check(f"large backlog: the queue held all {n} while paused, and was empty at the end",
              full2 == n and bool(q2) and q2[-1][1] == 0)
    curves(lab, n, q1, q2, round(t_start + 3 - t_burst, 3))
