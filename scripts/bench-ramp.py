#!/usr/bin/env python3
"""make bench-ramp: the ramp to N alone, c10m's pair against the C floor's, alternating rounds.

`make bench` runs each pair once or twice, and on a 2-core machine a single ramp to 1,000,000 moves
by several seconds from run to run. This runs ROUNDS x (floor, c10m), each a ramp to N with a
1-second hold, waits between runs until the previous run's sockets are gone, and reports for every
run the wall time, the CPU the run itself used (servers, clients, and the kernel threads doing
their softirq work), and the CPU that other processes on the machine took meanwhile, naming the
largest. CPU is the steadier measure: it does not depend on who else wanted the cores.

With BENCH_OTHER_BIN=DIR (another build's target/release, an older commit's say) each round also
ramps that build's c10m, the two builds taking turns to go first: an A/B of two builds in one
sitting, each against the same floor. The binaries run without their pages (BENCH_DASHBOARD=0),
so a build older than the pages takes the same flags.

Environment: BENCH_CONNS=1000000 BENCH_ROUNDS=3 BENCH_OUT=bench/results FLOOR_SRC=../shared/floor
  BENCH_OTHER_BIN=DIR
With BENCH_ENGINE=tun the ramps are make bench-tun's (the TUN client, in a throwaway namespace);
add BENCH_MESSAGE_RATE=0 when the other build's client is older than --message-rate.

Writes bench/results/ramp-DATE.json and prints a table. Exit 0 when every run reached N, 1
otherwise. Only 127.0.0.0/8 (or the TUN bench's 198.18.0.0/15 in its namespace) is used;
fs.file-max is raised and restored as in make bench.
"""
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile

os.environ.setdefault("BENCH_HOLD", "1")
os.environ.setdefault("BENCH_PING", "30")
os.environ.setdefault("BENCH_DASHBOARD", "0")
import bench  # noqa: E402  (reads BENCH_* at import)
from procutil import env_num, log, machine  # noqa: E402

ROUNDS = env_num("BENCH_ROUNDS", 3, low=1)
OTHER_BIN = os.environ.get("BENCH_OTHER_BIN")


def row(who, rnd, ramp_s, cpu):
    cpu = cpu or {}
    top = (cpu.get("others_top") or [{}])[0]
    return {"round": rnd, "pair": who, "ramp_s": ramp_s, "cpu_run_s": cpu.get("cpu_run_s"),
            "server_cpu_s": cpu.get("server_cpu_s"), "client_cpu_s": cpu.get("client_cpu_s"),
            "cpu_others_s": cpu.get("cpu_others_s"), "largest_other": top.get("process"),
            "largest_other_cpu_s": top.get("cpu_s")}


def main():
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: (bench.cleanup(), sys.exit(130)))
    if not os.path.exists(f"{bench.BIN}/c10m-client"):
        raise SystemExit("build first: make build")
    work = tempfile.mkdtemp(prefix="c10m-bench-ramp-")
    rows, ok = [], True
    try:
        bench.prepare()
        log(f"bench-ramp: {bench.N:,} connections, {ROUNDS} rounds of (floor, c10m); machine: {machine()}")
        for rnd in range(1, ROUNDS + 1):
            floor = bench.run_floor(work)
            if floor:
                rows.append(row("floor", rnd, floor["ramp_s"], floor["ramp_cpu"]))
                ok &= floor["ramp_s"] is not None
                bench.settle()
            builds = [("c10m", bench.BIN)] + ([("other", OTHER_BIN)] if OTHER_BIN else [])
            for who, binaries in builds if rnd % 2 else builds[::-1]:
                bench.BIN = binaries
                summary, _ = bench.run_c10m(work)
                rows.append(row(who, rnd, summary["ramp_s"], summary["ramp_cpu"]))
                ok &= summary["connections"] >= bench.N and summary["failures"] == 0
                bench.settle()
    finally:
        bench.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    def mean(pair, key):
        v = [r[key] for r in rows if r["pair"] == pair and r[key] is not None]
        return round(sum(v) / len(v), 2) if v else None

    pairs = ("floor", "c10m", "other") if OTHER_BIN else ("floor", "c10m")
    means = {p: {k: mean(p, k) for k in ("ramp_s", "cpu_run_s", "server_cpu_s", "client_cpu_s",
                                          "cpu_others_s")} for p in pairs}
    ratios = {}
    for k in ("ramp_s", "cpu_run_s"):
        for p in pairs[1:]:
            if means["floor"][k] and means[p][k]:
                ratios[f"{k}_{p}_over_floor"] = round(means[p][k] / means["floor"][k], 3)
        if OTHER_BIN and means["other"][k] and means["c10m"][k]:
            ratios[f"{k}_c10m_over_other"] = round(means["c10m"][k] / means["other"][k], 3)
    result = {"connections": bench.N, "rounds": ROUNDS, "runs": rows, "means": means, "ratios": ratios,
              "machine": machine(), "other_bin": OTHER_BIN,
              "command": "".join(f"{k}={os.environ[k]} " for k in ("BENCH_ENGINE", "BENCH_MESSAGE_RATE")
                               if os.environ.get(k)) + f"BENCH_CONNS={bench.N} BENCH_ROUNDS={ROUNDS} "
                         + (f"BENCH_OTHER_BIN={OTHER_BIN} " if OTHER_BIN else "") + "make bench-ramp",
              "date": datetime.datetime.now().isoformat(timespec="seconds")}
    os.makedirs(bench.OUT, exist_ok=True)
    path = os.path.join(bench.OUT, f"ramp-{datetime.datetime.now().strftime('%Y-%m-%dT%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)

    cols = ("round", "pair", "ramp_s", "cpu_run_s", "server_cpu_s", "client_cpu_s", "cpu_others_s",
            "largest_other", "largest_other_cpu_s")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    for p in pairs:
        m = means[p]
        print(f"| mean | {p} | " + " | ".join(str(m[c]) for c in cols[2:7]) + " | | |")
    print(f"\nratios: {ratios}")
    print(f"Machine: {result['machine']}. Command: `{result['command']}`. Written: {path}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
