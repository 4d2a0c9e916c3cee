//! The socket engine: one kernel socket per connection, nonblocking, through one mio `Poll`.
//!
//! # A connect is an event
//! `connect()` on a nonblocking socket returns EINPROGRESS at once; the kernel sends the SYN and
//! the socket becomes *writable* when the handshake completes, or reports the failure in
//! `SO_ERROR` (ECONNREFUSED, ETIMEDOUT, ...). Each socket is registered for reading and writing
//! once, edge-triggered, so the one writable edge announces the handshake's end and later edges
//! only come when a write had to wait: no `epoll_ctl(MOD)` per connection.
//!
//! # Draining readiness
//! Reads drain until `WouldBlock` (edge-triggered: no second event comes for data already
//! there). Tokens are slots, and slots are reused, so an event for a slot whose socket is gone is
//! ignored, and one for a reused slot is harmless (a read finds nothing).
//!
//! # Binding a source
//! With a source address the socket is bound first with `IP_BIND_ADDRESS_NO_PORT` (unless
//! `--plain-bind`), so the port is chosen at connect() time and only has to be unique per
//! 4-tuple ([`c10m_sys::socket::connect_nonblocking`]).

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};

use c10m_sys::socket as sys;

use super::{Backend, CloseHow, Engine, Handler, Io, OpenError, Opened};
use crate::config::{Caps, Mode, Options, Part, Sources};
use crate::error::Error;
use crate::plan::Plan;

const BUF: usize = 64 * 1024;

/// `--engine socket`, the default.
pub(crate) struct Socket;

impl Backend for Socket {
    fn name(&self) -> &'static str {
        "socket"
    }

    fn caps(&self) -> Caps {
        Caps {
            about: "a kernel socket per connection",
            kernel_socket: true,
            sources: Sources::Kernel,
            max_in_flight: None,
            requests: true,
            half_open: false,
            loopback_targets: true,
            ipv6: true,
            net_admin: false,
        }
    }

    fn build(&self, opts: &Options, plan: &Plan, part: Part) -> Result<Box<dyn Engine>, Error> {
        let socket_opts = SocketOpts {
            bind_no_port: !opts.plain_bind,
            nodelay: opts.mode != Mode::Hold || opts.pings.is_some(),
        };
        let capacity = part
            .count(plan.connections)
            .min(plan.fd_room.max(1))
            .min(1 << 24) as usize;
        let engine = SocketEngine::new(socket_opts, capacity).map_err(Error::Poll)?;
        Ok(Box::new(engine))
    }
}

/// How the engine opens its sockets.
#[derive(Debug, Clone, Copy)]
struct SocketOpts {
    /// IP_BIND_ADDRESS_NO_PORT when binding a source (not `--plain-bind`).
    bind_no_port: bool,
    /// TCP_NODELAY on every connected socket, so a small ping or request leaves at once.
    nodelay: bool,
}

struct SocketEngine {
    poll: Poll,
    events: Events,
    by_slot: Vec<Option<TcpStream>>,
    opts: SocketOpts,
    buf: Box<[u8]>,
}

/// The sockets by slot, and what opening one needs: the part of the engine a [`Handler`] may
/// act on while the engine walks its events.
struct Streams<'a> {
    by_slot: &'a mut Vec<Option<TcpStream>>,
    registry: &'a Registry,
    opts: SocketOpts,
}

impl SocketEngine {
    /// An engine with room for `capacity` sockets before its table grows.
    fn new(opts: SocketOpts, capacity: usize) -> io::Result<SocketEngine> {
        let poll = Poll::new()?;
        let mut buf = vec![0u8; BUF].into_boxed_slice();
        buf.fill(1); // touched now, so it counts in the start-up RSS, not per connection
        Ok(SocketEngine {
            poll,
            events: Events::with_capacity(1024),
            by_slot: Vec::with_capacity(capacity),
            opts,
            buf,
        })
    }

    fn streams(&mut self) -> Streams<'_> {
        Streams {
            by_slot: &mut self.by_slot,
            registry: self.poll.registry(),
            opts: self.opts,
        }
    }
}

impl Streams<'_> {
    fn get(&mut self, slot: u32) -> Option<&mut TcpStream> {
        self.by_slot.get_mut(slot as usize).and_then(Option::as_mut)
    }

    fn connected(&mut self, slot: u32) {
        if self.opts.nodelay {
            if let Some(s) = self.get(slot) {
                let _ = sys::set_nodelay(s.as_fd());
            }
        }
    }

    /// One event for `slot`: the handshake's outcome, or data to drain and room to write.
    fn ready(&mut self, slot: u32, writable: bool, buf: &mut [u8], h: &mut dyn Handler) {
        let Some(stream) = self.get(slot) else {
            return; // stale
        };
        if h.connecting(slot) {
            match stream.take_error() {
                Ok(None) if writable => {
                    self.connected(slot);
                    h.on_connected(self, slot);
                }
                Ok(None) => {} // not finished yet
                Ok(Some(error)) | Err(error) => h.on_connect_failed(
                    self,
                    slot,
                    OpenError {
                        step: "connect()",
                        error,
                    },
                ),
            }
            return;
        }
        loop {
            let Some(stream) = self.get(slot) else {
                return; // the handler closed it
            };
            match stream.read(buf) {
                Ok(0) => return h.on_closed(self, slot, None),
                Ok(n) => h.on_data(self, slot, None, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return h.on_closed(self, slot, Some(e)),
            }
        }
        if writable && self.get(slot).is_some() {
            h.on_writable(self, slot);
        }
    }
}

impl Io for Streams<'_> {
    fn open(
        &mut self,
        slot: u32,
        _stamp: u32,
        dst: SocketAddr,
        src: Option<IpAddr>,
    ) -> Result<Opened, OpenError> {
        let c =
            sys::connect_nonblocking(dst, src, self.opts.bind_no_port).map_err(|e| OpenError {
                step: match e.step {
                    sys::ConnectStep::Socket => "socket()",
                    sys::ConnectStep::Bind => "bind()",
                    sys::ConnectStep::Connect => "connect()",
                },
                error: e.error,
            })?;
        let mut stream = TcpStream::from_std(c.stream);
        self.registry
            .register(
                &mut stream,
                Token(slot as usize),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|error| OpenError {
                step: "epoll_ctl()",
                error,
            })?;
        let i = slot as usize;
        if self.by_slot.len() <= i {
            self.by_slot.resize_with(i + 1, || None);
        }
        self.by_slot[i] = Some(stream);
        if c.in_progress {
            Ok(Opened::InProgress)
        } else {
            self.connected(slot);
            Ok(Opened::Established)
        }
    }

    fn write(&mut self, slot: u32, _offset: u32, _recv: u32, data: &[u8]) -> io::Result<usize> {
        let Some(stream) = self.get(slot) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        sys::write_some(stream, data)
    }

    fn close(&mut self, slot: u32, how: CloseHow, _sent: u32, _recv: u32) {
        let Some(stream) = self.by_slot.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        if how == CloseHow::Rst {
            let _ = sys::set_linger_zero(stream.as_fd());
        }
        drop(stream); // close(2) also removes it from the epoll set
    }
}

impl Io for SocketEngine {
    fn open(
        &mut self,
        slot: u32,
        stamp: u32,
        dst: SocketAddr,
        src: Option<IpAddr>,
    ) -> Result<Opened, OpenError> {
        self.streams().open(slot, stamp, dst, src)
    }

    fn write(&mut self, slot: u32, offset: u32, recv: u32, data: &[u8]) -> io::Result<usize> {
        self.streams().write(slot, offset, recv, data)
    }

    fn close(&mut self, slot: u32, how: CloseHow, sent: u32, recv: u32) {
        self.streams().close(slot, how, sent, recv)
    }
}

impl Engine for SocketEngine {
    fn poll(&mut self, timeout: Duration, h: &mut dyn Handler) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut streams = Streams {
            by_slot: &mut self.by_slot,
            registry: self.poll.registry(),
            opts: self.opts,
        };
        for event in self.events.iter() {
            let slot = event.token().0 as u32;
            streams.ready(slot, event.is_writable(), &mut self.buf, h);
        }
        Ok(())
    }
}
