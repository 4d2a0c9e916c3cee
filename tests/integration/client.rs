//! The client against the server: many connections, and echoes checked byte for byte.

use std::time::Duration;

use crate::util::{
    client, ensure, ensure_all_established, exclusive, is_empty_object, of_type, shared, skip, u,
    wait_until, InuseRise, ServerGuard,
};

#[test]
fn fifteen_thousand_concurrent_connections() {
    const N: u64 = 15_000;
    let _g = exclusive();
    let (_, hard) = c10m_common::sys::get_nofile().expect("getrlimit");
    if hard < N + 100 {
        skip(&format!(
            "RLIMIT_NOFILE hard limit {hard} is below the {N} descriptors each process needs"
        ));
        return;
    }
    let server = ServerGuard::start(&[]);
    let mut inuse = InuseRise::start();
    let n = N.to_string();
    let mut cl = client(&server, &["-n", &n, "--hold", "3"]);

    // Track the system's TCP sockets while the connections are held.
    let mut seen_all = false;
    wait_until(Duration::from_secs(60), || {
        inuse.sample();
        seen_all |= server
            .last_tick()
            .is_some_and(|t| t["connections"].as_u64() == Some(N));
        cl.try_status().is_some()
    });
    let run = cl.wait_with(Duration::from_secs(10), &[&server]);

    ensure!([&server, &run], run.code() == Some(0), "client exit status");
    let sum = run.summary();
    ensure_all_established([&server, &run], &sum, N);
    ensure!(
        [&server, &run],
        seen_all || server.ticks().iter().any(|t| u(t, "connections") == N),
        "no server tick showed {N} connections"
    );
    ensure!(
        [&server, &run],
        server.wait_conns(0, Duration::from_secs(10)),
        "the client reset its {N} connections on exit, yet the server still holds some"
    );
    let max_rise = inuse.rise();
    // Each connection is two sockets on this machine: the client's and the server's.
    ensure!(
        [&server, &run],
        max_rise >= 2 * N - 1_000,
        "TCP inuse rose by only {max_rise}; expected about {}",
        2 * N
    );

    let srv = server.terminate();
    ensure!([&srv, &run], srv.code() == Some(0), "server exit status");
    let ssum = srv.summary();
    ensure!(
        [&srv, &run],
        u(&ssum, "peak_connections") == N,
        "server peak_connections"
    );
}

#[test]
fn echoes_of_random_sizes_come_back_intact() {
    let _g = shared();
    let server = ServerGuard::start(&[]);
    let cl = client(
        &server,
        &[
            "-n",
            "1000",
            "--ping-interval",
            "0.5",
            "--payload",
            "1-65536",
            "--hold",
            "3",
        ],
    );
    let run = cl.wait_with(Duration::from_secs(60), &[&server]);
    ensure!([&server, &run], run.code() == Some(0), "client exit status");
    let sum = run.summary();
    ensure!(
        [&server, &run],
        u(&sum, "established") == 1000,
        "established"
    );
    ensure!(
        [&server, &run],
        u(&sum, "pings_ok") >= 1000,
        "pings_ok should be at least one per connection"
    );
    ensure!(
        [&server, &run],
        u(&sum, "echo_mismatches") == 0,
        "echo_mismatches"
    );
    ensure!(
        [&server, &run],
        is_empty_object(&sum["failed"]),
        "failed should be {{}}, is {}",
        sum["failed"]
    );
    ensure!(
        [&server, &run],
        of_type(&run.json(), "plan").len() == 1,
        "the client prints one plan line"
    );

    let srv = server.terminate();
    ensure!([&srv, &run], srv.code() == Some(0), "server exit status");
    let ssum = srv.summary();
    ensure!(
        [&srv, &run],
        u(&ssum, "bytes_echoed") > 0,
        "server bytes_echoed"
    );
    ensure!(
        [&srv, &run],
        u(&ssum, "accepted") == 1000,
        "server accepted"
    );
}
