//! The server's records as people read them: the start lines and the summary for stdout, live
//! lines, milestones and worker exits for stderr (the caller picks the stream).

use c10m_report::fmt;
use c10m_sys::{errno, mem};

use super::records::{Milestone, Start, StartWorkers, Summary, Tick, WorkerExit};
use crate::accept::AcceptBlock;

pub(super) fn start(s: &Start) -> String {
    format!(
        "RLIMIT_NOFILE {} (hard {}): room for {} connections in this process ({} fds already open)\n\
         connection slot: {} bytes in a slab preallocated for {}; an idle connection owns nothing else in user space",
        s.fd_soft,
        s.fd_hard,
        fmt::thousands(s.room),
        s.fds_base,
        s.slot_bytes,
        fmt::thousands(s.max_conns)
    )
}

pub(super) fn start_workers(s: &StartWorkers) -> String {
    format!(
        "{} workers ({}), each under RLIMIT_NOFILE {}: room for ~{} connections in all",
        s.workers,
        if s.listener == "reuseport" {
            "one SO_REUSEPORT listener each"
        } else {
            "one listener shared across fork"
        },
        fmt::thousands(s.fd_soft),
        fmt::thousands(s.room)
    )
}

pub(super) fn worker_exit(w: &WorkerExit) -> String {
    format!(
        "worker {} (pid {}) {}; its {} connections are gone; {}",
        w.worker,
        w.pid,
        w.how,
        fmt::thousands(w.connections_lost),
        if w.replaced {
            "starting a replacement"
        } else {
            "not replaced"
        }
    )
}

fn block_text(b: AcceptBlock) -> String {
    match b {
        AcceptBlock::AtCap { max_conns } => format!(
            "accepting paused at --max-conns {} (the fd budget unless set): new connections wait in the listen queue",
            fmt::thousands(max_conns)
        ),
        AcceptBlock::Errno(e) => format!(
            "accepting paused by {}: {}",
            errno::name(e),
            errno::meaning(e)
        ),
        AcceptBlock::Paused => "not accepting (--pause-accept): handshakes complete into the accept queue until it holds the backlog, then SYNs are dropped".into(),
    }
}

pub(super) fn tick(t: &Tick) -> String {
    let per_conn = t
        .rss_per_conn
        .map(|b| format!(" ({:+.0} B/conn)", b))
        .unwrap_or_default();
    let spread = match (t.workers, t.worker_min, t.worker_max) {
        (Some(w), Some(min), Some(max)) => {
            format!(" | {w} workers {}..{}", fmt::count(min), fmt::count(max))
        }
        _ => String::new(),
    };
    let parts = [
        format!(
            "conns {} (peak {})",
            fmt::thousands(t.conns),
            fmt::thousands(t.peak)
        ),
        format!(
            "+{} -{}",
            fmt::rate(t.accepted_per_s),
            fmt::rate(t.closed_per_s)
        ),
        format!(
            "fds {}/{}",
            fmt::thousands(t.fds_used),
            fmt::thousands(t.fd_limit)
        ),
        format!("rss {}{per_conn}", fmt::bytes(t.rss_bytes)),
        format!(
            "tcp inuse {} tw {} mem {}{spread}",
            fmt::count(t.tcp_inuse),
            fmt::count(t.tcp_tw),
            fmt::bytes(t.tcp_mem_pages * mem::page_size())
        ),
    ];
    let mut line = format!("[{:>6.1}s] {}", t.elapsed_s, parts.join(" | "));
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
        line.push_str(&format!("\n          {}{}", block_text(b), errs));
    }
    line
}

pub(super) fn milestone(m: &Milestone) -> String {
    format!(
        "milestone: {} connections after {}",
        fmt::thousands(m.conns),
        fmt::duration_s(m.elapsed_s)
    )
}

pub(super) fn summary(s: &Summary) -> String {
    let per_conn = s
        .rss_bytes_per_conn_at_peak
        .map(|b| format!("{b:.1} bytes per connection at peak"))
        .unwrap_or_else(|| "no connections".into());
    let mut lines = vec![
        "summary".to_string(),
        format!(
            "  peak connections   {}",
            fmt::thousands(s.peak_connections)
        ),
        format!(
            "  accepted / closed  {} / {}",
            fmt::thousands(s.accepted),
            fmt::thousands(s.closed)
        ),
        format!("  accept errors      {}", s.accept_errors.text()),
        format!("  closed by error    {}", s.close_errors.text()),
        format!("  echoed             {}", fmt::bytes(s.bytes_echoed)),
        format!(
            "  rss                {} (start {}): {}",
            fmt::bytes(s.rss_bytes),
            fmt::bytes(s.rss_start_bytes),
            per_conn
        ),
        format!("  uptime             {}", fmt::duration_s(s.uptime_s)),
    ];
    if s.workers > 1 {
        lines.push(format!(
            "  workers            {} ({} restarted)",
            s.workers, s.worker_restarts
        ));
    }
    lines.join("\n")
}
