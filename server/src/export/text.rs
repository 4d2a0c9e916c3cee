//! Text for people: the start lines and the summary on stdout, live lines and milestones on
//! stderr.

use c10m_report::fmt;
use c10m_report::output::stdout_line;
use c10m_sys::errno;

use crate::accept::AcceptBlock;
use crate::output::{Milestone, Start, StartWorkers, Summary, Tick, WorkerExit};
use c10m_sys::mem;

pub fn start(s: &Start) {
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

pub fn start_workers(s: &StartWorkers) {
    stdout_line(&format!(
        "{} workers ({}), each under RLIMIT_NOFILE {}: room for ~{} connections in all",
        s.workers,
        if s.listener == "reuseport" {
            "one SO_REUSEPORT listener each"
        } else {
            "one listener shared across fork"
        },
        fmt::thousands(s.fd_soft),
        fmt::thousands(s.room)
    ));
}

pub fn worker_exit(w: &WorkerExit) {
    eprintln!(
        "c10m-server: worker {} (pid {}) {}; its {} connections are gone; {}",
        w.worker,
        w.pid,
        w.how,
        fmt::thousands(w.connections_lost),
        if w.replaced {
            "starting a replacement"
        } else {
            "not replaced"
        }
    );
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

pub fn tick(t: &Tick) {
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
    eprintln!("[{:>6.1}s] {}", t.elapsed_s, parts.join(" | "));
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

pub fn milestone(m: &Milestone) {
    eprintln!(
        "milestone: {} connections after {}",
        fmt::thousands(m.conns),
        fmt::duration_s(m.elapsed_s)
    );
}

pub fn summary(s: &Summary) {
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
    stdout_line(&lines.join("\n"));
}
