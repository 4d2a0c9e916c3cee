"""ports-destinations (C7, C11): more destinations reuse the same source ports; the 4-tuple is
the identity.

Arriving segments are matched on all four fields, so a source port in four connections is not
ambiguous while another field differs. __inet_hash_connect() accepts a port that already carries
connections if connect() took it (bind() did not reserve it) and no established or TIME_WAIT
socket has the same 4-tuple (__inet_check_established()): 1,000 ports serve 4 x 1,000
connections to 4 destinations, whether the kernel also picks the source address (from the route:
each destination's own address on lo) or one source is bound with IP_BIND_ADDRESS_NO_PORT. A port
is not a connection (C7). docs/labs/ports-destinations.md is the worksheet.
"""

import time

from ..framework import RANGE_1000, failure_text, fmt
from ..predictions import plus_minus, quantity
from ..run import wait_for

NAME = "ports-destinations"
CLAIMS = "C7, C11"
TITLE = "More destinations reuse the same source ports: the 4-tuple is the identity"


PREDICTIONS = [
    quantity("connections", "Without bind(), one client connects 5,000 times to 4 addresses of one "
             "listener, with 1,000 ports in the range. How many connections are established?",
             "connections", plus_minus(40),
             "Each destination makes a different 4-tuple with the same source port, so each gets "
             "the whole range: 4 x 1,000.", paragraph="`connect()` shares ports across destinations."),
    quantity("client_ports", "On how many distinct client ports do those connections sit?",
             "ports", plus_minus(10),
             "The range's 1,000 at most: every port carries one connection to each destination.",
             paragraph="The limit."),
]


def run(lab):
    dsts = [f"198.18.0.{i}" for i in range(1, 5)]
    ns = lab.ns("dests", dsts + ["198.18.0.11"], {"net.ipv4.ip_local_port_range": RANGE_1000})
    lab.server(ns, "0.0.0.0:7000", "--quiet")

    def established_to_7000():
        """(ESTABLISHED sockets connected to port 7000, the distinct client ports they hold)."""
        port = ns.tcp_port(7000)
        return port["remote"].get("ESTABLISHED", 0), port["client_ports"].get("ESTABLISHED", 0)

    for label, extra in (
        ("no bind(): the kernel picks the source (here each destination's own address)", []),
        ("one bound source 198.18.0.11 (IP_BIND_ADDRESS_NO_PORT): only the destination differs",
         ["--source", "198.18.0.11"]),
    ):
        c = lab.client_start(ns, "-n", 5000, "--target", "198.18.0.1-198.18.0.4:7000", "--hold", 3,
                             "--quiet", *extra)
        # While the connections are held, count their 4-tuples and their distinct source ports.
        wait_for(lambda: established_to_7000()[0] >= 3960, 20, 0.3)
        time.sleep(0.5)
        _, ports = established_to_7000()
        c.wait(60)
        est = c.last("summary")["established"]
        if not extra:
            lab.measure("connections", est)
            lab.measure("client_ports", ports)
        lab.row(f"{label}: connections to 4 addresses of one listener (5,000 asked)",
                "each destination gets its own port range (C11)",
                f"{fmt(est)}, on {fmt(ports)} distinct client ports; the rest: {failure_text(c)}")
        lab.check(f"{'no bind' if not extra else 'one source'}: about 4 x 1,000 established "
                  "(3,960..4,000) on <= 1,000 ports", 3960 <= est <= 4000 and ports <= 1000)
    lab.note("A port is not a connection (C7): the same <= 1,000 client ports carry ~4,000 "
             "established 4-tuples.")
