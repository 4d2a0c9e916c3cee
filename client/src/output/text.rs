//! The client's records as people read them: the plan and the summary for stdout, live lines
//! and first failures for stderr (the caller picks the stream).

use c10m_report::fmt;

use super::records::{
    Failure, RequestsStart, RequestsSummary, RequestsTick, Step, Summary, Tick, EOF_MEANING,
};
use crate::config::{Close, Mode, Sources};
use crate::plan::{Plan, Warning, KNEE_PERCENT};
use crate::stats::WireCounts;

fn warning(w: &Warning) -> String {
    match *w {
        Warning::PortsExhausted { per_pair, ports } => format!(
            "one (source, destination) pair gets {} connections but ip_local_port_range has {} ports: expect EADDRNOTAVAIL after ~{}; add --source or --target addresses, or widen the range",
            fmt::thousands(per_pair), fmt::thousands(ports), fmt::thousands(ports)
        ),
        Warning::PastKnee { per_pair, knee } => format!(
            "one (source, destination) pair gets {} connections, past ~{} ({KNEE_PERCENT}% of the port range): connect() will slow sharply while the kernel searches for free ports",
            fmt::thousands(per_pair), fmt::thousands(knee)
        ),
        Warning::FileMax { needed, free } => format!(
            "{} descriptors needed but fs.file-max leaves {} free on this machine (a loopback server needs as many again): expect ENFILE; raise it with sysctl -w fs.file-max=N",
            fmt::thousands(needed), fmt::thousands(free)
        ),
        Warning::FdLimit { connections, room, soft } => format!(
            "{} connections per process do not fit RLIMIT_NOFILE {} (room for {}): expect EMFILE after ~{}; raise --nofile / ulimit -n, or use more --processes",
            fmt::thousands(connections), fmt::thousands(soft), fmt::thousands(room), fmt::thousands(room)
        ),
    }
}

/// `a`, or `first .. last (n)`.
fn span<T: ToString>(addrs: &[T]) -> String {
    match addrs {
        [] => "-".into(),
        [one] => one.to_string(),
        [first, .., last] => format!(
            "{} .. {} ({})",
            first.to_string(),
            last.to_string(),
            addrs.len()
        ),
    }
}

pub(super) fn plan(p: &Plan) -> String {
    if let Sources::Own { ports, .. } = p.engine.caps.sources {
        let range = p
            .engine
            .caps
            .sources
            .own_for(p.ipv6())
            .map_or("", |r| r.range);
        return own_plan(p, ports, range);
    }
    let warnings = p.warnings();
    let src = if p.sources.is_empty() {
        "none bound (the kernel picks the source address)".to_string()
    } else if p.sources_chosen {
        format!(
            "{} (chosen so no pair passes ~{KNEE_PERCENT}% of the port range; --source overrides)",
            span(&p.sources)
        )
    } else {
        span(&p.sources)
    };
    let mut lines = vec![
        format!("plan: {} connections", fmt::thousands(p.connections)),
        format!("  targets   {}", span(&p.targets)),
        format!("  sources   {src}"),
        format!(
            "  pairs     {} (source, destination) pairs, at most {} connections each{}",
            p.pairs(),
            fmt::thousands(p.per_pair()),
            p.port_range
                .map(|r| format!(
                    "; ip_local_port_range {}-{} = {} ports per pair",
                    r.low,
                    r.high,
                    fmt::thousands(u64::from(r.count()))
                ))
                .unwrap_or_default()
        ),
        format!(
            "  processes {} (RLIMIT_NOFILE {} each: room for {} connections per process)",
            p.processes,
            fmt::thousands(p.fd_soft),
            fmt::thousands(p.fd_room)
        ),
    ];
    for w in &warnings {
        lines.push(format!("  warning   {}", warning(w)));
    }
    if warnings.is_empty() {
        lines.push("  fits      yes".into());
    }
    lines.join("\n")
}

/// The plan of an engine with addresses of its own: no socket, so no port range or fd limit on
/// this side.
fn own_plan(p: &Plan, ports: u32, range: &str) -> String {
    [
        format!(
            "plan: {} connections, {}",
            fmt::thousands(p.connections),
            p.engine.caps.about
        ),
        format!("  targets   {}", span(&p.targets)),
        format!(
            "  sources   {}{} ({} ports each, routed to the device)",
            span(&p.sources),
            if p.sources_chosen {
                format!(", from {range}")
            } else {
                String::new()
            },
            fmt::thousands(u64::from(ports))
        ),
        format!("  processes {} (one device and one fd each)", p.processes),
    ]
    .join("\n")
}

pub(super) fn failure(f: &Failure) -> String {
    match (&f.step, &f.message) {
        (Some(step), Some(msg)) => format!("first {} from {step}: {msg}: {}", f.errno, f.meaning),
        _ if f.errno == "EOF" && f.meaning == EOF_MEANING => {
            format!("first EOF from read(): {}", f.meaning)
        }
        _ => format!("first {}: {}", f.errno, f.meaning),
    }
}

fn us(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

pub(super) fn tick(t: &Tick) -> String {
    let rtt = match (t.rtt_p50_us, t.rtt_p99_us) {
        (Some(a), Some(b)) => format!(" | rtt p50 {a} us p99 {b} us"),
        _ => String::new(),
    };
    let mut line = format!(
        "[{:>6.1}s] established {}/{} | open {} | in flight {} | failed {} | {} connects{} | rss {}",
        t.elapsed_s,
        fmt::thousands(t.established),
        fmt::thousands(t.requested),
        fmt::thousands(t.open),
        fmt::thousands(t.in_flight),
        fmt::thousands(t.failed),
        fmt::rate(t.connect_rate),
        rtt,
        fmt::bytes(t.rss_bytes),
    );
    if let Some(knee) = t.knee {
        line.push_str(&format!(
            "\n          slow on purpose? one (source, destination) pair now holds more than ~{} ports ({KNEE_PERCENT}% of ip_local_port_range): the kernel's port search walks long runs of used ports on every connect(); add --source or --target addresses",
            fmt::thousands(knee)
        ));
    }
    line
}

fn result(success: bool) -> String {
    format!(
        "  result             {}",
        if success { "ok" } else { "FAILED (exit 1)" }
    )
}

pub(super) fn step(s: &Step) -> String {
    format!(
        "step {}: {} offered, {} echoed intact in {} ({} sent, {} in flight at its end); rtt p50 {} us p99 {} us p99.9 {} us",
        s.index,
        fmt::rate(s.offered_per_s as f64),
        fmt::rate(s.delivered_per_s),
        fmt::duration_s(s.duration_s),
        fmt::thousands(s.sent),
        fmt::thousands(s.in_flight),
        us(s.rtt_p50_us),
        us(s.rtt_p99_us),
        us(s.rtt_p999_us),
    )
}

pub(super) fn summary(s: &Summary) -> String {
    let mut lines = vec![
        "summary".to_string(),
        format!(
            "  established        {} of {} (peak open {})",
            fmt::thousands(s.established),
            fmt::thousands(s.requested),
            fmt::thousands(s.peak_open)
        ),
        format!("  failed             {}", s.failed.text()),
        format!(
            "  time to all        {}{}",
            s.elapsed_to_all_s.map_or("-".into(), fmt::duration_s),
            s.connect_rate_per_s
                .map_or(String::new(), |r| format!(" ({})", fmt::rate(r)))
        ),
        format!(
            "  held               {}{}",
            fmt::duration_s(s.held_s),
            if s.interrupted { " (interrupted)" } else { "" }
        ),
    ];
    if s.pings_sent > 0 {
        lines.push(format!(
            "  pings              {} sent, {} echoed intact, {} mismatched, {} unanswered; rtt p50 {} us p99 {} us",
            fmt::thousands(s.pings_sent),
            fmt::thousands(s.pings_ok),
            fmt::thousands(s.echo_mismatches),
            fmt::thousands(s.pings_unanswered),
            us(s.rtt_p50_us),
            us(s.rtt_p99_us),
        ));
        lines.push(format!(
            "  pinged             {} of {} connections at least once ({:.1}%)",
            fmt::thousands(s.connections_pinged),
            fmt::thousands(s.peak_open),
            100.0 * s.connections_pinged as f64 / s.peak_open.max(1) as f64
        ));
    }
    lines.push(format!(
        "  rss                {}{}",
        fmt::bytes(s.rss_bytes),
        s.rss_bytes_per_conn
            .map_or(String::new(), |b| format!(" ({b:.1} bytes per connection)"))
    ));
    if s.wire != WireCounts::default() {
        lines.push(wire(&s.wire));
    }
    if let Some(m) = &s.memory_guard {
        lines.push(format!(
            "  memory guard       stopped at {} connections: MemAvailable {} < {}; ~{} per connection, ~{} more would fit",
            fmt::thousands(m.at_connections),
            fmt::bytes(m.mem_available_bytes),
            fmt::bytes(m.min_mem_available_bytes),
            fmt::bytes(m.kernel_bytes_per_conn),
            fmt::thousands(m.more_would_fit)
        ));
    }
    lines.push(result(s.success));
    lines.join("\n")
}

fn wire(w: &WireCounts) -> String {
    format!(
        "  wire               {} segments sent again, {} duplicate SYN-ACKs, {} stray segments reset, {} packets the device dropped\n                     received {} duplicate and {} out-of-order segments; {} zero-window waits; {} resets unconfirmed",
        fmt::thousands(w.retransmitted),
        fmt::thousands(w.duplicate_synacks),
        fmt::thousands(w.stray_resets),
        fmt::thousands(w.dropped_writes),
        fmt::thousands(w.duplicates_received),
        fmt::thousands(w.out_of_order_received),
        fmt::thousands(w.zero_window_waits),
        fmt::thousands(w.unconfirmed_resets),
    )
}

fn close_name(c: Close) -> &'static str {
    match c {
        Close::Fin => "fin",
        Close::Rst => "rst",
        Close::Wait => "wait",
    }
}

pub(super) fn requests_start(s: &RequestsStart, p: &Plan) -> String {
    let rate = if s.rate == 0 {
        "as fast as possible".to_string()
    } else {
        format!("{}/s", fmt::thousands(s.rate))
    };
    let what = match s.mode {
        Mode::Keepalive => format!(
            "keepalive: requests at {rate} for {} over {} persistent connections",
            fmt::duration_s(s.duration_s),
            fmt::thousands(s.connections)
        ),
        _ => format!(
            "churn: one connection per request at {rate} for {} (at most {}), closed with {}",
            fmt::duration_s(s.duration_s),
            fmt::thousands(s.connections),
            close_name(s.close).to_uppercase()
        ),
    };
    format!(
        "{what}\n  targets {}, sources {}, ip_local_port_range {}",
        span(&p.targets),
        if p.sources.is_empty() {
            "chosen by the kernel".into()
        } else {
            span(&p.sources)
        },
        s.port_range.as_deref().unwrap_or("unknown")
    )
}

pub(super) fn requests_tick(t: &RequestsTick) -> String {
    format!(
        "[{:>6.1}s] ok {} ({}) | failed {} | in flight {} | TIME_WAIT {} (client {}, server {}) | ports in use {}/{}",
        t.elapsed_s,
        fmt::thousands(t.requests_ok),
        fmt::rate(t.ok_per_s),
        fmt::thousands(t.failed),
        fmt::thousands(t.in_flight),
        fmt::thousands(t.tcp_tw),
        fmt::thousands(t.tw_client),
        fmt::thousands(t.tw_server),
        fmt::thousands(t.ports_in_use),
        fmt::thousands(t.ports),
    )
}

pub(super) fn requests_summary(s: &RequestsSummary) -> String {
    let mut lines = vec![
        "summary".to_string(),
        format!(
            "  requests           {} answered of {} in {}{}",
            fmt::thousands(s.requests_ok),
            fmt::thousands(s.requests),
            fmt::duration_s(s.sent_s),
            if s.requests_delayed > 0 {
                format!(
                    " ({} skipped: every pooled connection busy)",
                    fmt::thousands(s.requests_delayed)
                )
            } else {
                String::new()
            }
        ),
        format!(
            "  connections        {} connect() calls, {} opened",
            fmt::thousands(s.connects),
            fmt::thousands(s.opened)
        ),
        format!("  failed             {}", s.failed.text()),
    ];
    for (name, t) in &s.first_failure_s {
        lines.push(format!("  first {name:<12} at {}", fmt::duration_s(*t)));
    }
    lines.push(format!(
        "  latency            p50 {} us, p99 {} us; {} echo mismatches",
        us(s.latency_p50_us),
        us(s.latency_p99_us),
        fmt::thousands(s.echo_mismatches)
    ));
    lines.push(format!(
        "  TIME_WAIT          {} at the end (client side {}, server side {}), peak {}; peak ephemeral ports in use {}",
        fmt::thousands(s.tcp_tw_end),
        fmt::thousands(s.tw_client_end),
        fmt::thousands(s.tw_server_end),
        fmt::thousands(s.tcp_tw_peak),
        fmt::thousands(s.ports_in_use_peak)
    ));
    lines.push(result(s.success));
    lines.join("\n")
}
