#!/usr/bin/env python3
"""c10m lab: every claim of the source article as an experiment on this kernel.

Each experiment creates its own network namespaces (`ip netns add`), sets the per-namespace
sysctls it needs there (never on the host), runs c10m-server and c10m-client inside them on
loopback addresses of the benchmarking range 198.18.0.0/15, prints a table of what it measured
next to what the article claimed, checks the outcome, and deletes everything it made.

Usage:
  scripts/lab.py                 every experiment, in teaching order
  scripts/lab.py time-wait       one (or several) by name
  scripts/lab.py --list          names, claims and titles
  scripts/lab.py --json NAME     one JSON object per experiment on stdout

Exit status: 0 every check held, 1 a check failed or an experiment broke, 2 usage,
77 skipped: this machine cannot create network namespaces, or lacks what every experiment asked
for needs (an experiment skipped among others is marked "skipped" in its record and its notes).
Results also go to lab/results/NAME.json and NAME.md.
"""

import argparse
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import threading
import time

from procutil import CpuWindow, Lines, log, machine, meminfo_slab, read, slabinfo, tree_cpu_s

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("C10M_BIN", os.path.join(ROOT, "target", "release"))
OUT = os.path.join(ROOT, os.environ.get("LAB_OUT", "lab/results"))
SKIPPED = 77

EXPERIMENTS = []        # (name, claims, title, function), in teaching order
_live = []              # every namespace and process made, torn down on any exit
_live_lock = threading.Lock()
_counter = [0]


def experiment(name, claims, title):
    def register(fn):
        EXPERIMENTS.append((name, claims, title, fn))
        return fn
    return register


def fmt(n):
    return f"{n:,}" if isinstance(n, int) else str(n)


# ---------------------------------------------------------------------------------------------
# Namespaces and processes

class Netns:
    """A throwaway network namespace with `lo` up and the given addresses on it."""

    def __init__(self, tag, addrs=(), sysctls=None):
        with _live_lock:
            _counter[0] += 1
            self.name = f"c10m-lab-{os.getpid()}-{_counter[0]}-{tag}"[:60]
            _live.append(self)
        sh(["ip", "netns", "add", self.name])
        sh(["ip", "-n", self.name, "link", "set", "lo", "up"])
        for a in addrs:
            sh(["ip", "-n", self.name, "addr", "add", f"{a}/32", "dev", "lo"])
        for k, v in (sysctls or {}).items():
            self.sysctl(k, v)

    def path(self, key):
        return "/proc/sys/" + key.replace(".", "/")

    def sysctl(self, key, value):
        """Writes a per-namespace sysctl from inside the namespace (the host's is untouched)."""
        sh(["ip", "netns", "exec", self.name, "sh", "-c",
            f"printf '%s' {shlex.quote(str(value))} > {self.path(key)}"])

    def read(self, path):
        return subprocess.run(["ip", "netns", "exec", self.name, "cat", path],
                              capture_output=True, text=True, check=True).stdout

    def get(self, key):
        return self.read(self.path(key)).strip()

    def exec_cmd(self, cmd):
        return ["ip", "netns", "exec", self.name] + cmd

    def netstat(self):
        """TcpExt counters of this namespace."""
        lines = self.read("/proc/net/netstat").splitlines()
        out = {}
        for head, vals in zip(lines[::2], lines[1::2]):
            if head.startswith("TcpExt:"):
                out.update(zip(head.split()[1:], map(int, vals.split()[1:])))
        return out

    def sockstat(self):
        out = {}
        for line in self.read("/proc/net/sockstat").splitlines():
            if line.startswith("TCP:"):
                f = line.split()[1:]
                out = {f[i]: int(f[i + 1]) for i in range(0, len(f) - 1, 2)}
        return out

    def tcp_sockets(self):
        """(local port, remote port, state) of every IPv4 TCP socket in the namespace."""
        rows = []
        for line in self.read("/proc/net/tcp").splitlines()[1:]:
            f = line.split()
            if len(f) > 3:
                rows.append((int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16),
                             int(f[3], 16)))
        return rows

    def delete(self):
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                              text=True).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class Proc:
    """A c10m binary running in a namespace, its stdout collected line by line."""

    def __init__(self, ns, name, args, preexec=None):
        self.cmd = [os.path.join(BIN, name)] + [str(a) for a in args]
        self.display = f"ip netns exec {ns.name} {name} {' '.join(shlex.quote(str(a)) for a in args)}"
        self.stderr_lines = []
        self.p = subprocess.Popen(ns.exec_cmd(self.cmd), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True,
                                  preexec_fn=preexec)
        with _live_lock:
            _live.append(self)
        self.out = Lines(self.p, name)
        self.err_thread = threading.Thread(target=self._stderr, daemon=True)
        self.err_thread.start()

    def _stderr(self):
        for raw in self.p.stderr:
            self.stderr_lines.append(raw.decode(errors="replace").rstrip("\n"))

    def json(self, ty=None):
        objs = []
        for line in list(self.out.lines):
            if line.startswith("{"):
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                if ty is None or o.get("type") == ty:
                    objs.append(o)
        return objs

    def last(self, ty):
        objs = self.json(ty)
        return objs[-1] if objs else None

    def wait(self, timeout):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise LabError(f"{self.display} did not finish in {timeout} s")
        self.out.thread.join(5)
        self.err_thread.join(5)
        return self.p.returncode

    def stop(self, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait(10)

    def delete(self):
        self.kill()

    def dump(self):
        return "\n".join([f"$ {self.display}", "--- stdout", *self.out.lines[-40:],
                          "--- stderr", *self.stderr_lines[-40:]])


class LabError(Exception):
    pass


class LabSkipped(Exception):
    """The machine lacks what the experiment needs: it is reported as skipped, never as passed."""


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: {r.stderr.strip() or r.returncode}")
    return r.stdout


def teardown():
    with _live_lock:
        items = list(reversed(_live))
        _live.clear()
    for item in items:
        if isinstance(item, Proc):
            item.kill()
    for item in items:
        if isinstance(item, Netns):
            item.delete()


def netns_available():
    name = f"c10m-lab-probe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr.strip() or "ip netns add failed"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


# ---------------------------------------------------------------------------------------------
# One experiment's record

class Lab:
    def __init__(self, name, claims, title):
        self.name, self.claims, self.title = name, claims, title
        self.rows, self.checks, self.notes, self.commands, self.procs = [], [], [], [], []

    def ns(self, tag, addrs=(), sysctls=None):
        ns = Netns(tag, addrs, sysctls)
        if sysctls:
            self.notes.append(f"namespace {tag}: " + ", ".join(f"{k}={v}" for k, v in sysctls.items()))
        return ns

    def server(self, ns, listen, *args, preexec=None, json_lines=True):
        a = ["--listen", listen] + (["--json"] if json_lines else []) + list(args)
        s = Proc(ns, "c10m-server", a, preexec)
        self.procs.append(s)
        self.commands.append(s.display)
        if not s.out.wait_for("listening on", 10):
            raise LabError("the server did not start:\n" + s.dump())
        return s

    def client_start(self, ns, *args):
        """c10m-client with `args`; the target is 198.18.0.1:7000 unless `args` name one."""
        target = [] if "--target" in args else ["--target", "198.18.0.1:7000"]
        c = Proc(ns, "c10m-client", ["--allow-remote", "--json"] + target + list(args))
        self.procs.append(c)
        self.commands.append(c.display)
        return c

    def client(self, ns, *args, timeout=120):
        c = self.client_start(ns, *args)
        c.wait(timeout)
        if c.last("summary") is None:
            raise LabError("the client printed no summary:\n" + c.dump())
        return c

    def row(self, what, article, measured):
        self.rows.append((what, article, measured))

    def check(self, what, ok):
        self.checks.append((what, bool(ok)))

    def note(self, text):
        self.notes.append(text)


def failures(c):
    """errno -> (count, the step it came from)."""
    steps = {o["errno"]: o.get("step", "") for o in c.json("failure")}
    return {k: (v, steps.get(k, "")) for k, v in c.last("summary")["failed"].items()}


def failure_text(c):
    f = failures(c)
    if not f:
        return "none"
    return ", ".join(f"{k} x {fmt(n)} from {step or '?'}" for k, (n, step) in f.items())


def wait_for(cond, timeout, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return None


# ---------------------------------------------------------------------------------------------
# The experiments, in teaching order

RANGE_1000 = "40000 40999"


@experiment("ports-one-pair", "C9, C1", "One source to one ip:port: the port range is the limit")
def ports_one_pair(lab):
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


@experiment("ports-sources", "C10", "More source addresses multiply the ports, if bind() leaves the port to connect()")
def ports_sources(lab):
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


@experiment("ports-destinations", "C7, C11", "More destinations reuse the same source ports: the 4-tuple is the identity")
def ports_destinations(lab):
    dsts = [f"198.18.0.{i}" for i in range(1, 5)]
    ns = lab.ns("dests", dsts + ["198.18.0.11"], {"net.ipv4.ip_local_port_range": RANGE_1000})
    lab.server(ns, "0.0.0.0:7000", "--quiet")

    def established_to_7000():
        return [r for r in ns.tcp_sockets() if r[1] == 7000 and r[2] == 1]

    for label, extra in (
        ("no bind(): the kernel picks the source (here each destination's own address)", []),
        ("one bound source 198.18.0.11 (IP_BIND_ADDRESS_NO_PORT): only the destination differs",
         ["--source", "198.18.0.11"]),
    ):
        c = lab.client_start(ns, "-n", 5000, "--target", "198.18.0.1-198.18.0.4:7000", "--hold", 3,
                             "--quiet", *extra)
        # While the connections are held, count their 4-tuples and their distinct source ports.
        wait_for(lambda: len(established_to_7000()) >= 3960, 20, 0.3)
        time.sleep(0.5)
        held = established_to_7000()
        c.wait(60)
        est = c.last("summary")["established"]
        ports = len({r[0] for r in held})
        lab.row(f"{label}: connections to 4 addresses of one listener (5,000 asked)",
                "each destination gets its own port range (C11)",
                f"{fmt(est)}, on {fmt(ports)} distinct client ports; the rest: {failure_text(c)}")
        lab.check(f"{'no bind' if not extra else 'one source'}: about 4 x 1,000 established "
                  "(3,960..4,000) on <= 1,000 ports", 3960 <= est <= 4000 and ports <= 1000)
    lab.note("A port is not a connection (C7): the same <= 1,000 client ports carry ~4,000 "
             "established 4-tuples.")


@experiment("one-port-beyond-65535", "C8", "One listening port holds more than 65,535 connections")
def one_port(lab):
    n = 70000
    dsts = [f"198.18.0.{i}" for i in range(1, 7)]
    ns = lab.ns("oneport", dsts)
    s = lab.server(ns, "0.0.0.0:7000", "--workers", "auto", "--max-conns", n, "--quiet")
    c = lab.client_start(ns, "-n", n, "--target", "198.18.0.1-198.18.0.6:7000", "--hold", 4, "--quiet")
    on_port = wait_for(lambda: (lambda k: k if k >= n else None)(
        sum(1 for r in ns.tcp_sockets() if r[0] == 7000 and r[2] == 1)), 60, 0.5) or \
        sum(1 for r in ns.tcp_sockets() if r[0] == 7000 and r[2] == 1)
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
    lab.check("more than 65,535 established on the one port", on_port > 65535)
    lab.check("client and server agree on the count",
              cs["established"] == n and ss.get("peak_connections") == n)


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
    first_tw = max(ns.sockstat().get("tw", 0), 1)
    first_gone = last_gone = None
    while time.time() - t0 < 80:
        tw = ns.sockstat().get("tw", 0)
        if first_gone is None and tw < first_tw:
            first_gone = time.time() - t0
        if tw == 0:
            last_gone = time.time() - t0
            break
        time.sleep(0.25)
    return {"burst": first_tw, "first_gone": first_gone, "last_gone": last_gone}


@experiment("time-wait", "C1, C2, C3, C6", "TIME_WAIT: who holds it, how long, what it costs, what avoids it")
def time_wait(lab):
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
    results, errors = {}, []

    def go(label, spec):
        try:
            results[label] = tw_part(lab, label, **spec)
        except Exception as e:  # reported below, after every part has finished
            errors.append(f"{label}: {e}")

    threads = [threading.Thread(target=go, args=(k, v)) for k, v in parts.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise LabError("; ".join(errors))

    # 1. The plateau, with tcp_fin_timeout = 5.
    ticks = results["plateau"]["client"].json("tick")
    at = lambda s: max((t["tcp_tw"] for t in ticks if t["elapsed_s"] <= s + 0.5), default=0)
    expected = rate * 60
    lab.row(f"TIME_WAIT while churning at {rate}/s, at 10 / 30 / 60 / {plateau_s} s",
            "piles up (C1)", " / ".join(fmt(at(s)) for s in (10, 30, 60, plateau_s)))
    lab.row("... so one TIME_WAIT lives (plateau / rate)", "tcp_fin_timeout=5 shortens it (C2)",
            f"{at(plateau_s) / rate:.1f} s with tcp_fin_timeout = 5")
    lab.check(f"TIME_WAIT plateaus near rate x 60 = {fmt(expected)} (0.85..1.05 x)",
              0.85 * expected <= at(plateau_s) <= 1.05 * expected)
    lab.check("it stopped climbing after 60 s (70 s within 5% of 62 s)",
              abs(at(plateau_s) - at(62)) <= 0.05 * expected)

    # 2. One burst's lifetime.
    lt = results["lifetime"]
    lab.row(f"a burst of {fmt(lt['burst'])} TIME_WAIT, tcp_fin_timeout = 5: first expired / all gone after",
            "5 s (C2)", f"{lt['first_gone'] or 0:.1f} s / {lt['last_gone'] or 0:.1f} s")
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


@experiment("listen-queue", "C14", "The accept queue: a small backlog drops a burst, a large one absorbs it")
def listen_queue(lab):
    n = 200
    small = lab.ns("small", ["198.18.0.1"], {"net.core.somaxconn": 16})
    big = lab.ns("big", ["198.18.0.1"])
    somaxconn_big = int(big.get("net.core.somaxconn"))
    syn_backlog = small.get("net.ipv4.tcp_max_syn_backlog")

    lab.server(small, "198.18.0.1:7000", "--pause-accept", 0, "--quiet")
    before = small.netstat()
    c1 = lab.client(small, "-n", n, "--connect-timeout", 3, "--hold", 1, "--quiet")
    after = small.netstat()
    s1 = c1.last("summary")
    ov = after.get("ListenOverflows", 0) - before.get("ListenOverflows", 0)
    dr = after.get("ListenDrops", 0) - before.get("ListenDrops", 0)

    s2 = lab.server(big, "198.18.0.1:7000", "--pause-accept", 3, "--stats-interval", 0.5)
    before = big.netstat()
    c2 = lab.client(big, "-n", n, "--connect-timeout", 3, "--hold", 4, "--quiet")
    after = big.netstat()
    s2.stop()
    ov2 = after.get("ListenOverflows", 0) - before.get("ListenOverflows", 0)
    peak2 = (s2.last("summary") or {}).get("peak_connections", 0)
    e2 = c2.last("summary")["established"]

    lab.row("net.core.somaxconn", "default 128 (C14)",
            f"16 in the small namespace; {fmt(somaxconn_big)} by default (since Linux 5.4)")
    lab.row("net.ipv4.tcp_max_syn_backlog", "bounds the SYN queue", syn_backlog)
    lab.row(f"backlog 16, server not accepting, burst of {n}: established / timed out",
            "too small drops connections", f"{fmt(s1['established'])} / {fmt(s1['failed'].get('ETIMEDOUT', 0))}")
    lab.row("TcpExt ListenOverflows / ListenDrops during that burst", "-", f"{fmt(ov)} / {fmt(dr)}")
    lab.row(f"backlog {fmt(somaxconn_big)}, server paused 3 s, same burst: established / overflows",
            "-", f"{fmt(e2)} / {fmt(ov2)}")
    lab.row("... then accepted by the server once it resumed", "-", fmt(peak2))
    lab.check("small backlog: at most ~backlog+1 established, the rest time out",
              s1["established"] <= 40 and s1["failed"].get("ETIMEDOUT", 0) >= n - 40)
    lab.check("ListenOverflows and ListenDrops climbed", ov > 0 and dr > 0)
    lab.check("large backlog: all established, no overflow, all accepted later",
              e2 == n and ov2 == 0 and peak2 == n)


@experiment("fd-limits", "C12", "File descriptors: the per-process limit, its hard cap and the system's")
def fd_limits(lab):
    ns = lab.ns("fd", ["198.18.0.1"])
    limit = 1024

    def ulimit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    s = lab.server(ns, "198.18.0.1:7000", "--max-conns", 2000, preexec=ulimit)
    lab.commands[-1] = f"(ulimit -n {limit}; {lab.commands[-1]})"
    start = s.last("start") or {}
    c1 = lab.client(ns, "-n", 1100, "--hold", 2, "--quiet")
    held = max((t["connections"] for t in s.json("tick")), default=0)
    emfile = sum(t.get("accept_errors", {}).get("EMFILE", 0) for t in s.json("tick"))
    time.sleep(0.5)
    c2 = lab.client(ns, "-n", 10, "--ping-interval", 0.5, "--hold", 2, "--quiet")
    alive = s.p.poll() is None
    code = s.stop()
    ss = s.last("summary") or {}
    emfile = max(emfile, ss.get("accept_errors", {}).get("EMFILE", 0))
    hard_try = subprocess.run(["sh", "-c", "ulimit -Hn 30000 2>&1; echo exit=$?"],
                              capture_output=True, text=True).stdout.strip().replace("\n", " ")
    host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nr_open, file_nr = read("/proc/sys/fs/nr_open").strip(), read("/proc/sys/fs/file-nr").split()
    lab.row("server under ulimit -n 1024: soft / hard", "often 1024 (C12)",
            f"{start.get('fd_soft', '?')} / {start.get('fd_hard', '?')}")
    lab.row("1,100 clients: the server held", "EMFILE near the limit",
            f"{fmt(held)} (+ its own {start.get('fds_base', '?')} fds); accept() EMFILE x {fmt(emfile)}")
    lab.row("client side of the same run", "-",
            f"{fmt(c1.last('summary')['established'])} established: the kernel finishes handshakes into the accept queue")
    lab.row("after: 10 new clients ping the same server", "-",
            f"{fmt(c2.last('summary')['pings_ok'])} pings echoed; server alive: {alive}; exit {code} on SIGTERM")
    lab.row("this shell's hard limit / raising it to 30,000 (ulimit -Hn 30000, under fs.nr_open)",
            "-",
            f"{fmt(host_hard)} / {hard_try}")
    lab.row("fs.nr_open: the ceiling for any hard limit", "-", fmt(int(nr_open)))
    lab.row("fs.file-max (system-wide) / allocated now", "the system-wide limit (C12)",
            f"{fmt(int(file_nr[2]))} / {fmt(int(file_nr[0]))}")
    lab.check("the server stopped near 1,020 and saw EMFILE", 1000 <= held <= limit and emfile > 0)
    lab.check("it survived and still echoes", alive and code == 0 and c2.last("summary")["pings_ok"] >= 10)


@experiment("socket-memory", "C13", "What a connection costs the kernel, idle and with data in flight")
def socket_memory(lab):
    n_idle, n_busy, payload = 10000, 2000, 65536
    ns = lab.ns("mem", ["198.18.0.1"])
    s = lab.server(ns, "198.18.0.1:7000", "--quiet")
    time.sleep(0.3)
    slab0, caches0 = meminfo_slab(), slabinfo()
    c = lab.client_start(ns, "-n", n_idle, "--hold", 3, "--quiet")
    wait_for(lambda: ns.sockstat().get("inuse", 0) >= 2 * n_idle, 30, 0.2)
    time.sleep(1.0)
    slab1, caches1 = meminfo_slab(), slabinfo()
    c.wait(60)
    s.stop()
    pair = (slab1 - slab0) / n_idle
    moved = sorted(((k, (caches1.get(k, 0) - caches0.get(k, 0)) / n_idle) for k in caches1),
                   key=lambda kv: -kv[1])
    top = [(k, v) for k, v in moved if v >= 64][:8]

    busy = lab.ns("busy", ["198.18.0.1"])
    lab.server(busy, "198.18.0.1:7000", "--pause-accept", 0, "--quiet")
    mem0 = busy.sockstat().get("mem", 0)
    c = lab.client_start(busy, "-n", n_busy, "--concurrency", n_busy, "--ping-interval", 0.5,
                         "--payload", payload, "--hold", 3, "--quiet")
    peak = 0
    while c.p.poll() is None:
        peak = max(peak, busy.sockstat().get("mem", 0))
        time.sleep(0.1)
    c.wait(30)
    per_busy = (peak - mem0) * os.sysconf("SC_PAGE_SIZE") / n_busy

    lab.row(f"idle: kernel slab per connection pair ({fmt(n_idle)} pairs, both ends here)",
            "4-32 KB per connection (C13)", f"{pair:,.0f} B ({pair / 2:,.0f} B per socket)")
    for k, v in top:
        lab.row(f"  slab cache {k}", "-", f"{v:,.0f} B per pair")
    lab.row(f"with {payload // 1024} KiB unread per connection ({fmt(n_busy)} connections): "
            "TCP buffer memory (sockstat mem)", "-", f"{per_busy:,.0f} B per connection")
    lab.check("an idle socket costs 2..16 KB of slab", 2048 <= pair / 2 <= 16384)
    lab.check(f"a connection holding {payload // 1024} KiB costs at least that",
              per_busy >= payload)
    lab.note("Slab counts are machine-wide (/proc/slabinfo): anything else running moves them too.")


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


@experiment("cpu-cost", "C15", "What a connection costs in CPU: to set up, to carry a ping, to be watched")
def cpu_cost(lab):
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
        if not wait_for(lambda: ns.sockstat().get("inuse", 0) > 2 * n or c.p.poll() is not None,
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
            f"{run_us:,.0f} us in all: server {server_us:,.0f} us, client {client_us:,.0f} us")
    lab.row("the same from one source address: 19,000 of the 28,232 ports, past half the range",
            "-", f"{run1_us:,.0f} us in all: server {server1_us:,.0f} us, client {client1_us:,.0f} us "
            f"({run1_us / max(run_us, 1):,.1f}x: connect() searches for a free port)")
    lab.row("the ramp's CPU, 4 sources: busy / available (cores x wall time)", "-",
            f"{ramp['cpu_busy_s']} s / {ramp['cpu_available_s']} s")
    lab.row(f"CPU per 64-byte ping and echo ({fmt(n_ping)} connections, every {interval} s for {hold} s)",
            "-", f"{ping_us:,.1f} us in all (server {server_ping_us:,.1f} us); {fmt(pings)} pings echoed")
    lab.row(f"one walk of the server's /proc/PID/fd ({fmt(seen)} sockets; Python scandir + readlink, "
            "as lsof and monitoring agents do)", "-",
            f"{walk_s * 1e3:,.1f} ms = {walk_s * 1e6 / max(seen, 1):,.2f} us per descriptor")
    lab.row("that walker over 2,000,000 descriptors (1,000,000 connections, both ends)", "-",
            f"{walk_s / max(seen, 1) * 2e6:,.1f} s of CPU per pass")
    lab.check("setting up a connection costs CPU: between 1 us and 1 ms in all", 1 <= run_us <= 1000)
    lab.check("one source address still reached all 19,000 (the range holds 28,232)", one_pair_ok)
    lab.check("each walk of /proc/PID/fd saw every held connection as a socket link", seen >= n)
    lab.check("every ping was echoed intact", ps["echo_mismatches"] == 0 and pings > 0
              and not ps["failed"])
    lab.note("CPU is read from /proc/PID/stat (utime + stime) and /proc/stat; the polling of "
             "sockstat (ip netns exec cat, every 20 ms) is counted in the busy figure.")


AUTOGROUP = "/proc/sys/kernel/sched_autogroup_enabled"
BUSY_LOOP = "import time\nend = time.time() + {secs}\nwhile time.time() < end: pass\nprint(time.process_time())"


@experiment("autogroup", "C15, C16", "Who gets the CPU: one session for all the workers, or one each")
def autogroup(lab):
    if not os.path.exists(AUTOGROUP):
        raise LabSkipped(f"{AUTOGROUP} is absent: this kernel has no CONFIG_SCHED_AUTOGROUP, so "
                         "sessions do not change how the CPU is shared")
    ncpu = os.cpu_count() or 1
    per_side, n, busy_s, hold = 2 * ncpu, 2000 * 2 * ncpu, 4, 8
    ns = lab.ns("sched", ["198.18.0.1"])
    before = read(AUTOGROUP).strip()
    if before != "1":
        with open(AUTOGROUP, "w") as f:  # global: put back below, whatever happens
            f.write("1")
    try:
        results = {}
        for one in (True, False):
            extra = ["--one-session"] if one else []
            s = lab.server(ns, "198.18.0.1:7000", "--workers", per_side, "--quiet", *extra)
            c = lab.client_start(ns, "-n", n, "--processes", per_side, "--hold", hold,
                                 "--ping-interval", 0.005, "--quiet", *extra)
            if not wait_for(lambda: ns.sockstat().get("inuse", 0) >= 2 * n or c.p.poll() is not None,
                            60, 0.05):
                raise LabError("the client did not reach its count:\n" + c.dump())
            # A busy program started on its own, as any other program would be: its own session.
            busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(secs=busy_s)],
                                    stdout=subprocess.PIPE, text=True, start_new_session=True)
            flood0 = tree_cpu_s([s.p.pid, c.p.pid])
            got = float(busy.communicate(timeout=busy_s + 30)[0])
            flood = tree_cpu_s([s.p.pid, c.p.pid]) - flood0
            if c.wait(hold + 60) != 0:
                raise LabError("the client failed:\n" + c.dump())
            s.stop()
            summary = c.last("summary")
            results[one] = (got / busy_s, flood / busy_s, summary)
    finally:
        if before != "1":
            with open(AUTOGROUP, "w") as f:
                f.write(before)
    (one_share, one_flood, one_sum), (own_share, own_flood, own_sum) = results[True], results[False]
    groups_one, groups_own = 3, 2 * per_side + 1
    lab.row(f"kernel.sched_autogroup_enabled (CFS shares the CPU among sessions first); {ncpu} CPUs",
            "-", f"{before}" + ("" if before == "1" else " (set to 1 for the experiment, then put back)"))
    lab.row(f"a busy program in its own session, against {per_side} workers and {per_side} client "
            f"processes in ONE session per side (--one-session)", "-",
            f"{one_share:.2f} CPUs (fair share among {groups_one} sessions: "
            f"{min(1, ncpu / groups_one):.2f}); the flood {one_flood:.2f} CPUs")
    lab.row(f"the same against a session per process (the default)", "-",
            f"{own_share:.2f} CPUs (fair share among {groups_own} sessions: "
            f"{min(1, ncpu / groups_own):.2f}); the flood {own_flood:.2f} CPUs")
    lab.row("pings echoed in the 8 s hold (every 5 ms per connection: as many as the CPU allows)", "-",
            f"one session per side {fmt(one_sum['pings_ok'])}, a session per process "
            f"{fmt(own_sum['pings_ok'])}")
    lab.check("one session per side left the busy program more CPU than a session per process",
              one_share > 1.5 * own_share)
    lab.check("a session per process: the busy program got about its fair share (within 2x)",
              own_share <= 2 * ncpu / groups_own)
    lab.check("every ping was echoed intact in both runs",
              all(x["echo_mismatches"] == 0 and x["pings_ok"] == x["pings_sent"] > 0 and not x["failed"]
                  for x in (one_sum, own_sum)))
    lab.note("The busy program measures its own CPU (time.process_time()); the flood's is read from "
             "/proc/PID/stat for its processes over the same seconds. On a machine with a monitoring "
             "agent, the agent is such a busy program: in `make bench` it was one (docs/scale.md).")


@experiment("retired-knobs", "C4, C5", "Knobs the article names that this kernel no longer has, or that do nothing")
def retired_knobs(lab):
    ns = lab.ns("knobs")
    release = os.uname().release
    recycle = os.path.exists("/proc/sys/net/ipv4/tcp_tw_recycle")
    default_range = ns.get("net.ipv4.ip_local_port_range").split()
    ns.sysctl("net.ipv4.ip_local_port_range", "1024 65535")
    wide = ns.get("net.ipv4.ip_local_port_range").split()
    try:
        ns.sysctl("net.ipv4.tcp_tw_recycle", 1)
        wrote = "accepted"
    except LabError as e:
        wrote = "refused (" + str(e).split(":")[-1].strip() + ")"
    reuse = ns.get("net.ipv4.tcp_tw_reuse")
    delay = ns.get("net.ipv4.tcp_tw_reuse_delay") if os.path.exists(
        "/proc/sys/net/ipv4/tcp_tw_reuse_delay") else "absent on this kernel"
    lab.row("net.ipv4.tcp_tw_recycle", "recycles TIME_WAIT, breaks NAT (C4)",
            f"{'present' if recycle else 'absent'} on Linux {release} (removed in 4.12); writing it: {wrote}")
    lab.row("ip_local_port_range default", "widen it (C5)",
            f"{default_range[0]}-{default_range[1]} = {fmt(int(default_range[1]) - int(default_range[0]) + 1)} ports")
    lab.row("the article's example \"1024 65535\"", "\"1024-65535 to 1024-65535\" (a no-op typo)",
            f"{wide[0]}-{wide[1]} = {fmt(int(wide[1]) - int(wide[0]) + 1)} ports once actually set")
    lab.row("net.ipv4.tcp_tw_reuse / tcp_tw_reuse_delay (ms)", "enable reuse (C3)",
            f"{reuse} (2 = loopback only, the default) / {delay}")
    major, minor = (int(x) for x in release.split(".")[:2])
    lab.check("tcp_tw_recycle is absent on kernels from 4.12", recycle == ((major, minor) < (4, 12)))
    lab.check("the port range can be widened to 64,512 ports", wide == ["1024", "65535"])


# ---------------------------------------------------------------------------------------------
# Output

def render_text(lab, elapsed, error):
    lines = [f"== {lab.name} ({lab.claims}): {lab.title}"]
    if lab.rows:
        w1 = max(len(r[0]) for r in lab.rows)
        w2 = max(len(r[1]) for r in lab.rows)
        lines.append(f"  {'measured':<{w1}}  {'the article says':<{w2}}  on this machine")
        for what, article, got in lab.rows:
            lines.append(f"  {what:<{w1}}  {article:<{w2}}  {got}")
    for what, ok in lab.checks:
        lines.append(f"  [{'ok' if ok else 'FAIL'}] {what}")
    for n in lab.notes:
        lines.append(f"  note: {n}")
    if error:
        lines.append(f"  ERROR: {error}")
    lines.append(f"  ({elapsed:.1f} s)")
    return "\n".join(lines)


def render_md(lab, elapsed, mach):
    out = [f"# {lab.name} ({lab.claims}): {lab.title}", "",
           f"Machine: {mach}. Command: `make lab-{lab.name}` ({elapsed:.0f} s).", "",
           "| measured | the article says | on this machine |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in lab.rows]
    out += [""] + [f"- {'ok' if ok else 'FAIL'}: {w}" for w, ok in lab.checks]
    out += [""] + ["Commands run:", ""] + [f"    {c}" for c in lab.commands]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("names", nargs="*", help="experiments to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the experiments")
    ap.add_argument("--json", action="store_true", help="one JSON object per experiment on stdout")
    args = ap.parse_args()
    known = [e[0] for e in EXPERIMENTS]
    if args.list:
        for name, claims, title, _ in EXPERIMENTS:
            print(f"{name:<22} {claims:<15} {title}")
        return 0
    unknown = [n for n in args.names if n not in known]
    if unknown:
        print(f"lab.py: unknown experiment {', '.join(unknown)}; known: {', '.join(known)}",
              file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("lab.py: SKIPPED: the lab creates network namespaces and needs root", file=sys.stderr)
        return SKIPPED
    why = netns_available()
    if why:
        print(f"lab.py: SKIPPED: cannot create a network namespace here ({why})", file=sys.stderr)
        return SKIPPED
    for b in ("c10m-server", "c10m-client"):
        if not os.path.exists(os.path.join(BIN, b)):
            print(f"lab.py: {BIN}/{b} is missing: run make build first", file=sys.stderr)
            return 1
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: (teardown(), sys.exit(130)))
    os.makedirs(OUT, exist_ok=True)
    mach = machine()
    log(f"lab: {mach}")
    failed = ran = skips = 0
    t_all = time.time()
    for name, claims, title, fn in EXPERIMENTS:
        if args.names and name not in args.names:
            continue
        lab = Lab(name, claims, title)
        t0, error, skipped = time.time(), None, None
        log(f"-- {name}: {title}")
        try:
            fn(lab)
        except LabSkipped as e:
            skipped = str(e)
            log(f"SKIPPED {name}: {skipped}")
            lab.note(f"SKIPPED: {skipped}")
        except Exception as e:  # an experiment that breaks is reported, and the rest still run
            error = f"{type(e).__name__}: {e}"
            for p in lab.procs:
                log(p.dump())
        finally:
            teardown()
        elapsed = time.time() - t0
        ok = error is None and all(ok for _, ok in lab.checks)
        failed += not ok
        ran += 1
        skips += skipped is not None
        record = {"name": name, "claims": claims, "title": title, "ok": ok, "error": error,
                  "skipped": skipped,
                  "elapsed_s": round(elapsed, 2), "machine": mach,
                  "rows": [{"measured": a, "article": b, "value": c} for a, b, c in lab.rows],
                  "checks": [{"check": w, "ok": k} for w, k in lab.checks],
                  "notes": lab.notes, "commands": lab.commands}
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(record, f, indent=1)
        with open(os.path.join(OUT, f"{name}.md"), "w") as f:
            f.write(render_md(lab, elapsed, mach))
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            print(render_text(lab, elapsed, error) + "\n", flush=True)
    log(f"lab: {'all checks held' if not failed else f'{failed} experiment(s) failed'} "
        f"in {time.time() - t_all:.0f} s; results in {os.path.relpath(OUT, ROOT)}/")
    if failed:
        return 1
    return SKIPPED if ran and skips == ran else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        teardown()
