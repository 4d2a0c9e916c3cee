//! The command line: which facts to print, and whose network namespace the /proc/net ones are of.

use std::path::PathBuf;

use c10m_kernel::sysctl;
use clap::Parser;

/// Every fact's name, in the order `--help` lists them.
const NAMES: [&str; 15] = [
    "sockstat",
    "netstat",
    "tcp-port",
    "listen-queues",
    "conntrack",
    "meminfo",
    "slab",
    "file-nr",
    "port-range",
    "sysctl",
    "cpu-busy",
    "procs",
    "tree-rss",
    "tree-cpu",
    "machine",
];

const FACTS_HELP: &str = "\
Facts (each one is a key of the JSON object, spelled as given, with its value):
  sockstat          /proc/net/sockstat and sockstat6: {sockets_used, tcp_inuse, tcp_orphan,
                    tcp_tw, tcp_alloc, tcp_mem_pages, tcp6_inuse}; tcp_inuse counts IPv4 sockets,
                    tcp6_inuse IPv6 ones (0 without IPv6); tcp_mem_pages is in pages
  netstat           /proc/net/netstat and snmp: {\"TcpExt\": {\"ListenOverflows\": N, ...}, \"Tcp\": ...}
  tcp-port=PORT     /proc/net/tcp and tcp6: the sockets whose local port is PORT (\"local\") and
                    whose remote port is PORT (\"remote\"), by state, and how many distinct local
                    ports the remote ones hold (\"client_ports\"):
                    {\"local\": {\"LISTEN\": 1, \"ESTABLISHED\": N}, \"remote\": {...}, \"client_ports\": {...}}
  listen-queues     /proc/net/tcp and tcp6: {\"PORT\": connections waiting for accept()}, for every
                    listening port (the LISTEN sockets' rx_queue, summed)
  conntrack         /proc/net/stat/nf_conntrack: {\"drop\": N, \"early_drop\": N, ...} summed over
                    CPUs, \"entries\" (the table's size) taken once
  meminfo           /proc/meminfo: {mem_total, mem_available, slab, sreclaimable, sunreclaim}, bytes
  slab              /proc/slabinfo (root only): {\"CACHE\": bytes}, counted in whole slabs:
                    ceil(num_objs / objperslab) x pagesperslab x page size
  file-nr           /proc/sys/fs/file-nr: {allocated, free, max} file handles
  port-range        /proc/sys/net/ipv4/ip_local_port_range: {low, high}
  sysctl=NAME       /proc/sys/NAME with dots for slashes: the text, trimmed, as a string
  cpu-busy          /proc/stat: clock ticks all CPUs together were busy since boot (all but idle
                    and iowait)
  procs             /proc/PID/stat of every process: {\"PID\": {comm, state, ppid, utime, stime,
                    start_ticks}}, times in clock ticks
  tree-rss=PID      /proc/P/statm of PID and every process descended from it: resident bytes, summed
                    (0 once they are gone)
  tree-cpu=PID,...  /proc/P/stat of these PIDs and their descendants: CPU seconds, {user_s, system_s}
  machine           \"N cores, M GiB, Linux RELEASE, RLIMIT_NOFILE hard H\"

The /proc/net facts and the net.* sysctls are those of the network namespace the program runs in:
`ip netns exec NS c10m-kernel ...` reads NS's. --net-of PID reads the /proc/net facts of process
PID's namespace instead, through /proc/PID/net, without entering it; the sysctls have no such
path, so port-range and sysctl= refuse it. Nothing is cached: every run reads the files again.

Examples:
  c10m-kernel sockstat meminfo                      two facts: {\"meminfo\": {...}, \"sockstat\": {...}}
  ip netns exec NS c10m-kernel tcp-port=7000        port 7000's sockets in namespace NS
  c10m-kernel --net-of 4242 netstat listen-queues   process 4242's namespace, not entered
  c10m-kernel cpu-busy procs tree-cpu=4242,4243     what a CPU window reads at each end
  sudo c10m-kernel slab                             /proc/slabinfo is mode 0400

Exit status: 0 printed, 1 a file could not be read (the message names it, and why), 2 bad usage.";

/// c10m-kernel: figures the kernel shows in /proc and /sys, printed as one JSON object on
/// stdout, read by the same parsers c10m-server and c10m-client use.
#[derive(Parser, Debug)]
#[command(name = "c10m-kernel", version, after_help = FACTS_HELP)]
pub(crate) struct Cli {
    /// What to print: a fact's name, some with =ARGUMENT (listed below).
    #[arg(required = true, value_name = "FACT", value_parser = Named::parse)]
    facts: Vec<Named>,

    /// Read the /proc/net facts of process PID's network namespace, through /proc/PID/net.
    #[arg(long, value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    net_of: Option<u32>,
}

/// What to print, validated: the facts and the directory of the /proc/net files.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) facts: Vec<Named>,
    pub(crate) net: PathBuf,
}

impl Cli {
    pub(crate) fn into_request(self) -> Result<Request, String> {
        let Some(pid) = self.net_of else {
            return Ok(Request {
                facts: self.facts,
                net: PathBuf::from("/proc/net"),
            });
        };
        if let Some(n) = self.facts.iter().find(|n| n.fact.is_sysctl()) {
            return Err(format!(
                "{} is a sysctl of the namespace the program runs in, not under /proc/{pid}/net: \
                 run it with ip netns exec instead of --net-of",
                n.arg
            ));
        }
        Ok(Request {
            facts: self.facts,
            net: PathBuf::from(format!("/proc/{pid}/net")),
        })
    }
}

/// One fact as given on the command line (its key in the output) and as understood.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub(crate) arg: String,
    pub(crate) fact: Fact,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fact {
    Sockstat,
    Netstat,
    TcpPort(u16),
    ListenQueues,
    Conntrack,
    Meminfo,
    Slab,
    FileNr,
    PortRange,
    Sysctl(String),
    CpuBusy,
    Procs,
    TreeRss(u32),
    TreeCpu(Vec<u32>),
    Machine,
}

impl Fact {
    fn is_sysctl(&self) -> bool {
        matches!(self, Fact::PortRange | Fact::Sysctl(_))
    }
}

impl Named {
    fn parse(s: &str) -> Result<Named, String> {
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let plain = |fact: Fact| match arg {
            None => Ok(fact),
            Some(_) => Err(format!("{name} takes no argument")),
        };
        let needs = |what: &str| arg.ok_or_else(|| format!("{name} needs {what}: {name}=..."));
        let fact = match name {
            "sockstat" => plain(Fact::Sockstat)?,
            "netstat" => plain(Fact::Netstat)?,
            "tcp-port" => Fact::TcpPort(port(needs("a port")?)?),
            "listen-queues" => plain(Fact::ListenQueues)?,
            "conntrack" => plain(Fact::Conntrack)?,
            "meminfo" => plain(Fact::Meminfo)?,
            "slab" => plain(Fact::Slab)?,
            "file-nr" => plain(Fact::FileNr)?,
            "port-range" => plain(Fact::PortRange)?,
            "sysctl" => {
                let key = needs("a sysctl's name, such as net.core.somaxconn")?;
                sysctl::sysctl_path(key).map_err(|e| e.to_string())?;
                Fact::Sysctl(key.to_string())
            }
            "cpu-busy" => plain(Fact::CpuBusy)?,
            "procs" => plain(Fact::Procs)?,
            "tree-rss" => Fact::TreeRss(pid(needs("a pid")?)?),
            "tree-cpu" => Fact::TreeCpu(
                needs("pids, separated by commas")?
                    .split(',')
                    .map(pid)
                    .collect::<Result<_, _>>()?,
            ),
            "machine" => plain(Fact::Machine)?,
            _ => {
                return Err(format!(
                    "unknown fact '{name}'; the facts are {}",
                    NAMES.join(", ")
                ))
            }
        };
        Ok(Named {
            arg: s.to_string(),
            fact,
        })
    }
}

fn port(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("'{s}' is not a port (1-65535)"))
}

fn pid(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("'{s}' is not a process id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Fact, String> {
        Named::parse(s).map(|n| n.fact)
    }

    #[test]
    fn facts_and_arguments() {
        assert_eq!(parse("sockstat"), Ok(Fact::Sockstat));
        assert_eq!(parse("tcp-port=7000"), Ok(Fact::TcpPort(7000)));
        assert_eq!(parse("tree-rss=42"), Ok(Fact::TreeRss(42)));
        assert_eq!(parse("tree-cpu=4,5,6"), Ok(Fact::TreeCpu(vec![4, 5, 6])));
        assert_eq!(
            parse("sysctl=net.core.somaxconn"),
            Ok(Fact::Sysctl("net.core.somaxconn".into()))
        );
        assert_eq!(Named::parse("tree-cpu=4,5").unwrap().arg, "tree-cpu=4,5");
    }

    #[test]
    fn bad_facts_say_why() {
        assert!(parse("sockstats")
            .unwrap_err()
            .contains("the facts are sockstat,"));
        assert!(parse("sockstat=1")
            .unwrap_err()
            .contains("takes no argument"));
        assert!(parse("tcp-port").unwrap_err().contains("needs a port"));
        assert!(parse("tcp-port=0").unwrap_err().contains("not a port"));
        assert!(parse("tcp-port=65536").unwrap_err().contains("not a port"));
        assert!(parse("tree-cpu=4,,5")
            .unwrap_err()
            .contains("'' is not a process id"));
        assert!(parse("tree-rss=-1")
            .unwrap_err()
            .contains("not a process id"));
        assert!(parse("sysctl=../../etc/shadow").is_err());
        assert!(parse("sysctl=").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn help_lists_every_fact() {
        for name in NAMES {
            assert!(
                FACTS_HELP.contains(&format!("\n  {name} "))
                    || FACTS_HELP.contains(&format!("\n  {name}=")),
                "--help does not list {name}"
            );
            assert!(parse(name).is_ok() || parse(name).unwrap_err().contains("needs"));
        }
    }

    #[test]
    fn net_of_refuses_sysctls() {
        let cli = |args: &[&str]| {
            Cli::try_parse_from([&["c10m-kernel"], args].concat())
                .map_err(|e| e.to_string())
                .and_then(Cli::into_request)
        };
        let r = cli(&["--net-of", "42", "netstat", "cpu-busy"]).unwrap();
        assert_eq!(r.net, PathBuf::from("/proc/42/net"));
        assert_eq!(r.facts.len(), 2);
        assert_eq!(cli(&["sockstat"]).unwrap().net, PathBuf::from("/proc/net"));
        assert!(cli(&["--net-of", "42", "port-range"])
            .unwrap_err()
            .contains("ip netns exec"));
        assert!(cli(&["--net-of", "0", "sockstat"]).is_err());
        assert!(cli(&[]).is_err());
    }
}
