#!/usr/bin/env python3
"""make bench-echo: traffic through N held connections, c10m-server against the floor's echo
server, from a light load to the knee.

For each N of BENCH_ECHO_SIZES it opens N connections to one port and holds them while the client
offers pings at a rate that grows by BENCH_ECHO_FACTOR (1.41, so it doubles every two steps)
each step (`c10m-client --message-rate R1,R2,... --step S`, 64-byte pings spread evenly over the
connections, every echo checked byte for byte). A step whose echoes come back at under 95% of the
offered rate, or with a p99 past 10 ms, is past the knee and ends the sweep. Then the floor's
echo server (../shared/floor/echo.c: the floor's accept loop plus writing back what it reads)
takes the same client, the same N and the same steps. The two take turns, BENCH_ECHO_ROUNDS
times each, in the same run, so that a slow minute of the machine does not fall on one server;
c10m goes first in odd rounds and the floor in even ones.

N up to one process's descriptors (19,000 on a 20,000 limit) uses one process on each side over
loopback; larger N uses the TUN client (no kernel socket on its side) in a throwaway network
namespace, the server on 198.18.0.1 with as many workers (c10m-server --workers auto) or floor
processes (SO_REUSEPORT) as the descriptors need.

Every process goes where the scheduler puts it. A socket's wake-up (sock_def_readable) is a
*sync* wake-up, the hint that the waker is about to sleep, so the scheduler likes to put the
woken task on the waker's CPU: the client and the workers pull one another onto one CPU and the
load balancer pushes them apart, every second or two (`make sched-timeline` shows it).
BENCH_ECHO_PIN=client keeps the client to one CPU (the highest this script may use) and leaves
the servers free; BENCH_ECHO_PIN=apart also keeps the servers to the other CPUs, the usual
arrangement for a load generator. On a virtual machine every ping and echo then wakes a task on
the other CPU through the hypervisor, and the p99 at every rate is worse for both servers
(docs/traffic.md compares the three).

Each step reports the messages a second delivered, p50/p99/p99.9 of the round trip, and CPU per
message: the servers' and the client's user and system seconds (from /proc, c10m-kernel) over the
step, and the whole machine's busy time (/proc/stat), each divided by the echoes that came back
in it; and the kernel's memory at its end (slab growth since before the ramp, and TCP's buffer
pages, sockstat `mem`), against the idle hold's. The first step of each sweep is a warm-up whose
end starts the measurement. Each figure of the summary is the median over the rounds; it names
the knee (the highest offered rate delivered at 95% or more with p99 at most 1 ms, and at most
10 ms) and the ratios c10m / floor.

Writes bench/results/echo/: summary.json (every round's steps too), summary.md, steps.csv (one
row per round and step), plot.png (p99 and p50 against the offered rate, both servers, one panel
per N), and a dated copy.

Environment:
  BENCH_ECHO_SIZES=19000,200000,1000000  BENCH_ECHO_ROUNDS=3  BENCH_ECHO_START=10000 (the
  first measured rate)  BENCH_ECHO_FACTOR=1.41  BENCH_ECHO_MAX=10240000  BENCH_ECHO_STEP=5
  (seconds a rate lasts)  BENCH_ECHO_PAYLOAD=64  BENCH_ECHO_PIN=none|client|apart (none)
  C10M_BIN=target/release  FLOOR_SRC=../shared/floor  BENCH_OUT=bench/results
Exit status: 0 every run held its N and echoed intact, 1 otherwise. Timings are reported, never
judged. fs.file-max is raised for the run if needed and restored on every exit path. After each
run in a namespace the next waits (60 s at most) until the kernel has freed the deleted
namespace's sockets: `ip netns del` returns at once and the kernel frees them afterwards, on a
CPU the next run needs.
"""
import csv
import dataclasses
import datetime
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import bench
import plots
from lab.netns import Netns, ehash_entries_for
from procutil import TICK, Lines, env_num, env_nums, fact, kernel, log, machine, meminfo_slab, tree_rss

SIZES = env_nums("BENCH_ECHO_SIZES", "19000,200000,1000000", low=1)
START = env_num("BENCH_ECHO_START", 10000, low=1)
MAX = env_num("BENCH_ECHO_MAX", 10240000, low=1)
STEP = env_num("BENCH_ECHO_STEP", 5.0, float, low=1)
PAYLOAD = env_num("BENCH_ECHO_PAYLOAD", 64, low=1)
FACTOR = env_num("BENCH_ECHO_FACTOR", math.sqrt(2), float, low=1.05)
ROUNDS = env_num("BENCH_ECHO_ROUNDS", 3, low=1)
ONE_PROCESS = 19_500
PER_FLOOR_PROCESS = 18_000
TUN_ARGS = ["--engine", "tun", "--allow-remote", "--concurrency", "20000"]
DELIVERED_SHARE, P99_KNEE_US, P99_SHARP_US = 0.95, 10_000, 1_000
PAGE = os.sysconf("SC_PAGE_SIZE")
SLAB_SETTLED = 16 << 20  # slab bytes a second under which the freeing is done


# BENCH_ECHO_PIN: every process free; the client kept to one CPU; the servers to the others too.
ARRANGEMENTS = ("none", "client", "apart")


def arrangement(text, allowed, have_taskset):
    """(client CPU, server CPUs) for BENCH_ECHO_PIN=`text` (None: free): the client gets the
    highest CPU this process may use. SystemExit(2) on a name not in ARRANGEMENTS, and for
    `client` or `apart` on a machine with one CPU or without taskset."""
    name = (text or "none").strip().lower()
    if name not in ARRANGEMENTS:
        log(f"bench-echo.py: BENCH_ECHO_PIN={text!r}: expected one of {', '.join(ARRANGEMENTS)}")
        raise SystemExit(2)
    if name == "none":
        return None, None
    if len(allowed) < 2 or not have_taskset:
        log(f"bench-echo.py: BENCH_ECHO_PIN={name} needs two CPUs or more and taskset (util-linux)")
        raise SystemExit(2)
    client = max(allowed)
    return client, (others(client, allowed) if name == "apart" else None)


def others(cpu, allowed):
    """Every allowed CPU but `cpu`."""
    return sorted(set(allowed) - {cpu})


def pinned_to(cpus, cmd):
    """`cmd` under `taskset -c cpus` (a CPU or a list of them), or as it is for None."""
    if cpus is None:
        return cmd
    listed = ",".join(map(str, cpus)) if isinstance(cpus, (list, tuple)) else str(cpus)
    return ["taskset", "-c", listed] + cmd


CLIENT_CPU, SERVER_CPUS = arrangement(os.environ.get("BENCH_ECHO_PIN"), os.sched_getaffinity(0),
                                      shutil.which("taskset") is not None)


def rates():
    """The warm-up rate, then START times FACTOR each step (to two significant digits) up to MAX."""
    out, r = [max(START // 2, 1)], float(START)
    while int(float(f"{r:.2g}")) <= MAX:
        rate = int(float(f"{r:.2g}"))
        if rate > out[-1]:
            out.append(rate)
        r *= FACTOR
    return out


def past_knee(step):
    return (step["delivered_per_s"] < DELIVERED_SHARE * step["offered_per_s"]
            or (step.get("rtt_p99_us") or 0) > P99_KNEE_US)


def knee(steps, p99_us):
    """The highest rate delivered at 95% or more with p99 at most `p99_us` (0: none was)."""
    ok = [s["offered_per_s"] for s in steps
          if s["delivered_per_s"] >= DELIVERED_SHARE * s["offered_per_s"]
          and s.get("rtt_p99_us") is not None and s["rtt_p99_us"] <= p99_us]
    return max(ok) if ok else 0


def start_servers(kind, n, host, port, work, ns, cpus=None):
    """c10m-server (workers as the descriptors need), or the floor's echo processes, on `cpus`
    (None: wherever the scheduler puts them)."""
    def wrap(c):
        return pinned_to(cpus, ns.exec_cmd(c) if ns else c)
    if kind == "c10m":
        cmd = [f"{bench.BIN}/c10m-server", "--listen", f"{host}:{port}", "--json", "--quiet"]
        if n > ONE_PROCESS:
            cmd += ["--workers", "auto", "--max-conns", str(n)]
        s = bench.start(wrap(cmd), "server", f"{work}/server.err")
        if not Lines(s, "server").wait_for("listening on", 30):
            raise SystemExit("c10m-server did not start: " + open(f"{work}/server.err").read()[-2000:])
        return [s]
    exe = f"{work}/floor-echo"
    if not os.path.exists(exe):
        subprocess.run(["gcc", "-O2", "-o", exe, f"{bench.FLOOR_SRC}/echo.c"], check=True)
    count = 1 if n <= ONE_PROCESS else math.ceil(n / PER_FLOOR_PROCESS)
    servers = [bench.start(wrap([exe, str(port), host, "1", "19900"]), "floor-echo", f"{work}/echo{i}.err")
               for i in range(count)]
    outs = [Lines(s, "floor-echo") for s in servers]
    if not all(o.wait_for("LISTEN", 30) for o in outs):
        raise SystemExit("the floor's echo server did not start")
    return servers


@dataclasses.dataclass
class Plan:
    """What one sweep offers: the rates (the first a warm-up), how long each lasts, whether a
    step past the knee ends it, the CPU the client keeps to and those the servers keep to (None:
    free), and `on_step(i)`, called as step i (0: the first measured) begins."""
    rates: list = dataclasses.field(default_factory=lambda: rates())
    step_s: float = STEP
    to_knee: bool = True
    client_cpu: int = CLIENT_CPU
    server_cpus: list = dataclasses.field(default_factory=lambda: SERVER_CPUS)
    on_step: object = None


def sweep(kind, n, work, plan=None):
    """One server kind at one N: ramp, steps until the knee, teardown. The run's record."""
    plan = plan or Plan()
    tun = n > ONE_PROCESS
    host = "198.18.0.1" if tun else "127.0.0.1"
    ns = None
    if tun:
        ns = Netns("echo", addrs=[host], sysctls={"net.core.somaxconn": 65535}, ehash=ehash_entries_for(n))
        bench.NETNS = ns
    port = bench.free_port()
    slab0 = meminfo_slab()
    servers = start_servers(kind, n, host, port, work, ns, plan.server_cpus)
    hold = plan.step_s * len(plan.rates) + 2
    cmd = [f"{bench.BIN}/c10m-client", "--target", f"{host}:{port}", "-n", str(n), "--hold", str(hold),
           "--message-rate", ",".join(map(str, plan.rates)), "--step", str(plan.step_s),
           "--payload", str(PAYLOAD), "--json"] + (TUN_ARGS if tun else [])
    cmd = pinned_to(plan.client_cpu, ns.exec_cmd(cmd) if ns else cmd)
    client = bench.start(cmd, "client", f"{work}/client-{kind}.err")
    out = Lines(client, "client")
    pids = [s.pid for s in servers]
    steps, seen, last, idle = [], 0, None, {}
    deadline = time.time() + 900 + hold
    server_tree, client_tree = "tree-cpu=" + ",".join(map(str, pids)), f"tree-cpu={client.pid}"
    while client.poll() is None and time.time() < deadline:
        time.sleep(0.05)
        upto = len(out.lines)
        lines = [json.loads(l) for l in out.lines[seen:upto] if l.startswith('{"type":"step"')]
        seen = upto
        for st in lines:
            k = kernel("cpu-busy", server_tree, client_tree)
            now = {"t": time.time(), "server": k[server_tree], "client": k[client_tree],
                   "machine": k["cpu-busy"] / TICK}
            if last is not None:
                steps.append(step_record(st, last, now))
                tcp = ns.sockstat() if ns else fact("sockstat")
                steps[-1]["kernel_slab_bytes"] = meminfo_slab() - slab0
                steps[-1]["tcp_mem_bytes"] = tcp["tcp_mem_pages"] * PAGE
                log(f"{kind} n={n:,}: {fmt_step(steps[-1])}")
            else:
                tcp = ns.sockstat() if ns else fact("sockstat")
                idle = {"server_rss_bytes": tree_rss_all(pids), "kernel_slab_bytes": meminfo_slab() - slab0,
                        "tcp_mem_bytes": tcp["tcp_mem_pages"] * PAGE}
            last = now
            if plan.on_step:
                plan.on_step(len(steps))
            if plan.to_knee and steps and past_knee(steps[-1]):
                bench.stop(client, signal.SIGINT, 120)
                break
    if client.poll() is None:
        bench.stop(client, signal.SIGINT, 120)
    out.thread.join(10)
    for s in servers:
        bench.stop(s, signal.SIGINT, 60)
    summary = out.last.get("summary", {})
    bench.settle()
    if ns:
        ns.delete()
        bench.NETNS = None
        wait_for_slab_freed()
    return {
        "server": kind, "connections": n, "engine": "tun" if tun else "socket",
        "server_processes": len(servers) if kind == "floor" else None,
        "established": summary.get("established"), "echo_mismatches": summary.get("echo_mismatches"),
        "failed": summary.get("failed"), "ramp_s": summary.get("elapsed_to_all_s"),
        "warm_up": idle,
        "steps": steps,
        "knee_p99_1ms_per_s": knee(steps, P99_SHARP_US), "knee_p99_10ms_per_s": knee(steps, P99_KNEE_US),
        "ok": summary.get("established") == n and summary.get("echo_mismatches") == 0,
    }


def wait_for_slab_freed(timeout=60):
    """Waits until the kernel's slab stops shrinking (the deleted namespace's sockets freed), at
    most `timeout` seconds."""
    t0, before = time.time(), meminfo_slab()
    while time.time() - t0 < timeout:
        time.sleep(1.0)
        now = meminfo_slab()
        if before - now < SLAB_SETTLED:
            break
        before = now
    log(f"the namespace's kernel memory freed after {time.time() - t0:.0f} s")


def combine(runs):
    """The rounds of one server at one N as one record: at each offered rate, the median of every
    figure over the rounds that reached it (a round stops past its knee), and the median knees."""
    by_rate = {}
    for run in runs:
        for s in run["steps"]:
            by_rate.setdefault(s["offered_per_s"], []).append(s)
    steps = []
    for rate in sorted(by_rate):
        group = by_rate[rate]
        step = {key: round(statistics.median(s[key] for s in group), 3) if key != "offered_per_s" else rate
                for key in group[0] if all(isinstance(s.get(key), (int, float)) for s in group)}
        step["rounds"] = len(group)
        steps.append(step)
    first = runs[0]
    return {
        **{k: first[k] for k in ("server", "connections", "engine", "server_processes", "warm_up")},
        "established": min(r["established"] or 0 for r in runs),
        "echo_mismatches": sum(r["echo_mismatches"] or 0 for r in runs),
        "ramp_s": round(statistics.median(r["ramp_s"] or 0 for r in runs), 3),
        "steps": steps,
        "knee_p99_1ms_per_s": statistics.median_low(r["knee_p99_1ms_per_s"] for r in runs),
        "knee_p99_10ms_per_s": statistics.median_low(r["knee_p99_10ms_per_s"] for r in runs),
        "ok": all(r["ok"] for r in runs),
        "rounds": runs,
    }


def tree_rss_all(pids):
    return sum(tree_rss(p) for p in pids)


def step_record(st, before, after):
    """A step line of the client with the CPU the servers and the client used meanwhile."""
    echoed = max(st["echoed"], 1)

    def per_msg(who, kind):
        return round((after[who][kind] - before[who][kind]) * 1e6 / echoed, 3)

    return {
        "offered_per_s": st["offered_per_s"], "delivered_per_s": st["delivered_per_s"],
        "echoed": st["echoed"], "rtt_p50_us": st.get("rtt_p50_us"), "rtt_p99_us": st.get("rtt_p99_us"),
        "rtt_p999_us": st.get("rtt_p999_us"), "in_flight": st.get("in_flight"),
        "server_user_us_per_msg": per_msg("server", "user_s"),
        "server_system_us_per_msg": per_msg("server", "system_s"),
        "client_user_us_per_msg": per_msg("client", "user_s"),
        "client_system_us_per_msg": per_msg("client", "system_s"),
        "machine_us_per_msg": round((after["machine"] - before["machine"]) * 1e6 / echoed, 3),
        "window_s": round(after["t"] - before["t"], 3),
    }


def server_cpu(step):
    return step["server_user_us_per_msg"] + step["server_system_us_per_msg"]


def fmt_step(s):
    cpu = s["server_user_us_per_msg"] + s["server_system_us_per_msg"]
    return (f"{s['offered_per_s']:,}/s offered, {s['delivered_per_s']:,.0f}/s delivered, "
            f"p50/p99/p99.9 {s['rtt_p50_us']}/{s['rtt_p99_us']}/{s['rtt_p999_us']} us, "
            f"server {cpu:.2f} us CPU per message")


def compare(c10m, floor):
    """c10m / floor at one N (each combined over its rounds): CPU per message at the rates both
    delivered under the knee, the servers' own and the whole machine's, and the knees.

    Why the machine's too: the kernel charges the receive path of a packet (softirq) to whatever
    process is on the CPU when it runs, often the sender, or to ksoftirqd; a server's own CPU
    therefore moves with the scheduling of the moment. The machine's busy time counts every
    path once, and the client is the same program for both servers."""
    fl = {s["offered_per_s"]: s for s in floor["steps"] if not past_knee(s)}
    server, whole = [], []
    for s in c10m["steps"]:
        f = fl.get(s["offered_per_s"])
        if f and not past_knee(s):
            if server_cpu(f) > 0:
                server.append(round(server_cpu(s) / server_cpu(f), 3))
            if f.get("machine_us_per_msg"):
                whole.append(round(s["machine_us_per_msg"] / f["machine_us_per_msg"], 3))

    def ratio(key):
        a, b = c10m.get(key), floor.get(key)
        return round(a / b, 3) if a and b else None

    def median(values):
        return round(statistics.median(values), 3) if values else None

    return {"cpu_per_msg_ratios": server, "cpu_per_msg_ratio_median": median(server),
            "machine_cpu_per_msg_ratios": whole, "machine_cpu_per_msg_ratio_median": median(whole),
            "knee_p99_1ms_ratio": ratio("knee_p99_1ms_per_s"), "knee_p99_10ms_ratio": ratio("knee_p99_10ms_per_s")}


def markdown(result):
    rounds = result.get("rounds", 1)
    lines = [f"# make bench-echo", "", f"Machine: {result['machine']}. Command: `{result['command']}`. "
             f"Date: {result['date']}. Payload {PAYLOAD} B, {STEP:g} s per rate, {rounds} round(s) of each "
             "server, taken in turn; each figure is the median over the rounds that reached the rate. "
             + pinned(result.get("client_cpu"), result.get("server_cpus")), ""]
    for size in result["sizes"]:
        n = size["connections"]
        cmp_ = size["compare"]
        lines += [f"## {n:,} connections ({size['c10m']['engine']} client)", "",
                  "| server | offered/s | delivered/s | p50 us | p99 us | p99.9 us | server CPU us/msg (user+sys) "
                  "| client CPU us/msg | machine CPU us/msg | rounds |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for kind in ("c10m", "floor"):
            for s in size[kind]["steps"]:
                lines.append(f"| {kind} | {s['offered_per_s']:,} | {s['delivered_per_s']:,.0f} | {s['rtt_p50_us']:.0f} | "
                             f"{s['rtt_p99_us']:.0f} | {s['rtt_p999_us']:.0f} | "
                             f"{s['server_user_us_per_msg']:.2f}+{s['server_system_us_per_msg']:.2f} | "
                             f"{s['client_user_us_per_msg'] + s['client_system_us_per_msg']:.2f} | "
                             f"{s.get('machine_us_per_msg', 0):.2f} | {s.get('rounds', 1)} |")
        lines += ["", "| | c10m | floor | c10m / floor |", "|---|---|---|---|"]
        for key, label in (("knee_p99_1ms_per_s", "knee, p99 <= 1 ms (msgs/s), median of the rounds"),
                           ("knee_p99_10ms_per_s", "knee, p99 <= 10 ms (msgs/s), median of the rounds")):
            r = cmp_[key.replace("_per_s", "_ratio")]
            lines.append(f"| {label} | {size['c10m'][key]:,} | {size['floor'][key]:,} | {r} |")
        lines.append("| server CPU per message, median ratio at the rates both delivered | | | "
                     f"{cmp_['cpu_per_msg_ratio_median']} |")
        lines.append("| machine CPU per message, median ratio at the rates both delivered | | | "
                     f"{cmp_.get('machine_cpu_per_msg_ratio_median')} |")
        lines.append("")
    return "\n".join(lines)


def pinned(cpu, servers):
    if cpu is None:
        return "The client and the servers were free to move between CPUs."
    if not servers:
        return f"The client kept to CPU {cpu} (taskset), the servers were free."
    return f"The client kept to CPU {cpu} and the servers to CPU {','.join(map(str, servers))} (taskset)."


def write(result, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(markdown(result))
    with open(os.path.join(out_dir, "steps.csv"), "w", newline="") as f:
        rows = [dict(connections=size["connections"], server=kind, round=i + 1, **s)
                for size in result["sizes"] for kind in ("c10m", "floor")
                for i, run in enumerate(size[kind]["rounds"]) for s in run["steps"]]
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    plots.echo_plot(result, os.path.join(out_dir, "plot.png"))


def turn_order(i):
    """Who goes first in round i: c10m in even rounds, the floor in odd ones, so that whatever the
    machine still does after the previous N's teardown (slab freed late, /proc walkers catching
    up) does not always fall on the same server."""
    return ("c10m", "floor") if i % 2 == 0 else ("floor", "c10m")


def main():
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: (bench.cleanup(), sys.exit(130)))
    if not os.path.exists(f"{bench.BIN}/c10m-client"):
        raise SystemExit("build first: make build")
    work = tempfile.mkdtemp(prefix="c10m-bench-echo-")
    sizes, ok = [], True
    try:
        bench.ensure_file_max(2 * max(SIZES) + 100_000)
        log(f"bench-echo: {', '.join(f'{n:,}' for n in SIZES)} connections, {ROUNDS} round(s) each; "
            f"machine: {machine()}")
        for n in SIZES:
            runs = {"c10m": [], "floor": []}
            for i in range(ROUNDS):
                for kind in turn_order(i):
                    log(f"{kind} n={n:,}: round {i + 1} of {ROUNDS}")
                    runs[kind].append(sweep(kind, n, work))
            runs = {kind: combine(r) for kind, r in runs.items()}
            ok &= runs["c10m"]["ok"] and runs["floor"]["ok"]
            sizes.append({"connections": n, **runs, "compare": compare(runs["c10m"], runs["floor"])})
    finally:
        bench.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    now = datetime.datetime.now()
    result = {"sizes": sizes, "machine": machine(), "date": now.isoformat(timespec="seconds"),
              "command": "".join(f"{k}={v} " for k, v in sorted(os.environ.items())
                                 if k.startswith("BENCH_ECHO_") and v) + "make bench-echo",
              "payload_bytes": PAYLOAD, "step_s": STEP, "rounds": ROUNDS, "rate_factor": round(FACTOR, 4),
              "client_cpu": CLIENT_CPU, "server_cpus": SERVER_CPUS}
    out = os.path.join(bench.OUT, "echo")
    write(result, out)
    shutil.copytree(out, os.path.join(bench.OUT, f"echo-{now.strftime('%Y-%m-%dT%H%M%S')}"))
    print(markdown(result))
    log(f"written: {out}/")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
