//! `c10m-client --engine tun`: the client speaks TCP itself through a TUN device, each test in a
//! throwaway network namespace with c10m-server on 198.18.0.1. Skipped visibly where namespaces
//! cannot be made (not root, no `ip netns`).

use std::time::Duration;

use c10m_sys::process::{self, SIGINT, SIGKILL};

use crate::util::{self, of_type, u, wait_until, Netns, Proc, ServerGuard};

/// `c10m-client --engine tun --target SERVER --allow-remote --json ARGS` inside `ns`.
fn tun_client(ns: &Netns, server: &ServerGuard, args: &[&str]) -> Proc {
    let target = server.addr_string();
    let mut all = vec![
        "--engine",
        "tun",
        "--target",
        &target,
        "--allow-remote",
        "--json",
    ];
    all.extend_from_slice(args);
    Proc::spawn_in(ns, "c10m-client", &all)
}

fn server_conns(server: &ServerGuard) -> Option<u64> {
    server.last_tick().map(|t| u(&t, "connections"))
}

fn no_tun_device(ns: &Netns) -> bool {
    !ns.links().iter().any(|l| l.starts_with("c10m"))
}

#[test]
fn five_thousand_via_tun_agree_on_both_ends_and_leave_nothing() {
    let _g = util::shared();
    let Some(ns) = Netns::or_skip() else { return };
    let server = ServerGuard::start_in(&ns, &[]);
    let before = ns.sockstat();
    let run = tun_client(
        &ns,
        &server,
        &[
            "-n",
            "5000",
            "--hold",
            "1.5",
            "--ping-interval",
            "0.5",
            "--payload",
            "100-3000",
        ],
    )
    .wait(Duration::from_secs(60));
    assert_eq!(
        run.code(),
        Some(0),
        "client failed:\n{}{}",
        run.stdout,
        run.stderr
    );
    let sum = run.summary();
    assert_eq!(u(&sum, "established"), 5000, "{sum}");
    let sent = u(&sum, "pings_sent");
    assert!(sent >= 5000, "every connection pings at least once: {sum}");
    assert_eq!(u(&sum, "pings_ok"), sent, "{sum}");
    assert_eq!(u(&sum, "echo_mismatches"), 0);
    let plan = &of_type(&run.json(), "plan")[0];
    assert_eq!(plan["engine"], "tun");
    // The server held all of them, and the client's resets closed every one.
    let server_peak = server
        .ticks()
        .iter()
        .map(|t| u(t, "peak"))
        .max()
        .unwrap_or(0);
    assert_eq!(server_peak, 5000);
    assert!(
        wait_until(Duration::from_secs(5), || server_conns(&server) == Some(0)),
        "the server still holds {:?} connections after the client's teardown",
        server_conns(&server)
    );
    let after = ns.sockstat();
    assert_eq!(
        (after.tcp_inuse, after.tcp_orphan),
        (before.tcp_inuse, before.tcp_orphan),
        "sockstat inuse/orphan back where they were"
    );
    assert!(
        no_tun_device(&ns),
        "the TUN device outlived the client: {:?}",
        ns.links()
    );
    let srv = server.terminate();
    let s = srv.summary();
    assert_eq!(u(&s, "accepted"), 5000);
    // At least 100 bytes per ping came back, and every connection ended in the client's reset.
    assert!(u(&s, "bytes_echoed") >= 100 * sent, "{s}");
    assert_eq!(u(&s["close_errors"], "ECONNRESET"), 5000, "{s}");
}

#[test]
fn no_listener_is_econnrefused() {
    let _g = util::shared();
    let Some(ns) = Netns::or_skip() else { return };
    let run = Proc::spawn_in(
        &ns,
        "c10m-client",
        &[
            "--engine",
            "tun",
            "--target",
            "198.18.0.1:9",
            "--allow-remote",
            "--json",
            "-n",
            "20",
            "--hold",
            "0.2",
        ],
    )
    .wait(Duration::from_secs(30));
    assert_eq!(run.code(), Some(1), "{}{}", run.stdout, run.stderr);
    let sum = run.summary();
    assert_eq!(u(&sum["failed"], "ECONNREFUSED"), 20, "{sum}");
    assert_eq!(u(&sum, "established"), 0);
    let failures = of_type(&run.json(), "failure");
    assert_eq!(failures[0]["step"], "connect()");
}

#[test]
fn sigint_mid_ramp_resets_everything_it_opened() {
    let _g = util::shared();
    let Some(ns) = Netns::or_skip() else { return };
    let server = ServerGuard::start_in(&ns, &[]);
    let mut client = tun_client(
        &ns,
        &server,
        &["-n", "19000", "--rate", "4000", "--hold", "0"],
    );
    assert!(
        wait_until(Duration::from_secs(10), || server_conns(&server)
            .unwrap_or(0)
            >= 2000),
        "the ramp did not start"
    );
    client.signal(SIGINT);
    let run = client.wait(Duration::from_secs(20));
    let sum = run.summary();
    assert_eq!(sum["interrupted"], true, "{sum}");
    let opened = u(&sum, "established");
    assert!(opened > 0 && opened < 19000, "stopped mid-ramp: {sum}");
    assert!(
        wait_until(Duration::from_secs(5), || server_conns(&server) == Some(0)),
        "server still holds {:?} after the client's SIGINT",
        server_conns(&server)
    );
    assert!(no_tun_device(&ns));
    assert_eq!(u(&server.terminate().summary(), "accepted"), opened);
}

#[test]
fn sigkill_of_the_client_leaves_the_server_holding_until_it_closes() {
    let _g = util::shared();
    let Some(ns) = Netns::or_skip() else { return };
    let server = ServerGuard::start_in(&ns, &[]);
    let client = tun_client(&ns, &server, &["-n", "2000", "--hold", "0"]);
    assert!(
        wait_until(Duration::from_secs(10), || server_conns(&server)
            == Some(2000)),
        "2000 not established: {:?}",
        server_conns(&server)
    );
    process::signal(client.pid() as i32, SIGKILL).expect("kill the client");
    let _ = client.wait(Duration::from_secs(5));
    // The device went with the client: nothing tells the server, which keeps every connection
    // (no keepalive: an idle peer that vanished looks like an idle peer).
    assert!(wait_until(Duration::from_secs(3), || no_tun_device(&ns)));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(server_conns(&server), Some(2000));
    // Closing them now would send 2,000 FINs into nothing: orphans retransmitting for minutes.
    // A new client on the same addresses answers every segment of a connection it does not
    // hold with a RST, so the server's FINs end at once.
    let sweeper = tun_client(&ns, &server, &["-n", "1", "--hold", "5"]);
    assert!(wait_until(Duration::from_secs(5), || !no_tun_device(&ns)));
    std::thread::sleep(Duration::from_millis(500));
    let s = server.terminate().summary();
    // Its one connection may have landed on the 4-tuple of an old one (same address, first
    // port) and reset it: 2,000 or 2,001 accepted, at most that one closed before the end.
    assert!((2000..=2001).contains(&u(&s, "accepted")), "{s}");
    assert!(u(&s, "closed") <= 1, "{s}");
    assert!(
        wait_until(Duration::from_secs(5), || ns.sockstat().tcp_inuse == 0),
        "the server's closed sockets linger: {:?}",
        ns.sockstat()
    );
    let _ = sweeper.wait(Duration::from_secs(20));
}

#[test]
fn the_memory_guard_stops_the_ramp_and_says_so() {
    let _g = util::shared();
    let server = ServerGuard::start(&[]);
    // A threshold above what this machine has: the guard stops the ramp before it starts.
    let kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemAvailable:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .expect("MemAvailable");
    let threshold = (kb * 1024 + (1 << 30)).to_string();
    let run = util::client(&server, &["-n", "500", "--min-mem-available", &threshold])
        .wait(Duration::from_secs(30));
    assert_eq!(run.code(), Some(1), "{}{}", run.stdout, run.stderr);
    let sum = run.summary();
    let guard = &sum["memory_guard"];
    assert_eq!(
        u(guard, "min_mem_available_bytes").to_string(),
        threshold,
        "{sum}"
    );
    assert!(u(&sum, "established") < 500, "{sum}");
    assert!(run.stderr.contains("memory guard"), "{}", run.stderr);
    drop(server);
}

/// SYN_RECV sockets (half-open requests) in `ns`, as `ss` lists them.
fn half_open(ns: &Netns) -> usize {
    let out = std::process::Command::new("ip")
        .args([
            "netns", "exec", &ns.name, "ss", "-Htan", "state", "syn-recv",
        ])
        .output()
        .expect("ss");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn handshake_none_leaves_half_open_requests_until_the_teardown() {
    let _g = util::shared();
    let Some(ns) = Netns::or_skip() else { return };
    let server = ServerGuard::start_in(&ns, &[]);
    let client = tun_client(
        &ns,
        &server,
        &["--handshake", "none", "-n", "200", "--hold", "2"],
    );
    assert!(
        wait_until(Duration::from_secs(5), || half_open(&ns) == 200),
        "expected 200 SYN_RECV requests, ss shows {}",
        half_open(&ns)
    );
    assert!(
        wait_until(Duration::from_secs(3), || server_conns(&server).is_some()),
        "the server ticks every second"
    );
    assert_eq!(
        server_conns(&server),
        Some(0),
        "nothing completed, nothing accepted"
    );
    let run = client.wait(Duration::from_secs(20));
    assert_eq!(u(&run.summary(), "established"), 200, "{}", run.stdout);
    assert!(run.stderr.contains("--handshake none"), "{}", run.stderr);
    assert!(
        wait_until(Duration::from_secs(3), || half_open(&ns) == 0),
        "the teardown's resets leave {} requests",
        half_open(&ns)
    );
    assert_eq!(u(&server.terminate().summary(), "accepted"), 0);
}

#[test]
fn two_tun_shards_in_one_namespace_make_one_plan() {
    let _g = util::shared();
    let Some(ns) = Netns::or_skip() else { return };
    let server = ServerGuard::start_in(&ns, &[]);
    let shards: Vec<Proc> = (0..2)
        .map(|i| {
            tun_client(
                &ns,
                &server,
                &["-n", "4000", "--hold", "2", "--shard", &format!("{i}/2")],
            )
        })
        .collect();
    assert!(
        server.wait_conns(4000, Duration::from_secs(20)),
        "the server never held both shards' 4,000"
    );
    for p in shards {
        let run = p.wait(Duration::from_secs(30));
        assert_eq!(u(&run.summary(), "established"), 2000, "{}", run.stdout);
        assert_eq!(run.code(), Some(0), "{}", run.stderr);
    }
    assert!(wait_until(Duration::from_secs(5), || no_tun_device(&ns)));
    drop(server);
}
