#!/usr/bin/env bash
# make bench-connect: how fast one client process opens N idle connections to one server
# process, c10m against the kernel's floor (a minimal C epoll pair, ../shared/floor), in the same
# run, alternating rounds so both see the same machine state. Also reports user-space bytes per
# connection on both ends. Timings are a benchmark, never a pass/fail test.
#   BENCH_N=19000 BENCH_ROUNDS=5 scripts/bench-connect.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
N=${BENCH_N:-19000}
ROUNDS=${BENCH_ROUNDS:-5}
FLOOR_SRC=${FLOOR_SRC:-../shared/floor}
work=$(mktemp -d)
pids=()
# Waits by pid: a bare `wait` would also wait for the record's tee, which cannot end before
# this script does.
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

# The run's record: what it prints, ending with the command and the date, in bench/results/connect/.
mkdir -p bench/results/connect
exec > >(tee bench/results/connect/output.txt)
record_end() { echo "Command: \`BENCH_N=$N BENCH_ROUNDS=$ROUNDS scripts/bench-connect.sh\`. Date: $(date -u +%Y-%m-%dT%H:%M:%S)."; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

have_floor=0
if [ -f "$FLOOR_SRC/srv.c" ] && command -v gcc >/dev/null; then
  gcc -O2 -o "$work/floor-srv" "$FLOOR_SRC/srv.c" && gcc -O2 -o "$work/floor-cli" "$FLOOR_SRC/cli.c" && have_floor=1
else
  echo "SKIPPED floor: $FLOOR_SRC/srv.c or gcc not found; c10m alone is measured" >&2
fi

# c10m pair: prints "rate client_bytes_per_conn server_bytes_per_conn"
run_c10m() {
  local port; port=$(free_port)
  "$BIN/c10m-server" --listen "127.0.0.1:$port" --json --quiet >"$work/s.json" 2>"$work/s.err" &
  local sp=$!; pids+=("$sp")
  for _ in $(seq 100); do grep -q '^listening' "$work/s.json" 2>/dev/null && break; sleep 0.02; done
  "$BIN/c10m-client" -n "$N" --rate 0 --target "127.0.0.1:$port" --hold 1 --json --quiet >"$work/c.json" 2>"$work/c.err" || true
  kill -TERM "$sp"; wait "$sp" || true
  python3 - "$work/c.json" "$work/s.json" <<'PY'
import json, sys
c = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')][-1]
s = [json.loads(l) for l in open(sys.argv[2]) if l.startswith('{')][-1]
ok = c["established"] == c["requested"] and not c["failed"]
print(f'{c["connect_rate_per_s"] or 0:.0f} {c["rss_bytes_per_conn"] or 0:.1f} {s["rss_bytes_per_conn_at_peak"] or 0:.1f} {"ok" if ok else "FAILED"}')
PY
}

# floor pair: prints "rate"
run_floor() {
  local port; port=$(free_port)
  "$work/floor-srv" "$port" 127.0.0.1 >"$work/fs.out" 2>&1 &
  local sp=$!; pids+=("$sp")
  sleep 0.2
  "$work/floor-cli" -n "$N" -p "$port" -s 127.1.0.1 -S 2 >"$work/fc.out" 2>&1 &
  local cp=$!; pids+=("$cp")
  for _ in $(seq 300); do grep -q '^DONE' "$work/fc.out" 2>/dev/null && break; sleep 0.05; done
  kill -INT "$cp" "$sp" 2>/dev/null; wait "$cp" "$sp" 2>/dev/null || true
  sed -n 's/^DONE .*rate=\([0-9]*\) .*/\1/p' "$work/fc.out"
}

echo "connect benchmark: $N connections per round, $ROUNDS rounds, one client and one server process"
echo "machine: $(python3 scripts/procutil.py machine)"
printf '%-6s %14s %14s %18s %18s\n' round "c10m conn/s" "floor conn/s" "client B/conn" "server B/conn"
c_rates=(); f_rates=(); status=0
for r in $(seq "$ROUNDS"); do
  read -r crate cb sb ok < <(run_c10m)
  [ "$ok" = ok ] || status=1
  frate=-; [ "$have_floor" = 1 ] && frate=$(run_floor)
  c_rates+=("$crate"); [ "$frate" != - ] && f_rates+=("$frate")
  printf '%-6s %14s %14s %18s %18s\n' "$r" "$crate" "$frate" "$cb" "$sb"
  sleep 0.5
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
cm=$(median "${c_rates[@]}")
if [ "${#f_rates[@]}" -gt 0 ]; then
  fm=$(median "${f_rates[@]}")
  echo "median: c10m $cm conn/s, floor $fm conn/s, ratio c10m/floor $(awk -v a="$cm" -v b="$fm" 'BEGIN {printf "%.2f", a/b}')"
else
  echo "median: c10m $cm conn/s"
fi
[ "$status" = 0 ] || echo "some c10m rounds did not establish all $N connections" >&2
record_end
exit "$status"
