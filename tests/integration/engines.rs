//! Every engine `c10m-client --list-engines` names, over the same small plan: each in its own
//! throwaway network namespace with c10m-server on 198.18.0.1 (an address every engine reaches:
//! not loopback, so an engine with a device of its own can route to it too). A new engine is
//! tested here the day it is registered. Skipped visibly where namespaces cannot be made.

use std::time::Duration;

use serde_json::Value;

use crate::util::{self, run, u, wait_until, Netns, Proc, ServerGuard};

const N: u64 = 2_000;

/// The engines, as `--list-engines --json` lists them.
fn engines() -> Vec<Value> {
    let r = run(
        "c10m-client",
        &["--list-engines", "--json"],
        Duration::from_secs(10),
    );
    assert_eq!(r.code(), Some(0), "--list-engines failed:\n{}", r.stderr);
    let lines = r.json();
    assert_eq!(lines.len(), 1, "one object: {}", r.stdout);
    assert_eq!(lines[0]["type"], "engines");
    lines[0]["engines"].as_array().expect("an array").clone()
}

#[test]
fn every_registered_engine_runs_the_same_plan() {
    let _g = util::shared();
    let list = engines();
    assert!(
        list.iter().any(|e| e["name"] == "socket"),
        "the default engine is listed: {list:?}"
    );
    for engine in &list {
        let name = engine["name"].as_str().expect("a name");
        let Some(ns) = Netns::or_skip() else { return };
        let server = ServerGuard::start_in(&ns, &[]);
        let target = server.addr_string();
        let n = N.to_string();
        let args = [
            "--engine",
            name,
            "--target",
            &target,
            "--allow-remote",
            "-n",
            &n,
            "--hold",
            "1",
            "--ping-interval",
            "0.5",
            "--payload",
            "100-3000",
            "--json",
        ];
        let r = Proc::spawn_in(&ns, "c10m-client", &args).wait(Duration::from_secs(60));
        assert_eq!(
            r.code(),
            Some(0),
            "engine {name} failed:\n{}{}",
            r.stdout,
            r.stderr
        );
        let sum = r.summary();
        assert_eq!(u(&sum, "established"), N, "engine {name}: {sum}");
        let sent = u(&sum, "pings_sent");
        assert!(sent >= N, "engine {name}: every connection pings: {sum}");
        assert_eq!(u(&sum, "pings_ok"), sent, "engine {name}: {sum}");
        assert_eq!(u(&sum, "echo_mismatches"), 0, "engine {name}: {sum}");
        let peak = server.ticks().iter().map(|t| u(t, "peak")).max();
        assert_eq!(peak, Some(N), "engine {name}: the server held them all");
        assert!(
            wait_until(Duration::from_secs(5), || server
                .last_tick()
                .is_some_and(|t| u(&t, "connections") == 0)),
            "engine {name}: the server still holds connections after the client's teardown"
        );
    }
}
