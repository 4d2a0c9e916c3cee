#!/usr/bin/env python3
"""make cluster: the Kubernetes recipe of deploy/k8s run on this one machine, with a real
Prometheus adding the shards up.

A server namespace and CLUSTER_HOSTS client "hosts" (one network namespace each), joined by veth
pairs to a bridge in the server's namespace, addresses in 198.18.0.0/15: 198.18.0.1 is the
server (the name c10m-server resolves to it on every host, as the Service's name does in a
cluster), 198.18.1.x the hosts. The server runs the Deployment's command; host I runs the Job's
client command with JOB_COMPLETION_INDEX=I and START_AT from the run, so the manifests are
what is tested. The pods' sysctls are set in their namespaces. Only the run's size changes:
`--max-conns` and `-n` become CLUSTER_CONNS, `--shard auto/N` takes N = CLUSTER_HOSTS,
`--hold` and `--ping-interval` become CLUSTER_HOLD.

Prometheus (Debian's package) runs in the server's namespace with the scrape configuration of
prometheus.yaml, fixed targets in place of Kubernetes discovery. The run passes when PromQL says
sum(c10m_client_connections) and sum(c10m_server_connections) are CLUSTER_CONNS, no failure,
no echo mismatch; every shard's summary agrees (its part held, every ping echoed); the shards'
ramps started within 100 ms; the server's ticks never fell more than 1.1 s apart. It prints
p50/p99 RTT from the merged histogram beside each shard's own.

  CLUSTER_HOSTS=8 CLUSTER_CONNS=200000 CLUSTER_HOLD=20 make cluster
  CLUSTER_OUT=bench/results/cluster (summary.json, summary.md, report.html: the server's
      --report, its dashboard with the whole run inline; the URL is printed while it runs)

Exit: 0 passed, 1 failed, 77 skipped (not root, no network namespaces, or no Prometheus: the
message says how to install it). Everything it made (namespaces, processes, /etc/netns files)
is gone when it exits, however it exits.
"""

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import k8s  # noqa: E402
from lab.cleanup import teardown, track_process  # noqa: E402
from lab.errors import LabError  # noqa: E402
from lab.netns import Netns, netns_available  # noqa: E402
from lab.run import Proc, sh, wait_for  # noqa: E402
from procutil import env_num, fact, machine  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTS = env_num("CLUSTER_HOSTS", 8, low=1)
CONNS = env_num("CLUSTER_CONNS", 200000, low=1)
HOLD = env_num("CLUSTER_HOLD", 20.0, float, low=0)
OUT = os.path.join(ROOT, os.environ.get("CLUSTER_OUT", "bench/results/cluster"))
SERVER_IP = "198.18.0.1"
PROM_PORT = 9090
# Kernel memory per connection with both ends on this machine (make bench: 9,984.6 B per pair)
# plus a margin, and what the machine keeps free.
BYTES_PER_CONN = 10_500
KEEP_FREE = 1 << 30
SKIPPED = 77


def log(msg):
    print(f"cluster: {msg}", file=sys.stderr, flush=True)


def host_ip(i):
    return f"198.18.{1 + i // 250}.{1 + i % 250}"


class Prometheus:
    """Debian's prometheus in the server's namespace, queried over its HTTP API from inside."""

    def __init__(self, ns, config, work):
        self.ns = ns
        path = os.path.join(work, "prometheus.yml")
        with open(path, "w") as f:
            json.dump(config, f)  # JSON is YAML
        self.url = f"http://127.0.0.1:{PROM_PORT}"
        self.p = subprocess.Popen(
            ns.exec_cmd(["prometheus", f"--config.file={path}",
                         f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                         f"--web.listen-address=127.0.0.1:{PROM_PORT}", "--log.level=warn"]),
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prometheus.log"), "w"),
            start_new_session=True)
        track_process(self)

    def get(self, path):
        code = ("import sys, urllib.request\n"
                "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())")
        r = subprocess.run(self.ns.exec_cmd([sys.executable, "-c", code, self.url + path]),
                           capture_output=True, text=True, timeout=20)
        return r.stdout if r.returncode == 0 else None

    def query(self, expr):
        """The PromQL instant vector as [(labels, value)], or None when Prometheus fails."""
        import urllib.parse
        text = self.get("/api/v1/query?query=" + urllib.parse.quote(expr))
        if not text:
            return None
        body = json.loads(text)
        if body.get("status") != "success":
            return None
        return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]

    def scalar(self, expr):
        """One value of `expr` (0 for an empty result), or None."""
        res = self.query(expr)
        if res is None:
            return None
        return res[0][1] if res else 0.0

    def kill(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait(10)

    def delete(self):
        self.kill()


def skip(msg):
    print(f"SKIPPED make cluster: {msg}", flush=True)
    sys.exit(SKIPPED)


def preflight():
    if not 1 <= HOSTS <= 64:
        sys.exit(f"cluster: CLUSTER_HOSTS={HOSTS}: give 1 to 64 hosts")
    if CONNS < HOSTS:
        sys.exit(f"cluster: CLUSTER_CONNS={CONNS} is fewer than one connection per host")
    if os.geteuid() != 0:
        skip("needs root for network namespaces (sudo make cluster)")
    why = netns_available()
    if why:
        skip(f"cannot make network namespaces: {why}")
    if shutil.which("prometheus") is None:
        skip("Prometheus is not installed: make setup installs it (apt-get install prometheus)")
    need = CONNS * BYTES_PER_CONN + KEEP_FREE
    have = fact("meminfo")["mem_available"]
    if need > have:
        sys.exit(f"cluster: {CONNS:,} connections need about {need / 2**30:.1f} GiB with both ends "
                 f"on this machine, {have / 2**30:.1f} GiB is available: lower CLUSTER_CONNS "
                 f"to {max(0, (have - KEEP_FREE) // BYTES_PER_CONN):,} or fewer")


def commands():
    """The server's and the client template's argv from the manifests, resized for this run."""
    server = k8s.find("server.yaml", "Deployment")
    job = k8s.find("client-job.yaml", "Job")
    s_args = k8s.replace_flag(k8s.argv(server, {}), "--max-conns", CONNS)
    c_args = k8s.argv(job, {"START_AT": "$(START_AT)"})
    c_args = k8s.replace_flag(c_args, "-n", CONNS)
    c_args = k8s.replace_flag(c_args, "--shard", f"auto/{HOSTS}")
    for f in ("--hold", "--ping-interval"):
        c_args = k8s.replace_flag(c_args, f, f"{HOLD:g}")
    return server, s_args, job, c_args


def build_network(server_sysctls, client_sysctls):
    srv = Netns("cl-srv", sysctls=server_sysctls)
    sh(["ip", "-n", srv.name, "link", "add", "br0", "type", "bridge"])
    sh(["ip", "-n", srv.name, "addr", "add", f"{SERVER_IP}/15", "dev", "br0"])
    sh(["ip", "-n", srv.name, "link", "set", "br0", "up"])
    hosts_file = f"127.0.0.1 localhost\n{SERVER_IP} c10m-server\n"
    hosts = []
    for i in range(HOSTS):
        h = Netns(f"cl-h{i}", sysctls=client_sysctls, etc_hosts=hosts_file)
        veth = f"v{i}"
        sh(["ip", "-n", srv.name, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
            "netns", h.name])
        sh(["ip", "-n", srv.name, "link", "set", veth, "master", "br0", "up"])
        sh(["ip", "-n", h.name, "addr", "add", f"{host_ip(i)}/15", "dev", "eth0"])
        sh(["ip", "-n", h.name, "link", "set", "eth0", "up"])
        hosts.append(h)
    return srv, hosts


def tick_gap(server):
    ticks = [t["elapsed_s"] for t in server.json("tick")]
    return max((b - a for a, b in zip(ticks, ticks[1:])), default=0.0)


def run(work):
    server_w, s_args, job, c_args = commands()
    log(f"{HOSTS} hosts x {CONNS // HOSTS:,} = {CONNS:,} connections, hold {HOLD:g} s; "
        f"machine: {machine()}")
    srv, hosts = build_network(k8s.sysctls(server_w), k8s.sysctls(job))
    # The Deployment's command, with the dashboard and its report beside the summary.
    report = os.path.join(work, "report.html")
    server = Proc(srv, s_args[0], s_args[1:] + ["--dashboard", f"{SERVER_IP}:0", "--report", report])
    if not server.out.wait_for("listening on", 20):
        raise LabError("the server did not start:\n" + server.dump())
    def dashboard():
        return next((l.split("dashboard at ", 1)[1] for l in list(server.stderr_lines)
                     if "dashboard at " in l), None)
    if wait_for(dashboard, 5, 0.1):
        url = dashboard()
        log(f"the server's dashboard: {url} (inside namespace {srv.name}: "
            f"ip netns exec {srv.name} scripts/browse.py {url} shot.png)")
    targets = {"c10m-server": [(f"{SERVER_IP}:{k8s.flag(s_args, '--metrics').rsplit(':', 1)[1]}", {})],
               "c10m-client": [(f"{host_ip(i)}:{k8s.flag(c_args, '--metrics').rsplit(':', 1)[1]}",
                                {"shard": str(i)}) for i in range(HOSTS)]}
    prom = Prometheus(srv, k8s.static_prometheus_config(targets), work)
    if not wait_for(lambda: prom.get("/-/ready"), 60, 0.5):
        raise LabError("Prometheus did not become ready: see " + os.path.join(work, "prometheus.log"))
    start_at = time.time() + 3 + 0.25 * HOSTS
    clients = []
    for i, h in enumerate(hosts):
        env = {"JOB_COMPLETION_INDEX": i}
        argv = [k8s.expand(a, {"START_AT": f"{start_at:.3f}"}) for a in c_args]
        clients.append(Proc(h, argv[0], argv[1:], env=env))
    log(f"{HOSTS} shards started, ramping at {start_at:.3f}: {clients[0].display}")

    ramp_timeout = 60 + CONNS / 2000
    held = wait_for(lambda: (prom.scalar("sum(c10m_client_connections)") == CONNS
                             and prom.scalar("sum(c10m_server_connections)") == CONNS), ramp_timeout, 1.0)
    seen_at = time.time()
    figures = {
        "client_connections": prom.scalar("sum(c10m_client_connections)"),
        "server_connections": prom.scalar("sum(c10m_server_connections)"),
    }
    # Let most pings of the hold happen before reading the merged latencies.
    time.sleep(max(0.0, min(HOLD * 0.75, start_at + HOLD - time.time())))
    figures["client_failures"] = prom.scalar("sum(c10m_client_failures_total)")
    figures["echo_mismatches"] = prom.scalar("sum(c10m_client_echo_mismatches_total)")
    figures["pings_ok"] = prom.scalar("sum(c10m_client_pings_ok_total)")
    merged = {q: prom.scalar(f"histogram_quantile({q}, sum by (le) (c10m_client_rtt_seconds_bucket))")
              for q in (0.5, 0.99)}
    per_shard = {}
    for q in (0.5, 0.99):
        for labels, v in prom.query(
                f"histogram_quantile({q}, sum by (le, shard) (c10m_client_rtt_seconds_bucket))") or []:
            per_shard.setdefault(int(labels.get("shard", -1)), {})[q] = v

    for c in clients:
        c.wait(HOLD + ramp_timeout + 60)
    server.stop(60)
    if os.path.exists(report):
        os.makedirs(OUT, exist_ok=True)
        shutil.copyfile(report, os.path.join(OUT, "report.html"))
    summaries = [c.last("summary") or {} for c in clients]
    server_sum = server.last("summary") or {}
    starts = [s.get("ramp_started_unix_s") for s in summaries if s.get("ramp_started_unix_s")]
    spread = (max(starts) - min(starts)) if len(starts) == HOSTS else None
    gap = tick_gap(server)

    shards = []
    for i, s in enumerate(summaries):
        shards.append({
            "shard": i, "host": host_ip(i),
            "established": s.get("established"), "requested": s.get("requested"),
            "pings_sent": s.get("pings_sent"), "pings_ok": s.get("pings_ok"),
            "pings_unanswered": s.get("pings_unanswered"), "echo_mismatches": s.get("echo_mismatches"),
            "failed": s.get("failed"), "rtt_p50_us": s.get("rtt_p50_us"), "rtt_p99_us": s.get("rtt_p99_us"),
            "prometheus_p50_s": per_shard.get(i, {}).get(0.5), "prometheus_p99_s": per_shard.get(i, {}).get(0.99),
            "ramp_started_unix_s": s.get("ramp_started_unix_s"), "exit": clients[i].p.returncode,
        })
    checks = [
        ("Prometheus: sum(c10m_client_connections) == CLUSTER_CONNS", bool(held) and figures["client_connections"] == CONNS),
        ("Prometheus: sum(c10m_server_connections) == CLUSTER_CONNS", bool(held) and figures["server_connections"] == CONNS),
        ("Prometheus: no client failures, no echo mismatches",
         figures["client_failures"] == 0 and figures["echo_mismatches"] == 0),
        ("every shard held its part, every ping echoed intact, exit 0",
         all(s["established"] == s["requested"] and s["pings_sent"] and s["pings_sent"] == s["pings_ok"]
             and s["pings_unanswered"] == 0 and s["echo_mismatches"] == 0 and s["exit"] == 0 for s in shards)
         and sum(s["established"] or 0 for s in shards) == CONNS),
        ("the server accepted CLUSTER_CONNS", server_sum.get("accepted") == CONNS),
        ("shards started within 100 ms of each other", spread is not None and spread <= 0.1),
        ("server tick gap under 1.1 s", 0 < gap < 1.1),
    ]
    return {
        "hosts": HOSTS, "connections": CONNS, "hold_s": HOLD,
        "held_after_s": round(seen_at - start_at, 3) if held else None,
        "prometheus": {**figures, "rtt_p50_s": merged[0.5], "rtt_p99_s": merged[0.99]},
        "shard_start_spread_s": round(spread, 4) if spread is not None else None,
        "server_tick_gap_max_s": round(gap, 3),
        "server_accepted": server_sum.get("accepted"),
        "shards": shards,
        "checks": [{"check": c, "ok": ok} for c, ok in checks],
        "passed": all(ok for _, ok in checks),
        "server_command": server.display, "client_command": clients[0].display,
        "machine": machine(),
        "command": f"CLUSTER_HOSTS={HOSTS} CLUSTER_CONNS={CONNS} CLUSTER_HOLD={HOLD:g} make cluster",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def us(v):
    return "-" if v is None else f"{v * 1e6:,.0f}"


def render(r):
    p = r["prometheus"]
    md = [f"# make cluster: {r['hosts']} hosts, {r['connections']:,} connections", "",
          "| measure | value |", "|---|---|",
          f"| Prometheus sum(c10m_client_connections) | {p['client_connections']:,.0f} |",
          f"| Prometheus sum(c10m_server_connections) | {p['server_connections']:,.0f} |",
          f"| Prometheus failures / echo mismatches | {p['client_failures']:.0f} / {p['echo_mismatches']:.0f} |",
          f"| RTT p50 / p99, merged histogram (µs) | {us(p['rtt_p50_s'])} / {us(p['rtt_p99_s'])} |",
          f"| shards' ramp starts, spread (s) | {r['shard_start_spread_s']} |",
          f"| server tick gap, max (s) | {r['server_tick_gap_max_s']} |", "",
          "| shard | host | held | pings sent / ok | p50 µs (own / Prometheus) | p99 µs (own / Prometheus) |",
          "|---|---|---|---|---|---|"]
    for s in r["shards"]:
        md.append(f"| {s['shard']} | {s['host']} | {s['established']} / {s['requested']} | "
                  f"{s['pings_sent']} / {s['pings_ok']} | {s['rtt_p50_us']} / {us(s['prometheus_p50_s'])} | "
                  f"{s['rtt_p99_us']} / {us(s['prometheus_p99_s'])} |")
    md += ["", "Each shard's own percentiles are the lower edges of its fine buckets (within ~6%); "
           "Prometheus interpolates inside coarser buckets (powers of two and 1.5x).", ""]
    md += [f"- {'PASS' if c['ok'] else 'FAIL'}: {c['check']}" for c in r["checks"]]
    md += ["", f"Machine: {r['machine']}. Command: `{r['command']}`. Date: {r['date']}.",
           f"Server: `{r['server_command']}`", f"Shard 0: `{r['client_command']}`"]
    return "\n".join(md) + "\n"


def main():
    preflight()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: (teardown(), sys.exit(130)))
    work = tempfile.mkdtemp(prefix="c10m-cluster-")
    try:
        r = run(work)
    except (LabError, subprocess.SubprocessError, OSError) as e:
        print(f"cluster: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        teardown()
        shutil.rmtree(work, ignore_errors=True)
    text = render(r)
    print(text)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(r, f, indent=2)
    with open(os.path.join(OUT, "summary.md"), "w") as f:
        f.write(text)
    log(f"written: {OUT}/summary.json, summary.md; {'PASSED' if r['passed'] else 'FAILED'}")
    return 0 if r["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
