//! Failures counted by kind, in a fixed array: what a loop adds to on the hot path.
//!
//! The kinds are the errnos a connection flood meets ([`errno::KNOWN`]), `other` for any
//! errno outside them, and three events that are not errnos: `EOF` (the peer closed a held
//! connection), `process_died` and `worker_died` (a child of the supervisor ended with
//! connections in it). A fixed array costs an index per failure, never an allocation, and is
//! [`Pod`]: it goes into shared memory as it is. On output it is a map from name to count, in
//! name order, with the kinds that never happened left out.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use c10m_sys::errno::{self, KNOWN};

/// Kinds that are not errnos, after the errnos and `other`.
pub const EVENTS: [&str; 3] = ["EOF", "process_died", "worker_died"];
/// How many kinds are counted.
pub const KINDS: usize = KNOWN.len() + 1 + EVENTS.len();

/// A count per kind.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ErrnoCounts([u64; KINDS]);

fn name_at(i: usize) -> &'static str {
    match KNOWN.get(i) {
        Some((_, n)) => n,
        None if i == KNOWN.len() => "other",
        None => EVENTS[i - KNOWN.len() - 1],
    }
}

fn slot(kind: &str) -> usize {
    if let Some(i) = KNOWN.iter().position(|(_, n)| *n == kind) {
        return i;
    }
    match EVENTS.iter().position(|e| *e == kind) {
        Some(i) => KNOWN.len() + 1 + i,
        None => KNOWN.len(),
    }
}

impl ErrnoCounts {
    /// Adds `n` to `kind`: an errno name, `other`, or one of [`EVENTS`]; any other name counts
    /// as `other`.
    pub fn add(&mut self, kind: &str, n: u64) {
        self.0[slot(kind)] += n;
    }

    pub fn add_errno(&mut self, errno: i32) {
        self.add(errno::name(errno), 1);
    }

    pub fn get(&self, kind: &str) -> u64 {
        self.0[slot(kind)]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|n| *n == 0)
    }

    /// The kinds that happened, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let mut v: Vec<(&'static str, u64)> = (0..KINDS)
            .filter(|i| self.0[*i] > 0)
            .map(|i| (name_at(i), self.0[i]))
            .collect();
        v.sort_unstable();
        v.into_iter()
    }

    pub fn merge(&mut self, other: &ErrnoCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// `EADDRNOTAVAIL 12, EOF 1`, or `none`.
    pub fn text(&self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        self.iter()
            .map(|(k, v)| format!("{k} {}", crate::fmt::thousands(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Serialize for ErrnoCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for ErrnoCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u64>::deserialize(d)?;
        let mut c = ErrnoCounts::default();
        for (k, v) in map {
            c.add(&k, v);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_name_in_name_order_and_round_trips() {
        let mut c = ErrnoCounts::default();
        c.add_errno(errno::EMFILE);
        c.add_errno(errno::EMFILE);
        c.add("EOF", 1);
        c.add("EADDRNOTAVAIL", 3);
        c.add_errno(12345);
        assert_eq!(c.total(), 7);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"EADDRNOTAVAIL":3,"EMFILE":2,"EOF":1,"other":1}"#);
        let back: ErrnoCounts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert_eq!(c.text(), "EADDRNOTAVAIL 3, EMFILE 2, EOF 1, other 1");
        let mut sum = c;
        sum.merge(&c);
        assert_eq!(sum.get("EMFILE"), 4);
        assert_eq!(ErrnoCounts::default().text(), "none");
        assert_eq!(
            serde_json::to_string(&ErrnoCounts::default()).unwrap(),
            "{}"
        );
    }
}
