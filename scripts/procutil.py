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
