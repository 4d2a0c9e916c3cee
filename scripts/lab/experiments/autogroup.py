"""autogroup (C15, C16): who gets the CPU; one session for all the workers, or one each.

With kernel.sched_autogroup_enabled = 1, every session (setsid()) gets a task group of its own
(kernel/sched/autogroup.c), and the fair scheduler (CFS, EEVDF since Linux 6.6) shares the CPU
among runnable groups first, then among the tasks in each. Workers and client processes in one
session per side are two groups, and a busy program started on its own gets a third of the
machine; with a session per process (the default of c10m-server --workers and c10m-client
--processes), the flood is many groups and the busy program gets about its fair share of them. The switch is global: the experiment sets it to 1
if it is not, and puts it back whatever happens. Inside a cpu cgroup of its own, the cgroup is
the group and sessions do not matter. docs/labs/autogroup.md is the worksheet.
"""

import contextlib
import os
import subprocess
import sys

from procutil import read, tree_cpu_s

from ..errors import LabError, LabSkipped
from ..framework import fmt
from ..predictions import plus_minus, quantity
from ..run import machine_sysctl, wait_for

NAME = "autogroup"
CLAIMS = "C15, C16"
TITLE = "Who gets the CPU: one session for all the workers, or one each"


PREDICTIONS = [
    quantity("one_session_share", "A busy program in its own session runs beside the server's "
             "workers and the client's processes (two per CPU on each side), each side keeping "
             "ONE session for all of its processes. How many CPUs does the busy program get?",
             "CPUs", plus_minus(0.15),
             "With autogroup the scheduler shares the CPUs among sessions first: 3 sessions, so "
             "the busy program gets a third of the machine's CPUs (2 / 3 of one on 2 CPUs).",
             paragraph="Fair to groups first, then to tasks."),
    quantity("per_process_share", "The same, but every worker and client process in a session of "
             "its own (the default): how many CPUs does the busy program get?", "CPUs",
             plus_minus(0.1),
             "Now every process is a session: 4 per CPU and the busy program's own, 9 on 2 CPUs, "
             "so it gets 2 / 9 of a CPU there.",
             paragraph="Who starts the processes decides."),
]

AUTOGROUP = "/proc/sys/kernel/sched_autogroup_enabled"
BUSY_LOOP = "import time\nend = time.time() + {secs}\nwhile time.time() < end: pass\nprint(time.process_time())"


def run(lab):
    if not os.path.exists(AUTOGROUP):
        raise LabSkipped(f"{AUTOGROUP} is absent: this kernel has no CONFIG_SCHED_AUTOGROUP, so "
                         "sessions do not change how the CPU is shared")
    ncpu = os.cpu_count() or 1
    per_side, n, busy_s, hold = 2 * ncpu, 2000 * 2 * ncpu, 4, 8
    ns = lab.ns("sched", ["198.18.0.1"])
    before = read(AUTOGROUP).strip()
    with machine_sysctl(AUTOGROUP, "1") if before != "1" else contextlib.nullcontext():
        results = {}
        for one in (True, False):
            extra = ["--one-session"] if one else []
            s = lab.server(ns, "198.18.0.1:7000", "--workers", per_side, "--quiet", *extra)
            c = lab.client_start(ns, "-n", n, "--processes", per_side, "--hold", hold,
                                 "--ping-interval", 0.005, "--quiet", *extra)
            if not wait_for(lambda: ns.sockstat()["tcp_inuse"] >= 2 * n or c.p.poll() is not None,
                            60, 0.05):
                raise LabError("the client did not reach its count:\n" + c.dump())
            # A busy program started on its own, as any other program would be: its own session.
            busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(secs=busy_s)],
                                    stdout=subprocess.PIPE, text=True, start_new_session=True)
            flood0 = tree_cpu_s([s.p.pid, c.p.pid])
            got = float(busy.communicate(timeout=busy_s + 30)[0])
            flood = tree_cpu_s([s.p.pid, c.p.pid]) - flood0
            if c.wait(hold + 60) != 0:
                raise LabError("the client failed:\n" + c.dump())
            s.stop()
            summary = c.last("summary")
            results[one] = (got / busy_s, flood / busy_s, summary)
    (one_share, one_flood, one_sum), (own_share, own_flood, own_sum) = results[True], results[False]
    groups_one, groups_own = 3, 2 * per_side + 1
    lab.row(f"kernel.sched_autogroup_enabled (the fair scheduler, EEVDF since Linux 6.6, shares the CPU among sessions first); {ncpu} CPUs",
            "-", f"{before}" + ("" if before == "1" else " (set to 1 for the experiment, then put back)"))
    lab.row(f"a busy program in its own session, against {per_side} workers and {per_side} client "
            f"processes in ONE session per side (--one-session)", "-",
            f"{one_share:.2f} CPUs (fair share among {groups_one} sessions: "
            f"{min(1, ncpu / groups_one):.2f}); the flood {one_flood:.2f} CPUs")
    lab.row("the same against a session per process (the default)", "-",
            f"{own_share:.2f} CPUs (fair share among {groups_own} sessions: "
            f"{min(1, ncpu / groups_own):.2f}); the flood {own_flood:.2f} CPUs")
    lab.row("pings echoed in the 8 s hold (every 5 ms per connection: as many as the CPU allows)", "-",
            f"one session per side {fmt(one_sum['pings_ok'])}, a session per process "
            f"{fmt(own_sum['pings_ok'])}")
    lab.measure("one_session_share", round(one_share, 2))
    lab.measure("per_process_share", round(own_share, 2))
    lab.check("one session per side left the busy program more CPU than a session per process",
              one_share > 1.5 * own_share)
    lab.check("a session per process: the busy program got about its fair share (within 2x)",
              own_share <= 2 * ncpu / groups_own)
    lab.check("every ping was echoed intact in both runs",
              all(x["echo_mismatches"] == 0 and x["pings_ok"] == x["pings_sent"] > 0 and not x["failed"]
                  for x in (one_sum, own_sum)))
    lab.note("The busy program measures its own CPU (time.process_time()); the flood's is read from "
             "/proc/PID/stat for its processes over the same seconds. On a machine with a monitoring "
             "agent, the agent is such a busy program: in `make bench` it was one (docs/scale.md).")
