"""`scripts/lab predict NAME` (a student: predict, run, see the grades) and `scripts/lab grade
FOLDER` (a teacher: a class's prediction files against one run, as a CSV and a summary).

predict exit status: 0 every prediction right, 3 one or more wrong or missing, 1 the run broke or
one of its checks failed (the grades are still shown), 2 usage or a prediction file that cannot
be read (the message says where), 77 the lab cannot run on this machine (grade against a
recorded run with --against instead).

grade exit status: 0 every file graded, 3 graded, but some files could not be read (each named,
with the reason, in the summary and the CSV), 2 usage: no such folder, no prediction file in it,
no record of an experiment in the run.
"""

import argparse
import csv
import io
import json
import os
import statistics
import sys

from .experiments import EXPERIMENTS
from .paths import OUT, ROOT
from .predictions import (MISSING, RIGHT, UNMEASURED, UNREADABLE, WRONG, PredictionError,
                          all_right, answers_for, check_experiments, grade, is_text, load_file,
                          number, parse_value, template, tolerance_text)

USAGE, SOME_WRONG, RUN_FAILED = 2, 3, 1
CSV_COLUMNS = ["student", "file", "experiment", "quantity", "unit", "prediction", "measured",
               "tolerance", "verdict", "read", "note"]
KNOWN = [e.name for e in EXPERIMENTS]


class Usage(Exception):
    """Bad usage or unreadable input: printed as one line, exit status 2."""


def experiment(name):
    for e in EXPERIMENTS:
        if e.name == name:
            return e
    raise Usage(f"unknown experiment {name}; the experiments are: {', '.join(KNOWN)}")


def load_record(path, name=None):
    """A run's JSON record (lab/results/NAME.json, lab/reference/NAME.json), with predictions."""
    try:
        with open(path) as f:
            rec = json.load(f)
    except OSError as e:
        raise Usage(f"{path}: {e.strerror}") from None
    except ValueError as e:
        raise Usage(f"{path}: not a lab record (not JSON: {e})") from None
    if not isinstance(rec, dict) or "name" not in rec:
        raise Usage(f"{path}: not a lab record (no name)")
    if name and rec["name"] != name:
        raise Usage(f"{path} is the record of {rec['name']}, not of {name}")
    if not rec.get("predictions"):
        why = f"skipped: {rec['skipped']}" if rec.get("skipped") else \
            "it was made before the lab recorded predictions: run the lab again"
        raise Usage(f"{path}: no measured quantities to grade against ({why})")
    return rec


def run_line(rec):
    return (f"`{rec.get('command', 'make lab-' + rec['name'])}` on {rec.get('machine', '?')}, "
            f"{rec.get('date', 'date not recorded')}")


def shown(v, q=None):
    if v is None:
        return "-"
    return f"{number(v)}" if q is None or not is_text(q) else str(v)


# ---------------------------------------------------------------------------------------------
# predict

def ask(exp, stdin=sys.stdin, out=sys.stdout):
    """The student's predictions, typed one by one (Enter skips one; end of input stops)."""
    qs = exp.predictions
    print(f"{exp.name}: predict before you run it. {len(qs)} quantities; write a number (or a name "
          f"where one is asked), Enter to skip one.", file=out)
    answers = {}
    for i, q in enumerate(qs, 1):
        print(f"\n{i}/{len(qs)} {q['question']} [{q['unit']}]", file=out)
        while True:
            print("    your prediction: ", end="", file=out, flush=True)
            line = stdin.readline()
            if not line:
                print(file=out)
                return answers
            if not line.strip():
                break
            try:
                answers[q["key"]] = parse_value(q, line.strip(), q["key"])
                break
            except PredictionError as e:
                print(f"    {e}; try again", file=out)
    return answers


def from_file(path, exp):
    student, tables = load_file(path)
    check_experiments(path, tables, KNOWN)
    if exp.name not in tables:
        raise PredictionError(f"{path}: no [{exp.name}] table (it has: "
                              f"{', '.join(tables) or 'none'})")
    return student, answers_for(path, exp.name, exp.predictions, tables[exp.name])


def print_grades(rec, rows, out=sys.stdout):
    qs = {q["key"]: q for q in rec["predictions"]}
    print(f"\n== {rec['name']}: your predictions against the run ({run_line(rec)})", file=out)
    table = [(r["quantity"], shown(r["prediction"], qs[r["quantity"]]),
              shown(r["measured"], qs[r["quantity"]]), r["tolerance"], r["verdict"]) for r in rows]
    heads = ("quantity", "you predicted", "measured", "counts as right", "verdict")
    widths = [max(len(str(x)) for x in col) for col in zip(heads, *table)]
    for line in [heads] + table:
        print("  " + "  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip(), file=out)
    for r in rows:
        if r["verdict"] in (WRONG, MISSING):
            print(f"  {r['quantity']}: {r['question']} ({r['unit']}). Why: read {r['read']}", file=out)
    graded = [r for r in rows if r["verdict"] != UNMEASURED]
    print(f"  {sum(r['verdict'] == RIGHT for r in graded)} of {len(graded)} right.", file=out)


def predict(argv):
    ap = argparse.ArgumentParser(
        prog="scripts/lab predict",
        description="Predict an experiment's quantities, run it, and grade each prediction: what "
                    "you said, what the run measured, right or wrong, and where to read why.",
        epilog=__doc__.split("\n\n")[1])
    ap.add_argument("name", help="the experiment (scripts/lab --list)")
    ap.add_argument("--from", dest="source", metavar="FILE",
                    help="read the predictions from FILE (TOML, or JSON) instead of asking")
    ap.add_argument("--save", metavar="FILE", help="also write the predictions to FILE (TOML), "
                    "the file a teacher collects")
    ap.add_argument("--student", help="your name, written to --save's file")
    ap.add_argument("--against", metavar="RECORD",
                    help="grade against this run's JSON (e.g. lab/reference/NAME.json) instead "
                    "of running the experiment (no root needed)")
    args = ap.parse_args(argv)
    exp = experiment(args.name)
    if not args.against:
        from .runner import cannot_run
        refused = cannot_run()
        if refused:
            code, why = refused
            print(f"lab predict: {why}; grade against a recorded run instead: --against "
                  f"lab/reference/{exp.name}.json", file=sys.stderr)
            return code
    student = args.student
    if args.source:
        named, answers = from_file(args.source, exp)
        student = student or named
    else:
        answers = ask(exp)
    if args.save:
        try:
            with open(args.save, "w") as f:
                f.write(template(exp.name, exp.predictions, answers, student))
        except OSError as e:
            raise Usage(f"{args.save}: {e.strerror}") from None
        print(f"predictions written to {args.save}")
    if args.against:
        rec = load_record(args.against, exp.name)
    else:
        from .runner import run
        code, recs = run([exp.name])
        if exp.name not in recs:
            print(f"lab predict: the lab could not run here; grade against a recorded run with "
                  f"--against lab/reference/{exp.name}.json", file=sys.stderr)
            return code
        rec = recs[exp.name]
        if not rec.get("predictions") or rec.get("skipped"):
            print(f"lab predict: {exp.name} was skipped here; grade against a recorded run with "
                  f"--against lab/reference/{exp.name}.json", file=sys.stderr)
            return code
    rows = grade(rec["predictions"], answers)
    print_grades(rec, rows)
    if not rec.get("ok", True):
        print(f"  note: the run's checks did not all hold ({rec.get('error') or 'see its checks'}): "
              f"the measurements may not be what the lab expects", file=sys.stderr)
        return RUN_FAILED
    return 0 if all_right(rows) else SOME_WRONG


# ---------------------------------------------------------------------------------------------
# grade

def load_run(path):
    """{experiment: record} of a run: a results directory (lab/results, lab/reference) or one
    record file."""
    if os.path.isdir(path):
        recs = {}
        for name in KNOWN:
            p = os.path.join(path, f"{name}.json")
            if os.path.exists(p):
                recs[name] = p
        if not recs:
            raise Usage(f"{path}: no lab records (NAME.json) here: run the lab (make lab) or "
                        f"grade against lab/reference")
        return recs
    if os.path.isfile(path):
        return {load_record(path)["name"]: path}
    raise Usage(f"{path}: no such file or directory")


def prediction_files(folder):
    if not os.path.isdir(folder):
        raise Usage(f"{folder}: no such folder")
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                   if f.endswith((".toml", ".json")) and os.path.isfile(os.path.join(folder, f)))
    if not files:
        raise Usage(f"{folder}: no prediction files (*.toml, *.json) in it")
    return files


def grade_rows(files, run, names):
    """(CSV rows, unreadable [(file, why)], the records used) for every file and experiment, in
    the files' order."""
    read = []
    for path in files:
        try:
            student, tables = load_file(path)
            check_experiments(path, tables, KNOWN)
            read.append((path, student, tables, None))
        except PredictionError as e:
            read.append((path, os.path.splitext(os.path.basename(path))[0], {}, str(e)))
    wanted = names or [n for n in KNOWN if any(n in t for _, _, t, _ in read)]
    missing = [n for n in wanted if n not in run]
    if missing:
        raise Usage(f"no record of {', '.join(missing)} in the run: run make lab-NAME, or grade "
                    f"against --run lab/reference")
    if not wanted:
        raise Usage("no file could be read, so there is nothing to grade: "
                    + "; ".join(why for *_, why in read))
    recs = {n: load_record(run[n], n) for n in wanted}
    rows, unreadable = [], []
    for path, student, tables, why in read:
        base = {"student": student, "file": os.path.basename(path)}
        if why:
            unreadable.append((path, why))
            rows.append({**base, "verdict": UNREADABLE, "note": why})
            continue
        for name in wanted:
            preds = recs[name]["predictions"]
            try:
                answers = answers_for(path, name, preds, tables.get(name, {}))
            except PredictionError as e:
                unreadable.append((path, str(e)))
                rows.append({**base, "experiment": name, "verdict": UNREADABLE, "note": str(e)})
                continue
            note = "" if name in tables else f"no [{name}] table in the file"
            for r in grade(preds, answers):
                rows.append({**base, "experiment": name, "note": note,
                             **{k: r[k] for k in ("quantity", "unit", "prediction", "measured",
                                                  "tolerance", "verdict", "read")}})
    return rows, unreadable, recs


def summary(rows, unreadable, recs, command):
    """The summary, as Markdown: per student, per quantity, and the files that were not read."""
    graded = [r for r in rows if r["verdict"] in (RIGHT, WRONG, MISSING)]
    lines = ["# Grades", "", f"Made by `{command}`. Graded against:", ""]
    lines += [f"- {n}: {run_line(rec)}" for n, rec in recs.items()]
    lines += ["", "## By student", "", "| student | right | wrong | missing | of |", "|---|---|---|---|---|"]
    for student in dict.fromkeys(r["student"] for r in graded):
        mine = [r["verdict"] for r in graded if r["student"] == student]
        lines.append(f"| {student} | {mine.count(RIGHT)} | {mine.count(WRONG)} | "
                     f"{mine.count(MISSING)} | {len(mine)} |")
    lines += ["", "## By quantity", "",
              "| experiment | quantity | right | of | predictions: lowest / median / highest | measured | counts as right |",
              "|---|---|---|---|---|---|---|"]
    for name, rec in recs.items():
        for q in rec["predictions"]:
            these = [r for r in graded if r["experiment"] == name and r["quantity"] == q["key"]]
            said = [r["prediction"] for r in these if r["prediction"] is not None]
            if said and not is_text(q):
                spread = " / ".join(number(v) for v in (min(said), statistics.median(said), max(said)))
            else:
                spread = ", ".join(sorted({str(v) for v in said})) or "-"
            lines.append(f"| {name} | {q['key']} | {sum(r['verdict'] == RIGHT for r in these)} | "
                         f"{len(these)} | {spread} | {shown(q.get('measured'), q)} | "
                         f"{tolerance_text(q)} |")
    if unreadable:
        lines += ["", "## Files not read (fix them and grade again)", ""]
        lines += [f"- {why}" for _, why in unreadable]
    return "\n".join(lines) + "\n"


def grade_cmd(argv):
    ap = argparse.ArgumentParser(
        prog="scripts/lab grade",
        description="Grade a folder of students' prediction files against one run: one CSV row "
                    "per student, experiment and quantity (grades.csv) and a summary (grades.md), "
                    "both written to --out.",
        epilog=__doc__.split("\n\n")[2])
    ap.add_argument("folder", help="the students' prediction files (*.toml, *.json)")
    ap.add_argument("names", nargs="*", help="experiments to grade (default: every one the files name)")
    ap.add_argument("--run", default=OUT, help="the run to grade against: a results folder or one "
                    "record (default lab/results; the committed reference run is lab/reference)")
    ap.add_argument("--out", help="where grades.csv and grades.md go (default: the folder)")
    args = ap.parse_intermixed_args(argv)
    for n in args.names:
        experiment(n)
    files = prediction_files(args.folder)
    rows, unreadable, recs = grade_rows(files, load_run(args.run), args.names)
    out = args.out or args.folder
    os.makedirs(out, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r.get(k) is None else r.get(k) for k in CSV_COLUMNS})
    command = " ".join(["python3 scripts/lab grade", args.folder] + args.names
                       + ["--run", os.path.relpath(args.run, ROOT) if args.run == OUT else args.run])
    text = summary(rows, unreadable, recs, command)
    for fname, body in (("grades.csv", buf.getvalue()), ("grades.md", text)):
        with open(os.path.join(out, fname), "w") as f:
            f.write(body)
    print(text)
    print(f"grades: {os.path.join(out, 'grades.csv')} and {os.path.join(out, 'grades.md')}")
    return SOME_WRONG if unreadable else 0


def main(argv):
    """argv[0] is "predict" or "grade"."""
    try:
        return (predict if argv[0] == "predict" else grade_cmd)(argv[1:])
    except (Usage, PredictionError) as e:
        print(f"lab {argv[0]}: {e}", file=sys.stderr)
        return USAGE
