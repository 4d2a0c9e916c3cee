//! `--shard`, `--start-at` and `--metrics`: one plan over several clients, and the Prometheus
//! page of both binaries read back and checked against their own summaries.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use c10m_tests::{parse, value, Sample};

use crate::util::{self, client, u, wait_until, Proc, ServerGuard};

/// The address a binary's stderr names for its metrics ("metrics at http://IP:PORT/metrics").
fn metrics_addr(stderr: &str) -> Option<SocketAddr> {
    let rest = stderr.split("metrics at http://").nth(1)?;
    rest.split('/').next()?.parse().ok()
}

fn wait_metrics_addr(stderr: impl Fn() -> String) -> SocketAddr {
    let mut found = None;
    wait_until(Duration::from_secs(10), || {
        found = metrics_addr(&stderr());
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("no metrics address on stderr: {}", stderr()))
}

/// GET /metrics, parsed.
fn scrape(addr: SocketAddr) -> Vec<Sample> {
    let mut s = TcpStream::connect(addr).expect("connect to /metrics");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: c10m\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read /metrics");
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    parse(body)
}

fn metric(samples: &[Sample], name: &str) -> f64 {
    value(samples, name, &[]).unwrap_or_else(|| panic!("no {name} in the page"))
}

#[test]
fn the_metrics_pages_agree_with_both_summaries() {
    let _g = util::shared();
    let server = ServerGuard::start(&["--metrics", "127.0.0.1:0"]);
    let server_metrics = wait_metrics_addr(|| server.stderr_text());
    let c = client(
        &server,
        &[
            "-n",
            "300",
            "--hold",
            "3",
            "--ping-interval",
            "0.5",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let client_metrics = wait_metrics_addr(|| c.stderr());
    let mut page = Vec::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            page = scrape(client_metrics);
            value(&page, "c10m_client_pings_ok_total", &[]).unwrap_or(0.0) >= 300.0
        }),
        "pings never showed: {page:?}"
    );
    assert_eq!(metric(&page, "c10m_client_connections"), 300.0);
    assert_eq!(metric(&page, "c10m_client_established_total"), 300.0);
    assert_eq!(
        metric(&page, "c10m_client_rtt_seconds_count"),
        metric(&page, "c10m_client_pings_ok_total"),
        "every echoed ping is one RTT sample"
    );
    let inf = value(&page, "c10m_client_rtt_seconds_bucket", &[("le", "+Inf")]);
    assert_eq!(inf, Some(metric(&page, "c10m_client_rtt_seconds_count")));
    assert!(wait_until(Duration::from_secs(5), || {
        metric(&scrape(server_metrics), "c10m_server_connections") == 300.0
    }));
    let run = c.wait(Duration::from_secs(30));
    let sum = run.summary();
    assert_eq!(u(&sum, "established"), 300, "{}", run.stdout);
    assert!(u(&sum, "pings_ok") as f64 >= metric(&page, "c10m_client_pings_ok_total"));
    // The server's page, once the client is gone, against the server's own summary.
    assert!(wait_until(Duration::from_secs(5), || {
        metric(&scrape(server_metrics), "c10m_server_closed_total") == 300.0
    }));
    let page = scrape(server_metrics);
    let done = server.terminate().summary();
    assert_eq!(
        metric(&page, "c10m_server_accepted_total"),
        u(&done, "accepted") as f64
    );
    assert_eq!(
        metric(&page, "c10m_server_echoed_bytes_total"),
        u(&done, "bytes_echoed") as f64
    );
}

#[test]
fn shards_split_one_plan_and_together_make_it() {
    let _g = util::shared();
    let server = ServerGuard::start(&[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs_f64();
    let start_at = format!("{:.3}", now + 1.0);
    let shards: Vec<Proc> = (0..3)
        .map(|i| {
            client(
                &server,
                &[
                    "-n",
                    "900",
                    "--hold",
                    "2",
                    "--shard",
                    &format!("{i}/3"),
                    "--start-at",
                    &start_at,
                ],
            )
        })
        .collect();
    assert!(
        server.wait_conns(900, Duration::from_secs(15)),
        "the server never held the three shards' 900"
    );
    for (i, p) in shards.into_iter().enumerate() {
        let run = p.wait(Duration::from_secs(30));
        let lines = run.json();
        let plan = &lines[0];
        assert_eq!(plan["shard"]["index"], i as u64, "{}", run.stdout);
        assert_eq!(u(plan, "connections"), 300);
        let sum = run.summary();
        assert_eq!(u(&sum, "established"), 300, "{}", run.stdout);
        assert_eq!(sum["shard"]["of"], 3);
        let started = sum["ramp_started_unix_s"]
            .as_f64()
            .expect("ramp_started_unix_s");
        assert!(
            started >= start_at.parse::<f64>().unwrap(),
            "ramped before --start-at"
        );
        // Shards on loopback bind sources of their own (the unit tests check they are disjoint).
        assert!(u(plan, "sources") > 0, "{}", run.stdout);
    }
    drop(server);
}

#[test]
fn shard_and_metrics_mistakes_are_named() {
    let _g = util::shared();
    let run = util::run(
        "c10m-client",
        &["--shard", "auto/4"],
        Duration::from_secs(10),
    );
    if std::env::var_os("JOB_COMPLETION_INDEX").is_none() {
        assert_eq!(run.code(), Some(2), "{}", run.stderr);
        assert!(
            run.stderr.contains("JOB_COMPLETION_INDEX"),
            "{}",
            run.stderr
        );
    }
    let run = util::run("c10m-client", &["--shard", "4/4"], Duration::from_secs(10));
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    let run = util::run(
        "c10m-client",
        &["--start-at", "1e13"],
        Duration::from_secs(10),
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("milliseconds"), "{}", run.stderr);
    // A metrics port that is taken: bad usage (exit 2) before anything runs, and the message
    // says what to do.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let run = util::run(
        "c10m-server",
        &["--listen", "127.0.0.1:0", "--metrics", &addr],
        Duration::from_secs(10),
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("--metrics"), "{}", run.stderr);
}
