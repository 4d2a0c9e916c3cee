//! The TUN engine: the client speaks TCP itself, through a TUN device, and keeps no kernel
//! socket per connection.
//!
//! # Why
//! On loopback each connection costs two kernel sockets (~5 KB each): the client's half is half
//! the machine. Here the client's half is 16 bytes of user memory: the driver's 12 (how far the
//! stream was written and echoed, a time stamp) and the server's initial sequence number. The
//! server under test sees ordinary TCP from many hosts and sets the limit alone.
//!
//! # Just enough TCP (RFC 9293)
//! - Open: a SYN with an MSS option from the slot's own address and port ([`addrs`]), with an
//!   initial sequence number computed from the slot (nothing stored). The SYN-ACK's sequence
//!   number is kept; the ACK that completes the handshake goes back at once. A duplicate SYN-ACK
//!   (our ACK was lost) is answered again and never counted twice; a SYN with no answer is sent
//!   again like the kernel does ([`retry`]) until `--connect-timeout` fails it with ETIMEDOUT; a
//!   RST to a SYN is ECONNREFUSED.
//! - Data: a ping is written as segments of at most 1460 bytes, with the sequence number of its
//!   offset in the stream; every segment of the echo is acknowledged, so the server never
//!   retransmits. Bytes that arrive again, or past a gap, are dropped by the driver, which takes
//!   the stream in order.
//! - `--handshake none`: the SYN-flood pattern. SYNs go out and every SYN-ACK is counted as the
//!   server's answer but never acknowledged, so each stays a half-open request in the listener's
//!   SYN queue (or, with `tcp_syncookies`, costs the server nothing but a cookie). The server's
//!   retransmitted SYN-ACKs are ignored; the teardown resets every request.
//! - Close: a RST, so neither side keeps a TIME_WAIT; and any segment for a connection this
//!   process does not hold is answered with a RST (RFC 9293 3.10.7.1), so a server is never
//!   left with connections nobody answers for.

mod addrs;
mod device;
mod packet;
mod retry;

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use c10m_sys::errno;
use c10m_sys::tun::Tun as Device;

use self::addrs::Addrs;
use self::packet::{Segment, ACK, FIN, MAX_PACKET, MAX_PAYLOAD, PSH, RST, SYN};
use self::retry::Retries;
use super::{Backend, CloseHow, Engine, Handler, Io, OpenError, Opened};
use crate::config::{Caps, Handshake, Options, Part, Sources};
use crate::error::Error;
use crate::plan::Plan;
use crate::stats::WireCounts;

/// The receive window the client announces: it reads every echo at once.
const WINDOW: u16 = 65_535;
/// The MSS it announces (a 1500-byte MTU).
const MSS: u16 = 1460;
/// Packets read per call of [`Engine::poll`] before timers get their turn.
const READS_PER_POLL: usize = 4096;

/// The most exchanges in flight at once in one process. Every echo comes back through the
/// device's queue (txqueuelen 65,536 packets): more pings in flight than the client reads in
/// time would queue for seconds and then be dropped, so pings wait for room instead.
const PINGS_IN_FLIGHT: u64 = 16_384;

/// `--engine tun`.
pub(crate) struct Tun;

impl Backend for Tun {
    fn name(&self) -> &'static str {
        "tun"
    }

    fn caps(&self) -> Caps {
        Caps {
            about: "TCP spoken through a TUN device (no kernel socket on this side)",
            kernel_socket: false,
            sources: Sources::Own {
                first: addrs::DEFAULT_BASE,
                count: addrs::DEFAULT_COUNT,
                ports: addrs::PORTS,
                range: "198.19.0.0/16",
            },
            max_in_flight: Some(PINGS_IN_FLIGHT),
            requests: false,
            half_open: true,
            loopback_targets: false,
            ipv6: false,
            net_admin: true,
        }
    }

    fn build(&self, opts: &Options, plan: &Plan, part: Part) -> Result<Box<dyn Engine>, Error> {
        let mine = plan
            .sources_of(part)
            .iter()
            .filter_map(|s| match s {
                IpAddr::V4(v4) => Some(*v4),
                IpAddr::V6(_) => None,
            })
            .collect();
        let capacity = part.count(plan.connections) as usize;
        let engine =
            TunEngine::new(mine, &plan.targets, capacity, opts.handshake).map_err(Error::Tun)?;
        Ok(Box::new(engine))
    }
}

/// The wire side: everything a [`Handler`] may act on while the engine walks its packets.
struct Wire {
    dev: Device,
    addrs: Addrs,
    targets: Vec<SocketAddrV4>,
    /// Target index per slot, when there is more than one target.
    target_of: Vec<u8>,
    /// The server's initial sequence number per slot.
    server_isn: Vec<u32>,
    salt: u32,
    retries: Retries,
    out: Box<[u8]>,
    stats: WireCounts,
    handshake: Handshake,
}

struct TunEngine {
    wire: Wire,
    poll: Poll,
    events: Events,
    buf: Box<[u8]>,
    /// The last poll stopped at its batch with packets still queued.
    more: bool,
}

impl TunEngine {
    /// An engine for `capacity` slots from `sources` (one per 64,512 slots) to `targets`.
    fn new(
        sources: Vec<Ipv4Addr>,
        targets: &[SocketAddr],
        capacity: usize,
        handshake: Handshake,
    ) -> io::Result<TunEngine> {
        let addrs = Addrs::new(sources);
        if (capacity as u64) > addrs.capacity() {
            return Err(io::Error::other(format!(
                "{capacity} connections need {} source addresses; this process has {}",
                (capacity as u64).div_ceil(u64::from(addrs::PORTS)),
                addrs.sources().len()
            )));
        }
        let targets: Vec<SocketAddrV4> = targets
            .iter()
            .map(|t| match t {
                SocketAddr::V4(v4) => Ok(*v4),
                SocketAddr::V6(_) => Err(io::Error::other("--engine tun speaks IPv4 only")),
            })
            .collect::<io::Result<_>>()?;
        if targets.len() > 256 {
            return Err(io::Error::other("--engine tun takes at most 256 targets"));
        }
        let dev = device::create(addrs.sources())?;
        let poll = Poll::new()?;
        poll.registry().register(
            &mut SourceFd(&dev.file.as_raw_fd()),
            Token(0),
            Interest::READABLE,
        )?;
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5eed, |d| d.subsec_nanos() ^ d.as_secs() as u32);
        let mut buf = vec![0u8; 64 * 1024].into_boxed_slice();
        buf.fill(1); // touched now, so it counts in the start-up RSS, not per connection
        Ok(TunEngine {
            wire: Wire {
                dev,
                addrs,
                target_of: if targets.len() > 1 {
                    vec![0; capacity]
                } else {
                    Vec::new()
                },
                targets,
                server_isn: vec![0; capacity],
                salt,
                retries: Retries::default(),
                out: vec![0u8; MAX_PACKET].into_boxed_slice(),
                stats: WireCounts::default(),
                handshake,
            },
            poll,
            events: Events::with_capacity(16),
            buf,
            more: false,
        })
    }
}

impl Wire {
    /// The slot's initial sequence number: a hash of the slot, different each run.
    fn isn(&self, slot: u32) -> u32 {
        slot.wrapping_mul(0x9e37_79b1).rotate_left(13) ^ self.salt
    }

    fn target(&self, slot: u32) -> SocketAddrV4 {
        let i = self.target_of.get(slot as usize).copied().unwrap_or(0);
        self.targets[usize::from(i)]
    }

    /// Sends one segment from `slot` to its target.
    fn send(&mut self, slot: u32, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> io::Result<()> {
        let Some((ip, port)) = self.addrs.of(slot) else {
            return Err(io::Error::from_raw_os_error(errno::EADDRNOTAVAIL));
        };
        let t = self.target(slot);
        self.emit(&Segment {
            src: ip,
            dst: *t.ip(),
            sport: port,
            dport: t.port(),
            seq,
            ack,
            flags,
            window: WINDOW,
            mss: (flags & SYN != 0).then_some(MSS),
            payload,
        })
    }

    fn emit(&mut self, s: &Segment<'_>) -> io::Result<()> {
        let n = packet::build(&mut self.out, s);
        match self.dev.file.write(&self.out[..n]) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stats.dropped_writes += 1;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn syn(&mut self, slot: u32) -> io::Result<()> {
        let isn = self.isn(slot);
        self.send(slot, isn, 0, SYN, &[])
    }

    /// Answers a segment nobody here holds with a RST (RFC 9293 3.10.7.1).
    fn reset_stray(&mut self, s: &Segment<'_>) {
        if s.has(RST) {
            return;
        }
        self.stats.stray_resets += 1;
        let (seq, ack, flags) = if s.has(ACK) {
            (s.ack, 0, RST)
        } else {
            (0, s.seq.wrapping_add(s.seq_len()), RST | ACK)
        };
        let _ = self.emit(&Segment {
            src: s.dst,
            dst: s.src,
            sport: s.dport,
            dport: s.sport,
            seq,
            ack,
            flags,
            window: 0,
            mss: None,
            payload: &[],
        });
    }

    /// One packet from the kernel.
    fn arrived(&mut self, pkt: &[u8], h: &mut dyn Handler) {
        let Ok(s) = packet::parse(pkt) else {
            return; // not IPv4 TCP (IPv6 neighbour discovery, say)
        };
        let Some(slot) = self.addrs.slot(s.dst, s.dport) else {
            return; // not one of ours
        };
        if (slot as usize) >= self.server_isn.len() {
            return self.reset_stray(&s);
        }
        let isn = self.isn(slot);
        if h.connecting(slot) {
            return self.handshake(slot, isn, &s, h);
        }
        let Some((sent, recv)) = h.stream(slot) else {
            return self.reset_stray(&s);
        };
        let base = self.server_isn[slot as usize].wrapping_add(1);
        if s.has(RST) {
            let e = io::Error::from_raw_os_error(errno::ECONNRESET);
            return h.on_closed(self, slot, Some(e));
        }
        if s.has(SYN) {
            self.stats.duplicate_synacks += 1;
            if self.handshake == Handshake::None {
                return; // its SYN-ACK retransmitted: left unanswered on purpose
            }
            // Our ACK of its SYN-ACK was lost: the server still waits for it.
            let _ = self.send(
                slot,
                isn.wrapping_add(1).wrapping_add(sent),
                base.wrapping_add(recv),
                ACK,
                &[],
            );
            return;
        }
        if !s.payload.is_empty() {
            let at = s.seq.wrapping_sub(base);
            h.on_data(self, slot, Some(at), s.payload);
        }
        let Some((sent, recv)) = h.stream(slot) else {
            return; // the data ended it (a mismatch, or churn's close)
        };
        let fin_in_order =
            s.has(FIN) && s.seq.wrapping_add(s.payload.len() as u32) == base.wrapping_add(recv);
        if fin_in_order {
            return h.on_closed(self, slot, None);
        }
        if !s.payload.is_empty() {
            let seq = isn.wrapping_add(1).wrapping_add(sent);
            let _ = self.send(slot, seq, base.wrapping_add(recv), ACK, &[]);
        }
    }

    /// A segment for a slot whose SYN is out.
    fn handshake(&mut self, slot: u32, isn: u32, s: &Segment<'_>, h: &mut dyn Handler) {
        let ours = s.has(ACK) && s.ack == isn.wrapping_add(1);
        if s.has(RST) {
            if ours {
                let error = io::Error::from_raw_os_error(errno::ECONNREFUSED);
                h.on_connect_failed(
                    self,
                    slot,
                    OpenError {
                        step: "connect()",
                        error,
                    },
                );
            }
            return;
        }
        if !(s.has(SYN) && ours) {
            return self.reset_stray(s); // an old connection's segment, or a SYN-ACK to another ISN
        }
        self.server_isn[slot as usize] = s.seq;
        if self.handshake == Handshake::None {
            return h.on_connected(self, slot); // answered: half-open on the server's side
        }
        let ack = s.seq.wrapping_add(1);
        if self.send(slot, isn.wrapping_add(1), ack, ACK, &[]).is_ok() {
            h.on_connected(self, slot);
        }
    }

    /// SYNs due again.
    fn retransmit(&mut self, now: Instant, h: &mut dyn Handler) {
        while let Some((slot, attempt)) = self.retries.due(now, |s| h.connecting(s)) {
            self.stats.retransmitted += 1;
            if self.syn(slot).is_ok() {
                self.retries.sent(slot, attempt, now);
            }
        }
    }
}

impl Io for Wire {
    fn open(
        &mut self,
        slot: u32,
        dst: SocketAddr,
        _src: Option<IpAddr>,
    ) -> Result<Opened, OpenError> {
        let fail = |error: io::Error, step| OpenError { step, error };
        if slot as usize >= self.server_isn.len() {
            return Err(fail(
                io::Error::from_raw_os_error(errno::EADDRNOTAVAIL),
                "connect() (tun: no source port left)",
            ));
        }
        if !self.target_of.is_empty() {
            let i = self
                .targets
                .iter()
                .position(|t| SocketAddr::V4(*t) == dst)
                .unwrap_or(0);
            self.target_of[slot as usize] = i as u8;
        }
        self.syn(slot)
            .map_err(|e| fail(e, "write() to the TUN device"))?;
        self.retries.sent(slot, 0, Instant::now());
        Ok(Opened::InProgress)
    }

    fn write(&mut self, slot: u32, offset: u32, recv: u32, data: &[u8]) -> io::Result<usize> {
        let seq0 = self.isn(slot).wrapping_add(1).wrapping_add(offset);
        let ack = self.server_isn[slot as usize]
            .wrapping_add(1)
            .wrapping_add(recv);
        let mut done = 0;
        for chunk in data.chunks(MAX_PAYLOAD) {
            self.send(slot, seq0.wrapping_add(done as u32), ack, PSH | ACK, chunk)?;
            done += chunk.len();
        }
        Ok(done)
    }

    fn close(&mut self, slot: u32, _how: CloseHow, sent: u32, _recv: u32) {
        let seq = self.isn(slot).wrapping_add(1).wrapping_add(sent);
        let _ = self.send(slot, seq, 0, RST, &[]);
    }
}

impl Io for TunEngine {
    fn open(
        &mut self,
        slot: u32,
        dst: SocketAddr,
        src: Option<IpAddr>,
    ) -> Result<Opened, OpenError> {
        self.wire.open(slot, dst, src)
    }

    fn write(&mut self, slot: u32, offset: u32, recv: u32, data: &[u8]) -> io::Result<usize> {
        self.wire.write(slot, offset, recv, data)
    }

    fn close(&mut self, slot: u32, how: CloseHow, sent: u32, recv: u32) {
        self.wire.close(slot, how, sent, recv)
    }
}

impl Engine for TunEngine {
    fn poll(&mut self, timeout: Duration, h: &mut dyn Handler) -> io::Result<()> {
        let mut timeout = match self.wire.retries.next_deadline() {
            Some(t) => timeout.min(t.saturating_duration_since(Instant::now())),
            None => timeout,
        };
        if self.more {
            timeout = Duration::ZERO;
        }
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        // Edge-triggered: read until the queue is empty, or a batch, and then come back at once
        // (no new edge announces what is already queued). Reading without an event costs one
        // EAGAIN.
        self.more = true;
        for _ in 0..READS_PER_POLL {
            match self.wire.dev.file.read(&mut self.buf) {
                Ok(n) => self.wire.arrived(&self.buf[..n], h),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.more = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.wire.retransmit(Instant::now(), h);
        Ok(())
    }

    fn ramp_done(&mut self) {
        self.wire.retries.shrink();
    }

    fn wire(&self) -> WireCounts {
        self.wire.stats
    }
}
