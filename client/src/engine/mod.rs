//! Engines: how a connection is opened, written, read and closed.
//!
//! Everything else the client does (the plan, pacing, connect timeouts, the failure table,
//! payloads and their checking, the stats, the output) is shared and lives in
//! [`crate::driver`] and the modes; an engine only moves bytes. It owns its own per-connection
//! resources (a socket per slot for [`socket`]) and reports what happened through a
//! [`Handler`], which the driver implements. A new engine is one module here plus a variant of
//! [`Kind`].
//!
//! Offsets: the driver tells [`Io::write`] where in the connection's stream the bytes start and
//! how much of the echo it has taken, and an engine that knows stream offsets of its own (one
//! that speaks TCP itself, [`tun`]) passes the offset of arriving bytes to [`Handler::on_data`].
//! The socket engine ignores the first and passes `None`: the kernel keeps the sequence numbers.

pub mod socket;
pub mod tun;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The engines there are (`--engine`).
#[derive(
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A kernel socket per connection (connect(2), epoll through mio).
    #[default]
    Socket,
    /// TCP spoken by the client itself through a TUN device: no kernel socket on the client's
    /// side, 16 bytes per connection.
    Tun,
}

/// How a connect ended at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The handshake is under way: [`Handler::on_connected`] or
    /// [`Handler::on_connect_failed`] follows.
    InProgress,
    /// Connected already (possible on loopback).
    Established,
}

/// A connect that failed before any packet: the errno and the call that returned it (the errno
/// alone does not always say: EADDRINUSE comes from bind(), EADDRNOTAVAIL from connect()).
#[derive(Debug)]
pub struct OpenError {
    pub step: &'static str,
    pub error: io::Error,
}

/// How to end a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseHow {
    /// close(): a FIN; whoever closes first holds the TIME_WAIT.
    Fin,
    /// A reset (SO_LINGER 0 for a socket): no TIME_WAIT anywhere.
    Rst,
}

/// What the driver may do to connections, from inside an engine's [`Engine::poll`] too.
pub trait Io {
    /// Starts connection `slot` to `dst`, from `src` if given.
    fn open(
        &mut self,
        slot: u32,
        dst: SocketAddr,
        src: Option<IpAddr>,
    ) -> Result<Opened, OpenError>;

    /// Writes what the connection takes now of `data`, which starts at stream offset `offset`
    /// (`recv` bytes of the echo have been taken); `Ok(n < data.len())` means it would block,
    /// and [`Handler::on_writable`] comes when it can take more.
    fn write(&mut self, slot: u32, offset: u32, recv: u32, data: &[u8]) -> io::Result<usize>;

    /// Ends connection `slot` (`sent` and `recv` as in [`Io::write`]); its slot may be reused.
    fn close(&mut self, slot: u32, how: CloseHow, sent: u32, recv: u32);
}

/// What an engine reports.
pub trait Handler {
    /// Whether `slot` is waiting for its handshake.
    fn connecting(&self, slot: u32) -> bool;
    /// For an engine that keeps the sequence numbers itself: how far the stream of an open
    /// `slot` was written and echoed (`sent`, `recv`); `None` when the slot holds no open
    /// connection.
    fn stream(&self, slot: u32) -> Option<(u32, u32)>;
    /// The handshake of `slot` completed.
    fn on_connected(&mut self, io: &mut dyn Io, slot: u32);
    fn on_connect_failed(&mut self, io: &mut dyn Io, slot: u32, e: OpenError);
    /// Bytes arrived on `slot` (at stream offset `at`, when the engine knows it).
    fn on_data(&mut self, io: &mut dyn Io, slot: u32, at: Option<u32>, data: &[u8]);
    /// `slot` can take more of a write that would have blocked.
    fn on_writable(&mut self, io: &mut dyn Io, slot: u32);
    /// The peer ended `slot`: `None` for an orderly close (EOF), else the error.
    fn on_closed(&mut self, io: &mut dyn Io, slot: u32, e: Option<io::Error>);
}

/// An engine: [`Io`], plus a way to wait for what happens.
pub trait Engine: Io {
    /// Waits up to `timeout` for events and reports them all to `h`.
    fn poll(&mut self, timeout: Duration, h: &mut dyn Handler) -> io::Result<()>;

    /// Every connect of the ramp has ended: memory kept for handshakes in flight may go.
    fn ramp_done(&mut self) {}
}

/// Either engine, chosen at run time: the modes take one type.
pub enum AnyEngine {
    Socket(socket::SocketEngine),
    /// Boxed: one per process, and the socket engine stays small.
    Tun(Box<tun::TunEngine>),
}

impl Io for AnyEngine {
    fn open(
        &mut self,
        slot: u32,
        dst: SocketAddr,
        src: Option<IpAddr>,
    ) -> Result<Opened, OpenError> {
        match self {
            AnyEngine::Socket(e) => e.open(slot, dst, src),
            AnyEngine::Tun(e) => e.open(slot, dst, src),
        }
    }

    fn write(&mut self, slot: u32, offset: u32, recv: u32, data: &[u8]) -> io::Result<usize> {
        match self {
            AnyEngine::Socket(e) => e.write(slot, offset, recv, data),
            AnyEngine::Tun(e) => e.write(slot, offset, recv, data),
        }
    }

    fn close(&mut self, slot: u32, how: CloseHow, sent: u32, recv: u32) {
        match self {
            AnyEngine::Socket(e) => e.close(slot, how, sent, recv),
            AnyEngine::Tun(e) => e.close(slot, how, sent, recv),
        }
    }
}

impl Engine for AnyEngine {
    fn poll(&mut self, timeout: Duration, h: &mut dyn Handler) -> io::Result<()> {
        match self {
            AnyEngine::Socket(e) => e.poll(timeout, h),
            AnyEngine::Tun(e) => e.poll(timeout, h),
        }
    }

    fn ramp_done(&mut self) {
        match self {
            AnyEngine::Socket(e) => e.ramp_done(),
            AnyEngine::Tun(e) => e.ramp_done(),
        }
    }
}
