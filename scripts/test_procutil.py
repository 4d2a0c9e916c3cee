"""Unit tests of procutil: finding and running c10m-kernel, the CPU window's arithmetic and the
stdout collector. The /proc parsers are c10m-kernel's, tested on fixture text in crates/kernel.
Stdlib only: python3 -m unittest discover -s scripts -p 'test_*.py'."""

import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import procutil
from procutil import KernelError, cpu_record

BUILT = os.path.isfile(procutil.KERNEL)


class FindKernelTest(unittest.TestCase):
    def test_c10m_bin_first_then_target_release(self):
        default = os.path.join(procutil.ROOT, "target", "release", "c10m-kernel")
        self.assertEqual(procutil.find_kernel({}), default)
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(procutil.find_kernel({"C10M_BIN": d}), default)  # not there
            here = os.path.join(d, "c10m-kernel")
            open(here, "w").close()
            self.assertEqual(procutil.find_kernel({"C10M_BIN": d}), here)

    def test_missing_binary_says_build(self):
        with mock.patch.object(procutil, "KERNEL", "/nonexistent/c10m-kernel"):
            with self.assertRaises(KernelError) as e:
                procutil.kernel("sockstat")
        self.assertIn("make build", str(e.exception))
        self.assertIsNone(e.exception.code)


class SlabinfoTest(unittest.TestCase):
    def test_unreadable_is_empty(self):
        def unreadable(name, **kw):
            raise KernelError("/proc/slabinfo: Permission denied", procutil.UNREADABLE)
        with mock.patch.object(procutil, "fact", unreadable):
            self.assertEqual(procutil.slabinfo(), {})

    def test_other_failures_are_raised(self):
        def usage(name, **kw):
            raise KernelError("usage", 2)
        with mock.patch.object(procutil, "fact", usage), self.assertRaises(KernelError):
            procutil.slabinfo()


class CpuRecordTest(unittest.TestCase):
    """cpu_record() over two snapshots: pid -> (ppid, comm, cpu ticks, starttime)."""

    ME = 500
    BEFORE = {1: (0, "agent", 1000, 10), 2: (0, "kthreadd", 0, 0), 9: (2, "ksoftirqd/0", 50, 20),
              ME: (1, "python3", 300, 4000), 501: (ME, "c10m-server", 0, 4100),
              700: (1, "old", 10, 5000)}
    AFTER = {1: (0, "agent", 1150, 10), 2: (0, "kthreadd", 0, 0), 9: (2, "ksoftirqd/0", 80, 20),
             ME: (1, "python3", 320, 4000), 501: (ME, "c10m-server", 400, 4100),
             502: (501, "c10m-server", 90, 4200), 700: (1, "pid reused", 40, 6000),
             701: (1, "idle", 0, 6100)}

    def record(self):
        # 2 CPUs for 10 s at 100 ticks a second; 1,000 ticks busy.
        return cpu_record(10.0, 50_000, self.BEFORE, 51_000, self.AFTER, self.ME, 2, tick=100)

    def test_others_kernel_threads_and_the_run(self):
        r = self.record()
        self.assertEqual(r["window_s"], 10.0)
        self.assertEqual(r["cpu_busy_s"], 10.0)
        self.assertEqual(r["cpu_available_s"], 20.0)
        # The agent's 150 ticks, and all 40 of a process whose pid was reused (a new start time).
        self.assertEqual(r["cpu_others_s"], 1.9)
        self.assertEqual(r["cpu_kernel_threads_s"], 0.3)  # children of kthreadd (pid 2)
        self.assertEqual(r["cpu_run_s"], 8.1)  # busy less others: the run's tree, kernel threads
        self.assertEqual(r["others_top"], [{"process": "agent (pid 1)", "cpu_s": 1.5},
                                           {"process": "pid reused (pid 700)", "cpu_s": 0.4}])

    def test_descendants_of_this_process_are_ours(self):
        names = [o["process"] for o in self.record()["others_top"]]
        self.assertFalse(any("c10m-server" in n or "python3" in n for n in names))


class LinesTest(unittest.TestCase):
    def test_lines_and_last_json_of_each_type(self):
        script = ('print("listening on 127.0.0.1:7000"); print(\'{"type":"tick","n":1}\'); '
                  'print("{not json"); print(\'{"type":"tick","n":2}\')')
        p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        out = procutil.Lines(p, "test")
        self.assertEqual(out.wait_for("listening", 10), "listening on 127.0.0.1:7000")
        p.wait(10)
        out.thread.join(10)
        p.stdout.close()
        self.assertEqual(out.last["tick"], {"type": "tick", "n": 2})
        self.assertEqual(len(out.lines), 4)
        self.assertIsNone(out.wait_for("never", 0.1))


@unittest.skipUnless(BUILT, f"{procutil.KERNEL} is not built (make build)")
class KernelOnThisMachineTest(unittest.TestCase):
    """procutil's readers, through c10m-kernel on this machine's /proc."""

    def test_readers(self):
        self.assertGreater(procutil.meminfo_slab(), 0)
        self.assertGreaterEqual(procutil.tree_cpu_s([os.getpid()]), 0)
        self.assertGreater(procutil.tree_rss(os.getpid()), 0)
        self.assertIn("GiB, Linux", procutil.machine())
        busy, table = procutil._snapshot()
        self.assertGreater(busy, 0)
        self.assertEqual(table[os.getpid()][1], os.path.basename(sys.executable)[:15])
        self.assertIn("cpu_run_s", procutil.CpuWindow().start().stop())

    def test_one_object_keyed_by_the_facts_as_given(self):
        k = procutil.kernel("sockstat", "tree-cpu=1", "sysctl=net.core.somaxconn")
        self.assertEqual(set(k), {"sockstat", "tree-cpu=1", "sysctl=net.core.somaxconn"})
        self.assertIsInstance(k["sysctl=net.core.somaxconn"], str)

    def test_failures_carry_the_exit_status(self):
        with self.assertRaises(KernelError) as e:
            procutil.kernel("no-such-fact")
        self.assertEqual(e.exception.code, 2)
        self.assertIn("unknown fact", str(e.exception))
        with self.assertRaises(KernelError) as e:
            procutil.kernel("sockstat", net_of=2**30)  # above any pid_max: no such process
        self.assertEqual(e.exception.code, procutil.UNREADABLE)
        self.assertIn(f"/proc/{2**30}/net/sockstat", str(e.exception))


if __name__ == "__main__":
    unittest.main()


class EnvNumTest(unittest.TestCase):
    """A number from the environment, or a usage message and exit status 2, never a traceback."""

    def test_default_when_unset_or_empty(self):
        with mock.patch.dict(os.environ, {"X_N": ""}):
            self.assertEqual(procutil.env_num("X_N", 7), 7)
            self.assertEqual(procutil.env_num("X_UNSET_N", 7), 7)

    def test_parses_underscores_and_floats(self):
        with mock.patch.dict(os.environ, {"X_N": "1_000_000", "X_F": "2.5"}):
            self.assertEqual(procutil.env_num("X_N", 0), 1_000_000)
            self.assertEqual(procutil.env_num("X_F", 0.0, float), 2.5)

    def test_bad_or_low_values_exit_2(self):
        for value, low in (("abc", None), ("1.5", None), ("0", 1), ("nan", None), ("-1", 0)):
            kind = float if value == "nan" else int
            with mock.patch.dict(os.environ, {"X_N": value}), mock.patch("sys.stderr"):
                with self.assertRaises(SystemExit) as e:
                    procutil.env_num("X_N", 1, kind, low)
                self.assertEqual(e.exception.code, 2, value)

    def test_lists(self):
        with mock.patch.dict(os.environ, {"X_L": "19000, 200000"}):
            self.assertEqual(procutil.env_nums("X_L", "1"), [19000, 200000])
        self.assertEqual(procutil.env_nums("X_UNSET_L", "1,2"), [1, 2])
        with mock.patch.dict(os.environ, {"X_L": "1,,2"}), mock.patch("sys.stderr"):
            with self.assertRaises(SystemExit):
                procutil.env_nums("X_L", "1")
