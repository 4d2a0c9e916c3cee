//! Per-interval readings from /proc files opened once and re-read in place.
//!
//! Why keep them open? A server at its fd limit gets EMFILE from `open()` too: a stats tick that
//! opened /proc/self/statm each second would go blind at exactly the moment it matters. A
//! seq_file under /proc regenerates its text when read again from offset 0, so `pread(fd, 0)`
//! gives a fresh reading without a new descriptor. The cost per tick is O(1) in the number of
//! connections: no /proc/net/tcp scan, no /proc/self/fd walk.

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::pid;
use crate::sockstat::{self, SockStat};

/// One /proc file, re-read from offset 0 on each call into a buffer that only ever grows (to
/// the file's longest text), so a reading allocates nothing once the buffer fits.
#[derive(Debug)]
pub struct ProcFile {
    file: File,
    buf: Vec<u8>,
    len: usize,
}

impl ProcFile {
    pub fn open(path: &str) -> io::Result<ProcFile> {
        Ok(ProcFile {
            file: File::open(path)?,
            buf: vec![0; 4096],
            len: 0,
        })
    }

    /// The file's current text, borrowed from the buffer (invalid UTF-8 is replaced, in a copy,
    /// never an error).
    pub fn read(&mut self) -> io::Result<Cow<'_, str>> {
        self.len = 0;
        loop {
            if self.len == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self
                .file
                .read_at(&mut self.buf[self.len..], self.len as u64)?;
            if n == 0 {
                break;
            }
            self.len += n;
        }
        Ok(String::from_utf8_lossy(&self.buf[..self.len]))
    }
}

/// What one tick measures of this process and of the machine's TCP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub rss_bytes: u64,
    pub tcp: SockStat,
}

/// The files behind a [`Reading`], opened at start-up while descriptors are still free.
#[derive(Debug)]
pub struct Probe {
    statm: Option<ProcFile>,
    sockstat: Option<ProcFile>,
    sockstat6: Option<ProcFile>,
    page_size: u64,
}

impl Probe {
    pub fn open() -> Probe {
        Probe {
            statm: ProcFile::open("/proc/self/statm").ok(),
            sockstat: ProcFile::open("/proc/net/sockstat").ok(),
            sockstat6: ProcFile::open("/proc/net/sockstat6").ok(),
            page_size: c10m_sys::mem::page_size(),
        }
    }

    pub fn read(&mut self) -> Reading {
        Reading {
            rss_bytes: self.rss_bytes(),
            tcp: self.tcp(),
        }
    }

    /// This process's resident memory (`/proc/self/statm`), 0 where it cannot be read.
    pub fn rss_bytes(&mut self) -> u64 {
        self.statm
            .as_mut()
            .and_then(|f| f.read().ok())
            .and_then(|t| pid::parse_statm_rss_pages(&t))
            .map_or(0, |p| p * self.page_size)
    }

    /// The TCP lines of `/proc/net/sockstat` and `sockstat6`, added up.
    pub fn tcp(&mut self) -> SockStat {
        let mut tcp = SockStat::default();
        for f in [self.sockstat.as_mut(), self.sockstat6.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Ok(t) = f.read() {
                tcp = tcp.add(sockstat::parse_sockstat(&t));
            }
        }
        tcp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rereads_in_place() {
        let mut p = Probe::open();
        let a = p.read();
        let b = p.read();
        assert!(a.rss_bytes > 0 && b.rss_bytes > 0);
    }

    #[test]
    fn a_text_longer_than_the_buffer_is_read_whole_and_borrowed() {
        let path = std::env::temp_dir().join(format!("c10m-probe-test-{}", std::process::id()));
        let long = "0123456789abcdef\n".repeat(700);
        std::fs::write(&path, &long).unwrap();
        let mut f = ProcFile::open(path.to_str().unwrap()).unwrap();
        assert_eq!(f.read().unwrap(), long);
        let again = f.read().unwrap();
        assert!(matches!(again, Cow::Borrowed(_)));
        assert_eq!(again, long);
        std::fs::write(&path, "short\n").unwrap();
        assert_eq!(f.read().unwrap(), "short\n");
        std::fs::remove_file(&path).unwrap();
    }
}
