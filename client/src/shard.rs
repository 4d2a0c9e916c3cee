//! `--shard I/N`: one of N clients, on as many machines, running one plan between them.
//!
//! Every shard is given the same command line. Shard `I` takes the connections `I, I + N,
//! I + 2N, ...` of `-n` (the plan's total), its share of `--rate` and `--concurrency`, and source
//! addresses no other shard uses. The last part matters once the shards share a server: a TCP
//! connection is its 4-tuple, so two machines that connect from the same address and port to
//! the same listener make one connection in the server's eyes (the second SYN lands on the first
//! connection), and each shard's count would be off. With `--source` the shards split the list;
//! without it a shard keeps to its own block of the default range (the TUN engine's
//! 198.19.0.0/16, or the socket engine's 127.1.0.x for loopback targets); a socket engine with
//! no `--source` and a real target binds nothing, so its source is its machine's own address,
//! different on every machine by construction.
//!
//! `auto/N` reads `I` from `JOB_COMPLETION_INDEX`, the index a Kubernetes Indexed Job gives each
//! of its pods, so that one pod template runs every shard.

use std::net::IpAddr;

use crate::plan::Slice;

/// The variable a Kubernetes Indexed Job sets in each pod: 0, 1, ..., completions - 1.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// `--shard` as given: `I/N` or `auto/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSpec {
    Fixed { index: u64, of: u64 },
    Auto { of: u64 },
}

/// Which shard this process is: `index` of `of`, counted from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u64,
    pub of: u64,
}

/// The most shards a plan is split into.
pub const MAX_SHARDS: u64 = 65_536;

pub fn parse_shard(s: &str) -> Result<ShardSpec, String> {
    let bad = || format!("'{s}' is not a shard: I/N (0 <= I < N <= {MAX_SHARDS}) or auto/N");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let of: u64 = n.parse().map_err(|_| bad())?;
    if of == 0 || of > MAX_SHARDS {
        return Err(bad());
    }
    if i == "auto" {
        return Ok(ShardSpec::Auto { of });
    }
    let index: u64 = i.parse().map_err(|_| bad())?;
    if index >= of {
        return Err(bad());
    }
    Ok(ShardSpec::Fixed { index, of })
}

impl ShardSpec {
    /// The shard, `auto` read from `env` (the value of [`INDEX_ENV`], if set).
    pub fn resolve(self, env: Option<&str>) -> Result<Shard, String> {
        match self {
            ShardSpec::Fixed { index, of } => Ok(Shard { index, of }),
            ShardSpec::Auto { of } => {
                let v = env.ok_or_else(|| {
                    format!("--shard auto/{of} reads {INDEX_ENV}, which is not set: give --shard I/{of}, or run as a pod of an Indexed Job")
                })?;
                match v.trim().parse::<u64>() {
                    Ok(index) if index < of => Ok(Shard { index, of }),
                    _ => Err(format!(
                        "{INDEX_ENV}={v} is not a shard index below {of} (the Job's completions and the N of --shard auto/N must agree)"
                    )),
                }
            }
        }
    }
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, of: 1 };

    pub fn is_whole(&self) -> bool {
        self.of == 1
    }

    pub fn slice(&self) -> Slice {
        Slice {
            index: self.index,
            of: self.of,
        }
    }

    /// This shard's part of a total that must not come out 0 (connections, a rate).
    pub fn part(&self, total: u64, what: &str) -> Result<u64, String> {
        match self.slice().count(total) {
            0 => Err(format!(
                "{what} {total} split over {} shards leaves shard {} none: give at least {}",
                self.of, self.index, self.of
            )),
            n => Ok(n),
        }
    }

    /// This shard's contiguous part of `--source`'s addresses.
    pub fn sources(&self, all: &[IpAddr]) -> Result<Vec<IpAddr>, String> {
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
        let len = self.slice().count(n);
        Ok(all[start as usize..(start + len) as usize].to_vec())
    }

    /// This shard's block of a default range of `count` addresses: (first offset, length).
    pub fn block(&self, count: u64) -> (u64, u64) {
        let per = count / self.of;
        (self.index * per, per)
    }

    /// `I/N`, as the plan and summary print it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.index, self.of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fixed_and_auto() {
        assert_eq!(parse_shard("2/8"), Ok(ShardSpec::Fixed { index: 2, of: 8 }));
        assert_eq!(parse_shard("auto/8"), Ok(ShardSpec::Auto { of: 8 }));
        for bad in ["8/8", "1", "a/b", "0/0", "-1/4", "1/70000", "auto/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn auto_takes_the_jobs_index() {
        let spec = ShardSpec::Auto { of: 4 };
        assert_eq!(spec.resolve(Some("3")), Ok(Shard { index: 3, of: 4 }));
        assert!(spec.resolve(Some("4")).unwrap_err().contains("below 4"));
        assert!(spec.resolve(None).unwrap_err().contains(INDEX_ENV));
        assert!(spec.resolve(Some("x")).is_err());
    }

    #[test]
    fn every_connection_is_in_exactly_one_shard() {
        for (n, of) in [(200_000u64, 8u64), (10, 3), (7, 7), (1_000_003, 16)] {
            let mut seen = vec![0u8; n as usize];
            let mut total = 0;
            for index in 0..of {
                let s = Shard { index, of }.slice();
                let count = s.count(n);
                total += count;
                for k in 0..count {
                    seen[s.global(k) as usize] += 1;
                }
            }
            assert_eq!(total, n);
            assert!(seen.iter().all(|c| *c == 1), "n={n} of={of}");
        }
        assert!(Shard { index: 4, of: 5 }.part(4, "-n").is_err());
    }

    #[test]
    fn sources_are_disjoint_and_cover_the_list() {
        let all: Vec<IpAddr> = (1..=10u8).map(|i| IpAddr::from([127, 1, 0, i])).collect();
        let mut union = Vec::new();
        for index in 0..3 {
            let mine = Shard { index, of: 3 }.sources(&all).unwrap();
            assert!(!mine.is_empty());
            assert!(
                mine.iter().all(|a| !union.contains(a)),
                "overlap at {index}"
            );
            union.extend(mine);
        }
        assert_eq!(union, all);
        assert!(Shard { index: 0, of: 11 }.sources(&all).is_err());
        assert!(Shard { index: 0, of: 3 }.sources(&[]).unwrap().is_empty());
    }

    #[test]
    fn default_blocks_do_not_overlap() {
        let blocks: Vec<_> = (0..8)
            .map(|i| Shard { index: i, of: 8 }.block(65_534))
            .collect();
        for w in blocks.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0);
        }
        assert_eq!(Shard::WHOLE.block(65_534), (0, 65_534));
    }
}
