//! The lab (`scripts/lab/`): each experiment runs in its own throwaway network namespaces and
//! checks its own outcome; a test here runs one and fails with its whole report when a check
//! does not hold. Where namespaces cannot be made (not root, no `ip netns`), the lab exits 77
//! and the test says SKIPPED.

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

#[test]
fn lab_ports_one_pair() {
    let _g = shared();
    lab("ports-one-pair");
}

#[test]
fn lab_ports_sources() {
    let _g = shared();
    lab("ports-sources");
}

#[test]
fn lab_ports_destinations() {
    let _g = shared();
    lab("ports-destinations");
}

#[test]
fn lab_one_port_beyond_65535() {
    let _g = exclusive();
    lab("one-port-beyond-65535");
}

#[test]
fn lab_time_wait() {
    let _g = shared();
    lab("time-wait");
}

#[test]
fn lab_listen_queue() {
    let _g = shared();
    lab("listen-queue");
}

#[test]
fn lab_conntrack() {
    // It changes the machine-wide nf_conntrack_max for its runs: nothing else may run beside it.
    let _g = exclusive();
    lab("conntrack");
}

#[test]
fn lab_tcp_mem() {
    // It lowers the machine-wide tcp_mem for one run: nothing else may run beside it.
    let _g = exclusive();
    lab("tcp-mem");
}

#[test]
fn lab_fin_wait_2() {
    let _g = shared();
    lab("fin-wait-2");
}

#[test]
fn lab_syn_flood() {
    let _g = shared();
    lab("syn-flood");
}

#[test]
fn lab_fd_limits() {
    let _g = shared();
    lab("fd-limits");
}

#[test]
fn lab_socket_memory() {
    let _g = exclusive();
    lab("socket-memory");
}

#[test]
fn lab_cpu_cost() {
    let _g = exclusive();
    lab("cpu-cost");
}

#[test]
fn lab_autogroup() {
    // It measures CPU shares: nothing else heavy may run beside it.
    let _g = exclusive();
    lab("autogroup");
}

#[test]
fn lab_retired_knobs() {
    lab("retired-knobs");
}
