#!/usr/bin/env python3
"""make size-compare: c10m-server's estimate for a machine (`--check --size-for CORES,MEMORY`)
beside what was published for single machines of that size.

The estimate extrapolates this project's measurements (bench/reference/: kernel bytes per socket,
CPU per connection set up and per echoed message); each published result was an application
(a chat server, a WebSocket push server) on its own hardware, kernel and year. The table does not
rank anything: it shows how far a bare echo server's costs are from what a real application
spent per connection, and where each published run stopped.

Only figures stated in each source are used; where a source does not give the machine's cores
and memory, there is no estimate, only its kernel memory per socket against ours.

Writes bench/results/sizing/: summary.json and summary.md.

Environment: C10M_BIN=target/release  BENCH_OUT=bench/results
"""
import datetime
import json
import os
import subprocess
import sys

from procutil import ROOT, log, machine

BIN = os.environ.get("C10M_BIN", os.path.join(ROOT, "target", "release"))
OUT = os.path.join(ROOT, os.environ.get("BENCH_OUT", "bench/results"), "sizing")
GIB = 1 << 30

# What each source states, and nothing more.
PUBLISHED = [
    {
        "name": "WhatsApp chat servers (FreeBSD 8.2, Erlang R14B03)",
        "date": "2012-01",
        "source": "https://blog.whatsapp.com/1-million-is-so-2011",
        "cores": 24,  # hw.ncpu: 24 (two Xeon X5675: 12 cores, 24 threads)
        "memory_bytes": 103_062_118_400,  # hw.physmem
        "connections": 2_277_845,  # kern.ipc.numopensockets
        "stated": "CPU 41.9% idle; 35G active memory; the servers carried WhatsApp's traffic",
    },
    {
        "name": "Phoenix channels, one chat room (Elixir)",
        "date": "2015-11",
        "source": "https://phoenixframework.org/blog/the-road-to-2-million-websocket-connections",
        "cores": 40,  # "showed 40 cores in htop"
        "memory_bytes": 128 * 10**9,  # "128GB RAM"
        "connections": 2_000_000,
        "stated": "WebSocket connections held by the Rackspace OnMetal I/O machine",
    },
    {
        "name": "MigratoryData WebSocket push server (Java, CentOS 6.4)",
        "date": "2013-06",
        "source": "https://migratorydata.com/blog/websockets-benchmark-12-million-concurrent-users/",
        "cores": None,  # a Dell PowerEdge R610; the post gives neither cores nor memory
        "memory_bytes": None,
        "connections": 12_000_000,
        "messages_per_s": 200_000,  # a 512-byte message a minute to each of 12,000,000
        "kernel_bytes": 36 * 10**9,  # "the Linux kernel memory footprint for 12 million sockets is about 36 GB"
        "stated": "57% CPU; 1.015 Gbps; RAM, not CPU, stopped it",
    },
]


def estimate(cores, memory_bytes):
    """c10m-server's own estimate, as JSON."""
    cmd = [f"{BIN}/c10m-server", "--check", "--size-for", f"{cores},{memory_bytes}", "--json"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except OSError as e:
        raise SystemExit(f"size-compare: {cmd[0]}: {e.strerror}: build it first (make build)")
    if r.returncode != 0:
        raise SystemExit(f"size-compare: {' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def compare():
    rows, measured = [], None
    for pub in PUBLISHED:
        row = dict(pub)
        if pub["cores"] and pub["memory_bytes"]:
            est = estimate(pub["cores"], pub["memory_bytes"])
            measured = est["measured"]
            row["estimate"] = {k: est[k] for k in ("connections", "accepts_per_s", "messages_per_s",
                                                   "bytes_per_connection")}
            row["published_per_estimated"] = round(pub["connections"] / est["connections"], 3)
            row["memory_per_published_connection_bytes"] = round(pub["memory_bytes"] / pub["connections"])
        if pub.get("kernel_bytes"):
            row["kernel_bytes_per_socket"] = round(pub["kernel_bytes"] / pub["connections"])
        rows.append(row)
    if measured is None:
        measured = estimate(2, 8 * GIB)["measured"]
    return rows, measured


def markdown(result):
    m = result["measured"]
    lines = ["# make size-compare", "",
             f"Estimates by `c10m-server --check --size-for CORES,MEMORY` on {result['machine']}, from "
             f"{m['kernel_bytes_per_socket']:,} B of kernel slab per server socket, {m['user_bytes_per_conn']} B "
             f"of server memory per connection, {m['setup']['server_us']} us of server CPU per connection set up "
             f"and {m['message']['server_us']} us per echoed {m['message_bytes']}-byte message "
             f"({'; '.join(m['records'])}). Date: {result['date']}.", "",
             "| published run | machine | connections held (published) | c10m-server estimate: idle connections "
             "| messages/s at the knee | published / estimate | the machine's memory / connections held |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "estimate" not in r:
            continue
        e = r["estimate"]
        lines.append(f"| [{r['name']}, {r['date']}]({r['source']}) | {r['cores']} cores, "
                     f"{r['memory_bytes'] / GIB:.1f} GiB | {r['connections']:,} | {e['connections']:,} | "
                     f"{e['messages_per_s']['low']:,.0f} to {e['messages_per_s']['high']:,.0f} | "
                     f"{r['published_per_estimated']} | {r['memory_per_published_connection_bytes']:,} B |")
    lines += ["", "| published run | connections | kernel memory per socket (published) | here (Linux of the "
              "reference machine) |", "|---|---|---|---|"]
    for r in result["rows"]:
        if "kernel_bytes_per_socket" in r:
            lines.append(f"| [{r['name']}, {r['date']}]({r['source']}) | {r['connections']:,} | "
                         f"{r['kernel_bytes_per_socket']:,} B | {m['kernel_bytes_per_socket']:,} B |")
    lines += ["", "What each source also states: "
              + "; ".join(f"{r['name']}: {r['stated']}" for r in result["rows"]) + ".", ""]
    return "\n".join(lines)


def main():
    if len(sys.argv) > 1:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    rows, measured = compare()
    result = {"rows": rows, "measured": measured, "machine": machine(), "command": "make size-compare",
              "date": datetime.datetime.now().isoformat(timespec="seconds")}
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(OUT, "summary.md"), "w") as f:
        f.write(markdown(result))
    print(markdown(result))
    log(f"written: {OUT}/")


if __name__ == "__main__":
    main()
