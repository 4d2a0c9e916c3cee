//! `--metrics IP:PORT`: the Prometheus text format at `/metrics`, served from a thread of its own.
//!
//! # Never in the event loop's way
//! The loop does what it always does once per tick: it adds up its counters. With `--metrics`
//! it also copies them (plain `Copy` records, no allocation) into a [`Latest`] slot, under a
//! mutex held for that copy. Everything else happens on the HTTP thread (`tiny_http`) when a
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
use std::thread::JoinHandle;

pub use exposition::{Snapshot, CONTENT_TYPE};

/// The loop's latest figures, copied in by the loop and out by the HTTP thread.
#[derive(Debug)]
pub struct Latest<T>(Arc<Mutex<Option<T>>>);

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
        Latest(Arc::new(Mutex::new(None)))
    }

    pub fn set(&self, v: &T) {
        if let Ok(mut slot) = self.0.lock() {
            match slot.as_mut() {
                Some(old) => old.clone_from(v),
                None => *slot = Some(v.clone()),
            }
        }
    }

    pub fn get(&self) -> Option<T> {
        self.0.lock().ok().and_then(|s| s.clone())
    }
}

/// Why `--metrics` could not start.
#[derive(Debug)]
pub struct BindError {
    pub addr: SocketAddr,
    pub reason: String,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--metrics {}: cannot listen: {}; pick a free IP:PORT of this machine (or port 0)",
            self.addr, self.reason
        )
    }
}

impl std::error::Error for BindError {}

/// The HTTP side: answers `GET /metrics` with the latest figures rendered, anything else with
/// 404.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl MetricsServer {
    /// Listens on `addr` and starts the thread, which renders `latest` with `render` on each
    /// scrape (an empty page while it holds nothing).
    pub fn start<T: Clone + Send + 'static>(
        addr: SocketAddr,
        latest: &Latest<T>,
        render: fn(&T) -> Snapshot,
    ) -> Result<MetricsServer, BindError> {
        let server = tiny_http::Server::http(addr).map_err(|e| BindError {
            addr,
            reason: e.to_string(),
        })?;
        let bound = server.server_addr().to_ip().unwrap_or(addr);
        let server = Arc::new(server);
        let (s, l) = (Arc::clone(&server), latest.clone());
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(&s, &l, render))
            .map_err(|e| BindError {
                addr,
                reason: e.to_string(),
            })?;
        warm_up(bound);
        Ok(MetricsServer {
            server,
            thread: Some(thread),
            addr: bound,
        })
    }
}

/// Scrapes of our own before the caller goes on, rounds of one per thread of tiny_http's pool
/// at once, each rendering a whole page: the HTTP threads touch their stacks and make their first
/// allocations (each thread's malloc arena, grown to a page's size) now, before the binaries take the memory baseline that user bytes per connection are
/// measured from, rather than at the first real scrapes.
fn warm_up(addr: SocketAddr) {
    use std::io::{Read, Write};
    use std::time::Duration;
    const POOL_THREADS: usize = 4;
    // Measured: a server's resident memory grows for its first ~50 scrapes (each thread's
    // arena settling), then not at all.
    const WARM_ROUNDS: usize = 24;
    let mut to = addr;
    if to.ip().is_unspecified() {
        to.set_ip(match to {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    for _ in 0..WARM_ROUNDS {
        let mut open: Vec<std::net::TcpStream> = (0..POOL_THREADS)
            .filter_map(|_| std::net::TcpStream::connect_timeout(&to, Duration::from_secs(1)).ok())
            .collect();
        if open.is_empty() {
            return;
        }
        for s in &mut open {
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
        }
        for s in &mut open {
            let _ = s.read_to_end(&mut Vec::new());
        }
    }
}

fn serve<T: Clone>(server: &tiny_http::Server, latest: &Latest<T>, render: fn(&T) -> Snapshot) {
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], CONTENT_TYPE.as_bytes())
        .expect("a valid header");
    for rq in server.incoming_requests() {
        let found = rq.url() == "/metrics" || rq.url().starts_with("/metrics?");
        // A client that hangs up mid-answer is its own business.
        let _ = if found && *rq.method() == tiny_http::Method::Get {
            let text = latest
                .get()
                .map_or_else(Snapshot::default, |v| render(&v))
                .render();
            rq.respond(tiny_http::Response::from_string(text).with_header(header.clone()))
        } else {
            rq.respond(
                tiny_http::Response::from_string("c10m: metrics are at /metrics\n")
                    .with_status_code(404),
            )
        };
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
