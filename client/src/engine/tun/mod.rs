//! The TUN engine: the client speaks TCP itself, through a TUN device, and keeps no kernel
//! socket per connection.
//!
//! # Why
//! On loopback each connection costs two kernel sockets (~5 KB each): the client's half is half
//! the machine. Here the client's half is 16 bytes of user memory: the driver's 12 (how far the
//! stream was written and echoed, a time stamp) and the server's initial sequence number. The
//! server under test sees ordinary TCP from many hosts and sets the limit alone.
//!
//! # Just enough TCP (RFC 9293), by the kernel's rules where the wire can lose things
//! - Open: a SYN with an MSS option from the slot's own address and port ([`addrs`]), IPv4 or
//!   IPv6 ([`packet`]), with an initial sequence number computed from the slot (nothing stored).
//!   The SYN-ACK's sequence number is kept; the ACK that completes the handshake goes back at
//!   once. A duplicate SYN-ACK (our ACK was lost) is answered again and never counted twice; a
//!   SYN with no answer is sent again like the kernel does ([`retry`]) until `--connect-timeout`
//!   fails it with ETIMEDOUT; a RST to a SYN is ECONNREFUSED.
//! - Data out: a ping is written as segments of at most one MSS (1460 bytes, 1440 over IPv6),
//!   never past the window the server advertised; what the server does not acknowledge in time
//!   is sent again, made again from the stream's offset, on a timeout computed from the measured
//!   round trip and doubled each time, until the 16th timeout in a row fails the connection
//!   with ETIMEDOUT; a window shut to zero is probed ([`flight`], which says what a connection
//!   in flight costs: idle ones cost nothing there).
//! - Data in: every segment of the echo is acknowledged at once with what has arrived in order,
//!   so a duplicate or a segment past a gap gets the same ACK again: the duplicate ACKs the
//!   server's fast retransmit waits for. The driver takes the stream in order; what came past a
//!   gap is checked and kept as offsets until the gap fills ([`ahead`]).
//! - `--handshake none`: the SYN-flood pattern. SYNs go out and every SYN-ACK is counted as the
//!   server's answer but never acknowledged, so each stays a half-open request in the listener's
//!   SYN queue (or, with `tcp_syncookies`, costs the server nothing but a cookie). The server's
//!   retransmitted SYN-ACKs are ignored; the teardown resets every request.
//! - Close: a RST, so neither side keeps a TIME_WAIT; and any segment for a connection this
//!   process does not hold is answered with a RST (RFC 9293 3.10.7.1), so a server is never
//!   left with connections nobody answers for. After a run that saw anything lost or doubled
//!   on the wire, the engine stays after the teardown until every server confirmed its resets,
//!   for at most [`LINGER`] in all ([`linger`]), answering what the servers still send.

mod addrs;
mod ahead;
mod device;
mod flight;
mod linger;
mod packet;
mod retry;
mod wheel;
mod wire;

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use self::flight::Flights;
use self::linger::Closing;
use self::packet::MAX_PACKET;
use self::retry::Retries;
use self::wire::{PerSlot, Wire};
use super::{Backend, CloseHow, Engine, Handler, Io, OpenError, Opened};
use crate::config::{Caps, Handshake, Options, OwnRange, Part, Sources};
use crate::error::Error;
use crate::plan::Plan;
use crate::stats::WireCounts;

/// Packets read per call of [`Engine::poll`] before timers get their turn.
const READS_PER_POLL: usize = 4096;

/// The most exchanges in flight at once in one process. Every echo comes back through the
/// device's queue (txqueuelen 65,536 packets): more pings in flight than the client reads in
/// time would queue for seconds and then be dropped, so pings wait for room instead.
const PINGS_IN_FLIGHT: u64 = 16_384;

/// The wait between two rounds of the teardown's probes: more than 500 ms, because a Linux
/// server answers a connection's out-of-window segments at most once per
/// `tcp_invalid_ratelimit` (500 ms).
const LINGER_ROUND: Duration = Duration::from_millis(600);
/// The longest the engine stays after the teardown (the rounds' waits, plus the time to send
/// the probes).
pub(crate) const LINGER: Duration = Duration::from_secs(10);
/// Probes sent between two reads of the device, so that the answers never overflow its queue.
const PROBES_PER_READ: u32 = 8192;

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
                ports: addrs::PORTS,
                v4: OwnRange {
                    first: IpAddr::V4(addrs::DEFAULT_BASE),
                    count: addrs::DEFAULT_COUNT,
                    range: "198.19.0.0/16",
                },
                v6: Some(OwnRange {
                    first: IpAddr::V6(addrs::DEFAULT_BASE_V6),
                    count: addrs::DEFAULT_COUNT_V6,
                    range: "2001:2:0:1::/64",
                }),
            },
            max_in_flight: Some(PINGS_IN_FLIGHT),
            requests: false,
            half_open: true,
            loopback_targets: false,
            ipv6: true,
            net_admin: true,
        }
    }

    fn build(&self, opts: &Options, plan: &Plan, part: Part) -> Result<Box<dyn Engine>, Error> {
        let mine = plan.sources_of(part).to_vec();
        let capacity = part.count(plan.connections) as usize;
        let engine =
            TunEngine::new(mine, &plan.targets, capacity, opts.handshake).map_err(Error::Tun)?;
        Ok(Box::new(engine))
    }
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
    /// An engine for `capacity` slots from `sources` (one per 64,512 slots) to `targets`, all
    /// of one family.
    fn new(
        sources: Vec<IpAddr>,
        targets: &[SocketAddr],
        capacity: usize,
        handshake: Handshake,
    ) -> io::Result<TunEngine> {
        let addrs = addrs::Addrs::new(sources);
        if (capacity as u64) > addrs.capacity() {
            return Err(io::Error::other(format!(
                "{capacity} connections need {} source addresses; this process has {}",
                (capacity as u64).div_ceil(u64::from(addrs::PORTS)),
                addrs.sources().len()
            )));
        }
        let family = addrs.sources().first().is_none_or(IpAddr::is_ipv4);
        if let Some(t) = targets.iter().find(|t| t.is_ipv4() != family) {
            return Err(io::Error::other(format!(
                "--engine tun: target {t} and the sources are of different IP versions: give --source addresses of the targets' version"
            )));
        }
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
        let mss = targets
            .first()
            .map_or(packet::MAX_PAYLOAD, |t| packet::max_payload(t.ip()));
        let mut buf = vec![0u8; 64 * 1024].into_boxed_slice();
        buf.fill(1); // touched now, so it counts in the start-up RSS, not per connection
        Ok(TunEngine {
            wire: Wire {
                dev,
                addrs,
                slots: PerSlot::new(capacity, targets.len()),
                targets: targets.to_vec(),
                salt,
                retries: Retries::default(),
                flights: Flights::new(targets.len(), mss, Instant::now(), PINGS_IN_FLIGHT as usize),
                ahead: Default::default(),
                mss,
                out: vec![0u8; MAX_PACKET].into_boxed_slice(),
                again: vec![0u8; mss].into_boxed_slice(),
                stats: WireCounts::default(),
                handshake,
                high: 0,
                closing: None,
            },
            poll,
            events: Events::with_capacity(16),
            buf,
            more: false,
        })
    }

    /// Reads what the device holds, a batch at most; true when it is empty.
    fn read_batch(&mut self, h: &mut dyn Handler) -> io::Result<bool> {
        for _ in 0..READS_PER_POLL {
            match self.wire.dev.file.read(&mut self.buf) {
                Ok(n) => self.wire.arrived(&self.buf[..n], h),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// One round of the teardown's probes: every slot not confirmed yet, or those `until`
    /// leaves time for.
    fn probe_round(&mut self, h: &mut dyn Handler, until: Instant) -> io::Result<()> {
        let mut from = 0;
        let mut since_read = 0;
        while let Some(slot) = self.wire.closing.as_ref().and_then(|c| c.next(from)) {
            self.wire.probe(slot);
            from = slot + 1;
            since_read += 1;
            if since_read == PROBES_PER_READ {
                since_read = 0;
                while !self.read_batch(h)? {}
                if Instant::now() >= until {
                    break;
                }
            }
        }
        Ok(())
    }

    fn unconfirmed(&self) -> u32 {
        self.wire.closing.as_ref().map_or(0, Closing::left)
    }
}

impl Io for TunEngine {
    fn open(
        &mut self,
        slot: u32,
        stamp: u32,
        dst: SocketAddr,
        src: Option<IpAddr>,
    ) -> Result<Opened, OpenError> {
        self.wire.open(slot, stamp, dst, src)
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
        let now = Instant::now();
        let mut timeout = [
            self.wire.retries.next_deadline(),
            self.wire.flights.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .fold(timeout, |t, d| t.min(d.saturating_duration_since(now)));
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
        self.more = !self.read_batch(h)?;
        self.wire.timers(Instant::now(), h);
        Ok(())
    }

    fn ramp_done(&mut self) {
        self.wire.retries.shrink();
    }

    fn linger(&mut self, h: &mut dyn Handler) -> io::Result<()> {
        if !self.wire.saw_loss() || self.wire.high == 0 {
            return Ok(());
        }
        let started = Instant::now();
        self.wire.closing = Some(Closing::new(self.wire.high));
        log::info!(
            "the wire lost or doubled segments: confirming the resets of {} connections (at most {} s)",
            self.wire.high,
            LINGER.as_secs()
        );
        // Rounds until every reset is confirmed: a connection whose probe or answer was lost
        // is probed again in the next.
        while self.unconfirmed() > 0 && started.elapsed() < LINGER {
            self.probe_round(h, started + LINGER)?;
            let until = (Instant::now() + LINGER_ROUND).min(started + LINGER);
            while self.unconfirmed() > 0 {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                self.poll(until - now, h)?;
            }
            log::debug!("linger: {} resets unconfirmed", self.unconfirmed());
        }
        self.wire.stats.unconfirmed_resets = u64::from(self.unconfirmed());
        self.wire.closing = None;
        Ok(())
    }

    fn wire(&self) -> WireCounts {
        self.wire.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conns::Conn;

    #[test]
    fn a_connection_costs_sixteen_bytes_with_one_target() {
        let n = 100_000;
        let driver = n * std::mem::size_of::<Conn>();
        assert_eq!(driver + PerSlot::new(n, 1).bytes(), 16 * n);
        // Several targets add the target's index: one byte.
        assert_eq!(driver + PerSlot::new(n, 3).bytes(), 17 * n);
    }
}
