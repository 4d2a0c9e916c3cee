#!/usr/bin/env bash
# make demo: one c10m-server process, filled to what its fd limit allows by one c10m-client,
# on loopback. Finishes by itself in well under a minute and leaves nothing running.
#
# It also leaves a record of its run in bench/results/demo/ (not committed), as make bench does
# in bench/results/latest/: demo.txt, everything it printed, then a last line with the machine,
# the command and the date; report.html, the server's --report (its dashboard, the whole run
# inline), and report-client.html, the client's.
#
# While it runs, both programs serve their live dashboards (--dashboard): the URLs are printed
# first, to open in a browser or project. DEMO_DASHBOARD sets the server's address (default
# 127.0.0.1:0, a free port; 0.0.0.0:8080 to show it to a room from another machine), and
# DEMO_HOLD a longer hold to watch it. DEMO_SHOT=FILE.png takes a screenshot of the server's
# dashboard 6 s after it holds every connection (scripts/browse.py, headless chromium; hold 15 s
# or more to leave the browser time to start): the README's picture is
# `DEMO_HOLD=15 DEMO_SHOT=docs/img/dashboard-demo.png make demo`.
# bench/reference/demo/ is a copy of one run on the reference machine, which docs/one-port.md quotes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
HOLD=${DEMO_HOLD:-5}
RECORD=bench/results/demo
DASHBOARD=${DEMO_DASHBOARD:-127.0.0.1:0}
machine=$(python3 scripts/procutil.py machine)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
[ "$hard" -gt 100 ] || { echo "demo: fd hard limit $hard is too small for a demo" >&2; exit 1; }

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

  "$BIN/c10m-server" --listen 127.0.0.1:0 --dashboard "$DASHBOARD" --report "$RECORD/report.html" \
    >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 100); do grep -q 'room for' "$work/server.out" 2>/dev/null && break; sleep 0.05; done
  addr=$(sed -n 's/^listening on //p' "$work/server.out")
  [ -n "$addr" ] || { echo "demo: the server did not start:" >&2; cat "$work/server.err" >&2; exit 1; }
  # Fill the server to what its fd limit allows, as its first lines say: the limit less the
  # descriptors it keeps for itself (stdio, epoll, listener, its dashboard, /proc files, a small
  # reserve), and at most what a hard limit of 20,000 leaves.
  local room; room=$(sed -n 's/.*room for \([0-9,]*\) connections.*/\1/p' "$work/server.out" | tr -d ,)
  [ -n "$room" ] && [ "$room" -gt 19980 ] && room=19980
  conns=${DEMO_CONNS:-$room}
  [ -n "$conns" ] && [ "$conns" -gt 0 ] || { echo "demo: the server has no room:" >&2; cat "$work/server.out" >&2; exit 1; }
  echo "== c10m demo: one listening port, one server process, $conns connections"
  echo "   machine: $machine"
  echo
  echo "-- the dashboards, live while the demo runs: open them in a browser"
  sed -n 's/^c10m-server: dashboard at /   server: /p' "$work/server.err"
  echo "   client: the URL the client prints below (c10m-client: dashboard at ...)"
  echo
  local shot_pid=
  if [ -n "${DEMO_SHOT:-}" ]; then
    local url; url=$(sed -n 's/^c10m-server: dashboard at //p' "$work/server.err")
    python3 scripts/browse.py "$url" --shot "$DEMO_SHOT" --timeout "$((HOLD + 30))" --after 6 \
      --until "document.querySelector('#headline [data-key=connections] .v').textContent.replace(/,/g, '') === '$conns'" \
      >"$work/shot.json" 2>&1 &
    shot_pid=$!
  fi
  echo "-- c10m-server (stdout)"
  sed 's/^/   /' "$work/server.out"
  echo
  echo "-- c10m-client -n $conns --rate 0 --target $addr --hold $HOLD --ping-interval 2 --dashboard 127.0.0.1:0"
  "$BIN/c10m-client" -n "$conns" --rate 0 --target "$addr" --hold "$HOLD" --ping-interval 2 \
    --dashboard 127.0.0.1:0 --report "$RECORD/report-client.html" || status=$?
  if [ -n "$shot_pid" ]; then
    wait "$shot_pid" && echo "-- screenshot of the server's dashboard: $DEMO_SHOT" \
      || { echo "demo: no screenshot:" >&2; cat "$work/shot.json" >&2; }
  fi
  echo
  echo "-- the server's live lines while it held them (stderr, one per second)"
  grep -v 'dashboard at' "$work/server.err" | sed 's/^/   /' 
  kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=
  echo
  echo "-- c10m-server summary (after SIGTERM)"
  sed -n '/^summary/,$p' "$work/server.out" | sed 's/^/   /'
  cat <<TXT

The whole run, as the dashboards showed it, in one file each (they open with no network):
$RECORD/report.html (the server) and $RECORD/report-client.html (the client).

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
[ -n "${DEMO_SHOT:-}" ] && command="DEMO_SHOT=$DEMO_SHOT $command"
[ -n "${DEMO_DASHBOARD:-}" ] && command="DEMO_DASHBOARD=$DEMO_DASHBOARD $command"
date=$(date +%Y-%m-%dT%H:%M:%S)
printf '\nMachine: %s. Command: `%s`. Date: %s.\n' "$machine" "$command" "$date" >>"$RECORD/demo.txt"

exit "$status"
