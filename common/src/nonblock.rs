//! Writing to a non-blocking socket: as much as the kernel takes now.
//!
//! A non-blocking `write()` takes what fits in the socket's send buffer and returns the count; a
//! full buffer is `EAGAIN` (`WouldBlock`), a signal during the call `EINTR` (`Interrupted`). An
//! edge-triggered loop writes until the buffer is full, then waits for the socket's next
//! WRITABLE edge for the rest.

use std::io::{self, Write};

/// Writes as much of `buf` as the socket takes now, retrying on EINTR; `Ok(n < buf.len())`
/// means it would block. A write that takes 0 bytes is `WriteZero`.
pub fn write_some(w: &mut impl Write, buf: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match w.write(&buf[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, three at a time, after one EINTR; then would block.
    struct Sock {
        room: usize,
        taken: Vec<u8>,
        interrupted: bool,
    }

    impl Write for Sock {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if !self.interrupted {
                self.interrupted = true;
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = b.len().min(3).min(self.room - self.taken.len());
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.taken.extend_from_slice(&b[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_until_the_buffer_is_full() {
        let mut s = Sock {
            room: 7,
            taken: vec![],
            interrupted: false,
        };
        assert_eq!(write_some(&mut s, b"0123456789").unwrap(), 7);
        assert_eq!(s.taken, b"0123456");
        let mut all = Sock {
            room: 100,
            taken: vec![],
            interrupted: true,
        };
        assert_eq!(write_some(&mut all, b"abcd").unwrap(), 4);
    }
}
