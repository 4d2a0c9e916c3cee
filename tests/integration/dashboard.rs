//! `--dashboard` and `--report`: the page in a real browser (Debian's headless chromium through
//! scripts/browse.py), the pages' limits on clients, and the flags' mistakes.
//!
//! The browser tests skip visibly where no browser can be had (`make setup` installs chromium,
//! chromium-driver and selenium). Their screenshots are kept in
//! target/test-artifacts/dashboard/ for a person to look at.

use std::fs::Permissions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use c10m_sys::process::SIGINT;

use crate::util::{self, client, json_lines, of_type, u, wait_until, Proc, ServerGuard};

/// The URL a binary's stderr names for its dashboard.
fn dashboard_url(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|l| {
        l.split_once("dashboard at ")
            .map(|(_, u)| u.trim().to_string())
    })
}

fn wait_url(p: &Proc) -> String {
    let mut url = None;
    wait_until(Duration::from_secs(15), || {
        url = dashboard_url(&p.stderr());
        url.is_some()
    });
    url.unwrap_or_else(|| util::fail(&[p], "no `dashboard at http://...` on stderr"))
}

/// `GET path` from a page at `addr`: the status and the body.
pub(crate) fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the page");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // A page that is full answers 503 before it reads: the request may not go out whole.
    let _ = write!(s, "GET {path} HTTP/1.0\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("a dashboard URL is http://IP:PORT/")
}

fn artifacts() -> PathBuf {
    let dir = util::repo().join("target/test-artifacts/dashboard");
    std::fs::create_dir_all(&dir).expect("target/ is writable");
    dir
}

/// scripts/browse.py on `url`: its JSON, or `None` (said) when there is no browser here.
fn browse(url: &str, args: &[&str]) -> Option<Value> {
    let out = Command::new("python3")
        .arg(util::repo().join("scripts/browse.py"))
        .arg(url)
        .args(args)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(3) => {
            util::skip(&format!("no browser for the dashboard's tests: {stderr}"));
            None
        }
        Some(0 | 1) => Some(
            serde_json::from_str(stdout.trim())
                .unwrap_or_else(|e| panic!("browse.py printed no JSON ({e}): {stdout}\n{stderr}")),
        ),
        _ => panic!("browse.py failed on {url}: {stdout}\n{stderr}"),
    }
}

/// The headline figure `key` of a page, as JavaScript reads it (digits only).
fn headline(key: &str) -> String {
    format!(
        r#"(document.querySelector('#headline [data-key={key}] .v') || {{textContent: ''}}).textContent.replace(/,/g, '')"#
    )
}

#[track_caller]
fn assert_clean(page: &Value, what: &str) {
    let console = page["console"].as_array().cloned().unwrap_or_default();
    let errors: Vec<&Value> = console
        .iter()
        .filter(|m| m.as_str().is_some_and(|s| s.starts_with("SEVERE")))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the console shows errors: {errors:?}"
    );
}

#[test]
fn a_browser_follows_a_demo_on_both_dashboards_and_opens_the_report_offline() {
    let _g = util::shared();
    // A demo filled to its descriptor room: a server under a small RLIMIT_NOFILE, a client
    // that fills it.
    let mut server = ServerGuard::start(&["--nofile", "1024", "--dashboard", "127.0.0.1:0"]);
    let start = of_type(&server.json(), "start")
        .pop()
        .expect("a start line");
    let room = u(&start, "max_conns");
    let server_url = dashboard_url(&server.stderr_text()).expect("the server names its page");
    let dir = tempdir("demo");
    let report = dir.join("client.html");
    let report_arg = report.to_string_lossy().to_string();
    let n = room.to_string();
    let mut c = client(
        &server,
        &[
            "-n",
            &n,
            "--hold",
            "30",
            "--dashboard",
            "127.0.0.1:0",
            "--report",
            &report_arg,
        ],
    );
    let client_url = wait_url(&c);
    let shots = artifacts();
    let server_shot = shots.join("server.png").to_string_lossy().to_string();
    let client_shot = shots.join("client.png").to_string_lossy().to_string();
    let until_server = format!("{} === '{room}'", headline("connections"));
    let until_client = format!("{} === '{room}'", headline("established"));
    let nearest = "nearest=document.querySelector('#nearest').dataset.key".to_string();
    let near_name = "name=document.querySelector('#nearest-name').textContent".to_string();
    let (su, cu) = (server_url.clone(), client_url.clone());
    let (ss, cs) = (server_shot.clone(), client_shot.clone());
    let (us, uc) = (until_server.clone(), until_client.clone());
    let (n1, n2) = (nearest.clone(), near_name.clone());
    let on_server = std::thread::spawn(move || {
        browse(
            &su,
            &[
                "--until",
                &us,
                "--read",
                &n1,
                "--read",
                &n2,
                "--shot",
                &ss,
                "--timeout",
                "25",
            ],
        )
    });
    let on_client = std::thread::spawn(move || {
        browse(
            &cu,
            &[
                "--until",
                &uc,
                "--read",
                &nearest,
                "--shot",
                &cs,
                "--timeout",
                "25",
            ],
        )
    });
    let (sp, cp) = (on_server.join().unwrap(), on_client.join().unwrap());
    server.assert_alive(&[&c]);
    c.signal(SIGINT);
    let run = c.wait_with(Duration::from_secs(30), &[]);
    let summary = run.summary();
    let (Some(sp), Some(cp)) = (sp, cp) else {
        return;
    };
    assert_eq!(
        sp["until"], true,
        "the server's page never showed {room} connections: {sp}"
    );
    assert_eq!(
        cp["until"], true,
        "the client's page never showed {room} established: {cp}"
    );
    assert_eq!(u(&summary, "established"), room, "{}", run.stdout);
    assert_eq!(sp["read"]["nearest"], "fds_per_process", "{sp}");
    assert!(
        sp["read"]["name"]
            .as_str()
            .is_some_and(|s| s.starts_with("fds per process")),
        "{sp}"
    );
    assert_clean(&sp, "the server's page");
    assert_clean(&cp, "the client's page");
    // The report, opened with the network off, shows the same summary.
    let url = format!("file://{}", report.display());
    let established =
        "est=document.querySelector('#summary tr[data-field=established] td.n').textContent.replace(/,/g, '')";
    let shot = shots.join("report.png").to_string_lossy().to_string();
    let page = browse(
        &url,
        &[
            "--offline",
            "--until",
            "document.querySelector('#summary').dataset.ended === '1'",
            "--read",
            established,
            "--shot",
            &shot,
        ],
    )
    .expect("a browser, as above");
    assert_eq!(page["until"], true, "{page}");
    assert_eq!(page["read"]["est"], room.to_string(), "{page}");
    assert_clean(&page, "the report");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh folder under the system's temporary one, for test `tag` (the test removes it when it
/// passes).
fn tempdir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("c10m-dashboard-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_pages_serve_a_classroom_at_once_and_idle_connections_cost_nothing() {
    let _g = util::shared();
    let server = ServerGuard::start(&[
        "--dashboard",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
        "--http-clients",
        "4",
    ]);
    let stderr = server.stderr_text();
    let dash = addr_of(&dashboard_url(&stderr).expect("dashboard URL"));
    let metrics: SocketAddr = stderr
        .lines()
        .find_map(|l| l.split_once("metrics at http://"))
        .and_then(|(_, a)| a.trim().trim_end_matches("/metrics").parse().ok())
        .expect("metrics URL");
    let threads = || {
        std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = threads();
    assert_eq!(get(dash, "/api/state").0, 200);
    // 300 connections to each page that never send a request.
    let idle: Vec<TcpStream> = (0..300)
        .flat_map(|_| [TcpStream::connect(dash), TcpStream::connect(metrics)])
        .filter_map(Result::ok)
        .collect();
    assert!(idle.len() >= 500, "{} connections", idle.len());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(threads(), before, "a page started threads for its clients");
    // Their four slots go, the longest idle first, to clients that ask for something.
    assert_eq!(get(dash, "/api/state").0, 200);
    assert_eq!(get(metrics, "/metrics").0, 200);
    assert_eq!(threads(), before, "a page started threads for its clients");
    drop(idle);
    // Read-only: nothing but GET and HEAD.
    let mut s = TcpStream::connect(dash).unwrap();
    s.write_all(b"POST /api/state HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    drop(server);
}

#[test]
fn a_page_that_cannot_be_served_is_bad_usage_before_any_connection() {
    let _g = util::shared();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    // Workers are not forked.
    let run = util::run(
        "c10m-server",
        &[
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--dashboard",
            &addr,
        ],
        Duration::from_secs(10),
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("--dashboard") && run.stderr.contains("in use"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("listening on"), "{}", run.stdout);
    // Client processes do not connect.
    let server = ServerGuard::start(&[]);
    let c = client(
        &server,
        &["-n", "100", "--processes", "2", "--dashboard", &addr],
    );
    let run = c.wait(Duration::from_secs(10));
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    std::thread::sleep(Duration::from_millis(500));
    let accepted = server.last_tick().map_or(0, |t| u(&t, "connections"));
    let summary = server.terminate();
    assert_eq!(accepted, 0);
    let last = json_lines(&summary.stdout).pop().expect("a summary");
    assert_eq!(u(&last, "accepted"), 0, "{}", summary.stdout);
    // An address of no interface here (TEST-NET-1): nothing is sent, bind() refuses it.
    let run = util::run(
        "c10m-server",
        &["--listen", "127.0.0.1:0", "--dashboard", "192.0.2.1:0"],
        Duration::from_secs(10),
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("not one of this machine's"),
        "{}",
        run.stderr
    );
    // A report in a folder that is not there.
    let run = util::run(
        "c10m-server",
        &[
            "--listen",
            "127.0.0.1:0",
            "--report",
            "/nonexistent/c10m/r.html",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("--report"), "{}", run.stderr);
    drop(taken);
}

#[test]
fn a_report_that_cannot_be_written_is_bad_usage_before_any_connection() {
    let _g = util::shared();
    let dir = tempdir("read-only");
    std::fs::set_permissions(&dir, Permissions::from_mode(0o555)).unwrap();
    // Nobody makes a file in sysfs; a folder's mode binds everyone but root.
    let mut folders = vec![PathBuf::from("/sys")];
    if std::fs::File::create(dir.join("r.html")).is_err() {
        folders.push(dir.clone());
    }
    let server = ServerGuard::start(&[]);
    for folder in &folders {
        let report = folder.join("r.html").to_string_lossy().to_string();
        let c = client(&server, &["-n", "100", "--report", &report]);
        let run = c.wait(Duration::from_secs(10));
        assert_eq!(run.code(), Some(2), "{}", run.stderr);
        assert!(
            run.stderr.contains("--report") && run.stderr.contains("cannot write it"),
            "{}",
            run.stderr
        );
        let run = util::run(
            "c10m-server",
            &["--listen", "127.0.0.1:0", "--report", &report],
            Duration::from_secs(10),
        );
        assert_eq!(run.code(), Some(2), "{}", run.stderr);
        assert!(!run.stdout.contains("listening on"), "{}", run.stdout);
    }
    std::thread::sleep(Duration::from_millis(500));
    let accepted = server.last_tick().map_or(0, |t| u(&t, "connections"));
    let summary = server.terminate();
    assert_eq!(accepted, 0);
    let last = json_lines(&summary.stdout).pop().expect("a summary");
    assert_eq!(u(&last, "accepted"), 0, "{}", summary.stdout);
    std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `c10m-server --nofile 16 ARGS` started with descriptors 3 to 2+`taken` already open (on
/// /dev/null), so that it runs out of descriptors at a chosen point of its start; killed after
/// 5 s if it gets past it.
fn server_with_fds_taken(taken: u32, args: &[&str]) -> util::Run {
    let opens: String = (3..3 + taken)
        .map(|fd| format!(" {fd}</dev/null"))
        .collect();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec{opens}; exec timeout -s KILL 5 \"$0\" --nofile 16 \"$@\""
        ))
        .arg(util::bin("c10m-server"))
        .args(args)
        .output()
        .expect("bash runs");
    util::Run {
        name: "c10m-server".into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The first run of `args` that fails where the page's thread starts, taking descriptors away
/// one at a time from the most a start can go without.
fn start_failure(args: &[&str]) -> util::Run {
    (0..14)
        .rev()
        .map(|taken| server_with_fds_taken(taken, args))
        .find(|run| run.stderr.contains("cannot start the page's thread"))
        .unwrap_or_else(|| {
            panic!("no number of descriptors taken made {args:?} fail to start a page")
        })
}

#[test]
fn a_page_that_cannot_start_is_a_run_time_failure_not_bad_usage() {
    let _g = util::shared();
    let run = start_failure(&["--listen", "127.0.0.1:0", "--dashboard", "127.0.0.1:0"]);
    assert_eq!(run.code(), Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("--dashboard: cannot start"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("cannot listen"), "{}", run.stderr);
    // --report alone has no address to name.
    let dir = tempdir("start");
    let report = dir.join("r.html").to_string_lossy().to_string();
    let run = start_failure(&["--listen", "127.0.0.1:0", "--report", &report]);
    assert_eq!(run.code(), Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("--report: cannot start"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("0.0.0.0"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The report's inline data: `window.C10M_REPORT = {"state": ..., "series": ...};`.
pub(crate) fn report_data(path: &Path) -> Value {
    let html = std::fs::read_to_string(path).expect("the report was written");
    let start = html
        .find("window.C10M_REPORT = {")
        .expect("the report has its data inline")
        + "window.C10M_REPORT = ".len();
    let end = start + html[start..].find("};</script>").expect("the data ends") + 1;
    serde_json::from_str(&html[start..end]).expect("the report's data is JSON")
}
