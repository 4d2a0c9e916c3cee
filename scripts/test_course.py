"""The course sheets and the worksheets' measured blocks are generated from the lab's JSON and
nothing else: every number in them appears in the record they were made from, and the committed
pages are exactly what course.py writes from the committed reference run (lab/reference/)."""

import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import course  # noqa: E402
from lab.experiments import EXPERIMENTS  # noqa: E402

NUMBER = re.compile(r"(?<![A-Za-z_])\d[\d,.]*")  # not the 3 of python3


def numbers(text):
    """Digit runs, with thousands separators and trailing dots dropped: '1,000.' -> '1000'."""
    return {n.rstrip(".,").replace(",", "") for n in NUMBER.findall(text)}



def fixture(name):
    return {"name": name, "claims": "C14", "title": "A fixture title", "ok": True, "error": None,
            "skipped": None, "elapsed_s": 14.6, "machine": "2 cores, 23 GiB, Linux 6.18",
            "command": f"make lab-{name}", "date": "2026-12-03",
            "rows": [{"measured": "half-open requests held", "article": "tcp_max_syn_backlog bounds it",
                      "value": "257"}],
            "checks": [{"check": "cookies on: the queue fills at the backlog", "ok": True}],
            "notes": ["namespace cookies1: net.ipv4.tcp_syncookies=1"],
            "commands": ["ip netns exec NS c10m-server --listen 198.18.0.1:7000 --backlog 256"],
            "predictions": [{"key": "held", "question": "How many half-open requests with a backlog of 256?",
                             "unit": "requests", "tolerance": {"plus_minus": 2},
                             "reasoning": "Full at the listen backlog, and one more.",
                             "section": "5-what-the-kernel-does-and-why", "paragraph": "Full.",
                             "worksheet": f"docs/labs/{name}.md#5-what-the-kernel-does-and-why",
                             "measured": 257}]}


class Sheets(unittest.TestCase):
    def test_every_number_in_a_sheet_comes_from_its_json(self):
        exp = EXPERIMENTS[0]
        rec = fixture(exp.name)
        allowed = numbers(json.dumps(rec))
        saved, course.ANSWERS = course.ANSWERS, tempfile.mkdtemp()  # the sheet alone, no answers
        self.addCleanup(setattr, course, "ANSWERS", saved)
        for render in (course.student, course.teacher):
            text = render(exp, rec)
            stray = numbers(text) - allowed
            self.assertEqual(stray, set(), f"{render.__name__}: numbers not in the JSON: {stray}")
        self.assertIn("257", course.teacher(exp, rec))
        self.assertNotIn("257", course.student(exp, rec), "the student sheet hides the answers")

    def test_predict_first_boxes_and_their_key(self):
        exp = EXPERIMENTS[0]
        rec = fixture(exp.name)
        text = course.student(exp, rec)
        self.assertIn("## Predict first", text)
        self.assertIn("> **1. How many half-open requests with a backlog of 256?** (in requests)", text)
        self.assertIn(f"[{exp.name}]\n# How many half-open requests", text)  # the file to hand in
        self.assertIn("# held = ...", text)
        text = course.teacher(exp, rec)
        self.assertIn("## The predictions: what counts as right", text)
        self.assertIn("| 1 | How many half-open requests with a backlog of 256? (`held`) | 257 requests | "
                      "±2 requests | Full at the listen backlog, and one more. | [section 5, \"Full.\"]"
                      f"(../../labs/{exp.name}.md#5-what-the-kernel-does-and-why) |", text)
        bare = {k: v for k, v in rec.items() if k != "predictions"}
        self.assertNotIn("Predict first", course.student(exp, bare))

    def test_the_teacher_sheet_carries_the_answers(self):
        exp = EXPERIMENTS[0]
        with tempfile.TemporaryDirectory() as where:
            with open(os.path.join(where, f"{exp.name}.md"), "w") as f:
                f.write(f"# Answers: {exp.name}\n\n1. Because the 4-tuple must be unique.\n")
            saved, course.ANSWERS = course.ANSWERS, where
            try:
                text = course.teacher(exp, fixture(exp.name))
            finally:
                course.ANSWERS = saved
        self.assertIn("## Answers to the worksheet's questions", text)
        self.assertIn("1. Because the 4-tuple must be unique.", text)
        self.assertNotIn("# Answers:", text)

    def test_a_lab_without_results_says_so(self):
        exp = EXPERIMENTS[0]
        self.assertIn("no results", course.student(exp, None).lower())
        self.assertIn("No results", course.teacher(exp, None))

    def test_the_committed_pages_are_what_the_reference_run_makes(self):
        with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as sheets:
            for exp in EXPERIMENTS:
                src = os.path.join(course.ROOT, "docs", "labs", f"{exp.name}.md")
                with open(src) as f, open(os.path.join(sheets, f"{exp.name}.md"), "w") as g:
                    g.write(f.read())
            course.main(["--out", out, "--worksheets", sheets])
            for exp in EXPERIMENTS:
                rec = course.load(course.REFERENCE, exp.name)
                self.assertIsNotNone(rec, f"lab/reference/{exp.name}.json is missing: run make course")
                pairs = [(os.path.join(out, "labs", f"{exp.name}-{k}.md"),
                          os.path.join(course.ROOT, "docs", "course", "labs", f"{exp.name}-{k}.md"))
                         for k in ("student", "teacher")]
                pairs.append((os.path.join(sheets, f"{exp.name}.md"),
                              os.path.join(course.ROOT, "docs", "labs", f"{exp.name}.md")))
                for made, committed in pairs:
                    with open(made) as f, open(committed) as g:
                        self.assertEqual(f.read(), g.read(),
                                         f"{committed} is not what `python3 scripts/course.py` writes")
                with open(pairs[2][1]) as f:
                    text = f.read()
                block = text[text.index(course.BEGIN.format(name=exp.name)):text.index(course.END)]
                stray = numbers(block) - numbers(json.dumps(rec))
                self.assertEqual(stray, set(), f"{exp.name}: the worksheet's block has {stray}")

    def test_generates_two_sheets_per_lab(self):
        with tempfile.TemporaryDirectory() as results, tempfile.TemporaryDirectory() as out:
            with open(os.path.join(results, f"{EXPERIMENTS[0].name}.json"), "w") as f:
                json.dump(fixture(EXPERIMENTS[0].name), f)
            course.main(["--reference", results, "--out", out, "--worksheets", out])
            made = os.listdir(os.path.join(out, "labs"))
            self.assertEqual(len(made), 2 * len(EXPERIMENTS))


if __name__ == "__main__":
    unittest.main()
