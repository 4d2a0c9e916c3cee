//! Bad command lines get a one-line error first on stderr and exit 2; an unreachable target
//! gets exit 1 and the errno that explains it.

use std::net::TcpListener;
use std::time::Duration;

use crate::util::{ensure, run, run_offline, shared, skip, Run};

/// Asserts exit 2, nothing on stdout, and an error naming `mention` as the first stderr line.
fn assert_usage_error(r: &Run, mention: &str) {
    let first = r.stderr.lines().next().unwrap_or("");
    ensure!([r], r.code() == Some(2), "bad usage must exit 2");
    ensure!(
        [r],
        r.stdout.trim().is_empty(),
        "bad usage must print nothing on stdout"
    );
    ensure!(
        [r],
        first.to_lowercase().contains("error"),
        "the first stderr line must be the error, is {first:?}"
    );
    ensure!(
        [r],
        first.contains(mention),
        "the error line should name {mention:?}, is {first:?}"
    );
}

const T: Duration = Duration::from_secs(10);

#[test]
fn server_refuses_malformed_addresses_zero_counts_and_unknown_flags() {
    for (args, mention) in [
        (&["--listen", "nope"][..], "nope"),
        (&["--listen", "127.0.0.1"], "127.0.0.1"),
        (&["--max-conns", "0"], "--max-conns"),
        (&["--backlog", "0"], "--backlog"),
        (&["--stats-interval", "0"], "--stats-interval"),
        (&["--bogus"], "--bogus"),
    ] {
        assert_usage_error(&run("c10m-server", args, T), mention);
    }
}

#[test]
fn client_refuses_malformed_addresses_zero_counts_and_unknown_flags() {
    for (args, mention) in [
        (&["--target", "127.0.0.1"][..], "127.0.0.1"),
        (&["--target", "nope:7000"], "nope"),
        (&["-n", "0"], "connections"),
        (&["--payload", "0"], "--payload"),
        (&["--bogus"], "--bogus"),
    ] {
        assert_usage_error(&run("c10m-client", args, T), mention);
    }
}

#[test]
fn client_refuses_a_non_loopback_target_without_allow_remote() {
    // Run where no packet can leave the machine, so that a client that failed to refuse would
    // still reach nobody.
    let args = ["--target", "198.18.0.1:7000", "-n", "1", "--hold", "1"];
    match run_offline("c10m-client", &args, T) {
        Ok(r) => assert_usage_error(&r, "198.18.0.1"),
        Err(e) => skip(&format!(
            "cannot give the client a network namespace of its own ({e}), and it must not \
             be handed a non-loopback target without one"
        )),
    }
}

#[test]
fn client_to_a_closed_port_exits_1_and_names_econnrefused() {
    let _g = shared();
    // A port that was free a moment ago and that nothing listens on now.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        l.local_addr().expect("local_addr").port()
    };
    let target = format!("127.0.0.1:{port}");
    let r = run(
        "c10m-client",
        &[
            "--target",
            &target,
            "-n",
            "10",
            "--hold",
            "1",
            "--connect-timeout",
            "2",
            "--json",
        ],
        Duration::from_secs(30),
    );
    ensure!(
        [&r],
        r.code() == Some(1),
        "connecting to a closed port must exit 1"
    );
    let sum = r.summary();
    ensure!(
        [&r],
        sum["failed"]["ECONNREFUSED"].as_u64() > Some(0),
        "failed should count ECONNREFUSED, is {}",
        sum["failed"]
    );
    ensure!([&r], sum["established"].as_u64() == Some(0), "established");
}
