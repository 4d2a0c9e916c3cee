//! `--metrics IP:PORT`: the latest figures as a Prometheus page, served from a thread of its own.
//!
//! The loop copies its figures (plain `Copy` counters) into a [`Latest`] slot once per tick and
//! goes on; the HTTP thread builds the page from them when a scrape comes (see
//! [`crate::metrics`]).

use std::net::SocketAddr;

use super::{Format, Line};
use crate::http;
use crate::metrics::{warm_up, Latest, MetricsServer, Snapshot};
use crate::page_error::StartError;

pub(crate) struct Prometheus<F> {
    latest: Latest<F>,
    server: MetricsServer,
}

impl<F: Clone + Send + 'static> Prometheus<F> {
    /// Serves `page` of the latest figures, of `initial` until the first tick: scrapes of our
    /// own render it now, so the page's memory is taken before the binaries' baseline.
    pub(crate) fn start(
        bound: http::Bound,
        clients: usize,
        page: fn(&F) -> Snapshot,
        initial: &F,
    ) -> Result<Prometheus<F>, StartError> {
        let latest = Latest::new();
        latest.set(initial);
        let server = MetricsServer::start(bound, clients, &latest, page)?;
        warm_up(server.addr, "/metrics");
        Ok(Prometheus { latest, server })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr
    }
}

impl<F: Clone + Send + 'static> Format<F> for Prometheus<F> {
    fn emit(&self, line: &dyn Line<Figures = F>) {
        if let Some(f) = line.figures() {
            self.latest.set(f);
        }
    }
}
