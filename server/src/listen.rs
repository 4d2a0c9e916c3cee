//! The listening socket: the backlog it asks for, and the socket itself.
//!
//! `listen(2)` silently clamps its backlog to `net.core.somaxconn`, so the server asks for
//! somaxconn itself by default (the longest accept queue the kernel grants), and warns when
//! `--backlog` asks for more than the kernel will give. With SO_REUSEPORT every worker opens
//! its own socket on the same address; the kernel then keeps one accept queue per socket.

use std::net::SocketAddr;

use crate::error::Error;
use c10m_sys::socket;

/// The backlog the kernel uses when somaxconn cannot be read (its default since Linux 5.4).
const DEFAULT_SOMAXCONN: i32 = 4096;

/// A listening socket ready to serve, and what it was made with.
#[derive(Debug)]
pub(crate) struct Listener {
    pub socket: std::net::TcpListener,
    pub addr: SocketAddr,
    pub backlog: i32,
    pub somaxconn: Option<u64>,
}

/// What to ask `listen()` for: `--backlog`, or somaxconn; and whether the kernel clamps it.
pub(crate) fn backlog_for(asked: Option<i32>, somaxconn: Option<u64>) -> (i32, Option<u64>) {
    match (asked, somaxconn) {
        (Some(b), Some(max)) if b as u64 > max => (b, Some(max)),
        (Some(b), _) => (b, None),
        (None, Some(max)) => (max.min(i32::MAX as u64) as i32, None),
        (None, None) => (DEFAULT_SOMAXCONN, None),
    }
}

/// Opens a listener on `addr` (SO_REUSEPORT when `reuseport`); `warn`: say when the kernel
/// clamps the backlog (once per server, not once per worker).
pub(crate) fn open(
    addr: SocketAddr,
    asked: Option<i32>,
    somaxconn: Option<u64>,
    reuseport: bool,
    warn_clamp: bool,
) -> Result<Listener, Error> {
    let (backlog, clamped_to) = backlog_for(asked, somaxconn);
    if let (Some(max), true) = (clamped_to, warn_clamp) {
        log::warn!(
            "the kernel clamps --backlog {backlog} to net.core.somaxconn = {max}; raise it with sysctl -w net.core.somaxconn={backlog}"
        );
    }
    let socket = socket::listen_tcp(addr, socket::ListenOpts { backlog, reuseport })
        .map_err(|e| Error::Listen(addr, e))?;
    let addr = socket.local_addr().map_err(Error::LocalAddr)?;
    log::debug!(
        "listening on {addr}: backlog {backlog} (net.core.somaxconn {somaxconn:?}), SO_REUSEPORT {reuseport}"
    );
    Ok(Listener {
        socket,
        addr,
        backlog,
        somaxconn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn somaxconn_by_default_and_a_clamp_is_named() {
        assert_eq!(backlog_for(None, Some(4096)), (4096, None));
        assert_eq!(backlog_for(None, None), (4096, None));
        assert_eq!(backlog_for(Some(16), Some(4096)), (16, None));
        assert_eq!(backlog_for(Some(65535), Some(4096)), (65535, Some(4096)));
        assert_eq!(backlog_for(None, Some(u64::MAX)), (i32::MAX, None));
    }
}
