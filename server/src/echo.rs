//! Serving one connection: read, echo, and hold back when the peer does not read.
//!
//! # Memory per connection
//! An idle connection owns one slab slot: its socket (a 4-byte fd) and an empty `Option<Box<_>>`.
//! Reads go into one buffer shared by the whole loop. Only when an echo cannot be written at once
//! does the connection get a heap buffer for the rest, and it is not read again until that drains
//! (backpressure): a peer that sends and never reads costs one buffer, not unbounded memory.
//!
//! # A short read ends the drain
//! A TCP read returns less than the buffer only when it emptied the socket's receive queue
//! (`tcp_recvmsg()` copies until the queue, and the backlog it processes on the way, run dry).
//! Every segment queued after that wakes the socket's epoll entry again (`sk_data_ready`), so
//! with edge-triggered epoll a new event announces it: the read that would only return
//! `WouldBlock` can be skipped. That is one of the three system calls of an echoed ping
//! (read, write, read again). Not after an event that also carried the peer's FIN or an error:
//! that news came with this edge, so those connections read on until `WouldBlock` or the end of
//! the stream, as do the ones served again on the next turn without an event.

use std::io::{self, Read};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use slab::Slab;

use c10m_sys::socket::write_some;

use crate::stats::Stats;
use c10m_sys::errno;

/// Reads per readiness event before the connection waits for the next turn of the loop.
pub(crate) const READS_PER_EVENT: usize = 16;

/// How far one turn reads a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drain {
    /// Until a read comes back short, or `WouldBlock`.
    ShortRead,
    /// Until `WouldBlock` or the end of the stream.
    Full,
}

impl Drain {
    /// What an event allows: a hang-up or an error must be read to the end now.
    pub(crate) fn after(event: &Event) -> Drain {
        if event.is_read_closed() || event.is_error() {
            Drain::Full
        } else {
            Drain::ShortRead
        }
    }
}

/// One connection: everything an idle one costs in user space.
struct Conn {
    stream: TcpStream,
    pending: Option<Box<Pending>>,
}

/// The part of an echo the peer's window could not take yet.
struct Pending {
    data: Box<[u8]>,
    pos: usize,
}

/// Bytes one slab slot takes: `Slab<T>` stores `enum Entry { Vacant(usize), Occupied(T) }`.
pub(crate) fn slot_bytes() -> usize {
    #[allow(dead_code)]
    enum Entry {
        Vacant(usize),
        Occupied(Conn),
    }
    std::mem::size_of::<Entry>()
}

/// Every connection of one loop, keyed by its token, and what serving them shares.
pub(crate) struct Conns {
    slab: Slab<Conn>,
    /// One read buffer for all connections.
    buf: Box<[u8]>,
    /// Connections still readable after [`READS_PER_EVENT`] reads: served next turn.
    again: Vec<usize>,
    close_first: bool,
}

impl Conns {
    pub(crate) fn new(capacity: usize, read_buf: usize, close_first: bool) -> Conns {
        let mut buf = vec![0u8; read_buf].into_boxed_slice();
        buf.fill(1); // touch it now so its pages count in the start-up RSS, not per connection
        Conns {
            slab: Slab::with_capacity(capacity),
            buf,
            again: Vec::new(),
            close_first,
        }
    }

    /// Registers a new connection for READABLE under its slab key.
    pub(crate) fn insert(&mut self, registry: &Registry, mut stream: TcpStream) -> io::Result<()> {
        let entry = self.slab.vacant_entry();
        registry.register(&mut stream, Token(entry.key()), Interest::READABLE)?;
        entry.insert(Conn {
            stream,
            pending: None,
        });
        Ok(())
    }

    /// Whether some connection waits for the next turn of the loop.
    pub(crate) fn has_again(&self) -> bool {
        !self.again.is_empty()
    }

    /// Moves the connections to serve again this turn into `into` (emptied first), keeping
    /// both lists' memory for the next turn.
    pub(crate) fn take_again(&mut self, into: &mut Vec<usize>) {
        into.clear();
        std::mem::swap(&mut self.again, into);
    }

    /// Serves one connection's readiness: flush what is pending, then read and echo as far as
    /// `drain` says. Returns whether the connection closed (a descriptor came free).
    pub(crate) fn ready(
        &mut self,
        registry: &Registry,
        key: usize,
        drain: Drain,
        stats: &mut Stats,
    ) -> bool {
        let Some(conn) = self.slab.get_mut(key) else {
            return false; // stale: the connection closed and its key is free
        };
        if let Some(p) = conn.pending.as_mut() {
            match write_some(&mut conn.stream, &p.data[p.pos..]) {
                Ok(n) => {
                    p.pos += n;
                    stats.bytes_echoed += n as u64;
                    if p.pos < p.data.len() {
                        return false; // still no room: wait for the next WRITABLE edge
                    }
                    conn.pending = None;
                    if self.close_first {
                        return self.close(key, None, stats);
                    }
                    if let Err(e) =
                        registry.reregister(&mut conn.stream, Token(key), Interest::READABLE)
                    {
                        return self.close(key, Some(e), stats);
                    }
                }
                Err(e) => return self.close(key, Some(e), stats),
            }
        }
        for _ in 0..READS_PER_EVENT {
            let Some(conn) = self.slab.get_mut(key) else {
                return false;
            };
            match conn.stream.read(&mut self.buf) {
                Ok(0) => return self.close(key, None, stats),
                Ok(n) => match write_some(&mut conn.stream, &self.buf[..n]) {
                    Ok(w) => {
                        stats.bytes_echoed += w as u64;
                        if w < n {
                            conn.pending = Some(Box::new(Pending {
                                data: self.buf[w..n].into(),
                                pos: 0,
                            }));
                            stats.backpressure_events += 1;
                            let interest = Interest::READABLE | Interest::WRITABLE;
                            if let Err(e) =
                                registry.reregister(&mut conn.stream, Token(key), interest)
                            {
                                return self.close(key, Some(e), stats);
                            }
                            return false;
                        }
                        if self.close_first {
                            return self.close(key, None, stats);
                        }
                        if drain == Drain::ShortRead && n < self.buf.len() {
                            return false;
                        }
                    }
                    Err(e) => return self.close(key, Some(e), stats),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.close(key, Some(e), stats),
            }
        }
        self.again.push(key);
        false
    }

    fn close(&mut self, key: usize, err: Option<io::Error>, stats: &mut Stats) -> bool {
        if self.slab.try_remove(key).is_none() {
            return false;
        }
        stats.conns -= 1;
        stats.closed += 1;
        if let Some(e) = err {
            stats.close_errors.add_errno(errno::errno_of(&e));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::io::Write;
    use std::net::{Shutdown, TcpListener};
    use std::time::Duration;

    /// A served connection: the poll, the table holding it under key 0, and the peer's end.
    fn pair() -> (Poll, Conns, std::net::TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (served, _) = listener.accept().unwrap();
        served.set_nonblocking(true).unwrap();
        let poll = Poll::new().unwrap();
        let mut conns = Conns::new(4, 64 * 1024, false);
        conns
            .insert(poll.registry(), TcpStream::from_std(served))
            .unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (poll, conns, peer)
    }

    /// Waits for the connection's next event and serves it as the loop does.
    fn serve_next(poll: &mut Poll, conns: &mut Conns, stats: &mut Stats) -> Option<bool> {
        let mut events = Events::with_capacity(8);
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        let event = events.iter().next()?;
        Some(conns.ready(poll.registry(), 0, Drain::after(event), stats))
    }

    fn echoed(peer: &mut std::net::TcpStream, len: usize) -> Vec<u8> {
        let mut got = vec![0u8; len];
        std::io::Read::read_exact(peer, &mut got).unwrap();
        got
    }

    #[test]
    fn a_short_read_ends_the_turn_and_the_next_segment_raises_a_new_event() {
        let (mut poll, mut conns, mut peer) = pair();
        let mut stats = Stats {
            conns: 1,
            ..Stats::default()
        };
        peer.write_all(b"first").unwrap();
        assert_eq!(serve_next(&mut poll, &mut conns, &mut stats), Some(false));
        assert_eq!(echoed(&mut peer, 5), b"first");
        peer.write_all(b"second").unwrap();
        assert_eq!(serve_next(&mut poll, &mut conns, &mut stats), Some(false));
        assert_eq!(echoed(&mut peer, 6), b"second");
        assert_eq!(stats.bytes_echoed, 11);
        assert_eq!(stats.closed, 0);
    }

    #[test]
    fn data_and_fin_in_one_event_are_read_to_the_end_and_closed() {
        let (mut poll, mut conns, mut peer) = pair();
        let mut stats = Stats {
            conns: 1,
            ..Stats::default()
        };
        peer.write_all(b"last words").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        std::thread::sleep(Duration::from_millis(50)); // both on the queue before the poll
        assert_eq!(serve_next(&mut poll, &mut conns, &mut stats), Some(true));
        assert_eq!(echoed(&mut peer, 10), b"last words");
        assert_eq!((stats.conns, stats.closed), (0, 1));
    }
}
