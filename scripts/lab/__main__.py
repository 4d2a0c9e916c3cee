"""c10m lab: every claim of the source article as an experiment on this kernel.

Each experiment creates its own network namespaces (`ip netns add`), sets the per-namespace
sysctls it needs there (never on the host), runs c10m-server and c10m-client inside them on
loopback addresses of the benchmarking range 198.18.0.0/15, prints a table of what it measured
next to what the article claimed, checks the outcome, and deletes everything it made.

Usage:
  scripts/lab                    every experiment, in teaching order
  scripts/lab time-wait          one (or several) by name
  scripts/lab --list             names, claims and titles
  scripts/lab --json NAME        one JSON object per experiment on stdout

Exit status: 0 every check held, 1 a check failed or an experiment broke, 2 usage,
77 skipped: this machine cannot create network namespaces, or lacks what every experiment asked
for needs (an experiment skipped among others is marked "skipped" in its record and its notes).
Results also go to lab/results/NAME.json and NAME.md.
"""

import os
import sys

# `python3 scripts/lab` puts scripts/lab/ first on sys.path; the package and procutil live in
# scripts/, so that goes first instead.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _PACKAGE_DIR]
sys.path.insert(0, os.path.dirname(_PACKAGE_DIR))

import argparse  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

from procutil import KERNEL, log, machine  # noqa: E402

from lab.cleanup import teardown  # noqa: E402
from lab.errors import LabSkipped  # noqa: E402
from lab.experiments import EXPERIMENTS  # noqa: E402
from lab.framework import Lab  # noqa: E402
from lab.netns import netns_available  # noqa: E402
from lab.paths import BIN, OUT, ROOT  # noqa: E402
from lab.report import record, render_text, write_results  # noqa: E402

SKIPPED = 77


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("names", nargs="*", help="experiments to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the experiments")
    ap.add_argument("--json", action="store_true", help="one JSON object per experiment on stdout")
    args = ap.parse_args()
    known = [e.name for e in EXPERIMENTS]
    if args.list:
        for e in EXPERIMENTS:
            print(f"{e.name:<22} {e.claims:<15} {e.title}")
        return 0
    unknown = [n for n in args.names if n not in known]
    if unknown:
        print(f"lab: unknown experiment {', '.join(unknown)}; known: {', '.join(known)}",
              file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("lab: SKIPPED: the lab creates network namespaces and needs root", file=sys.stderr)
        return SKIPPED
    why = netns_available()
    if why:
        print(f"lab: SKIPPED: cannot create a network namespace here ({why})", file=sys.stderr)
        return SKIPPED
    for path in (os.path.join(BIN, "c10m-server"), os.path.join(BIN, "c10m-client"), KERNEL):
        if not os.path.exists(path):
            print(f"lab: {path} is missing: run make build first", file=sys.stderr)
            return 1
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: (teardown(), sys.exit(130)))
    os.makedirs(OUT, exist_ok=True)
    mach = machine()
    log(f"lab: {mach}")
    failed = ran = skips = 0
    t_all = time.time()
    for e in EXPERIMENTS:
        if args.names and e.name not in args.names:
            continue
        lab = Lab(e.name, e.claims, e.title)
        t0, error, skipped = time.time(), None, None
        log(f"-- {e.name}: {e.title}")
        try:
            e.run(lab)
        except LabSkipped as ex:
            skipped = str(ex)
            log(f"SKIPPED {e.name}: {skipped}")
            lab.note(f"SKIPPED: {skipped}")
        except Exception as ex:  # an experiment that breaks is reported, and the rest still run
            error = f"{type(ex).__name__}: {ex}"
            for p in lab.procs:
                log(p.dump())
        finally:
            teardown()
        elapsed = time.time() - t0
        ok = error is None and all(ok for _, ok in lab.checks)
        failed += not ok
        ran += 1
        skips += skipped is not None
        rec = record(lab, ok, error, skipped, elapsed, mach)
        write_results(OUT, lab, rec, elapsed, mach)
        if args.json:
            print(json.dumps(rec), flush=True)
        else:
            print(render_text(lab, elapsed, error) + "\n", flush=True)
    log(f"lab: {'all checks held' if not failed else f'{failed} experiment(s) failed'} "
        f"in {time.time() - t_all:.0f} s; results in {os.path.relpath(OUT, ROOT)}/")
    if failed:
        return 1
    return SKIPPED if ran and skips == ran else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        teardown()
