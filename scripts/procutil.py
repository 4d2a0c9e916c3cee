"""What the project's scripts (bench.py, cluster.py, the lab in scripts/lab/) share: the kernel's
figures, a stdout collector, logging, and the CPU window of a run.

Every figure of /proc and /sys (sockstat, slab, meminfo, TCP counters, process CPU time...) comes
from the c10m-kernel program (crates/kernel), the same parsers c10m-server and c10m-client use:
`kernel("sockstat", "meminfo")` runs it and returns its JSON object, {fact: value}.
`c10m-kernel --help` lists the facts. The scripts measure from outside the processes they start,
so they run it rather than ask the processes.
"""

import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_kernel(env=os.environ):
    """c10m-kernel where the scripts find c10m-server and c10m-client: in C10M_BIN when it is
    there, else in target/release."""
    found = os.path.join(env.get("C10M_BIN") or os.path.join(ROOT, "target", "release"), "c10m-kernel")
    return found if os.path.isfile(found) else os.path.join(ROOT, "target", "release", "c10m-kernel")


KERNEL = find_kernel()
KERNEL_CACHES = ("TCP", "TCPv6", "request_sock_TCP", "sock_inode_cache", "filp", "dentry",
                 "eventpoll_epi", "eventpoll_pwq", "skbuff_head_cache", "selinux", "inode_cache")
UNREADABLE = 1  # c10m-kernel's exit status when a file could not be read


class KernelError(RuntimeError):
    """c10m-kernel failed; `code` is its exit status (None: it could not be started)."""

    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = code


def kernel(*facts, net_of=None, prefix=()):
    """{fact: value} from c10m-kernel, for these facts. `net_of`: a pid whose network namespace's
    /proc/net facts to read (through /proc/PID/net); `prefix`: a command to run it under, such as
    ["ip", "netns", "exec", NAME]."""
    cmd = [*prefix, KERNEL, *(["--net-of", str(net_of)] if net_of else []), *facts]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise KernelError(f"{KERNEL}: {e.strerror}: build it first (make build)", None) from None
    if r.returncode != 0:
        raise KernelError(f"{' '.join(cmd)}: {r.stderr.strip() or f'exit {r.returncode}'}",
                          r.returncode)
    return json.loads(r.stdout)


def fact(name, **kw):
    """The value of one fact: fact("meminfo")["slab"]."""
    return kernel(name, **kw)[name]


def env_num(name, default, kind=int, low=None):
    """The number in environment variable `name` (or `default`), as `kind`; anything else, or a
    value under `low`, ends the script with a usage message and exit status 2."""
    text = os.environ.get(name)
    return default if not text else _number(name, text, kind, low)


def env_nums(name, default, kind=int, low=None):
    """A comma-separated list of numbers in `name` (or in the string `default`), each checked as
    env_num checks one."""
    return [_number(name, part.strip(), kind, low) for part in (os.environ.get(name) or default).split(",")]


def _number(name, text, kind, low):
    try:
        value = kind(text.replace("_", ""))
    except ValueError:
        value = None
    if value is None or value != value or (low is not None and value < low):
        want = "an integer" if kind is int else "a number"
        bound = f" of at least {low:,}" if low is not None else ""
        log(f"{os.path.basename(sys.argv[0])}: {name}={text!r}: expected {want}{bound}")
        sys.exit(2)
    return value


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read(path):
    with open(path) as f:
        return f.read()


def meminfo_slab():
    """Slab: of /proc/meminfo in bytes (0 if absent)."""
    return fact("meminfo")["slab"]


def slabinfo():
    """name -> bytes held by the cache (whole slabs), or {} when /proc/slabinfo is unreadable
    (it is root's only)."""
    try:
        return fact("slab")
    except KernelError as e:
        if e.code == UNREADABLE:
            return {}
        raise


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
    """The machine line every record starts with: cores, memory, kernel, RLIMIT_NOFILE's hard limit."""
    return fact("machine")


TICK = os.sysconf("SC_CLK_TCK")


def tree_rss(pid):
    """RSS of a process and all its descendants, in bytes."""
    return fact(f"tree-rss={pid}")


def tree_cpu(pids):
    """CPU seconds used so far by these processes and all their descendants: {user_s, system_s}."""
    return fact("tree-cpu=" + ",".join(str(p) for p in pids))


def tree_cpu_s(pids):
    """CPU seconds (user + system) used so far by these processes and all their descendants."""
    c = tree_cpu(pids)
    return round(c["user_s"] + c["system_s"], 2)


def _snapshot():
    """(busy ticks of /proc/stat, pid -> (ppid, comm, cpu ticks (utime + stime), starttime)), read
    in one run of c10m-kernel."""
    k = kernel("cpu-busy", "procs")
    return k["cpu-busy"], {int(pid): (p["ppid"], p["comm"], p["utime"] + p["stime"], p["start_ticks"])
                           for pid, p in k["procs"].items()}


def cpu_record(elapsed, busy0, table0, busy, table, mine, cpus, tick=TICK):
    """Who used the CPU over a window of `elapsed` seconds: `busy0`/`table0` and `busy`/`table`
    are snapshots at its two ends (_snapshot()); `mine` the pid whose tree is the run measured."""
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
        before = table0.get(pid)
        d = ticks - before[2] if before and before[3] == start else ticks
        if d <= 0:
            continue
        if pid == 2 or ppid == 2:
            kthreads += d
        else:
            key = f"{comm} (pid {pid})"
            others[key] = others.get(key, 0) + d
    total = (busy - busy0) / tick
    foreign = sum(others.values()) / tick
    top = sorted(others.items(), key=lambda kv: -kv[1])[:3]
    return {
        "window_s": round(elapsed, 2),
        "cpu_busy_s": round(total, 2),
        "cpu_available_s": round(elapsed * cpus, 2),
        "cpu_others_s": round(foreign, 2),
        "cpu_kernel_threads_s": round(kthreads / tick, 2),
        "cpu_run_s": round(total - foreign, 2),
        "others_top": [{"process": k, "cpu_s": round(v / tick, 2)} for k, v in top],
    }


class CpuWindow:
    """Who used the CPU between start() and stop(): this script's own process tree (the run
    being measured) against everything else on the machine.

    Why: on a 2-core machine any other process that works during a ramp takes CPU from it. On
    the reference machine the VM's own agent (PID 1) walks /proc/PID/fd of every process, so it
    costs CPU in proportion to the descriptors open: the more connections, the more it takes.
    The summary names such processes so a slow ramp is read correctly."""

    def start(self):
        self.t0 = time.time()
        self.busy0, self.table0 = _snapshot()
        return self

    def stop(self):
        busy, table = _snapshot()
        return cpu_record(time.time() - self.t0, self.busy0, self.table0, busy, table,
                          os.getpid(), os.cpu_count() or 1)


if __name__ == "__main__":
    # `python3 scripts/procutil.py machine`: the machine line of every record, for the shell scripts.
    if sys.argv[1:] == ["machine"]:
        try:
            print(machine())
        except KernelError as e:
            sys.exit(f"procutil.py: {e}")
    else:
        sys.exit("usage: procutil.py machine")
