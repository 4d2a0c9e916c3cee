#!/usr/bin/env python3
"""make bench: N concurrent connections on one port, held and pinged, measured and plotted.

Starts c10m-server with enough workers and c10m-client with enough processes, ramps to N,
holds BENCH_HOLD seconds with every connection pinging once per BENCH_PING seconds, tears
everything down, and writes bench/results/latest/ (and a dated copy):
  summary.json  summary.md  timeseries.csv  plot.svg
  report.html (the server's --report: its dashboard with the whole run inline) and
  report-client.html (the client's); both dashboards' URLs are printed while they run
Then, in the same run, the kernel's floor (../shared/floor, a minimal C epoll pair) opens the
same N, and the summary reports c10m's ramp against it.

With BENCH_ENGINE=tun (make bench-tun) the client speaks TCP itself through a TUN device
(c10m-client --engine tun): everything runs in a throwaway network namespace, the server on
198.18.0.1, the client from 198.19.0.0/16, BENCH_CONNS defaults to 3,000,000 connections, and
the floor is the C epoll server's processes driven by the same TUN client; the client pings at a
total of BENCH_MESSAGE_RATE (20,000) a second, under what this machine echoes at millions of
connections (make bench-echo), for a hold long enough that every connection is pinged once (1.15 x
N / rate; the summary's pinged_fraction says whether it was). No kernel socket on
the client's side: the machine's memory goes to the server's sockets. Before it starts, the
bench refuses an N that MemAvailable cannot hold at the measured cost per connection.

Environment:
  BENCH_CONNS=1000000  BENCH_HOLD=30  BENCH_PING=30  BENCH_FLOOR=1 (0 skips the floor)
  BENCH_ENGINE=socket|tun  BENCH_MESSAGE_RATE=20000 (tun only; 0 pings every BENCH_PING s)
  C10M_BIN=target/release  BENCH_DASHBOARD=1 (0: neither binary serves its page)
  BENCH_PAGE=poll|browser  read the server's page during the run  BENCH_SHOT=OUT.png  its picture
  BENCH_SERVER='CMD {port}'  point the client at another server instead (e.g. the floor's srv)
  BENCH_OUT=bench/results  FLOOR_SRC=../shared/floor
  BENCH_EHASH=auto|0|BUCKETS  the TUN bench namespace's own established-hash table: auto sizes it
      to BENCH_CONNS (a chain of about one socket per bucket), 0 shares the host's (sized at boot)

Global sysctls: if fs.file-max is too small for 2N descriptors it is raised and restored on
every exit path. Only 127.0.0.0/8 is used. Every wait is bounded.
"""
import datetime
import json
import math
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import plots
from lab.netns import Netns, ehash_entries_for
from procutil import (KERNEL, KERNEL_CACHES, CpuWindow, Lines, fact, log, machine, meminfo_slab, read,
                      slabinfo, tree_cpu_s, tree_rss, env_num)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("C10M_BIN", os.path.join(ROOT, "target", "release"))
ENGINE = os.environ.get("BENCH_ENGINE", "socket")
TUN = ENGINE == "tun"
N = env_num("BENCH_CONNS", 3_000_000 if TUN else 1_000_000, low=1)
# The TUN bench's namespace, and the address its servers listen on.
NETNS = None
HOST = "198.18.0.1" if TUN else "127.0.0.1"
# Kernel memory per server socket the TUN bench plans with: just above the 5,046.9 B per server
# socket of the reference run (bench/reference/bench-tun-3m), plus user space both sides.
TUN_BYTES_PER_CONN = 5_100 + 24 + 16
# The TUN bench pings at a total rate under what this machine echoes at millions of
# connections (make bench-echo's knee, bench/reference/echo) and holds long enough for every
# connection to be pinged once; the socket bench pings each connection every BENCH_PING s.
# BENCH_MESSAGE_RATE=0: the TUN bench pings every BENCH_PING s, as the socket bench does.
MESSAGE_RATE = env_num("BENCH_MESSAGE_RATE", 20_000, low=0) if TUN else None
HOLD = env_num("BENCH_HOLD", math.ceil(1.15 * N / MESSAGE_RATE) if MESSAGE_RATE else 30.0, float, low=0)
PING = env_num("BENCH_PING", 30.0, float, low=0.001)
RUN_FLOOR = os.environ.get("BENCH_FLOOR", "1") != "0"
OTHER_SERVER = os.environ.get("BENCH_SERVER")
EHASH = (ehash_entries_for(N) if os.environ.get("BENCH_EHASH", "auto") == "auto"
         else env_num("BENCH_EHASH", 0, low=0))
OUT = os.path.join(ROOT, os.environ.get("BENCH_OUT", "bench/results"))
FLOOR_SRC = os.path.join(ROOT, os.environ.get("FLOOR_SRC", "../shared/floor"))
# BENCH_PAGE: what reads the server's dashboard while the bench runs: `poll` (scripts/pagepoll.py,
# as an open page does, ten times a second), `browser` (headless chromium with the page at
# ?every=100, scripts/browse.py), or nothing (the default: the page is served, read by whoever
# opens the URL the bench prints).
PAGE = os.environ.get("BENCH_PAGE", "")
# BENCH_DASHBOARD=0: no --dashboard and --report on either binary (to time the binaries alone,
# or binaries older than the pages).
DASHBOARD = os.environ.get("BENCH_DASHBOARD", "1") != "0"
# BENCH_SHOT=FILE.png: a screenshot of the server's dashboard 5 s after it holds all N (headless
# chromium, scripts/browse.py), for the pages that show a run of this size. Its browser starts
# with the ramp, so take pictures in a run of their own, not in one whose timings you keep.
SHOT = os.environ.get("BENCH_SHOT")
procs = []          # everything started, killed on any exit
restore = []        # (path, old value) of global sysctls changed


def in_ns(cmd):
    """`cmd` run inside the TUN bench's namespace (as it is, without one)."""
    return NETNS.exec_cmd(cmd) if NETNS else cmd


def sockstat_inuse():
    """TCP sockets in use, IPv4 and IPv6 together (IPv4 only in the bench's namespace, if it has
    one: its server and clients use IPv4)."""
    if NETNS:
        return NETNS.sockstat()["tcp_inuse"]
    st = fact("sockstat")
    return st["tcp_inuse"] + st["tcp6_inuse"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(cmd, name, stderr_path):
    log(f"$ {' '.join(shlex.quote(c) for c in cmd)}")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(stderr_path, "w"),
                         start_new_session=True)
    procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=60):
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig) if sig == signal.SIGKILL else p.send_signal(sig)
        except ProcessLookupError:
            pass
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)


def is_client(p):
    args = p.args if isinstance(p.args, (list, tuple)) else [p.args]
    return any(os.path.basename(str(a)) in ("c10m-client", "floor-cli") for a in args)


def cleanup(*_):
    """Clients first, with SIGINT, so that they close their connections themselves: a TUN
    client resets every one. Killed first, it would leave the servers' sockets to be closed by
    the servers' deaths, each a FIN retransmitted for minutes into a device that is gone (an
    orphan holding its memory). Then whatever is left, with SIGKILL."""
    global NETNS
    live = [p for p in procs if p.poll() is None]
    for p in live:
        if is_client(p):
            try:
                os.killpg(p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
    deadline = time.time() + 60
    while time.time() < deadline and any(p.poll() is None for p in live if is_client(p)):
        time.sleep(0.2)
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for path, old in reversed(restore):
        try:
            with open(path, "w") as f:
                f.write(old)
            log(f"restored {path} = {old.strip()}")
        except OSError as e:
            log(f"could not restore {path} to {old.strip()}: {e}")
    restore.clear()
    if NETNS:
        NETNS.delete()
        log(f"deleted network namespace {NETNS.name}")
        NETNS = None


def ensure_file_max(needed):
    path = "/proc/sys/fs/file-max"
    cur = int(read(path))
    if cur >= needed:
        return
    log(f"fs.file-max {cur} < {needed} needed: raising it for the run (restored at exit)")
    restore.append((path, read(path)))
    with open(path, "w") as f:
        f.write(str(needed))


def settle(timeout=90):
    """Waits until the previous run's sockets are gone: closing a million connections leaves the
    kernel FIN/TIME_WAIT work (up to tcp_max_tw_buckets TIME_WAIT sockets for 60 s, orphans,
    deferred frees) that would otherwise slow whichever run comes next."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        st = NETNS.sockstat() if NETNS else fact("sockstat")
        if st["tcp_tw"] == 0 and st["tcp_orphan"] == 0 and st["tcp_inuse"] < 1000:
            break
        time.sleep(1.0)
    log(f"settled after {time.time() - t0:.0f} s (TIME_WAIT, orphans and sockets of the previous run gone)")
    time.sleep(2.0)


def run_c10m(work):
    port = free_port()
    base_slab, base_caches, base_inuse = meminfo_slab(), slabinfo(), sockstat_inuse()
    reader, server_url = None, None
    if OTHER_SERVER:
        server = start(shlex.split(OTHER_SERVER.format(port=port)), "server", f"{work}/server.err")
        server_out = Lines(server, "server")
        time.sleep(1.0)
        server_pid_for_rss = server.pid
        server_rss0 = tree_rss(server.pid)
    else:
        server = start(in_ns([f"{BIN}/c10m-server", "--listen", f"{HOST}:{port}", "--workers", "auto",
                              "--max-conns", str(N), "--json"] + pages(f"{work}/report.html")),
                       "server", f"{work}/server.err")
        server_out = Lines(server, "server")
        if not server_out.wait_for("listening on", 30):
            raise SystemExit("c10m-server did not start: " + read(f"{work}/server.err")[-2000:])
        server_pid_for_rss, server_rss0 = None, 0
        if DASHBOARD:
            server_url = dashboard_url(f"{work}/server.err", "the server's")
            reader = page_reader(server_url)
            if server_url and SHOT:
                shot(server_url)
    client = start(in_ns([f"{BIN}/c10m-client", "--target", f"{HOST}:{port}", "-n", str(N),
                          "--hold", str(HOLD)] + ping_args() + ["--json"]
                         + pages(f"{work}/report-client.html") + tun_args()),
                   "client", f"{work}/client.err")
    client_out = Lines(client, "client")
    if DASHBOARD:
        dashboard_url(f"{work}/client.err", "the client's")
    cpu_window, ramp_cpu, hold_cpu, hold_t0 = CpuWindow().start(), None, None, 0.0
    t0, rows, peak_kernel = time.time(), [], None
    last_est, last_t = 0, t0
    deadline = t0 + 600 + HOLD
    while client.poll() is None and time.time() < deadline:
        time.sleep(1.0)
        now = time.time()
        ct, st = client_out.last.get("tick", {}), server_out.last.get("tick", {})
        est = ct.get("established", 0)
        slab = meminfo_slab()
        rows.append({
            "t_s": round(now - t0, 2),
            "client_established": est,
            "client_open": ct.get("open", 0),
            "server_connections": st.get("connections", ""),
            "connect_rate_per_s": round((est - last_est) / max(now - last_t, 1e-9)),
            "client_rss_bytes": ct.get("rss_bytes", 0),
            "server_rss_bytes": st.get("rss_bytes", tree_rss(server_pid_for_rss) if server_pid_for_rss else 0),
            "kernel_slab_bytes": slab,
            "tcp_inuse": sockstat_inuse(),
        })
        last_est, last_t = est, now
        if ramp_cpu is None and est >= N:
            ramp_cpu = ramp_cpu_record(cpu_window, [server.pid], [client.pid])
            hold_window, hold_t0 = CpuWindow().start(), now
        elif ramp_cpu is not None and hold_cpu is None and now - hold_t0 >= max(HOLD - 1.5, 0.5):
            # Stops short of the hold's end: the client's teardown must not count.
            hold_cpu = hold_window.stop()
            log(f"hold CPU: {hold_cpu['cpu_busy_s']} s busy of {hold_cpu['cpu_available_s']} s; "
                f"other processes {hold_cpu['cpu_others_s']} s ({top_others(hold_cpu)})")
        if peak_kernel is None and est >= N:
            peak_kernel = (slab, slabinfo(), sockstat_inuse(),
                           tree_rss(server_pid_for_rss) if server_pid_for_rss else 0)
    if client.poll() is None:
        log("client did not finish in time: stopping it")
        stop(client)
    client.wait()
    client_out.thread.join(5)
    if reader:
        # SIGTERM: the browser and its driver go with it, and its profile folder.
        stop(reader, signal.SIGTERM, 30)
    stop(server)
    server_out.thread.join(5)
    csum = client_out.last.get("summary", {})
    ssum = server_out.last.get("summary", {})
    if peak_kernel is None:
        peak_kernel = (meminfo_slab(), slabinfo(), sockstat_inuse(), 0)
    slab, caches, inuse, server_rss_peak = peak_kernel
    moved = {}
    for name, b in caches.items():
        d = b - base_caches.get(name, 0)
        if name in KERNEL_CACHES or name.startswith("kmalloc") or abs(d) > 8 * 1024 * 1024:
            if abs(d) >= 1024 * 1024:
                moved[name] = round(d / max(N, 1), 1)
    ticks = [json.loads(l) for l in server_out.lines if l.startswith('{"type":"tick"')]
    gaps = [round(b["elapsed_s"] - a["elapsed_s"], 3) for a, b in zip(ticks, ticks[1:])]
    established = csum.get("established", 0)
    server_bpc = ssum.get("rss_bytes_per_conn_at_peak")
    if OTHER_SERVER and established:
        server_bpc = round((server_rss_peak - server_rss0) / established, 1)
    return {
        "server": OTHER_SERVER or "c10m-server",
        "connections": csum.get("peak_open", 0),
        "requested": N,
        "failures": sum(csum.get("failed", {}).values()),
        "failed": csum.get("failed", {}),
        "ramp_s": csum.get("elapsed_to_all_s"),
        "connect_rate_per_s": csum.get("connect_rate_per_s"),
        "hold_s": csum.get("held_s"),
        "pings_ok": csum.get("pings_ok", 0),
        "pings_sent": csum.get("pings_sent", 0),
        "pings_unanswered": csum.get("pings_unanswered", 0),
        "connections_pinged": csum.get("connections_pinged", 0),
        "pinged_fraction": round(csum.get("connections_pinged", 0) / max(csum.get("peak_open", 0), 1), 4),
        "echo_mismatches": csum.get("echo_mismatches", 0),
        "rtt_p50_us": csum.get("rtt_p50_us"),
        "rtt_p99_us": csum.get("rtt_p99_us"),
        "server_user_bytes_per_conn": server_bpc,
        "client_user_bytes_per_conn": csum.get("rss_bytes_per_conn"),
        "kernel_bytes_per_pair": round((slab - base_slab) / max(N, 1), 1),
        "kernel_bytes_per_pair_by_cache": moved,
        "tcp_inuse_rise": inuse - base_inuse,
        "workers": ssum.get("workers"),
        "worker_restarts": ssum.get("worker_restarts"),
        "client_processes": (client_out.last.get("plan") or {}).get("processes"),
        "ramp_cpu": ramp_cpu,
        "hold_cpu": hold_cpu,
        "server_tick_gap_max_s": max(gaps) if gaps else None,
        "server_ticks": len(ticks),
        "client_exit": client.returncode,
        "server_exit": server.returncode,
    }, rows


def dashboard_url(stderr_path, whose, timeout=10.0):
    """The dashboard URL a binary names on stderr, said (with how to reach it from the host when
    it serves inside the TUN bench's namespace); None if it names none in time."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            for line in read(stderr_path).splitlines():
                if "dashboard at " in line:
                    url = line.split("dashboard at ", 1)[1].strip()
                    where = (f" (inside namespace {NETNS.name}: ip netns exec {NETNS.name} "
                             f"scripts/browse.py {url} --shot shot.png)") if NETNS else ""
                    log(f"dashboard of {whose}: {url}{where}")
                    return url
        except OSError:
            pass
        time.sleep(0.1)
    return None


def shot(url):
    """BENCH_SHOT: the server's page 5 s after it shows all N held, as a PNG (a process of its
    own). The browser starts with the ramp and waits on the page, so that its own start, slow on
    a machine the ramp keeps busy, does not push the picture past the hold."""
    here = os.path.dirname(os.path.abspath(__file__))
    held = "document.querySelector('#headline [data-key=connections] .v')"
    cmd = ["python3", f"{here}/browse.py", url, "--shot", os.path.abspath(SHOT), "--after", "5",
           "--until", f"({held} || {{textContent: ''}}).textContent.replace(/,/g, '') === '{N}'",
           "--timeout", str(900 + HOLD)]
    log(f"screenshot of the server's dashboard 5 s after it holds {N:,}: {SHOT}")
    procs.append(subprocess.Popen(in_ns(cmd), stdout=subprocess.DEVNULL, start_new_session=True))


def page_reader(url):
    """What BENCH_PAGE asks to read the server's page while the bench runs (killed with it)."""
    if not url or not PAGE:
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    if PAGE == "poll":
        cmd = ["python3", f"{here}/pagepoll.py", url, "--every", "0.1", "--duration", "100000"]
    elif PAGE == "browser":
        cmd = ["python3", f"{here}/browse.py", url, "--every", "100", "--settle", "100000"]
    else:
        raise SystemExit(f"BENCH_PAGE={PAGE}: say poll or browser")
    log(f"reading the server's page while the bench runs: {' '.join(cmd[1:4])} (BENCH_PAGE={PAGE})")
    p = subprocess.Popen(in_ns(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    procs.append(p)
    return p


def pages(report):
    """The dashboard on a free port and its report, unless BENCH_DASHBOARD=0."""
    return ["--dashboard", "127.0.0.1:0", "--report", report] if DASHBOARD else []


def ping_args():
    """How the client pings while it holds: every BENCH_PING s, or the TUN bench's total rate."""
    if MESSAGE_RATE:
        return ["--message-rate", str(MESSAGE_RATE)]
    return ["--ping-interval", str(PING)]


def tun_args():
    """What the client needs for the TUN engine."""
    return ["--engine", "tun", "--allow-remote", "--concurrency", "20000"] if TUN else []


def run_floor(work):
    """The kernel's floor: the same N through a minimal C epoll pair, same layout of processes."""
    if not (os.path.exists(f"{FLOOR_SRC}/srv.c") and shutil.which("gcc")):
        log(f"SKIPPED floor: {FLOOR_SRC}/srv.c or gcc missing")
        return None
    if TUN:
        return run_floor_tun(work)
    for name in ("srv", "cli"):
        subprocess.run(["gcc", "-O2", "-o", f"{work}/floor-{name}", f"{FLOOR_SRC}/{name}.c"], check=True)
    port = free_port()
    per = 18_000
    procs_n = max(1, math.ceil(N / per))
    servers = [start([f"{work}/floor-srv", str(port), "127.0.0.1", "1"], "floor-srv", f"{work}/fsrv{i}.err")
               for i in range(procs_n)]
    time.sleep(1.0)
    base = N // procs_n
    cpu_window, ramp_cpu = CpuWindow().start(), None
    inuse0, series, next_sample = sockstat_inuse(), [(0.0, 0)], 0.5
    t0 = time.time()
    clients = []
    for i in range(procs_n):
        n = base + (1 if i < N % procs_n else 0)
        src = f"127.{3 + i // 250}.{i % 250}.1"
        clients.append(start([f"{work}/floor-cli", "-n", str(n), "-p", str(port), "-s", src, "-S", "2"],
                             "floor-cli", f"{work}/fcli{i}.err"))
    outs = [Lines(c, "floor-cli") for c in clients]
    done_at = None
    while time.time() < t0 + 300:
        if time.time() - t0 >= next_sample:  # both ends' sockets: two per connection
            series.append((round(time.time() - t0, 2), max(0, (sockstat_inuse() - inuse0) // 2)))
            next_sample += 0.5
        if all(any(l.startswith("DONE") for l in o.lines) for o in outs):
            done_at = time.time()
            ramp_cpu = ramp_cpu_record(cpu_window, [s.pid for s in servers], [c.pid for c in clients])
            break
        if any(c.poll() is not None for c in clients):
            break
        time.sleep(0.05)
    for c in clients:
        stop(c, signal.SIGINT, 60)
    for s in servers:
        stop(s, signal.SIGINT, 60)
    if done_at:
        series.append((round(done_at - t0, 2), N))
    return {"processes_per_side": procs_n, "ramp_s": round(done_at - t0, 2) if done_at else None,
            "ramp_cpu": ramp_cpu, "ramp_series": series}


def run_floor_tun(work):
    """The floor of the TUN bench: the C epoll server's processes (SO_REUSEPORT) in the
    namespace, the same N opened by the same TUN client; the ramp only (the floor does not
    echo)."""
    subprocess.run(["gcc", "-O2", "-o", f"{work}/floor-srv", f"{FLOOR_SRC}/srv.c"], check=True)
    port = free_port()
    procs_n = max(1, math.ceil(N / 18_000))
    servers = [start(in_ns([f"{work}/floor-srv", str(port), HOST, "1", "19900"]), "floor-srv",
                     f"{work}/fsrv{i}.err") for i in range(procs_n)]
    time.sleep(1.0)
    cpu_window = CpuWindow().start()
    client = start(in_ns([f"{BIN}/c10m-client", "--target", f"{HOST}:{port}", "-n", str(N),
                          "--hold", "1", "--json"] + tun_args()), "client", f"{work}/fclient.err")
    out = Lines(client, "client")
    ramp_cpu, series = None, []
    deadline = time.time() + 600
    while client.poll() is None and time.time() < deadline:
        tick = out.last.get("tick", {})
        if tick and (not series or tick["elapsed_s"] > series[-1][0]):
            series.append((tick["elapsed_s"], tick["established"]))
        if ramp_cpu is None and out.last.get("tick", {}).get("established", 0) >= N:
            ramp_cpu = ramp_cpu_record(cpu_window, [s.pid for s in servers], [client.pid])
        time.sleep(0.2)
    stop(client, signal.SIGINT, 60)
    out.thread.join(5)
    for s in servers:
        stop(s, signal.SIGINT, 60)
    csum = out.last.get("summary", {})
    return {"processes_per_side": procs_n, "ramp_s": csum.get("elapsed_to_all_s"),
            "established": csum.get("established"), "ramp_cpu": ramp_cpu, "ramp_series": series}


def tun_fits():
    """Refuses, before anything starts, an N this machine's memory cannot hold at the cost per
    connection the TUN bench measured, with the N that would fit."""
    m = fact("meminfo")
    total = m["mem_total"]
    # As the client's guard counts it: reclaimable slab is not free for sockets, which pin theirs.
    available = m["mem_available"] - m["sreclaimable"]
    guard = max(1 << 30, total // 20)
    room = available - guard
    fits = max(room // TUN_BYTES_PER_CONN, 0)
    if N > fits:
        raise SystemExit(
            f"bench: {N:,} connections need ~{N * TUN_BYTES_PER_CONN / 2**30:.1f} GiB "
            f"({TUN_BYTES_PER_CONN:,} B each) and MemAvailable leaves {room / 2**30:.1f} GiB above "
            f"the client's memory guard: at most {fits:,} fit here; run BENCH_CONNS={fits // 100_000 * 100_000}")
    log(f"memory: {N:,} x {TUN_BYTES_PER_CONN:,} B = {N * TUN_BYTES_PER_CONN / 2**30:.1f} GiB of "
        f"{room / 2**30:.1f} GiB available above the guard")


def top_others(rec):
    return ", ".join(f"{o['process']} {o['cpu_s']} s" for o in rec["others_top"]) or "none"


def ramp_cpu_record(window, server_pids, client_pids):
    """CPU of the ramp just finished: the servers', the clients', the rest of the run's (kernel
    threads doing its softirq work), and other processes' on the machine."""
    rec = window.stop()
    rec["server_cpu_s"] = tree_cpu_s(server_pids)
    rec["client_cpu_s"] = tree_cpu_s(client_pids)
    others = top_others(rec)
    log(f"ramp CPU: {rec['cpu_busy_s']} s busy of {rec['cpu_available_s']} s; servers {rec['server_cpu_s']} s, "
        f"clients {rec['client_cpu_s']} s, other processes {rec['cpu_others_s']} s ({others})")
    return rec


def svg_plot(rows, path):
    if not rows:
        return
    w, h, ml, mr, mt, mb = 760, 360, 70, 70, 30, 40
    tmax = max(r["t_s"] for r in rows) or 1
    cmax = max(max(r["client_established"] for r in rows), 1)
    mmax = max(max(r["kernel_slab_bytes"] + r["client_rss_bytes"] + (r["server_rss_bytes"] or 0) for r in rows), 1)

    def xy(t, v, vmax):
        return ml + (w - ml - mr) * t / tmax, h - mb - (h - mt - mb) * v / vmax

    def line(key, vmax, color, f=lambda r, k: r[k]):
        pts = " ".join("%.1f,%.1f" % xy(r["t_s"], f(r, key) or 0, vmax) for r in rows)
        return f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>'

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{ml}" y="18">c10m bench: {N:,} connections; connections (blue, left) and kernel slab (red, right)</text>',
             f'<line x1="{ml}" y1="{h-mb}" x2="{w-mr}" y2="{h-mb}" stroke="black"/>',
             f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{h-mb}" stroke="black"/>',
             f'<line x1="{w-mr}" y1="{mt}" x2="{w-mr}" y2="{h-mb}" stroke="black"/>',
             line("client_established", cmax, "#1f77b4"),
             line("kernel_slab_bytes", mmax, "#d62728"),
             line("client_rss_bytes", mmax, "#2ca02c", lambda r, k: r[k] + (r["server_rss_bytes"] or 0))]
    for i in range(5):
        frac = i / 4
        y = h - mb - (h - mt - mb) * frac
        parts.append(f'<text x="{ml-6}" y="{y+4:.0f}" text-anchor="end">{cmax*frac/1000:.0f}k</text>')
        parts.append(f'<text x="{w-mr+6}" y="{y+4:.0f}">{mmax*frac/2**30:.1f} GiB</text>')
        x = ml + (w - ml - mr) * frac
        parts.append(f'<text x="{x:.0f}" y="{h-mb+16}" text-anchor="middle">{tmax*frac:.0f} s</text>')
    parts.append(f'<text x="{w-mr-4}" y="{mt+14}" text-anchor="end" fill="#2ca02c">user RSS, both ends (green)</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def prepare():
    """The machine made ready for N connections (undone by cleanup()): the TUN bench's namespace,
    checked first against the memory; fs.file-max for the descriptors."""
    global NETNS
    if TUN:
        tun_fits()
        NETNS = Netns("bench", addrs=[HOST], sysctls={"net.core.somaxconn": 65535}, ehash=EHASH)
        log(f"namespace {NETNS.name}: established-hash table of "
            + (f"{EHASH:,} buckets of its own" if EHASH else
               f"the host's, {int(read('/proc/sys/net/ipv4/tcp_ehash_entries')):,} buckets")
            + f" for {N:,} connections")
    # Loopback: both ends' descriptors; TUN: the server's alone.
    ensure_file_max((1 if TUN else 2) * N + 100_000)


def main():
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: (cleanup(), sys.exit(130)))
    if not all(os.path.exists(p) for p in (f"{BIN}/c10m-client", KERNEL)):
        raise SystemExit("build first: make build")
    work = tempfile.mkdtemp(prefix="c10m-bench-")
    try:
        prepare()
        pings = f"{MESSAGE_RATE:,} pings/s in all" if MESSAGE_RATE else f"ping every {PING:g} s"
        log(f"bench: {N:,} connections, hold {HOLD:g} s, {pings}; machine: {machine()}")
        # The floor runs before and after: the first run on a machine pays for growing the
        # kernel's slab caches, so one order alone would favour whoever goes second.
        use_floor = RUN_FLOOR and not OTHER_SERVER
        floor_before = run_floor(work) if use_floor else None
        if floor_before:
            settle()
        summary, rows = run_c10m(work)
        if use_floor:
            settle()
        floor_after = run_floor(work) if use_floor else None
        floors = [f["ramp_s"] for f in (floor_before, floor_after) if f and f.get("ramp_s")]
        floor = None
        if floors:
            floor = {"processes_per_side": (floor_before or floor_after)["processes_per_side"],
                     "ramp_s_before": floor_before and floor_before.get("ramp_s"),
                     "ramp_s_after": floor_after and floor_after.get("ramp_s"),
                     "ramp_s": round(sum(floors) / len(floors), 2),
                     "ramp_cpu_before": floor_before and floor_before.get("ramp_cpu"),
                     "ramp_cpu_after": floor_after and floor_after.get("ramp_cpu"),
                     "ramp_series_before": floor_before and floor_before.get("ramp_series"),
                     "ramp_series_after": floor_after and floor_after.get("ramp_series")}
        summary["floor"] = floor
        if floor and summary.get("ramp_s"):
            summary["ramp_ratio_c10m_over_floor"] = round(summary["ramp_s"] / floor["ramp_s"], 2)
        # Wall time on a shared machine moves with whatever else runs; the CPU the run itself
        # spent (servers, clients, the kernel threads doing their softirq work) does not.
        floor_cpu = [f["ramp_cpu"]["cpu_run_s"] for f in (floor_before, floor_after)
                     if f and f.get("ramp_cpu")]
        if floor_cpu and summary.get("ramp_cpu"):
            summary["ramp_cpu_ratio_c10m_over_floor"] = round(
                summary["ramp_cpu"]["cpu_run_s"] / (sum(floor_cpu) / len(floor_cpu)), 3)
        summary["machine"] = machine()
        summary["engine"] = ENGINE
        if NETNS:
            summary["ehash_entries"] = abs(int(NETNS.get("net.ipv4.tcp_ehash_entries")))
        extra = "".join(f"{k}={os.environ[k]} " for k in ("BENCH_HOLD", "BENCH_PING", "BENCH_MESSAGE_RATE", "BENCH_FLOOR", "BENCH_PAGE", "BENCH_DASHBOARD", "BENCH_SHOT")
                        if os.environ.get(k))
        summary["command"] = f"BENCH_CONNS={N} {extra}make bench" + ("-tun" if TUN else "")
        summary["date"] = datetime.datetime.now().isoformat(timespec="seconds")
    finally:
        cleanup()
        reports = {}
        for name in ("report.html", "report-client.html"):
            try:
                with open(f"{work}/{name}", "rb") as f:
                    reports[name] = f.read()
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)

    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    dated = os.path.join(OUT, stamp)
    os.makedirs(dated, exist_ok=True)
    for name, html in reports.items():
        with open(f"{dated}/{name}", "wb") as f:
            f.write(html)
    with open(f"{dated}/summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    with open(f"{dated}/timeseries.csv", "w") as f:
        keys = list(rows[0].keys()) if rows else []
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join(str(r[k]) for k in keys) + "\n")
    if not plots.bench_plot(summary, rows, f"{dated}/plot"):
        svg_plot(rows, f"{dated}/plot.svg")
    md = ["| measure | value |", "|---|---|"]
    for k in ("connections", "failures", "ramp_s", "connect_rate_per_s", "hold_s", "pings_sent",
              "pings_ok", "pings_unanswered", "connections_pinged", "pinged_fraction", "echo_mismatches", "rtt_p50_us", "rtt_p99_us", "server_user_bytes_per_conn",
              "client_user_bytes_per_conn", "kernel_bytes_per_pair", "workers", "client_processes",
              "server_tick_gap_max_s", "ramp_ratio_c10m_over_floor"):
        md.append(f"| {k} | {summary.get(k)} |")
    if summary.get("floor"):
        fl = summary["floor"]
        md.append(f"| floor ramp_s (C epoll pair, {fl['processes_per_side']} processes per side; mean of before {fl['ramp_s_before']} and after {fl['ramp_s_after']}) | {fl['ramp_s']} |")
    rc = summary.get("ramp_cpu")
    if rc:
        others = top_others(rc)
        md.append(f"| ramp CPU: busy / available (2 x wall) | {rc['cpu_busy_s']} s / {rc['cpu_available_s']} s |")
        md.append(f"| ramp CPU: c10m servers / clients / whole run (with kernel threads) | "
                  f"{rc['server_cpu_s']} s / {rc['client_cpu_s']} s / {rc['cpu_run_s']} s |")
        md.append(f"| ramp CPU taken by other processes | {rc['cpu_others_s']} s ({others}) |")
    hc = summary.get("hold_cpu")
    if hc:
        md.append(f"| hold CPU: busy / available; taken by other processes | {hc['cpu_busy_s']} s / "
                  f"{hc['cpu_available_s']} s; {hc['cpu_others_s']} s ({top_others(hc)}) |")
    for key, label in (("ramp_cpu_before", "before"), ("ramp_cpu_after", "after")):
        fc = (summary.get("floor") or {}).get(key)
        if fc:
            md.append(f"| floor ramp CPU ({label}): servers / clients / whole run / other processes | "
                      f"{fc['server_cpu_s']} s / {fc['client_cpu_s']} s / {fc['cpu_run_s']} s / {fc['cpu_others_s']} s |")
    if summary.get("ramp_cpu_ratio_c10m_over_floor"):
        md.append(f"| ramp_cpu_ratio_c10m_over_floor (CPU of the run itself) | {summary['ramp_cpu_ratio_c10m_over_floor']} |")
    # With the TUN engine only the server's socket is in the kernel: "per pair" is per connection.
    per = "per connection (server socket only)" if TUN else "per pair"
    for k, v in sorted(summary["kernel_bytes_per_pair_by_cache"].items(), key=lambda kv: -kv[1]):
        md.append(f"| kernel bytes {per} in slab cache `{k}` | {v} |")
    md.append("")
    md.append(f"Machine: {summary['machine']}. Command: `{summary['command']}`. Date: {summary['date']}.")
    with open(f"{dated}/summary.md", "w") as f:
        f.write("\n".join(md) + "\n")
    latest = os.path.join(OUT, "latest")
    shutil.rmtree(latest, ignore_errors=True)
    shutil.copytree(dated, latest)
    print("\n".join(md))
    print(f"\nwritten: {latest}/ (and {dated}/)")
    ok = (summary["connections"] >= N and summary["failures"] == 0 and summary["echo_mismatches"] == 0
          and summary["client_exit"] == 0)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
