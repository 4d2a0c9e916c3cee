//! `--check`: every limit that bounds N connections on this machine, one row each, and the first
//! one that binds.
//!
//! The seed's table of limits (claims C5, C8-C14), computed instead of recited. [`Facts`] holds
//! the numbers read from the machine (rlimits, the effective capabilities, sysctls, meminfo);
//! [`Facts::read`] is the only part that touches the system. [`server_rows`] and [`client_rows`]
//! are pure: given the facts and what is asked for ([`ServerAsk`], [`ClientAsk`]) they return one
//! [`Row`] per limit with its value, how much it allows, whether it binds for the ask, what it
//! means and the command that moves it. So every verdict can be tested on made-up facts.
//!
//! # What "allows" counts
//! Most rows allow a number of **connections** (fds, files, epoll watches, memory, ports,
//! conntrack entries). The listen queues allow a **burst**: how many handshakes may wait for
//! `accept()` at once; they never bind for N, because they bound arrivals, not how many
//! connections are held. The TIME_WAIT row allows a **rate**: the churn of short connections per
//! second the port range sustains. A row binds when what it allows is less than what is asked
//! (`needs`: N connections, or the churn rate R).
//!
//! # Which limit binds first
//! [`first_binding`]: among the rows that bind, the one that covers the smallest share of its ask
//! (`allows / needs`, compared exactly); for rows counting connections that is simply the one
//! that allows the fewest. On a tie the earlier row in table order wins, and the tables list the
//! per-process fd limit first, because it is the one a student meets first (EMFILE).
//!
//! # Both ends on one machine
//! When the connections stay on loopback (a server listening on a loopback address, a client with
//! only loopback targets), both ends live here: each connection is two sockets, two fds counted
//! by `fs.file-max`, two epoll watches of the same user, and a socket pair's worth of kernel
//! memory. The rows then count both ends, and say so.

use std::io;

use crate::fmt::{self, thousands};
use crate::json::{Object, Value};
use crate::kernel::{self, KernelLimits, PortRange, TcpMem};
use crate::{procfs, rlimit, sys};

/// Kernel slab per idle connection **pair** on loopback (two sockets: TCP, sock_inode_cache,
/// dentry, filp, eventpoll_epi and small caches), measured by `BENCH_CONNS=1000000 make bench` on
/// the reference machine (docs/results.md, 2026-11-24 10:34; docs/scale.md "What each connection
/// costs"). The 19,000-connection run measured 10,265.4 B: the cost does not depend on scale.
pub const KERNEL_BYTES_PER_PAIR: f64 = 10_202.4;
/// Half a pair: one socket, for a peer on another machine (~5.1 KB).
pub const KERNEL_BYTES_PER_SOCKET: f64 = KERNEL_BYTES_PER_PAIR / 2.0;
/// Server RSS growth per idle connection, same run (16.2-22.3 B over all runs).
pub const SERVER_USER_BYTES_PER_CONN: f64 = 19.3;
/// Client RSS growth per connection, same run (28.1-33.2 B over all runs).
pub const CLIENT_USER_BYTES_PER_CONN: f64 = 32.9;
/// `TCP_TIMEWAIT_LEN`: compiled into the kernel, no sysctl moves it (claim C2).
pub const TIME_WAIT_SECS: u64 = 60;
/// `tcp_tw_reuse_delay`'s default, and the 1 s granularity of older kernels that lack the knob.
const DEFAULT_TW_REUSE_DELAY_MS: u64 = 1000;

/// conntrack's table: present only when `nf_conntrack` is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conntrack {
    pub max: u64,
    /// `nf_conntrack_count`: entries now.
    pub count: Option<u64>,
}

/// Everything the rows are computed from, read once from this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub nofile_soft: u64,
    pub nofile_hard: u64,
    /// CAP_SYS_RESOURCE in this process's effective set (in the initial user namespace): may
    /// raise the hard limit.
    pub cap_sys_resource: bool,
    /// CAP_SYS_ADMIN, likewise: exempt from `fs.file-max`.
    pub cap_sys_admin: bool,
    pub nr_open: Option<u64>,
    pub file_max: Option<u64>,
    /// `fs.file-nr`'s first field: files open on the whole machine now.
    pub files_allocated: Option<u64>,
    pub max_user_watches: Option<u64>,
    /// Bytes.
    pub mem_available: Option<u64>,
    pub page_size: u64,
    pub somaxconn: Option<u64>,
    pub tcp_max_syn_backlog: Option<u64>,
    pub tcp_syncookies: Option<u64>,
    pub tcp_mem: Option<TcpMem>,
    pub conntrack: Option<Conntrack>,
    pub port_range: Option<PortRange>,
    pub tcp_tw_reuse: Option<u64>,
    pub tcp_tw_reuse_delay_ms: Option<u64>,
    pub tcp_timestamps: Option<u64>,
    pub tcp_fin_timeout: Option<u64>,
    pub tcp_max_tw_buckets: Option<u64>,
}

impl Facts {
    /// Reads this process's limits and the machine's knobs. Only the rlimit read can fail; a
    /// missing file leaves its field `None` (a missing `CapEff` line reads as no capabilities).
    pub fn read() -> io::Result<Facts> {
        let (soft, hard) = sys::get_nofile()?;
        // Capabilities of a child user namespace do not count for capable().
        let caps = if rlimit::in_initial_user_ns() {
            rlimit::read_cap_eff().unwrap_or(0)
        } else {
            0
        };
        let k = KernelLimits::read();
        let num = |name: &str| {
            kernel::read_sysctl(name)
                .ok()
                .as_deref()
                .and_then(kernel::parse_u64)
        };
        let mem = procfs::read_meminfo().ok();
        Ok(Facts {
            nofile_soft: soft,
            nofile_hard: hard,
            cap_sys_resource: rlimit::has_cap(caps, rlimit::CAP_SYS_RESOURCE),
            cap_sys_admin: rlimit::has_cap(caps, rlimit::CAP_SYS_ADMIN),
            nr_open: k.nr_open,
            file_max: k.file_max,
            files_allocated: k.file_nr.map(|f| f.allocated),
            max_user_watches: k.epoll_max_user_watches,
            mem_available: mem.map(|m| m.mem_available).filter(|b| *b > 0),
            page_size: sys::page_size(),
            somaxconn: k.somaxconn,
            tcp_max_syn_backlog: k.tcp_max_syn_backlog,
            tcp_syncookies: num("net.ipv4.tcp_syncookies"),
            tcp_mem: k.tcp_mem,
            conntrack: k.nf_conntrack_max.map(|max| Conntrack {
                max,
                count: num("net.netfilter.nf_conntrack_count"),
            }),
            port_range: k.ip_local_port_range,
            tcp_tw_reuse: k.tcp_tw_reuse,
            tcp_tw_reuse_delay_ms: k.tcp_tw_reuse_delay,
            tcp_timestamps: num("net.ipv4.tcp_timestamps"),
            tcp_fin_timeout: k.tcp_fin_timeout,
            tcp_max_tw_buckets: k.tcp_max_tw_buckets,
        })
    }
}

/// How many processes share the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Procs {
    Count(u64),
    /// As many as the per-process fd limit needs (`--workers auto`).
    Auto,
}

/// What `c10m-server --check` is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAsk {
    pub connections: u64,
    pub workers: Procs,
    /// `--backlog`; `None`: somaxconn, the server's default.
    pub backlog: Option<u64>,
    /// `--nofile`; `None`: the hard limit, the server's default.
    pub nofile: Option<u64>,
    /// Listening on a loopback address: the clients' sockets are on this machine too.
    pub loopback: bool,
    /// Descriptors a worker keeps for itself (the server's `FDS_PER_WORKER`).
    pub reserve: u64,
    /// Share of a worker's room `--workers auto` fills (the server's `AUTO_FILL_PERCENT`).
    pub auto_fill_percent: u64,
}

/// What `c10m-client --check` is asked. The pairs come from the client's own plan, so the check
/// agrees with what a run with the same flags would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAsk {
    /// Connections held at once.
    pub connections: u64,
    /// `--processes`; `None` is counted as one process (see [`client_rows`]).
    pub processes: Option<u64>,
    /// `--nofile`; `None`: the hard limit.
    pub nofile: Option<u64>,
    /// Descriptors a process keeps for itself.
    pub reserve: u64,
    pub targets: u64,
    /// Source addresses bound before connect; 0: none (the kernel picks).
    pub sources: u64,
    /// The plan chose the sources (no `--source`).
    pub sources_chosen: bool,
    /// Connections per pair past which connect() slows down.
    pub knee: Option<u64>,
    /// Every target is a loopback address: the server's sockets are on this machine too.
    pub loopback: bool,
    /// Short connections per second (`--mode churn --rate R`); `None`: no churn asked.
    pub churn_rate: Option<u64>,
    /// How the client closes, which decides who holds the TIME_WAIT.
    pub close: Close,
}

/// How the client closes each short connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// close() first: the TIME_WAIT is the client's.
    Fin,
    /// SO_LINGER 0: a reset, no TIME_WAIT anywhere.
    Rst,
    /// Closes only after the server's FIN: a server that closes first holds the TIME_WAIT.
    Wait,
}

impl ClientAsk {
    pub fn pairs(&self) -> u64 {
        self.targets.max(1) * self.sources.max(1)
    }
}

/// What a row's `allows` and `needs` count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Connections,
    /// Handshakes waiting in a listen queue at once.
    Queued,
    /// Short connections per second.
    PerSecond,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Connections => "connections",
            Unit::Queued => "queued",
            Unit::PerSecond => "per_second",
        }
    }

    fn text(self, n: u64) -> String {
        match self {
            Unit::Connections => thousands(n),
            Unit::Queued => format!("{} queued", thousands(n)),
            Unit::PerSecond => format!("{}/s", thousands(n)),
        }
    }
}

/// One limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Stable id for scripts: `fds_per_process`, `file_max`, ...
    pub key: &'static str,
    pub name: &'static str,
    /// The setting as read, with the numbers it is made of.
    pub value: String,
    /// How much it allows, in `unit`; `None`: it does not bound connections (or is unknown).
    pub allows: Option<u64>,
    pub unit: Unit,
    /// What is asked, in `unit`; `None`: nothing asked of this row.
    pub needs: Option<u64>,
    pub binds: bool,
    /// What the number means here.
    pub note: String,
    /// The command or flag that moves it.
    pub fix: String,
}

impl Row {
    fn new(key: &'static str, name: &'static str, unit: Unit) -> Row {
        Row {
            key,
            name,
            value: String::new(),
            allows: None,
            unit,
            needs: None,
            binds: false,
            note: String::new(),
            fix: String::new(),
        }
    }

    /// Sets `allows` and `needs`; binds when it allows less than it needs.
    fn limit(mut self, allows: Option<u64>, needs: Option<u64>) -> Row {
        self.allows = allows;
        self.needs = needs;
        self.binds = matches!((allows, needs), (Some(a), Some(n)) if a < n);
        self
    }

    pub fn allows_text(&self) -> String {
        self.allows
            .map_or_else(|| "-".to_string(), |a| self.unit.text(a))
    }

    pub fn needs_text(&self) -> String {
        self.needs
            .map_or_else(|| "-".to_string(), |n| self.unit.text(n))
    }
}

/// The binding row that covers the smallest share of its ask (`allows / needs`); on a tie, the
/// first in table order. `None` when nothing binds.
pub fn first_binding(rows: &[Row]) -> Option<&Row> {
    rows.iter().filter(|r| r.binds).min_by(|a, b| {
        let share = |r: &Row| {
            (
                u128::from(r.allows.unwrap_or(0)),
                u128::from(r.needs.unwrap_or(1).max(1)),
            )
        };
        let ((aa, an), (ba, bn)) = (share(a), share(b));
        (aa * bn).cmp(&(ba * an))
    })
}

// ---------------------------------------------------------------------------------------------
// Rows both roles share

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// The soft limit each process runs with: the hard limit by default; `--nofile` above the hard
/// limit only with CAP_SYS_RESOURCE and up to `fs.nr_open` (else the binary settles for the hard
/// limit, as `rlimit::raise_nofile` does).
fn per_process_limit(f: &Facts, nofile: Option<u64>) -> u64 {
    match nofile {
        None => f.nofile_hard,
        Some(x) if x <= f.nofile_hard => x,
        Some(x) if f.cap_sys_resource && f.nr_open.is_none_or(|n| x <= n) => x,
        Some(_) => f.nofile_hard,
    }
}

/// How one role spreads its connections over processes, for the fd row.
struct Spread<'a> {
    procs: Procs,
    nofile: Option<u64>,
    /// Descriptors each process keeps for itself.
    reserve: u64,
    /// How full the automatic count plans each process.
    fill_percent: u64,
    /// The flag that spreads the load: `--workers`, `--processes`.
    flag: &'a str,
    /// Appended to the row's note.
    counted_note: &'a str,
}

/// Per-process descriptors (claim C12).
fn fd_row(f: &Facts, n: u64, spread: Spread<'_>) -> Row {
    let Spread {
        procs,
        nofile,
        reserve,
        fill_percent,
        flag,
        counted_note,
    } = spread;
    let limit = per_process_limit(f, nofile);
    let room = limit.saturating_sub(reserve).max(1);
    let planned = (room * fill_percent / 100).max(1);
    let k = n.div_ceil(planned);
    let count = match procs {
        Procs::Count(c) => c.max(1),
        Procs::Auto => k,
    };
    let allows = room.saturating_mul(count);
    let nr_open = f.nr_open.map_or("?".into(), thousands);
    let mut row = Row::new("fds_per_process", "fds per process", Unit::Connections)
        .limit(Some(allows), Some(n));
    row.value = format!(
        "soft {} / hard {}, fs.nr_open {}, CAP_SYS_RESOURCE {}",
        thousands(f.nofile_soft),
        thousands(f.nofile_hard),
        nr_open,
        if f.cap_sys_resource { "yes" } else { "no" }
    );
    row.note = format!(
        "RLIMIT_NOFILE: one fd per connection; {} x {} fds (the limit {} minus {reserve} the \
         process keeps); the soft limit is raised to the hard one by the binary itself{}",
        plural(count, "process", "processes"),
        thousands(room),
        thousands(limit),
        counted_note
    );
    // What one process would need to hold its share on its own.
    let per = n.div_ceil(count) + reserve;
    let split = if flag == "--workers" {
        format!("{flag} {k} (or {flag} auto)")
    } else {
        format!("{flag} {k}")
    };
    row.fix = if f.cap_sys_resource {
        match f.nr_open.filter(|o| per > *o) {
            Some(o) => format!(
                "{per} fds per process is past fs.nr_open {}: sysctl -w fs.nr_open={per} then \
                 --nofile {per} (this process has CAP_SYS_RESOURCE); or {split}",
                thousands(o)
            ),
            None => format!(
                "--nofile {per} (this process has CAP_SYS_RESOURCE, so the binary raises its hard \
                 limit itself; or ulimit -Hn {per} / LimitNOFILE={per}), up to fs.nr_open {nr_open}; \
                 or {split}"
            ),
        }
    } else {
        let past_nr_open = if f.nr_open.is_some_and(|o| per > o) {
            format!(", after sysctl -w fs.nr_open={per}")
        } else {
            format!(", up to fs.nr_open {nr_open}")
        };
        format!(
            "{split}: the hard limit {} cannot be raised without CAP_SYS_RESOURCE, which this \
             process lacks; or have whoever starts it grant more (ulimit -Hn {per} as a \
             privileged user, LimitNOFILE={per} in a systemd unit, docker run --ulimit \
             nofile={per}:{per}){past_nr_open}",
            thousands(f.nofile_hard)
        )
    };
    row
}

/// `ends`: 2 when both ends of each connection live on this machine.
fn file_max_row(f: &Facts, n: u64, ends: u64) -> Row {
    let needed = n.saturating_mul(ends);
    let free = match (f.file_max, f.files_allocated) {
        (Some(m), Some(a)) => Some(m.saturating_sub(a)),
        (m, _) => m,
    };
    let mut row = Row::new("file_max", "fs.file-max", Unit::Connections);
    row.value = format!(
        "{} ({} open now)",
        f.file_max.map_or("?".into(), thousands),
        f.files_allocated.map_or("?".into(), thousands)
    );
    let both = if ends == 2 {
        "; both ends are on this machine, so each connection is 2 open files"
    } else {
        ""
    };
    row = row.limit(free.map(|fr| fr / ends), Some(n));
    if f.cap_sys_admin {
        row.binds = false;
        row.note = format!(
            "all open files of the machine (ENFILE beyond); this process has CAP_SYS_ADMIN, which \
             the kernel exempts from it, so it does not bind here (a peer without it is bound){both}"
        );
    } else {
        row.note = format!("all open files of the machine: ENFILE beyond{both}");
    }
    let target = needed + f.files_allocated.unwrap_or(0);
    row.fix = format!("sysctl -w fs.file-max={target} (or more)");
    row
}

fn epoll_row(f: &Facts, n: u64, ends: u64) -> Row {
    let mut row = Row::new(
        "epoll_watches",
        "fs.epoll.max_user_watches",
        Unit::Connections,
    )
    .limit(f.max_user_watches.map(|w| w / ends), Some(n));
    row.value = f.max_user_watches.map_or("?".into(), thousands);
    row.note = format!(
        "fds one user may register in epoll, across all its processes: epoll_ctl() fails with \
         ENOSPC beyond{}",
        if ends == 2 {
            "; both ends here run as this user, so each connection takes 2"
        } else {
            ""
        }
    );
    row.fix = format!(
        "sysctl -w fs.epoll.max_user_watches={}",
        n.saturating_mul(ends) + 10_000
    );
    row
}

/// `own_user`: RSS per connection of the binary asking; `loopback`: both ends here.
fn memory_row(f: &Facts, n: u64, own_user: f64, loopback: bool) -> Row {
    let per_conn = if loopback {
        KERNEL_BYTES_PER_PAIR + SERVER_USER_BYTES_PER_CONN + CLIENT_USER_BYTES_PER_CONN
    } else {
        KERNEL_BYTES_PER_SOCKET + own_user
    };
    let total = (n as f64 * per_conn).round() as u64;
    let allows = f.mem_available.map(|m| (m as f64 / per_conn) as u64);
    let mut row = Row::new("memory", "memory", Unit::Connections).limit(allows, Some(n));
    row.value = format!(
        "MemAvailable {}; N x {} B = {}",
        f.mem_available.map_or("?".into(), fmt::bytes),
        thousands(per_conn.round() as u64),
        fmt::bytes(total)
    );
    row.note = format!(
        "idle connections at the cost `BENCH_CONNS=1000000 make bench` measured: {} ({} B of \
         kernel slab per socket{}, {} B of user RSS per connection); traffic adds socket buffers \
         on top (tcp_mem)",
        if loopback {
            "a socket pair each, both ends being here"
        } else {
            "one socket each"
        },
        thousands(KERNEL_BYTES_PER_SOCKET.round() as u64),
        if loopback { ", 2 per connection" } else { "" },
        if loopback {
            format!("{SERVER_USER_BYTES_PER_CONN} + {CLIENT_USER_BYTES_PER_CONN}")
        } else {
            format!("{own_user}")
        }
    );
    row.fix = "free or add memory, or put the other end on another machine (half the kernel \
               memory per connection)"
        .into();
    row
}

fn conntrack_row(f: &Facts, n: u64) -> Option<Row> {
    let ct = f.conntrack?;
    let mut row = Row::new("conntrack", "nf_conntrack_max", Unit::Connections);
    row.value = format!(
        "{} ({} tracked now)",
        thousands(ct.max),
        ct.count.map_or("?".into(), thousands)
    );
    row.fix = format!(
        "sysctl -w net.netfilter.nf_conntrack_max={} (and nf_conntrack_buckets), or exempt the \
         port with a NOTRACK rule in the raw table",
        n + n / 4
    );
    if ct.count == Some(0) {
        row = row.limit(None, Some(n));
        row.note = "conntrack is loaded but tracks nothing now: current kernels track in a \
                    network namespace only once a stateful or NAT rule asks for it. If one \
                    does, each connection takes an entry and a full table drops new SYNs \
                    (\"nf_conntrack: table full\")"
            .into();
    } else {
        let free = ct.max.saturating_sub(ct.count.unwrap_or(0));
        row = row.limit(Some(free), Some(n));
        row.note = "conntrack is tracking: every connection takes an entry until it is gone, and \
                    a full table drops new SYNs (\"nf_conntrack: table full\")"
            .into();
    }
    Some(row)
}

// ---------------------------------------------------------------------------------------------
// The server

/// The server role: fds, files, epoll, memory, buffers, the two listen queues, conntrack.
pub fn server_rows(f: &Facts, ask: &ServerAsk) -> Vec<Row> {
    let n = ask.connections;
    let ends = if ask.loopback { 2 } else { 1 };
    let auto_note = match ask.workers {
        Procs::Auto => format!(
            "; --workers auto plans each worker at {}% of its room",
            ask.auto_fill_percent
        ),
        Procs::Count(_) => String::new(),
    };
    let mut rows = vec![
        fd_row(
            f,
            n,
            Spread {
                procs: ask.workers,
                nofile: ask.nofile,
                reserve: ask.reserve,
                fill_percent: ask.auto_fill_percent,
                flag: "--workers",
                counted_note: &auto_note,
            },
        ),
        file_max_row(f, n, ends),
        epoll_row(f, n, ends),
        memory_row(f, n, SERVER_USER_BYTES_PER_CONN, ask.loopback),
        tcp_mem_row(f, n),
    ];
    let backlog = accept_queue(f, ask.backlog);
    let mut queue = accept_queue_row(f, ask.backlog, backlog);
    if ask.workers != Procs::Count(1) {
        queue
            .note
            .push_str("; each worker's own listener (SO_REUSEPORT) has its own queue");
    }
    rows.push(queue);
    rows.push(syn_backlog_row(f, backlog));
    rows.extend(conntrack_row(f, n));
    rows
}

/// The listen backlog the kernel grants: `min(backlog, somaxconn)`.
fn accept_queue(f: &Facts, backlog: Option<u64>) -> Option<u64> {
    match (backlog, f.somaxconn) {
        (Some(b), Some(s)) => Some(b.min(s)),
        (None, s) => s,
        (b, None) => b,
    }
}

fn tcp_mem_row(f: &Facts, n: u64) -> Row {
    let mut row = Row::new("tcp_mem", "net.ipv4.tcp_mem", Unit::Connections);
    let page = f.page_size;
    match f.tcp_mem {
        Some(m) => {
            let pressure = m.pressure.saturating_mul(page);
            row.value = format!(
                "pressure {}, max {} ({} / {} pages)",
                fmt::bytes(pressure),
                fmt::bytes(m.max.saturating_mul(page)),
                thousands(m.pressure),
                thousands(m.max)
            );
            row.note = format!(
                "buffers of all TCP sockets together (sockstat mem), not connections: an idle \
                 socket holds none. Across {} connections, pressure starts at ~{} of queued data \
                 each",
                thousands(n),
                fmt::bytes(pressure / n.max(1))
            );
        }
        None => {
            row.value = "?".into();
            row.note = "buffers of all TCP sockets together, not connections".into();
        }
    }
    row.fix = "sysctl -w net.ipv4.tcp_mem='MIN PRESSURE MAX' (in pages)".into();
    row
}

fn accept_queue_row(f: &Facts, asked: Option<u64>, granted: Option<u64>) -> Row {
    let mut row =
        Row::new("accept_queue", "somaxconn vs backlog", Unit::Queued).limit(granted, None);
    let some = f.somaxconn.map_or("?".into(), thousands);
    row.value = match asked {
        None => format!("somaxconn {some}, backlog = somaxconn (the server's default)"),
        Some(b) if f.somaxconn.is_some_and(|s| b > s) => {
            format!("somaxconn {some}, --backlog {} clamped to it", thousands(b))
        }
        Some(b) => format!("somaxconn {some}, --backlog {}", thousands(b)),
    };
    row.note = format!(
        "each listener's accept queue: finished handshakes not yet accept()ed. It bounds a \
         burst, not how many connections are held: past {} at once the kernel drops the \
         handshake's last ACK (TcpExt.ListenOverflows) and the client's SYN is retried",
        granted.map_or("?".into(), thousands)
    );
    row.fix = "sysctl -w net.core.somaxconn=M and --backlog M".into();
    row
}

fn syn_backlog_row(f: &Facts, backlog: Option<u64>) -> Row {
    let cookies = f.tcp_syncookies.unwrap_or(1);
    let msb = f.tcp_max_syn_backlog;
    let allows = if cookies == 0 {
        // Without cookies the last quarter is kept for peers proven alive.
        match (msb.map(|m| m - m / 4), backlog) {
            (Some(m), Some(b)) => Some(m.min(b)),
            (m, b) => m.or(b),
        }
    } else {
        backlog
    };
    let mut row = Row::new("syn_backlog", "tcp_max_syn_backlog", Unit::Queued).limit(allows, None);
    row.value = format!(
        "{}, tcp_syncookies {}",
        msb.map_or("?".into(), thousands),
        f.tcp_syncookies.map_or("?".into(), |c| c.to_string())
    );
    row.note = if cookies == 0 {
        "half-open (SYN_RECV) requests per listener; with syncookies off, SYNs from unproven \
         peers are dropped once 3/4 of tcp_max_syn_backlog is used. A burst bound, not a \
         concurrency bound"
            .into()
    } else {
        "half-open (SYN_RECV) requests per listener: bounded by the listen backlog, and past it \
         SYN cookies answer instead of dropping (tcp_max_syn_backlog only counts with \
         syncookies off). A burst bound, not a concurrency bound"
            .into()
    };
    row.fix =
        "sysctl -w net.ipv4.tcp_max_syn_backlog=M (with syncookies 0), and the backlog".into();
    row
}

// ---------------------------------------------------------------------------------------------
// The client

/// The client role: ports per pair x pairs, fds, files, epoll, memory, TIME_WAIT at the churn
/// rate, tcp_tw_reuse, conntrack.
///
/// The fd row counts **one process** unless `--processes` is given, although a real run splits
/// N over enough processes by itself: the check answers "what does one process of mine hold",
/// and its fix names the `--processes K` the run would pick.
pub fn client_rows(f: &Facts, ask: &ClientAsk) -> Vec<Row> {
    let n = ask.connections;
    let ends = if ask.loopback { 2 } else { 1 };
    let procs = Procs::Count(ask.processes.unwrap_or(1));
    let counted = if ask.processes.is_none() {
        "; counted as one process (a run without --processes splits over enough by itself)"
    } else {
        ""
    };
    // The fd row first: it is the one a student meets first, and it wins ties.
    let mut rows = vec![
        fd_row(
            f,
            n,
            Spread {
                procs,
                nofile: ask.nofile,
                reserve: ask.reserve,
                fill_percent: 100,
                flag: "--processes",
                counted_note: counted,
            },
        ),
        ports_row(f, ask),
        file_max_row(f, n, ends),
        epoll_row(f, n, ends),
        memory_row(f, n, CLIENT_USER_BYTES_PER_CONN, ask.loopback),
        time_wait_row(f, ask),
        tw_reuse_row(f, ask),
    ];
    rows.extend(conntrack_row(f, n));
    rows
}

fn ports_row(f: &Facts, ask: &ClientAsk) -> Row {
    let pairs = ask.pairs();
    let ports = f.port_range.map(|r| u64::from(r.count()));
    let mut row = Row::new("ports", "ports per pair x pairs", Unit::Connections).limit(
        ports.map(|p| p.saturating_mul(pairs)),
        Some(ask.connections),
    );
    let range = f
        .port_range
        .map_or("?".into(), |r| format!("{}-{}", r.low, r.high));
    row.value = format!(
        "{} ports ({range}) x {} ({} x {})",
        ports.map_or("?".into(), thousands),
        plural(pairs, "pair", "pairs"),
        plural(ask.targets, "target", "targets"),
        if ask.sources == 0 {
            "1 kernel-chosen source".to_string()
        } else {
            plural(ask.sources, "source", "sources")
        }
    );
    let per_pair = ask.connections.div_ceil(pairs);
    let chosen = if ask.sources_chosen {
        ", sources chosen by the plan to stay under the knee (--source overrides)"
    } else {
        ""
    };
    row.note = match ask.knee {
        Some(k) if per_pair > k => format!(
            "each (source, destination) pair has the whole range (C7, C9): {} per pair, past the \
             knee {} where connect() slows sharply{chosen}",
            thousands(per_pair),
            thousands(k)
        ),
        Some(k) => format!(
            "each (source, destination) pair has the whole range (C7, C9): {} per pair, under the \
             knee {}{chosen}",
            thousands(per_pair),
            thousands(k)
        ),
        None => format!(
            "each (source, destination) pair has the whole range (C7, C9): {} per pair{chosen}",
            thousands(per_pair)
        ),
    };
    row.fix = "more pairs: --source 127.1.0.1-127.1.0.N or more --target addresses/ports (C10, \
               C11); or sysctl -w net.ipv4.ip_local_port_range='1024 65535'"
        .into();
    row
}

/// Whether `tcp_tw_reuse` lets connect() take over a TIME_WAIT port for these targets.
fn tw_reuse_applies(f: &Facts, loopback: bool) -> bool {
    let reuse = match f.tcp_tw_reuse {
        Some(1) => true,
        Some(2) => loopback,
        _ => false,
    };
    reuse && f.tcp_timestamps.unwrap_or(1) != 0
}

fn time_wait_row(f: &Facts, ask: &ClientAsk) -> Row {
    let pairs = ask.pairs();
    let ports = f
        .port_range
        .map(|r| u64::from(r.count()).saturating_mul(pairs));
    let reuse = tw_reuse_applies(f, ask.loopback);
    // How long a closed connection keeps its port from this client.
    let hold_ms = if reuse {
        f.tcp_tw_reuse_delay_ms
            .unwrap_or(DEFAULT_TW_REUSE_DELAY_MS)
            .max(1)
    } else {
        TIME_WAIT_SECS * 1000
    };
    let sustains = ports.map(|p| p.saturating_mul(1000) / hold_ms);
    let mut row = Row::new("time_wait", "TIME_WAIT at the churn rate", Unit::PerSecond);
    let fin = f.tcp_fin_timeout.map_or("?".into(), |s| s.to_string());
    row.fix = "keep connections alive (--mode keepalive, C6), spread over more pairs (--source), \
               --close rst, or sysctl -w net.ipv4.tcp_tw_reuse=1 (needs tcp_timestamps=1)"
        .into();
    let how_long = if reuse {
        format!(
            "a closing client keeps each port in TIME_WAIT {TIME_WAIT_SECS} s, but tcp_tw_reuse \
             lets connect() take it after {} ms",
            thousands(hold_ms)
        )
    } else {
        format!(
            "a closing client keeps each port in TIME_WAIT {TIME_WAIT_SECS} s (TCP_TIMEWAIT_LEN, \
             compiled in; tcp_fin_timeout {fin} does not shorten it, C2)"
        )
    };
    match ask.close {
        Close::Fin => {}
        Close::Rst => {
            row.value = "--close rst".into();
            row.note = "SO_LINGER 0: every close is a reset, no TIME_WAIT on either side".into();
            return row;
        }
        Close::Wait => {
            row.value = "--close wait".into();
            row.note = "the client closes after the server's FIN, so a server that closes first \
                        (--close-first) holds the TIME_WAIT, not these ports"
                .into();
            return row;
        }
    }
    let Some(rate) = ask.churn_rate.filter(|r| *r > 0) else {
        let per_pair = f.port_range.map(|r| u64::from(r.count()) * 1000 / hold_ms);
        row.value = "no churn asked (--mode churn --rate R)".into();
        row.note = format!(
            "{how_long}: one (source, destination) pair sustains ~{} short connections per second",
            per_pair.map_or("?".into(), thousands)
        );
        return row;
    };
    let tw = rate.saturating_mul(hold_ms) / 1000;
    row = row.limit(sustains, Some(rate));
    row.value = format!(
        "{}/s x {} = {} ports held vs {} ports over {}",
        thousands(rate),
        if reuse {
            format!("{} ms", thousands(hold_ms))
        } else {
            format!("{TIME_WAIT_SECS} s")
        },
        thousands(tw),
        ports.map_or("?".into(), thousands),
        plural(pairs, "pair", "pairs")
    );
    // TIME_WAIT sockets past tcp_max_tw_buckets are destroyed at once, freeing their ports: with
    // more ports than buckets, the ports cannot all be held in TIME_WAIT.
    let buckets = f
        .tcp_max_tw_buckets
        .filter(|b| ports.is_some_and(|p| p > *b) && tw > *b);
    row.note = match (ports, buckets) {
        (Some(p), Some(b)) => {
            row.binds = false;
            format!(
                "{how_long}; TIME_WAIT stops at tcp_max_tw_buckets {} (fewer than the {} ports): \
                 beyond it the kernel destroys new TIME_WAIT sockets at once (\"time wait bucket \
                 table overflow\"), so the ports do not run out but TIME_WAIT no longer guards \
                 them",
                thousands(b),
                thousands(p)
            )
        }
        (Some(p), None) if row.binds => format!(
            "{how_long}; the ports run out after ~{} s of churn: connect() fails with \
             EADDRNOTAVAIL (C1, C9)",
            thousands(p / rate)
        ),
        _ => format!("{how_long}; the ports last at this rate"),
    };
    row
}

fn tw_reuse_row(f: &Facts, ask: &ClientAsk) -> Row {
    let mut row = Row::new("tw_reuse", "net.ipv4.tcp_tw_reuse", Unit::Connections);
    let mode = match f.tcp_tw_reuse {
        Some(0) => "0 (never)".to_string(),
        Some(1) => "1 (any destination)".to_string(),
        Some(2) => "2 (loopback only)".to_string(),
        Some(v) => v.to_string(),
        None => "?".to_string(),
    };
    row.value = format!(
        "{mode}, tcp_tw_reuse_delay {}, tcp_timestamps {}",
        f.tcp_tw_reuse_delay_ms
            .map_or("absent (1 s)".into(), |d| format!("{} ms", thousands(d))),
        f.tcp_timestamps.map_or("?".into(), |t| t.to_string())
    );
    let applies = tw_reuse_applies(f, ask.loopback);
    row.note = if applies {
        "applies to these targets: connect() may take over a port whose TIME_WAIT is older than \
         the delay, made safe by TCP timestamps (C3); tcp_tw_recycle is gone since Linux 4.12 (C4)"
            .into()
    } else if f.tcp_timestamps == Some(0) {
        "does not apply: it needs tcp_timestamps=1 (C3)".into()
    } else {
        "does not apply to these targets: a TIME_WAIT port stays taken for the full 60 s (C3); \
         tcp_tw_recycle is gone since Linux 4.12 (C4)"
            .into()
    };
    row.fix = "sysctl -w net.ipv4.tcp_tw_reuse=1 (client side only)".into();
    row
}

// ---------------------------------------------------------------------------------------------
// Rendering, shared by both binaries' report.rs

/// The table: aligned columns limit | value | allows | binds | fix, each row followed by its note.
pub fn table_lines(rows: &[Row]) -> Vec<String> {
    let header = ["limit", "value", "allows", "binds"];
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.name.to_string(),
                r.value.clone(),
                r.allows_text(),
                if r.binds { "YES" } else { "no" }.to_string(),
            ]
        })
        .collect();
    let mut w = header.map(|h| h.chars().count());
    for c in &cells {
        for (i, s) in c.iter().enumerate() {
            w[i] = w[i].max(s.chars().count());
        }
    }
    let line = |c: [&str; 4], fix: &str| {
        format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {fix}",
            c[0],
            c[1],
            c[2],
            c[3],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3]
        )
    };
    let mut out = vec![line(header, "fix")];
    for (r, c) in rows.iter().zip(&cells) {
        out.push(line([&c[0], &c[1], &c[2], &c[3]], &r.fix));
        out.push(format!("{:w0$}  {}", "", r.note, w0 = w[0]));
    }
    out
}

/// The last line: the first binding limit and what to do, or that nothing binds.
pub fn verdict_line(rows: &[Row], connections: u64) -> String {
    match first_binding(rows) {
        Some(r) => format!(
            "first binding limit: {} (allows {} of {}) — do: {}",
            r.name,
            r.allows_text(),
            r.needs_text(),
            r.fix
        ),
        None => format!(
            "nothing binds for {} connections on this machine",
            thousands(connections)
        ),
    }
}

pub fn row_json(r: &Row) -> Object {
    Object::new()
        .with("key", r.key)
        .with("name", r.name)
        .with("value", r.value.as_str())
        .with("allows", r.allows)
        .with("unit", r.unit.name())
        .with("needs", r.needs)
        .with("binds", r.binds)
        .with("note", r.note.as_str())
        .with("fix", r.fix.as_str())
}

/// `{"type":"check","role":..,"connections":..,"binds":..,"rows":[..],"first_binding":row|null}`;
/// callers add what they were asked.
pub fn json(role: &str, connections: u64, rows: &[Row]) -> Object {
    let first = first_binding(rows);
    Object::new()
        .with("type", "check")
        .with("role", role)
        .with("connections", connections)
        .with("binds", first.is_some())
        .with(
            "rows",
            Value::Array(rows.iter().map(|r| row_json(r).into()).collect()),
        )
        .with("first_binding", first.map(row_json))
}

/// The whole `--check` output: with `json`, one object (plus `asked`); else a title, the table
/// and the verdict line.
pub fn render(
    json_out: bool,
    role: &str,
    title: &str,
    asked: Object,
    rows: &[Row],
    connections: u64,
) -> String {
    if json_out {
        return json(role, connections, rows).with("asked", asked).render();
    }
    let mut lines = vec![title.to_string()];
    lines.extend(table_lines(rows));
    lines.push(verdict_line(rows, connections));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's shape: root without CAP_SYS_RESOURCE, hard limit 20,000, 24 GiB.
    fn facts() -> Facts {
        Facts {
            nofile_soft: 20_000,
            nofile_hard: 20_000,
            cap_sys_resource: false,
            cap_sys_admin: false,
            nr_open: Some(1_048_576),
            file_max: Some(2_466_177),
            files_allocated: Some(343),
            max_user_watches: Some(5_491_511),
            mem_available: Some(24 << 30),
            page_size: 4096,
            somaxconn: Some(4096),
            tcp_max_syn_backlog: Some(2048),
            tcp_syncookies: Some(1),
            tcp_mem: Some(TcpMem {
                min: 287_901,
                pressure: 383_868,
                max: 575_802,
            }),
            conntrack: None,
            port_range: Some(PortRange {
                low: 32768,
                high: 60999,
            }),
            tcp_tw_reuse: Some(2),
            tcp_tw_reuse_delay_ms: Some(1000),
            tcp_timestamps: Some(1),
            tcp_fin_timeout: Some(60),
            tcp_max_tw_buckets: Some(131_072),
        }
    }

    fn server(n: u64, workers: Procs) -> ServerAsk {
        ServerAsk {
            connections: n,
            workers,
            backlog: None,
            nofile: None,
            loopback: true,
            reserve: 16,
            auto_fill_percent: 90,
        }
    }

    fn client(n: u64) -> ClientAsk {
        ClientAsk {
            connections: n,
            processes: None,
            nofile: None,
            reserve: 16,
            targets: 1,
            sources: 79,
            sources_chosen: true,
            knee: Some(12_704),
            loopback: true,
            churn_rate: None,
            close: Close::Fin,
        }
    }

    fn row<'a>(rows: &'a [Row], key: &str) -> &'a Row {
        rows.iter().find(|r| r.key == key).expect(key)
    }

    #[test]
    fn server_without_cap_sys_resource_names_workers() {
        let rows = server_rows(&facts(), &server(1_000_000, Procs::Count(1)));
        let first = first_binding(&rows).unwrap();
        assert_eq!(first.key, "fds_per_process");
        assert_eq!(first.allows, Some(19_984));
        // 17,985 per worker at 90% of 19,984: 56 workers, as the 1,000,000 bench used.
        assert!(first.fix.starts_with("--workers 56"), "{}", first.fix);
        assert!(
            first
                .fix
                .contains("cannot be raised without CAP_SYS_RESOURCE"),
            "{}",
            first.fix
        );
        // Only the fd row binds: files, watches and memory fit a loopback million here.
        let binding: Vec<_> = rows.iter().filter(|r| r.binds).map(|r| r.key).collect();
        assert_eq!(binding, ["fds_per_process"]);
        assert_eq!(row(&rows, "file_max").allows, Some((2_466_177 - 343) / 2));
        let v = verdict_line(&rows, 1_000_000);
        assert!(v.starts_with("first binding limit: fds per process"), "{v}");
        assert!(v.contains("do: --workers 56"), "{v}");
    }

    #[test]
    fn server_with_cap_sys_resource_says_how_to_raise() {
        let f = Facts {
            cap_sys_resource: true,
            ..facts()
        };
        let rows = server_rows(&f, &server(1_000_000, Procs::Count(1)));
        let first = first_binding(&rows).unwrap();
        assert_eq!(first.key, "fds_per_process");
        for want in [
            "--nofile 1000016",
            "ulimit -Hn 1000016",
            "LimitNOFILE=",
            "fs.nr_open",
        ] {
            assert!(first.fix.contains(want), "{want}: {}", first.fix);
        }
        // Asking for it with --nofile: the binary raises its own hard limit, nothing binds.
        let ask = ServerAsk {
            nofile: Some(1_000_016),
            ..server(1_000_000, Procs::Count(1))
        };
        let rows = server_rows(&f, &ask);
        assert_eq!(first_binding(&rows), None);
        // Past fs.nr_open even the capability is not enough.
        let rows = server_rows(&f, &server(2_000_000, Procs::Count(1)));
        let fd = row(&rows, "fds_per_process");
        assert!(
            fd.fix.contains("sysctl -w fs.nr_open=2000016"),
            "{}",
            fd.fix
        );
        // Without the capability, --nofile above the hard limit changes nothing.
        let rows = server_rows(&facts(), &ask);
        assert_eq!(row(&rows, "fds_per_process").allows, Some(19_984));
    }

    #[test]
    fn workers_auto_or_enough_workers_unbind_the_fd_row() {
        let rows = server_rows(&facts(), &server(1_000_000, Procs::Auto));
        let fd = row(&rows, "fds_per_process");
        assert!(!fd.binds);
        assert_eq!(fd.allows, Some(56 * 19_984));
        assert_eq!(first_binding(&rows), None);
        let rows = server_rows(&facts(), &server(1_000_000, Procs::Count(51)));
        assert!(!row(&rows, "fds_per_process").binds);
        let v = verdict_line(&rows, 1_000_000);
        assert_eq!(v, "nothing binds for 1,000,000 connections on this machine");
    }

    #[test]
    fn queues_bound_bursts_and_never_bind() {
        let ask = ServerAsk {
            backlog: Some(65_535),
            ..server(100, Procs::Count(1))
        };
        let rows = server_rows(&facts(), &ask);
        let q = row(&rows, "accept_queue");
        assert_eq!(
            (q.allows, q.unit, q.binds),
            (Some(4096), Unit::Queued, false)
        );
        assert!(q.value.contains("clamped"), "{}", q.value);
        let syn = row(&rows, "syn_backlog");
        assert_eq!((syn.allows, syn.binds), (Some(4096), false));
        let off = Facts {
            tcp_syncookies: Some(0),
            ..facts()
        };
        let rows = server_rows(&off, &ask);
        assert_eq!(row(&rows, "syn_backlog").allows, Some(1536));
    }

    #[test]
    fn memory_and_files_can_bind_first() {
        let f = Facts {
            mem_available: Some(1 << 30),
            cap_sys_resource: true,
            ..facts()
        };
        let ask = ServerAsk {
            nofile: Some(1_000_016),
            ..server(1_000_000, Procs::Count(1))
        };
        let rows = server_rows(&f, &ask);
        let first = first_binding(&rows).unwrap();
        assert_eq!(first.key, "memory");
        // 1 GiB at 10,254.6 B per loopback connection (slab pair + both RSS figures).
        assert_eq!(first.allows, Some(104_708));
        // Remote clients: one socket per connection, half the cost and half the files.
        let remote = ServerAsk {
            loopback: false,
            ..ask.clone()
        };
        let rows = server_rows(&f, &remote);
        assert_eq!(row(&rows, "memory").allows, Some(209_694));
        assert_eq!(row(&rows, "file_max").allows, Some(2_466_177 - 343));
        // CAP_SYS_ADMIN is exempt from fs.file-max.
        let small = Facts {
            file_max: Some(100_000),
            mem_available: Some(64 << 30),
            ..f.clone()
        };
        assert_eq!(
            first_binding(&server_rows(&small, &ask)).unwrap().key,
            "file_max"
        );
        let admin = Facts {
            cap_sys_admin: true,
            ..small
        };
        assert_eq!(first_binding(&server_rows(&admin, &ask)), None);
    }

    #[test]
    fn conntrack_binds_only_when_tracking() {
        let idle = Facts {
            conntrack: Some(Conntrack {
                max: 262_144,
                count: Some(0),
            }),
            ..facts()
        };
        let rows = server_rows(&idle, &server(1_000_000, Procs::Auto));
        let ct = row(&rows, "conntrack");
        assert!(
            !ct.binds && ct.note.contains("tracks nothing"),
            "{}",
            ct.note
        );
        let busy = Facts {
            conntrack: Some(Conntrack {
                max: 262_144,
                count: Some(44),
            }),
            ..facts()
        };
        let rows = server_rows(&busy, &server(1_000_000, Procs::Auto));
        let first = first_binding(&rows).unwrap();
        assert_eq!((first.key, first.allows), ("conntrack", Some(262_100)));
        assert!(first.fix.contains("nf_conntrack_max"));
    }

    #[test]
    fn client_counts_one_process_and_names_processes() {
        let rows = client_rows(&facts(), &client(1_000_000));
        assert_eq!(rows[0].key, "fds_per_process");
        let first = first_binding(&rows).unwrap();
        assert_eq!(first.key, "fds_per_process");
        assert!(first.fix.starts_with("--processes 51"), "{}", first.fix);
        assert!(
            first.note.contains("counted as one process"),
            "{}",
            first.note
        );
        let ports = row(&rows, "ports");
        assert_eq!(ports.allows, Some(28_232 * 79));
        assert!(
            !ports.binds && ports.note.contains("under the knee"),
            "{}",
            ports.note
        );
        let enough = ClientAsk {
            processes: Some(51),
            ..client(1_000_000)
        };
        assert_eq!(first_binding(&client_rows(&facts(), &enough)), None);
        assert_eq!(first_binding(&client_rows(&facts(), &client(100))), None);
    }

    #[test]
    fn one_pair_runs_out_of_ports() {
        let one = ClientAsk {
            sources: 0,
            sources_chosen: false,
            processes: Some(2),
            ..client(30_000)
        };
        let rows = client_rows(&facts(), &one);
        let first = first_binding(&rows).unwrap();
        assert_eq!((first.key, first.allows), ("ports", Some(28_232)));
        assert!(first.fix.contains("--source"));
    }

    #[test]
    fn time_wait_at_a_churn_rate() {
        // Not loopback (tw_reuse 2 does not apply): 60 s per port.
        let remote = ClientAsk {
            sources: 0,
            loopback: false,
            churn_rate: Some(1000),
            ..client(1000)
        };
        let rows = client_rows(&facts(), &remote);
        let tw = row(&rows, "time_wait");
        assert_eq!(
            (tw.allows, tw.needs, tw.binds),
            (Some(470), Some(1000), true)
        );
        assert!(tw.note.contains("run out after ~28 s"), "{}", tw.note);
        assert!(tw.note.contains("tcp_fin_timeout 60 does not shorten it"));
        assert!(row(&rows, "tw_reuse").note.contains("does not apply"));
        assert_eq!(first_binding(&rows).unwrap().key, "time_wait");
        // 400/s fits: 24,000 ports held of 28,232.
        let slow = ClientAsk {
            churn_rate: Some(400),
            ..remote.clone()
        };
        assert!(!row(&client_rows(&facts(), &slow), "time_wait").binds);
        // Loopback with tcp_tw_reuse 2: ports come back after 1 s.
        let lo = ClientAsk {
            loopback: true,
            ..remote.clone()
        };
        let rows = client_rows(&facts(), &lo);
        let tw = row(&rows, "time_wait");
        assert_eq!((tw.allows, tw.binds), (Some(28_232), false));
        assert!(row(&rows, "tw_reuse").note.starts_with("applies"));
        // More ports than TIME_WAIT buckets: TIME_WAIT overflows instead of the ports.
        let wide = ClientAsk {
            sources: 10,
            churn_rate: Some(5000),
            ..remote.clone()
        };
        let tw_row = client_rows(&facts(), &wide);
        let tw = row(&tw_row, "time_wait");
        assert!(
            !tw.binds && tw.note.contains("tcp_max_tw_buckets"),
            "{}",
            tw.note
        );
        // RST closes leave no TIME_WAIT.
        let rst = ClientAsk {
            close: Close::Rst,
            ..remote.clone()
        };
        assert!(!row(&client_rows(&facts(), &rst), "time_wait").binds);
        let wait = ClientAsk {
            close: Close::Wait,
            ..remote
        };
        let rows = client_rows(&facts(), &wait);
        assert!(row(&rows, "time_wait").note.contains("server"));
    }

    #[test]
    fn ties_go_to_table_order_and_shares_compare_exactly() {
        let mk = |key, allows, needs, unit| Row {
            binds: true,
            ..Row::new(key, key, unit).limit(Some(allows), Some(needs))
        };
        let rows = vec![
            mk("a", 500, 1000, Unit::Connections),
            mk("b", 500, 1000, Unit::Connections),
            mk("c", 47, 100, Unit::PerSecond),
        ];
        assert_eq!(first_binding(&rows).unwrap().key, "c");
        assert_eq!(first_binding(&rows[..2]).unwrap().key, "a");
        assert_eq!(first_binding(&[]), None);
    }

    #[test]
    fn table_and_json() {
        let rows = server_rows(&facts(), &server(1_000_000, Procs::Count(1)));
        let lines = table_lines(&rows);
        assert!(lines[0].starts_with("limit"));
        assert_eq!(lines.len(), 1 + 2 * rows.len());
        // The fix column starts at the same place on every row.
        let col = lines[0].find("fix").unwrap();
        assert!(lines[1][col..].starts_with("--workers 56"), "{}", lines[1]);
        let j = json("server", 1_000_000, &rows).render();
        assert!(
            j.starts_with(r#"{"type":"check","role":"server","connections":1000000,"binds":true"#),
            "{j}"
        );
        assert!(
            j.contains(r#""first_binding":{"key":"fds_per_process""#),
            "{j}"
        );
    }

    #[test]
    fn read_does_not_fail() {
        let f = Facts::read().unwrap();
        assert!(f.nofile_soft <= f.nofile_hard);
        assert!(f.page_size >= 4096);
    }
}
