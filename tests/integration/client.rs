//! The client against the server: many connections, and echoes checked byte for byte.

use std::time::Duration;

use c10m_sys::nofile;

use crate::util::{
    client, ensure, ensure_all_established, exclusive, is_empty_object, of_type, shared, skip, u,
    wait_until, InuseRise, ServerGuard,
};

#[test]
fn fifteen_thousand_concurrent_connections() {
    const N: u64 = 15_000;
    let _g = exclusive();
    let (_, hard) = nofile::get().expect("getrlimit");
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
        u(&sum, "pings_ok") >= 1000 && u(&sum, "pings_ok") == u(&sum, "pings_sent"),
        "every ping sent should be echoed intact, at least one per connection"
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

#[test]
fn churn_answers_every_request_and_closes_each_connection() {
    let _g = shared();
    let server = ServerGuard::start(&[]);
    let cl = client(
        &server,
        &[
            "--mode",
            "churn",
            "--rate",
            "200",
            "--duration",
            "1",
            "--payload",
            "1-4096",
            "--close",
            "rst",
        ],
    );
    let run = cl.wait_with(Duration::from_secs(30), &[&server]);
    ensure!([&server, &run], run.code() == Some(0), "client exit status");
    let sum = run.summary();
    let requests = u(&sum, "requests");
    ensure!(
        [&server, &run],
        (150..=201).contains(&requests),
        "about 200 requests in 1 s at 200/s, got {requests}"
    );
    ensure!(
        [&server, &run],
        u(&sum, "requests_ok") == requests && u(&sum, "connects") == requests,
        "one connection per request, every one answered"
    );
    ensure!(
        [&server, &run],
        u(&sum, "echo_mismatches") == 0,
        "echo_mismatches"
    );
    ensure!(
        [&server, &run],
        !of_type(&run.json(), "tick").is_empty(),
        "live lines carry the TIME_WAIT census"
    );
    ensure!(
        [&server, &run],
        of_type(&run.json(), "tick")[0]
            .get("ports_in_use")
            .is_some(),
        "ticks have ports_in_use"
    );
    let srv = server.terminate();
    ensure!(
        [&srv, &run],
        u(&srv.summary(), "accepted") == requests,
        "the server accepted one connection per request"
    );
}

#[test]
fn keepalive_sends_the_same_requests_over_a_fixed_pool() {
    let _g = shared();
    let server = ServerGuard::start(&[]);
    let cl = client(
        &server,
        &[
            "--mode",
            "keepalive",
            "-n",
            "5",
            "--rate",
            "300",
            "--duration",
            "1",
        ],
    );
    let run = cl.wait_with(Duration::from_secs(30), &[&server]);
    ensure!([&server, &run], run.code() == Some(0), "client exit status");
    let sum = run.summary();
    ensure!(
        [&server, &run],
        u(&sum, "opened") == 5 && u(&sum, "requests_ok") >= 250,
        "5 connections carried the requests"
    );
    let srv = server.terminate();
    ensure!(
        [&srv, &run],
        u(&srv.summary(), "accepted") == 5,
        "the server saw only the pool's connections"
    );
}

#[test]
fn a_server_that_closes_first_is_waited_for() {
    let _g = shared();
    let server = ServerGuard::start(&["--close-first"]);
    let cl = client(
        &server,
        &[
            "--mode",
            "churn",
            "--rate",
            "100",
            "--duration",
            "1",
            "--close",
            "wait",
        ],
    );
    let run = cl.wait_with(Duration::from_secs(30), &[&server]);
    ensure!([&server, &run], run.code() == Some(0), "client exit status");
    let sum = run.summary();
    ensure!(
        [&server, &run],
        u(&sum, "requests_ok") == u(&sum, "requests") && is_empty_object(&sum["failed"]),
        "the server's FIN after a complete echo is not a failure"
    );
}

#[test]
fn a_paused_server_leaves_connections_in_the_accept_queue() {
    let _g = shared();
    let server = ServerGuard::start(&["--pause-accept", "0", "--backlog", "8"]);
    let cl = client(
        &server,
        &["-n", "40", "--connect-timeout", "1.5", "--hold", "0.5"],
    );
    let run = cl.wait_with(Duration::from_secs(30), &[&server]);
    let sum = run.summary();
    let est = u(&sum, "established");
    ensure!(
        [&server, &run],
        run.code() == Some(1) && (1..=20).contains(&est),
        "only about the backlog's worth complete, got {est}"
    );
    ensure!(
        [&server, &run],
        u(&sum["failed"], "ETIMEDOUT") == 40 - est,
        "the rest time out: {}",
        sum["failed"]
    );
    let srv = server.terminate();
    ensure!(
        [&srv, &run],
        u(&srv.summary(), "accepted") == 0,
        "a paused server accepts nothing"
    );
}
