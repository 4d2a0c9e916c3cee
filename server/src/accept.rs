//! When the listener may accept, as pure decisions the event loop asks before it calls
//! `accept()`, and after each thing that happens to it.
//!
//! # When accept fails
//! `accept()` fails with EMFILE when this process is at RLIMIT_NOFILE and ENFILE when the machine
//! is at `fs.file-max` (ENOBUFS, ENOMEM: the kernel is short of memory). The pending connection
//! stays in the listen queue and the listener stays readable, so retrying at once would spin.
//! Instead accepting pauses until a connection closes (which frees a descriptor) or
//! [`ACCEPT_BACKOFF`] passes, while existing connections keep being served, and the live line
//! names the limit. ECONNABORTED, EPERM and EPROTO are about one peer (it reset before we took
//! it, or a firewall refused it): the connection has left the queue and the next one may be fine.
//! The rule is [`errno::on_accept_error`], which the pages' HTTP server follows too.
//!
//! # Not accepting on purpose
//! With `--pause-accept` the listener stays registered but its events are ignored: the kernel
//! still completes handshakes and parks the connections in the accept queue, up to the backlog
//! (clamped to `net.core.somaxconn`); past that it drops SYNs and counts `ListenOverflows` and
//! `ListenDrops` in /proc/net/netstat. The lab uses it to make the queue overflow on demand. A
//! close does not end this pause; only its time does (never, for `--pause-accept 0`).

use std::time::{Duration, Instant};

use serde::Serialize;

use c10m_sys::errno::{self, OnAcceptError};

/// How long accepting pauses after an errno that calls for it.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why accepting is paused, when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptBlock {
    /// `--max-conns` (by default, the room RLIMIT_NOFILE leaves) is reached.
    AtCap { max_conns: u64 },
    /// accept() failed with this errno (EMFILE, ENFILE, ENOBUFS, ENOMEM): back off and retry.
    Errno(i32),
    /// `--pause-accept`: the server was asked not to accept (yet).
    Paused,
}

/// The `accept_paused` object of a tick: `{"reason": ..., ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum BlockJson {
    AtCap {
        reason: &'static str,
        max_conns: u64,
    },
    Errno {
        reason: &'static str,
        meaning: &'static str,
    },
    Paused {
        reason: &'static str,
    },
}

impl From<AcceptBlock> for BlockJson {
    fn from(b: AcceptBlock) -> BlockJson {
        match b {
            AcceptBlock::AtCap { max_conns } => BlockJson::AtCap {
                reason: "max_conns",
                max_conns,
            },
            AcceptBlock::Errno(e) => BlockJson::Errno {
                reason: errno::name(e),
                meaning: errno::meaning(e),
            },
            AcceptBlock::Paused => BlockJson::Paused {
                reason: "pause_accept",
            },
        }
    }
}

/// Whether the listener may accept now, and when that is looked at again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AcceptGate {
    blocked: Option<AcceptBlock>,
    retry_at: Option<Instant>,
}

impl AcceptGate {
    /// `--pause-accept`: `Some(ZERO)` never accepts, `Some(d)` starts accepting after `d`.
    pub(crate) fn new(pause: Option<Duration>, started: Instant) -> AcceptGate {
        match pause {
            None => AcceptGate::default(),
            Some(d) => AcceptGate {
                blocked: Some(AcceptBlock::Paused),
                retry_at: (!d.is_zero()).then(|| started + d),
            },
        }
    }

    pub(crate) fn blocked(&self) -> Option<AcceptBlock> {
        self.blocked
    }

    pub(crate) fn is_open(&self) -> bool {
        self.blocked.is_none()
    }

    /// When the loop must wake to look again, if a timer is set.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// The connection count reached the cap.
    pub(crate) fn at_cap(&mut self, max_conns: u64) {
        if self.blocked.is_none() {
            log::debug!("accepting paused at the cap of {max_conns} connections");
        }
        self.blocked = Some(AcceptBlock::AtCap { max_conns });
    }

    /// accept() failed with `code`; `Skip` leaves the gate open.
    pub(crate) fn failed(&mut self, code: i32, now: Instant) -> OnAcceptError {
        let what = errno::on_accept_error(code);
        if what == OnAcceptError::Pause {
            log::debug!(
                "accept() failed with {}: paused for {ACCEPT_BACKOFF:?} or until a connection closes",
                c10m_sys::errno::name(code)
            );
            self.blocked = Some(AcceptBlock::Errno(code));
            self.retry_at = Some(now + ACCEPT_BACKOFF);
        }
        what
    }

    /// A connection closed, freeing a descriptor: a pause for the cap or an errno ends; returns
    /// whether to accept now. `--pause-accept` does not end this way.
    pub(crate) fn closed(&mut self) -> bool {
        match self.blocked {
            Some(AcceptBlock::AtCap { .. } | AcceptBlock::Errno(_)) => {
                log::debug!("a connection closed: accepting again");
                *self = AcceptGate::default();
                true
            }
            _ => false,
        }
    }

    /// The timer passed: the pause ends; returns whether to accept now.
    pub(crate) fn timer(&mut self, now: Instant) -> bool {
        if self.retry_at.is_some_and(|t| now >= t) {
            log::debug!("the accept pause is over: accepting again");
            *self = AcceptGate::default();
            return true;
        }
        false
    }
}

/// One connection left the accept queue (accepted, or dropped by the kernel as aborted); `None`:
/// the queue's length could not be read, so the loop accepts until `WouldBlock`.
pub(crate) fn took_one(queued: &mut Option<u32>) {
    if let Some(n) = queued {
        *n = n.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_errno_pauses_until_a_close_or_the_backoff() {
        let t0 = Instant::now();
        let mut g = AcceptGate::new(None, t0);
        assert!(g.is_open());
        assert_eq!(g.failed(errno::ECONNABORTED, t0), OnAcceptError::Skip);
        assert!(g.is_open());
        assert_eq!(g.failed(errno::EMFILE, t0), OnAcceptError::Pause);
        assert_eq!(g.blocked(), Some(AcceptBlock::Errno(errno::EMFILE)));
        assert!(!g.timer(t0 + ACCEPT_BACKOFF / 2));
        assert!(g.timer(t0 + ACCEPT_BACKOFF));
        assert!(g.is_open() && g.retry_at().is_none());
        g.failed(errno::ENFILE, t0);
        assert!(g.closed());
        assert!(g.is_open() && g.retry_at().is_none());
        assert!(!g.closed(), "an open gate has nothing to resume");
    }

    #[test]
    fn the_cap_resumes_on_a_close_only() {
        let t0 = Instant::now();
        let mut g = AcceptGate::new(None, t0);
        g.at_cap(10);
        assert_eq!(g.blocked(), Some(AcceptBlock::AtCap { max_conns: 10 }));
        assert!(!g.timer(t0 + Duration::from_secs(60)));
        assert!(g.closed());
        assert!(g.is_open());
    }

    #[test]
    fn pause_accept_ends_by_time_only_and_zero_never() {
        let t0 = Instant::now();
        let mut g = AcceptGate::new(Some(Duration::from_secs(2)), t0);
        assert_eq!(g.blocked(), Some(AcceptBlock::Paused));
        assert!(!g.closed());
        assert!(!g.timer(t0 + Duration::from_secs(1)));
        assert!(g.timer(t0 + Duration::from_secs(2)));
        let mut never = AcceptGate::new(Some(Duration::ZERO), t0);
        assert_eq!(never.retry_at(), None);
        assert!(!never.timer(t0 + Duration::from_secs(3600)) && !never.closed());
        assert_eq!(never.blocked(), Some(AcceptBlock::Paused));
    }

    #[test]
    fn queue_count_and_json() {
        let mut q = Some(1);
        took_one(&mut q);
        took_one(&mut q);
        assert_eq!(q, Some(0));
        let mut unknown = None;
        took_one(&mut unknown);
        assert_eq!(unknown, None);
        let j = |b| serde_json::to_string(&BlockJson::from(b)).unwrap();
        assert_eq!(
            j(AcceptBlock::AtCap { max_conns: 5 }),
            r#"{"reason":"max_conns","max_conns":5}"#
        );
        assert_eq!(j(AcceptBlock::Paused), r#"{"reason":"pause_accept"}"#);
        assert!(
            j(AcceptBlock::Errno(errno::EMFILE)).starts_with(r#"{"reason":"EMFILE","meaning":"#)
        );
    }
}
