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
connection can share one source port.

How long connect() takes as the range fills: __inet_hash_connect() starts its walk at an offset
kept per destination (table_perturb, indexed by a hash of the addresses and port), made even,
and steps by two: first the ports of the low end's parity (the even ones, from 40000), then a
second pass over the others. After each success it advances that offset by the steps it walked
(at least a random 0 to 7) plus one, so the next connect starts near where the last one stopped
and its first tries nearly always find a free port, until every even port is taken. From then
on each connect walks all ports/2 even ones, each a bind-hash and an established-hash lookup,
before its odd pass finds one: the cost jumps at 50% of the range and stays high. The client's plan
(client/src/plan.rs, KNEE_PERCENT) keeps every pair below 45%. The knee part times that from a
Python loop (scripts/lab/connect_timer.py) in a namespace of 8,192 ports.
docs/labs/ports-one-pair.md is the worksheet.
"""

import re
import statistics

from ..errors import LabError
from ..framework import RANGE_1000, failure_text, failures, fmt, main_errno
from ..paths import ROOT
from ..predictions import plus_minus, quantity, text
from ..run import wait_for

NAME = "ports-one-pair"
CLAIMS = "C9, C1"
TITLE = "One source to one ip:port: the port range is the limit"

KNEE_PORTS, KNEE_LOW = 8192, 40000
KNEE_BATCH = KNEE_PORTS // 200
KNEE_EXTRA = 16
SLOW = 5  # a batch costing this many times the low-fill median is past the knee...
SUSTAIN = 5  # ... when the median of it and the next SUSTAIN - 1 batches is too: a blip is not a knee

PREDICTIONS = [
    quantity("established", "One source address connects 1,500 times to 198.18.0.1:7000 with "
             "ip_local_port_range 40000-40999 (1,000 ports). How many connections are established?",
             "connections", plus_minus(10),
             "The source, the destination address and the destination port are fixed, so the source "
             "port is the only field of the 4-tuple left to vary: 1,000 ports, 1,000 connections.",
             paragraph="`connect()` chooses the source port."),
    quantity("errno", "Which errno do the other connect() calls fail with?", "errno name", text(),
             "connect() picks the source port itself (__inet_hash_connect()) and finds none that "
             "makes the 4-tuple unique: EADDRNOTAVAIL. EADDRINUSE, the article's \"address already "
             "in use\", is what bind() returns.", paragraph="The error."),
    quantity("knee_percent", "One pair filling 8,192 ports from a loop: at what share of the range "
             "does connect() suddenly become several times slower?", "% of the range", plus_minus(3),
             "connect() walks one parity of the range first, stepping by two from an offset: once "
             "every even port is taken, at half the range, each connect walks them all before its "
             "odd pass finds a free port.", paragraph="The knee: half the range."),
]


def plan_knee_percent():
    """KNEE_PERCENT of client/src/plan.rs: the share of the range the client's plan lets a pair
    use."""
    with open(f"{ROOT}/client/src/plan.rs") as f:
        return int(re.search(r"KNEE_PERCENT: u64 = (\d+)", f.read()).group(1))


def knee_part(lab):
    """Fills one pair's 8,192 ports from a Python loop; rows, checks and the curve."""
    ns = lab.ns("knee", ["198.18.0.1"],
                {"net.ipv4.ip_local_port_range": f"{KNEE_LOW} {KNEE_LOW + KNEE_PORTS - 1}"})
    lab.server(ns, "198.18.0.1:7000", "--quiet")
    t = lab.python(ns, "scripts/lab/connect_timer.py", "198.18.0.1", 7000, KNEE_PORTS, KNEE_BATCH,
                   KNEE_EXTRA)
    t.wait(90)
    r = t.last("connect_timer")
    if r is None:
        raise LabError("connect_timer.py printed nothing:\n" + t.dump())
    fill, held = [], 0
    for b in r["batches"]:
        fill.append((held, b))
        held = b["held"]
    filling = [(h, b) for h, b in fill if b["ok"]]
    pct = [round(100 * (h + b["ok"] / 2) / KNEE_PORTS, 2) for h, b in filling]
    us = [round(b["us_per_connect"], 1) for _, b in filling]
    low = statistics.median(u for p, u in zip(pct, us) if p < 40)
    costs = [b["us_per_connect"] for _, b in filling]
    knee = next((round(100 * h / KNEE_PORTS, 2) for i, (h, _) in enumerate(filling)
                 if statistics.median(costs[i:i + SUSTAIN]) > SLOW * low), None)
    high = [u for p, u in zip(pct, us) if knee is not None and knee + 2 < p < 98]
    past = statistics.median(high) if high else None
    first_odd = next((h + b["ok"] - b["odd_ports"] for h, b in filling if b["odd_ports"]), None)
    failing = [b["us_per_connect"] for _, b in fill if not b["ok"]]
    plan = plan_knee_percent()

    lab.row(f"one pair filling {fmt(KNEE_PORTS)} ports, connect() from a Python loop: "
            f"µs per connect below 40% / past the knee / the last 1%",
            "folklore: slows gradually as the range fills",
            f"{low:.0f} / {past:.0f} / {statistics.median(us[-2:]):.0f} µs" if past else
            f"{low:.0f} µs, no knee")
    lab.row(f"where the knee is (the first batch of {KNEE_BATCH} from which the cost stays over "
            f"{SLOW} x the low-fill cost: the median of {SUSTAIN} batches)",
            f"the client's plan keeps pairs under {plan}% (KNEE_PERCENT), a margin",
            f"{knee:.1f}% of the range; the first odd port went to connect {fmt(first_odd + 1)}"
            if knee is not None and first_odd is not None else "none")
    if past and failing:
        lab.row(f"past the knee, each connect walks the {fmt(KNEE_PORTS // 2)} used even ports first",
                "-", f"~{(past - low) * 1000 / (KNEE_PORTS // 2):.0f} ns a port; a connect() on the "
                f"full range fails after {statistics.median(failing):.0f} µs (both passes)")
    lab.measure("knee_percent", None if knee is None else round(knee, 1))
    lab.check(f"filling {fmt(KNEE_PORTS)} ports: every connect succeeded until the range was full, "
              f"then {KNEE_EXTRA} EADDRNOTAVAIL",
              r["held"] == KNEE_PORTS and r["first_error_at"] == KNEE_PORTS
              and r["errors"] == {"EADDRNOTAVAIL": KNEE_EXTRA})
    lab.check(f"connect() handed out all {fmt(KNEE_PORTS // 2)} even ports before the first odd one",
              first_odd == KNEE_PORTS // 2)
    lab.curve(f"connect() as one pair fills {fmt(KNEE_PORTS)} ports: even ones first, then odd",
              "% of the port range in use", "µs per connect (log scale)",
              [(f"connect(), mean of each {KNEE_BATCH}", pct, us)],
              vmarks=([(f"knee measured: {knee:.1f}%", knee)] if knee else [])
              + [(f"plan's knee: {plan}%", plan)],
              logy=True)


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
    # The [::] listener's accepted ends are IPv6 sockets (IPv4-mapped): count both families.
    wait_for(lambda: sum(both.sockstat()[k] for k in ("tcp_inuse", "tcp6_inuse")) >= 2 * 990,
             20, 0.1)
    cb = lab.client(both, "-n", 1000, "--target", "[2001:2::1]:7000", "--hold", 1, "--quiet")
    c4.wait(30)
    e4, eb = c4.last("summary")["established"], cb.last("summary")["established"]
    lab.row("IPv6, one source to [2001:2::1]:7000, 1,500 asked, same ip_local_port_range",
            "-", f"{fmt(est6)}; the rest: {failure_text(c6)}")
    lab.row("both families in one namespace: IPv4 holding 1,000, then IPv6 asking 1,000",
            "-", f"IPv4 {fmt(e4)}, IPv6 {fmt(eb)}: a port held by an IPv4 connection is free for an IPv6 one")
    lab.measure("established", est)
    lab.measure("errno", main_errno(f))
    lab.check("about 1,000 established (990..1,000)", 990 <= est <= 1000)
    lab.check("IPv6: the same range binds it, with the same errno", 990 <= est6 <= 1000
              and set(f6) == {"EADDRNOTAVAIL"})
    lab.check("both families: each gets the whole range (the 4-tuples differ)",
              990 <= e4 <= 1000 and 990 <= eb <= 1000)
    lab.check("every other connect failed with EADDRNOTAVAIL from connect()",
              set(f) == {"EADDRNOTAVAIL"} and f["EADDRNOTAVAIL"][0] == 1500 - est
              and f["EADDRNOTAVAIL"][1].startswith("connect()"))
    knee_part(lab)
