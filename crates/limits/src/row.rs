//! One limit of the table ([`Row`]), what its numbers count ([`Unit`]), and which binding row
//! comes first ([`first_binding`]).

use serde::Serialize;

use c10m_report::fmt::thousands;

/// What a row's `allows` and `needs` count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Connections,
    /// Handshakes waiting in a listen queue at once.
    Queued,
    /// Short connections per second.
    PerSecond,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Connections => "connections",
            Unit::Queued => "queued",
            Unit::PerSecond => "per_second",
        }
    }

    pub(crate) fn text(self, n: u64) -> String {
        match self {
            Unit::Connections => thousands(n),
            Unit::Queued => format!("{} queued", thousands(n)),
            Unit::PerSecond => format!("{}/s", thousands(n)),
        }
    }
}

/// One limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Stable id for scripts: `fds_per_process`, `file_max`, ...
    pub key: &'static str,
    pub name: &'static str,
    /// The setting as read, with the numbers it is made of.
    pub value: String,
    /// How much it allows, in `unit`; `None`: it does not bound connections (or is unknown).
    pub allows: Option<u64>,
    pub unit: Unit,
    /// What is asked, in `unit`; `None`: nothing asked of this row.
    pub needs: Option<u64>,
    pub binds: bool,
    /// What the number means here.
    pub note: String,
    /// The command or flag that moves it.
    pub fix: String,
}

impl Row {
    pub(crate) fn new(key: &'static str, name: &'static str, unit: Unit) -> Row {
        Row {
            key,
            name,
            value: String::new(),
            allows: None,
            unit,
            needs: None,
            binds: false,
            note: String::new(),
            fix: String::new(),
        }
    }

    /// Sets `allows` and `needs`; binds when it allows less than it needs.
    pub(crate) fn limit(mut self, allows: Option<u64>, needs: Option<u64>) -> Row {
        self.allows = allows;
        self.needs = needs;
        self.binds = matches!((allows, needs), (Some(a), Some(n)) if a < n);
        self
    }

    pub(crate) fn allows_text(&self) -> String {
        self.allows
            .map_or_else(|| "-".to_string(), |a| self.unit.text(a))
    }

    pub(crate) fn needs_text(&self) -> String {
        self.needs
            .map_or_else(|| "-".to_string(), |n| self.unit.text(n))
    }
}

/// The binding row that covers the smallest share of its ask (`allows / needs`); on a tie, the
/// first in table order. `None` when nothing binds.
pub fn first_binding(rows: &[Row]) -> Option<&Row> {
    rows.iter().filter(|r| r.binds).min_by(|a, b| {
        let share = |r: &Row| {
            (
                u128::from(r.allows.unwrap_or(0)),
                u128::from(r.needs.unwrap_or(1).max(1)),
            )
        };
        let ((aa, an), (ba, bn)) = (share(a), share(b));
        (aa * bn).cmp(&(ba * an))
    })
}

pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}
