"""bench-echo's arithmetic on made-up rounds: medians over rounds, knees, c10m / floor ratios."""
import importlib.util
import json
import os
import re
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("bench_echo", os.path.join(HERE, "bench-echo.py"))
be = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(be)


def step(rate, delivered, p99, server_us, machine_us):
    return {"offered_per_s": rate, "delivered_per_s": delivered, "echoed": delivered * 5,
            "rtt_p50_us": 100, "rtt_p99_us": p99, "rtt_p999_us": p99 * 2, "in_flight": 0,
            "server_user_us_per_msg": 1.0, "server_system_us_per_msg": server_us - 1.0,
            "client_user_us_per_msg": 1.0, "client_system_us_per_msg": 10.0,
            "machine_us_per_msg": machine_us, "window_s": 5.0}


def run(kind, steps):
    return {"server": kind, "connections": 1000, "engine": "socket", "server_processes": None,
            "warm_up": {}, "established": 1000, "echo_mismatches": 0, "failed": {}, "ramp_s": 1.0,
            "steps": steps, "knee_p99_1ms_per_s": be.knee(steps, be.P99_SHARP_US),
            "knee_p99_10ms_per_s": be.knee(steps, be.P99_KNEE_US), "ok": True}


class CombineTest(unittest.TestCase):
    def test_median_per_rate_over_the_rounds_that_reached_it(self):
        a = run("c10m", [step(10_000, 10_000, 500, 10, 30), step(20_000, 20_000, 20_000, 12, 28)])
        b = run("c10m", [step(10_000, 10_000, 700, 14, 34), step(20_000, 20_000, 900, 11, 27),
                         step(40_000, 30_000, 30_000, 9, 25)])
        c = run("c10m", [step(10_000, 10_000, 600, 12, 32)])
        got = be.combine([a, b, c])
        by_rate = {s["offered_per_s"]: s for s in got["steps"]}
        self.assertEqual(by_rate[10_000]["rounds"], 3)
        self.assertEqual(by_rate[10_000]["rtt_p99_us"], 600)
        self.assertEqual(by_rate[10_000]["server_system_us_per_msg"], 11.0)
        self.assertEqual(by_rate[20_000]["rounds"], 2)
        self.assertEqual(by_rate[40_000]["rounds"], 1)
        # knees 1 ms: 10k, 20k, 10k -> 10k; 10 ms: 10k, 20k, 10k -> 10k
        self.assertEqual(got["knee_p99_1ms_per_s"], 10_000)
        self.assertEqual(got["knee_p99_10ms_per_s"], 10_000)
        self.assertEqual(len(got["rounds"]), 3)

    def test_a_round_with_no_knee_counts_as_zero(self):
        bad = run("floor", [step(10_000, 5_000, 50_000, 10, 30)])
        good = run("floor", [step(10_000, 10_000, 500, 10, 30)])
        self.assertEqual(be.combine([bad, bad, good])["knee_p99_1ms_per_s"], 0)


class CompareTest(unittest.TestCase):
    def test_ratios_only_where_both_are_under_the_knee(self):
        c10m = be.combine([run("c10m", [step(10_000, 10_000, 500, 10, 30), step(20_000, 20_000, 800, 12, 33),
                                        step(40_000, 20_000, 50_000, 9, 20)])])
        floor = be.combine([run("floor", [step(10_000, 10_000, 500, 8, 30), step(20_000, 20_000, 800, 12, 30),
                                          step(40_000, 40_000, 900, 9, 20)])])
        got = be.compare(c10m, floor)
        self.assertEqual(got["cpu_per_msg_ratios"], [1.25, 1.0])
        self.assertEqual(got["cpu_per_msg_ratio_median"], 1.125)
        self.assertEqual(got["machine_cpu_per_msg_ratios"], [1.0, 1.1])
        self.assertEqual(got["knee_p99_1ms_ratio"], 0.5)
        self.assertIn("| knee, p99 <= 1 ms", be.markdown({
            "machine": "m", "command": "c", "date": "d", "rounds": 1,
            "sizes": [{"connections": 1000, "c10m": c10m, "floor": floor, "compare": got}]}))


class TurnOrderTest(unittest.TestCase):
    def test_each_server_goes_first_in_every_other_round(self):
        self.assertEqual([be.turn_order(i)[0] for i in range(4)], ["c10m", "floor", "c10m", "floor"])
        self.assertTrue(all(sorted(be.turn_order(i)) == ["c10m", "floor"] for i in range(4)))


class ArrangementTest(unittest.TestCase):
    def test_free_unless_told(self):
        for text in (None, "", "none", " None "):
            self.assertEqual(be.arrangement(text, {0, 1}, True), (None, None))

    def test_the_client_takes_the_highest_cpu_and_apart_gives_the_servers_the_rest(self):
        self.assertEqual(be.arrangement("client", {0, 1}, True), (1, None))
        self.assertEqual(be.arrangement("apart", {0, 2, 5}, True), (5, [0, 2]))

    def test_an_unknown_name_one_cpu_or_no_taskset_is_a_usage_error(self):
        for text, allowed, have in (("both", {0, 1}, True), ("1", {0, 1}, True), ("apart", {0}, True),
                                    ("client", {0, 1}, False)):
            with self.assertRaises(SystemExit) as e:
                be.arrangement(text, allowed, have)
            self.assertEqual(e.exception.code, 2)


class ApartTest(unittest.TestCase):
    def test_the_servers_get_every_other_cpu(self):
        self.assertEqual(be.others(1, {0, 1}), [0])
        self.assertEqual(be.others(3, {0, 1, 2, 3}), [0, 1, 2])

    def test_taskset_wraps_a_command_only_when_told(self):
        self.assertEqual(be.pinned_to(1, ["c"]), ["taskset", "-c", "1", "c"])
        self.assertEqual(be.pinned_to([0, 2], ["c"]), ["taskset", "-c", "0,2", "c"])
        self.assertEqual(be.pinned_to(None, ["c"]), ["c"])


class RatesTest(unittest.TestCase):
    def test_rates_grow_by_the_factor_to_two_digits(self):
        rates = be.rates()
        self.assertEqual(rates[:6], [5000, 10000, 14000, 20000, 28000, 40000])
        self.assertTrue(all(b > a for a, b in zip(rates, rates[1:])))


class ReferenceTest(unittest.TestCase):
    """What the code plans with agrees with the committed run of make bench-echo."""

    def setUp(self):
        root = os.path.dirname(HERE)
        with open(os.path.join(root, "bench", "reference", "echo", "summary.json")) as f:
            ref = json.load(f)
        self.million = next(s for s in ref["sizes"] if s["connections"] == 1_000_000)
        with open(os.path.join(root, "crates", "limits", "src", "costs.rs")) as f:
            costs = f.read()
        block = costs[costs.index("MESSAGE_CPU: CpuCost"):]
        self.server_us = float(re.search(r"server_us: ([\d.]+)", block).group(1))
        self.receive_us = float(re.search(r"receive_path_us: ([\d.]+)", block).group(1))

    def test_message_cpu_is_the_million_step_at_the_knee(self):
        c10m = self.million["c10m"]
        knee = c10m["knee_p99_10ms_per_s"]
        at = next(s for s in c10m["steps"] if s["offered_per_s"] == knee)
        self.assertAlmostEqual(self.server_us, at["server_user_us_per_msg"] + at["server_system_us_per_msg"],
                               delta=0.05)
        self.assertAlmostEqual(self.receive_us, at["client_user_us_per_msg"] + at["client_system_us_per_msg"],
                               delta=0.05)

    def test_the_tun_bench_pings_under_the_million_knee(self):
        with open(os.path.join(HERE, "bench.py")) as f:
            default = int(re.search(r'env_num\("BENCH_MESSAGE_RATE", ([\d_]+)', f.read()).group(1))
        self.assertLessEqual(default, self.million["c10m"]["knee_p99_10ms_per_s"])


if __name__ == "__main__":
    unittest.main()
