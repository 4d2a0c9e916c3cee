//! Rendering: live lines, milestones and the summary, as text or JSON.
//!
//! Text live lines go to stderr so stdout stays clean for the listening line and the summary;
//! with `--json`, every stdout line after the first is one JSON object with a `type` field.

use std::collections::BTreeMap;
use std::io::Write;

use c10m_common::fmt;
use c10m_common::json::Object;

use crate::stats::{AcceptBlock, Milestone, Startup, Summary, Tick};

/// Where and how to render.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
}

fn stdout_line(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}

fn block_text(b: AcceptBlock) -> String {
    match b {
        AcceptBlock::AtCap { max_conns } => format!(
            "accepting paused at --max-conns {} (the fd budget unless set): new connections wait in the listen queue",
            fmt::thousands(max_conns)
        ),
        AcceptBlock::Errno(e) => format!(
            "accepting paused by {}: {}",
            c10m_common::errno::name(e),
            c10m_common::errno::meaning(e)
        ),
        AcceptBlock::Paused => "not accepting (--pause-accept): handshakes complete into the accept queue until it holds the backlog, then SYNs are dropped".into(),
    }
}

fn block_json(b: AcceptBlock) -> Object {
    match b {
        AcceptBlock::AtCap { max_conns } => Object::new()
            .with("reason", "max_conns")
            .with("max_conns", max_conns),
        AcceptBlock::Errno(e) => Object::new()
            .with("reason", c10m_common::errno::name(e))
            .with("meaning", c10m_common::errno::meaning(e)),
        AcceptBlock::Paused => Object::new().with("reason", "pause_accept"),
    }
}

pub fn startup(out: Output, s: &Startup) {
    stdout_line(&format!("listening on {}", s.listen));
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "start")
                .with("listen", s.listen.to_string())
                .with("fd_soft", s.fd_soft)
                .with("fd_hard", s.fd_hard)
                .with("fds_base", s.fds_base)
                .with("room", s.room)
                .with("max_conns", s.max_conns)
                .with("backlog", s.backlog as i64)
                .with("somaxconn", s.somaxconn)
                .with("slot_bytes", s.slot_bytes)
                .render(),
        );
        return;
    }
    stdout_line(&format!(
        "RLIMIT_NOFILE {} (hard {}): room for {} connections in this process ({} fds already open)",
        s.fd_soft,
        s.fd_hard,
        fmt::thousands(s.room),
        s.fds_base
    ));
    stdout_line(&format!(
        "connection slot: {} bytes in a slab preallocated for {}; an idle connection owns nothing else in user space",
        s.slot_bytes,
        fmt::thousands(s.max_conns)
    ));
}

pub fn startup_workers(
    out: Output,
    listen: std::net::SocketAddr,
    workers: usize,
    fd_soft: u64,
    room: u64,
    reuseport: bool,
) {
    stdout_line(&format!("listening on {listen}"));
    let mode = if reuseport { "reuseport" } else { "shared" };
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "start")
                .with("listen", listen.to_string())
                .with("workers", workers)
                .with("listener", mode)
                .with("fd_soft", fd_soft)
                .with("room", room * workers as u64)
                .render(),
        );
        return;
    }
    stdout_line(&format!(
        "{workers} workers ({}), each under RLIMIT_NOFILE {}: room for ~{} connections in all",
        if reuseport {
            "one SO_REUSEPORT listener each"
        } else {
            "one listener shared across fork"
        },
        fmt::thousands(fd_soft),
        fmt::thousands(room * workers as u64)
    ));
}

/// A worker ended while the server ran.
pub fn worker_exit(out: Output, index: usize, pid: i32, how: &str, lost: u64) {
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "worker_exit")
                .with("worker", index)
                .with("pid", pid as i64)
                .with("how", how)
                .with("connections_lost", lost)
                .render(),
        );
    }
    eprintln!(
        "c10m-server: worker {index} (pid {pid}) {how}; its {} connections are gone; starting a replacement",
        fmt::thousands(lost)
    );
}

pub fn warn(msg: &str) {
    eprintln!("c10m-server: warning: {msg}");
}

pub fn tick(out: Output, t: &Tick) {
    if out.quiet {
        return;
    }
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "tick")
                .with("elapsed_s", t.elapsed_s)
                .with("connections", t.conns)
                .with("peak", t.peak)
                .with("accepted_per_s", t.accepted_per_s)
                .with("closed_per_s", t.closed_per_s)
                .with("fds_used", t.fds_used)
                .with("fd_limit", t.fd_limit)
                .with("rss_bytes", t.rss_bytes)
                .with("rss_bytes_per_conn", t.rss_per_conn)
                .with("tcp_inuse", t.tcp.tcp_inuse)
                .with("tcp_tw", t.tcp.tcp_tw)
                .with("tcp_mem_pages", t.tcp.tcp_mem_pages)
                .with("accept_errors", Object::from(&t.accept_errors))
                .with("accept_paused", t.blocked.map(block_json))
                .with("workers", t.workers.map(|w| w.workers))
                .with("worker_min", t.workers.map(|w| w.min))
                .with("worker_max", t.workers.map(|w| w.max))
                .render(),
        );
        return;
    }
    let per_conn = t
        .rss_per_conn
        .map(|b| format!(" ({:+.0} B/conn)", b))
        .unwrap_or_default();
    let spread = t
        .workers
        .map(|w| {
            format!(
                " | {} workers {}..{}",
                w.workers,
                fmt::count(w.min),
                fmt::count(w.max)
            )
        })
        .unwrap_or_default();
    eprintln!(
        "[{:>6.1}s] conns {} (peak {}) | +{} -{} | fds {}/{} | rss {}{} | tcp inuse {} tw {} mem {}{spread}",
        t.elapsed_s,
        fmt::thousands(t.conns),
        fmt::thousands(t.peak),
        fmt::rate(t.accepted_per_s),
        fmt::rate(t.closed_per_s),
        fmt::thousands(t.fds_used),
        fmt::thousands(t.fd_limit),
        fmt::bytes(t.rss_bytes),
        per_conn,
        fmt::count(t.tcp.tcp_inuse),
        fmt::count(t.tcp.tcp_tw),
        fmt::bytes(t.tcp.tcp_mem_pages * c10m_common::sys::page_size()),
    );
    if let Some(b) = t.blocked {
        let errs: Vec<String> = t
            .accept_errors
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        let errs = if errs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", errs.join(", "))
        };
        eprintln!("          {}{}", block_text(b), errs);
    }
}

pub fn milestone(out: Output, m: &Milestone) {
    if out.quiet {
        return;
    }
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "milestone")
                .with("connections", m.conns)
                .with("elapsed_s", m.elapsed_s)
                .with("rss_bytes", m.rss_bytes)
                .render(),
        );
    } else {
        eprintln!(
            "milestone: {} connections after {}",
            fmt::thousands(m.conns),
            fmt::duration_s(m.elapsed_s)
        );
    }
}

pub fn summary(out: Output, s: &Summary) {
    let st = &s.stats;
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "summary")
                .with("listen", s.listen.to_string())
                .with("peak_connections", st.peak)
                .with("connections_at_exit", s.connections_at_exit)
                .with("accepted", st.accepted)
                .with("closed", st.closed)
                .with("accept_errors", Object::from(&st.accept_errors))
                .with("close_errors", Object::from(&st.close_errors))
                .with("bytes_echoed", st.bytes_echoed)
                .with("backpressure_events", st.backpressure_events)
                .with("rss_bytes", s.rss_bytes)
                .with("rss_start_bytes", s.rss_start_bytes)
                .with("rss_bytes_per_conn_at_peak", s.rss_bytes_per_conn_at_peak)
                .with("max_conns", s.max_conns)
                .with("fd_limit", s.fd_limit)
                .with("uptime_s", s.uptime_s)
                .with("workers", s.workers)
                .with("worker_restarts", s.worker_restarts)
                .render(),
        );
        return;
    }
    let errs = |m: &BTreeMap<&'static str, u64>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k} {}", fmt::thousands(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let per_conn = s
        .rss_bytes_per_conn_at_peak
        .map(|b| format!("{b:.1} bytes per connection at peak"))
        .unwrap_or_else(|| "no connections".into());
    let lines = [
        "summary".to_string(),
        format!("  peak connections   {}", fmt::thousands(st.peak)),
        format!(
            "  accepted / closed  {} / {}",
            fmt::thousands(st.accepted),
            fmt::thousands(st.closed)
        ),
        format!("  accept errors      {}", errs(&st.accept_errors)),
        format!("  closed by error    {}", errs(&st.close_errors)),
        format!("  echoed             {}", fmt::bytes(st.bytes_echoed)),
        format!(
            "  rss                {} (start {}): {}",
            fmt::bytes(s.rss_bytes),
            fmt::bytes(s.rss_start_bytes),
            per_conn
        ),
        format!("  uptime             {}", fmt::duration_s(s.uptime_s)),
    ];
    let mut lines = lines.to_vec();
    if s.workers > 1 {
        lines.push(format!(
            "  workers            {} ({} restarted)",
            s.workers, s.worker_restarts
        ));
    }
    stdout_line(&lines.join("\n"));
}

/// `--check`: a title, the table of limits and the verdict line; with `--json`, one object.
pub fn check(
    out: Output,
    role: &str,
    title: &str,
    asked: Object,
    rows: &[c10m_common::check::Row],
    connections: u64,
) {
    stdout_line(&c10m_common::check::render(
        out.json,
        role,
        title,
        asked,
        rows,
        connections,
    ));
}
