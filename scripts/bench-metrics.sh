#!/usr/bin/env bash
# make bench-metrics: do --metrics and --dashboard cost memory per connection, or threads?
# c10m-server holds N idle connections without either, with --metrics (scraped twice a second
# while it holds them) and with --dashboard (its state and rows read ten times a second over one
# kept-alive connection, as the page does with ?every=100), in alternating rounds, and the
# summary's rss_bytes_per_conn_at_peak of each is printed with the mean differences. It also
# prints the largest gap between the server's ticks in the dashboard rounds, and what 3,000
# connections that never send a request do to each page's threads and memory. A benchmark,
# never a pass/fail test.
#   BENCH_N=19000 BENCH_ROUNDS=3 scripts/bench-metrics.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
N=${BENCH_N:-19000}
ROUNDS=${BENCH_ROUNDS:-3}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

# One round: prints the server's rss_bytes_per_conn_at_peak and its largest tick gap. $1: extra
# server flags.
round() {
  "$BIN/c10m-server" --listen 127.0.0.1:0 --json "$@" >"$work/s.json" 2>"$work/s.err" &
  local spid=$!; pids+=("$spid")
  for _ in $(seq 100); do grep -q '^listening on' "$work/s.json" 2>/dev/null && break; sleep 0.05; done
  local port; port=$(head -1 "$work/s.json" | sed 's/.*://')
  local murl; murl=$(grep -o 'http://[^ ]*/metrics' "$work/s.err" || true)
  local durl; durl=$(grep -o 'http://[^ ]*/$' "$work/s.err" || true)
  local scraper=""
  if [ -n "$murl" ]; then
    python3 -c '
import sys, time, urllib.request
for _ in range(16):
    time.sleep(0.5)
    try: urllib.request.urlopen(sys.argv[1], timeout=2).read()
    except OSError: pass
' "$murl" & scraper=$!
  elif [ -n "$durl" ]; then
    python3 scripts/pagepoll.py "$durl" --every 0.1 --duration 8 >/dev/null & scraper=$!
  fi
  "$BIN/c10m-client" --target "127.0.0.1:$port" -n "$N" --hold 5 --quiet --json >"$work/c.json" 2>"$work/c.err" || true
  [ -n "$scraper" ] && wait "$scraper" 2>/dev/null || true
  kill -INT "$spid"; wait "$spid" 2>/dev/null || true
  python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
t = [l["elapsed_s"] for l in lines if l["type"] == "tick"]
gap = max((b - a for a, b in zip(t, t[1:])), default=0)
print(lines[-1]["rss_bytes_per_conn_at_peak"], round(gap, 3))' "$work/s.json"
}

# A round again when its client held nothing (the machine is shared: a neighbour's TIME_WAIT can
# take the ports); said on stderr, three tries at most.
measure() {
  local out
  for _ in 1 2 3; do
    out=$(round "$@")
    case "$out" in None*) echo "round ${*:-without a page}: no connections held; again" >&2 ;; *) echo "$out"; return ;; esac
  done
  echo "$out"
}

echo "c10m-server user bytes per connection at $N: without a page, with --metrics (scraped every 0.5 s), with --dashboard (read every 0.1 s); machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
printf '%-6s %12s %12s %12s %14s\n' round without metrics dashboard "tick gap (s)"
sum_off=0; sum_on=0; sum_dash=0; gap_max=0
for r in $(seq "$ROUNDS"); do
  read -r off _ < <(measure)
  read -r on _ < <(measure --metrics 127.0.0.1:0)
  read -r dash gap < <(measure --dashboard 127.0.0.1:0)
  printf '%-6s %12s %12s %12s %14s\n' "$r" "$off" "$on" "$dash" "$gap"
  sum_off=$(python3 -c "print($sum_off + $off)"); sum_on=$(python3 -c "print($sum_on + $on)")
  sum_dash=$(python3 -c "print($sum_dash + $dash)"); gap_max=$(python3 -c "print(max($gap_max, $gap))")
done
python3 -c "
off, on, dash, n = $sum_off / $ROUNDS, $sum_on / $ROUNDS, $sum_dash / $ROUNDS, $N
print(f'mean   {off:12.3f} {on:12.3f} {dash:12.3f} {$gap_max:14.3f}')
print(f'difference: --metrics {on - off:+.3f}, --dashboard {dash - off:+.3f} B per connection; largest tick gap with the dashboard read {$gap_max} s (command: BENCH_N={n} BENCH_ROUNDS=$ROUNDS make bench-metrics)')"

# Then: what 3,000 connections that never send a request do to a server serving both pages
# (--http-clients at its default): its threads and resident memory before and while they are
# open, and whether each page still answers meanwhile.
"$BIN/c10m-server" --listen 127.0.0.1:0 --metrics 127.0.0.1:0 --dashboard 127.0.0.1:0 --quiet \
  >"$work/idle.out" 2>"$work/idle.err" &
ipid=$!; pids+=("$ipid")
for _ in $(seq 100); do grep -q 'dashboard at' "$work/idle.err" 2>/dev/null && break; sleep 0.05; done
python3 - "$ipid" "$work/idle.err" <<'PY'
import re, socket, sys, time, urllib.request
pid, err = sys.argv[1], open(sys.argv[2]).read()
pages = {"metrics": re.search(r"metrics at (http://\S+)", err).group(1),
         "dashboard": re.search(r"dashboard at (http://\S+)", err).group(1) + "api/state"}
def status():
    f = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
    return int(f["Threads"]), int(f["VmRSS"].split()[0])
def answers(url):
    try:
        return urllib.request.urlopen(url, timeout=2).status
    except Exception as e:
        return getattr(e, "code", type(e).__name__)
time.sleep(1)
t0, r0 = status()
for name, url in pages.items():
    addr = url.split("/")[2].rsplit(":", 1)
    idle = [socket.create_connection((addr[0], int(addr[1]))) for _ in range(3000)]
    time.sleep(1)
    t1, r1 = status()
    print(f"3,000 idle connections to --{name}: threads {t0} -> {t1}, RSS {r0} -> {r1} KiB; "
          f"a request meanwhile: {answers(url)}")
    for s in idle:
        s.close()
    time.sleep(0.5)
    print(f"  once they are closed: {answers(url)}")
PY
kill -INT "$ipid"; wait "$ipid" 2>/dev/null || true
