//! One process as /proc shows it: `/proc/<pid>/statm` (resident pages), `/proc/<pid>/stat`
//! (state, `utime` and `stime` in clock ticks, `_SC_CLK_TCK`, usually 100 per second) and
//! `/proc/<pid>/fd` (one symlink per open descriptor; sockets read as `socket:[inode]`).

use std::fs;
use std::io;
use std::path::Path;

/// Resident pages: the second field of `/proc/<pid>/statm`.
pub fn parse_statm_rss_pages(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Resident set size in bytes of `pid` (`None` = this process).
pub fn read_rss_bytes(pid: Option<u32>, page_size: u64) -> io::Result<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/statm"),
        None => "/proc/self/statm".to_string(),
    };
    let text = fs::read_to_string(path)?;
    parse_statm_rss_pages(&text)
        .map(|pages| pages.saturating_mul(page_size))
        .ok_or_else(|| invalid("statm: no resident field"))
}

/// Open descriptors of a process, and how many of them are sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FdCount {
    pub total: u64,
    pub sockets: u64,
}

/// Counts the entries of a `/proc/<pid>/fd` directory, reading each link to
/// spot `socket:[inode]`.
///
/// This is O(open fds) syscalls: at a million connections it is a million
/// `readlink`s, so call it on demand, never once a second. Names are collected
/// before any link is read, so the directory's own descriptor (and any fd
/// closed meanwhile) fails `readlink` and is not counted.
pub fn count_fds(dir: &Path) -> io::Result<FdCount> {
    let names: Vec<_> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let mut count = FdCount::default();
    for path in names {
        let Ok(target) = fs::read_link(&path) else {
            continue;
        };
        count.total += 1;
        if target.to_string_lossy().starts_with("socket:") {
            count.sockets += 1;
        }
    }
    Ok(count)
}

/// [`count_fds`] on `/proc/self/fd`.
pub fn count_own_fds() -> io::Result<FdCount> {
    count_fds(Path::new("/proc/self/fd"))
}

/// The fields of `/proc/<pid>/stat` the project reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    pub ppid: u32,
    /// User and system CPU time, in clock ticks (fields 14 and 15).
    pub utime: u64,
    pub stime: u64,
    /// Clock ticks after boot at which the process started (field 22): with the pid, it names
    /// one process even once the pid is reused.
    pub start_ticks: u64,
}

impl ProcStat {
    /// A zombie has exited and holds no descriptors, only its exit status.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself hold
/// spaces and `)`, so fields are counted from after the last `)`.
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let (_, rest) = text.rsplit_once(')')?;
    // `rest` starts at field 3 (state).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i)?.parse().ok();
    Some(ProcStat {
        state: f.first()?.chars().next()?,
        ppid: num(1)? as u32,
        utime: num(11)?,
        stime: num(12)?,
        start_ticks: num(19)?,
    })
}

/// `/proc/<pid>/stat`, parsed.
pub fn read_proc_stat(pid: u32) -> io::Result<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_proc_stat(&text).ok_or_else(|| invalid("stat: bad format"))
}

/// User + system CPU time of `pid`, in seconds.
pub fn read_cpu_seconds(pid: u32, ticks_per_sec: u64) -> io::Result<f64> {
    if ticks_per_sec == 0 {
        return Err(invalid("ticks_per_sec is 0"));
    }
    let st = read_proc_stat(pid)?;
    Ok(st.utime.saturating_add(st.stime) as f64 / ticks_per_sec as f64)
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statm() {
        assert_eq!(parse_statm_rss_pages("765 432 404 5 0 123 0\n"), Some(432));
        assert_eq!(parse_statm_rss_pages("765"), None);
        assert_eq!(parse_statm_rss_pages(""), None);
    }

    #[test]
    fn proc_stat_fields() {
        let text = "2157 (cat) R 2147 2147 1833 0 -1 4194304 101 0 0 0 7 3 0 0 20 0 1 0 349758 3133440 368";
        let st = parse_proc_stat(text).unwrap();
        assert_eq!(
            st,
            ProcStat {
                state: 'R',
                ppid: 2147,
                utime: 7,
                stime: 3,
                start_ticks: 349_758
            }
        );
        assert!(!st.is_dead());
        let tricky = "42 (a) b) (c) Z 1 42 42 0 -1 4194560 500 0 0 0 1234 567 0 0 20 0 4 0 100 0 0";
        let st = parse_proc_stat(tricky).unwrap();
        assert_eq!(
            (st.utime, st.stime, st.ppid, st.start_ticks),
            (1234, 567, 1, 100)
        );
        assert!(st.is_dead());
        assert_eq!(parse_proc_stat("42 (x) S 1 2"), None);
        assert_eq!(parse_proc_stat("no parens"), None);
    }

    #[test]
    fn own_process_readers() {
        let fds = count_own_fds().unwrap();
        assert!(fds.total >= 1);
        assert!(read_rss_bytes(None, 4096).unwrap() > 0);
        assert!(read_cpu_seconds(std::process::id(), 100).unwrap() >= 0.0);
    }
}
