"""time-wait (C1, C2, C3, C6): who holds TIME_WAIT, how long, what it costs, what avoids it.

The side that calls close() first walks FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT; the other goes
CLOSE_WAIT -> LAST_ACK -> CLOSED and keeps nothing. tcp_time_wait() arms the timer for
TCP_TIMEWAIT_LEN, (60*HZ) in include/net/tcp.h, a compile-time constant: tcp_fin_timeout is how
long an orphaned socket may sit in FIN_WAIT_2, not the TIME_WAIT length. So churning at a rate
plateaus near rate x 60 TIME_WAIT sockets. On the client each keeps its 4-tuple, so a
(source, destination) pair sustains about ports / 60 new connections per second before
connect() fails with EADDRNOTAVAIL; tcp_tw_reuse = 1 lets connect() take over a TIME_WAIT 4-tuple
(tcp_twsk_unique(), with timestamps; 2, the default, is loopback only, and 198.18.x.x on lo does
not count). SO_LINGER {on, 0} (a RST) and keep-alive avoid TIME_WAIT altogether. The parts run
at once, each in its own namespace. docs/labs/time-wait.md is the worksheet.
"""

import functools
import time

from ..framework import RANGE_1000, fmt, in_parallel
from ..predictions import percent, plus_minus, quantity

NAME = "time-wait"
CLAIMS = "C1, C2, C3, C6"
TITLE = "TIME_WAIT: who holds it, how long, what it costs, what avoids it"


PREDICTIONS = [
    quantity("lifetime_s", "With net.ipv4.tcp_fin_timeout = 5, how many seconds after a burst of "
             "closes does the first of its TIME_WAIT sockets expire?", "seconds", plus_minus(5),
             "TIME_WAIT lasts TCP_TIMEWAIT_LEN, 60 s compiled into the kernel; tcp_fin_timeout "
             "times orphaned FIN_WAIT_2 sockets, not TIME_WAIT.", paragraph="How long."),
    quantity("plateau", "Churning 200 new connections a second for 70 s (the client closes "
             "first), how many sockets are in TIME_WAIT at the end?", "sockets", percent(10),
             "Each closed connection stays 60 s: the count climbs by the rate every second and "
             "levels off at rate x 60.", paragraph="How long."),
    quantity("reuse0_failure_s", "1,000 ports, 100 new connections a second, tcp_tw_reuse = 0: "
             "after how many seconds does connect() first fail?", "seconds", plus_minus(2),
             "Every connection leaves its port in TIME_WAIT for 60 s, so the 1,000 ports last "
             "1,000 / 100 a second: the first failure comes once they are all used.",
             paragraph="What it costs."),
]


def tw_part(lab, label, sysctls, client_args, server_args=(), watch=None):
    """One time-wait sub-experiment in its own namespace; returns the client process."""
    ns = lab.ns(label, ["198.18.0.1"], sysctls)
    lab.server(ns, "198.18.0.1:7000", "--quiet", *server_args)
    c = lab.client_start(ns, "--target", "198.18.0.1:7000", *client_args)
    result = {"client": c, "ns": ns}
    if watch:
        result.update(watch(ns, c))
    c.wait(200)
    return result


def watch_lifetime(ns, c):
    """After a 1-second burst, when do its TIME_WAIT sockets expire?"""
    t0 = time.time()
    c.wait(30)
    first_tw = max(ns.sockstat()["tcp_tw"], 1)
    first_gone = last_gone = None
    while time.time() - t0 < 80:
        tw = ns.sockstat()["tcp_tw"]
        if first_gone is None and tw < first_tw:
            first_gone = time.time() - t0
        if tw == 0:
            last_gone = time.time() - t0
            break
        time.sleep(0.25)
    return {"burst": first_tw, "first_gone": first_gone, "last_gone": last_gone}


def run(lab):
    rate, plateau_s = 200, 70
    parts = {
        "plateau": (dict(sysctls={"net.ipv4.tcp_fin_timeout": 5},
                         client_args=["--mode", "churn", "--rate", rate, "--duration", plateau_s])),
        "lifetime": (dict(sysctls={"net.ipv4.tcp_fin_timeout": 5},
                          client_args=["--mode", "churn", "--rate", 500, "--duration", 1, "--quiet"], watch=watch_lifetime)),
        "reuse0": (dict(sysctls={"net.ipv4.ip_local_port_range": RANGE_1000, "net.ipv4.tcp_tw_reuse": 0},
                        client_args=["--mode", "churn", "--rate", 100, "--duration", 20])),
        "reuse1": (dict(sysctls={"net.ipv4.ip_local_port_range": RANGE_1000, "net.ipv4.tcp_tw_reuse": 1},
                        client_args=["--mode", "churn", "--rate", 100, "--duration", 20])),
        "clientfirst": dict(sysctls={}, client_args=["--mode", "churn", "--rate", 100, "--duration", 10, "--quiet"]),
        "serverfirst": dict(sysctls={}, client_args=["--mode", "churn", "--rate", 100, "--duration", 10, "--close", "wait",
                                                     "--quiet"], server_args=["--close-first"]),
        "rst": dict(sysctls={}, client_args=["--mode", "churn", "--rate", 100, "--duration", 10, "--close", "rst"]),
        "keepalive": dict(sysctls={}, client_args=["--mode", "keepalive", "--rate", 100, "--duration", 10,
                                                   "-n", 10]),
    }
    results = in_parallel({label: functools.partial(tw_part, lab, label, **spec)
                           for label, spec in parts.items()})

    # 1. The plateau, with tcp_fin_timeout = 5.
    ticks = results["plateau"]["client"].json("tick")
    at = lambda s: max((t["tcp_tw"] for t in ticks if t["elapsed_s"] <= s + 0.5), default=0)
    expected = rate * 60
    lab.row(f"TIME_WAIT while churning at {rate}/s, at 10 / 30 / 60 / {plateau_s} s",
            "piles up (C1)", " / ".join(fmt(at(s)) for s in (10, 30, 60, plateau_s)))
    lab.row("... so one TIME_WAIT lives (plateau / rate)", "tcp_fin_timeout=5 shortens it (C2)",
            f"{at(plateau_s) / rate:.1f} s with tcp_fin_timeout = 5")
    lab.measure("plateau", at(plateau_s))
    lab.check(f"TIME_WAIT plateaus near rate x 60 = {fmt(expected)} (0.85..1.05 x)",
              0.85 * expected <= at(plateau_s) <= 1.05 * expected)
    lab.curve(f"TIME_WAIT while churning {rate} connections/s", "seconds", "sockets in TIME_WAIT",
              [("TIME_WAIT (sockstat tw)", [t["elapsed_s"] for t in ticks], [t["tcp_tw"] for t in ticks])],
              [(f"rate x 60 s = {expected:,}", expected)])
    lab.check("it stopped climbing after 60 s (70 s within 5% of 62 s)",
              abs(at(plateau_s) - at(62)) <= 0.05 * expected)

    # 2. One burst's lifetime.
    lt = results["lifetime"]
    lab.row(f"a burst of {fmt(lt['burst'])} TIME_WAIT, tcp_fin_timeout = 5: first expired / all gone after",
            "5 s (C2)", f"{lt['first_gone'] or 0:.1f} s / {lt['last_gone'] or 0:.1f} s")
    lab.measure("lifetime_s", round(lt["first_gone"], 1) if lt["first_gone"] else None)
    lab.check("a TIME_WAIT lives ~60 s whatever tcp_fin_timeout says (55..66 s)",
              lt["first_gone"] is not None and 55 <= lt["first_gone"] <= 66)

    # 3. Port exhaustion, and tcp_tw_reuse.
    r0 = results["reuse0"]["client"].last("summary")
    r1 = results["reuse1"]["client"].last("summary")
    first0 = r0["first_failure_s"].get("EADDRNOTAVAIL")
    lab.row("1,000 ports, churn 100/s, tcp_tw_reuse = 0: first failure",
            "ports run out (C1)", f"EADDRNOTAVAIL at {first0:.1f} s; {fmt(r0['requests_ok'])} of "
            f"{fmt(r0['requests'])} answered" if first0 else "none")
    lab.row("same, tcp_tw_reuse = 1", "reuse fixes the client side (C3)",
            f"{fmt(r1['requests_ok'])} of {fmt(r1['requests'])} answered, failed: "
            f"{', '.join(f'{k} {v}' for k, v in r1['failed'].items()) or 'none'}")
    lab.measure("reuse0_failure_s", round(first0, 1) if first0 else None)
    lab.check("tw_reuse=0: EADDRNOTAVAIL after ~10 s (8..13 s)", first0 is not None and 8 <= first0 <= 13)
    lab.check("tw_reuse=1: no failure, >= 98% answered",
              not r1["failed"] and r1["requests_ok"] >= 0.98 * r1["requests"])

    # 4. Who closes first.
    cf = results["clientfirst"]["client"].last("summary")
    sf = results["serverfirst"]["client"].last("summary")
    lab.row("client closes first (--close fin): TIME_WAIT client side / server side",
            "on the side that closes first", f"{fmt(cf['tw_client_end'])} / {fmt(cf['tw_server_end'])}")
    lab.row("server closes first (server --close-first, client --close wait)", "-",
            f"{fmt(sf['tw_client_end'])} / {fmt(sf['tw_server_end'])}")
    lab.check("client-first: the client holds them",
              cf["tw_client_end"] >= 0.95 * cf["requests_ok"] and cf["tw_server_end"] <= 0.02 * cf["requests_ok"])
    lab.check("server-first: the server holds them",
              sf["tw_server_end"] >= 0.95 * sf["requests_ok"] and sf["tw_client_end"] <= 0.02 * sf["requests_ok"])

    # 5. What avoids it.
    rs = results["rst"]["client"].last("summary")
    ka = results["keepalive"]["client"]
    kas = ka.last("summary")
    ka_tw = max((t["tcp_tw"] for t in ka.json("tick")), default=0)
    lab.row("--close rst (SO_LINGER 0), 100/s for 10 s: TIME_WAIT at the end", "-",
            f"{fmt(rs['tcp_tw_end'])} ({fmt(rs['requests_ok'])} requests)")
    lab.row("keep-alive, 100/s for 10 s over 10 connections: TIME_WAIT while running",
            "avoids it at the root (C6)", f"{fmt(ka_tw)} ({fmt(kas['requests_ok'])} requests over "
            f"{fmt(kas['opened'])} connections)")
    lab.check("RST leaves no TIME_WAIT", rs["tcp_tw_peak"] == 0 and rs["requests_ok"] >= 990)
    lab.check("keep-alive leaves none while running", ka_tw == 0 and kas["requests_ok"] >= 990)
    lab.note("TIME_WAIT length is TCP_TIMEWAIT_LEN (60 s, include/net/tcp.h); tcp_fin_timeout "
             "is how long an orphaned socket may sit in FIN_WAIT_2.")
