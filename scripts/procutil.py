"""What the project's scripts (bench.py, lab.py) share: /proc readers, a stdout collector, logging.

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


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read(path):
    with open(path) as f:
        return f.read()


def meminfo_slab():
    for line in read("/proc/meminfo").splitlines():
        if line.startswith("Slab:"):
            return int(line.split()[1]) * 1024
    return 0


def slabinfo():
    """name -> bytes held by the cache (whole slabs), or {} when /proc/slabinfo is unreadable."""
    try:
        text = read("/proc/slabinfo")
    except OSError:
        return {}
    caches = {}
    for line in text.splitlines()[2:]:
        f = line.split()
        if len(f) < 6:
            continue
        name, num, objperslab, pagesperslab = f[0], int(f[2]), int(f[4]), int(f[5])
        slabs = math.ceil(num / objperslab) if objperslab else 0
        caches[name] = slabs * pagesperslab * PAGE
    return caches


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
    mem = int(read("/proc/meminfo").split("\n")[0].split()[1]) // 1048576
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
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        f = stat[stat.rindex(")") + 2:].split()
        table[int(d)] = (int(f[1]), comm, int(f[11]) + int(f[12]), int(f[19]))
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
            total += int(read(f"/proc/{p}/statm").split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
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
    f = [int(x) for x in read("/proc/stat").splitlines()[0].split()[1:]]
    return sum(f) - f[3] - f[4]  # everything but idle and iowait


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
