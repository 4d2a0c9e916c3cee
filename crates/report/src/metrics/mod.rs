//! `--metrics IP:PORT`: the Prometheus text format at `/metrics`, served from a thread of its own.
//!
//! # Never in the event loop's way
//! The loop does what it always does once per tick: it adds up its counters. With `--metrics`
//! it also copies them (plain `Copy` records, no allocation) into a [`Latest`] slot, under a
//! mutex held for that copy. Everything else happens on the HTTP thread ([`crate::http`]) when a
//! scrape comes: it copies the record out, builds a [`Snapshot`] and renders the text. So a
//! scrape, however slow its client, never touches the connections; the loop makes no system
//! call and no allocation for it; and the rendering's memory lives in that thread's own malloc
//! arena, never mixed into the heap the connection table grows in (which would show up as user
//! bytes per connection). The figures are as fresh as the last tick.
//!
//! # With forked workers
//! The thread lives in the process that adds the workers' records up (the supervisor), started
//! after they are forked. A worker forked later (a restart) gets a copy of the parent's memory
//! but only the forking thread; it never touches the slot or the HTTP server.

pub mod exposition;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use exposition::{Snapshot, CONTENT_TYPE};

use crate::http::{self, Answer, Handler};
use crate::page_error::{Page, StartError};

/// The loop's latest figures, copied in by the loop and out by a page's thread, with when they
/// came and how many came before.
#[derive(Debug)]
pub struct Latest<T>(Arc<Mutex<Slot<T>>>);

#[derive(Debug)]
struct Slot<T> {
    value: Option<T>,
    at: Instant,
    seq: u64,
}

impl<T> Clone for Latest<T> {
    fn clone(&self) -> Self {
        Latest(Arc::clone(&self.0))
    }
}

impl<T: Clone> Default for Latest<T> {
    fn default() -> Self {
        Latest::new()
    }
}

impl<T: Clone> Latest<T> {
    pub fn new() -> Latest<T> {
        Latest(Arc::new(Mutex::new(Slot {
            value: None,
            at: Instant::now(),
            seq: 0,
        })))
    }

    /// Copies `v` in (no allocation once the slot holds a value of the same shape).
    pub fn set(&self, v: &T) {
        if let Ok(mut slot) = self.0.lock() {
            match slot.value.as_mut() {
                Some(old) => old.clone_from(v),
                None => slot.value = Some(v.clone()),
            }
            slot.at = Instant::now();
            slot.seq += 1;
        }
    }

    pub fn get(&self) -> Option<T> {
        self.0.lock().ok().and_then(|s| s.value.clone())
    }

    /// The figures, when they came and their number, if newer than number `seen`.
    pub fn newer_than(&self, seen: u64) -> Option<(T, Instant, u64)> {
        let slot = self.0.lock().ok()?;
        if slot.seq <= seen {
            return None;
        }
        Some((slot.value.clone()?, slot.at, slot.seq))
    }
}

/// `GET /metrics`: the latest figures rendered; anything else 404.
struct Scrape<T> {
    latest: Latest<T>,
    render: fn(&T) -> Snapshot,
}

impl<T: Clone + Send + 'static> Handler for Scrape<T> {
    fn answer(&mut self, path: &str, buf: &mut Vec<u8>) -> Answer {
        if path == "/metrics" || path.starts_with("/metrics?") {
            let text = self
                .latest
                .get()
                .map_or_else(Snapshot::default, |v| (self.render)(&v))
                .render();
            buf.extend_from_slice(text.as_bytes());
            return Answer::buffered(CONTENT_TYPE);
        }
        buf.extend_from_slice(b"c10m: metrics are at /metrics\n");
        Answer {
            status: 404,
            ..Answer::buffered("text/plain; charset=utf-8")
        }
    }
}

/// The HTTP side: answers `GET /metrics` with the latest figures rendered.
pub struct MetricsServer {
    _server: http::Server,
    pub addr: SocketAddr,
}

impl MetricsServer {
    /// Serves `latest` rendered with `render` on `bound` (an empty page while it holds nothing)
    /// to at most `clients` clients at once.
    pub fn start<T: Clone + Send + 'static>(
        bound: http::Bound,
        clients: usize,
        latest: &Latest<T>,
        render: fn(&T) -> Snapshot,
    ) -> Result<MetricsServer, StartError> {
        let addr = bound.addr;
        let scrape = Scrape {
            latest: latest.clone(),
            render,
        };
        let server =
            http::serve(Some(bound), "metrics", clients, scrape).map_err(|error| StartError {
                page: Page::Metrics,
                error,
            })?;
        Ok(MetricsServer {
            _server: server,
            addr,
        })
    }
}

/// Requests of our own, each answered in full, made when the first figures come (before the
/// loop starts): the server's thread touches its stack and makes its first allocations (its
/// malloc arena, grown to a page's size) now, before the binaries take the memory baseline that
/// user bytes per connection are measured from, rather than at the first real requests.
pub(crate) fn warm_up(addr: SocketAddr, path: &str) {
    use std::io::{Read, Write};
    // Measured: a server's resident memory grows for its first ~50 scrapes (its arena
    // settling), then not at all.
    const WARM_ROUNDS: usize = 48;
    let mut to = addr;
    if to.ip().is_unspecified() {
        to.set_ip(match to {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let request = format!("GET {path} HTTP/1.0\r\n\r\n");
    for _ in 0..WARM_ROUNDS {
        let Ok(mut s) = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(1)) else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = s.write_all(request.as_bytes());
        let _ = s.read_to_end(&mut Vec::new());
    }
}
