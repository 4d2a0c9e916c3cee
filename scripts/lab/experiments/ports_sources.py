"""ports-sources (C10): more source addresses multiply the ports, if bind() leaves the port to
connect().

A plain bind(ip, 0) must pick a port before the destination is known: inet_csk_get_port()
(net/ipv4/inet_connection_sock.c) takes one that no other socket bound to that address holds, so
each source address gets the port range once, for all destinations, and the next bind() fails
with EADDRINUSE. With IP_BIND_ADDRESS_NO_PORT (Linux 4.2) bind() records only the address, and
connect() picks the port knowing the whole 4-tuple: each (source, destination) pair gets the whole
range, and the excess fails in connect() with EADDRNOTAVAIL. Capacity is ports x distinct
(source, destination) pairs, but only when connect() picks the port.
docs/labs/ports-sources.md is the worksheet.
"""

from ..framework import RANGE_1000, failure_text, failures, fmt, main_errno
from ..predictions import plus_minus, quantity, text

NAME = "ports-sources"
CLAIMS = "C10"
TITLE = "More source addresses multiply the ports, if bind() leaves the port to connect()"


PREDICTIONS = [
    quantity("no_port_one_destination", "4 source addresses, each bound with "
             "IP_BIND_ADDRESS_NO_PORT, connect 5,000 times to one ip:port, with 1,000 ports in the "
             "range. How many connections are established?", "connections", plus_minus(40),
             "The port is chosen in connect(), for the whole 4-tuple: each source address makes its "
             "own 4-tuples with the destination, so 4 x 1,000.", paragraph="`IP_BIND_ADDRESS_NO_PORT`"),
    quantity("plain_bind_two_destinations", "The same 4 sources with a plain bind(ip, 0) connect "
             "9,000 times to two destinations. How many are established?", "connections",
             plus_minus(40),
             "bind() must reserve a port for the source address before it knows the destination, "
             "so each source gets the range once for every destination together: 4 x 1,000.",
             paragraph="`bind(ip, 0)` without the option."),
    quantity("plain_bind_errno", "Which errno do the plain bind() runs fail with?", "errno name",
             text(), "The call that runs out is bind(), which has no free port to reserve for the "
                     "address: EADDRINUSE.", paragraph="`bind(ip, 0)` without the option."),
]


def run(lab):
    addrs = ["198.18.0.1", "198.18.0.2"] + [f"198.18.0.{i}" for i in range(11, 15)]
    ns = lab.ns("sources", addrs, {"net.ipv4.ip_local_port_range": RANGE_1000})
    lab.server(ns, "0.0.0.0:7000", "--quiet")
    src = "198.18.0.11-198.18.0.14"
    got = {}
    for label, dsts, n, extra in (
        ("4 sources -> 1 destination, IP_BIND_ADDRESS_NO_PORT", "198.18.0.1:7000", 5000, []),
        ("4 sources -> 1 destination, plain bind()", "198.18.0.1:7000", 5000, ["--plain-bind"]),
        ("4 sources -> 2 destinations, IP_BIND_ADDRESS_NO_PORT", "198.18.0.1-198.18.0.2:7000", 9000, []),
        ("4 sources -> 2 destinations, plain bind()", "198.18.0.1-198.18.0.2:7000", 9000, ["--plain-bind"]),
    ):
        c = lab.client(ns, "-n", n, "--target", dsts, "--source", src, "--hold", 1, "--quiet", *extra)
        est = c.last("summary")["established"]
        got[label] = (est, failures(c))
        article = "10 IPs -> 640k (C10): ports x sources" if not extra else "-"
        lab.row(f"{label} ({fmt(n)} asked)", article, f"{fmt(est)}; failed: {failure_text(c)}")
    keys = list(got)
    lab.measure("no_port_one_destination", got[keys[0]][0])
    lab.measure("plain_bind_two_destinations", got[keys[3]][0])
    lab.measure("plain_bind_errno", main_errno(got[keys[3]][1]))
    lab.check("NO_PORT, 1 destination: about 4 x 1,000 (3,960..4,000)", 3960 <= got[keys[0]][0] <= 4000)
    lab.check("NO_PORT, 2 destinations: about 8 x 1,000 (7,920..8,000)", 7920 <= got[keys[2]][0] <= 8000)
    lab.check("plain bind(), 2 destinations: capped near 4 x 1,000 whatever the destinations",
              got[keys[3]][0] <= 4000)
    lab.check("plain bind() runs out in bind(), with EADDRINUSE",
              all(step.startswith("bind()") and k == "EADDRINUSE"
                  for k, (_, step) in got[keys[3]][1].items()) and got[keys[3]][1])
    lab.note("IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(), which only needs the whole "
             "4-tuple to be unique; a plain bind(ip, 0) must pick a port before it knows the "
             "destination, so each source address gets the port range once, for all destinations.")
