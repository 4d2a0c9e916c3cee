"""nat-gateway (C9, C10, C11 behind a NAT): every client behind one gateway address shares its ports
towards each destination.

Four client namespaces route through a gateway namespace to one server ip:port; the gateway
rewrites their source address to its own (nftables `masquerade`, or `snat`) in postrouting.
Netfilter NAT keeps the rewrite in the connection's conntrack entry, so the reply tuple, (server
ip:port, gateway ip:port), must be unique: get_unique_tuple() (net/netfilter/nf_nat_core.c) keeps
the client's source port when no other entry has it and it lies in the rule's range, else
nf_nat_l4proto_unique_tuple() tries ports of the range from a random offset (all of them when the
range has at most 128, NF_NAT_MAX_ATTEMPTS). Towards one destination the gateway has as many
ports as its range per address, however many clients there are: the 4-tuple limit of
ports-one-pair, now shared by everyone behind the gateway. The range is the rule's `to :LOW-HIGH`
(or 1024-65535 without one): the gateway's own ip_local_port_range plays no part. When no port is
free the tuple clashes, __nf_conntrack_confirm() drops the SYN and counts insert_failed and drop
(/proc/net/stat/nf_conntrack of the gateway's namespace): the client sees nothing, retries and
times out. More gateway addresses (here chosen per connection by `numgen`), or more destination
ports, multiply the ports; `fully-random` does not (it changes which port is picked, not how many
there are); an `snat` address range picks one address per client by a hash of the client's and the
destination's addresses, so it adds ports only across clients. Closed connections hold their port
in the conntrack table (TIME_WAIT, 120 s) but the last 32 tries of the search may evict such an
entry (nf_nat_used_tuple_harder(), Linux 6.5): short connections get through, at the cost of
searches; keep-alive needs a port per connection, not per request.

Everything lives in the lab's namespaces: the veth links, the gateway's ruleset and its conntrack
table go with them. docs/labs/nat-gateway.md is the worksheet.
"""

from ..framework import fmt, in_parallel, main_errno
from ..predictions import plus_minus, quantity, text
from ..run import wait_for

NAME = "nat-gateway"
CLAIMS = "C9, C10, C11"
TITLE = "Behind a NAT gateway every client shares its ports towards each destination"

LOW, HIGH = 10000, 10099
RANGE = HIGH - LOW + 1
CLIENTS, ASK = 4, 100
SERVER, WAN = "198.18.2.100", ["198.18.2.1", "198.18.2.2"]
TIMEOUT, HOLD = 3, 4.5  # every client holds until the others' last SYN has been retried
WIDE_ASK, NARROW_GW_RANGE = 1000, "50000 50009"
CHURN_RATE, CHURN_S, POOL = 50, 4, 10

MASQ = f"masquerade to :{LOW}-{HIGH}"
RULES = {
    "one": MASQ,
    "numgen": f"snat to numgen inc mod 2 map {{ 0 : {WAN[0]}, 1 : {WAN[1]} }} : {LOW}-{HIGH}",
    "hashed": f"snat to {WAN[0]}-{WAN[1]}:{LOW}-{HIGH}",
    "ports": MASQ,
    "random": f"{MASQ} fully-random",
    "wide": "masquerade",
    "churn": MASQ,
    "keepalive": MASQ,
}
RULESET = """table ip c10m_nat {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" meta l4proto tcp {rule}
    }}
}}
"""

PREDICTIONS = [
    quantity("through", f"{CLIENTS} clients behind one gateway ask {ASK} connections each to one "
             f"server ip:port; the gateway masquerades with `to :{LOW}-{HIGH}`. How many "
             "connections does the server hold at once?", "connections", plus_minus(0),
             f"The gateway's reply tuple (server ip:port, gateway ip:port) must be unique, and only "
             f"the gateway's port varies: its {RANGE} ports, shared by every client behind it.",
             paragraph="One tuple per connection, on the gateway."),
    quantity("errno", "What do the clients' other connects fail with?", "errno name", text(),
             "The gateway finds no free port, the SYN's conntrack entry clashes and is dropped at "
             "confirmation (insert_failed, drop): no reply at all, so the client retries the SYN "
             "until its connect timeout: ETIMEDOUT.", paragraph="When the ports run out."),
    quantity("two_addresses", "The same with two gateway addresses, chosen in turn for each new "
             "connection (`numgen`). How many connections at once?", "connections", plus_minus(0),
             "Each gateway address is another reply tuple with the same ports: 2 x the range.",
             paragraph="What moves the limit."),
    quantity("two_ports", "One gateway address again, but the server listens on two ports and the "
             "clients spread over both. How many connections at once?", "connections",
             plus_minus(0),
             "The destination port is part of the reply tuple: each destination ip:port gets the "
             "whole range again, 2 x the range.", paragraph="What moves the limit."),
    quantity("fully_random", f"One address, one port, `{MASQ} fully-random`. How many "
             "connections at once?", "connections", plus_minus(0),
             "fully-random changes which free port is tried first, not how many there are: the "
             "range again.", paragraph="What moves the limit."),
    quantity("wide", f"Plain `masquerade` (no port range) with the gateway's own "
             f"ip_local_port_range set to 10 ports: {CLIENTS} clients ask {fmt(WIDE_ASK)} each. How "
             "many get through?", "connections", plus_minus(0),
             "NAT does not read ip_local_port_range, which is for the gateway's own sockets; "
             "without a range it keeps each client's port when it is free and otherwise draws "
             f"from 1024-65535: all {fmt(CLIENTS * WIDE_ASK)}.", paragraph="Which range."),
]


def gateway(lab, tag, rule, ports):
    """The clients, gateway and server namespaces of one run, wired, the gateway's ruleset loaded
    and a server on each of `ports`; (client namespaces, gateway, servers). The first run's
    set-up is recorded in full, the others' by their ruleset and first client (the rest repeats
    it)."""
    record = tag == "one"
    gw = lab.ns(f"{tag}-gw")
    for key, value in (("net.ipv4.ip_forward", 1), ("net.ipv4.ip_local_port_range", NARROW_GW_RANGE)):
        gw.sysctl(key, value)
    server = lab.ns(f"{tag}-srv")
    lab.wire(gw, "wan", [f"{a}/24" for a in WAN], server, "eth0", [f"{SERVER}/24"], record=record)
    clients = []
    for i in range(1, CLIENTS + 1):
        c = lab.ns(f"{tag}-c{i}")
        lab.wire(gw, f"lan{i}", [f"198.18.1{i}.1/24"], c, "eth0", [f"198.18.1{i}.2/24"],
                 record=record)
        lab.sh(c, "ip", "route", "add", "default", "via", f"198.18.1{i}.1", record=record)
        clients.append(c)
    lab.nft(gw, RULESET.format(rule=rule))
    servers = [lab.server(server, f"{SERVER}:{p}", "--quiet", record=record) for p in ports]
    return clients, gw, servers


def start_clients(lab, clients, *args):
    """c10m-client in every client namespace; the first one's command recorded."""
    return [lab.client_start(c, *args, record=i == 0) for i, c in enumerate(clients)]


def conntrack(gw):
    return gw.kernel("conntrack")["conntrack"]


def hold_run(lab, tag, ports=(7000,), ask=ASK):
    """The clients ask `ask` connections each and hold them; what got through."""
    clients, gw, servers = gateway(lab, tag, RULES[tag], ports)
    target = f"{SERVER}:{ports[0]}" + (f"-{ports[-1]}" if len(ports) > 1 else "")
    procs = start_clients(lab, clients, "-n", ask, "--target", target, "--connect-timeout", TIMEOUT,
                          "--hold", HOLD, "--quiet")
    entries = [0]

    def peak():
        entries[0] = max(entries[0], int(gw.get("net.netfilter.nf_conntrack_count")))
        return all(p.p.poll() is not None for p in procs)
    wait_for(peak, TIMEOUT + HOLD + 30, 0.3)
    for p in procs:
        p.wait(30)
    for s in servers:
        s.stop()
    summaries = [p.last("summary") or {} for p in procs]
    failed = {}
    for s in summaries:
        for k, v in s.get("failed", {}).items():
            failed[k] = failed.get(k, 0) + v
    return {"server": sum((s.last("summary") or {}).get("peak_connections", 0) for s in servers),
            "clients": [s.get("established", 0) for s in summaries], "failed": failed,
            "entries": entries[0], **counters(conntrack(gw))}


def counters(ct):
    return {k: ct.get(k, 0) for k in ("insert_failed", "drop", "found")}


def request_run(lab, tag, mode_args):
    """Short requests (churn) or the same over a pool (keep-alive); answered, entries left."""
    clients, gw, _ = gateway(lab, tag, RULES[tag], (7000,))
    procs = start_clients(lab, clients, "--target", f"{SERVER}:7000", "--rate", CHURN_RATE,
                          "--duration", CHURN_S, "--connect-timeout", TIMEOUT, "--quiet", *mode_args)
    for p in procs:
        p.wait(CHURN_S + 60)
    summaries = [p.last("summary") or {} for p in procs]
    return {**{k: sum(s.get(k, 0) for s in summaries)
               for k in ("requests", "requests_ok", "requests_delayed", "opened")},
            "failed": sum(sum(s.get("failed", {}).values()) for s in summaries),
            "entries": int(gw.get("net.netfilter.nf_conntrack_count")), **counters(conntrack(gw))}


def run(lab):
    parts = {
        "one": lambda: hold_run(lab, "one"),
        "numgen": lambda: hold_run(lab, "numgen"),
        "hashed": lambda: hold_run(lab, "hashed"),
        "ports": lambda: hold_run(lab, "ports", ports=(7000, 7001)),
        "random": lambda: hold_run(lab, "random"),
        "wide": lambda: hold_run(lab, "wide", ask=WIDE_ASK),
        "churn": lambda: request_run(lab, "churn", ["--mode", "churn"]),
        "keepalive": lambda: request_run(lab, "keepalive", ["--mode", "keepalive", "-n", POOL]),
    }
    report(lab, in_parallel(parts))


def report(lab, r):
    one, asked = r["one"], CLIENTS * ASK
    lab.note(f"Each run: {CLIENTS} client namespaces, each on its own veth to the gateway namespace "
             f"(198.18.1x.0/24), the gateway on a veth to the server's ({SERVER}); the gateway "
             f"forwards (net.ipv4.ip_forward=1 in its namespace) and its ip_local_port_range is "
             f"{NARROW_GW_RANGE}. Its ruleset: `oifname \"wan\" meta l4proto tcp RULE` in a nat "
             "postrouting chain.")
    lab.row(f"{CLIENTS} clients x {ASK} connections to {SERVER}:7000, `{RULES['one']}` "
            f"({fmt(RANGE)} ports): held by the server at once", "C9: ~64k per client IP",
            f"{fmt(one['server'])} (per client: {' / '.join(map(fmt, one['clients']))})")
    lab.row("what the other connects got", "-",
            ", ".join(f"{k} x {fmt(v)}" for k, v in one["failed"].items()) or "none")
    lab.row("where they died: the gateway's conntrack, insert_failed / drop / found (tuples "
            "found taken while searching)", "-",
            f"{fmt(one['insert_failed'])} / {fmt(one['drop'])} / {fmt(one['found'])}")
    lab.row("conntrack entries in the gateway at the peak", "-", fmt(one["entries"]))
    for tag, label, article in (
            ("numgen", f"two gateway addresses in turn (`snat to numgen inc mod 2 map ...`)",
             "C10: more addresses multiply the ports"),
            ("hashed", f"an address range (`snat to {WAN[0]}-{WAN[1]}`)", "-"),
            ("ports", "one address, the server on two ports (7000, 7001)", "C11: more destinations"),
            ("random", f"`{RULES['random']}`", "folklore: fully-random fixes NAT exhaustion")):
        n = r[tag]["server"]
        lab.row(f"{label}: held at once", article,
                f"{fmt(n)} = {n / RANGE:g} x the range; insert_failed {fmt(r[tag]['insert_failed'])}")
    wide = r["wide"]
    lab.row(f"plain `masquerade`, the gateway's ip_local_port_range {NARROW_GW_RANGE}: "
            f"{CLIENTS} x {fmt(WIDE_ASK)} asked, held at once", "-",
            f"{fmt(wide['server'])}; insert_failed {fmt(wide['insert_failed'])}, "
            f"found {fmt(wide['found'])} (a client's port already taken: another port chosen)")
    churn, ka = r["churn"], r["keepalive"]
    for r_, label, article in (
            (churn, f"{CLIENTS} clients x {CHURN_RATE} short connections/s for {CHURN_S} s through "
                    f"{fmt(RANGE)} ports", "C6: keep-alive avoids the cost"),
            (ka, f"the same requests over {POOL} kept-alive connections per client", "-")):
        lab.row(f"{label}: answered / asked, over how many connections; conntrack entries left, "
                "tuples found taken", article,
                f"{fmt(r_['requests_ok'])} / {fmt(r_['requests'])} over {fmt(r_['opened'])}; "
                f"{fmt(r_['entries'])}, {fmt(r_['found'])}"
                + (f" ({fmt(r_['requests_delayed'])} not sent: the pool was busy)"
                   if r_["requests_delayed"] else "")
                + (f"; {fmt(r_['failed'])} failed" if r_["failed"] else ""))

    lab.measure("through", one["server"])
    lab.measure("errno", main_errno(one["failed"]))
    lab.measure("two_addresses", r["numgen"]["server"])
    lab.measure("two_ports", r["ports"]["server"])
    lab.measure("fully_random", r["random"]["server"])
    lab.measure("wide", wide["server"])
    lab.check(f"one address, one destination: exactly the range, {fmt(RANGE)}, of {fmt(asked)} asked "
              "(server and clients agree)", one["server"] == RANGE == sum(one["clients"]))
    lab.check("the rest timed out, dropped at the gateway's conntrack (insert_failed, drop)",
              set(one["failed"]) == {"ETIMEDOUT"} and sum(one["failed"].values()) == asked - RANGE
              and one["insert_failed"] > 0 and one["drop"] >= one["insert_failed"])
    lab.check(f"two gateway addresses: exactly 2 x {fmt(RANGE)}", r["numgen"]["server"] == 2 * RANGE)
    lab.check(f"a second destination port: exactly 2 x {fmt(RANGE)}", r["ports"]["server"] == 2 * RANGE)
    lab.check("fully-random: the same range", r["random"]["server"] == RANGE)
    lab.check("an address range hashed per client: a whole number of ranges, at most two",
              r["hashed"]["server"] in (RANGE, 2 * RANGE))
    lab.check("without a port range NAT ignores the gateway's ip_local_port_range: all through",
              wide["server"] == CLIENTS * WIDE_ASK)
    lab.check(f"short connections through {fmt(RANGE)} ports: none failed, entries within the "
              f"range; keep-alive: none failed, {CLIENTS} x {POOL} entries",
              churn["failed"] == 0 and churn["requests_ok"] >= 0.95 * churn["requests"] > 0
              and churn["entries"] <= RANGE and ka["failed"] == 0 and ka["requests_ok"] > 0
              and ka["entries"] == CLIENTS * POOL)
