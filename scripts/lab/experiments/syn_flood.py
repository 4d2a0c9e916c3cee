"""syn-flood (C14): half-open requests fill the SYN queue; SYN cookies keep the listener open.

A SYN makes a request socket (SYN_RECV) in the listener's SYN queue until the final ACK comes.
A client that never sends that ACK (c10m-client --engine tun --handshake none) leaves each one
there until the SYN-ACK retries (tcp_synack_retries) give up. tcp_conn_request()
(net/ipv4/tcp_input.c) decides what a new SYN gets:

- the queue counts as full at the listen backlog (inet_csk_reqsk_queue_is_full(): its length
  against sk_max_ack_backlog, the backlog given to listen(), capped by somaxconn);
- with tcp_syncookies=1 (the default) a SYN that finds it full is answered with a cookie
  SYN-ACK: the request is encoded in the sequence number and nothing is stored, so ordinary
  clients still connect (SyncookiesSent, TCPReqQFullDoCookies);
- with tcp_syncookies=0 such a SYN is dropped (TCPReqQFullDrop, ListenDrops), and so is any SYN
  once the queue holds more than 3/4 of tcp_max_syn_backlog: that sysctl matters only with
  cookies off (listen(2)).

Each run: a listener with backlog 256 and tcp_max_syn_backlog 128 in its own namespace, a flood
of SYNs that never complete, then ordinary clients while the flood's requests are held.
docs/labs/syn-flood.md is the worksheet.
"""

from ..framework import fmt
from ..predictions import plus_minus, quantity
from ..run import settled

NAME = "syn-flood"
CLAIMS = "C14"
TITLE = "A SYN flood fills the SYN queue at the listen backlog; SYN cookies keep the listener open"

BACKLOG = 256
SYN_BACKLOG = 128
FLOOD = 1000
ORDINARY = 50
PREDICTIONS = [
    quantity("queue_cookies", "Listen backlog 256, tcp_max_syn_backlog 128, SYN cookies on "
             "(tcp_syncookies = 1): a flood of 1,000 SYNs that are never completed. How many "
             "half-open requests (SYN_RECV) does the listener hold?", "requests", plus_minus(2),
             "With cookies on, the SYN queue counts as full at the listen backlog (256, and one "
             "more: the test is >); past it the SYNs get cookies. tcp_max_syn_backlog plays no part.",
             paragraph="Full at the backlog."),
    quantity("queue_no_cookies", "The same flood with tcp_syncookies = 0: how many half-open "
             "requests are held?", "requests", plus_minus(2),
             "Without cookies a SYN is dropped once the queue holds more than 3/4 of "
             "tcp_max_syn_backlog: 96 (and one more).", paragraph="Cookies off."),
    quantity("ordinary_no_cookies", "With cookies off and the flood's requests held, how many of 50 "
             "ordinary clients connect?", "clients", plus_minus(2),
             "Their SYNs meet the same full queue as the flood's and are dropped: none.",
             paragraph="Cookies off."),
]
COUNTERS = ["SyncookiesSent", "SyncookiesRecv", "TCPReqQFullDoCookies", "TCPReqQFullDrop",
            "ListenDrops", "ListenOverflows"]


def half_open(ns):
    return ns.tcp_port(7000)["local"].get("SYN_RECV", 0)


def one_run(lab, cookies):
    ns = lab.ns(f"cookies{cookies}", ["198.18.0.1"],
                {"net.ipv4.tcp_syncookies": cookies, "net.ipv4.tcp_max_syn_backlog": SYN_BACKLOG})
    lab.server(ns, "198.18.0.1:7000", "--backlog", BACKLOG, "--quiet")
    before = ns.netstat()
    flood = lab.client_start(ns, "--engine", "tun", "--handshake", "none", "-n", FLOOD,
                             "--rate", 5000, "--connect-timeout", 2, "--hold", 6, "--quiet")
    # The flood's SYNs are out and the queue holds what it will hold.
    queue = settled(lambda: half_open(ns), 10, 0.5, accept=lambda k: k > 0)
    ordinary = lab.client(ns, "-n", ORDINARY, "--connect-timeout", 3, "--hold", 0.5, "--quiet")
    flood.wait(30)
    after = ns.netstat()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in COUNTERS}
    s = ordinary.last("summary")
    return {"queue": queue, "ordinary": s["established"],
            "ordinary_failed": sum(s["failed"].values()),
            "flood_answered": (flood.last("summary") or {}).get("established", 0), **delta}


def run(lab):
    on = one_run(lab, 1)
    off = one_run(lab, 0)
    lab.row("listen backlog / tcp_max_syn_backlog", "somaxconn is the half-open queue (C14)",
            f"{BACKLOG} / {SYN_BACKLOG} (somaxconn caps the accept queue's backlog, not the SYN queue)")
    for label, r in (("tcp_syncookies=1", on), ("tcp_syncookies=0", off)):
        lab.row(f"{label}: half-open requests held (SYN_RECV) during a flood of {fmt(FLOOD)} SYNs",
                "tcp_max_syn_backlog bounds it", fmt(r["queue"]))
        lab.row(f"{label}: flood SYNs answered with a SYN-ACK", "-", fmt(r["flood_answered"]))
        lab.row(f"{label}: ordinary clients established / failed, of {ORDINARY}", "-",
                f"{fmt(r['ordinary'])} / {fmt(r['ordinary_failed'])}")
        lab.row(f"{label}: TcpExt " + ", ".join(COUNTERS), "-",
                ", ".join(fmt(r[k]) for k in COUNTERS))
    lab.measure("queue_cookies", on["queue"])
    lab.measure("queue_no_cookies", off["queue"])
    lab.measure("ordinary_no_cookies", off["ordinary"])
    lab.check("cookies on: the SYN queue fills at the listen backlog, past tcp_max_syn_backlog",
              SYN_BACKLOG < on["queue"] <= BACKLOG + 1)
    lab.check("cookies on: every flood SYN answered, cookies sent, every ordinary client connects",
              on["flood_answered"] == FLOOD and on["SyncookiesSent"] > 0 and on["ordinary"] == ORDINARY)
    lab.check("cookies off: the queue stops at 3/4 of tcp_max_syn_backlog, the rest dropped",
              off["queue"] <= SYN_BACKLOG * 3 // 4 + 1 and off["TCPReqQFullDrop"] + off["ListenDrops"] > 0)
    lab.check("cookies off: ordinary clients fail while the flood holds the queue",
              off["ordinary"] < ORDINARY and off["ordinary_failed"] > 0 and off["SyncookiesSent"] == 0)
    lab.note("The flood is c10m-client --engine tun --handshake none: SYNs from 198.19.x.y through "
             "a TUN device, each SYN-ACK counted and never acknowledged; the teardown resets every "
             "request, so the namespace is empty again before it is deleted.")
