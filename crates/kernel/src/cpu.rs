//! `/proc/stat` and `/sys/devices/system/cpu/online`: how busy the CPUs have been, and how many
//! there are.
//!
//! The first line of `/proc/stat`, `cpu  user nice system idle iowait irq softirq steal guest
//! guest_nice`, is the time of all CPUs together since boot in clock ticks (`_SC_CLK_TCK`, usually
//! 100 per second). Busy is everything but `idle` and `iowait` (waiting for a disk with nothing
//! else to run is idle too). `guest` and `guest_nice` are also counted inside `user` and `nice`;
//! the sum here counts them twice, which only matters on a machine that runs virtual machines.
//! `online` lists the CPUs that can run tasks now as ranges, `0-1` or `0-3,6`: glibc counts it for
//! `sysconf(_SC_NPROCESSORS_ONLN)`, which is Python's `os.cpu_count()`.

/// Ticks the CPUs were busy since boot: the `cpu` line's total less `idle` and `iowait`; `None`
/// when there is no `cpu` line with at least those five numbers.
pub fn parse_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks = line
        .split_whitespace()
        .skip(1)
        .map(|w| w.parse::<u64>().ok())
        .collect::<Option<Vec<u64>>>()?;
    let (idle, iowait) = (*ticks.get(3)?, *ticks.get(4)?);
    let total = ticks.iter().fold(0u64, |a, t| a.saturating_add(*t));
    Some(total.saturating_sub(idle).saturating_sub(iowait))
}

/// How many CPUs a list such as `0-3,6\n` names; `None` if it is not such a list.
pub fn parse_cpu_count(list: &str) -> Option<u32> {
    let mut count = 0u32;
    for part in list.trim().split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let one = part.parse::<u32>().ok()?;
                (one, one)
            }
        };
        count = count.checked_add(last.checked_sub(first)?.checked_add(1)?)?;
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The head of /proc/stat on a 2-CPU machine.
    const STAT: &str = "cpu  105402 0 29834 9029927 1126 0 6108 13333 0 0
cpu0 49257 0 14911 4518461 576 0 3190 6362 0 0
cpu1 56145 0 14923 4511466 549 0 2918 6970 0 0
intr 3133279 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2 2 10 0 2 0 0 9181 214 0 759
ctxt 10876543
btime 1790000000
processes 28602
procs_running 1
procs_blocked 0
";

    #[test]
    fn busy_is_all_but_idle_and_iowait() {
        // user 105402 + system 29834 + irq 0 + softirq 6108 + steal 13333
        assert_eq!(parse_busy_ticks(STAT), Some(105402 + 29834 + 6108 + 13333));
        // Older kernels print fewer columns; the sum is over what there is.
        assert_eq!(parse_busy_ticks("cpu  10 1 5 100 7\n"), Some(16));
        assert_eq!(parse_busy_ticks("cpu  10 1 5 100\n"), None);
        assert_eq!(parse_busy_ticks("cpu0 1 2 3 4 5\n"), None);
        assert_eq!(parse_busy_ticks("cpu  1 x 3 4 5\n"), None);
        assert_eq!(parse_busy_ticks(""), None);
    }

    #[test]
    fn online_cpus() {
        assert_eq!(parse_cpu_count("0-1\n"), Some(2));
        assert_eq!(parse_cpu_count("0\n"), Some(1));
        assert_eq!(parse_cpu_count("0-3,6,8-9\n"), Some(7));
        assert_eq!(parse_cpu_count("3-1"), None);
        assert_eq!(parse_cpu_count(""), None);
        assert_eq!(parse_cpu_count("0-4294967295"), None);
    }
}
