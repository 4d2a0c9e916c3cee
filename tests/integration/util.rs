//! Helpers shared by the integration tests: finding the binaries, running them with captured
//! output, reading their JSON lines, and failing with everything both processes printed.
//!
//! Every child is killed (SIGKILL) when its handle is dropped, and also if the test thread that
//! spawned it dies (PR_SET_PDEATHSIG), so a failing or aborted test leaves no process behind. The
//! binaries' own children (`--workers`, `--processes`) die with their parent the same way.
//!
//! No `libc` here: system calls go through `c10m-sys`'s safe wrappers.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use c10m_kernel::pid;
use c10m_kernel::pid::ProcStat;
use c10m_kernel::sockstat;
use c10m_sys::mem;
use c10m_sys::process::{self, SIGKILL, SIGTERM};
use c10m_sys::socket;
use serde_json::Value;

/// Tests that open many sockets hold this exclusively ([`exclusive`]) so that nothing else runs
/// beside them: they measure system-wide TCP counters and load both cores. Every other test that
/// opens sockets holds it shared ([`shared`]) and so runs concurrently with its peers.
static BIG: RwLock<()> = RwLock::new(());

/// For the big tests: no other socket-using test runs meanwhile.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    BIG.write().unwrap_or_else(|e| e.into_inner())
}

/// For ordinary tests: run beside each other, never beside a big one.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    BIG.read().unwrap_or_else(|e| e.into_inner())
}

/// Says why a test cannot run here. Callers return right after. The line goes straight to the
/// process's stderr, past the test harness's output capture, so `make test` shows every skip.
pub fn skip(reason: &str) {
    let _ = writeln!(io::stderr().lock(), "SKIPPED: {reason}");
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; true if it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Binaries

/// The repository's root directory.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// `target/<profile>`, from this test executable's path (`target/<profile>/deps/integration-*`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test executable is not in target/<profile>/deps")
        .to_path_buf()
}

/// The path of one of the project's binaries: `target/release/NAME` when it exists (the tests are
/// about the optimised build), else the test's own profile directory.
pub fn bin(name: &str) -> PathBuf {
    let profile = profile_dir();
    let mut candidates = Vec::new();
    if let Some(target) = profile.parent() {
        candidates.push(target.join("release").join(name));
    }
    candidates.push(profile.join(name));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found next to {}: build the binaries first: cargo build --release (make test does it)",
                profile.display()
            )
        })
}

// ---------------------------------------------------------------------------------------------
// Processes

/// Anything whose output belongs in a failure message.
pub trait Dump {
    fn dump(&self) -> String;
}

/// Panics with `msg` followed by the stdout and stderr of every process in `parts`.
#[track_caller]
pub fn fail(parts: &[&dyn Dump], msg: &str) -> ! {
    let mut s = format!("{msg}\n");
    for p in parts {
        s.push_str(&p.dump());
    }
    panic!("{s}");
}

/// `ensure!([&server, &client], cond, "format", args...)`: on failure, panics with the message
/// and both processes' output.
macro_rules! ensure {
    ($parts:expr, $cond:expr, $($fmt:tt)+) => {
        let ok: bool = $cond;
        if !ok {
            $crate::util::fail(&$parts, &format!(
                "assertion failed: {}\n{}", stringify!($cond), format!($($fmt)+)
            ));
        }
    };
}
pub(crate) use ensure;

/// The client summary says every one of `n` connections was established and held, with no
/// failure of any kind.
#[track_caller]
pub fn ensure_all_established(parts: [&dyn Dump; 2], sum: &Value, n: u64) {
    ensure!(parts, u(sum, "requested") == n, "requested");
    ensure!(parts, u(sum, "established") == n, "established");
    ensure!(parts, u(sum, "peak_open") == n, "peak_open");
    ensure!(
        parts,
        is_empty_object(&sum["failed"]),
        "failed should be {{}}, is {}",
        sum["failed"]
    );
}

/// Lines of a stream as they arrive, shared with the thread that reads them.
type Buffer = Arc<Mutex<String>>;

fn lock(b: &Buffer) -> MutexGuard<'_, String> {
    b.lock().unwrap_or_else(|e| e.into_inner())
}

fn reader(mut src: impl Read + Send + 'static, buf: Buffer) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut r = BufReader::new(&mut src);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => lock(&buf).push_str(&String::from_utf8_lossy(&line)),
            }
        }
    })
}

/// A running child with stdout and stderr captured line by line.
pub struct Proc {
    name: String,
    args: Vec<String>,
    child: Child,
    status: Option<ExitStatus>,
    stdout: Buffer,
    stderr: Buffer,
    readers: Vec<JoinHandle<()>>,
}

/// A finished child: how it ended and everything it printed.
pub struct Run {
    pub name: String,
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Proc {
    pub fn spawn(name: &str, args: &[String]) -> Proc {
        Proc::try_spawn(name, args, false).unwrap_or_else(|e| panic!("cannot start {name}: {e}"))
    }

    /// Starts `name` with `args`; with `offline`, in a network namespace of its own where only a
    /// loopback interface that is down exists, so that no packet can leave the machine whatever
    /// the binary does (for tests that hand it a non-loopback address).
    pub fn try_spawn(name: &str, args: &[String], offline: bool) -> io::Result<Proc> {
        Proc::spawn_with(name, args, offline, None)
    }

    /// Starts `name` inside the network namespace `ns`.
    pub fn spawn_in(ns: &Netns, name: &str, args: &[&str]) -> Proc {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Proc::spawn_with(name, &args, false, Some(ns))
            .unwrap_or_else(|e| panic!("cannot start {name} in {}: {e}", ns.name))
    }

    fn spawn_with(
        name: &str,
        args: &[String],
        offline: bool,
        ns: Option<&Netns>,
    ) -> io::Result<Proc> {
        let ns_fd = ns.map(|n| n.file.as_raw_fd());
        let mut cmd = Command::new(bin(name));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: the closure runs in the child between fork and exec. It allocates nothing,
        // takes no lock and touches no memory of ours: it makes the prctl and unshare system
        // calls (both wrappers document that they do nothing else, so are async-signal-safe).
        unsafe {
            cmd.pre_exec(move || {
                // Die with the test thread that spawned us, whatever happens to it.
                process::set_parent_death_signal(SIGKILL)?;
                if offline {
                    process::unshare_network_namespace()?;
                }
                if let Some(fd) = ns_fd {
                    // SAFETY: the namespace's file stays open in the parent until spawn returns.
                    process::enter_network_namespace(BorrowedFd::borrow_raw(fd))?;
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let stdout = Buffer::default();
        let stderr = Buffer::default();
        let readers = vec![
            reader(child.stdout.take().expect("piped"), stdout.clone()),
            reader(child.stderr.take().expect("piped"), stderr.clone()),
        ];
        Ok(Proc {
            name: name.to_string(),
            args: args.to_vec(),
            child,
            status: None,
            stdout,
            stderr,
            readers,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything printed to stdout so far.
    pub fn stdout(&self) -> String {
        lock(&self.stdout).clone()
    }

    /// Everything printed to stderr so far.
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// The exit status if the child has ended (reaping it).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Sends `sig` unless the child has already been reaped.
    pub fn signal(&mut self, sig: i32) {
        if self.try_status().is_some() {
            return;
        }
        // The child has not been reaped yet (try_status returned None and only this struct
        // waits on it), so its pid still names it and cannot have been reused by another
        // process. A child that has exited but is not yet reaped ignores the signal.
        let _ = process::signal(self.child.id() as i32, sig);
    }

    /// Waits up to `timeout` for the child to end; on timeout kills it and panics with its
    /// output. Returns the status and the complete output.
    pub fn wait(self, timeout: Duration) -> Run {
        self.wait_with(timeout, &[])
    }

    /// [`Proc::wait`], with the output of `others` too in the failure message.
    pub fn wait_with(mut self, timeout: Duration, others: &[&dyn Dump]) -> Run {
        let ended = wait_until(timeout, || self.try_status().is_some());
        if !ended {
            self.signal(SIGKILL);
            self.status = self.child.wait().ok();
            let mut parts: Vec<&dyn Dump> = vec![&self];
            parts.extend_from_slice(others);
            fail(
                &parts,
                &format!("{} did not exit within {timeout:?}; killed it", self.name),
            );
        }
        self.finish()
    }

    /// Collects the output of an ended child (the reader threads end at EOF).
    fn finish(&mut self) -> Run {
        let status = self.try_status().expect("finish() before exit");
        // The binaries' children (--workers, --processes) inherit stdout and stderr, so EOF
        // comes only when the last of them has exited too. They all die with their parent
        // (PR_SET_PDEATHSIG); should one linger anyway, the output so far is returned rather
        // than hanging the test, and the test's own check for leftover children names it.
        wait_until(Duration::from_secs(5), || {
            self.readers.iter().all(JoinHandle::is_finished)
        });
        for r in self.readers.drain(..) {
            if r.is_finished() {
                let _ = r.join();
            }
        }
        Run {
            name: self.name.clone(),
            args: self.args.clone(),
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            self.signal(SIGKILL);
            let _ = self.child.wait();
        }
    }
}

fn dump_streams(name: &str, args: &[String], state: &str, stdout: &str, stderr: &str) -> String {
    format!(
        "\n===== {name} {} ({state})\n----- stdout\n{stdout}\n----- stderr\n{stderr}\n===== end of {name}\n",
        args.join(" ")
    )
}

impl Dump for Proc {
    fn dump(&self) -> String {
        let state = match self.status {
            Some(s) => describe(s),
            None => "running".into(),
        };
        dump_streams(
            &self.name,
            &self.args,
            &state,
            &self.stdout(),
            &self.stderr(),
        )
    }
}

impl Dump for Run {
    fn dump(&self) -> String {
        dump_streams(
            &self.name,
            &self.args,
            &describe(self.status),
            &self.stdout,
            &self.stderr,
        )
    }
}

fn describe(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("{s}"),
    }
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Stdout lines after the first that parse as JSON objects.
    pub fn json(&self) -> Vec<Value> {
        json_lines(&self.stdout)
    }

    /// The last stdout line parsed as JSON, which must be the `"summary"` object.
    pub fn summary(&self) -> Value {
        let last = self.stdout.lines().rev().find(|l| !l.trim().is_empty());
        let v = last.and_then(|l| serde_json::from_str::<Value>(l).ok());
        match v {
            Some(v) if v["type"] == "summary" => v,
            _ => fail(
                &[self],
                "the last stdout line is not a JSON object with \"type\": \"summary\"",
            ),
        }
    }
}

/// Runs a binary to completion (bounded by `timeout`).
pub fn run(name: &str, args: &[&str], timeout: Duration) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    Proc::spawn(name, &args).wait(timeout)
}

/// [`run`] in a network namespace of its own (see [`Proc::try_spawn`]); `Err` when this
/// machine does not let us create one (it takes CAP_SYS_ADMIN).
pub fn run_offline(name: &str, args: &[&str], timeout: Duration) -> io::Result<Run> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    Ok(Proc::try_spawn(name, &args, true)?.wait(timeout))
}

/// Every complete stdout line that parses as a JSON object with a `"type"` field.
pub fn json_lines(stdout: &str) -> Vec<Value> {
    // Only lines ending in '\n' are complete; the reader appends whole lines, so all are.
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("type").is_some())
        .collect()
}

/// JSON objects of one `"type"`.
pub fn of_type(lines: &[Value], ty: &str) -> Vec<Value> {
    lines.iter().filter(|v| v["type"] == ty).cloned().collect()
}

/// True for `{}`, the empty object (how the summaries say "no failures").
pub fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.is_empty())
}

/// A JSON number as u64 (panics with the value when it is not one).
pub fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("field {key:?} is not an unsigned integer in {v}"))
}

// ---------------------------------------------------------------------------------------------
// Network namespaces

/// A throwaway network namespace made by `ip netns add`, with `lo` up and 198.18.0.1/32 on it
/// (the benchmarking range, for the servers a TUN client reaches); deleted on drop, with every
/// process still in it killed first.
pub struct Netns {
    pub name: String,
    file: std::fs::File,
}

/// The server address in a [`Netns`].
pub const NETNS_SERVER: &str = "198.18.0.1";

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Netns {
    /// A new namespace; `Err` says why there can be none here (not root, no `ip netns`).
    pub fn new() -> io::Result<Netns> {
        let ns = Netns::bare()?;
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{NETNS_SERVER}/32"),
            "dev",
            "lo",
        ])?;
        Ok(ns)
    }

    /// A new namespace with `lo` up and no address on it.
    pub fn bare() -> io::Result<Netns> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("c10m-test-{}-{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Netns {
            file: std::fs::File::open(format!("/var/run/netns/{name}"))?,
            name,
        };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs `cmd` inside the namespace; `Err` with its stderr when it fails.
    pub fn exec(&self, cmd: &[&str], stdin: &str) -> io::Result<String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut i) = child.stdin.take() {
            i.write_all(stdin.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "{}: {}",
                cmd.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A new namespace, or `None` after saying visibly why the test is skipped.
    pub fn or_skip() -> Option<Netns> {
        match Netns::new() {
            Ok(ns) => Some(ns),
            Err(e) => {
                skip(&format!(
                    "needs a network namespace (root and ip netns): {e}"
                ));
                None
            }
        }
    }

    /// `/proc/net/sockstat` as seen inside the namespace.
    pub fn sockstat(&self) -> sockstat::SockStat {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "cat", "/proc/net/sockstat"])
            .output()
            .expect("ip netns exec cat /proc/net/sockstat");
        sockstat::parse_sockstat(&String::from_utf8_lossy(&out.stdout))
    }

    /// The interfaces of the namespace, as `ip -o link` names them.
    pub fn links(&self) -> Vec<String> {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-o", "link"])
            .output()
            .expect("ip -o link");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| Some(l.split(':').nth(1)?.trim().to_string()))
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    let _ = process::signal(pid, SIGKILL);
                }
            }
        }
        let _ = ip(&["netns", "del", &self.name]);
    }
}

// ---------------------------------------------------------------------------------------------
// The server

/// A running `c10m-server --listen 127.0.0.1:0 --json --stats-interval 0.2 ARGS`: its address,
/// its ticks as they arrive, and SIGKILL on drop.
pub struct ServerGuard {
    proc: Option<Proc>,
    pub addr: SocketAddr,
    pid: u32,
}

impl ServerGuard {
    pub fn start(args: &[&str]) -> ServerGuard {
        ServerGuard::start_at(None, "127.0.0.1:0", args)
    }

    /// The same, listening on [`NETNS_SERVER`] inside `ns`.
    pub fn start_in(ns: &Netns, args: &[&str]) -> ServerGuard {
        ServerGuard::start_at(Some(ns), &format!("{NETNS_SERVER}:0"), args)
    }

    /// The same, listening on `listen` (IP:0 or [IPv6]:0) inside `ns`.
    pub fn start_listening(ns: &Netns, listen: &str, args: &[&str]) -> ServerGuard {
        ServerGuard::start_at(Some(ns), listen, args)
    }

    fn start_at(ns: Option<&Netns>, listen: &str, args: &[&str]) -> ServerGuard {
        let mut all: Vec<String> = ["--listen", listen, "--json", "--stats-interval", "0.2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        all.extend(args.iter().map(|s| s.to_string()));
        let mut proc = Proc::spawn_with("c10m-server", &all, false, ns)
            .unwrap_or_else(|e| panic!("cannot start c10m-server: {e}"));
        let pid = proc.pid();
        let ready = wait_until(Duration::from_secs(10), || {
            proc.stdout().contains('\n') || proc.try_status().is_some()
        });
        let first = proc.stdout().lines().next().map(str::to_string);
        let addr = first
            .as_deref()
            .and_then(|l| l.strip_prefix("listening on "))
            .and_then(|a| a.trim().parse::<SocketAddr>().ok());
        match addr {
            Some(addr) if ready => ServerGuard {
                proc: Some(proc),
                addr,
                pid,
            },
            _ => fail(
                &[&proc],
                "c10m-server did not print `listening on IP:PORT` as its first line",
            ),
        }
    }

    fn proc(&self) -> &Proc {
        self.proc.as_ref().expect("server already stopped")
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    /// The JSON lines printed so far.
    pub fn json(&self) -> Vec<Value> {
        json_lines(&self.proc().stdout())
    }

    pub fn ticks(&self) -> Vec<Value> {
        of_type(&self.json(), "tick")
    }

    pub fn last_tick(&self) -> Option<Value> {
        self.ticks().pop()
    }

    /// Number of ticks printed so far.
    pub fn tick_count(&self) -> usize {
        self.ticks().len()
    }

    /// Waits until the latest tick shows exactly `n` connections.
    pub fn wait_conns(&self, n: u64, timeout: Duration) -> bool {
        wait_until(timeout, || {
            self.last_tick()
                .is_some_and(|t| t["connections"].as_u64() == Some(n))
        })
    }

    /// Fails the test unless the server is still running.
    #[track_caller]
    pub fn assert_alive(&mut self, others: &[&dyn Dump]) {
        let proc = self.proc.as_mut().expect("server already stopped");
        if proc.try_status().is_some() {
            let mut parts: Vec<&dyn Dump> = vec![&*proc];
            parts.extend_from_slice(others);
            fail(&parts, "c10m-server exited while the test still needed it");
        }
    }

    /// Sends SIGTERM and waits (up to 10 s) for the server to exit; returns how it ended and
    /// its complete output.
    /// What the server has written to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.proc.as_ref().map(Proc::stderr).unwrap_or_default()
    }

    pub fn terminate(self) -> Run {
        self.stop(SIGTERM)
    }

    /// Sends SIGKILL and waits for the server to be gone; returns its output.
    pub fn kill(self) -> Run {
        self.stop(SIGKILL)
    }

    fn stop(mut self, sig: i32) -> Run {
        let mut proc = self.proc.take().expect("server already stopped");
        proc.signal(sig);
        proc.wait(Duration::from_secs(10))
    }
}

// ---------------------------------------------------------------------------------------------
// The client

/// Starts `c10m-client --target SERVER --json ARGS`.
pub fn client(server: &ServerGuard, args: &[&str]) -> Proc {
    let mut all = vec![
        "--target".to_string(),
        server.addr_string(),
        "--json".to_string(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    Proc::spawn("c10m-client", &all)
}

// ---------------------------------------------------------------------------------------------
// Processes in /proc

/// `/proc/PID/stat`. A zombie ([`ProcStat::is_dead`]) has exited and holds no descriptors, only
/// its exit status; containers whose PID 1 does not reap leave orphaned children as zombies for
/// good, so they count as gone.
fn stat(pid: u32) -> Option<ProcStat> {
    pid::read_proc_stat(pid).ok()
}

/// The running (not zombie) children of `pid`, in pid order: every process in /proc whose
/// parent it is.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut kids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| stat(p).is_some_and(|s| s.ppid == pid && !s.is_dead()))
        .collect();
    kids.sort_unstable();
    kids
}

/// One process, named by its pid and start time: the pair stays unique even once the pid is
/// reused by another process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcId {
    pub pid: u32,
    start: u64,
}

impl ProcId {
    /// The process now running as `pid`, if any.
    pub fn of(pid: u32) -> Option<ProcId> {
        stat(pid).map(|s| ProcId {
            pid,
            start: s.start_ticks,
        })
    }

    /// True while this very process exists and has not exited.
    pub fn is_running(&self) -> bool {
        stat(self.pid).is_some_and(|s| s.start_ticks == self.start && !s.is_dead())
    }
}

/// The [`ProcId`]s of `pid`'s running children.
pub fn child_ids(pid: u32) -> Vec<ProcId> {
    children_of(pid)
        .into_iter()
        .filter_map(ProcId::of)
        .collect()
}

/// Sockets open in the processes `ids`, from /proc/PID/fd (one readlink per descriptor: call
/// it once, not in a loop). Unlike /proc/net/sockstat it counts only these processes' sockets,
/// whatever else runs on the machine.
pub fn sockets_of(ids: &[ProcId]) -> u64 {
    ids.iter()
        .filter_map(|p| pid::count_fds(std::path::Path::new(&format!("/proc/{}/fd", p.pid))).ok())
        .map(|c| c.sockets)
        .sum()
}

/// The pids among `ids` that still run.
pub fn still_running(ids: &[ProcId]) -> Vec<u32> {
    ids.iter()
        .filter(|p| p.is_running())
        .map(|p| p.pid)
        .collect()
}

impl Dump for ServerGuard {
    fn dump(&self) -> String {
        match &self.proc {
            Some(p) => p.dump(),
            None => "\n(server already stopped)\n".into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sockets of the test process

/// Per-process CPU time (user + system) in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    pid::read_cpu_seconds(pid, mem::clock_ticks())
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/stat: {e}"))
}

/// Resident set size of `pid` in bytes, from /proc/PID/statm.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    pid::read_rss_bytes(Some(pid), mem::page_size()).ok()
}

/// System-wide TCP sockets in use (IPv4 + IPv6).
pub fn tcp_inuse() -> u64 {
    sockstat::read_sockstat()
        .expect("read /proc/net/sockstat")
        .tcp_inuse
}

/// How far the system's TCP sockets in use rose while connections were held: a count before,
/// the highest of the samples taken meanwhile, and a count after they are closed again.
pub struct InuseRise {
    before: u64,
    peak: u64,
}

impl InuseRise {
    pub fn start() -> InuseRise {
        let before = tcp_inuse();
        InuseRise {
            before,
            peak: before,
        }
    }

    pub fn sample(&mut self) {
        self.peak = self.peak.max(tcp_inuse());
    }

    /// Call once the connections are closed. The baseline is the lower of the counts before and
    /// after, so that sockets other programs on the machine closed meanwhile cannot hide the
    /// rise.
    pub fn rise(&self) -> u64 {
        let after = tcp_inuse();
        let baseline = self.before.min(after);
        let rise = self.peak.saturating_sub(baseline);
        eprintln!(
            "TCP inuse rose by {rise} (before {}, after {after}, peak {})",
            self.before, self.peak
        );
        rise
    }
}

/// `SO_LINGER {on, 0}`: the next close sends a RST instead of a FIN.
pub fn set_linger_zero(s: &TcpStream) -> io::Result<()> {
    socket::set_linger_zero(s.as_fd())
}

/// Deterministic pseudo-random bytes (xorshift64*), different for each `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Connects to `addr` with a 5 s timeout and 5 s read/write timeouts.
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Writes `msg`, reads the same number of bytes back (within the stream's timeouts) and checks
/// they are identical. `msg` must fit in the socket buffers (a few tens of KiB), since the whole
/// message is written before anything is read.
pub fn echo(s: &mut TcpStream, msg: &[u8]) -> Result<(), String> {
    s.write_all(msg).map_err(|e| format!("write: {e}"))?;
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back)
        .map_err(|e| format!("reading the echo of {} bytes: {e}", msg.len()))?;
    match back.iter().zip(msg).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(format!(
            "echo differs at byte {i} of {}: sent {:#04x}, got {:#04x}",
            msg.len(),
            msg[i],
            back[i]
        )),
    }
}
