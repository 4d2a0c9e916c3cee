//! Each fact: the files it reads, the library's parser it hands them to, and the JSON it prints.
//! Files are read when asked, never kept: the lab runs this in one namespace after another.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use c10m_kernel::{conntrack, cpu, memory, netstat, pid, sockstat, sysctl, tcp_table};
use c10m_sys::{mem, nofile};
use serde::Serialize;
use serde_json::Value;

use crate::cli::Fact;

/// A file that could not be read or did not hold what it should.
#[derive(Debug)]
pub(crate) struct Failure {
    path: String,
    why: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.why)
    }
}

fn failure(path: &Path, why: impl fmt::Display) -> Failure {
    Failure {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    let bytes = fs::read(path).map_err(|e| failure(path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The file's text, or `None` when it does not exist (`sockstat6` and `tcp6` without IPv6).
fn read_if_present(path: &Path) -> Result<Option<String>, Failure> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(failure(path, e)),
    }
}

fn parsed<T>(path: &Path, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, Failure> {
    parse(&read(path)?).ok_or_else(|| failure(path, "not in the expected format"))
}

fn json(v: impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The IPv4 counters of `sockstat`, and the IPv6 sockets in use from `sockstat6`.
#[derive(Serialize)]
struct Sockstat {
    #[serde(flatten)]
    ipv4: sockstat::SockStat,
    tcp6_inuse: u64,
}

/// The fact's value; `net` is the directory of the /proc/net files to read.
pub(crate) fn value(fact: &Fact, net: &Path) -> Result<Value, Failure> {
    Ok(match fact {
        Fact::Sockstat => json(Sockstat {
            ipv4: sockstat::parse_sockstat(&read(&net.join("sockstat"))?),
            tcp6_inuse: tcp6_inuse(net)?,
        }),
        Fact::Netstat => json(netstat_sections(net)?),
        Fact::TcpPort(port) => json(tcp_table::port_states(
            tcp_texts(net, true)?.iter().map(String::as_str),
            *port,
        )),
        Fact::ListenQueues => {
            // A listener is a full socket, counted in TCP6 inuse: with none, tcp6 holds no
            // listener, and its walk of the whole established-hash table is skipped.
            let v6 = tcp6_inuse(net)? > 0;
            json(tcp_table::listen_queues(
                tcp_texts(net, v6)?.iter().map(String::as_str),
            ))
        }
        Fact::Conntrack => json(conntrack::parse_conntrack_stat(&read(
            &net.join("stat/nf_conntrack"),
        )?)),
        Fact::Meminfo => json(meminfo()?),
        Fact::Slab => json(memory::slab_bytes_by_cache(
            &read(Path::new("/proc/slabinfo"))?,
            mem::page_size(),
        )),
        Fact::FileNr => json(parsed(
            Path::new("/proc/sys/fs/file-nr"),
            sysctl::parse_file_nr,
        )?),
        Fact::PortRange => json(parsed(
            Path::new("/proc/sys/net/ipv4/ip_local_port_range"),
            sysctl::parse_port_range,
        )?),
        Fact::Sysctl(name) => {
            let path = sysctl::sysctl_path(name).map_err(|e| failure(Path::new(name), e))?;
            Value::String(read(&path)?.trim().to_string())
        }
        Fact::CpuBusy => json(parsed(Path::new("/proc/stat"), cpu::parse_busy_ticks)?),
        Fact::Procs => json(procs()?),
        Fact::TreeRss(root) => {
            let page = mem::page_size();
            let rss = pid::descendants(&[*root], &procs()?)
                .into_iter()
                .filter_map(|p| pid::read_rss_bytes(Some(p), page).ok())
                .fold(0u64, u64::saturating_add);
            json(rss)
        }
        Fact::TreeCpu(roots) => {
            let (user, system) = pid::tree_cpu_ticks(roots, &procs()?);
            let hz = mem::clock_ticks() as f64;
            serde_json::json!({"user_s": user as f64 / hz, "system_s": system as f64 / hz})
        }
        Fact::Machine => Value::String(machine()?),
    })
}

fn meminfo() -> Result<memory::MemInfo, Failure> {
    Ok(memory::parse_meminfo(&read(Path::new("/proc/meminfo"))?))
}

fn procs() -> Result<BTreeMap<u32, pid::ProcStat>, Failure> {
    pid::read_proc_table().map_err(|e| failure(Path::new("/proc"), e))
}

/// `TCP6: inuse` of `sockstat6`: IPv6 sockets that hold a port (0 without IPv6).
fn tcp6_inuse(net: &Path) -> Result<u64, Failure> {
    let text = read_if_present(&net.join("sockstat6"))?;
    Ok(text.map_or(0, |t| sockstat::parse_sockstat(&t).tcp_inuse))
}

/// `/proc/net/tcp`, and `tcp6` too when `v6` and IPv6 is there. Each read walks every bucket of
/// the established-hash table: milliseconds even for a handful of sockets.
fn tcp_texts(net: &Path, v6: bool) -> Result<Vec<String>, Failure> {
    let mut texts = vec![read(&net.join("tcp"))?];
    if v6 {
        texts.extend(read_if_present(&net.join("tcp6"))?);
    }
    Ok(texts)
}

/// `/proc/net/netstat` and `snmp` as section -> counter -> value.
fn netstat_sections(net: &Path) -> Result<BTreeMap<String, BTreeMap<String, u64>>, Failure> {
    let mut sections: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for file in ["netstat", "snmp"] {
        for (section, name, v) in netstat::counters(&read(&net.join(file))?) {
            sections
                .entry(section.to_string())
                .or_default()
                .insert(name.to_string(), v);
        }
    }
    Ok(sections)
}

/// The one-line description of this machine every record of the project starts with.
fn machine() -> Result<String, Failure> {
    let online = Path::new("/sys/devices/system/cpu/online");
    let cores = parsed(online, cpu::parse_cpu_count)?;
    let gib = meminfo()?.mem_total >> 30;
    let release = read(Path::new("/proc/sys/kernel/osrelease"))?;
    let (_, hard) = nofile::get().map_err(|e| failure(Path::new("getrlimit(RLIMIT_NOFILE)"), e))?;
    let hard = match hard {
        u64::MAX => "unlimited".to_string(),
        h => h.to_string(),
    };
    Ok(format!(
        "{cores} cores, {gib} GiB, Linux {}, RLIMIT_NOFILE hard {hard}",
        release.trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = "/proc/net";

    #[test]
    fn every_machine_wide_fact_reads_here() {
        for fact in [
            Fact::Meminfo,
            Fact::FileNr,
            Fact::PortRange,
            Fact::CpuBusy,
            Fact::Procs,
            Fact::Sysctl("net.core.somaxconn".into()),
        ] {
            assert!(value(&fact, Path::new(NET)).is_ok(), "{fact:?}");
        }
        let me = std::process::id();
        let rss = value(&Fact::TreeRss(me), Path::new(NET)).unwrap();
        assert!(rss.as_u64().unwrap() > 0);
        let cpu = value(&Fact::TreeCpu(vec![me]), Path::new(NET)).unwrap();
        assert!(cpu["user_s"].as_f64().unwrap() >= 0.0);
        assert!(cpu["system_s"].as_f64().unwrap() >= 0.0);
        let line = machine().unwrap();
        assert!(line.contains(" GiB, Linux ") && line.contains("RLIMIT_NOFILE hard"));
    }

    #[test]
    fn namespace_facts_have_their_fields() {
        let net = Path::new(NET);
        let s = value(&Fact::Sockstat, net).unwrap();
        for key in [
            "sockets_used",
            "tcp_inuse",
            "tcp_tw",
            "tcp_mem_pages",
            "tcp6_inuse",
        ] {
            assert!(s[key].is_u64(), "sockstat has no {key}: {s}");
        }
        let n = value(&Fact::Netstat, net).unwrap();
        assert!(n["TcpExt"]["ListenOverflows"].is_u64(), "{n}");
        assert!(n["Tcp"]["ActiveOpens"].is_u64(), "{n}");
        assert!(value(&Fact::ListenQueues, net).unwrap().is_object());
        let p = value(&Fact::TcpPort(7000), net).unwrap();
        assert!(p["local"].is_object() && p["client_ports"].is_object());
    }

    #[test]
    fn failures_name_the_file() {
        let e = value(&Fact::Sockstat, Path::new("/proc/nonexistent/net")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/proc/nonexistent/net/sockstat: "),
            "{e}"
        );
        let e = value(&Fact::Sysctl("no.such.knob".into()), Path::new(NET)).unwrap_err();
        assert!(e.to_string().starts_with("/proc/sys/no/such/knob: "), "{e}");
        assert!(parsed(Path::new("/proc/self/stat"), |_| None::<u8>)
            .unwrap_err()
            .to_string()
            .ends_with("not in the expected format"));
    }
}
