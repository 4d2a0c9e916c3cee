//! The plan: how N connections spread over (source, destination) pairs, and whether they fit.
//!
//! # Why pairs matter
//! The kernel picks an ephemeral source port at `connect()` time from `ip_local_port_range`
//! (default 32768-60999: 28,232 ports). The port only has to make the 4-tuple unique, so each
//! (source IP, destination IP:port) pair has the whole range to itself: one pair tops out at
//! 28,232 connections (EADDRNOTAVAIL beyond, claim C9), and more pairs multiply it (C10, C11).
//!
//! # The knee
//! `__inet_hash_connect()` searches the range from a hashed offset, stepping by two, for a port
//! not yet used with this 4-tuple. While most ports are free the first try succeeds; once one
//! pair holds more than about half the range, most probes hit a used port and every `connect()`
//! walks a long run of them. Measured on the reference machine: ~80k connects/s falls to
//! ~1-3k/s. So by default, for loopback targets, the client spreads connections over enough
//! 127.0.0.0/8 source addresses that no pair passes [`KNEE_PERCENT`] of the range.
//!
//! # Engines that own their addresses
//! An engine with no kernel socket on this side ([`Sources::Own`]) has no port range and no
//! descriptor per connection: every source port of its addresses is free, and the plan takes
//! whole addresses of its range per process, a shard keeping to its own block of it: of its
//! IPv4 range for IPv4 targets, of its IPv6 range for IPv6 ones.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use c10m_cli::addr;
use c10m_kernel::pid;
use c10m_kernel::sysctl::PortRange;
use c10m_limits::{ClientAsk, Facts, Row};

use crate::config::{Ask, EngineChoice, Mode, Options, OwnRange, Part, Sources};

/// The share of ip_local_port_range one pair may use before connect() slows down.
pub(crate) const KNEE_PERCENT: u64 = 45;
/// Where default source addresses start (any 127.0.0.0/8 address is local).
const DEFAULT_SOURCE_BASE: Ipv4Addr = Ipv4Addr::new(127, 1, 0, 1);
/// Descriptors kept free beyond the connections.
const FD_RESERVE: u64 = 4;

/// Descriptors this process holds before its first connection, plus the epoll fd, those the
/// pages `opts` asks for may take, and the reserve.
pub(crate) fn fd_reserve(opts: &Options) -> u64 {
    pid::count_own_fds().map(|c| c.total).unwrap_or(8)
        + 1
        + opts.output.page_descriptors()
        + FD_RESERVE
}

/// What the machine allows this run, read once at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    port_range: Option<PortRange>,
    /// Connections one process has fds for.
    fd_room: u64,
    fd_soft: u64,
    /// Open files the machine still allows (fs.file-max minus fs.file-nr's allocated).
    files_free: Option<u64>,
}

/// Where connection `i` goes: target `i % T`, source `(i / T) % S`.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Connections held at once (churn: at most --concurrency).
    pub connections: u64,
    /// `-n`: hold, the same as `connections`; churn, the requests in all; keepalive, the pool.
    pub requested: u64,
    pub targets: Vec<SocketAddr>,
    /// Empty: no bind(), the kernel picks the source address too.
    pub sources: Vec<IpAddr>,
    /// True when the client chose the sources itself (no --source given).
    pub sources_chosen: bool,
    pub port_range: Option<PortRange>,
    pub fd_room: u64,
    pub fd_soft: u64,
    /// Processes the connections are split over.
    pub processes: u64,
    /// Open files the machine still allows (fs.file-max minus fs.file-nr's allocated).
    pub files_free: Option<u64>,
    /// The engine that makes the connections.
    pub engine: EngineChoice,
    /// `--shard`: `connections` is this shard's part of `total`.
    pub shard: Part,
    pub total: u64,
}

/// A problem the plan foresees, said before the first connect.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// More connections per pair than the port range has: EADDRNOTAVAIL expected.
    PortsExhausted { per_pair: u64, ports: u64 },
    /// Past the knee: connect() will slow down.
    PastKnee { per_pair: u64, knee: u64 },
    /// More connections per process than its fd limit leaves room for: EMFILE expected.
    FdLimit {
        connections: u64,
        room: u64,
        #[serde(rename = "fd_soft")]
        soft: u64,
    },
    /// More descriptors than fs.file-max leaves free: ENFILE expected.
    FileMax { needed: u64, free: u64 },
}

/// The addresses `n` connections need from an engine's own range of `ports` ports per address,
/// split over `processes` that each take whole addresses.
pub(crate) fn own_addresses_needed(n: u64, processes: u64, ports: u32) -> u64 {
    let per_process = n.div_ceil(processes.max(1));
    per_process.div_ceil(u64::from(ports)) * processes.max(1)
}

impl Plan {
    /// The plan a run with `opts` makes from `ask` on a machine with `facts`, each process under
    /// soft limit `fd_soft`. `--check` makes the same one.
    pub(crate) fn for_run(ask: Ask, opts: &Options, facts: &Facts, fd_soft: u64) -> Plan {
        // Churn holds at most --concurrency connections at once; the plan routes that many.
        let at_once = match opts.mode {
            Mode::Churn => ask.connections.min(opts.concurrency),
            _ => ask.connections,
        };
        let limits = if opts.engine.caps.kernel_socket {
            Limits {
                port_range: facts.port_range,
                fd_room: fd_soft.saturating_sub(fd_reserve(opts)),
                fd_soft,
                files_free: facts.files_free(),
            }
        } else {
            // No socket, no port search, one fd: the kernel's port range and fd limits do not
            // apply on this side.
            Limits {
                port_range: None,
                fd_room: at_once.max(1),
                fd_soft,
                files_free: None,
            }
        };
        Plan::new(ask, at_once, limits, opts.engine)
    }

    /// The plan for `ask`, `at_once` of its connections open at the same time.
    fn new(ask: Ask, at_once: u64, limits: Limits, engine: EngineChoice) -> Plan {
        let Limits {
            port_range,
            fd_room,
            fd_soft,
            files_free,
        } = limits;
        let mut plan = Plan {
            connections: at_once,
            requested: ask.connections,
            sources_chosen: false,
            targets: ask.targets,
            sources: ask.sources,
            port_range,
            fd_room,
            fd_soft,
            processes: ask
                .processes
                .unwrap_or_else(|| at_once.div_ceil(fd_room.max(1)))
                .max(1),
            files_free,
            engine,
            shard: ask.shard,
            total: ask.total,
        };
        if plan.sources.is_empty() {
            plan.sources = match engine.caps.sources {
                Sources::Kernel => plan.loopback_sources(),
                Sources::Own { ports, .. } => engine
                    .caps
                    .sources
                    .own_for(plan.ipv6())
                    .map_or_else(Vec::new, |r| plan.own_sources(r, ports)),
            };
            plan.sources_chosen = !plan.sources.is_empty();
        }
        plan
    }

    /// Whether the targets are IPv6 (a plan's targets are of one family).
    pub(crate) fn ipv6(&self) -> bool {
        self.targets.first().is_some_and(SocketAddr::is_ipv6)
    }

    /// Whole addresses of the engine's own range for every process, from this shard's block.
    fn own_sources(&self, r: OwnRange, ports: u32) -> Vec<IpAddr> {
        let needed = own_addresses_needed(self.connections, self.processes, ports);
        let (start, block) = self.shard.block(u64::from(r.count));
        let end = (start + needed.min(block)).min(u64::from(r.count));
        (start..end)
            .map(|i| match r.first {
                IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) + i as u32)),
                IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) + u128::from(i))),
            })
            .collect()
    }

    /// Whether the plan gives an engine with its own addresses whole addresses per process, of
    /// the targets' family: an error that says how many it needs.
    pub(crate) fn check_own_sources(&self) -> Result<(), String> {
        let Sources::Own { ports, .. } = self.engine.caps.sources else {
            return Ok(());
        };
        let needed = own_addresses_needed(self.connections, self.processes, ports);
        let family = if self.ipv6() { "IPv6" } else { "IPv4" };
        let wrong = self.sources.iter().any(|s| s.is_ipv6() != self.ipv6());
        if (self.sources.len() as u64) < needed || wrong {
            return Err(format!(
                "--engine {}: {} connections over {} process(es) need {needed} {family} source addresses \
                 ({ports} ports each); --source gives {}",
                self.engine.name,
                self.connections,
                self.processes,
                self.sources.len()
            ));
        }
        Ok(())
    }

    /// The knee in connections per pair, if the port range is known.
    pub(crate) fn knee(&self) -> Option<u64> {
        self.port_range
            .map(|r| u64::from(r.count()) * KNEE_PERCENT / 100)
    }

    /// Enough loopback sources to keep every pair under the knee, or none if one pair will do
    /// (no bind() at all is cheapest).
    fn loopback_sources(&self) -> Vec<IpAddr> {
        let all_loopback_v4 = self
            .targets
            .iter()
            .all(|t| t.is_ipv4() && addr::is_loopback(t.ip()));
        let Some(knee) = self.knee().filter(|k| *k > 0) else {
            return Vec::new();
        };
        if !all_loopback_v4 {
            return Vec::new();
        }
        let per_target = self.connections.div_ceil(self.targets.len() as u64);
        let needed = per_target.div_ceil(knee);
        if needed <= 1 && self.shard.is_whole() {
            return Vec::new();
        }
        // Shards take blocks of the same size, from the largest shard's need: disjoint.
        let largest = Part {
            index: 0,
            ..self.shard
        }
        .count(self.total);
        let block = largest
            .div_ceil(self.targets.len() as u64)
            .div_ceil(knee)
            .max(1);
        let first = (self.shard.index * block) as u32;
        (first..first + needed.max(1) as u32)
            .map(|n| addr::loopback_nth(DEFAULT_SOURCE_BASE, n))
            .collect()
    }

    pub(crate) fn pairs(&self) -> u64 {
        self.targets.len() as u64 * self.sources.len().max(1) as u64
    }

    /// The most connections any one pair gets.
    pub(crate) fn per_pair(&self) -> u64 {
        self.connections.div_ceil(self.pairs())
    }

    /// Connection `i`'s destination and source.
    pub(crate) fn route(&self, i: u64) -> (SocketAddr, Option<IpAddr>) {
        let t = self.targets.len() as u64;
        let dst = self.targets[(i % t) as usize];
        let src = (!self.sources.is_empty())
            .then(|| self.sources[((i / t) % self.sources.len() as u64) as usize]);
        (dst, src)
    }

    /// The knee, while the ramp (at `launched` connects) has pairs past it: the round-robin
    /// fills pairs evenly.
    pub(crate) fn past_knee(&self, launched: u64) -> Option<u64> {
        self.knee()
            .filter(|k| launched < self.connections && launched.div_ceil(self.pairs()) > *k)
    }

    /// Process `part`'s sources: each process of an engine with its own addresses takes an
    /// equal run of them, every other engine routes from them all.
    pub(crate) fn sources_of(&self, part: Part) -> &[IpAddr] {
        if let Sources::Kernel = self.engine.caps.sources {
            return &self.sources;
        }
        let per = self.sources.len() / part.of.max(1) as usize;
        &self.sources[part.index as usize * per..(part.index as usize + 1) * per]
    }

    /// The limits question `--check` and the dashboard's limits panel ask for this plan, with
    /// `processes` as given (`--processes`; `None` counts one process, as `--check` does).
    pub(crate) fn limits_ask(&self, opts: &Options, processes: Option<u64>) -> ClientAsk {
        ClientAsk {
            connections: self.connections,
            processes,
            nofile: opts.nofile,
            reserve: fd_reserve(opts),
            targets: self.targets.len() as u64,
            sources: self.sources.len() as u64,
            sources_chosen: self.sources_chosen,
            knee: self.knee(),
            loopback: self.targets.iter().all(|t| addr::is_loopback(t.ip())),
            churn_rate: (opts.mode == Mode::Churn && opts.rate > 0).then_some(opts.rate),
            close: opts.close,
        }
    }

    pub(crate) fn warnings(&self) -> Vec<Warning> {
        let mut w = Vec::new();
        let per_pair = self.per_pair();
        if let Some(r) = self.port_range {
            let ports = u64::from(r.count());
            if per_pair > ports {
                w.push(Warning::PortsExhausted { per_pair, ports });
            } else if let Some(knee) = self.knee().filter(|k| per_pair > *k) {
                w.push(Warning::PastKnee { per_pair, knee });
            }
        }
        let per_process = self.connections.div_ceil(self.processes);
        if per_process > self.fd_room {
            w.push(Warning::FdLimit {
                connections: per_process,
                room: self.fd_room,
                soft: self.fd_soft,
            });
        }
        if let Some(free) = self.files_free.filter(|f| self.connections > *f) {
            w.push(Warning::FileMax {
                needed: self.connections,
                free,
            });
        }
        w
    }
}

/// Every limit that bounds `ask` on `facts`: the rules of a kernel socket per connection, or of
/// an engine with none on this side (its memory guard at `guard` bytes).
pub(crate) fn limit_rows(
    kernel_socket: bool,
    facts: &Facts,
    ask: &ClientAsk,
    guard: u64,
) -> Vec<Row> {
    if kernel_socket {
        c10m_limits::client_rows(facts, ask)
    } else {
        c10m_limits::tun_client_rows(facts, ask.connections, guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket() -> EngineChoice {
        crate::engine::registry::choice("socket").unwrap()
    }

    fn range() -> Option<PortRange> {
        Some(PortRange {
            low: 32768,
            high: 60999,
        })
    }

    fn t(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn plan(
        n: u64,
        targets: Vec<SocketAddr>,
        sources: Vec<IpAddr>,
        fd_room: u64,
        processes: Option<u64>,
    ) -> Plan {
        let ask = Ask {
            connections: n,
            targets,
            sources,
            processes,
            shard: Part::WHOLE,
            total: n,
        };
        let limits = Limits {
            port_range: range(),
            fd_room,
            fd_soft: fd_room + 10,
            files_free: None,
        };
        Plan::new(ask, n, limits, socket())
    }

    #[test]
    fn spreads_loopback_sources_past_the_knee() {
        let p = plan(19_000, vec![t("127.0.0.1:7000")], vec![], 19_990, None);
        assert_eq!(p.sources.len(), 2);
        assert!(p.sources_chosen);
        assert!(p.per_pair() <= p.knee().unwrap());
        assert!(p.warnings().is_empty());
        let small = plan(5_000, vec![t("127.0.0.1:7000")], vec![], 19_990, None);
        assert!(small.sources.is_empty());
        assert_eq!(small.route(7), (t("127.0.0.1:7000"), None));
    }

    #[test]
    fn shards_on_loopback_bind_disjoint_sources() {
        let mut seen = std::collections::BTreeSet::new();
        for index in 0..4 {
            let shard = Part { index, of: 4 };
            let ask = Ask {
                connections: shard.count(100_001),
                targets: vec![t("127.0.0.1:7000")],
                sources: vec![],
                processes: None,
                shard,
                total: 100_001,
            };
            let limits = Limits {
                port_range: range(),
                fd_room: 19_990,
                fd_soft: 20_000,
                files_free: None,
            };
            let p = Plan::new(ask.clone(), ask.connections, limits, socket());
            assert!(p.per_pair() <= p.knee().unwrap());
            for s in &p.sources {
                assert!(seen.insert(*s), "{s} in two shards");
            }
        }
    }

    #[test]
    fn routes_round_robin_over_pairs() {
        let p = plan(
            8,
            vec![t("127.0.0.1:7000"), t("127.0.0.2:7000")],
            vec!["127.1.0.1".parse().unwrap(), "127.1.0.2".parse().unwrap()],
            100,
            None,
        );
        assert_eq!(p.pairs(), 4);
        let routes: Vec<_> = (0..4).map(|i| p.route(i)).collect();
        let mut uniq = routes.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 4);
    }

    #[test]
    fn warns_before_the_run() {
        let one = vec!["127.1.0.1".parse().unwrap()];
        let p = plan(
            30_000,
            vec![t("127.0.0.1:7000")],
            one.clone(),
            19_990,
            Some(1),
        );
        let w = p.warnings();
        assert!(w.contains(&Warning::PortsExhausted {
            per_pair: 30_000,
            ports: 28_232
        }));
        assert!(w.iter().any(|w| matches!(w, Warning::FdLimit { .. })));
        let knee = plan(15_000, vec![t("127.0.0.1:7000")], one, 19_990, None);
        assert!(matches!(knee.warnings()[..], [Warning::PastKnee { .. }]));
        let split = plan(1_000_000, vec![t("127.0.0.1:7000")], vec![], 19_990, None);
        assert_eq!(split.processes, 51);
        assert!(split.warnings().is_empty(), "{:?}", split.warnings());
        assert!(split.per_pair() <= split.knee().unwrap());
    }
}
