//! The lab (`scripts/lab/`): each experiment runs in its own throwaway network namespaces and
//! checks its own outcome; a test here runs one and fails with its whole report when a check
//! does not hold. Where namespaces cannot be made (not root, no `ip netns`), the lab exits 77
//! and the test says SKIPPED.
//!
//! One test per experiment, each with its lock, is written once in [`lab_tests!`], and
//! `every_experiment_has_a_test` holds that list to `scripts/lab --list`: an experiment added
//! without a test here (or a test left for one removed) fails it by name.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::util::{bin, exclusive, repo, shared, skip};

const SKIPPED: i32 = 77;

/// Runs `scripts/lab NAME --json` and asserts every check held.
fn lab(name: &str) {
    let bin_dir = bin("c10m-server")
        .parent()
        .expect("binary directory")
        .to_path_buf();
    let out_dir = std::env::temp_dir().join(format!("c10m-lab-test-{}-{name}", std::process::id()));
    let t0 = Instant::now();
    let out = Command::new("python3")
        .arg(repo().join("scripts").join("lab"))
        .args([name, "--json"])
        .env("C10M_BIN", &bin_dir)
        .env("LAB_OUT", &out_dir)
        .output()
        .expect("python3 runs scripts/lab");
    let _ = std::fs::remove_dir_all(&out_dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(SKIPPED) {
        skip(&format!("lab {name}: {}", stderr.trim()));
        return;
    }
    let record: Option<Value> = stdout.lines().find_map(|l| serde_json::from_str(l).ok());
    let ok = record.as_ref().and_then(|r| r["ok"].as_bool()) == Some(true);
    assert!(
        out.status.success() && ok,
        "lab {name} failed after {:.1} s (exit {:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        t0.elapsed().as_secs_f64(),
        out.status.code()
    );
}

/// `test_name: "experiment-name", lock;` for each experiment: a `#[test]` that takes the lock
/// (`shared`, `exclusive`, or `unlocked` for one that opens no socket) and runs it, and
/// [`TESTED`], the (test, experiment) pairs.
macro_rules! lab_tests {
    ($($(#[$doc:meta])* $test:ident: $name:literal, $lock:ident;)*) => {
        const TESTED: &[(&str, &str)] = &[$((stringify!($test), $name)),*];
        $(
            $(#[$doc])*
            #[test]
            fn $test() {
                let _g = $lock();
                lab($name);
            }
        )*
    };
}

/// No lock: the experiment opens no socket and changes nothing machine-wide.
fn unlocked() {}

lab_tests! {
    lab_ports_one_pair: "ports-one-pair", shared;
    lab_ports_sources: "ports-sources", shared;
    lab_ports_destinations: "ports-destinations", shared;
    lab_one_port_beyond_65535: "one-port-beyond-65535", exclusive;
    lab_time_wait: "time-wait", shared;
    lab_listen_queue: "listen-queue", shared;
    /// It changes the machine-wide nf_conntrack_max for its runs: nothing else may run beside it.
    lab_conntrack: "conntrack", exclusive;
    lab_nat_gateway: "nat-gateway", shared;
    /// It lowers the machine-wide tcp_mem for one run: nothing else may run beside it.
    lab_tcp_mem: "tcp-mem", exclusive;
    /// It counts 200 orphans and their peers exactly while the kernel's timers run: under the
    /// load of the tests beside it one CLOSE_WAIT in 200 went missing, so it runs alone.
    lab_fin_wait_2: "fin-wait-2", exclusive;
    lab_syn_flood: "syn-flood", shared;
    lab_fd_limits: "fd-limits", shared;
    lab_socket_memory: "socket-memory", exclusive;
    lab_cpu_cost: "cpu-cost", exclusive;
    /// It reads the machine-wide TCP memory and times queues: nothing else may run beside it.
    lab_bandwidth: "bandwidth", exclusive;
    /// It measures CPU shares: nothing else heavy may run beside it.
    lab_autogroup: "autogroup", exclusive;
    lab_retired_knobs: "retired-knobs", unlocked;
}

/// The experiments `scripts/lab --list` names (the first word of each line).
fn listed() -> BTreeSet<String> {
    let out = Command::new("python3")
        .arg(repo().join("scripts").join("lab"))
        .arg("--list")
        .output()
        .expect("python3 runs scripts/lab --list");
    assert!(
        out.status.success(),
        "scripts/lab --list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_experiment_has_a_test() {
    let listed = listed();
    let tested: BTreeSet<String> = TESTED.iter().map(|(_, name)| name.to_string()).collect();
    let untested: Vec<_> = listed.difference(&tested).collect();
    let stale: Vec<_> = tested.difference(&listed).collect();
    assert!(
        untested.is_empty() && stale.is_empty(),
        "scripts/lab --list and tests/integration/lab.rs differ: experiments without a test: \
         {untested:?}; tests without an experiment: {stale:?} (add or remove a line of lab_tests!)"
    );
    for (test, name) in TESTED {
        assert_eq!(
            *test,
            format!("lab_{}", name.replace('-', "_")),
            "the test of {name} is misnamed"
        );
    }
}
