"""Predict, then measure: the quantities a student predicts before a lab runs, and their grading.

Each experiment module declares PREDICTIONS, a list of quantity(...) dicts: a key (the name in a
prediction file), the question, its unit, the tolerance a correct line of reasoning meets, the
reasoning itself (for the teacher's sheet) and the worksheet section that explains it. The run
records each quantity's value (Lab.measure(key, value)), and the run's JSON carries the whole
declaration with it: `predictions[i]` is {key, question, unit, tolerance, reasoning, section,
paragraph, worksheet, measured}. Grading reads only that JSON, so a teacher can grade against any
run, the committed reference run included, without running anything.

A prediction file is TOML (or the same structure in JSON): an optional `student = "name"`, then
one table per experiment, one key per quantity:

    student = "Ada"
    [ports-one-pair]
    established = 1000
    errno = "EADDRNOTAVAIL"

docs/course/predicting.md documents it for students and teachers.
"""

import json
import math
import os
import re
import tomllib

# The section of every worksheet that explains the kernel's side (docs/labs/NAME.md).
KERNEL = "5-what-the-kernel-does-and-why"
KEY = re.compile(r"^[a-z][a-z0-9_]*$")
TOLERANCES = ("plus_minus", "percent", "factor", "text")

RIGHT, WRONG, MISSING, UNMEASURED, UNREADABLE = "right", "wrong", "missing", "not measured", "unreadable"


class PredictionError(ValueError):
    """A prediction file that cannot be read or does not fit the lab: the message says where."""


# ---------------------------------------------------------------------------------------------
# Declarations

def plus_minus(n):
    """Right when the prediction is within n (in the quantity's unit) of the measurement."""
    return {"plus_minus": n}


def percent(p):
    """Right when the prediction is within p percent of the measurement."""
    return {"percent": p}


def factor(k):
    """Right when the prediction is within a factor of k of the measurement (for costs that a
    reasoning gets to the order of magnitude, not the digit)."""
    return {"factor": k}


def text():
    """Right when the prediction names the same thing (an errno, a state), case aside."""
    return {"text": True}


def quantity(key, question, unit, tolerance, reasoning, paragraph=None, section=KERNEL):
    """One quantity to predict. `paragraph`: the bold lead of the paragraph of `section` that
    explains it, when the section has several."""
    return {"key": key, "question": question, "unit": unit, "tolerance": tolerance,
            "reasoning": reasoning, "section": section, "paragraph": paragraph}


def check_declarations(name, quantities):
    """Why an experiment's PREDICTIONS are not usable, or None."""
    if not quantities:
        return f"{name}: PREDICTIONS is empty: every experiment declares what a student predicts"
    keys = [q.get("key", "") for q in quantities]
    for q in quantities:
        if not KEY.match(q.get("key", "")):
            return f"{name}: the key {q.get('key')!r} is not lower_case_with_underscores"
        tol = q.get("tolerance") or {}
        if len(tol) != 1 or next(iter(tol)) not in TOLERANCES:
            return f"{name}.{q['key']}: the tolerance {tol!r} is not one of {', '.join(TOLERANCES)}"
        if not q.get("question") or not q.get("reasoning"):
            return f"{name}.{q['key']}: a quantity needs its question and its reasoning"
    dup = sorted({k for k in keys if keys.count(k) > 1})
    return f"{name}: keys declared twice: {', '.join(dup)}" if dup else None


def recorded(name, quantities, measured):
    """The run's `predictions`: each declaration with the worksheet it points to and what the run
    measured (None when it did not measure it)."""
    return [{**q, "worksheet": f"docs/labs/{name}.md#{q['section']}", "measured": measured.get(q["key"])}
            for q in quantities]


# ---------------------------------------------------------------------------------------------
# Tolerances

def is_text(q):
    return "text" in q["tolerance"]


def number(n):
    """A number as the pages write it: thousands separators, no trailing .0."""
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if isinstance(n, (int, float)) and not isinstance(n, bool):
        return f"{n:,}"
    return str(n)


def tolerance_text(q):
    """What counts as right, in words: '±10 connections', 'within 5%'."""
    (kind, v), = q["tolerance"].items()
    if kind == "plus_minus":
        return "exactly" if v == 0 else f"±{number(v)} {q['unit']}"
    if kind == "percent":
        return f"within {number(v)}%"
    if kind == "factor":
        return f"within a factor of {number(v)}"
    return "the same answer"


def within(q, predicted, measured):
    """Whether `predicted` meets the tolerance of `q` around `measured`."""
    (kind, v), = q["tolerance"].items()
    if kind == "text":
        return str(predicted).strip().lower() == str(measured).strip().lower()
    if kind == "plus_minus":
        return abs(predicted - measured) <= v + 1e-9
    if kind == "percent":
        return abs(predicted - measured) <= abs(measured) * v / 100 + 1e-9
    if measured <= 0 or predicted <= 0:
        return predicted == measured
    return max(predicted / measured, measured / predicted) <= v + 1e-9


# ---------------------------------------------------------------------------------------------
# Prediction values and files

def parse_value(q, raw, where):
    """A prediction for quantity `q` from a file's value or a typed answer: a number (1000,
    1_000, "1,000", "2.5") for a numeric quantity, a word for a text one."""
    if is_text(q):
        if isinstance(raw, (dict, list)) or str(raw).strip() == "":
            raise PredictionError(f"{where}: expected a name, like {q['key']} = \"...\"")
        return str(raw).strip()
    if isinstance(raw, bool) or isinstance(raw, (dict, list)):
        raise PredictionError(f"{where}: expected a number in {q['unit']}, got {raw!r}")
    if isinstance(raw, (int, float)):
        value = raw
    else:
        try:
            value = float(str(raw).replace(",", "").replace("_", "").strip())
        except ValueError:
            raise PredictionError(f"{where}: expected a number in {q['unit']}, got {raw!r}") from None
    if not math.isfinite(value):
        raise PredictionError(f"{where}: expected a finite number, got {raw!r}")
    return int(value) if float(value).is_integer() else value


def load_file(path):
    """(student, {experiment: {key: raw value}}) of a prediction file (.toml, or .json), or
    PredictionError saying what is wrong and where."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PredictionError(f"{path}: {e.strerror}") from None
    try:
        text_ = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PredictionError(f"{path}: not UTF-8 text") from None
    try:
        if path.endswith(".json"):
            doc = json.loads(text_)
        else:
            doc = tomllib.loads(text_)
    except json.JSONDecodeError as e:
        raise PredictionError(f"{path}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except tomllib.TOMLDecodeError as e:
        raise PredictionError(f"{path}: not valid TOML: {e} (write a number as 1000 or 1_000, "
                              f"a name in quotes)") from None
    if not isinstance(doc, dict):
        raise PredictionError(f"{path}: expected a table of experiments at the top")
    student = doc.pop("student", None)
    if student is not None and (not isinstance(student, str) or not student.strip()):
        raise PredictionError(f"{path}: student must be a name in quotes")
    for name, table in doc.items():
        if not isinstance(table, dict):
            raise PredictionError(f"{path}: {name} = {table!r}: expected a table [{name}] with one "
                                  f"line per quantity")
    name = student.strip() if student else os.path.splitext(os.path.basename(path))[0]
    return name, doc


def check_experiments(path, tables, known):
    """PredictionError when a file names an experiment that does not exist (a typo would leave
    every one of its predictions unread)."""
    unknown = sorted(set(tables) - set(known))
    if unknown:
        raise PredictionError(f"{path}: no experiment named {', '.join(unknown)}; the experiments "
                              f"are: {', '.join(known)}")


def answers_for(path, name, quantities, table):
    """{key: prediction} of one experiment's table, checked against its quantities."""
    keys = [q["key"] for q in quantities]
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise PredictionError(f"{path}: [{name}] has no quantity {', '.join(unknown)}; its "
                              f"quantities are: {', '.join(keys)}")
    return {q["key"]: parse_value(q, table[q["key"]], f"{path}: [{name}] {q['key']}")
            for q in quantities if q["key"] in table}


def template(name, quantities, answers=None, student=None):
    """A prediction file for one experiment, as TOML: every quantity, its question as a comment,
    the answer given or an empty placeholder to fill."""
    lines = [f"student = {json.dumps(student or 'your name')}", "", f"[{name}]"]
    for q in quantities:
        lines.append(f"# {q['question']} ({q['unit']})")
        given = (answers or {}).get(q["key"])
        if given is None:
            placeholder = '"..."' if is_text(q) else "..."
            lines.append(f"# {q['key']} = {placeholder}")
        else:
            lines.append(f"{q['key']} = {json.dumps(given)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Grading

def where_to_read(q):
    """The worksheet section (and paragraph) that explains a quantity."""
    lead = (q.get("paragraph") or "").replace("`", "").rstrip(".")
    return q["worksheet"] + (f", the paragraph \"{lead}\"" if lead else "")


def grade(predictions, answers):
    """One row per quantity of a run's `predictions`: the prediction, the measurement, the
    verdict and where to read why."""
    rows = []
    for q in predictions:
        given, measured = answers.get(q["key"]), q.get("measured")
        if measured is None:
            verdict = UNMEASURED
        elif given is None:
            verdict = MISSING
        else:
            verdict = RIGHT if within(q, given, measured) else WRONG
        rows.append({"quantity": q["key"], "question": q["question"], "unit": q["unit"],
                     "prediction": given, "measured": measured, "tolerance": tolerance_text(q),
                     "verdict": verdict, "read": where_to_read(q)})
    return rows


def all_right(rows):
    return all(r["verdict"] in (RIGHT, UNMEASURED) for r in rows)
