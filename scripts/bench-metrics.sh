#!/usr/bin/env bash
# make bench-metrics: does --metrics cost memory per connection? c10m-server holds N idle
# connections with and without --metrics (scraped twice a second while it holds them), in
# alternating rounds, and the summary's rss_bytes_per_conn_at_peak of each is printed with the
# mean difference. A benchmark, never a pass/fail test.
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

# One round: prints the server's rss_bytes_per_conn_at_peak. $1: extra server flags.
round() {
  "$BIN/c10m-server" --listen 127.0.0.1:0 --json --quiet "$@" >"$work/s.json" 2>"$work/s.err" &
  local spid=$!; pids+=("$spid")
  for _ in $(seq 100); do grep -q '^listening on' "$work/s.json" 2>/dev/null && break; sleep 0.05; done
  local port; port=$(head -1 "$work/s.json" | sed 's/.*://')
  local murl; murl=$(grep -o 'http://[^ ]*' "$work/s.err" || true)
  local scraper=""
  if [ -n "$murl" ]; then
    python3 -c '
import sys, time, urllib.request
for _ in range(16):
    time.sleep(0.5)
    try: urllib.request.urlopen(sys.argv[1], timeout=2).read()
    except OSError: pass
' "$murl" & scraper=$!
  fi
  "$BIN/c10m-client" --target "127.0.0.1:$port" -n "$N" --hold 5 --quiet --json >"$work/c.json" 2>"$work/c.err" || true
  [ -n "$scraper" ] && wait "$scraper" 2>/dev/null || true
  kill -INT "$spid"; wait "$spid" 2>/dev/null || true
  python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["rss_bytes_per_conn_at_peak"])' "$work/s.json"
}

echo "c10m-server user bytes per connection at $N, without and with --metrics (scraped every 0.5 s); machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr)"
printf '%-6s %12s %12s\n' round without with
sum_off=0; sum_on=0
for r in $(seq "$ROUNDS"); do
  off=$(round); on=$(round --metrics 127.0.0.1:0)
  printf '%-6s %12s %12s\n' "$r" "$off" "$on"
  sum_off=$(python3 -c "print($sum_off + $off)"); sum_on=$(python3 -c "print($sum_on + $on)")
done
python3 -c "
off, on, n = $sum_off / $ROUNDS, $sum_on / $ROUNDS, $N
print(f'mean   {off:12.3f} {on:12.3f}   difference {on - off:+.3f} B per connection (command: BENCH_N={n} BENCH_ROUNDS=$ROUNDS make bench-metrics)')"
