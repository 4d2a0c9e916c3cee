//! `--metrics IP:PORT`: the latest figures as a Prometheus page, served from a thread of its own.
//!
//! The loop copies its figures (plain `Copy` counters) into a [`Latest`] slot once per tick and
//! goes on; the HTTP thread builds the page from them when a scrape comes (see
//! [`crate::metrics`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Format, Line};
use crate::http;
use crate::metrics::{warm_up, BindError, Latest, MetricsServer, Snapshot};

pub(crate) struct Prometheus<F> {
    latest: Latest<F>,
    server: MetricsServer,
    warmed: AtomicBool,
}

impl<F: Clone + Send + 'static> Prometheus<F> {
    pub(crate) fn start(
        bound: http::Bound,
        clients: usize,
        page: fn(&F) -> Snapshot,
    ) -> Result<Prometheus<F>, BindError> {
        let latest = Latest::new();
        let server = MetricsServer::start(bound, clients, &latest, page)?;
        Ok(Prometheus {
            latest,
            server,
            warmed: AtomicBool::new(false),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr
    }
}

impl<F: Clone + Send + 'static> Format<F> for Prometheus<F> {
    fn emit(&self, line: &dyn Line<Figures = F>) {
        if let Some(f) = line.figures() {
            self.latest.set(f);
            // The first figures (the first line's, before the loop starts): scrapes of a page
            // of the real size now, before the binaries take their memory baseline.
            if !self.warmed.swap(true, Ordering::Relaxed) {
                warm_up(self.server.addr, "/metrics");
            }
        }
    }
}
