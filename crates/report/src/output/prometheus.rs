//! `--metrics IP:PORT`: the latest figures as a Prometheus page, served from a thread of its own.
//!
//! The loop copies its figures (plain `Copy` counters) into a [`Latest`] slot once per tick and
//! goes on; the HTTP thread builds the page from them when a scrape comes (see
//! [`crate::metrics`]).

use std::net::SocketAddr;

use super::{Format, Line};
use crate::metrics::{BindError, Latest, MetricsServer, Snapshot};

pub(crate) struct Prometheus<F> {
    latest: Latest<F>,
    server: MetricsServer,
}

impl<F: Clone + Send + 'static> Prometheus<F> {
    /// Serves `page` of the latest figures at `addr`, of `initial` until the first tick (the
    /// server's warm-up scrapes render it, so the page's memory is taken before the run's).
    pub(crate) fn start(
        addr: SocketAddr,
        page: fn(&F) -> Snapshot,
        initial: &F,
    ) -> Result<Prometheus<F>, BindError> {
        let latest = Latest::new();
        latest.set(initial);
        let server = MetricsServer::start(addr, &latest, page)?;
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
