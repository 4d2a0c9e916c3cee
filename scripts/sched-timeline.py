#!/usr/bin/env python3
"""make sched-timeline: who runs on which CPU while c10m-server echoes a steady rate: with every
process free, with the client kept to one CPU, and with the client on one CPU and the server on
the others.

Why: a socket's wake-up (sock_def_readable) is a *sync* wake-up, the waker's hint that it will
sleep soon, and the scheduler answers it by putting the woken task on the waker's CPU when that
CPU runs nothing else. The echo a worker writes wakes the client that way, and the ping the
client writes wakes a worker: the client and the workers pull one another onto one CPU. This
script shows what that does on the machine in three arrangements, the three of
`make bench-echo`'s BENCH_ECHO_PIN (none, client, apart).

For each of the three cases it holds SCHED_CONNS connections (200,000: the TUN client in a
throwaway namespace, c10m-server --workers auto, as bench-echo does), offers SCHED_RATE pings a
second (57,000, where bench-echo's knee at 200,000 is decided) in one-second steps, and records
`perf sched record -a` for SCHED_SECONDS (20) in the middle of the hold. `perf sched timehist` gives every stretch each task ran on each CPU;
the script adds them up per CPU in 100 ms bins: the client, the server's processes, anything
else, and idle.

From the bins it counts how often the client changed CPU, and the bins where the CPU the client
was on also ran most of the server's work while the other CPU sat idle for half the bin or more
(the two pulled together, one CPU left empty). The client's per-second p99 round trip over the
same steps comes from its step lines.

Writes bench/results/sched-timeline/: summary.json (the bins, the counts, the p99s), summary.md
and plot.png (one row per case: the share of each CPU's time per bin, stacked, and the p99).

Environment: SCHED_CONNS=200000  SCHED_RATE=57000  SCHED_SECONDS=20  BENCH_OUT=bench/results
Needs root, perf (make setup installs linux-perf) and two CPUs or more. Exit status: 0 every
case ran and held their connections, 1 otherwise, 2 on bad input.
"""
import datetime
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import bench
from procutil import env_num, log, machine

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("bench_echo", os.path.join(HERE, "bench-echo.py"))
echo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(echo)

BIN_S = 0.1
PERF_FROM_STEP = 2  # perf starts as this measured step begins, after two to settle
IDLE_SHARE = 0.5
LINE = re.compile(r"^\s*(\d+\.\d+)\s+\[(\d+)\]\s+(.+?)\s+(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+\.\d+)\s*$")
KINDS = ("client", "server", "other", "idle")


def parse_timehist(text):
    """`perf sched timehist` lines as (end time s, cpu, task, run ms): each a stretch the task ran
    on that CPU until the switch at `end time`. Headers and anything malformed are skipped."""
    rows = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            rows.append((float(m.group(1)), int(m.group(2)), m.group(3), float(m.group(6))))
    return rows


def kind_of(task):
    if task.startswith("<idle>"):
        return "idle"
    if task.startswith("c10m-client"):
        return "client"
    if task.startswith(("c10m-server", "floor-echo")):
        return "server"
    return "other"


def bins(rows, bin_s=BIN_S):
    """{cpu: [{kind: ms} per bin]} from timehist rows, each stretch split over the bins it spans;
    bin 0 starts where the earliest stretch starts."""
    if not rows:
        return {}
    t0 = min(end - run_ms / 1000 for end, _, _, run_ms in rows)
    last = int((max(end for end, _, _, _ in rows) - t0) / bin_s)
    out = {}
    for end, cpu, task, run_ms in rows:
        lane = out.setdefault(cpu, [dict.fromkeys(KINDS, 0.0) for _ in range(last + 1)])
        kind, start = kind_of(task), end - run_ms / 1000
        b, t = int((start - t0) / bin_s), start
        while t < end and b <= last:
            upto = min(end, t0 + (b + 1) * bin_s)
            lane[b][kind] += max(upto - t, 0.0) * 1000
            t, b = upto, b + 1
    return out


def counts(lanes):
    """How often the client changed CPU from one bin to the next (bins where it ran), and the bins
    where the client's CPU ran more of the server than the other CPU did while that other CPU was
    idle for at least IDLE_SHARE of the bin."""
    cpus = sorted(lanes)
    if len(cpus) < 2:
        return {"bins": 0, "client_moves": 0, "pulled_together": 0}
    n = min(len(lanes[c]) for c in cpus)
    moves, together, prev = 0, 0, None
    for b in range(n):
        by_client = max(cpus, key=lambda c: lanes[c][b]["client"])
        if lanes[by_client][b]["client"] <= 0:
            continue
        if prev is not None and by_client != prev:
            moves += 1
        prev = by_client
        others = [c for c in cpus if c != by_client]
        other_server = sum(lanes[c][b]["server"] for c in others)
        idle_other = max(lanes[c][b]["idle"] for c in others)
        if lanes[by_client][b]["server"] > other_server and idle_other >= IDLE_SHARE * BIN_S * 1000:
            together += 1
    return {"bins": n, "client_moves": moves, "pulled_together": together}


def record_case(name, cpu, servers, n, rate, seconds, work):
    """One case: a steady sweep of c10m-server with perf recording in the middle of it."""
    data = os.path.join(work, f"{name}.data")
    steps = PERF_FROM_STEP + seconds + 2
    perf = {}

    def on_step(i):
        if i == PERF_FROM_STEP and "proc" not in perf:
            cmd = ["perf", "sched", "record", "-a", "-o", data, "--", "sleep", str(seconds)]
            perf["proc"] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    plan = echo.Plan(rates=[rate // 2] + [rate] * steps, step_s=1.0, to_knee=False, client_cpu=cpu,
                     server_cpus=servers, on_step=on_step)
    log(f"{name}: {n:,} connections, {rate:,} pings/s, {where(cpu, servers)}")
    run = echo.sweep("c10m", n, work, plan)
    if "proc" not in perf:
        raise SystemExit(f"{name}: the hold ended before perf started")
    perf["proc"].wait(timeout=60)
    text = subprocess.run(["perf", "sched", "timehist", "-i", data], capture_output=True, text=True,
                          timeout=600).stdout
    lanes = bins(parse_timehist(text))
    p99 = [s["rtt_p99_us"] for s in run["steps"][PERF_FROM_STEP:PERF_FROM_STEP + seconds]]
    return {"case": name, "client_cpu": cpu, "server_cpus": servers, "ok": run["ok"],
            "established": run["established"], "p99_us_per_second": p99, **counts(lanes),
            "lanes": {str(c): [{k: round(v, 2) for k, v in b.items()} for b in lanes[c]]
                      for c in sorted(lanes)}}


def where(cpu, servers):
    if cpu is None:
        return "client free"
    return f"client on CPU {cpu}" + (f", server on CPU {','.join(map(str, servers))}" if servers else "")


def markdown(result):
    lines = ["# make sched-timeline", "",
             f"Machine: {result['machine']}. Command: `{result['command']}`. Date: {result['date']}. "
             f"{result['connections']:,} connections (TUN client), c10m-server, {result['rate']:,} pings/s, "
             f"`perf sched record -a` for {result['seconds']} s, {int(BIN_S * 1000)} ms bins.", "",
             "| where | bins | client moved to the other CPU | bins pulled together | p99 per second (us) |",
             "|---|---|---|---|---|"]
    for c in result["cases"]:
        lines.append(f"| {where(c['client_cpu'], c.get('server_cpus'))} | {c['bins']} | {c['client_moves']} | "
                     f"{c['pulled_together']} | " + ", ".join(f"{p:,}" for p in c["p99_us_per_second"]) + " |")
    return "\n".join(lines) + "\n"


def plot(result, path):
    import plots
    if plots.plt is None:
        return
    plt = plots.plt
    cases = result["cases"]
    cpus = sorted({c for case in cases for c in case["lanes"]}, key=int)
    fig, axes = plt.subplots(len(cases), len(cpus) + 1, figsize=(15, 3.2 * len(cases)), dpi=110,
                             squeeze=False, gridspec_kw={"width_ratios": [3] * len(cpus) + [2]})
    colors = {"client": "#1f77b4", "server": "#ff7f0e", "other": "#7f7f7f", "idle": "#eeeeee"}
    for row, case in zip(axes, cases):
        title = where(case["client_cpu"], case.get("server_cpus"))
        for ax, cpu in zip(row, cpus):
            lane = case["lanes"][cpu]
            x = [i * BIN_S for i in range(len(lane))]
            ax.stackplot(x, *[[b[k] / (BIN_S * 10) for b in lane] for k in KINDS],
                         colors=[colors[k] for k in KINDS], labels=KINDS, step="post")
            ax.set_ylim(0, 100)
            ax.set_title(f"{title}: CPU {cpu}")
            ax.set_xlabel("seconds")
            ax.set_ylabel("% of the CPU")
        row[0].legend(loc="lower left", fontsize=8, ncol=4)
        p = row[-1]
        p.bar(range(1, len(case["p99_us_per_second"]) + 1), [v / 1000 for v in case["p99_us_per_second"]],
              color="#1f77b4")
        p.set_yscale("log")
        p.set_title(f"{title}: p99 each second")
        p.set_xlabel("second")
        p.set_ylabel("p99 round trip (ms)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    n = env_num("SCHED_CONNS", 200_000, low=echo.ONE_PROCESS + 1)
    rate = env_num("SCHED_RATE", 57_000, low=100)
    seconds = env_num("SCHED_SECONDS", 20, low=2)
    if shutil.which("perf") is None:
        log("sched-timeline.py: needs perf (make setup installs it)")
        sys.exit(2)
    # bench-echo's arrangements, each checked (two CPUs, taskset) before anything runs.
    allowed, taskset = os.sched_getaffinity(0), shutil.which("taskset") is not None
    plans = [(name, *echo.arrangement(name, allowed, taskset)) for name in echo.ARRANGEMENTS]
    work = tempfile.mkdtemp(prefix="c10m-sched-")
    cases = []
    try:
        bench.ensure_file_max(2 * n + 100_000)
        for name, cpu, servers in plans:
            cases.append(record_case(name, cpu, servers, n, rate, seconds, work))
    finally:
        bench.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    env = "".join(f"{k}={v} " for k, v in sorted(os.environ.items()) if k.startswith("SCHED_") and v)
    result = {"machine": machine(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": env + "make sched-timeline", "connections": n, "rate": rate, "seconds": seconds,
              "bin_s": BIN_S, "cases": cases}
    out = os.path.join(bench.OUT, "sched-timeline")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(markdown(result))
    plot(result, os.path.join(out, "plot.png"))
    print(markdown(result))
    log(f"written: {out}/")
    sys.exit(0 if all(c["ok"] for c in cases) else 1)


if __name__ == "__main__":
    main()
