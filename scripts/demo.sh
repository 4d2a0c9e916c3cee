#!/usr/bin/env bash
# make demo: one c10m-server process, filled to what its fd limit allows by one c10m-client,
# on loopback. Finishes by itself in well under a minute and leaves nothing running.
#
# It also leaves a record of its run in bench/results/demo/ (not committed), as make bench does
# in bench/results/latest/: demo.txt, everything it printed, then a last line with the machine,
# the command and the date.
# bench/reference/demo/ is a copy of one run on the reference machine, which docs/one-port.md quotes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
HOLD=${DEMO_HOLD:-5}
RECORD=bench/results/demo
machine=$(python3 scripts/procutil.py machine)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
# Fill the server to what its fd limit allows: each process keeps ~14 descriptors for itself
# (stdio, epoll, listener, /proc files, a small reserve). Past 20,000 it takes more processes.
conns=${DEMO_CONNS:-$(( (hard > 20000 ? 20000 : hard) - 16 ))}
[ "$conns" -gt 0 ] || { echo "demo: fd hard limit $hard is too small for a demo" >&2; exit 1; }

# tee that outlives Ctrl-C, so that what the programs print after SIGINT (the client's summary)
# still reaches the terminal and the record.
keep() { (trap '' INT; exec tee "$@"); }

# The demo itself: what it prints is what the record keeps. It runs in a subshell (the left side
# of the pipe to tee below), so the server's cleanup is this subshell's own trap.
demo() {
  local server_pid= status=0 addr
  # shellcheck disable=SC2317  # called by the trap
  stop_server() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; server_pid=; }
  trap stop_server EXIT
  trap 'stop_server; exit 130' INT
  trap 'stop_server; exit 143' TERM

  echo "== c10m demo: one listening port, one server process, $conns connections"
  echo "   machine: $machine"
  echo
  "$BIN/c10m-server" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 100); do grep -q '^listening on' "$work/server.out" 2>/dev/null && break; sleep 0.05; done
  addr=$(sed -n 's/^listening on //p' "$work/server.out")
  [ -n "$addr" ] || { echo "demo: the server did not start:" >&2; cat "$work/server.err" >&2; exit 1; }
  echo "-- c10m-server (stdout)"
  sed 's/^/   /' "$work/server.out"
  echo
  echo "-- c10m-client -n $conns --rate 0 --target $addr --hold $HOLD --ping-interval 2"
  "$BIN/c10m-client" -n "$conns" --rate 0 --target "$addr" --hold "$HOLD" --ping-interval 2 || status=$?
  echo
  echo "-- the server's live lines while it held them (stderr, one per second)"
  sed 's/^/   /' "$work/server.err"
  kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=
  echo
  echo "-- c10m-server summary (after SIGTERM)"
  sed -n '/^summary/,$p' "$work/server.out" | sed 's/^/   /'
  cat <<TXT

What you saw: $conns TCP connections to ONE listening port ($addr), held by ONE process.
A port is not a connection: the kernel tells connections apart by the 4-tuple
(source IP, source port, destination IP, destination port), so the server's side of every
connection shares port ${addr##*:}. What stopped this demo at $conns is this machine's per-process
file descriptor limit (RLIMIT_NOFILE hard limit $hard), not the port. See docs/one-port.md.
TXT
  return "$status"
}

mkdir -p "$RECORD"
status=0
demo 2>&1 | keep "$RECORD/demo.txt" || status=$?

# The record's last line, in the words of bench's summary.md.
command="make demo"
[ -n "${DEMO_HOLD:-}" ] && command="DEMO_HOLD=$DEMO_HOLD $command"
[ -n "${DEMO_CONNS:-}" ] && command="DEMO_CONNS=$DEMO_CONNS $command"
date=$(date +%Y-%m-%dT%H:%M:%S)
printf '\nMachine: %s. Command: `%s`. Date: %s.\n' "$machine" "$command" "$date" >>"$RECORD/demo.txt"

exit "$status"
