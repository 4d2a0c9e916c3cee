#!/usr/bin/env bash
# make demo: one c10m-server process, filled to what its fd limit allows by one c10m-client,
# on loopback. Finishes by itself in well under a minute and leaves nothing running.
#
# It also leaves a record of its run in bench/results/demo/ (not committed), as make bench does
# in bench/results/latest/:
#   demo.txt      everything it printed, then a last line with the machine, the command and the date
#   summary.json  the same run for scripts: the server's start lines and summary, the client's plan
#                 and summary, each line as printed (key: value), a few of them as numbers, and the
#                 machine, command and date. Both binaries print text or JSON, one at a time; the
#                 demo shows the text, so the JSON is read back from it (needs python3; without it,
#                 only demo.txt is written).
# bench/reference/demo/ is a copy of one run on the reference machine, which docs/one-port.md quotes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
HOLD=${DEMO_HOLD:-5}
RECORD=bench/results/demo
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
  echo "   machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r), RLIMIT_NOFILE hard limit $hard"
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
  "$BIN/c10m-client" -n "$conns" --rate 0 --target "$addr" --hold "$HOLD" --ping-interval 2 \
    | keep "$work/client.out" || status=$?
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

# The record's last line, in the words of bench's summary.md (scripts/procutil.py's machine()).
machine="$(nproc) cores, $(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1048576 )) GiB, Linux $(uname -r), RLIMIT_NOFILE hard $(ulimit -Hn)"
command="make demo"
[ -n "${DEMO_HOLD:-}" ] && command="DEMO_HOLD=$DEMO_HOLD $command"
[ -n "${DEMO_CONNS:-}" ] && command="DEMO_CONNS=$DEMO_CONNS $command"
date=$(date +%Y-%m-%dT%H:%M:%S)
printf '\nMachine: %s. Command: `%s`. Date: %s.\n' "$machine" "$command" "$date" >>"$RECORD/demo.txt"

rm -f "$RECORD/summary.json"
if command -v python3 >/dev/null && [ -s "$work/client.out" ]; then
  python3 - "$work/server.out" "$work/client.out" "$RECORD/summary.json" \
    "$machine" "$command" "$date" "$conns" "$HOLD" "$status" <<'PY' || echo "demo: summary.json not written" >&2
import json, re, sys

server_out, client_out, dest, machine, command, date, conns, hold, status = sys.argv[1:]


def blocks(path):
    """The text output's blocks: a line at the margin opens one ('plan: ...', 'summary'), its
    indented 'key   value' lines fill it. The lines before the first block are 'start'."""
    out, name = {"start": []}, "start"
    for line in open(path).read().splitlines():
        if not line.strip():
            continue
        if name == "start" and not line.startswith(" ") and not line.startswith(("plan", "summary")):
            out["start"].append(line)
            continue
        if not line.startswith(" "):
            name = line.split(":")[0].strip()
            out[name] = {"title": line} if ":" in line else {}
            continue
        # 'key   value', the key up to the first run of spaces ('peak connections   19,984'),
        # or the first word when the key fills its column ('processes 1 (...)')
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        key, value = parts if len(parts) == 2 else line.strip().partition(" ")[::2]
        block = out[name]
        if key in block:  # a key printed twice (two warnings): keep both, in order
            block[key] = (block[key] if isinstance(block[key], list) else [block[key]]) + [value]
        else:
            block[key] = value
    if not out["start"]:
        del out["start"]
    return out


def num(s):
    s = s.replace(",", "")
    return float(s) if "." in s else int(s)


def first(pattern, text):
    m = re.search(pattern, text or "")
    return num(m.group(1)) if m else None


server, client = blocks(server_out), blocks(client_out)
ss, cs = server.get("summary", {}), client.get("summary", {})
record = {
    "command": command,
    "date": date,
    "machine": machine,
    "connections": int(conns),
    "hold_s": num(hold),
    "exit_status": int(status),
    "listen": (server.get("start") or [""])[0].replace("listening on ", ""),
    "server": {
        "peak_connections": first(r"^([\d,]+)", ss.get("peak connections")),
        "accepted": first(r"^([\d,]+)", ss.get("accepted / closed")),
        "closed": first(r"/ ([\d,]+)", ss.get("accepted / closed")),
        "rss_bytes_per_conn_at_peak": first(r"([\d.]+) bytes per connection", ss.get("rss")),
        "text": server,
    },
    "client": {
        "requested": first(r"of ([\d,]+)", cs.get("established")),
        "established": first(r"^([\d,]+)", cs.get("established")),
        "elapsed_to_all_s": first(r"^([\d.]+) s", cs.get("time to all")),
        "pings_sent": first(r"^([\d,]+) sent", cs.get("pings")),
        "pings_ok": first(r"([\d,]+) echoed intact", cs.get("pings")),
        "echo_mismatches": first(r"([\d,]+) mismatched", cs.get("pings")),
        "rss_bytes_per_conn": first(r"\(([\d.]+) bytes per connection", cs.get("rss")),
        "success": cs.get("result") == "ok",
        "text": client,
    },
}
with open(dest, "w") as f:
    json.dump(record, f, indent=2, ensure_ascii=False)
    f.write("\n")
PY
fi
exit "$status"
