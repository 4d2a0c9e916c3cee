//! The TUN engine on a path that loses segments, across namespaces joined by veth pairs the way
//! two machines are joined by a wire, and over IPv6. Each test makes its own namespaces (deleted
//! with everything in them, nftables tables and veth pairs included) and skips visibly where
//! namespaces or `nft` cannot be had.
//!
//! Loss is nftables' `numgen random mod 100 < K drop` (the kernel here has no netem), always on
//! the receiving side (prerouting) or on a router's forward hook, where a drop is silent like a
//! wire's. A drop in the output hook is not: the sending kernel sees the error, and a listener
//! whose SYN-ACK retransmission fails that way drops the request, so the client's next segment
//! meets a RST (seen while writing these tests).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::util::{self, skip, u, wait_until, Dump, Netns, Proc, Run, ServerGuard};

/// Connections of the lossy runs, and how they ping.
const LOSSY: &[&str] = &[
    "-n",
    "5000",
    "--hold",
    "8",
    "--ping-interval",
    "2",
    "--payload",
    "100-3000",
    // A SYN lost three times in a row waits 7 s (1 + 2 + 4); the default 5 s would fail it.
    "--connect-timeout",
    "30",
    // A server whose SYN-ACK went twice waits 3 s before it sends lost data again, then 6 s,
    // then 12 s (RFC 6298 5.7), and one whose handshake took a second waits longer still: far
    // longer than the default 5 s after the hold. Kernel sockets need it as much.
    "--drain",
    "60",
];

/// The socket engine's source in the client's namespace: in 198.19.0.0/16 like the TUN
/// engine's, so the same loss rules match it, and far from the TUN engine's first address.
const SOCKET_SOURCE: &str = "198.19.255.1";

fn nft_or_skip() -> bool {
    let ok = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip("needs nft (make setup installs it)");
    }
    ok
}

fn must(r: std::io::Result<impl Sized>, what: &str) {
    if let Err(e) = r {
        panic!("{what}: {e}");
    }
}

/// A veth pair from `a` (address `a_addr`/30) to `b` (`b_addr`/30), both ends up.
fn link(a: &Netns, a_addr: &str, b: &Netns, b_addr: &str) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let (an, bn) = (format!("cv{n}a"), format!("cv{n}b"));
    must(
        a.ip(&[
            "link", "add", &an, "type", "veth", "peer", "name", &bn, "netns", &b.name,
        ]),
        "ip link add veth",
    );
    for (ns, dev, addr) in [(a, &an, a_addr), (b, &bn, b_addr)] {
        must(
            ns.ip(&["addr", "add", &format!("{addr}/30"), "dev", dev]),
            "ip addr add",
        );
        must(ns.ip(&["link", "set", dev, "up"]), "ip link set up");
    }
}

fn sysctl(ns: &Netns, kv: &str) {
    must(ns.exec(&["sysctl", "-qw", kv], ""), "sysctl");
}

/// Drops `percent`% of what `chain` (a hook) sees matching `rule`, in `ns`.
fn loss(ns: &Netns, hook: &str, rule: &str, percent: u32) {
    let table = format!(
        "table inet c10m_loss {{\n chain c {{ type filter hook {hook} priority -300; {rule} numgen random mod 100 < {percent} drop; }}\n}}\n"
    );
    must(ns.exec(&["nft", "-f", "-"], &table), "nft -f");
}

/// The server's established connections from `peer`, as `ss` counts them.
fn established_from(ns: &Netns, peer: &str) -> usize {
    ns.exec(&["ss", "-Htn", "state", "established", "dst", peer], "")
        .map_or(usize::MAX, |o| o.lines().count())
}

/// Sockets the server's namespace holds that no process does any more (closed, still sending
/// their FIN or their last data): its orphans. `/proc/net/sockstat`'s `orphan` counts the whole
/// machine's, whatever else runs, so they are counted by state in the namespace instead.
fn orphans(ns: &Netns) -> usize {
    ns.exec(
        &[
            "ss",
            "-Htn",
            "state",
            "fin-wait-1",
            "state",
            "fin-wait-2",
            "state",
            "closing",
            "state",
            "last-ack",
        ],
        "",
    )
    .map_or(usize::MAX, |o| o.lines().count())
}

/// A client namespace and a server namespace (198.18.0.1) joined by a veth pair: the client
/// forwards what its TUN device sends (`ip_forward`, as on a client machine), the server
/// routes 198.19.0.0/16 back to it (the static route of docs/labs/tun.md).
struct Pair {
    client: Netns,
    server: Netns,
}

fn pair() -> Option<Pair> {
    let server = Netns::or_skip()?;
    let client = Netns::bare().expect("a second namespace");
    link(&client, "198.18.1.1", &server, "198.18.1.2");
    must(
        client.ip(&["route", "add", "198.18.0.1/32", "via", "198.18.1.2"]),
        "route",
    );
    sysctl(&client, "net.ipv4.ip_forward=1");
    must(
        server.ip(&["route", "add", "198.19.0.0/16", "via", "198.18.1.1"]),
        "route",
    );
    must(
        client.ip(&["addr", "add", &format!("{SOCKET_SOURCE}/32"), "dev", "lo"]),
        "ip addr add",
    );
    Some(Pair { client, server })
}

fn client_in(ns: &Netns, server: &ServerGuard, engine: &[&str]) -> Proc {
    let target = server.addr_string();
    let mut args = vec!["--target", &target, "--allow-remote", "--json"];
    args.extend_from_slice(engine);
    args.extend_from_slice(LOSSY);
    Proc::spawn_in(ns, "c10m-client", &args)
}

/// What the client said and did, for the comparison.
#[derive(Debug)]
struct Outcome {
    established: u64,
    pings_sent: u64,
    pings_ok: u64,
    /// The server's connections from this client still established after it left.
    left_on_server: usize,
}

fn outcome(run: &Run, sum: &Value, left_on_server: usize) -> Outcome {
    util::ensure!([run], run.code().is_some(), "the client was killed");
    Outcome {
        established: u(sum, "established"),
        pings_sent: u(sum, "pings_sent"),
        pings_ok: u(sum, "pings_ok"),
        left_on_server,
    }
}

/// Every ping echoed, every connection made, exit 0, the wire's counts where they belong.
#[track_caller]
fn ensure_whole(parts: &[&dyn Dump], sum: &Value, n: u64) {
    util::ensure!(parts, u(sum, "established") == n, "established: {sum}");
    let sent = u(sum, "pings_sent");
    util::ensure!(parts, sent >= n, "every connection pings: {sum}");
    util::ensure!(
        parts,
        u(sum, "pings_ok") == sent,
        "every ping echoed: {sum}"
    );
    util::ensure!(parts, u(sum, "echo_mismatches") == 0, "{sum}");
    util::ensure!(
        parts,
        u(&sum["wire"], "unconfirmed_resets") == 0,
        "every reset confirmed: {sum}"
    );
}

fn lossy(percent: u32) {
    let _g = util::shared();
    if !nft_or_skip() {
        return;
    }
    let Some(p) = pair() else { return };
    loss(&p.server, "prerouting", "ip saddr 198.19.0.0/16", percent);
    loss(&p.client, "prerouting", "ip daddr 198.19.0.0/16", percent);
    let server = ServerGuard::start_in(&p.server, &[]);
    let tun = client_in(&p.client, &server, &["--engine", "tun"]);
    let socket = client_in(
        &p.client,
        &server,
        &["--engine", "socket", "--source", SOCKET_SOURCE],
    );
    let tun = tun.wait_with(Duration::from_secs(150), &[&server]);
    let socket = socket.wait_with(Duration::from_secs(150), &[&server]);
    let (ts, ss) = (tun.summary(), socket.summary());
    let parts: [&dyn Dump; 3] = [&tun, &socket, &server];
    util::ensure!(parts, tun.code() == Some(0), "the TUN client failed");
    ensure_whole(&parts, &ts, 5000);
    util::ensure!(
        parts,
        u(&ts["wire"], "retransmitted") > 0,
        "{percent}% lost: something was sent again: {ts}"
    );
    let left = |peer| {
        wait_until(Duration::from_secs(5), || {
            established_from(&p.server, peer) == 0
        });
        established_from(&p.server, peer)
    };
    let (t, s) = (
        outcome(&tun, &ts, left("198.19.0.1")),
        outcome(&socket, &ss, left(SOCKET_SOURCE)),
    );
    eprintln!(
        "{percent}% loss each way: tun {t:?}\n  socket {s:?}\n  tun wire {}",
        ts["wire"]
    );
    util::ensure!(parts, t.left_on_server == 0, "the server still holds {t:?}");
    util::ensure!(
        parts,
        t.established >= s.established
            && t.pings_sent - t.pings_ok <= s.pings_sent - s.pings_ok
            && t.left_on_server <= s.left_on_server,
        "the TUN engine did worse than kernel sockets: {t:?} against {s:?}"
    );
    util::ensure!(
        parts,
        wait_until(Duration::from_secs(5), || orphans(&p.server) == 0),
        "the server's namespace holds {} orphans",
        orphans(&p.server)
    );
}

#[test]
fn one_percent_lost_each_way_every_ping_echoed_nothing_left() {
    lossy(1);
}

#[test]
fn five_percent_lost_each_way_every_ping_echoed_nothing_left() {
    lossy(5);
}

#[test]
fn two_hosts_through_a_lossy_router() {
    let _g = util::shared();
    if !nft_or_skip() {
        return;
    }
    let Some(server) = Netns::or_skip() else {
        return;
    };
    let client = Netns::bare().expect("a namespace");
    let router = Netns::bare().expect("a namespace");
    link(&client, "198.18.1.1", &router, "198.18.1.2");
    link(&router, "198.18.2.1", &server, "198.18.2.2");
    for (ns, dst, via) in [
        (&client, "198.18.0.1/32", "198.18.1.2"),
        (&router, "198.18.0.1/32", "198.18.2.2"),
        (&router, "198.19.0.0/16", "198.18.1.1"),
        (&server, "198.19.0.0/16", "198.18.2.1"),
    ] {
        must(ns.ip(&["route", "add", dst, "via", via]), "ip route add");
    }
    sysctl(&client, "net.ipv4.ip_forward=1");
    sysctl(&router, "net.ipv4.ip_forward=1");
    loss(&router, "forward", "", 2);
    let srv = ServerGuard::start_in(&server, &[]);
    let target = srv.addr_string();
    let run = Proc::spawn_in(
        &client,
        "c10m-client",
        &[
            "--engine",
            "tun",
            "--target",
            &target,
            "--allow-remote",
            "--json",
            "-n",
            "2000",
            "--hold",
            "4",
            "--ping-interval",
            "1",
            "--payload",
            "100-3000",
            "--connect-timeout",
            "30",
            "--drain",
            "60",
        ],
    )
    .wait_with(Duration::from_secs(150), &[&srv]);
    let sum = run.summary();
    let parts: [&dyn Dump; 2] = [&run, &srv];
    util::ensure!(parts, run.code() == Some(0), "the client failed");
    ensure_whole(&parts, &sum, 2000);
    util::ensure!(
        parts,
        wait_until(Duration::from_secs(5), || established_from(
            &server,
            "198.19.0.0/16"
        ) == 0),
        "the server still holds {} connections",
        established_from(&server, "198.19.0.0/16")
    );
    util::ensure!(
        parts,
        wait_until(Duration::from_secs(5), || orphans(&server) == 0),
        "the server's namespace holds {} orphans",
        orphans(&server)
    );
}

#[test]
fn ipv6_five_thousand_via_tun_every_ping_echoed() {
    let _g = util::shared();
    let Some(ns) = Netns::or_skip() else { return };
    must(
        ns.ip(&["addr", "add", "2001:2::1/128", "dev", "lo", "nodad"]),
        "ip addr add",
    );
    let server = ServerGuard::start_listening(&ns, "[2001:2::1]:0", &[]);
    let target = server.addr_string();
    let run = Proc::spawn_in(
        &ns,
        "c10m-client",
        &[
            "--engine",
            "tun",
            "--target",
            &target,
            "--allow-remote",
            "--json",
            "-n",
            "5000",
            "--hold",
            "2",
            "--ping-interval",
            "0.5",
            "--payload",
            "100-3000",
        ],
    )
    .wait_with(Duration::from_secs(60), &[&server]);
    let sum = run.summary();
    let parts: [&dyn Dump; 2] = [&run, &server];
    util::ensure!(parts, run.code() == Some(0), "the client failed");
    ensure_whole(&parts, &sum, 5000);
    // The server listens on its IPv6 address alone: every connection it held came over IPv6.
    let peak = server.ticks().iter().map(|t| u(t, "peak")).max();
    util::ensure!(parts, peak == Some(5000), "the server held them all");
    util::ensure!(
        parts,
        wait_until(Duration::from_secs(5), || server
            .last_tick()
            .is_some_and(|t| u(&t, "connections") == 0)),
        "the server still holds connections after the teardown"
    );
}
