"""sched-timeline's reading of `perf sched timehist` on a made-up trace: stretches split over bins,
the client's moves between CPUs, and the bins where it and the server share a CPU."""
import importlib.util
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("sched_timeline", os.path.join(HERE, "sched-timeline.py"))
st = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(st)

HEADER = """           time    cpu  task name                       wait time  sch delay   run time
                        [tid/pid]                          (msec)     (msec)     (msec)
--------------- ------  ------------------------------  ---------  ---------  ---------
"""


def line(t, cpu, task, run_ms):
    return f"{t:15.6f} [{cpu:04d}]  {task:<30}  {0:9.3f}  {0:9.3f}  {run_ms:9.3f} \n"


def trace(stretches):
    """Back-to-back stretches per CPU from t=100 s: [(cpu, task, ms), ...] in order per CPU."""
    now, text = {}, HEADER
    for cpu, task, ms in stretches:
        now[cpu] = now.get(cpu, 100.0) + ms / 1000
        text += line(now[cpu], cpu, task, ms)
    return text


class ParseTest(unittest.TestCase):
    def test_rows_and_only_rows(self):
        text = HEADER + line(5.5, 1, "c10m-client[42]", 0.25) + "garbage\n" + line(5.6, 0, "<idle>", 12.5)
        self.assertEqual(st.parse_timehist(text), [(5.5, 1, "c10m-client[42]", 0.25), (5.6, 0, "<idle>", 12.5)])

    def test_hostile_text_is_skipped_not_raised(self):
        self.assertEqual(st.parse_timehist("\x00\n  1.0 [x] a 1 2 3\n[0000]\n"), [])
        self.assertEqual(st.bins([]), {})


class BinsTest(unittest.TestCase):
    def test_a_stretch_is_split_over_the_bins_it_spans(self):
        rows = [(10.0, 0, "<idle>", 0.0), (10.15, 0, "c10m-client[1]", 150.0)]
        lanes = st.bins(rows)
        self.assertAlmostEqual(lanes[0][0]["client"], 100.0, places=6)
        self.assertAlmostEqual(lanes[0][1]["client"], 50.0, places=6)
        self.assertEqual(st.kind_of("floor-echo[3]"), "server")
        self.assertEqual(st.kind_of("kworker/0:1-eve[9]"), "other")


class CountsTest(unittest.TestCase):
    def test_moves_and_bins_pulled_together(self):
        # Bin 1: client and server on CPU 0, CPU 1 idle. Bin 2: the client moved to CPU 1.
        text = trace([
            (0, "c10m-client[1]", 60), (0, "c10m-server[2]", 40), (1, "c10m-server[3]", 100),
            (0, "c10m-client[1]", 60), (0, "c10m-server[2]", 40), (1, "<idle>", 100),
            (0, "c10m-server[2]", 100), (1, "c10m-client[1]", 100),
        ])
        c = st.counts(st.bins(st.parse_timehist(text)))
        self.assertEqual(c["client_moves"], 1)
        self.assertEqual(c["pulled_together"], 1)

    def test_one_cpu_counts_nothing(self):
        self.assertEqual(st.counts({0: [dict.fromkeys(st.KINDS, 1.0)]})["pulled_together"], 0)


if __name__ == "__main__":
    unittest.main()
