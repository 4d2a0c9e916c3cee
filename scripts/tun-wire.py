#!/usr/bin/env python3
"""The TUN engine on a wire, run by hand and recorded: what docs/labs/tun.md quotes.

Two runs, each in throwaway network namespaces (deleted at the end, with everything in them):

- two-hosts: the two-machine recipe of docs/labs/tun.md section 6 with a router between the
  machines: a client namespace (the TUN client, ip_forward on, a route to the server through the
  router), a router namespace (ip_forward on, nftables dropping TUN_LOSS% of the forwarded
  packets each way with `numgen random`), and a server namespace (c10m-server on 198.18.0.1:7000,
  the recipe's static route of 198.19.0.0/16 back to the client). Linked by veth pairs in
  198.18.1.0/30 and 198.18.2.0/30.
- ipv6: one namespace, c10m-server on [2001:2::1]:7000, the TUN client from 2001:2:0:1::/64.

TUN_CONNS connections (two-hosts: 100,000 by default; ipv6: 19,000), pinged every TUN_PING
seconds (default 10: on a small machine that forwards every packet through three namespaces,
more pings than that only queue) with 100-3,000 bytes for a 10 s hold. The record: the client's summary, the server's summary, and the
server namespace's TCP sockets and orphans (by `ss`) before the run and once the client is gone.
Writes bench/results/tun-wire-MODE/summary.{json,md}.

Usage: [TUN_CONNS=N] [TUN_LOSS=PERCENT] [TUN_PING=SECS] python3 scripts/tun-wire.py two-hosts|ipv6
Needs root, ip netns, nft (two-hosts) and target/release (make build). Exit 0 when every
connection was made and every ping echoed, with no connection left on the server; 1 otherwise.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from procutil import env_num, machine  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")


def sh(*cmd, stdin=None):
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"tun-wire: {' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


class Ns:
    def __init__(self, tag):
        self.name = f"c10m-wire-{os.getpid()}-{tag}"
        sh("ip", "netns", "add", self.name)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args):
        return sh("ip", "-n", self.name, *args)

    def run(self, *cmd, stdin=None):
        return sh("ip", "netns", "exec", self.name, *cmd, stdin=stdin)

    def tcp(self):
        """The namespace's TCP sockets, IPv4 and IPv6, and its orphans (closed by their process,
        still finishing: sockstat's `orphan` counts the whole machine's, so by state here)."""
        def count(*states):
            f = [w for s in states for w in ("state", s)]
            return self.run("ss", "-Htan", *f).count("\n")
        return {"sockets": count("all"),
                "orphans": count("fin-wait-1", "fin-wait-2", "closing", "last-ack")}

    def delete(self):
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                              text=True).stdout.split()
        for p in pids:
            subprocess.run(["kill", "-9", p], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def link(a, a_addr, b, b_addr, n):
    a.ip("link", "add", f"w{n}a", "type", "veth", "peer", "name", f"w{n}b", "netns", b.name)
    for ns, dev, addr in ((a, f"w{n}a", a_addr), (b, f"w{n}b", b_addr)):
        ns.ip("addr", "add", f"{addr}/30", "dev", dev)
        ns.ip("link", "set", dev, "up")


def two_hosts(conns, loss):
    client, router, server = Ns("client"), Ns("router"), Ns("server")
    server.ip("addr", "add", "198.18.0.1/32", "dev", "lo")
    link(client, "198.18.1.1", router, "198.18.1.2", 1)
    link(router, "198.18.2.1", server, "198.18.2.2", 2)
    client.ip("route", "add", "198.18.0.1/32", "via", "198.18.1.2")
    router.ip("route", "add", "198.18.0.1/32", "via", "198.18.2.2")
    router.ip("route", "add", "198.19.0.0/16", "via", "198.18.1.1")
    server.ip("route", "add", "198.19.0.0/16", "via", "198.18.2.1")  # the recipe's static route
    for ns in (client, router):
        ns.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    router.run("nft", "-f", "-", stdin="table inet c10m_loss {\n chain f { type filter hook forward "
               f"priority 0; numgen random mod 100 < {loss} drop; }}\n}}\n")
    setup = {"client": client.name, "router": router.name, "server": server.name,
             "loss_each_way_percent": loss}
    return (client, server), [client, router, server], "198.18.0.1:7000", setup


def ipv6(_conns, _loss):
    ns = Ns("v6")
    ns.ip("addr", "add", "2001:2::1/128", "dev", "lo", "nodad")
    return (ns, ns), [ns], "[2001:2::1]:7000", {"namespace": ns.name}


def usage(msg):
    print(msg, file=sys.stderr)
    sys.exit(2)


def main(argv):
    mode = argv[1] if len(argv) == 2 else ""
    if mode not in ("two-hosts", "ipv6"):
        usage(__doc__)
    conns = env_num("TUN_CONNS", 100_000 if mode == "two-hosts" else 19_000, low=1)
    loss = env_num("TUN_LOSS", 2, low=0)
    ping = f"{env_num('TUN_PING', 10.0, float, low=0.001):g}"
    if loss > 100:
        usage(f"tun-wire: TUN_LOSS={loss} is over 100 (a percentage)")
    if conns > 100_000:
        usage("tun-wire: at most 100,000 connections (TUN_CONNS)")
    build = two_hosts if mode == "two-hosts" else ipv6
    (client_ns, server_ns), all_ns, target, setup = build(conns, loss)
    try:
        server = subprocess.Popen(
            ["ip", "netns", "exec", server_ns.name, os.path.join(BIN, "c10m-server"), "--listen",
             target, "--json", "--quiet", "--workers", "auto", "--max-conns", str(conns)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        before = server_ns.tcp()
        args = ["--engine", "tun", "--target", target, "--allow-remote", "--json", "--quiet",
                "-n", str(conns), "--hold", "10", "--ping-interval", ping, "--payload", "100-3000",
                "--connect-timeout", "30", "--drain", "60"]
        client = subprocess.run(["ip", "netns", "exec", client_ns.name,
                                 os.path.join(BIN, "c10m-client")] + args,
                                capture_output=True, text=True, timeout=600)
        summary = [json.loads(line) for line in client.stdout.splitlines()
                   if line.startswith("{") and '"summary"' in line][-1]
        time.sleep(2)
        after = server_ns.tcp()
        held_after = int(server_ns.run("ss", "-Htn", "state", "established").count("\n"))
        server.terminate()
        out, _ = server.communicate(timeout=30)
        server_summary = [json.loads(line) for line in out.splitlines()
                          if line.startswith("{") and '"summary"' in line][-1:]
    finally:
        for ns in all_ns:
            ns.delete()
    record = {
        "mode": mode, "connections": conns, "ping_interval_s": float(ping), "setup": setup, "client_exit": client.returncode,
        "client": summary, "server": server_summary[0] if server_summary else None,
        "server_tcp_before": before, "server_tcp_after": after,
        "server_established_after": held_after,
        "machine": machine(),
        "command": "".join(f"{k}={os.environ[k]} " for k in ("TUN_CONNS", "TUN_LOSS", "TUN_PING")
                           if k in os.environ) + f"python3 scripts/tun-wire.py {mode}",
        "date": time.strftime("%Y-%m-%d"),
    }
    ok = client.returncode == 0 and held_after == 0 and after["orphans"] == before["orphans"]
    w = summary["wire"]
    md = [f"# tun-wire {mode}", "",
          "| measured | value |", "|---|---|",
          f"| connections established / asked | {summary['established']:,} / {conns:,} |",
          f"| ping interval (s), hold (s) | {ping}, {summary['held_s']:.0f} |",
          f"| pings sent / echoed intact / unanswered | {summary['pings_sent']:,} / "
          f"{summary['pings_ok']:,} / {summary['pings_unanswered']:,} |",
          f"| failures | {summary['failed'] or 'none'} |",
          f"| client exit | {client.returncode} |",
          f"| segments sent again | {w['retransmitted']:,} |",
          f"| duplicate SYN-ACKs / duplicate / out-of-order segments received | "
          f"{w['duplicate_synacks']:,} / {w['duplicates_received']:,} / "
          f"{w['out_of_order_received']:,} |",
          f"| stray segments reset / resets unconfirmed | {w['stray_resets']:,} / "
          f"{w['unconfirmed_resets']:,} |",
          f"| client bytes per connection (RSS at peak) | {summary['rss_bytes_per_conn']} |",
          f"| ping rtt p50 / p99 (us) | {summary['rtt_p50_us']:,} / {summary['rtt_p99_us']:,} |",
          f"| server namespace: TCP sockets / orphans before | {before['sockets']} / "
          f"{before['orphans']} |",
          f"| server namespace: TCP sockets / orphans after the client | {after['sockets']} / "
          f"{after['orphans']} |",
          f"| server connections still established after | {held_after} |",
          "", f"Setup: {setup}.", "",
          f"Machine: {record['machine']}. Command: `{record['command']}`. Date: {record['date']}."]
    out_dir = os.path.join(ROOT, "bench", "results", f"tun-wire-{mode}")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
