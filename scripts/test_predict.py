"""Predict, then measure: grading a student's predictions (`scripts/lab predict`) and a class's
(`scripts/lab grade`) against a run's record, with the fixture files of fixtures/predictions/
(right, wrong, missing, malformed): the grades, the CSV and the exit codes. Nothing here runs an
experiment: the record is made from ports-one-pair's declarations with known measurements."""

import csv
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab import predictions as P  # noqa: E402
from lab.experiments import EXPERIMENTS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "scripts", "fixtures", "predictions")
LAB = os.path.join(ROOT, "scripts", "lab")
NAME = "ports-one-pair"
MEASURED = {"established": 1000, "errno": "EADDRNOTAVAIL", "knee_percent": 49.8}


def experiment(name):
    return next(e for e in EXPERIMENTS if e.name == name)


def lab(*args, stdin=""):
    return subprocess.run([sys.executable, LAB, *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


class Run(unittest.TestCase):
    """A temporary run folder holding one record of ports-one-pair."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.run_dir = os.path.join(self.tmp, "run")
        os.makedirs(self.run_dir)
        self.record = os.path.join(self.run_dir, f"{NAME}.json")
        rec = {"name": NAME, "ok": True, "machine": "2 cores, a fixture", "date": "a fixture's day",
               "command": f"make lab-{NAME}",
               "predictions": P.recorded(NAME, experiment(NAME).predictions, MEASURED)}
        with open(self.record, "w") as f:
            json.dump(rec, f)

    def fixture(self, name):
        return os.path.join(FIXTURES, name)

    def assertClean(self, r):
        self.assertNotIn("Traceback", r.stderr + r.stdout)


class Predict(Run):
    def test_right_exits_0(self):
        r = lab("predict", NAME, "--from", self.fixture("right.toml"), "--against", self.record)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("3 of 3 right", r.stdout)

    def test_wrong_exits_3_and_says_where_to_read(self):
        r = lab("predict", NAME, "--from", self.fixture("wrong.json"), "--against", self.record)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        verdicts = re.findall(r"^  (established|errno|knee_percent)\s.*\s(right|wrong)$", r.stdout, re.M)
        self.assertEqual(verdicts, [("established", "wrong"), ("errno", "wrong"), ("knee_percent", "right")])
        self.assertIn(f"read docs/labs/{NAME}.md#{P.KERNEL}", r.stdout)
        self.assertIn("1 of 3 right", r.stdout)

    def test_missing_exits_3(self):
        r = lab("predict", NAME, "--from", self.fixture("missing.toml"), "--against", self.record)
        self.assertEqual(r.returncode, 3)
        self.assertEqual(len(re.findall(r"\smissing$", r.stdout, re.M)), 2)
        self.assertIn("1 of 3 right", r.stdout)

    def test_malformed_is_a_message_not_a_traceback(self):
        r = lab("predict", NAME, "--from", self.fixture("malformed.toml"), "--against", self.record)
        self.assertEqual(r.returncode, 2)
        self.assertClean(r)
        self.assertIn("malformed.toml: not valid TOML", r.stderr)
        self.assertIn("line 4", r.stderr)

    def test_bad_inputs_are_messages(self):
        cases = {
            "typo.toml": ('[ports-one-pair]\nestablishd = 1000\n', "no quantity establishd"),
            "word.toml": ('[ports-one-pair]\nestablished = "lots"\n', "expected a number"),
            "lab.toml": ('[port-one-pair]\nestablished = 1000\n', "no experiment named port-one-pair"),
            "other.toml": ('[time-wait]\nplateau = 12000\n', "no [ports-one-pair] table"),
            "flat.json": ('[1, 2]', "expected a table of experiments"),
            "broken.json": ('{"ports-one-pair": ', "not valid JSON"),
        }
        for fname, (body, message) in cases.items():
            path = os.path.join(self.tmp, fname)
            with open(path, "w") as f:
                f.write(body)
            r = lab("predict", NAME, "--from", path, "--against", self.record)
            self.assertEqual(r.returncode, 2, fname)
            self.assertIn(message, r.stderr, fname)
            self.assertClean(r)
        for args, message in ((["predict", "nope"], "unknown experiment nope"),
                              (["predict", NAME, "--from", "/nonexistent.toml"], "No such file"),
                              (["predict", NAME, "--from", self.fixture("right.toml"), "--against",
                                os.path.join(self.tmp, "none.json")], "No such file")):
            r = lab(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(message, r.stderr)
            self.assertClean(r)

    def test_a_record_of_another_experiment_is_refused(self):
        other = os.path.join(self.tmp, "other.json")
        with open(self.record) as f, open(other, "w") as g:
            rec = json.load(f)
            rec["name"] = "time-wait"
            json.dump(rec, g)
        r = lab("predict", NAME, "--from", self.fixture("right.toml"), "--against", other)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is the record of time-wait", r.stderr)

    def test_asks_and_saves_a_file_that_reads_back(self):
        saved = os.path.join(self.tmp, "mine.toml")
        r = lab("predict", NAME, "--against", self.record, "--save", saved, "--student", "Eve",
                stdin="lots\n1000\nEADDRNOTAVAIL\n\n")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)  # the knee was skipped: missing
        self.assertIn("expected a number", r.stdout)  # "lots" was asked again
        with open(saved, "rb") as f:
            doc = tomllib.load(f)
        self.assertEqual(doc, {"student": "Eve", NAME: {"established": 1000, "errno": "EADDRNOTAVAIL"}})
        r = lab("predict", NAME, "--from", saved, "--against", self.record)
        self.assertEqual(r.returncode, 3)
        self.assertIn("2 of 3 right", r.stdout)


class Grade(Run):
    def grade(self, folder, *extra):
        out = os.path.join(self.tmp, "out")
        r = lab("grade", folder, "--run", self.run_dir, "--out", out, *extra)
        rows = []
        if os.path.exists(os.path.join(out, "grades.csv")):
            with open(os.path.join(out, "grades.csv")) as f:
                rows = list(csv.DictReader(f))
        return r, rows, out

    def test_a_class_with_a_malformed_file(self):
        r, rows, out = self.grade(FIXTURES)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertClean(r)
        got = {(x["student"], x["quantity"]): x["verdict"] for x in rows}
        self.assertEqual(got, {
            ("Ada", "established"): "right", ("Ada", "errno"): "right", ("Ada", "knee_percent"): "right",
            ("Bob", "established"): "wrong", ("Bob", "errno"): "wrong", ("Bob", "knee_percent"): "right",
            ("Cleo", "established"): "right", ("Cleo", "errno"): "missing",
            ("Cleo", "knee_percent"): "missing",
            ("malformed", ""): "unreadable",
        })
        bob = next(x for x in rows if x["student"] == "Bob" and x["quantity"] == "established")
        self.assertEqual((bob["prediction"], bob["measured"], bob["tolerance"], bob["file"]),
                         ("1500", "1000", "±10 connections", "wrong.json"))
        self.assertTrue(bob["read"].startswith(f"docs/labs/{NAME}.md#{P.KERNEL}"))
        self.assertEqual(list(rows[0]), ["student", "file", "experiment", "quantity", "unit",
                                         "prediction", "measured", "tolerance", "verdict", "read",
                                         "note"])
        with open(os.path.join(out, "grades.md")) as f:
            summary = f.read()
        self.assertIn("| Ada | 3 | 0 | 0 | 3 |", summary)
        self.assertIn("| Cleo | 1 | 0 | 2 | 3 |", summary)
        self.assertIn(f"| {NAME} | established | 2 | 3 | 995 / 1,000 / 1,500 | 1,000 | ±10 connections |",
                      summary)
        self.assertIn("malformed.toml: not valid TOML", summary)
        self.assertIn("2 cores, a fixture", summary)

    def test_a_class_of_readable_files_exits_0(self):
        folder = os.path.join(self.tmp, "class")
        os.makedirs(folder)
        for f in ("right.toml", "wrong.json", "missing.toml"):
            shutil.copy(self.fixture(f), folder)
        r, rows, _ = self.grade(folder)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(rows), 9)

    def test_usage_errors(self):
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        for args, message in (([os.path.join(self.tmp, "none")], "no such folder"),
                              ([empty], "no prediction files"),
                              ([FIXTURES, "time-wait"], "no record of time-wait"),
                              ([FIXTURES, "nope"], "unknown experiment nope")):
            r, _, _ = self.grade(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(message, r.stderr)
            self.assertClean(r)


class Declarations(unittest.TestCase):
    def test_tolerances(self):
        q = lambda tol: {"tolerance": tol, "unit": "connections"}
        self.assertTrue(P.within(q(P.plus_minus(10)), 990, 1000))
        self.assertFalse(P.within(q(P.plus_minus(10)), 989, 1000))
        self.assertTrue(P.within(q(P.percent(3)), 910, 938))
        self.assertFalse(P.within(q(P.percent(3)), 1000, 938))
        self.assertTrue(P.within(q(P.factor(3)), 60, 20.5))
        self.assertFalse(P.within(q(P.factor(3)), 6, 20.5))
        self.assertTrue(P.within(q(P.text()), " etimedout ", "ETIMEDOUT"))
        self.assertEqual(P.tolerance_text(q(P.plus_minus(0))), "exactly")
        self.assertEqual(P.tolerance_text(q(P.plus_minus(1500))), "±1,500 connections")
        self.assertEqual(P.tolerance_text(q(P.percent(25))), "within 25%")

    def test_bad_declarations_are_refused(self):
        good = P.quantity("n", "How many?", "connections", P.plus_minus(1), "Because.")
        self.assertIsNone(P.check_declarations("x", [good]))
        self.assertIn("empty", P.check_declarations("x", []))
        self.assertIn("not lower_case", P.check_declarations("x", [{**good, "key": "Bad-Key"}]))
        self.assertIn("tolerance", P.check_declarations("x", [{**good, "tolerance": {"roughly": 1}}]))
        self.assertIn("twice", P.check_declarations("x", [good, good]))

    def test_every_quantity_is_measured_and_explained(self):
        """Each declared key is measured by its module (lab.measure("key", ...)), and the section
        and paragraph it sends students to are in the worksheet."""
        for exp in EXPERIMENTS:
            module = os.path.join(ROOT, "scripts", "lab", "experiments", exp.name.replace("-", "_") + ".py")
            with open(module) as f:
                source = f.read()
            with open(os.path.join(ROOT, "docs", "labs", f"{exp.name}.md")) as f:
                sheet = f.read()
            anchors = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                       for h in re.findall(r"^#+ (.*)$", sheet, re.M)}
            for q in exp.predictions:
                self.assertIn(f'lab.measure("{q["key"]}"', source, f"{exp.name}: {q['key']} is never measured")
                self.assertIn(q["section"], anchors, f"{exp.name}: no section {q['section']}")
                if q["paragraph"]:
                    self.assertIn(f"**{q['paragraph']}**", sheet, f"{exp.name}: no paragraph {q['paragraph']}")

    def test_the_documented_example_reads(self):
        path = os.path.join(ROOT, "docs", "course", "predictions-example.toml")
        student, tables = P.load_file(path)
        self.assertEqual(student, "Ada Lovelace")
        P.check_experiments(path, tables, [e.name for e in EXPERIMENTS])
        for name, table in tables.items():
            self.assertTrue(P.answers_for(path, name, experiment(name).predictions, table))

    def test_the_fixtures_are_the_four_kinds(self):
        names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, "*")))
        self.assertEqual(names, ["malformed.toml", "missing.toml", "right.toml", "wrong.json"])


if __name__ == "__main__":
    unittest.main()
