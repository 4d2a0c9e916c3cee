//! The wire side of the TUN engine: every segment it sends, and what it does with every segment
//! the kernel hands back. [`super`] says which rules of TCP it follows and why.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use c10m_sys::errno;
use c10m_sys::tun::Tun as Device;

use super::addrs::Addrs;
use super::ahead::Ahead;
use super::flight::{Expired, Flights};
use super::linger::Closing;
use super::packet::{self, Segment, ACK, FIN, PSH, RST, SYN};
use super::retry::Retries;
use crate::config::Handshake;
use crate::engine::{CloseHow, Handler, Io, OpenError, Opened};
use crate::stats::WireCounts;

/// The receive window the client announces: it reads every echo at once.
const WINDOW: u16 = 65_535;

/// All the engine keeps for every connection, whatever its state or family.
pub(super) struct PerSlot {
    /// The server's initial sequence number.
    pub server_isn: Vec<u32>,
    /// The target's index, when there is more than one target.
    pub target_of: Vec<u8>,
}

impl PerSlot {
    pub(super) fn new(capacity: usize, targets: usize) -> PerSlot {
        PerSlot {
            server_isn: vec![0; capacity],
            target_of: if targets > 1 {
                vec![0; capacity]
            } else {
                Vec::new()
            },
        }
    }

    /// The bytes these arrays hold.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        std::mem::size_of_val(&self.server_isn[..]) + std::mem::size_of_val(&self.target_of[..])
    }
}

/// Everything a [`Handler`] may act on while the engine walks its packets.
pub(super) struct Wire {
    pub dev: Device,
    pub addrs: Addrs,
    pub targets: Vec<SocketAddr>,
    pub slots: PerSlot,
    pub salt: u32,
    pub retries: Retries,
    pub flights: Flights,
    pub ahead: Ahead,
    /// The most payload of one segment (the family's MSS).
    pub mss: usize,
    pub out: Box<[u8]>,
    /// Bytes of a segment sent again, made again from the stream.
    pub again: Box<[u8]>,
    pub stats: WireCounts,
    pub handshake: Handshake,
    /// Slots below this were opened at some point.
    pub high: u32,
    /// After the teardown: the resets the servers have not confirmed yet.
    pub closing: Option<Closing>,
}

impl Wire {
    /// The slot's initial sequence number: a hash of the slot, different each run.
    pub(super) fn isn(&self, slot: u32) -> u32 {
        slot.wrapping_mul(0x9e37_79b1).rotate_left(13) ^ self.salt
    }

    fn path(&self, slot: u32) -> usize {
        usize::from(
            self.slots
                .target_of
                .get(slot as usize)
                .copied()
                .unwrap_or(0),
        )
    }

    /// Sequence number of stream offset `at` of `slot`.
    fn seq(&self, slot: u32, at: u32) -> u32 {
        self.isn(slot).wrapping_add(1).wrapping_add(at)
    }

    /// A bare ACK from `slot` (its stream written to `sent`) of the server's data up to `ack`.
    fn ack_in_order(&mut self, slot: u32, sent: u32, ack: u32) {
        let _ = self.send(slot, self.seq(slot, sent), ack, ACK, &[]);
    }

    /// Acknowledgement number of the server's stream offset `at` on `slot`.
    fn ack_of(&self, slot: u32, at: u32) -> u32 {
        self.slots.server_isn[slot as usize]
            .wrapping_add(1)
            .wrapping_add(at)
    }

    /// Sends one segment from `slot` to its target.
    pub(super) fn send(
        &mut self,
        slot: u32,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        let Some((ip, port)) = self.addrs.of(slot) else {
            return Err(io::Error::from_raw_os_error(errno::EADDRNOTAVAIL));
        };
        let t = self.targets[self.path(slot)];
        self.emit(&Segment {
            src: ip,
            dst: t.ip(),
            sport: port,
            dport: t.port(),
            seq,
            ack,
            flags,
            window: WINDOW,
            mss: (flags & SYN != 0).then_some(self.mss as u16),
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

    /// A bare ACK one byte before the slot's stream: a live connection answers it with an ACK
    /// (RFC 9293 3.10.7.4, an unacceptable segment), a server with no such connection with a
    /// RST. The teardown's probe.
    pub(super) fn probe(&mut self, slot: u32) {
        let (isn, ack) = (self.isn(slot), self.ack_of(slot, 0));
        let _ = self.send(slot, isn, ack, ACK, &[]);
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

    /// Sends `[from, to)` of `slot`'s stream again, made again from the stream's bytes.
    fn resend(&mut self, slot: u32, (from, to): (u32, u32), recv: u32, h: &mut dyn Handler) {
        let mut again = std::mem::take(&mut self.again);
        let ack = self.ack_of(slot, recv);
        let mut at = from;
        while to.wrapping_sub(at) as i32 > 0 {
            let n = (to.wrapping_sub(at) as usize).min(self.mss);
            h.stream_bytes(slot, at, &mut again[..n]);
            self.stats.retransmitted += 1;
            if self
                .send(slot, self.seq(slot, at), ack, PSH | ACK, &again[..n])
                .is_err()
            {
                break;
            }
            at = at.wrapping_add(n as u32);
        }
        self.again = again;
    }

    /// One packet from the kernel.
    pub(super) fn arrived(&mut self, pkt: &[u8], h: &mut dyn Handler) {
        let Ok(s) = packet::parse(pkt) else {
            return; // not TCP (IPv6 neighbour discovery, say)
        };
        let Some(slot) = self.addrs.slot(s.dst, s.dport) else {
            return; // not one of ours
        };
        if (slot as usize) >= self.slots.server_isn.len() {
            return self.reset_stray(&s);
        }
        let isn = self.isn(slot);
        if h.connecting(slot) {
            return self.handshake(slot, isn, &s, h);
        }
        let Some((sent, recv)) = h.stream(slot) else {
            if let (Some(c), true) = (self.closing.as_mut(), s.has(RST)) {
                c.confirm(slot);
            }
            return self.reset_stray(&s);
        };
        let base = self.slots.server_isn[slot as usize].wrapping_add(1);
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
            return self.ack_in_order(slot, sent, base.wrapping_add(recv));
        }
        if s.has(ACK) {
            self.took_ack(slot, &s, sent, recv, h);
        }
        if !s.payload.is_empty() {
            let at = s.seq.wrapping_sub(base);
            if at.wrapping_sub(recv) as i32 > 0 {
                self.stats.out_of_order_received += 1;
                self.keep_ahead(slot, at, s.payload, h);
            } else {
                if at != recv {
                    self.stats.duplicates_received += 1;
                }
                h.on_data(self, slot, Some(at), s.payload);
                self.catch_up(slot, h);
            }
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
            // What arrived in order, whatever this segment was: a duplicate or a segment past a
            // gap gets the same ACK again, the duplicate ACK the server's fast retransmit counts.
            self.ack_in_order(slot, sent, base.wrapping_add(recv));
        }
    }

    /// Data past a gap: its offsets are kept if its bytes are the stream's ([`super::ahead`]).
    fn keep_ahead(&mut self, slot: u32, at: u32, data: &[u8], h: &mut dyn Handler) {
        if data.len() > self.again.len() {
            return;
        }
        let mut again = std::mem::take(&mut self.again);
        h.stream_bytes(slot, at, &mut again[..data.len()]);
        if again[..data.len()] == *data {
            self.ahead.add(slot, at, data.len() as u32);
        }
        self.again = again;
    }

    /// After data in order: hands the driver what had arrived past the gap, if the gap is
    /// filled now.
    fn catch_up(&mut self, slot: u32, h: &mut dyn Handler) {
        let Some((_, recv)) = h.stream(slot) else {
            return;
        };
        let Some(end) = self.ahead.take(slot, recv) else {
            return;
        };
        let mut again = std::mem::take(&mut self.again);
        let mut at = recv;
        while end.wrapping_sub(at) as i32 > 0 && h.stream(slot).is_some() {
            let n = (end.wrapping_sub(at) as usize).min(again.len());
            h.stream_bytes(slot, at, &mut again[..n]);
            h.on_data(self, slot, Some(at), &again[..n]);
            at = at.wrapping_add(n as u32);
        }
        self.again = again;
    }

    /// The ACK field of a segment for an open `slot`: the server's acknowledgement of our data
    /// and its window.
    fn took_ack(&mut self, slot: u32, s: &Segment<'_>, sent: u32, recv: u32, h: &mut dyn Handler) {
        let ack = s.ack.wrapping_sub(self.isn(slot).wrapping_add(1));
        let path = self.path(slot);
        let pure = s.payload.is_empty() && !s.has(FIN);
        let acked = self
            .flights
            .acked(slot, path, (ack, s.window, pure), sent, Instant::now());
        if acked.zero_window {
            self.stats.zero_window_waits += 1;
        }
        if let Some(range) = acked.resend {
            self.resend(slot, range, recv, h);
        }
        if acked.writable {
            h.on_writable(self, slot);
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
        self.slots.server_isn[slot as usize] = s.seq;
        self.flights.syn_window(s.window);
        if self.handshake == Handshake::None {
            return h.on_connected(self, slot); // answered: half-open on the server's side
        }
        let ack = s.seq.wrapping_add(1);
        if self.send(slot, isn.wrapping_add(1), ack, ACK, &[]).is_ok() {
            h.on_connected(self, slot);
        }
    }

    /// Timers due at `now`: SYNs and data to send again, zero windows to probe, connections
    /// that ran out of retries.
    pub(super) fn timers(&mut self, now: Instant, h: &mut dyn Handler) {
        while let Some((slot, stamp, attempt)) = self.retries.due(now, |s| h.connect_stamp(s)) {
            self.stats.retransmitted += 1;
            if self.syn(slot).is_ok() {
                self.retries.sent(slot, stamp, attempt, now);
            }
        }
        while let Some(slot) = self.flights.due(now) {
            let Some((sent, recv)) = h.stream(slot) else {
                self.flights.forget(slot);
                continue;
            };
            match self.flights.fire(slot, self.path(slot), sent, now) {
                Expired::Resend(from, to) => self.resend(slot, (from, to), recv, h),
                Expired::Probe(una) => {
                    let (seq, ack) = (self.seq(slot, una).wrapping_sub(1), self.ack_of(slot, recv));
                    let _ = self.send(slot, seq, ack, ACK, &[]);
                }
                Expired::Fail => {
                    log::debug!(
                        "slot {slot}: no acknowledgement after {} timeouts",
                        super::flight::RETRIES
                    );
                    let e = io::Error::from_raw_os_error(errno::ETIMEDOUT);
                    h.on_closed(self, slot, Some(e));
                }
                Expired::Nothing => {}
            }
        }
    }

    /// Whether anything on the wire was lost or came twice during the run.
    pub(super) fn saw_loss(&self) -> bool {
        let w = &self.stats;
        w.retransmitted + w.duplicate_synacks + w.duplicates_received + w.out_of_order_received > 0
    }
}

impl Io for Wire {
    fn open(
        &mut self,
        slot: u32,
        stamp: u32,
        dst: SocketAddr,
        _src: Option<IpAddr>,
    ) -> Result<Opened, OpenError> {
        let fail = |error: io::Error, step| OpenError { step, error };
        if slot as usize >= self.slots.server_isn.len() {
            return Err(fail(
                io::Error::from_raw_os_error(errno::EADDRNOTAVAIL),
                "connect() (tun: no source port left)",
            ));
        }
        if !self.slots.target_of.is_empty() {
            let i = self.targets.iter().position(|t| *t == dst).unwrap_or(0);
            self.slots.target_of[slot as usize] = i as u8;
        }
        self.high = self.high.max(slot + 1);
        self.syn(slot)
            .map_err(|e| fail(e, "write() to the TUN device"))?;
        self.retries.sent(slot, stamp, 0, Instant::now());
        Ok(Opened::InProgress)
    }

    fn write(&mut self, slot: u32, offset: u32, recv: u32, data: &[u8]) -> io::Result<usize> {
        let room = self.flights.room(slot, offset) as usize;
        let n = data.len().min(room);
        let ack = self.ack_of(slot, recv);
        let mut done = 0;
        for chunk in data[..n].chunks(self.mss) {
            let seq = self.seq(slot, offset.wrapping_add(done as u32));
            self.send(slot, seq, ack, PSH | ACK, chunk)?;
            done += chunk.len();
        }
        let (now, path) = (Instant::now(), self.path(slot));
        if n > 0 {
            self.flights.sent(slot, path, offset, n as u32, now);
        }
        let end = offset.wrapping_add(n as u32);
        if n < data.len() && self.flights.blocked(slot, path, end, now) {
            self.stats.zero_window_waits += 1;
        }
        Ok(n)
    }

    fn close(&mut self, slot: u32, _how: CloseHow, sent: u32, _recv: u32) {
        let _ = self.send(slot, self.seq(slot, sent), 0, RST, &[]);
        // With data unacknowledged, the server's next expected byte is `una` or later: a RST
        // there too, so that one of the two is exactly in sequence (RFC 5961 3.2).
        if let Some(una) = self.flights.una(slot).filter(|u| *u != sent) {
            let _ = self.send(slot, self.seq(slot, una), 0, RST, &[]);
        }
        self.flights.forget(slot);
        self.ahead.forget(slot);
    }
}
