"""fd-limits (C12): file descriptors; the per-process limit, its hard cap and the system's.

RLIMIT_NOFILE is per process (getrlimit(2)) and every connection is one descriptor: past the soft
limit accept() fails with EMFILE, while the kernel still completes handshakes into the accept
queue, so the client sees more established than the server holds. The server backs off and keeps
serving. Any process may raise its soft limit up to its hard limit; raising the hard limit needs
CAP_SYS_RESOURCE, and fs.nr_open caps it for everyone (do_prlimit() in kernel/sys.c). fs.file-max
is the machine-wide count of open files (past it, ENFILE); /proc/sys/fs/file-nr shows it beside
the number allocated now. docs/labs/fd-limits.md is the worksheet.
"""

import resource
import subprocess
import time

from procutil import kernel

from ..framework import fmt, main_errno
from ..predictions import plus_minus, quantity, text

NAME = "fd-limits"
CLAIMS = "C12"
TITLE = "File descriptors: the per-process limit, its hard cap and the system's"


PREDICTIONS = [
    quantity("held", "A server under ulimit -n 1024, 1,100 clients: how many connections does it "
             "hold?", "connections", plus_minus(16),
             "Every connection is one descriptor, and the server keeps a few of its 1,024 for "
             "itself (the listener, epoll, stdio): a little under 1,024.",
             paragraph="RLIMIT_NOFILE is per process"),
    quantity("errno", "What does the server's accept() fail with past the limit?", "errno name",
             text(), "The process's own descriptor table is full: EMFILE (ENFILE would be the "
             "machine's file-max).", paragraph="RLIMIT_NOFILE is per process"),
    quantity("client_established", "How many of the 1,100 does the client see established?",
             "connections", plus_minus(0),
             "The kernel completes handshakes into the accept queue whether accept() succeeds or "
             "not: all 1,100.", paragraph="The kernel does not wait for `accept()`."),
]


def run(lab):
    ns = lab.ns("fd", ["198.18.0.1"])
    limit = 1024

    def ulimit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    s = lab.server(ns, "198.18.0.1:7000", "--max-conns", 2000, preexec=ulimit)
    lab.commands[-1] = f"(ulimit -n {limit}; {lab.commands[-1]})"
    start = s.last("start") or {}
    c1 = lab.client(ns, "-n", 1100, "--hold", 2, "--quiet")
    held = max((t["connections"] for t in s.json("tick")), default=0)
    emfile = sum(t.get("accept_errors", {}).get("EMFILE", 0) for t in s.json("tick"))
    time.sleep(0.5)
    c2 = lab.client(ns, "-n", 10, "--ping-interval", 0.5, "--hold", 2, "--quiet")
    alive = s.p.poll() is None
    code = s.stop()
    ss = s.last("summary") or {}
    emfile = max(emfile, ss.get("accept_errors", {}).get("EMFILE", 0))
    hard_try = subprocess.run(["sh", "-c", "ulimit -Hn 30000 2>&1; echo exit=$?"],
                              capture_output=True, text=True).stdout.strip().replace("\n", " ")
    host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    k = kernel("sysctl=fs.nr_open", "file-nr")
    nr_open = int(k["sysctl=fs.nr_open"])
    files_allocated, file_max = k["file-nr"]["allocated"], k["file-nr"]["max"]
    lab.row("server under ulimit -n 1024: soft / hard", "often 1024 (C12)",
            f"{start.get('fd_soft', '?')} / {start.get('fd_hard', '?')}")
    lab.row("1,100 clients: the server held", "EMFILE near the limit",
            f"{fmt(held)} (+ its own {start.get('fds_base', '?')} fds); accept() EMFILE x {fmt(emfile)}")
    lab.row("client side of the same run", "-",
            f"{fmt(c1.last('summary')['established'])} established: the kernel finishes handshakes into the accept queue")
    lab.row("after: 10 new clients ping the same server", "-",
            f"{fmt(c2.last('summary')['pings_ok'])} pings echoed; server alive: {alive}; exit {code} on SIGTERM")
    lab.row("this shell's hard limit / raising it to 30,000 (ulimit -Hn 30000, under fs.nr_open)",
            "-",
            f"{fmt(host_hard)} / {hard_try}")
    lab.row("fs.nr_open: the ceiling for any hard limit", "-", fmt(nr_open))
    lab.row("fs.file-max (system-wide) / allocated now", "the system-wide limit (C12)",
            f"{fmt(file_max)} / {fmt(files_allocated)}")
    lab.measure("held", held)
    lab.measure("errno", main_errno(ss.get("accept_errors") or {}))
    lab.measure("client_established", c1.last("summary")["established"])
    lab.check("the server stopped near 1,020 and saw EMFILE", 1000 <= held <= limit and emfile > 0)
    lab.check("it survived and still echoes", alive and code == 0 and c2.last("summary")["pings_ok"] >= 10)
