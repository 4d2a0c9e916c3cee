"""What the project's scripts (bench.py, the lab in scripts/lab/) share: /proc parsers and readers,
a stdout collector, logging.

Every /proc format is parsed by a pure function here, `parse_*(text)`, which takes the file's text
and returns plain values (scripts/test_procutil.py tests each one on real text); the readers
(`meminfo_slab()`, `slabinfo()`, `tree_cpu_s()`, ...) only read the file and call the parser.
The parsers mirror the ones in common/src/procfs.rs (which the Rust binaries use); these exist
because the scripts measure from outside the processes they start.
"""

import json
import math
import os
import subprocess
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
KERNEL_CACHES = ("TCP", "TCPv6", "request_sock_TCP", "sock_inode_cache", "filp", "dentry",
                 "eventpoll_epi", "eventpoll_pwq", "skbuff_head_cache", "selinux", "inode_cache")


# ---------------------------------------------------------------------------------------------
# Parsers: text of a /proc file in, plain values out; no I/O

def parse_meminfo(text):
    """/proc/meminfo -> field -> number as written (kB for most fields, a count for HugePages_*)."""
    out = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        f = rest.split()
        if sep and f and f[0].isdigit():
            out[key] = int(f[0])
    return out


def parse_slabinfo(text, page=PAGE):
    """/proc/slabinfo (version 2.1) -> cache name -> bytes held by the cache in whole slabs
    (ceil(num_objs / objperslab) x pagesperslab x page)."""
    caches = {}
    for line in text.splitlines()[2:]:
        f = line.split()
        if len(f) < 6:
            continue
        name, num, objperslab, pagesperslab = f[0], int(f[2]), int(f[4]), int(f[5])
        slabs = math.ceil(num / objperslab) if objperslab else 0
        caches[name] = slabs * pagesperslab * page
    return caches


def parse_pid_stat(text):
    """/proc/PID/stat -> (ppid, comm, CPU ticks used (utime + stime), starttime in ticks).
    comm is what the parentheses hold: it may contain spaces and parentheses itself."""
    comm = text[text.index("(") + 1:text.rindex(")")]
    f = text[text.rindex(")") + 2:].split()  # f[0] is field 3 of proc(5), the state
    return int(f[1]), comm, int(f[11]) + int(f[12]), int(f[19])


def parse_statm(text):
    """/proc/PID/statm -> field -> pages: size, resident, shared, text, lib, data, dt."""
    names = ("size", "resident", "shared", "text", "lib", "data", "dt")
    return dict(zip(names, (int(x) for x in text.split())))


def parse_stat_busy(text):
    """/proc/stat -> ticks the CPUs were busy since boot: the first (`cpu`) line's total less
    idle and iowait."""
    f = [int(x) for x in text.splitlines()[0].split()[1:]]
    return sum(f) - f[3] - f[4]


def parse_sockstat(text):
    """/proc/net/sockstat (or sockstat6) -> protocol -> field -> count, e.g.
    {"TCP": {"inuse": 5, "orphan": 0, "tw": 2, "alloc": 7, "mem": 1}, "sockets": {"used": 9}}.
    `mem` is in pages."""
    out = {}
    for line in text.splitlines():
        proto, sep, rest = line.partition(":")
        if not sep:
            continue
        f = rest.split()
        out[proto] = {f[i]: int(f[i + 1]) for i in range(0, len(f) - 1, 2)
                      if f[i + 1].lstrip("-").isdigit()}
    return out


def parse_netstat(text):
    """/proc/net/netstat (or /proc/net/snmp) -> section -> counter -> value, e.g.
    {"TcpExt": {"ListenOverflows": 0, ...}, "IpExt": {...}}. Each section is a line of names
    followed by a line of values, both starting with "Section:"."""
    out = {}
    lines = text.splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        section = head.split(":", 1)[0]
        out.setdefault(section, {}).update(zip(head.split()[1:], map(int, vals.split()[1:])))
    return out


def parse_net_tcp(text):
    """/proc/net/tcp (or tcp6) -> [(local port, remote port, state)] for every socket listed;
    the state is the kernel's number (1 ESTABLISHED, 6 TIME_WAIT, 10 LISTEN)."""
    rows = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) > 3:
            rows.append((int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16),
                         int(f[3], 16)))
    return rows


def parse_listen_queues(text):
    """/proc/net/tcp (or tcp6) -> local port -> connections waiting in the accept queue, for
    the LISTEN sockets: a listener's rx_queue field is its sk_ack_backlog (summed when several
    listen on one port, with SO_REUSEPORT)."""
    queues = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) > 4 and int(f[3], 16) == 10:
            port = int(f[1].rsplit(":", 1)[1], 16)
            queues[port] = queues.get(port, 0) + int(f[4].split(":")[1], 16)
    return queues


def parse_nf_conntrack_stat(text):
    """/proc/net/stat/nf_conntrack (a header of column names, then one line of hex counters per
    CPU) -> column -> the sum over CPUs. `entries` is the table's size, the same on every line,
    so it is taken once."""
    lines = text.split("\n")
    names = lines[0].split() if lines else []
    out = {n: 0 for n in names}
    rows = [[int(x, 16) for x in line.split()] for line in lines[1:] if line.strip()]
    for row in rows:
        for n, v in zip(names, row):
            out[n] += v
    if rows and "entries" in out:
        out["entries"] = rows[0][names.index("entries")]
    return out


def parse_file_nr(text):
    """/proc/sys/fs/file-nr -> (file handles allocated, allocated but unused (always 0 since
    2.6), fs.file-max)."""
    allocated, unused, file_max = (int(x) for x in text.split()[:3])
    return allocated, unused, file_max


def parse_port_range(text):
    """/proc/sys/net/ipv4/ip_local_port_range -> (first port, last port)."""
    low, high = (int(x) for x in text.split()[:2])
    return low, high


# ---------------------------------------------------------------------------------------------
# Readers

def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read(path):
    with open(path) as f:
        return f.read()


def meminfo_slab():
    """Slab: of /proc/meminfo in bytes (0 if absent)."""
    return parse_meminfo(read("/proc/meminfo")).get("Slab", 0) * 1024


def slabinfo():
    """name -> bytes held by the cache (whole slabs), or {} when /proc/slabinfo is unreadable."""
    try:
        text = read("/proc/slabinfo")
    except OSError:
        return {}
    return parse_slabinfo(text)


class Lines:
    """Collects a process's stdout lines in a thread; keeps the last JSON object of each type."""

    def __init__(self, proc, name):
        self.proc, self.name = proc, name
        self.lines, self.last = [], {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                    self.last[obj.get("type")] = obj
                except ValueError:
                    pass

    def wait_for(self, prefix, timeout):
        end = time.time() + timeout
        while time.time() < end:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        return None


def machine():
    mem = parse_meminfo(read("/proc/meminfo"))["MemTotal"] // 1048576
    hard = subprocess.run(["bash", "-c", "ulimit -Hn"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores, {mem} GiB, Linux {os.uname().release}, RLIMIT_NOFILE hard {hard}"


TICK = os.sysconf("SC_CLK_TCK")


def _proc_table():
    """pid -> (ppid, comm, cpu ticks (utime + stime), starttime) of every process now."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = read(f"/proc/{d}/stat")
        except OSError:
            continue
        table[int(d)] = parse_pid_stat(stat)
    return table


def _descendants(root, table):
    children = {}
    for pid, row in table.items():
        children.setdefault(row[0], []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_rss(pid):
    """RSS of a process and all its descendants, in bytes."""
    total = 0
    for p in _descendants(pid, _proc_table()):
        try:
            total += parse_statm(read(f"/proc/{p}/statm"))["resident"] * PAGE
        except (OSError, ValueError, KeyError):
            pass
    return total


def tree_cpu_s(pids):
    """CPU seconds (user + system) used so far by these processes and all their descendants."""
    table = _proc_table()
    seen = set()
    for pid in pids:
        seen.update(_descendants(pid, table))
    return round(sum(table[p][2] for p in seen if p in table) / TICK, 2)


def _busy_ticks():
    return parse_stat_busy(read("/proc/stat"))


class CpuWindow:
    """Who used the CPU between start() and stop(): this script's own process tree (the run
    being measured) against everything else on the machine.

    Why: on a 2-core machine any other process that works during a ramp takes CPU from it. On
    the reference machine the VM's own agent (PID 1) walks /proc/PID/fd of every process, so it
    costs CPU in proportion to the descriptors open: the more connections, the more it takes.
    The summary names such processes so a slow ramp is read correctly."""

    def start(self):
        self.t0, self.busy0, self.table0 = time.time(), _busy_ticks(), _proc_table()
        return self

    def stop(self):
        busy, table, mine = _busy_ticks(), _proc_table(), os.getpid()
        elapsed = time.time() - self.t0

        def ours(pid):
            seen = 0
            while pid > 1 and seen < 64:
                if pid == mine:
                    return True
                pid = table.get(pid, (0,))[0]
                seen += 1
            return False

        others, kthreads = {}, 0
        for pid, (ppid, comm, ticks, start) in table.items():
            if ours(pid):
                continue
            before = self.table0.get(pid)
            d = ticks - before[2] if before and before[3] == start else ticks
            if d <= 0:
                continue
            if pid == 2 or ppid == 2:
                kthreads += d
            else:
                key = f"{comm} (pid {pid})"
                others[key] = others.get(key, 0) + d
        total = (busy - self.busy0) / TICK
        foreign = sum(others.values()) / TICK
        top = sorted(others.items(), key=lambda kv: -kv[1])[:3]
        return {
            "window_s": round(elapsed, 2),
            "cpu_busy_s": round(total, 2),
            "cpu_available_s": round(elapsed * (os.cpu_count() or 1), 2),
            "cpu_others_s": round(foreign, 2),
            "cpu_kernel_threads_s": round(kthreads / TICK, 2),
            "cpu_run_s": round(total - foreign, 2),
            "others_top": [{"process": k, "cpu_s": round(v / TICK, 2)} for k, v in top],
        }


if __name__ == "__main__":
    # `python3 scripts/procutil.py machine`: the machine line of every record, for the shell scripts.
    if sys.argv[1:] == ["machine"]:
        print(machine())
    else:
        sys.exit("usage: procutil.py machine")
