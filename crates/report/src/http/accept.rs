//! How the pages' loop takes connections, and what it does when `accept()` fails.
//!
//! The listener is edge-triggered (mio): readiness is reported once when connections arrive, not
//! again while they wait. So the loop takes connections until `WouldBlock`; one it left in the
//! queue would wait for the next client to arrive. A failed `accept()` is decided as the
//! server's own loop decides it ([`c10m_sys::errno::on_accept_error`]): an error about a single
//! connection (it reset before it was taken, a firewall refused it) is skipped and the next one
//! taken; out of descriptors (EMFILE: this process; ENFILE: the machine) or memory, the
//! connection stays queued and retrying at once would spin, so accepting pauses for
//! [`ACCEPT_BACKOFF`] and is tried again by the loop's own clock, while the clients it has are
//! served on.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use mio::Interest;

use c10m_sys::errno::{self, OnAcceptError};

use super::wire::BUSY;
use super::{Core, Handler, Slot, Token, TIMEOUT};

/// How long accepting pauses after an `accept()` error about this process or the machine.
pub(super) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the accept loop does after `accept()` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterError {
    /// The queue is empty: wait for the next readiness.
    Drained,
    /// Interrupted, or the error was about one connection: take the next one now.
    Next,
    /// Out of descriptors or memory: pause, and retry after [`ACCEPT_BACKOFF`].
    Pause,
}

fn after_error(e: &io::Error) -> AfterError {
    match e.kind() {
        io::ErrorKind::WouldBlock => AfterError::Drained,
        io::ErrorKind::Interrupted => AfterError::Next,
        _ => match errno::on_accept_error(errno::errno_of(e)) {
            OnAcceptError::Skip => AfterError::Next,
            OnAcceptError::Pause => AfterError::Pause,
        },
    }
}

impl<H: Handler> Core<H> {
    /// Takes connections until the queue is empty, or until an error pauses accepting (the
    /// listener's readiness is ignored then: the retry comes at its time).
    pub(super) fn accept(&mut self) {
        if self.accept_retry.is_some() {
            return;
        }
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let Some(i) = self.free_slot() else {
                        // Every slot is answering: say so and let go at once.
                        let _ = stream.write(BUSY);
                        continue;
                    };
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, Token(i), interest)
                        .is_err()
                    {
                        continue;
                    }
                    let s = &mut self.slots[i];
                    s.stream = Some(stream);
                    s.head.clear();
                    s.reset_answer();
                    s.closing = false;
                    s.deadline = Instant::now() + TIMEOUT;
                    self.serve(i);
                }
                Err(e) => match after_error(&e) {
                    AfterError::Drained => return,
                    AfterError::Next => {}
                    AfterError::Pause => {
                        log::debug!(
                            "HTTP server: accept() failed: {e}; accepting again in {ACCEPT_BACKOFF:?}"
                        );
                        self.accept_retry = Some(Instant::now() + ACCEPT_BACKOFF);
                        return;
                    }
                },
            }
        }
    }

    /// A slot without a connection, or else the one whose connection has waited longest
    /// without a whole request and has nothing left to send (closed for the newcomer).
    fn free_slot(&mut self) -> Option<usize> {
        if let Some(i) = self.slots.iter().position(|s| s.stream.is_none()) {
            return Some(i);
        }
        let idle = |s: &Slot| {
            s.sent >= s.out.len() && s.page_sent >= s.page.len() && s.stream_cursor.is_none()
        };
        let (i, _) = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| idle(s))
            .min_by_key(|(_, s)| s.deadline)?;
        self.close(i);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accept_error_skips_one_connection_or_pauses_never_stops() {
        let after = |code| after_error(&io::Error::from_raw_os_error(code));
        let kind = |k: io::ErrorKind| after_error(&k.into());
        assert_eq!(kind(io::ErrorKind::WouldBlock), AfterError::Drained);
        assert_eq!(kind(io::ErrorKind::Interrupted), AfterError::Next);
        for one in [errno::ECONNABORTED, errno::EPERM, errno::EPROTO] {
            assert_eq!(after(one), AfterError::Next, "{one}");
        }
        for ours in [errno::EMFILE, errno::ENFILE, errno::ENOBUFS, errno::ENOMEM] {
            assert_eq!(after(ours), AfterError::Pause, "{ours}");
        }
    }
}
