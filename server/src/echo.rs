//! Serving one connection: read, echo, and hold back when the peer does not read.
//!
//! # Memory per connection
//! An idle connection owns one slab slot: its socket (a 4-byte fd) and an empty `Option<Box<_>>`.
//! Reads go into one buffer shared by the whole loop. Only when an echo cannot be written at once
//! does the connection get a heap buffer for the rest, and it is not read again until that drains
//! (backpressure): a peer that sends and never reads costs one buffer, not unbounded memory.

use std::io::{self, Read};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use slab::Slab;

use c10m_sys::socket::write_some;

use crate::stats::Stats;
use c10m_sys::errno;

/// Reads per readiness event before the connection waits for the next turn of the loop.
pub(crate) const READS_PER_EVENT: usize = 16;

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

    /// Serves one connection's readiness: flush what is pending, then read and echo. Returns
    /// whether the connection closed (a descriptor came free).
    pub(crate) fn ready(&mut self, registry: &Registry, key: usize, stats: &mut Stats) -> bool {
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
