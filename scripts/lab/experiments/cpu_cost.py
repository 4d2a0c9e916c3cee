"""cpu-cost (C15): what a connection costs in CPU; to set up, to carry a ping, to be watched.

On loopback the three handshake packets are processed in the softirq of the sending CPU, inside
the client's connect(): the client's share of a setup is the larger, the server's is accept4()
and epoll_ctl(). With one source address, __inet_hash_connect() walks the even ports of the range
first, from an offset hashed from the pair: past half the range (14,116 of 28,232) every connect()
walks them all before trying an odd one, and the port search costs more than the connection. A
ping on an open connection is a fraction of a setup. Listing /proc/PID/fd and reading each link,
as lsof and monitoring agents do, creates a /proc inode and dentry per entry: its cost grows with
the descriptors open. docs/labs/cpu-cost.md is the worksheet.
"""

import os
import time

from procutil import CpuWindow, tree_cpu_s

from ..errors import LabError
from ..framework import fmt
from ..predictions import factor, quantity
from ..run import wait_for

NAME = "cpu-cost"
CLAIMS = "C15"
TITLE = "What a connection costs in CPU: to set up, to carry a ping, to be watched"


PREDICTIONS = [
    quantity("setup_us", "CPU, machine-wide, to set up one connection on loopback (19,000 in a "
             "row from 4 source addresses)", "µs", factor(3),
             "Kernel work: three packets through the stack in softirq, two sockets made, hashed "
             "and registered with epoll, an accept4(): tens of microseconds, not nanoseconds and "
             "not milliseconds.",
             paragraph="Setting up a connection is kernel work, not application work."),
    quantity("one_source_ratio", "The same 19,000 from one source address (past half of its "
             "28,232 ports): how many times the CPU per connection of the 4-source run?",
             "times", factor(3),
             "Past half the range every connect() walks the 14,116 used ports of one parity, a "
             "hash lookup each, before it tries the other: hundreds of microseconds per connect "
             "for the last quarter of the ramp, an order of magnitude on average.",
             paragraph="Past half the port range, the port search costs more than the connection."),
    quantity("ping_us", "CPU, machine-wide, per 64-byte ping and its echo on an open connection",
             "µs", factor(3),
             "Two small segments and two wake-ups, no socket to make: a fraction of a setup.",
             paragraph="A request is cheaper than a connection."),
]


def walk_fds(pid):
    """One pass of what lsof, `ss -p` and many monitoring agents do: list /proc/PID/fd and read
    every link. Returns (seconds, socket links seen)."""
    t0, sockets = time.perf_counter(), 0
    with os.scandir(f"/proc/{pid}/fd") as it:
        for e in it:
            try:
                sockets += os.readlink(e.path).startswith("socket:")
            except OSError:
                pass
    return time.perf_counter() - t0, sockets


def run(lab):
    n, n_ping, interval, hold = 19000, 1000, 0.1, 4
    sources = "198.18.0.11-198.18.0.14"
    ns = lab.ns("cpu", ["198.18.0.1"] + [f"198.18.0.{i}" for i in range(11, 15)])
    s = lab.server(ns, "0.0.0.0:7000", "--quiet")
    time.sleep(0.3)

    def setup(*args):
        """Opens n connections; returns (the holding client, CPU window, server us, client us)."""
        s_cpu0 = tree_cpu_s([s.p.pid])
        window = CpuWindow().start()
        c = lab.client_start(ns, "-n", n, "--quiet", *args)
        if not wait_for(lambda: ns.sockstat()["tcp_inuse"] > 2 * n or c.p.poll() is not None,
                        60, 0.02):
            raise LabError("the client did not reach its count:\n" + c.dump())
        ramp = window.stop()
        return (c, ramp, (tree_cpu_s([s.p.pid]) - s_cpu0) * 1e6 / n,
                tree_cpu_s([c.p.pid]) * 1e6 / n)

    c, ramp, server_us, client_us = setup("--source", sources, "--hold", 4)
    walks = [walk_fds(s.p.pid) for _ in range(5)]
    walk_s = sorted(w[0] for w in walks)[2]
    seen = min(w[1] for w in walks)
    if c.wait(60) != 0:
        raise LabError("the holding client failed:\n" + c.dump())
    time.sleep(0.5)
    c1, ramp1, server1_us, client1_us = setup("--hold", 1)
    c1.wait(60)
    one_pair_ok = c1.last("summary")["established"] == n

    s_cpu1 = tree_cpu_s([s.p.pid])
    window = CpuWindow().start()
    p = lab.client(ns, "-n", n_ping, "--source", sources, "--ping-interval", interval,
                   "--hold", hold, "--quiet")
    traffic = window.stop()
    ps = p.last("summary")
    pings = ps["pings_ok"]
    ping_us = traffic["cpu_run_s"] * 1e6 / max(pings, 1)
    server_ping_us = (tree_cpu_s([s.p.pid]) - s_cpu1) * 1e6 / max(pings, 1)
    s.stop()

    run_us, run1_us = ramp["cpu_run_s"] * 1e6 / n, ramp1["cpu_run_s"] * 1e6 / n
    lab.row(f"CPU to set up one connection ({fmt(n)} in a row from 4 source addresses, "
            "one process per side)", "CPU bounds the count too (C15)",
            f"{run_us:,.0f} us machine-wide: server {server_us:,.0f} us, client {client_us:,.0f} us, "
            "the rest kernel threads, softirq and the lab's polling")
    lab.row("the same from one source address: 19,000 of the 28,232 ports, past half the range",
            "-", f"{run1_us:,.0f} us machine-wide: server {server1_us:,.0f} us, client {client1_us:,.0f} us "
            f"({run1_us / max(run_us, 1):,.1f}x: connect() searches for a free port)")
    lab.row("the ramp's CPU, 4 sources: busy / available (cores x wall time)", "-",
            f"{ramp['cpu_busy_s']} s / {ramp['cpu_available_s']} s")
    lab.row(f"CPU per 64-byte ping and echo ({fmt(n_ping)} connections, every {interval} s for {hold} s)",
            "-", f"{ping_us:,.1f} us machine-wide (server {server_ping_us:,.1f} us); {fmt(pings)} pings echoed")
    lab.row(f"one walk of the server's /proc/PID/fd ({fmt(seen)} sockets; Python scandir + readlink, "
            "as lsof and monitoring agents do)", "-",
            f"{walk_s * 1e3:,.1f} ms of wall time = {walk_s * 1e6 / max(seen, 1):,.2f} us per descriptor")
    lab.measure("setup_us", round(run_us, 1))
    lab.measure("one_source_ratio", round(run1_us / max(run_us, 1), 1))
    lab.measure("ping_us", round(ping_us, 1))
    lab.check("setting up a connection costs CPU: between 1 us and 1 ms machine-wide", 1 <= run_us <= 1000)
    lab.check("one source address still reached all 19,000 (the range holds 28,232)", one_pair_ok)
    lab.check("each walk of /proc/PID/fd saw every held connection as a socket link", seen >= n)
    lab.check("every ping was echoed intact", ps["echo_mismatches"] == 0 and pings > 0
              and not ps["failed"])
    lab.note(f"An estimate, not a measurement: at that speed, one walk over the 2,000,000 descriptors "
             f"of 1,000,000 loopback connections would take {walk_s / max(seen, 1) * 2e6:,.1f} s "
             f"({walk_s * 1e6 / max(seen, 1):,.2f} us x 2,000,000).")
    lab.note("CPU is read from /proc/PID/stat (utime + stime) and /proc/stat; the polling of "
             "sockstat (ip netns exec c10m-kernel sockstat, every 20 ms) is counted in the busy "
             "figure.")
