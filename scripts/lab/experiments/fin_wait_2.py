"""fin-wait-2 (C2): an orphaned FIN_WAIT_2 whose peer never closes lives tcp_fin_timeout (up to 60 s).

A side that closes first sends FIN and, once it is acknowledged, waits in FIN_WAIT_2 for the
peer's FIN. If its program has already closed the socket (an orphan) and the peer never closes,
nothing would ever end that wait, so the kernel bounds it: tcp_fin_timeout. For a timeout up to
60 s, tcp_set_state()'s caller (tcp_close() / tcp_rcv_state_process()) hands the socket to
tcp_time_wait(sk, TCP_FIN_WAIT2, timeout): a small timewait socket whose substate is FIN_WAIT2,
which /proc/net/tcp lists as state 05 and sockstat counts under `tw`. When the timer fires, it is
gone; the peer's socket stays in CLOSE_WAIT, because only its own program can close it.
Above 60 s (TCP_TIMEWAIT_LEN) the same code keeps the full socket and arms its keepalive timer for
timeout - 60; when that fires, tcp_keepalive_timer() (net/ipv4/tcp_timer.c) computes
timeout - 60 again and hands that to tcp_time_wait(), which replaces the time only for
TIME_WAIT: so an orphan lives 2 x (timeout - 60), which is 20 s for a timeout of 70.

Each run: a server that never accepts (its sockets get the FIN and sit in CLOSE_WAIT, unread),
N connections that a short program opens and closes at once, and a namespace with
tcp_fin_timeout set; the lab samples the FIN_WAIT_2 count until it is zero. docs/labs/fin-wait-2.md
is the worksheet.
"""

import subprocess
import sys
import time

from ..errors import LabError
from ..framework import fmt
from ..predictions import plus_minus, quantity
from ..run import settled

NAME = "fin-wait-2"
CLAIMS = "C2"
TITLE = "An orphaned FIN_WAIT_2 whose peer never closes lives tcp_fin_timeout seconds, up to 60"

N = 200

PREDICTIONS = [
    quantity("gone_3_s", "tcp_fin_timeout = 3: 200 connections closed by the client, the server "
             "never closes. After how many seconds is every client FIN_WAIT_2 gone?", "seconds",
             plus_minus(1),
             "The client's sockets are orphans waiting for a FIN that never comes; tcp_close() "
             "gives such an orphan tcp_fin_timeout seconds: 3."),
    quantity("gone_70_s", "The same with tcp_fin_timeout = 70?", "seconds", plus_minus(3),
             "Above 60 s the orphan first keeps its full socket for (70 - 60) s on the keepalive "
             "timer, then becomes a timewait socket for (70 - 60) s more: 2 x (70 - 60) = 20 s, "
             "not 70.", paragraph="Above 60 s the sysctl does not mean what it says."),
    quantity("close_wait", "How many of the server's sockets are still in CLOSE_WAIT once every "
             "FIN_WAIT_2 is gone?", "sockets", plus_minus(0),
             "CLOSE_WAIT ends only when the program calls close(); no timer ends it: all 200 stay."),
]
OPEN_AND_CLOSE = """
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.create_connection(("198.18.0.1", 7000), timeout=5)
    socks.append(s)
for s in socks:
    s.close()
"""


def counts(ns):
    """The clients' FIN_WAIT_2 sockets (connected to 7000) and the server's CLOSE_WAIT (on 7000)."""
    port = ns.tcp_port(7000)
    return port["remote"].get("FIN_WAIT2", 0), port["local"].get("CLOSE_WAIT", 0)


def lifetime(timeout):
    """What the kernel's code gives an orphan in FIN_WAIT_2 (see the module's docs)."""
    return timeout if timeout <= 60 else 2 * (timeout - 60)


def one_run(lab, timeout):
    ns = lab.ns(f"fin{timeout}", ["198.18.0.1"], {"net.ipv4.tcp_fin_timeout": timeout})
    lab.server(ns, "198.18.0.1:7000", "--pause-accept", 0, "--backlog", 4096, "--quiet")
    cmd = ns.exec_cmd([sys.executable, "-c", OPEN_AND_CLOSE, str(N)])
    lab.commands.append(f"ip netns exec {ns.name} python3 -c '<open {N} connections, close them>'")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise LabError(f"the client program failed: {r.stderr.strip()}")
    closed_at = time.time()
    first = counts(ns)
    gone_after = None
    while time.time() - closed_at < lifetime(timeout) + 30:
        fw2, _ = counts(ns)
        if fw2 == 0:
            gone_after = time.time() - closed_at
            break
        time.sleep(0.1)
    later = settled(lambda: counts(ns)[1], 2)
    return {"fin_wait2": first[0], "close_wait": first[1], "gone_after": gone_after,
            "close_wait_after": later}


def run(lab):
    runs = {t: one_run(lab, t) for t in (3, 8, 70)}
    for t, r in runs.items():
        lab.row(f"tcp_fin_timeout={t}: {fmt(N)} connections closed by the client, the server never "
                f"closes: FIN_WAIT_2 / CLOSE_WAIT just after", "-",
                f"{fmt(r['fin_wait2'])} / {fmt(r['close_wait'])}")
        gone = "not within the wait" if r["gone_after"] is None else f"{r['gone_after']:.1f} s"
        lab.row(f"tcp_fin_timeout={t}: every FIN_WAIT_2 gone after", "C2: shorten it to shorten TIME_WAIT",
                gone)
        lab.row(f"tcp_fin_timeout={t}: the server's CLOSE_WAIT then", "-", fmt(r["close_wait_after"]))
    gone = {t: None if r["gone_after"] is None else round(r["gone_after"], 1) for t, r in runs.items()}
    lab.measure("gone_3_s", gone[3])
    lab.measure("gone_70_s", gone[70])
    lab.measure("close_wait", runs[3]["close_wait_after"])
    for t, r in runs.items():
        life = lifetime(t)
        rule = f"about {t} s" if life == t else f"about 2 x ({t} - 60) = {life} s, not {t}"
        lab.check(f"tcp_fin_timeout={t}: all {N} in FIN_WAIT_2 at first, all gone after {rule}",
                  r["fin_wait2"] == N and r["gone_after"] is not None
                  and life - 0.5 <= r["gone_after"] <= life + 3)
        lab.check(f"tcp_fin_timeout={t}: the peer's CLOSE_WAIT stays: only its program can close it",
                  r["close_wait_after"] == N)
