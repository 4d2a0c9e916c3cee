//! The client's rules: ports per source/target pair (C5), fds, files, epoll, memory, TIME_WAIT at
//! a churn rate (C1-C3), `tcp_tw_reuse` (C3, C4), conntrack.

use super::costs::{CLIENT_USER_BYTES_PER_CONN, DEFAULT_TW_REUSE_DELAY_MS, TIME_WAIT_SECS};
use super::facts::Facts;
use super::row::{plural, Row, Unit};
use super::shared::{conntrack_row, epoll_row, fd_row, file_max_row, memory_row, Procs, Spread};
use c10m_report::fmt::thousands;

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

/// How the client closes each short connection (`--close`).
#[derive(
    clap::ValueEnum, serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq,
)]
#[serde(rename_all = "lowercase")]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::first_binding;
    use crate::fixtures::{client, facts, row};

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
}
