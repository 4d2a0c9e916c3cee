"""The course sheets are generated from the lab's JSON and nothing else: every number in a
student or teacher sheet appears in the results file its sheet was made from. Runs course.py on
a fixture result and on the committed sheets' own results when present."""

import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import course  # noqa: E402
from lab.experiments import EXPERIMENTS  # noqa: E402

NUMBER = re.compile(r"\d[\d,.]*")


def numbers(text):
    """Digit runs, with thousands separators and trailing dots dropped: '1,000.' -> '1000'."""
    return {n.rstrip(".,").replace(",", "") for n in NUMBER.findall(text)}


def provenance_line(rec):
    return course.provenance(rec)


def fixture(name):
    return {"name": name, "claims": "C14", "title": "A fixture title", "ok": True, "error": None,
            "skipped": None, "elapsed_s": 14.6, "machine": "2 cores, 23 GiB, Linux 6.18",
            "command": f"make lab-{name}", "date": "2026-12-03",
            "rows": [{"measured": "half-open requests held", "article": "tcp_max_syn_backlog bounds it",
                      "value": "257"}],
            "checks": [{"check": "cookies on: the queue fills at the backlog", "ok": True}],
            "notes": ["namespace cookies1: net.ipv4.tcp_syncookies=1"],
            "commands": ["ip netns exec NS c10m-server --listen 198.18.0.1:7000 --backlog 256"]}


class Sheets(unittest.TestCase):
    def test_every_number_in_a_sheet_comes_from_its_json(self):
        exp = EXPERIMENTS[0]
        rec = fixture(exp.name)
        allowed = numbers(json.dumps(rec))
        for render in (course.student, course.teacher):
            text = render(exp, rec)
            stray = numbers(text) - allowed
            self.assertEqual(stray, set(), f"{render.__name__}: numbers not in the JSON: {stray}")
        self.assertIn("257", course.teacher(exp, rec))
        self.assertNotIn("257", course.student(exp, rec), "the student sheet hides the answers")

    def test_a_lab_without_results_says_so(self):
        exp = EXPERIMENTS[0]
        self.assertIn("no results", course.student(exp, None).lower())
        self.assertIn("No results", course.teacher(exp, None))

    def test_the_committed_sheets_match_their_results(self):
        results = os.path.join(course.ROOT, "lab", "results")
        sheets = os.path.join(course.ROOT, "docs", "course", "labs")
        for exp in EXPERIMENTS:
            path = os.path.join(sheets, f"{exp.name}-teacher.md")
            if not os.path.exists(path):
                continue
            with open(path) as f:
                text = f.read()
            # The sheet names the run it came from; its numbers must be that run's.
            rec = course.load(results, exp.name)
            if rec is None or provenance_line(rec) not in text:
                continue  # results of another run here: nothing to compare with
            stray = numbers(text) - numbers(json.dumps(rec))
            self.assertEqual(stray, set(), f"{exp.name}: {stray}")

    def test_generates_two_sheets_per_lab(self):
        with tempfile.TemporaryDirectory() as results, tempfile.TemporaryDirectory() as out:
            with open(os.path.join(results, f"{EXPERIMENTS[0].name}.json"), "w") as f:
                json.dump(fixture(EXPERIMENTS[0].name), f)
            sys.argv = ["course.py", results, out]
            course.main()
            made = os.listdir(os.path.join(out, "labs"))
            self.assertEqual(len(made), 2 * len(EXPERIMENTS))


if __name__ == "__main__":
    unittest.main()
