"""One experiment's record, and what every experiment uses to fill it.

Lab is handed to an experiment's run(lab): the experiment makes namespaces and starts servers and
clients through it (so their commands are recorded), then adds rows (what it measured, what the
article says, the value on this machine), checks (a claim and whether it held) and notes, and
measures each quantity its students predict (measure(key, value), for the keys of PREDICTIONS).
"""

import shutil
import subprocess
import threading

from .errors import LabError, LabSkipped
from .netns import Netns, veth
from .paths import ROOT
from .run import Proc, sh

# The narrowed ephemeral port range several experiments set in their namespace: 1,000 ports.
RANGE_1000 = "40000 40999"


def fmt(n):
    """An int with thousands separators; anything else as str()."""
    return f"{n:,}" if isinstance(n, int) else str(n)


class Lab:
    def __init__(self, name, claims, title, predictions=()):
        self.name, self.claims, self.title = name, claims, title
        self.rows, self.checks, self.notes, self.commands, self.procs = [], [], [], [], []
        self.curves = []
        self.predictions, self.measured = list(predictions), {}

    def ns(self, tag, addrs=(), sysctls=None):
        ns = Netns(tag, addrs, sysctls)
        if sysctls:
            self.notes.append(f"namespace {tag}: " + ", ".join(f"{k}={v}" for k, v in sysctls.items()))
        return ns

    def wire(self, a, a_dev, a_addrs, b, b_dev, b_addrs, record=True):
        """A link between namespaces `a` and `b` (netns.veth), its commands recorded (unless
        `record` is false: a run that repeats another's set-up)."""
        cmds = veth(a, a_dev, a_addrs, b, b_dev, b_addrs)
        if record:
            self.commands += cmds

    def sh(self, ns, *cmd, record=True):
        """Runs `cmd` inside `ns` (it must succeed) and records it; its stdout."""
        if record:
            self.commands.append(" ".join(["ip", "netns", "exec", ns.name, *map(str, cmd)]))
        return sh(ns.exec_cmd([str(c) for c in cmd]))

    def nft(self, ns, rules):
        """Loads an nftables ruleset into `ns` (its tables go with the namespace), recorded;
        LabSkipped when nft is missing or the kernel refuses the ruleset."""
        require_nft()
        r = subprocess.run(ns.exec_cmd(["nft", "-f", "-"]), input=rules, capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise LabSkipped(f"nft cannot load the ruleset here: {r.stderr.strip()}")
        self.commands.append(f"ip netns exec {ns.name} nft -f - <<'EOF'\n{rules}EOF")

    def server(self, ns, listen, *args, preexec=None, json_lines=True, record=True):
        a = ["--listen", listen] + (["--json"] if json_lines else []) + list(args)
        s = Proc(ns, "c10m-server", a, preexec)
        self.procs.append(s)
        if record:
            self.commands.append(s.display)
        if not s.out.wait_for("listening on", 10):
            raise LabError("the server did not start:\n" + s.dump())
        return s

    def client_start(self, ns, *args, record=True):
        """c10m-client with `args`; the target is 198.18.0.1:7000 unless `args` name one."""
        target = [] if "--target" in args else ["--target", "198.18.0.1:7000"]
        c = Proc(ns, "c10m-client", ["--allow-remote", "--json"] + target + list(args))
        self.procs.append(c)
        if record:
            self.commands.append(c.display)
        return c

    def client(self, ns, *args, timeout=120):
        c = self.client_start(ns, *args)
        c.wait(timeout)
        if c.last("summary") is None:
            raise LabError("the client printed no summary:\n" + c.dump())
        return c

    def python(self, ns, script, *args):
        """python3 running `script` (a path relative to the repository) inside `ns`."""
        p = Proc(ns, "python3", [script] + list(args), cwd=ROOT)
        self.procs.append(p)
        self.commands.append(p.display)
        return p

    def measure(self, key, value):
        """The run's value of the declared quantity `key` (a number, or a name for a text
        quantity), which students' predictions are graded against."""
        if key not in {q["key"] for q in self.predictions}:
            raise LabError(f"{self.name}: {key!r} is not one of the quantities in PREDICTIONS")
        self.measured[key] = value

    def unmeasured(self):
        """The declared quantities the run has not measured."""
        return [q["key"] for q in self.predictions if q["key"] not in self.measured]

    def row(self, what, article, measured):
        self.rows.append((what, article, measured))

    def check(self, what, ok):
        self.checks.append((what, bool(ok)))

    def note(self, text):
        self.notes.append(text)

    def curve(self, title, xlabel, ylabel, series, marks=(), vmarks=(), logy=False,
              legend="lower right"):
        """A picture of the run, one panel of NAME.png: `series` is [(label, xs, ys)], `marks`
        [(label, y)] horizontal lines and `vmarks` [(label, x)] vertical ones (what the article,
        the kernel or the plan predicts, or when something happened); `logy` a log y axis;
        `legend` where the legend goes (a matplotlib loc, clear of the data). Kept in the JSON."""
        self.curves.append({"title": title, "xlabel": xlabel, "ylabel": ylabel,
                            "series": [{"label": lab, "x": list(xs), "y": list(ys)} for lab, xs, ys in series],
                            "marks": [{"label": lab, "y": y} for lab, y in marks],
                            "vmarks": [{"label": lab, "x": x} for lab, x in vmarks],
                            "logy": bool(logy), "legend": legend})


def in_parallel(parts):
    """Runs each of `parts` ({label: function of no argument}) in a thread of its own, all at
    once; {label: what it returned}, or LabError naming every part that raised, once all are
    done."""
    results, errors = {}, []

    def go(label, part):
        try:
            results[label] = part()
        except Exception as e:  # reported below, after every part has finished
            errors.append(f"{label}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=go, args=kv) for kv in parts.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise LabError("; ".join(errors))
    return results


def require_nft():
    """LabSkipped unless nft, which loads nftables rulesets, is installed."""
    if shutil.which("nft") is None:
        raise LabSkipped("nft is not installed (make setup installs Debian's nftables)")


def failures(c):
    """errno -> (count, the step it came from), from a finished client's summary."""
    steps = {o["errno"]: o.get("step", "") for o in c.json("failure")}
    return {k: (v, steps.get(k, "")) for k, v in c.last("summary")["failed"].items()}


def main_errno(failed):
    """The errno most failures had, of failures(c) (errno -> (count, step)) or a summary's
    `failed` (errno -> count); "none" when nothing failed."""
    if not failed:
        return "none"
    count = lambda k: failed[k][0] if isinstance(failed[k], tuple) else failed[k]
    return max(failed, key=count)


def failure_text(c):
    f = failures(c)
    if not f:
        return "none"
    return ", ".join(f"{k} x {fmt(n)} from {step or '?'}" for k, (n, step) in f.items())
