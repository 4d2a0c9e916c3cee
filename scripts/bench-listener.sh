#!/usr/bin/env bash
# Shared listener vs one SO_REUSEPORT listener per worker: the same client opens N connections
# to a server with W workers, once each way, alternating. Prints ramp time and the per-worker
# spread. BENCH_N=200000 BENCH_WORKERS=12 BENCH_ROUNDS=2 scripts/bench-listener.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
N=${BENCH_N:-200000}
W=${BENCH_WORKERS:-12}
ROUNDS=${BENCH_ROUNDS:-2}
work=$(mktemp -d)
spid=
# Waits for the server by pid: a bare `wait` would also wait for the record's tee, which cannot
# end before this script does.
cleanup() { if [ -n "$spid" ]; then kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; fi; rm -rf "$work"; }
trap cleanup EXIT INT TERM
# The run's record: what it prints, ending with the command and the date, in bench/results/listener/.
mkdir -p bench/results/listener
exec > >(tee bench/results/listener/output.txt)
record_end() { echo "Command: \`BENCH_N=$N BENCH_WORKERS=$W BENCH_ROUNDS=$ROUNDS scripts/bench-listener.sh\`. Date: $(date -u +%Y-%m-%dT%H:%M:%S)."; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "listener benchmark: $N connections, $W workers, $ROUNDS rounds each way"
echo "machine: $(python3 scripts/procutil.py machine)"
printf '%-16s %8s %10s %12s %22s\n' listener round ramp_s "conn/s" "per-worker min..max"
for r in $(seq "$ROUNDS"); do
  for mode in reuseport shared; do
    port=$(free_port)
    extra=(); [ "$mode" = shared ] && extra=(--shared-listener)
    "$BIN/c10m-server" --listen "127.0.0.1:$port" --workers "$W" "${extra[@]}" --json >"$work/s.json" 2>"$work/s.err" &
    spid=$!
    for _ in $(seq 200); do grep -q '^listening' "$work/s.json" 2>/dev/null && break; sleep 0.05; done
    timeout 300 "$BIN/c10m-client" --target "127.0.0.1:$port" -n "$N" --hold 1 --json --quiet >"$work/c.json" 2>"$work/c.err" || true
    kill -TERM "$spid"; wait "$spid" || true; spid=
    python3 - "$work/c.json" "$mode" "$r" "$work/s.json" <<'PY'
import json, sys
c = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')][-1]
ok = "" if c["established"] == c["requested"] and not c["failed"] else f'  FAILED {c["failed"]}'
ticks = [json.loads(l) for l in open(sys.argv[4]) if l.startswith('{"type":"tick"')]
# the spread while the ramp was half done: which workers took the connections
half = [t for t in ticks if t["connections"] >= c["requested"] // 2]
spread = f'{half[0]["worker_min"]}..{half[0]["worker_max"]}' if half else "-"
print(f'{sys.argv[2]:<16} {sys.argv[3]:>8} {c["elapsed_to_all_s"] or 0:>10.2f} {c["connect_rate_per_s"] or 0:>12.0f} {spread:>22}{ok}')
PY
    sleep 3
  done
done
record_end
