//! Rendering: the plan, live lines, first failures and the summary, as text or JSON.
//!
//! Text live lines go to stderr; stdout carries the plan and the summary. With `--json`, every
//! stdout line is one JSON object with a `type` field (`plan`, `tick`, `failure`, `summary`).

use std::io::{self, Write};

use c10m_common::fmt;
use c10m_common::json::Object;

use crate::cli::{Close, Config, Mode};
use crate::plan::{Plan, Warning, KNEE_PERCENT};
use crate::stats::{ChurnSummary, ChurnTick, Summary, Tick};

/// Where and how to render.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
}

fn stdout_line(s: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}

fn warning_text(w: &Warning) -> String {
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

fn warning_json(w: &Warning) -> Object {
    match *w {
        Warning::PortsExhausted { per_pair, ports } => Object::new()
            .with("kind", "ports_exhausted")
            .with("per_pair", per_pair)
            .with("ports", ports),
        Warning::PastKnee { per_pair, knee } => Object::new()
            .with("kind", "past_knee")
            .with("per_pair", per_pair)
            .with("knee", knee),
        Warning::FdLimit {
            connections,
            room,
            soft,
        } => Object::new()
            .with("kind", "fd_limit")
            .with("connections", connections)
            .with("room", room)
            .with("fd_soft", soft),
        Warning::FileMax { needed, free } => Object::new()
            .with("kind", "file_max")
            .with("needed", needed)
            .with("free", free),
    }
}

fn span(addrs: &[String]) -> String {
    match addrs {
        [] => "-".into(),
        [one] => one.clone(),
        [first, .., last] => format!("{first} .. {last} ({})", addrs.len()),
    }
}

pub fn plan(out: Output, p: &Plan) {
    let warnings = p.warnings();
    let targets: Vec<String> = p.targets.iter().map(|t| t.to_string()).collect();
    let sources: Vec<String> = p.sources.iter().map(|s| s.to_string()).collect();
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "plan")
                .with("connections", p.connections)
                .with("targets", targets.len())
                .with("sources", sources.len())
                .with("sources_chosen", p.sources_chosen)
                .with("pairs", p.pairs())
                .with("per_pair", p.per_pair())
                .with(
                    "port_range",
                    p.port_range.map(|r| format!("{}-{}", r.low, r.high)),
                )
                .with("knee", p.knee())
                .with("fd_soft", p.fd_soft)
                .with("fd_room", p.fd_room)
                .with("processes", p.processes)
                .with(
                    "warnings",
                    warnings.iter().map(warning_json).collect::<Vec<_>>(),
                )
                .render(),
        );
        return;
    }
    let src = if p.sources.is_empty() {
        "none bound (the kernel picks the source address)".to_string()
    } else if p.sources_chosen {
        format!(
            "{} (chosen so no pair passes ~{KNEE_PERCENT}% of the port range; --source overrides)",
            span(&sources)
        )
    } else {
        span(&sources)
    };
    let mut lines = vec![
        format!("plan: {} connections", fmt::thousands(p.connections)),
        format!("  targets   {}", span(&targets)),
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
        lines.push(format!("  warning   {}", warning_text(w)));
    }
    if warnings.is_empty() {
        lines.push("  fits      yes".into());
    }
    stdout_line(&lines.join("\n"));
}

pub fn warn(msg: &str) {
    eprintln!("c10m-client: warning: {msg}");
}

/// The first failure of each kind, once, with its meaning.
pub fn first_failure(out: Output, name: &str, code: i32, step: &str, e: &io::Error) {
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "failure")
                .with("errno", name)
                .with("code", code as i64)
                .with("step", step)
                .with("message", e.to_string())
                .with("meaning", c10m_common::errno::meaning(code))
                .render(),
        );
    } else {
        eprintln!(
            "first {name} from {step}: {e}: {}",
            c10m_common::errno::meaning(code)
        );
    }
}

/// The first failure of a kind seen across `--processes` children.
pub fn first_failure_aggregated(out: Output, name: &'static str) {
    let meaning = c10m_common::errno::KNOWN
        .iter()
        .find(|(_, n)| *n == name)
        .map_or("see the summary", |(code, _)| {
            c10m_common::errno::meaning(*code)
        });
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "failure")
                .with("errno", name)
                .with("meaning", meaning)
                .render(),
        );
    } else {
        eprintln!("first {name}: {meaning}");
    }
}

pub fn first_eof(out: Output) {
    let meaning = "the server closed a held connection (it stopped, or hit a limit of its own)";
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "failure")
                .with("errno", "EOF")
                .with("meaning", meaning)
                .render(),
        );
    } else {
        eprintln!("first EOF from read(): {meaning}");
    }
}

pub fn tick(out: Output, t: &Tick, p: &Plan) {
    if out.quiet {
        return;
    }
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "tick")
                .with("elapsed_s", t.elapsed_s)
                .with("established", t.established)
                .with("open", t.open)
                .with("in_flight", t.in_flight)
                .with("failed", t.failed)
                .with("connect_rate_per_s", t.connect_rate)
                .with("pings_ok", t.pings_ok)
                .with("rtt_p50_us", t.rtt_p50_us)
                .with("rtt_p99_us", t.rtt_p99_us)
                .with("rss_bytes", t.rss_bytes)
                .with("tcp_tw", t.tcp_tw)
                .with("past_knee", t.knee.is_some())
                .render(),
        );
        return;
    }
    let rtt = match (t.rtt_p50_us, t.rtt_p99_us) {
        (Some(a), Some(b)) => format!(" | rtt p50 {a} us p99 {b} us"),
        _ => String::new(),
    };
    eprintln!(
        "[{:>6.1}s] established {}/{} | open {} | in flight {} | failed {} | {} connects{} | rss {}",
        t.elapsed_s,
        fmt::thousands(t.established),
        fmt::thousands(p.connections),
        fmt::thousands(t.open),
        fmt::thousands(t.in_flight),
        fmt::thousands(t.failed),
        fmt::rate(t.connect_rate),
        rtt,
        fmt::bytes(t.rss_bytes),
    );
    if let Some(knee) = t.knee {
        eprintln!(
            "          slow on purpose? one (source, destination) pair now holds more than ~{} ports ({KNEE_PERCENT}% of ip_local_port_range): the kernel's port search walks long runs of used ports on every connect(); add --source or --target addresses",
            fmt::thousands(knee)
        );
    }
}

pub fn summary(out: Output, s: &Summary) {
    let st = &s.stats;
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "summary")
                .with("requested", st.requested)
                .with("established", st.established)
                .with("peak_open", st.peak_open)
                .with("failed", Object::from(&st.failed))
                .with("elapsed_to_all_s", st.elapsed_to_all_s)
                .with("connect_rate_per_s", s.connect_rate_per_s)
                .with("held_s", s.held_s)
                .with("pings_sent", st.pings_sent)
                .with("pings_ok", st.pings_ok)
                .with("pings_unanswered", st.pings_unanswered)
                .with("echo_mismatches", st.echo_mismatches)
                .with("rtt_p50_us", st.rtt.quantile(0.5))
                .with("rtt_p99_us", st.rtt.quantile(0.99))
                .with("rss_bytes", s.rss_bytes)
                .with("rss_bytes_per_conn", s.rss_bytes_per_conn)
                .with("interrupted", s.interrupted)
                .with("success", s.success())
                .render(),
        );
        return;
    }
    let failed = failed_list(&st.failed);
    let mut lines = vec![
        "summary".to_string(),
        format!(
            "  established        {} of {} (peak open {})",
            fmt::thousands(st.established),
            fmt::thousands(st.requested),
            fmt::thousands(st.peak_open)
        ),
        format!("  failed             {failed}"),
        format!(
            "  time to all        {}{}",
            st.elapsed_to_all_s.map_or("-".into(), fmt::duration_s),
            s.connect_rate_per_s
                .map_or(String::new(), |r| format!(" ({})", fmt::rate(r)))
        ),
        format!(
            "  held               {}{}",
            fmt::duration_s(s.held_s),
            if s.interrupted { " (interrupted)" } else { "" }
        ),
    ];
    if st.pings_sent > 0 {
        lines.push(format!(
            "  pings              {} sent, {} echoed intact, {} mismatched, {} unanswered; rtt p50 {} us p99 {} us",
            fmt::thousands(st.pings_sent),
            fmt::thousands(st.pings_ok),
            fmt::thousands(st.echo_mismatches),
            fmt::thousands(st.pings_unanswered),
            st.rtt.quantile(0.5).map_or("-".into(), |v| v.to_string()),
            st.rtt.quantile(0.99).map_or("-".into(), |v| v.to_string()),
        ));
    }
    lines.push(format!(
        "  rss                {}{}",
        fmt::bytes(s.rss_bytes),
        s.rss_bytes_per_conn
            .map_or(String::new(), |b| format!(" ({b:.1} bytes per connection)"))
    ));
    lines.push(format!(
        "  result             {}",
        if s.success() { "ok" } else { "FAILED (exit 1)" }
    ));
    stdout_line(&lines.join("\n"));
}

/// `EADDRNOTAVAIL 12, EOF 1`, or `none`.
fn failed_list(failed: &std::collections::BTreeMap<&'static str, u64>) -> String {
    if failed.is_empty() {
        return "none".into();
    }
    failed
        .iter()
        .map(|(k, v)| format!("{k} {}", fmt::thousands(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Hold => "hold",
        Mode::Churn => "churn",
        Mode::Keepalive => "keepalive",
    }
}

fn close_name(c: Close) -> &'static str {
    match c {
        Close::Fin => "fin",
        Close::Rst => "rst",
        Close::Wait => "wait",
    }
}

/// The first line of a churn or keep-alive run: what it will do.
pub fn churn_start(out: Output, cfg: &Config, p: &Plan) {
    let rate = if cfg.rate == 0 {
        "as fast as possible".to_string()
    } else {
        format!("{}/s", fmt::thousands(cfg.rate))
    };
    let range = p.port_range.map(|r| format!("{}-{}", r.low, r.high));
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "start")
                .with("mode", mode_name(cfg.mode))
                .with("rate", cfg.rate)
                .with("duration_s", cfg.duration.as_secs_f64())
                .with("close", close_name(cfg.close))
                .with("connections", cfg.connections)
                .with("targets", p.targets.len())
                .with("sources", p.sources.len())
                .with("port_range", range)
                .render(),
        );
        return;
    }
    let what = match cfg.mode {
        Mode::Keepalive => format!(
            "keepalive: requests at {rate} for {} over {} persistent connections",
            fmt::duration_s(cfg.duration.as_secs_f64()),
            fmt::thousands(cfg.connections)
        ),
        _ => format!(
            "churn: one connection per request at {rate} for {} (at most {}), closed with {}",
            fmt::duration_s(cfg.duration.as_secs_f64()),
            fmt::thousands(cfg.connections),
            close_name(cfg.close).to_uppercase()
        ),
    };
    let targets: Vec<String> = p.targets.iter().map(|t| t.to_string()).collect();
    let sources: Vec<String> = p.sources.iter().map(|s| s.to_string()).collect();
    stdout_line(&format!(
        "{what}\n  targets {}, sources {}, ip_local_port_range {}",
        span(&targets),
        if sources.is_empty() {
            "chosen by the kernel".into()
        } else {
            span(&sources)
        },
        range.unwrap_or_else(|| "unknown".into())
    ));
}

pub fn churn_tick(out: Output, t: &ChurnTick) {
    if out.quiet {
        return;
    }
    if out.json {
        stdout_line(
            &Object::new()
                .with("type", "tick")
                .with("elapsed_s", t.elapsed_s)
                .with("requests_ok", t.requests_ok)
                .with("ok_per_s", t.ok_per_s)
                .with("failed", t.failed)
                .with("in_flight", t.in_flight)
                .with("open", t.open)
                .with("tcp_tw", t.tcp_tw)
                .with("tw_client", t.census.tw_client)
                .with("tw_server", t.census.tw_server)
                .with("ports_in_use", t.census.ephemeral_in_use)
                .with("ports", t.ports)
                .render(),
        );
        return;
    }
    eprintln!(
        "[{:>6.1}s] ok {} ({}) | failed {} | in flight {} | TIME_WAIT {} (client {}, server {}) | ports in use {}/{}",
        t.elapsed_s,
        fmt::thousands(t.requests_ok),
        fmt::rate(t.ok_per_s),
        fmt::thousands(t.failed),
        fmt::thousands(t.in_flight),
        fmt::thousands(t.tcp_tw),
        fmt::thousands(t.census.tw_client),
        fmt::thousands(t.census.tw_server),
        fmt::thousands(t.census.ephemeral_in_use),
        fmt::thousands(t.ports),
    );
}

pub fn churn_summary(out: Output, s: &ChurnSummary) {
    let st = &s.stats;
    let first: Vec<(&str, f64)> = st.first_failure_s.iter().map(|(k, v)| (*k, *v)).collect();
    if out.json {
        let mut first_obj = Object::new();
        for (k, v) in &first {
            first_obj.set(k, *v);
        }
        stdout_line(
            &Object::new()
                .with("type", "summary")
                .with("mode", mode_name(s.mode))
                .with("close", close_name(s.close))
                .with("rate", s.rate)
                .with("sent_s", s.sent_s)
                .with("requests", st.requests)
                .with("requests_ok", st.requests_ok)
                .with("requests_delayed", st.requests_delayed)
                .with("connects", st.launched)
                .with("opened", st.opened)
                .with("failed", Object::from(&st.failed))
                .with("first_failure_s", first_obj)
                .with("echo_mismatches", st.echo_mismatches)
                .with("latency_p50_us", st.latency.quantile(0.5))
                .with("latency_p99_us", st.latency.quantile(0.99))
                .with("tcp_tw_end", s.tcp_tw_end)
                .with("tcp_tw_peak", s.tcp_tw_peak)
                .with("tw_client_end", s.census_end.tw_client)
                .with("tw_server_end", s.census_end.tw_server)
                .with("ports_in_use_peak", s.ports_in_use_peak)
                .with("interrupted", s.interrupted)
                .with("success", s.success())
                .render(),
        );
        return;
    }
    let mut lines = vec![
        "summary".to_string(),
        format!(
            "  requests           {} answered of {} in {}{}",
            fmt::thousands(st.requests_ok),
            fmt::thousands(st.requests),
            fmt::duration_s(s.sent_s),
            if st.requests_delayed > 0 {
                format!(
                    " ({} skipped: every pooled connection busy)",
                    fmt::thousands(st.requests_delayed)
                )
            } else {
                String::new()
            }
        ),
        format!(
            "  connections        {} connect() calls, {} opened",
            fmt::thousands(st.launched),
            fmt::thousands(st.opened)
        ),
        format!("  failed             {}", failed_list(&st.failed)),
    ];
    for (name, t) in &first {
        lines.push(format!("  first {name:<12} at {}", fmt::duration_s(*t)));
    }
    lines.push(format!(
        "  latency            p50 {} us, p99 {} us; {} echo mismatches",
        st.latency
            .quantile(0.5)
            .map_or("-".into(), |v| v.to_string()),
        st.latency
            .quantile(0.99)
            .map_or("-".into(), |v| v.to_string()),
        fmt::thousands(st.echo_mismatches)
    ));
    lines.push(format!(
        "  TIME_WAIT          {} at the end (client side {}, server side {}), peak {}; peak ephemeral ports in use {}",
        fmt::thousands(s.tcp_tw_end),
        fmt::thousands(s.census_end.tw_client),
        fmt::thousands(s.census_end.tw_server),
        fmt::thousands(s.tcp_tw_peak),
        fmt::thousands(s.ports_in_use_peak)
    ));
    lines.push(format!(
        "  result             {}",
        if s.success() { "ok" } else { "FAILED (exit 1)" }
    ));
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
