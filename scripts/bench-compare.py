#!/usr/bin/env python3
"""Two bench summaries side by side, as the Markdown table docs/labs/tun.md shows.

  scripts/bench-compare.py SOCKET_SUMMARY.json TUN_SUMMARY.json

The first from `make bench` (both ends on loopback), the second from `make bench-tun` (the
server's sockets only). Prints one row per measure and per slab cache that moved in either."""
import json
import sys


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.strip())
    a, b = (json.load(open(p)) for p in sys.argv[1:])
    rows = [
        ("connections held", "connections"),
        ("failures", "failures"),
        ("ramp (s)", "ramp_s"),
        ("the floor's ramp in the same run (s)", lambda s: (s.get("floor") or {}).get("ramp_s")),
        ("ramp, c10m / floor", "ramp_ratio_c10m_over_floor"),
        ("pings sent / echoed intact", lambda s: f"{s.get('pings_sent'):,} / {s.get('pings_ok'):,}"),
        ("server user bytes per connection", "server_user_bytes_per_conn"),
        ("client user bytes per connection", "client_user_bytes_per_conn"),
        ("kernel slab bytes per connection", "kernel_bytes_per_pair"),
        ("server workers / client processes",
         lambda s: f"{s.get('workers')} / {s.get('client_processes')}"),
    ]

    def cell(s, key):
        v = key(s) if callable(key) else s.get(key)
        return f"{v:,}" if isinstance(v, int) else str(v)

    for label, key in rows:
        print(f"| {label} | {cell(a, key)} | {cell(b, key)} |")
    ca, cb = a.get("kernel_bytes_per_pair_by_cache", {}), b.get("kernel_bytes_per_pair_by_cache", {})
    for name in sorted(set(ca) | set(cb), key=lambda n: -max(ca.get(n, 0), cb.get(n, 0))):
        if max(abs(ca.get(name, 0)), abs(cb.get(name, 0))) >= 50:
            print(f"| slab `{name}` bytes per connection | {ca.get(name, '-')} | {cb.get(name, '-')} |")
    for s, tag in ((a, "first"), (b, "second")):
        print(f"\n{tag}: `{s.get('command')}`, {s.get('date')}, {s.get('machine')}", file=sys.stderr)


if __name__ == "__main__":
    main()
