//! Engines: how a connection is opened, written, read and closed.
//!
//! Everything else the client does (the plan, pacing, connect timeouts, the failure table,
//! payloads and their checking, the stats, the output) is shared and lives in
//! [`crate::driver`] and the modes; an engine only moves bytes. It owns its own per-connection
//! resources (a socket per slot for [`socket`]) and reports what happened through a
//! [`Handler`], which the driver implements.
//!
//! # What an engine can do
//! Each engine says what it can do in a [`Caps`]: a kernel socket per connection or not (so
//! whether the port range and the descriptor limits bind), where its source addresses come from,
//! how many exchanges it keeps in flight, which modes and handshakes it runs, whether it speaks
//! IPv6 or reaches loopback targets, the privilege it needs. The plan, the modes, `--check` and
//! the output ask those, never the engine's name.
//!
//! # Adding an engine
//! 1. A module here with a type that implements [`Engine`] (and so [`Io`]), and a unit struct
//!    that implements [`Backend`]: its name for `--engine`, its [`Caps`], and `build`, which
//!    makes the engine for one process of a plan.
//! 2. One line in [`registry::ENGINES`].
//!
//! `--engine` then takes its name, `--list-engines` shows it, and the integration test that runs
//! every registered engine over the same small plan runs it too.
//!
//! Offsets: the driver tells [`Io::write`] where in the connection's stream the bytes start and
//! how much of the echo it has taken, and an engine that knows stream offsets of its own (one
//! that speaks TCP itself, [`tun`]) passes the offset of arriving bytes to [`Handler::on_data`].
//! The socket engine ignores the first and passes `None`: the kernel keeps the sequence numbers.

pub(crate) mod registry;
pub(crate) mod socket;
pub(crate) mod tun;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::{Caps, Options, Part};
use crate::error::Error;
use crate::plan::Plan;
use crate::stats::WireCounts;

/// How a connect ended at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// The handshake is under way: [`Handler::on_connected`] or
    /// [`Handler::on_connect_failed`] follows.
    InProgress,
    /// Connected already (possible on loopback).
    Established,
}

/// A connect that failed before any packet: the errno and the call that returned it (the errno
/// alone does not always say: EADDRINUSE comes from bind(), EADDRNOTAVAIL from connect()).
#[derive(Debug)]
pub(crate) struct OpenError {
    pub step: &'static str,
    pub error: io::Error,
}

/// How to end a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseHow {
    /// close(): a FIN; whoever closes first holds the TIME_WAIT.
    Fin,
    /// A reset (SO_LINGER 0 for a socket): no TIME_WAIT anywhere.
    Rst,
}

/// What the driver may do to connections, from inside an engine's [`Engine::poll`] too.
pub(crate) trait Io {
    /// Starts connection `slot` to `dst`, from `src` if given. `stamp` tells this connect from
    /// the slot's earlier and later ones (what [`Handler::connect_stamp`] says while it runs).
    fn open(
        &mut self,
        slot: u32,
        stamp: u32,
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
pub(crate) trait Handler {
    /// Whether `slot` is waiting for its handshake.
    fn connecting(&self, slot: u32) -> bool;
    /// The stamp [`Io::open`] was given for the connect `slot` is waiting for, if it is waiting:
    /// an engine's timer for an earlier connect of a reused slot is stale.
    fn connect_stamp(&self, slot: u32) -> Option<u32>;
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
    /// The bytes of `slot`'s stream from offset `at`, made again, for an engine that sends
    /// data again without keeping a copy of it.
    fn stream_bytes(&self, slot: u32, at: u32, out: &mut [u8]);
}

/// An engine: [`Io`], plus a way to wait for what happens.
pub(crate) trait Engine: Io {
    /// Waits up to `timeout` for events and reports them all to `h`.
    fn poll(&mut self, timeout: Duration, h: &mut dyn Handler) -> io::Result<()>;

    /// Every connect of the ramp has ended: memory kept for handshakes in flight may go.
    fn ramp_done(&mut self) {}

    /// Every connection was closed (the teardown): stay, for a bounded time the engine's doc
    /// names, while what was closed still needs answering on the wire. `h` holds no connection
    /// any more.
    fn linger(&mut self, _h: &mut dyn Handler) -> io::Result<()> {
        Ok(())
    }

    /// What happened on the wire, for an engine that speaks TCP itself (zeros for one whose
    /// kernel does: its counters are the machine's, in /proc/net/snmp).
    fn wire(&self) -> WireCounts {
        WireCounts::default()
    }
}

/// An engine as `--engine` names it: what it can do, and how to make one.
pub(crate) trait Backend: Sync {
    /// Its name for `--engine`.
    fn name(&self) -> &'static str;

    fn caps(&self) -> Caps;

    /// The engine of process `part` of `plan`.
    fn build(&self, opts: &Options, plan: &Plan, part: Part) -> Result<Box<dyn Engine>, Error>;
}
