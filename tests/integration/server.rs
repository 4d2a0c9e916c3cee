//! The server against peers that the test process drives itself with std sockets.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{
    self, connect, cpu_seconds, echo, ensure, fail, pattern, shared, skip, u, wait_until,
    ServerGuard,
};

const MIB: u64 = 1 << 20;

/// Opens `n` connections to the server, failing the test (with the server's output) if any
/// cannot be made.
fn connect_all(server: &ServerGuard, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            connect(server.addr)
                .unwrap_or_else(|e| fail(&[server], &format!("connection {i} of {n}: {e}")))
        })
        .collect()
}

/// One round of echoes on every stream, each with its own message of 1..=16 KiB.
fn echo_round(server: &ServerGuard, streams: &mut [TcpStream], round: u64) {
    for (i, s) in streams.iter_mut().enumerate() {
        let seed = round * 1_000_003 + i as u64;
        let len = 1 + (seed * 7919 % (16 * 1024)) as usize;
        if let Err(e) = echo(s, &pattern(seed, len)) {
            fail(
                &[server],
                &format!("echo on connection {i} in round {round}: {e}"),
            );
        }
    }
}

/// Sum of one `errno -> count` object.
fn total(errors: &Value) -> u64 {
    errors
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

#[test]
fn sigterm_prints_the_summary_and_exits_0() {
    let _g = shared();
    let server = ServerGuard::start(&[]);
    let mut s = connect_all(&server, 1).pop().unwrap();
    if let Err(e) = echo(&mut s, b"hello, c10m") {
        fail(&[&server], &format!("echo: {e}"));
    }
    ensure!(
        [&server],
        server.wait_conns(1, Duration::from_secs(10)),
        "no tick showed the one connection"
    );

    let run = server.terminate();
    ensure!(
        [&run],
        run.code() == Some(0),
        "SIGTERM must end the server with exit 0"
    );
    let lines = run.json();
    ensure!(
        [&run],
        lines.first().is_some_and(|v| v["type"] == "start"),
        "the line after `listening on` must be the JSON start object"
    );
    ensure!(
        [&run],
        lines
            .iter()
            .all(|v| ["start", "tick", "milestone", "summary"]
                .contains(&v["type"].as_str().unwrap_or(""))),
        "every JSON line has a known type"
    );
    let json_count = run.stdout.lines().skip(1).filter(|l| !l.is_empty()).count();
    ensure!(
        [&run],
        json_count == lines.len(),
        "every stdout line after the first must be JSON ({json_count} lines, {} JSON)",
        lines.len()
    );
    let sum = run.summary();
    for key in [
        "peak_connections",
        "connections_at_exit",
        "accepted",
        "closed",
        "accept_errors",
        "close_errors",
        "bytes_echoed",
        "rss_bytes",
        "rss_start_bytes",
        "rss_bytes_per_conn_at_peak",
        "max_conns",
        "fd_limit",
        "uptime_s",
    ] {
        ensure!([&run], sum.get(key).is_some(), "summary lacks {key:?}");
    }
    ensure!([&run], u(&sum, "peak_connections") == 1, "peak_connections");
    ensure!([&run], u(&sum, "accepted") == 1, "accepted");
    ensure!(
        [&run],
        u(&sum, "connections_at_exit") == 1,
        "connections_at_exit"
    );
    ensure!(
        [&run],
        u(&sum, "bytes_echoed") == b"hello, c10m".len() as u64,
        "bytes_echoed"
    );
    drop(s);
}

#[test]
fn a_peer_that_writes_200_mib_and_never_reads_costs_bounded_memory() {
    const LIMIT: u64 = 64 * MIB;
    const HOG_BYTES: u64 = 200 * MIB;
    let _g = shared();
    let mut server = ServerGuard::start(&[]);
    let pid = server.pid();

    // Sample the server's RSS every 10 ms for the whole test.
    let sampling = Arc::new(AtomicBool::new(true));
    let max_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, max_rss) = (sampling.clone(), max_rss.clone());
        thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                if let Some(r) = util::rss_bytes(pid) {
                    max_rss.fetch_max(r, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(10));
            }
        })
    };

    // The hog: writes up to 200 MiB, never reads, gives up after 10 s.
    let hog = connect_all(&server, 1).pop().unwrap();
    hog.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written) = (stop.clone(), written.clone());
        thread::spawn(move || -> (TcpStream, Option<io::Error>) {
            let mut hog = hog;
            let chunk = pattern(42, 1 << 20);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !stop.load(Ordering::Relaxed)
                && written.load(Ordering::Relaxed) < HOG_BYTES
                && Instant::now() < deadline
            {
                match hog.write(&chunk) {
                    Ok(n) => {
                        written.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => return (hog, Some(e)),
                }
            }
            (hog, None)
        })
    };

    // Wait until the hog is stuck (nothing written for 1 s) or done.
    let mut last = (0u64, Instant::now());
    wait_until(Duration::from_secs(10), || {
        let w = written.load(Ordering::Relaxed);
        if w != last.0 {
            last = (w, Instant::now());
        }
        w >= HOG_BYTES || writer.is_finished() || last.1.elapsed() >= Duration::from_secs(1)
    });

    // Meanwhile 100 other peers echo, several rounds, all intact.
    let mut others = connect_all(&server, 100);
    for round in 0..5 {
        echo_round(&server, &mut others, round);
    }
    server.assert_alive(&[]);

    stop.store(true, Ordering::Relaxed);
    let (hog, hog_err) = writer.join().expect("writer thread");
    sampling.store(false, Ordering::Relaxed);
    sampler.join().expect("sampler thread");
    let written = written.load(Ordering::Relaxed);
    let max_sampled = max_rss.load(Ordering::Relaxed);

    let ticks = server.ticks();
    let max_tick = ticks
        .iter()
        .filter_map(|t| t["rss_bytes"].as_u64())
        .max()
        .unwrap_or(0);
    eprintln!(
        "hog wrote {:.1} MiB ({}); server RSS max {:.1} MiB sampled, {:.1} MiB in ticks",
        written as f64 / MIB as f64,
        hog_err.map_or("no error".to_string(), |e| e.to_string()),
        max_sampled as f64 / MIB as f64,
        max_tick as f64 / MIB as f64
    );
    ensure!(
        [&server],
        max_sampled > 0 && !ticks.is_empty(),
        "no RSS reading of the server"
    );
    ensure!(
        [&server],
        max_sampled < LIMIT && max_tick < LIMIT,
        "server RSS went to {max_sampled} bytes (sampled) / {max_tick} (ticks); limit {LIMIT}"
    );
    drop(others);
    drop(hog);
    let run = server.terminate();
    ensure!([&run], run.code() == Some(0), "exit status after SIGTERM");
}

#[test]
fn accept_meets_emfile_holds_what_it_can_and_does_not_spin() {
    const PEERS: usize = 1000;
    let _g = shared();
    // Every connect must complete in the kernel's accept queue, accepted or not.
    let somaxconn = c10m_kernel::sysctl::read_sysctl("net.core.somaxconn")
        .ok()
        .and_then(|t| c10m_kernel::sysctl::parse_u64(&t));
    if somaxconn.is_some_and(|m| m < PEERS as u64 + 100) {
        skip(&format!(
            "net.core.somaxconn is {somaxconn:?}: the accept queue cannot hold {PEERS} connections"
        ));
        return;
    }
    let mut server = ServerGuard::start(&["--nofile", "256", "--max-conns", "100000"]);
    // The kernel completes the handshakes and queues them (backlog = somaxconn), accepted or not.
    let mut socks = connect_all(&server, PEERS);

    // The count stabilises where the descriptors run out.
    let mut prev: Option<u64> = None;
    let mut cap = 0;
    let stable = wait_until(Duration::from_secs(15), || {
        let Some(t) = server.last_tick() else {
            return false;
        };
        let c = t["connections"].as_u64().unwrap_or(0);
        let paused = !t["accept_paused"].is_null();
        let done = paused && prev == Some(c) && c > 0;
        prev = Some(c);
        cap = c;
        // Let at least one more tick pass between the two observations.
        thread::sleep(Duration::from_millis(250));
        done
    });
    ensure!(
        [&server],
        stable,
        "the connection count never settled with accepting paused"
    );
    eprintln!("with --nofile 256 the server holds {cap} connections");
    ensure!(
        [&server],
        cap > 200 && cap <= 256,
        "with --nofile 256 the server should hold 200 < n <= 256 connections, holds {cap}"
    );
    let ticks = server.ticks();
    ensure!(
        [&server],
        ticks
            .iter()
            .any(|t| t["accept_errors"]["EMFILE"].as_u64() > Some(0)),
        "no tick reports accept_errors.EMFILE"
    );

    // Capped, it must sleep, not spin on a readable listener it cannot accept from.
    let cpu0 = cpu_seconds(server.pid());
    thread::sleep(Duration::from_secs(3));
    let cpu = cpu_seconds(server.pid()) - cpu0;
    eprintln!("server CPU while capped: {cpu:.3} s in 3 s");
    ensure!(
        [&server],
        cpu < 0.3,
        "the server used {cpu:.3} s of CPU in 3 s while at EMFILE: a busy loop"
    );
    server.assert_alive(&[]);

    // It keeps serving what it holds: the first connects were the first accepted (FIFO queue).
    for (i, s) in socks.iter_mut().take(10).enumerate() {
        if let Err(e) = echo(s, &pattern(i as u64, 1000)) {
            fail(&[&server], &format!("echo on held connection {i}: {e}"));
        }
    }

    // Closing 100 frees 100 descriptors: the next 100 queued connections get accepted.
    let ticks_before = server.tick_count();
    socks.drain(..100);
    let mut accepted_after = 0.0;
    let refilled = wait_until(Duration::from_secs(10), || {
        let ticks = server.ticks();
        let new = &ticks[ticks_before.saturating_sub(1)..];
        accepted_after = new
            .windows(2)
            .map(|w| {
                let dt = w[1]["elapsed_s"].as_f64().unwrap_or(0.0)
                    - w[0]["elapsed_s"].as_f64().unwrap_or(0.0);
                w[1]["accepted_per_s"].as_f64().unwrap_or(0.0) * dt
            })
            .sum::<f64>();
        accepted_after >= 99.0
            && new
                .last()
                .is_some_and(|t| t["connections"].as_u64() == Some(cap))
    });
    ensure!(
        [&server],
        refilled,
        "after closing 100 held connections the server did not accept 100 queued ones \
         (about {accepted_after:.0} accepted) and return to {cap} connections"
    );
    // Connection `cap` (now at index cap - 100) was queued until the closes made room.
    let i = cap as usize - 100;
    if let Err(e) = echo(&mut socks[i], b"newly accepted") {
        fail(
            &[&server],
            &format!("echo on newly accepted connection {}: {e}", cap),
        );
    }

    let run = server.terminate();
    ensure!([&run], run.code() == Some(0), "exit status after SIGTERM");
    let sum = run.summary();
    ensure!(
        [&run],
        u(&sum, "accepted") == cap + 100 && u(&sum, "closed") == 100,
        "summary should count {} accepted and 100 closed",
        cap + 100
    );
    ensure!(
        [&run],
        sum["accept_errors"]["EMFILE"].as_u64() > Some(0),
        "summary accept_errors lacks EMFILE"
    );
    ensure!(
        [&run],
        u(&sum, "peak_connections") == cap,
        "peak_connections"
    );
    drop(socks);
}

#[test]
fn peers_that_reset_mid_echo_disturb_nobody() {
    const GOOD: usize = 50;
    const BAD: usize = 50;
    let _g = shared();
    let mut server = ServerGuard::start(&[]);
    let mut good = connect_all(&server, GOOD);
    let bad = connect_all(&server, BAD);
    ensure!(
        [&server],
        server.wait_conns((GOOD + BAD) as u64, Duration::from_secs(10)),
        "the server never showed {} connections",
        GOOD + BAD
    );

    // The bad peers send and then reset while their echo is in flight: half at once, half
    // after the first echoed bytes came back (so the rest is still on its way).
    let resetter = thread::spawn(move || -> Result<(), String> {
        for (i, mut s) in bad.into_iter().enumerate() {
            s.set_write_timeout(Some(Duration::from_millis(500)))
                .map_err(|e| e.to_string())?;
            let msg = pattern(1000 + i as u64, 48 * 1024);
            // A full socket buffer only means the echo is backed up, which is the point.
            let _ = s.write_all(&msg);
            if i % 2 == 1 {
                let mut one = [0u8; 1];
                let _ = io::Read::read(&mut s, &mut one);
            }
            util::set_linger_zero(&s).map_err(|e| format!("SO_LINGER: {e}"))?;
            drop(s);
            thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    });

    let mut round = 0;
    while !resetter.is_finished() {
        echo_round(&server, &mut good, round);
        round += 1;
    }
    if let Err(e) = resetter.join().expect("resetter thread") {
        fail(&[&server], &e);
    }
    for _ in 0..3 {
        echo_round(&server, &mut good, round);
        round += 1;
    }
    ensure!(
        [&server],
        server.wait_conns(GOOD as u64, Duration::from_secs(10)),
        "after {BAD} resets the server should hold the {GOOD} good connections"
    );
    drop(good);
    ensure!(
        [&server],
        server.wait_conns(0, Duration::from_secs(10)),
        "after every peer closed the server should hold 0 connections"
    );
    server.assert_alive(&[]);

    let run = server.terminate();
    ensure!([&run], run.code() == Some(0), "exit status after SIGTERM");
    let sum = run.summary();
    eprintln!("{round} echo rounds; close_errors {}", sum["close_errors"]);
    ensure!(
        [&run],
        u(&sum, "accepted") == (GOOD + BAD) as u64 && u(&sum, "closed") == (GOOD + BAD) as u64,
        "summary accepted/closed"
    );
    ensure!(
        [&run],
        total(&sum["close_errors"]) <= BAD as u64,
        "more connections closed by error than peers that reset: good peers were hurt"
    );
    ensure!(
        [&run],
        u(&sum, "connections_at_exit") == 0,
        "connections_at_exit"
    );
}
