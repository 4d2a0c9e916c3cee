//! Past one process's RLIMIT_NOFILE: `c10m-server --workers N` and `c10m-client --processes N`.
//!
//! Each worker and each client process is a child of the process the test started; the tests
//! find them in /proc ([`child_ids`]) and check that they share the load, that a dead worker is
//! reported and replaced, and that no child outlives its parent.

use std::time::{Duration, Instant};

use c10m_sys::process::{self, SIGKILL, SIGTERM};
use serde_json::Value;

use c10m_sys::nofile;

use crate::util::{
    child_ids, client, ensure, ensure_all_established, exclusive, json_lines, of_type, shared,
    skip, sockets_of, still_running, u, wait_until, InuseRise, Proc, ProcId, ServerGuard,
};

/// False (and a note on stderr) when one process cannot open `per_process` descriptors here.
fn fd_room_for(per_process: u64) -> bool {
    let (_, hard) = nofile::get().expect("getrlimit");
    if hard < per_process + 100 {
        skip(&format!(
            "RLIMIT_NOFILE hard limit {hard} is below the {per_process} descriptors each process needs"
        ));
        return false;
    }
    true
}

/// The client's live lines so far.
fn client_ticks(cl: &Proc) -> Vec<Value> {
    of_type(&json_lines(&cl.stdout()), "tick")
}

/// Sum of the counts of the `failed` errno names that mean "the peer went away".
fn peer_gone(failed: &Value) -> u64 {
    ["EOF", "ECONNRESET"]
        .iter()
        .filter_map(|k| failed[k].as_u64())
        .sum()
}

#[test]
fn three_workers_and_three_client_processes_hold_45000() {
    const N: u64 = 45_000;
    let _g = exclusive();
    if !fd_room_for(N / 3) {
        return;
    }
    let (_, hard) = nofile::get().expect("getrlimit");
    eprintln!("RLIMIT_NOFILE hard limit {hard}: one process could hold fewer than {hard} of {N}");
    let server = ServerGuard::start(&["--workers", "3"]);
    let workers = child_ids(server.pid());
    ensure!(
        [&server],
        workers.len() == 3,
        "once it listens, c10m-server --workers 3 should have 3 children; has {workers:?}"
    );

    let mut inuse = InuseRise::start();
    let n = N.to_string();
    let mut cl = client(
        &server,
        &[
            "-n",
            &n,
            "--processes",
            "3",
            "--hold",
            "3",
            "--ping-interval",
            "3",
        ],
    );
    let client_pid = cl.pid();
    let mut client_kids: Vec<ProcId> = Vec::new();
    // Sockets held by the workers and by the client's children, counted once the server shows
    // all N (the client then holds them for 3 s).
    let mut held: Option<(u64, u64)> = None;
    wait_until(Duration::from_secs(30), || {
        inuse.sample();
        for id in child_ids(client_pid) {
            if !client_kids.contains(&id) {
                client_kids.push(id);
            }
        }
        if held.is_none()
            && server
                .last_tick()
                .is_some_and(|t| t["connections"].as_u64() == Some(N))
        {
            held = Some((sockets_of(&workers), sockets_of(&client_kids)));
        }
        cl.try_status().is_some()
    });
    let run = cl.wait_with(Duration::from_secs(10), &[&server]);

    // The client: all N over three processes, every echo intact, every child reaped.
    ensure!([&server, &run], run.code() == Some(0), "client exit status");
    let plan = of_type(&run.json(), "plan");
    ensure!(
        [&server, &run],
        plan.len() == 1 && plan[0]["processes"] == 3,
        "the client's plan line should say \"processes\": 3"
    );
    ensure!(
        [&server, &run],
        client_kids.len() == 3,
        "c10m-client --processes 3 should have run 3 children; saw {client_kids:?}"
    );
    ensure!(
        [&server, &run],
        still_running(&client_kids).is_empty(),
        "client children still running after the client exited: {:?}",
        still_running(&client_kids)
    );
    let sum = run.summary();
    ensure_all_established([&server, &run], &sum, N);
    ensure!(
        [&server, &run],
        u(&sum, "echo_mismatches") == 0,
        "echo_mismatches"
    );
    // One ping per connection over the 3 s hold, and the client waits for the last echoes.
    ensure!(
        [&server, &run],
        u(&sum, "pings_ok") >= N * 9 / 10 && u(&sum, "pings_ok") == u(&sum, "pings_sent"),
        "every ping sent should come back, about one per connection ({N})"
    );
    ensure!(
        [&server, &run],
        u(&sum, "pings_unanswered") == 0,
        "pings_unanswered"
    );

    // The server: all N at once, spread over all three workers.
    let full = server.ticks().into_iter().find(|t| {
        t["connections"].as_u64() == Some(N)
            && t["workers"].as_u64() == Some(3)
            && t["worker_min"].as_u64() > Some(0)
    });
    ensure!(
        [&server, &run],
        full.is_some(),
        "no server tick showed {N} connections over 3 workers, each with some"
    );
    eprintln!(
        "per worker: {}..{}",
        full.as_ref()
            .map_or(Value::Null, |t| t["worker_min"].clone()),
        full.as_ref()
            .map_or(Value::Null, |t| t["worker_max"].clone())
    );
    ensure!(
        [&server, &run],
        server.wait_conns(0, Duration::from_secs(10)),
        "the client reset its {N} connections on exit, yet the server still holds some"
    );
    // Each connection is a socket in a worker and one in a client process (the workers also
    // hold a listener each).
    eprintln!("sockets held (workers, client processes): {held:?}");
    ensure!(
        [&server, &run],
        held.is_some_and(|(w, c)| w >= N && c >= N),
        "while the server showed {N} connections, the workers and the client's processes \
         should each hold at least {N} sockets; they held {held:?}"
    );
    let rise = inuse.rise();
    // Each connection is two sockets on this machine: the client's and the server's.
    ensure!(
        [&server, &run],
        rise >= 2 * N - 1_000,
        "TCP inuse rose by only {rise}; expected about {}",
        2 * N
    );
    ensure!(
        [&server, &run],
        child_ids(server.pid()) == workers,
        "the workers changed while serving: {workers:?} at the start, {:?} now",
        child_ids(server.pid())
    );

    let srv = server.terminate();
    let left = still_running(&workers);
    ensure!([&srv, &run], srv.code() == Some(0), "server exit status");
    ensure!(
        [&srv, &run],
        left.is_empty(),
        "workers still running after the server exited: {left:?}"
    );
    ensure!(
        [&srv, &run],
        of_type(&srv.json(), "worker_exit").is_empty(),
        "no worker should have died"
    );
    let ssum = srv.summary();
    ensure!(
        [&srv, &run],
        u(&ssum, "peak_connections") == N,
        "server peak_connections"
    );
    ensure!([&srv, &run], u(&ssum, "workers") == 3, "server workers");
    ensure!(
        [&srv, &run],
        u(&ssum, "worker_restarts") == 0,
        "server worker_restarts"
    );
    ensure!([&srv, &run], u(&ssum, "accepted") == N, "server accepted");
}

#[test]
fn a_killed_worker_is_reported_and_replaced() {
    const N: u64 = 9_000;
    let _g = exclusive();
    if !fd_room_for(N) {
        return;
    }
    let mut server = ServerGuard::start(&["--workers", "3"]);
    let workers = child_ids(server.pid());
    ensure!(
        [&server],
        workers.len() == 3,
        "once it listens, c10m-server --workers 3 should have 3 children; has {workers:?}"
    );
    let n = N.to_string();
    let mut cl = client(&server, &["-n", &n, "--processes", "1", "--hold", "0"]);
    ensure!(
        [&server, &cl],
        server.wait_conns(N, Duration::from_secs(20)),
        "the server never showed {N} connections"
    );

    let victim = workers[0];
    process::signal(victim.pid as i32, SIGKILL).expect("kill the worker");

    // Reported: one worker_exit line naming the pid, how it died and what it held.
    let reported = wait_until(Duration::from_secs(10), || {
        !of_type(&server.json(), "worker_exit").is_empty()
    });
    ensure!(
        [&server, &cl],
        reported,
        "no worker_exit line after SIGKILL to worker pid {}",
        victim.pid
    );
    let exits = of_type(&server.json(), "worker_exit");
    let exit = &exits[0];
    ensure!(
        [&server, &cl],
        exits.len() == 1 && u(exit, "pid") == u64::from(victim.pid),
        "expected one worker_exit naming pid {}; got {exits:?}",
        victim.pid
    );
    let how = exit["how"].as_str().unwrap_or("");
    ensure!(
        [&server, &cl],
        how.contains("SIGKILL") || how.contains("signal 9"),
        "worker_exit \"how\" should name SIGKILL: {how:?}"
    );
    ensure!(
        [&server, &cl],
        exit["worker"].is_u64(),
        "worker_exit should name the worker's index: {exit}"
    );
    let lost = u(exit, "connections_lost");
    ensure!(
        [&server, &cl],
        lost > 0 && lost < N,
        "connections_lost should be the victim's share of {N}, is {lost}"
    );

    // Replaced: a new child beside the two survivors; the server serves on.
    let mut now = Vec::new();
    let replaced = wait_until(Duration::from_secs(10), || {
        now = child_ids(server.pid());
        now.len() == 3 && !now.contains(&victim)
    });
    ensure!(
        [&server, &cl],
        replaced,
        "no replacement worker: children were {workers:?}, are {now:?}"
    );
    ensure!(
        [&server, &cl],
        workers[1..].iter().all(|w| now.contains(w)),
        "the surviving workers {:?} should still serve; children are {now:?}",
        &workers[1..]
    );
    server.assert_alive(&[&cl]);
    ensure!(
        [&server, &cl],
        server.wait_conns(N - lost, Duration::from_secs(5)),
        "after losing {lost} the server should show {} connections",
        N - lost
    );

    // The client saw each lost connection end.
    let noticed = wait_until(Duration::from_secs(5), || {
        client_ticks(&cl)
            .last()
            .is_some_and(|t| t["failed"].as_u64() >= Some(lost))
    });
    ensure!(
        [&server, &cl],
        noticed,
        "no client tick counted the {lost} lost connections as failed"
    );
    cl.signal(SIGTERM);
    let run = cl.wait_with(Duration::from_secs(10), &[&server]);
    ensure!(
        [&server, &run],
        run.code() == Some(1),
        "the client lost connections: exit status should be 1"
    );
    let sum = run.summary();
    ensure!([&server, &run], u(&sum, "established") == N, "established");
    ensure!(
        [&server, &run],
        peer_gone(&sum["failed"]) == lost,
        "the client's failed EOF + ECONNRESET should be the {lost} connections the worker held; \
         failed is {}",
        sum["failed"]
    );

    let all: Vec<ProcId> = workers.iter().chain(&now).copied().collect();
    let srv = server.terminate();
    let left = still_running(&all);
    ensure!([&srv, &run], srv.code() == Some(0), "server exit status");
    ensure!(
        [&srv, &run],
        left.is_empty(),
        "workers still running after the server exited: {left:?}"
    );
    let ssum = srv.summary();
    ensure!(
        [&srv, &run],
        u(&ssum, "worker_restarts") == 1,
        "server worker_restarts"
    );
    ensure!([&srv, &run], u(&ssum, "workers") == 3, "server workers");
    ensure!(
        [&srv, &run],
        u(&ssum, "peak_connections") == N,
        "server peak_connections"
    );
    ensure!(
        [&srv, &run],
        ssum["close_errors"]["worker_died"].as_u64() == Some(lost),
        "server close_errors.worker_died should be {lost}"
    );
}

#[test]
fn killing_the_supervisor_leaves_no_orphan() {
    let _g = shared();
    let server = ServerGuard::start(&["--workers", "2"]);
    let workers = child_ids(server.pid());
    ensure!(
        [&server],
        workers.len() == 2,
        "once it listens, c10m-server --workers 2 should have 2 children; has {workers:?}"
    );
    // The guard has not reaped the server, so its pid cannot name another process yet.
    let t0 = Instant::now();
    process::signal(server.pid() as i32, SIGKILL).expect("kill the server");
    let gone = wait_until(Duration::from_secs(3), || {
        still_running(&workers).is_empty()
    });
    let took = t0.elapsed();
    let run = server.kill();
    ensure!(
        [&run],
        gone,
        "workers {:?} still running 3 s after SIGKILL to their parent",
        still_running(&workers)
    );
    eprintln!("workers gone {took:?} after SIGKILL to the supervisor");
}

#[test]
fn client_processes_are_reaped() {
    const N: u64 = 30_000;
    let _g = exclusive();
    if !fd_room_for(N / 2) {
        return;
    }
    let server = ServerGuard::start(&["--workers", "2"]);
    let n = N.to_string();
    let mut cl = client(&server, &["-n", &n, "--processes", "2", "--hold", "0"]);
    ensure!(
        [&server, &cl],
        server.wait_conns(N, Duration::from_secs(20)),
        "the server never showed {N} connections"
    );
    let kids = child_ids(cl.pid());
    ensure!(
        [&server, &cl],
        kids.len() == 2,
        "c10m-client --processes 2 should have 2 children while holding; has {kids:?}"
    );

    cl.signal(SIGTERM);
    let run = cl.wait_with(Duration::from_secs(10), &[&server]);
    let left = still_running(&kids);
    ensure!(
        [&server, &run],
        matches!(run.code(), Some(0 | 1)),
        "client exit status after SIGTERM should be 0 or 1"
    );
    ensure!(
        [&server, &run],
        left.is_empty(),
        "client children still running after the client exited: {left:?}"
    );
    let sum = run.summary();
    ensure!([&server, &run], u(&sum, "established") == N, "established");
    ensure!(
        [&server, &run],
        sum["interrupted"] == true,
        "the summary should say the run was interrupted"
    );

    ensure!(
        [&server, &run],
        server.wait_conns(0, Duration::from_secs(10)),
        "the client's connections ended, yet the server still holds some"
    );
    let srv = server.terminate();
    ensure!([&srv, &run], srv.code() == Some(0), "server exit status");
    ensure!(
        [&srv, &run],
        u(&srv.summary(), "peak_connections") == N,
        "server peak_connections"
    );
}
