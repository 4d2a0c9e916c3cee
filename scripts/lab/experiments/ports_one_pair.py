"""ports-one-pair (C9, C1): one source address to one ip:port; the port range is the limit.

A connection is its 4-tuple (source IP, source port, destination IP, destination port): two
connections may share any three of the four, never all four. A socket that was not bound gets its
source port in connect(), from __inet_hash_connect() (net/ipv4/inet_hashtables.c), which walks
net.ipv4.ip_local_port_range for a port that makes the 4-tuple unique among established and
TIME_WAIT sockets. With the source IP, destination IP and port fixed, only the source port varies:
as many connections as ports (1,000 in the narrowed range here; 28,232 by default). When no port
works, connect() fails with EADDRNOTAVAIL, not the article's "address already in use" (EADDRINUSE
is what bind() returns; see ports-sources). docs/labs/ports-one-pair.md is the worksheet.
"""

from ..framework import RANGE_1000, failure_text, failures, fmt

NAME = "ports-one-pair"
CLAIMS = "C9, C1"
TITLE = "One source to one ip:port: the port range is the limit"


def run(lab):
    ns = lab.ns("pair", ["198.18.0.1"], {"net.ipv4.ip_local_port_range": RANGE_1000})
    lab.server(ns, "198.18.0.1:7000", "--quiet")
    c = lab.client(ns, "-n", 1500, "--target", "198.18.0.1:7000", "--hold", 1, "--quiet")
    s = c.last("summary")
    est, f = s["established"], failures(c)
    lab.row("ephemeral ports (ip_local_port_range in the namespace)", "~64k per client IP (C9)",
            "1,000 (40000-40999); the default is 32768-60999 = 28,232")
    lab.row("connections established, one source to 198.18.0.1:7000, 1,500 asked",
            "stops at the port range", fmt(est))
    lab.row("what the rest got", "\"address already in use\" (C1)", failure_text(c))
    lab.check("about 1,000 established (990..1,000)", 990 <= est <= 1000)
    lab.check("every other connect failed with EADDRNOTAVAIL from connect()",
              set(f) == {"EADDRNOTAVAIL"} and f["EADDRNOTAVAIL"][0] == 1500 - est
              and f["EADDRNOTAVAIL"][1].startswith("connect()"))
