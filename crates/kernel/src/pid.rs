//! Processes as /proc shows them: `/proc/<pid>/statm` (resident pages), `/proc/<pid>/stat`
//! (command name, state, parent, `utime` and `stime` in clock ticks, `_SC_CLK_TCK`, usually 100
//! per second) and `/proc/<pid>/fd` (one symlink per open descriptor; sockets read as
//! `socket:[inode]`). Every directory of /proc named by a number is a process: reading all their
//! `stat` files gives the process table, and the parent links in it give a process's tree (what a
//! program and the workers it forked use together).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcStat {
    /// The command name (field 2, at most 15 bytes of the program's name, or what the process
    /// set with `prctl(PR_SET_NAME)`).
    pub comm: String,
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

    /// User plus system CPU time, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        self.utime.saturating_add(self.stime)
    }
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself hold
/// spaces and `)`, so fields are counted from after the last `)`.
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let (head, rest) = text.rsplit_once(')')?;
    let (_, comm) = head.split_once('(')?;
    // `rest` starts at field 3 (state).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i)?.parse().ok();
    Some(ProcStat {
        comm: comm.to_string(),
        state: f.first()?.chars().next()?,
        ppid: num(1)? as u32,
        utime: num(11)?,
        stime: num(12)?,
        start_ticks: num(19)?,
    })
}

/// `/proc/<pid>/stat`, parsed. A command name need not be UTF-8: what is not UTF-8 reads as
/// U+FFFD.
pub fn read_proc_stat(pid: u32) -> io::Result<ProcStat> {
    let bytes = fs::read(format!("/proc/{pid}/stat"))?;
    parse_proc_stat(&String::from_utf8_lossy(&bytes)).ok_or_else(|| invalid("stat: bad format"))
}

/// User + system CPU time of `pid`, in seconds.
pub fn read_cpu_seconds(pid: u32, ticks_per_sec: u64) -> io::Result<f64> {
    if ticks_per_sec == 0 {
        return Err(invalid("ticks_per_sec is 0"));
    }
    Ok(read_proc_stat(pid)?.cpu_ticks() as f64 / ticks_per_sec as f64)
}

/// Every process's `/proc/<pid>/stat`, by pid. A process that exits between the listing of /proc
/// and the reading of its file is left out; only an unreadable /proc is an error.
pub fn read_proc_table() -> io::Result<BTreeMap<u32, ProcStat>> {
    let mut table = BTreeMap::new();
    for entry in fs::read_dir("/proc")? {
        let Some(pid) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Ok(st) = read_proc_stat(pid) {
            table.insert(pid, st);
        }
    }
    Ok(table)
}

/// `roots` and every process descended from one of them in `table`, following the parent links.
/// A root is in the set even when it is not in the table (it has exited).
pub fn descendants(roots: &[u32], table: &BTreeMap<u32, ProcStat>) -> BTreeSet<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (pid, st) in table {
        children.entry(st.ppid).or_default().push(*pid);
    }
    let mut seen = BTreeSet::new();
    let mut todo = roots.to_vec();
    while let Some(pid) = todo.pop() {
        if seen.insert(pid) {
            todo.extend(children.get(&pid).into_iter().flatten());
        }
    }
    seen
}

/// CPU ticks used so far by `roots` and all their descendants: (user, system).
pub fn tree_cpu_ticks(roots: &[u32], table: &BTreeMap<u32, ProcStat>) -> (u64, u64) {
    descendants(roots, table)
        .iter()
        .filter_map(|pid| table.get(pid))
        .fold((0u64, 0u64), |(u, s), st| {
            (u.saturating_add(st.utime), s.saturating_add(st.stime))
        })
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

    // /proc/1/stat of a VM whose PID 1 is its agent, and a child's.
    const PID1_STAT: &str = "1 (process_api) S 0 0 0 0 -1 4194560 64679 11617849 0 2414 2730 6567 80273 21091 10 -10 14 0 10 42102784 2536 18446744073709551615 1 1 0 0 0 0 0 4096 1256 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
    const CAT_STAT: &str = "28602 (cat) R 28591 28591 19209 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 4591455 3133440 415 18446744073709551615 93989674184704 93989674204585 140721723054928 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 93989674220592 93989674222208 93990345523200 140721723063000 140721723063020 140721723063020 140721723064299 0\n";

    #[test]
    fn proc_stat_fields() {
        let st = parse_proc_stat(PID1_STAT).unwrap();
        assert_eq!(
            st,
            ProcStat {
                comm: "process_api".into(),
                state: 'S',
                ppid: 0,
                utime: 2730,
                stime: 6567,
                start_ticks: 10
            }
        );
        assert_eq!(st.cpu_ticks(), 2730 + 6567);
        assert!(!st.is_dead());
        let st = parse_proc_stat(CAT_STAT).unwrap();
        assert_eq!(
            (st.ppid, st.cpu_ticks(), st.start_ticks),
            (28591, 0, 4591455)
        );
        assert_eq!(st.comm, "cat");
    }

    #[test]
    fn comm_with_spaces_and_parentheses() {
        let st = parse_proc_stat(&CAT_STAT.replace("(cat)", "(tmux: (a) b)")).unwrap();
        assert_eq!(st.comm, "tmux: (a) b");
        assert_eq!((st.ppid, st.start_ticks), (28591, 4591455));
        let tricky = "42 (a) b) (c) Z 1 42 42 0 -1 4194560 500 0 0 0 1234 567 0 0 20 0 4 0 100 0 0";
        let st = parse_proc_stat(tricky).unwrap();
        assert_eq!(st.comm, "a) b) (c");
        assert_eq!(
            (st.utime, st.stime, st.ppid, st.start_ticks),
            (1234, 567, 1, 100)
        );
        assert!(st.is_dead());
        assert_eq!(parse_proc_stat("42 (x) S 1 2"), None);
        assert_eq!(parse_proc_stat("no parens"), None);
        assert_eq!(
            parse_proc_stat("42 x) S 1 42 42 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5"),
            None
        );
    }

    fn row(ppid: u32, ticks: u64) -> ProcStat {
        ProcStat {
            comm: "x".into(),
            state: 'S',
            ppid,
            utime: ticks,
            stime: 1,
            start_ticks: 0,
        }
    }

    #[test]
    fn process_trees() {
        // 1 -> 10 -> {11, 12 -> 13}; 1 -> 20; 2 -> 30 (a kernel thread).
        let table = BTreeMap::from([
            (1, row(0, 100)),
            (2, row(0, 0)),
            (10, row(1, 10)),
            (11, row(10, 20)),
            (12, row(10, 30)),
            (13, row(12, 40)),
            (20, row(1, 50)),
            (30, row(2, 60)),
        ]);
        let set = |v: &[u32]| v.iter().copied().collect::<BTreeSet<u32>>();
        assert_eq!(descendants(&[10], &table), set(&[10, 11, 12, 13]));
        assert_eq!(descendants(&[12, 20], &table), set(&[12, 13, 20]));
        assert_eq!(descendants(&[99], &table), set(&[99]));
        // A tree counts each process once, however many roots lead to it.
        let (user, system) = tree_cpu_ticks(&[10, 12], &table);
        assert_eq!(
            user + system,
            table[&10].cpu_ticks()
                + table[&11].cpu_ticks()
                + table[&12].cpu_ticks()
                + table[&13].cpu_ticks()
        );
        assert_eq!(tree_cpu_ticks(&[99], &table), (0, 0));
        assert_eq!(tree_cpu_ticks(&[], &table), (0, 0));
    }

    #[test]
    fn own_process_readers() {
        let fds = count_own_fds().unwrap();
        assert!(fds.total >= 1);
        assert!(read_rss_bytes(None, 4096).unwrap() > 0);
        assert!(read_cpu_seconds(std::process::id(), 100).unwrap() >= 0.0);
        let table = read_proc_table().unwrap();
        let me = std::process::id();
        assert!(table.contains_key(&me));
        assert!(descendants(&[table[&me].ppid], &table).contains(&me));
    }
}
