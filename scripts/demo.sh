#!/usr/bin/env bash
# make demo: one c10m-server process, filled to what its fd limit allows by one c10m-client,
# on loopback. Finishes by itself in well under a minute and leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
HOLD=${DEMO_HOLD:-5}
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
# Fill the server to what its fd limit allows: each process keeps ~14 descriptors for itself
# (stdio, epoll, listener, /proc files, a small reserve). Past 20,000 it takes more processes.
conns=${DEMO_CONNS:-$(( (hard > 20000 ? 20000 : hard) - 16 ))}
[ "$conns" -gt 0 ] || { echo "demo: fd hard limit $hard is too small for a demo" >&2; exit 1; }

echo "== c10m demo: one listening port, one server process, $conns connections"
echo "   machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r), RLIMIT_NOFILE hard limit $hard"
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
status=0
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
exit "$status"
