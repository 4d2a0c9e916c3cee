"""ports-one-pair (C9, C1): one source address to one ip:port; the port range is the limit.

A connection is its 4-tuple (source IP, source port, destination IP, destination port): two
connections may share any three of the four, never all four. A socket that was not bound gets its
source port in connect(), from __inet_hash_connect() (net/ipv4/inet_hashtables.c), which walks
net.ipv4.ip_local_port_range for a port that makes the 4-tuple unique among established and
TIME_WAIT sockets. With the source IP, destination IP and port fixed, only the source port varies:
as many connections as ports (1,000 in the narrowed range here; 28,232 by default). When no port
works, connect() fails with EADDRNOTAVAIL, not the article's "address already in use" (EADDRINUSE
is what bind() returns; see ports-sources). IPv6 draws from the same range (there is no
net.ipv6 port range), and since a port only has to make the 4-tuple unique, an IPv4 and an IPv6
connection can share one source port. docs/labs/ports-one-pair.md is the worksheet.
"""

from ..framework import RANGE_1000, failure_text, failures, fmt
from ..run import wait_for

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
    # IPv6: the same range (there is no net.ipv6 port range), from 2001:2::/48.
    ns6 = lab.ns("pair6", ["2001:2::1"], {"net.ipv4.ip_local_port_range": RANGE_1000})
    lab.server(ns6, "[2001:2::1]:7000", "--quiet")
    c6 = lab.client(ns6, "-n", 1500, "--target", "[2001:2::1]:7000", "--hold", 1, "--quiet")
    est6, f6 = c6.last("summary")["established"], failures(c6)
    # Both families at once in one namespace: does a port taken by an IPv4 connection stop an
    # IPv6 one?
    both = lab.ns("both", ["198.18.0.1", "2001:2::1"], {"net.ipv4.ip_local_port_range": RANGE_1000})
    lab.server(both, "[::]:7000", "--quiet")
    c4 = lab.client_start(both, "-n", 1000, "--target", "198.18.0.1:7000", "--hold", 4, "--quiet")
    wait_for(lambda: both.sockstat().get("inuse", 0) >= 2 * 990, 20, 0.1)
    cb = lab.client(both, "-n", 1000, "--target", "[2001:2::1]:7000", "--hold", 1, "--quiet")
    c4.wait(30)
    e4, eb = c4.last("summary")["established"], cb.last("summary")["established"]
    lab.row("IPv6, one source to [2001:2::1]:7000, 1,500 asked, same ip_local_port_range",
            "-", f"{fmt(est6)}; the rest: {failure_text(c6)}")
    lab.row("both families in one namespace: IPv4 holding 1,000, then IPv6 asking 1,000",
            "-", f"IPv4 {fmt(e4)}, IPv6 {fmt(eb)}: a port held by an IPv4 connection is free for an IPv6 one")
    lab.check("about 1,000 established (990..1,000)", 990 <= est <= 1000)
    lab.check("IPv6: the same range binds it, with the same errno", 990 <= est6 <= 1000
              and set(f6) == {"EADDRNOTAVAIL"})
    lab.check("both families: each gets the whole range (the 4-tuples differ)",
              990 <= e4 <= 1000 and 990 <= eb <= 1000)
    lab.check("every other connect failed with EADDRNOTAVAIL from connect()",
              set(f) == {"EADDRNOTAVAIL"} and f["EADDRNOTAVAIL"][0] == 1500 - est
              and f["EADDRNOTAVAIL"][1].startswith("connect()"))
