//! `--check`: both binaries print the limits table for -n N, name the first binding limit, and
//! exit 0 (nothing binds) or 1 (something does), without opening a socket.
//!
//! The expectations follow this machine: when the RLIMIT_NOFILE hard limit is below N and the
//! process lacks CAP_SYS_RESOURCE (the reference machine: 20,000, root in a container), the fd
//! row must bind first and name the flag that spreads the load; elsewhere the verdict only has to
//! agree with itself and the exit status.

use std::time::Duration;

use serde_json::Value;

use c10m_kernel::caps;
use c10m_sys::nofile;

use crate::util::{ensure, run, Run};

const T: Duration = Duration::from_secs(10);

/// The one `"type": "check"` object of a `--check --json` run.
fn check_json(r: &Run) -> Value {
    let lines = r.json();
    ensure!(
        [r],
        lines.len() == 1 && lines[0]["type"] == "check",
        "--check --json must print exactly one JSON object of type check"
    );
    lines[0].clone()
}

/// Whether a process started like this one may raise its hard limit.
fn can_raise_hard_limit() -> bool {
    caps::in_initial_user_ns()
        && caps::read_cap_eff().is_ok_and(|m| caps::has_cap(m, caps::CAP_SYS_RESOURCE))
}

fn assert_million(bin: &str, spread: &str) {
    let r = run(bin, &["--check", "-n", "1000000", "--json"], T);
    let v = check_json(&r);
    let first = &v["first_binding"];
    let binds = v["binds"].as_bool();
    ensure!(
        [&r],
        binds == Some(!first.is_null()),
        "binds vs first_binding"
    );
    ensure!(
        [&r],
        r.code() == Some(if first.is_null() { 0 } else { 1 }),
        "exit 1 when a limit binds, 0 when none does"
    );
    let rows = v["rows"].as_array().cloned().unwrap_or_default();
    ensure!(
        [&r],
        rows.first()
            .is_some_and(|row| row["key"] == "fds_per_process"),
        "the fd row comes first"
    );
    let (_, hard) = nofile::get().expect("getrlimit");
    if hard < 1_000_000 && !can_raise_hard_limit() {
        ensure!(
            [&r],
            first["key"] == "fds_per_process",
            "hard limit {hard} without CAP_SYS_RESOURCE: the fd row must bind first"
        );
        let fix = first["fix"].as_str().unwrap_or("");
        ensure!(
            [&r],
            fix.starts_with(spread) && fix.contains("cannot be raised without CAP_SYS_RESOURCE"),
            "the fix must name {spread} and the capability, is {fix:?}"
        );
        ensure!(
            [&r],
            first["allows"].as_u64().is_some_and(|a| a < hard),
            "allows at most the hard limit"
        );
    } else if first["key"] == "fds_per_process" {
        let fix = first["fix"].as_str().unwrap_or("");
        ensure!(
            [&r],
            fix.contains(spread),
            "the fix must name {spread}, is {fix:?}"
        );
    }
    // The text form ends with the same verdict.
    let t = run(bin, &["--check", "-n", "1000000"], T);
    let last = t.stdout.lines().last().unwrap_or("");
    match first["name"].as_str() {
        Some(name) => {
            ensure!(
                [&t],
                last.starts_with(&format!("first binding limit: {name}")) && last.contains("do: "),
                "the last line must name {name:?} and what to do, is {last:?}"
            );
        }
        None => {
            ensure!(
                [&t],
                last.starts_with("nothing binds"),
                "the last line, is {last:?}"
            );
        }
    }
    ensure!([&t], t.code() == r.code(), "text and JSON exit alike");
}

#[test]
fn server_check_names_the_first_binding_limit_for_a_million() {
    assert_million("c10m-server", "--workers");
}

#[test]
fn client_check_names_the_first_binding_limit_for_a_million() {
    assert_million("c10m-client", "--processes");
}

#[test]
fn check_for_a_hundred_exits_0() {
    let (_, hard) = nofile::get().expect("getrlimit");
    if hard < 1024 {
        crate::util::skip(&format!(
            "hard limit {hard} is too small to hold 100 with room"
        ));
        return;
    }
    for bin in ["c10m-server", "c10m-client"] {
        let r = run(bin, &["--check", "-n", "100", "--json"], T);
        let v = check_json(&r);
        ensure!(
            [&r],
            r.code() == Some(0) && v["first_binding"].is_null(),
            "nothing should bind for 100 connections"
        );
        let t = run(bin, &["--check", "-n", "100"], T);
        ensure!(
            [&t],
            t.code() == Some(0) && t.stdout.contains("nothing binds for 100 connections"),
            "text verdict"
        );
    }
}

#[test]
fn server_check_needs_n() {
    let r = run("c10m-server", &["--check"], T);
    ensure!(
        [&r],
        r.code() == Some(2) && r.stderr.contains("-n N"),
        "--check without -n is bad usage"
    );
}

#[test]
fn size_for_estimates_another_machine_and_names_its_sources() {
    let r = run(
        "c10m-server",
        &["--check", "--size-for", "16,64G", "--json"],
        T,
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    let lines = r.json();
    assert_eq!(lines.len(), 1, "{}", r.stdout);
    let e = &lines[0];
    assert_eq!(e["type"], "size_estimate");
    assert_eq!(e["cores"], 16);
    // 64 GiB less 5% at about 5 KB a connection: more than ten million.
    assert!(e["connections"].as_u64().unwrap() > 10_000_000, "{e}");
    let acc = &e["accepts_per_s"];
    assert!(
        acc["low"].as_f64().unwrap() < acc["high"].as_f64().unwrap(),
        "{e}"
    );
    assert!(!e["measured"]["records"].as_array().unwrap().is_empty());
    let text = run("c10m-server", &["--check", "--size-for", "16,64G"], T);
    assert!(text.stdout.contains("ESTIMATE"), "{}", text.stdout);
    let bad = run("c10m-server", &["--check", "--size-for", "16,1M"], T);
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("at least 1G"), "{}", bad.stderr);
}
