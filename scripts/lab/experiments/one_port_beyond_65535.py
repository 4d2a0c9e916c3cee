"""one-port-beyond-65535 (C8): one listening port holds more than 65,535 connections.

The listener is only the door: when a handshake completes, tcp_v4_syn_recv_sock() creates a new
socket with the listener's local address and port (__inet_inherit_port()), hashes it under its
full 4-tuple and queues it for accept(). No port is allocated on the server side, so 70,000
sockets can all have local port 7000; they differ on the client side, where six destination
addresses keep each (source, destination) pair well inside its port range. What bounds a server
is descriptors (RLIMIT_NOFILE is per process), memory and CPU: --workers auto spreads the
connections over SO_REUSEPORT listeners on the one port. docs/labs/one-port-beyond-65535.md is the
worksheet.
"""

from ..framework import failure_text, fmt
from ..predictions import plus_minus, quantity
from ..run import settled

NAME = "one-port-beyond-65535"
CLAIMS = "C8"
TITLE = "One listening port holds more than 65,535 connections"


PREDICTIONS = [
    quantity("on_port", "70,000 connections to one listening port (four server processes share it; "
             "the clients spread over six destination addresses). How many ESTABLISHED sockets "
             "have local port 7000?", "sockets", plus_minus(0),
             "An accepted socket takes the listener's address and port; only the 4-tuple must be "
             "unique, and the clients' sides differ. Nothing caps a port at 65,535: all 70,000.",
             paragraph="The listener is only the door."),
]


def run(lab):
    n = 70000
    dsts = [f"198.18.0.{i}" for i in range(1, 7)]
    ns = lab.ns("oneport", dsts)
    s = lab.server(ns, "0.0.0.0:7000", "--workers", "auto", "--max-conns", n, "--quiet")
    c = lab.client_start(ns, "-n", n, "--target", "198.18.0.1-198.18.0.6:7000", "--hold", 4, "--quiet")
    # /proc/net/tcp is walked bucket by bucket while connections are still being hashed, so a
    # walk during the ramp can see a socket twice (one run counted 81,090 for 70,000). Count
    # only once two walks in a row agree: the ramp is over and the table holds still.
    on_port = settled(lambda: ns.tcp_port(7000)["local"].get("ESTABLISHED", 0),
                      60, 0.5, accept=lambda k: k > 0)
    c.wait(120)
    s.stop()
    cs, ss = c.last("summary"), s.last("summary") or {}
    workers = ss.get("workers")
    lab.row("connections asked", "only fds, memory and CPU bound a port (C8)", fmt(n))
    lab.row("client: established", "-", f"{fmt(cs['established'])}, failed: {failure_text(c)}")
    lab.row("ESTABLISHED sockets whose local port is 7000 (/proc/net/tcp)", "> 65,535 possible",
            fmt(on_port))
    lab.row("server processes sharing port 7000 (SO_REUSEPORT)", "-",
            f"{workers} (this machine caps one process at its RLIMIT_NOFILE)")
    lab.row("server: peak connections", "-", fmt(ss.get("peak_connections", 0)))
    lab.measure("on_port", on_port)
    lab.check("more than 65,535 established on the one port, counted exactly",
              on_port > 65535 and on_port == n)
    lab.check("client and server agree on the count",
              cs["established"] == n and ss.get("peak_connections") == n)
