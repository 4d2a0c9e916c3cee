//! The run's types: what was asked ([`Ask`]), how to run it ([`Options`]), and one part of a
//! plan split over machines or processes ([`Part`]). Validated from the flags by
//! [`crate::cli`]; read by every other module. Nothing here depends on another module of the
//! client, so any module may use these types without tying itself to the rest.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub(crate) use c10m_limits::Close;
use c10m_report::output::OutputArgs;
use c10m_sys::process::Session;

#[derive(
    clap::ValueEnum, serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Hold,
    Churn,
    Keepalive,
}

/// How far a connection's handshake goes (`--handshake`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Handshake {
    /// SYN, SYN-ACK, ACK: an established connection.
    #[default]
    Full,
    /// SYN and the server's SYN-ACK only: a half-open request on the server's side.
    None,
}

/// One part of a plan split `of` ways: part `index` takes the connections `index, index + of,
/// index + 2 of, ...` of it. `--shard I/N` splits a plan over machines, `--processes N` a
/// machine's share over processes; both are this one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    pub index: u64,
    pub of: u64,
}

impl Part {
    pub(crate) const WHOLE: Part = Part { index: 0, of: 1 };

    pub(crate) fn is_whole(&self) -> bool {
        self.of == 1
    }

    /// How many of `n` items are this part's.
    pub(crate) fn count(&self, n: u64) -> u64 {
        n / self.of + u64::from(self.index < n % self.of)
    }

    /// The index in the whole of this part's `k`-th item.
    pub(crate) fn global(&self, k: u64) -> u64 {
        k * self.of + self.index
    }

    /// This part's share of a total that is split, not dealt (`--concurrency`), rounded up.
    pub(crate) fn share(&self, total: u64) -> u64 {
        total.div_ceil(self.of)
    }

    /// This part's count of a total that must not come out 0 (connections, a rate).
    pub(crate) fn count_of(&self, total: u64, what: &str) -> Result<u64, String> {
        match self.count(total) {
            0 => Err(format!(
                "{what} {total} split over {} shards leaves shard {} none: give at least {}",
                self.of, self.index, self.of
            )),
            n => Ok(n),
        }
    }

    /// This part's contiguous run of `all`, or an error when there are fewer items than parts
    /// (shards on different machines must not share an address, hence a 4-tuple).
    pub(crate) fn run_of<T: Copy + std::fmt::Display>(&self, all: &[T]) -> Result<Vec<T>, String> {
        if all.is_empty() {
            return Ok(Vec::new());
        }
        let n = all.len() as u64;
        if n < self.of {
            return Err(format!(
                "--source gives {n} addresses for {} shards: each shard needs its own (shards on different machines must not share a 4-tuple)",
                self.of
            ));
        }
        let start = self.index * (n / self.of) + self.index.min(n % self.of);
        let len = self.count(n);
        Ok(all[start as usize..(start + len) as usize].to_vec())
    }

    /// This part's block of a range of `count` items: (first offset, length), equal blocks.
    pub(crate) fn block(&self, count: u64) -> (u64, u64) {
        let per = count / self.of;
        (self.index * per, per)
    }
}

/// How the hold pings its connections (`--ping-interval`, `--message-rate`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pings {
    /// Every connection about once per interval.
    Every(Duration),
    /// A total rate over all open connections (of this shard): each process's share of
    /// `rates[k]` pings per second during the `k`-th `step` of the hold (the last rate to the
    /// end; one rate without a step).
    Rate {
        rates: Vec<u64>,
        step: Option<Duration>,
    },
}

impl Pings {
    /// Pings per second due in this part of the plan, `since` the hold began, with `open`
    /// connections.
    pub(crate) fn per_s(&self, since: Duration, open: u64, part: Part) -> f64 {
        match self {
            Pings::Every(interval) => open as f64 / interval.as_secs_f64(),
            Pings::Rate { rates, step } => {
                let k = step.map_or(0, |s| (since.as_secs_f64() / s.as_secs_f64()) as usize);
                let rate = rates[k.min(rates.len() - 1)];
                rate as f64 / part.of as f64
            }
        }
    }
}

/// Where an engine's connections come from when `--source` is not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Sources {
    /// A kernel socket's: the kernel picks the source port from `ip_local_port_range` for each
    /// (source, destination) pair.
    Kernel,
    /// The engine's own addresses, routed to it, every one of `ports` source ports of each
    /// free (no local socket can hold them): from `v4` for IPv4 targets, from `v6` (if it
    /// speaks IPv6) for IPv6 ones.
    Own {
        ports: u32,
        v4: OwnRange,
        v6: Option<OwnRange>,
    },
}

/// A range of an engine's own source addresses: `count` from `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) struct OwnRange {
    pub first: IpAddr,
    pub count: u32,
    /// The range, as the plan names it.
    pub range: &'static str,
}

impl Sources {
    /// The engine's own range for targets of this family (`None`: it has none, or its sources
    /// are the kernel's).
    pub(crate) fn own_for(&self, ipv6: bool) -> Option<OwnRange> {
        match *self {
            Sources::Kernel => None,
            Sources::Own { v4, v6, .. } => {
                if ipv6 {
                    v6
                } else {
                    Some(v4)
                }
            }
        }
    }
}

/// What an engine can do. Modes, the plan, `--check` and the output ask these, never the
/// engine's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Caps {
    /// What the engine is, in a few words (the plan's first line).
    pub about: &'static str,
    /// A kernel socket, hence a descriptor, per connection on this side: the port range,
    /// RLIMIT_NOFILE and fs.file-max bound it, and `--check` counts this side's sockets.
    pub kernel_socket: bool,
    pub sources: Sources,
    /// The most exchanges one process keeps in flight (`None`: no bound of its own).
    pub max_in_flight: Option<u64>,
    /// Runs `--mode churn` and `keepalive` besides `hold`.
    pub requests: bool,
    /// Can leave a handshake half-open (`--handshake none`).
    pub half_open: bool,
    /// Can connect to loopback addresses.
    pub loopback_targets: bool,
    pub ipv6: bool,
    /// Needs CAP_NET_ADMIN (it makes a network device).
    pub net_admin: bool,
}

/// The engine a run uses: its name (`--engine`) and what it can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EngineChoice {
    pub name: &'static str,
    pub caps: Caps,
}

/// What is asked of the plan: how many connections, to where, from where. The plan takes it
/// over; nothing else keeps a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ask {
    /// Connections held at once (hold), requests in all (churn), the pool's size (keepalive).
    pub connections: u64,
    pub targets: Vec<SocketAddr>,
    /// Empty: choose (spread over loopback sources when needed, else no bind).
    pub sources: Vec<IpAddr>,
    /// `--processes`.
    pub processes: Option<u64>,
    /// `--shard`: which part of the plan this client runs; `connections` is already its part.
    pub shard: Part,
    /// `-n` before the shard took its part.
    pub total: u64,
}

/// How the client runs, validated.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub engine: EngineChoice,
    pub handshake: Handshake,
    /// `--min-mem-available`; `None`: the default, computed from MemTotal at run time.
    pub min_mem_available: Option<u64>,
    pub mode: Mode,
    pub duration: Duration,
    pub close: Close,
    pub plain_bind: bool,
    pub rate: u64,
    pub concurrency: u64,
    pub connect_timeout: Duration,
    /// None = until Ctrl-C.
    pub hold: Option<Duration>,
    pub pings: Option<Pings>,
    /// `--drain`; `None`: the hold's default.
    pub drain: Option<Duration>,
    pub payload: (u32, u32),
    pub nofile: Option<u64>,
    pub session: Session,
    pub shard: Part,
    pub start_at: Option<f64>,
    pub output: OutputArgs,
}

/// The validated command line: what to do.
#[derive(Debug, Clone)]
pub enum Config {
    /// Open the connections.
    Run(Run),
    /// `--check`: print the limits for the run and exit.
    Check(Run),
    /// `--list-engines`: print the engines and what each can do.
    ListEngines { json: bool },
}

/// A run's validated flags.
#[derive(Debug, Clone)]
pub struct Run {
    pub(crate) ask: Ask,
    pub(crate) opts: Options,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_item_once() {
        for (n, of) in [(200_000u64, 8u64), (10, 3), (7, 7), (1_000_003, 16)] {
            let mut seen = vec![0u8; n as usize];
            let mut total = 0;
            for index in 0..of {
                let p = Part { index, of };
                let count = p.count(n);
                total += count;
                for k in 0..count {
                    seen[p.global(k) as usize] += 1;
                }
            }
            assert_eq!(total, n);
            assert!(seen.iter().all(|c| *c == 1), "n={n} of={of}");
        }
        assert_eq!(Part { index: 0, of: 3 }.share(1000), 334);
        assert!(Part { index: 4, of: 5 }.count_of(4, "-n").is_err());
    }

    #[test]
    fn runs_are_disjoint_and_cover_the_list() {
        let all: Vec<IpAddr> = (1..=10u8).map(|i| IpAddr::from([127, 1, 0, i])).collect();
        let mut union = Vec::new();
        for index in 0..3 {
            let mine = Part { index, of: 3 }.run_of(&all).unwrap();
            assert!(!mine.is_empty());
            assert!(
                mine.iter().all(|a| !union.contains(a)),
                "overlap at {index}"
            );
            union.extend(mine);
        }
        assert_eq!(union, all);
        assert!(Part { index: 0, of: 11 }.run_of(&all).is_err());
        assert!(Part { index: 0, of: 3 }
            .run_of::<IpAddr>(&[])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn blocks_do_not_overlap() {
        let blocks: Vec<_> = (0..8)
            .map(|i| Part { index: i, of: 8 }.block(65_534))
            .collect();
        for w in blocks.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0);
        }
        assert_eq!(Part::WHOLE.block(65_534), (0, 65_534));
    }
}
