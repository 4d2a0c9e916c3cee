"""bandwidth (C15): connections sharing a link share its bandwidth, and the queue sets the latency.

Two namespaces joined by a veth link whose client side sends through a token bucket filter (tc's
`tbf`): 8 Mbit/s, 1,000,000 bytes a second, with a queue long enough that it never drops. Each
ping is a 1,000-byte payload that c10m-server echoes; on the wire it is 1,066 bytes (Ethernet 14,
IPv4 20, TCP 20 and its timestamps 12), so the link carries at most 1,000,000 / 1,066 = 938 pings
a second, whatever the number of connections. The client keeps at most one ping in flight per
connection, so when more are offered than the link carries, every connection has one waiting in
the queue: the queue holds N pings and each waits N x 1,066 / 1,000,000 s (Little's law), while
below the link's rate a ping waits for nothing but its own 1 ms on the wire.

Three parts: (1) 64 connections, the offered rate stepping past the link's (`--message-rate
R1,R2,... --step 1`): delivered against offered, and the round trip's p50 and p99; (2) N
connections offering more than the link carries, for N from 4 to 256, each on a link of its own:
per-connection throughput is the link's over N, the round trip N times a ping's time on the wire;
(3) 64 connections each sending a 256 KiB message over a faster link: the bytes that wait behind
the link are charged to TCP's memory pool (sockstat mem, the unit of tcp_mem), in the qdisc and the
sockets' send queues. The kernel has tbf and htb, not netem. docs/labs/bandwidth.md is the
worksheet.
"""

import json
import subprocess
import time

from procutil import fact

from ..errors import LabError, LabSkipped
from ..framework import fmt, in_parallel
from ..predictions import percent, quantity
from ..run import wait_for

NAME = "bandwidth"
CLAIMS = "C15"
TITLE = "Connections sharing a link share its bandwidth, and the queue sets the latency"

RATE_BITS = 8_000_000
LINK = RATE_BITS // 8  # bytes a second
PAYLOAD, WIRE_OVERHEAD = 1000, 66
WIRE = PAYLOAD + WIRE_OVERHEAD
CAPACITY = LINK / WIRE  # pings a second
SWEEP_N, SWEEP = 64, [300, 600, 800, 900, 1000, 1200, 1600]
COUNTS, OVER = [4, 16, 64, 256], 2000
BULK_N, BULK_PAYLOAD = 64, 256 * 1024
# tbf's rate, bucket and queue: the queue holds every ping in flight (256 x 1,066 bytes), and for
# the bulk part all 16 MiB, so that nothing is dropped.
PINGS_TBF = ["rate", "8mbit", "burst", "16kb", "limit", "1mb"]
BULK_TBF = ["rate", "80mbit", "burst", "64kb", "limit", "32mb"]
PAGE = 4096

PREDICTIONS = [
    quantity("capacity", "A link of 8 Mbit/s carries pings of 1,000 bytes (each echoed back on an "
             "unlimited return path). At most how many pings a second does it deliver, however "
             "many connections share it?", "pings/s", percent(3),
             "8 Mbit/s is 1,000,000 bytes a second, and a ping is 1,066 bytes on the wire: the "
             "payload plus TCP (20, and 12 of timestamps), IPv4 (20) and Ethernet (14) headers: "
             "1,000,000 / 1,066 = 938 a second.", paragraph="The link's rate, in pings."),
    quantity("queue_ms", "64 connections offer more pings than the link carries, one ping in "
             "flight each. What is the median round trip?", "ms", percent(25),
             "Every connection has its ping in the queue, so 64 pings wait in front of each new "
             "one: 64 x 1,066 bytes at 1,000,000 bytes a second, 68 ms. Below the link's rate it "
             "would be about 1 ms.", paragraph="The queue sets the latency."),
    quantity("per_conn_256", "256 connections share the same link, offering more than it "
             "carries. How many payload bytes a second does each connection get?", "bytes/s",
             percent(10),
             "The link delivers its 938 pings a second whatever the count, shared evenly by "
             "connections that each have one in flight: 938 x 1,000 / 256, about 3,660 bytes a "
             "second each.", paragraph="Shared evenly."),
    quantity("bulk_pages", "64 connections each send one 256 KiB message over an 80 Mbit/s link. "
             "How much TCP buffer memory (sockstat mem, in 4 KiB pages) does the machine hold "
             "while the messages wait behind the link?", "pages", percent(25),
             "The 16 MiB waiting is charged to TCP's pool wherever it waits, in the sockets' send "
             "queues or as packets in the qdisc: 64 x 256 KiB / 4 KiB = 4,096 pages, and a little "
             "more for the sk_buffs' own overhead.", paragraph="Where the waiting bytes are counted."),
]


def link(lab, tag, tbf, record=True):
    """A client and a server namespace on a veth link whose client side sends through tbf with
    the parameters `tbf`; (client namespace, server)."""
    client, server_ns = lab.ns(f"{tag}-c"), lab.ns(f"{tag}-s")
    lab.wire(client, "eth0", ["198.18.3.1/24"], server_ns, "eth0", ["198.18.3.2/24"], record=record)
    try:
        lab.sh(client, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", *tbf, record=record)
    except LabError as e:
        raise LabSkipped(f"tc cannot add a tbf qdisc here: {e}") from None
    return client, lab.server(server_ns, "198.18.3.2:7000", "--quiet", record=record)


def qdisc(ns):
    """The tbf's counters: backlog (bytes), qlen (packets), drops."""
    out = subprocess.run(ns.exec_cmd(["tc", "-s", "-j", "qdisc", "show", "dev", "eth0"]),
                         capture_output=True, text=True).stdout
    q = (json.loads(out or "[]") or [{}])[0]
    return {k: q.get(k, 0) for k in ("backlog", "qlen", "drops")}


def pings(lab, client, n, rates, step, payload=PAYLOAD, record=True):
    """c10m-client holding n connections that ping at `rates` (one a `step`); its step lines."""
    c = lab.client_start(client, "-n", n, "--target", "198.18.3.2:7000", "--payload", payload,
                         "--message-rate", ",".join(map(str, rates)), "--step", step,
                         "--hold", step * len(rates), "--quiet", record=record)
    c.wait(step * len(rates) + 60)
    steps = c.json("step")
    if len(steps) != len(rates):
        raise LabError("the client did not report every step:\n" + c.dump())
    return steps


def sweep(lab):
    client, _ = link(lab, "sweep", PINGS_TBF)
    return pings(lab, client, SWEEP_N, SWEEP, 1)


def count(lab, n):
    client, _ = link(lab, f"n{n}", PINGS_TBF, record=False)
    # Two steps: the queue fills during the first, the second is the steady state.
    step = pings(lab, client, n, [OVER, OVER], 1.5, record=n == COUNTS[0])[-1]
    return {"n": n, "delivered": step["delivered_per_s"], "p50_ms": step["rtt_p50_us"] / 1000,
            "per_conn": step["delivered_per_s"] * PAYLOAD / n, "drops": qdisc(client)["drops"]}


def bulk(lab):
    """64 connections, each one 256 KiB message after another through 80 Mbit/s: TCP's pages and
    the tbf's backlog at their highest, over the machine's TCP pages before."""
    client, _ = link(lab, "bulk", BULK_TBF)
    base = fact("sockstat")["tcp_mem_pages"]
    c = lab.client_start(client, "-n", BULK_N, "--target", "198.18.3.2:7000", "--payload",
                         BULK_PAYLOAD, "--message-rate", 1000, "--hold", 3, "--quiet")
    peak = {"pages": 0, "backlog": 0, "drops": 0}

    def sample():
        q = qdisc(client)
        peak["pages"] = max(peak["pages"], fact("sockstat")["tcp_mem_pages"] - base)
        peak["backlog"] = max(peak["backlog"], q["backlog"])
        peak["drops"] = q["drops"]
        return c.p.poll() is not None
    wait_for(sample, 60, 0.1)
    c.wait(30)
    s = c.last("summary") or {}
    return {**peak, "base": base, "pings_ok": s.get("pings_ok", 0), "failed": s.get("failed", {})}


def run(lab):
    parts = {"sweep": lambda: sweep(lab)}
    parts.update({n: (lambda n=n: count(lab, n)) for n in COUNTS})
    got = in_parallel(parts)
    time.sleep(0.5)  # the parts' sockets gone before the machine's TCP pages are read
    big = bulk(lab)
    report(lab, got["sweep"], [got[n] for n in COUNTS], big)


def report(lab, steps, counts, big):
    tcp_mem = fact("sysctl=net.ipv4.tcp_mem").split()
    lab.note(f"Each link: a veth between two namespaces (198.18.3.1 and .2), `tc qdisc add dev eth0 "
             f"root tbf {' '.join(PINGS_TBF)}` on the client's side (the pings' direction; the bulk "
             f"part's: {' '.join(BULK_TBF)}); the echoes come back unlimited. Every part has a link "
             "of its own; parts 1 and 2 run at once, each count of part 2 in two steps of 1.5 s of "
             "which the second, once the queue has filled, is reported.")
    offered = [s["offered_per_s"] for s in steps]
    delivered = [round(s["delivered_per_s"], 1) for s in steps]
    p50 = [s["rtt_p50_us"] / 1000 for s in steps]
    p99 = [s["rtt_p99_us"] / 1000 for s in steps]
    top = max(delivered)
    low = p50[0]
    knee = next((o for o, m in zip(offered, p50) if m > 10 * low), None)
    saturated = [i for i, o in enumerate(offered) if o > CAPACITY * 1.1]
    queue = p50[saturated[-1]] if saturated else None
    expected_queue = SWEEP_N * WIRE / LINK * 1000
    lab.row(f"8 Mbit/s, {SWEEP_N} connections, {fmt(PAYLOAD)}-byte pings: delivered at "
            + " / ".join(map(fmt, offered)) + " offered a second", "C15: bandwidth bounds it too",
            " / ".join(f"{d:,.0f}" for d in delivered))
    lab.row("... the round trip's p50/p99 at each (ms)", "-",
            " · ".join(f"{a:g}/{b:g}" for a, b in zip(p50, p99)))
    lab.row("the most it delivered, and the bytes on the wire per ping it implies (link / pings)",
            f"{fmt(LINK)} / {fmt(WIRE)} = {CAPACITY:.0f} a second",
            f"{top:,.0f} a second; {LINK / top:,.0f} bytes")
    lab.row("where latency jumps: the first offered rate with a p50 ten times the lowest step's",
            "-", f"{fmt(knee)} a second" if knee else "none in the sweep")
    lab.row(f"{SWEEP_N} connections past the link's rate: p50 against {SWEEP_N} pings queued "
            "ahead (N x wire bytes / link)", "-",
            f"{queue:g} ms against {expected_queue:.0f} ms" if queue else "-")
    for r in counts:
        lab.row(f"{r['n']} connections offering {fmt(OVER)} pings/s: delivered / per connection / "
                "p50 round trip", "-",
                f"{r['delivered']:,.0f} a second / {r['per_conn']:,.0f} B/s / {r['p50_ms']:g} ms "
                f"(N x wire / link: {r['n'] * WIRE / LINK * 1000:.0f} ms)")
    data = BULK_N * BULK_PAYLOAD
    lab.row(f"{BULK_N} connections x one {BULK_PAYLOAD // 1024} KiB message each over 80 Mbit/s: "
            "TCP buffer memory at the peak (sockstat mem, above the machine's before)",
            "C13: memory grows with the data in flight",
            f"{fmt(big['pages'])} pages = {big['pages'] * PAGE / 2**20:.1f} MiB for "
            f"{data / 2**20:.0f} MiB waiting; the tbf's queue held {big['backlog'] / 2**20:.1f} MiB "
            f"at most, dropped {fmt(big['drops'])}")
    per_conn_pages = big["pages"] / BULK_N
    lab.row("... so connections like these reach tcp_mem's pressure value (the machine's second, "
            "in pages) at", "-",
            f"{int(tcp_mem[1]) / per_conn_pages:,.0f} connections ({tcp_mem[1]} / "
            f"{per_conn_pages:.1f} pages each)" if per_conn_pages else "-")

    lab.measure("capacity", round(top, 1))
    lab.measure("queue_ms", queue)
    lab.measure("per_conn_256", round(counts[-1]["per_conn"]))
    lab.measure("bulk_pages", big["pages"])
    below = [(o, d) for o, d in zip(offered, delivered) if o < CAPACITY * 0.9]
    lab.check("below the link's rate, every ping offered is delivered (within 3%)",
              all(abs(d - o) <= 0.03 * o for o, d in below))
    lab.check(f"past it, delivery stays at the link's rate, {CAPACITY:.0f} a second (within 3%)",
              all(abs(delivered[i] - CAPACITY) <= 0.03 * CAPACITY for i in saturated))
    lab.check("the round trip jumps at the link's rate: under 5 ms below it, the queue's "
              f"{expected_queue:.0f} ms (within 25%) past it",
              all(m < 5 for o, m in zip(offered, p50) if o < CAPACITY * 0.9)
              and queue is not None and abs(queue - expected_queue) <= 0.25 * expected_queue)
    lab.check("whatever the number of connections, the link delivers its rate (within 5%), shared: "
              "each gets the link / N, its round trip N x a ping's time on the wire (within 25%)",
              all(abs(r["delivered"] - CAPACITY) <= 0.05 * CAPACITY
                  and abs(r["p50_ms"] - r["n"] * WIRE / LINK * 1000) <= 0.25 * r["n"] * WIRE / LINK * 1000
                  and r["drops"] == 0 for r in counts if r["n"] >= 16))
    lab.check("the bytes waiting behind the link are charged to TCP's memory (at least 80% of them)",
              big["pages"] * PAGE >= 0.8 * data and not big["failed"])
    lab.curve(f"{SWEEP_N} connections on 8 Mbit/s: delivered against offered", "pings offered a second",
              "pings delivered a second", [("delivered", offered, delivered)],
              marks=[(f"the link: {fmt(LINK)} / {fmt(WIRE)} B = {CAPACITY:.0f} a second", CAPACITY)])
    lab.curve("... and the round trip", "pings offered a second", "ms (log scale)",
              [("p50", offered, p50), ("p99", offered, p99)],
              marks=[(f"{SWEEP_N} pings queued: {expected_queue:.0f} ms", expected_queue)],
              vmarks=[(f"the link's rate: {CAPACITY:.0f} a second", CAPACITY)], logy=True,
              legend="upper left")
    lab.curve("N connections sharing 8 Mbit/s", "connections", "payload bytes a second each (log scale)",
              [("the link's rate / N", [r["n"] for r in counts],
                [round(CAPACITY * PAYLOAD / r["n"]) for r in counts]),
               ("measured", [r["n"] for r in counts], [round(r["per_conn"]) for r in counts])],
              logy=True, legend="upper right")
