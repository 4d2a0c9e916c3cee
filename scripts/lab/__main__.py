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
  scripts/lab predict NAME       predict its quantities first, run it, grade the predictions
  scripts/lab grade FOLDER       grade a class's prediction files against a run (CSV + summary)

`scripts/lab predict --help` and `scripts/lab grade --help` say more; docs/course/predicting.md
is the guide.

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

from lab.experiments import EXPERIMENTS  # noqa: E402
from lab.cleanup import teardown  # noqa: E402
from lab.runner import run  # noqa: E402

COMMANDS = ("predict", "grade")


def main(argv):
    if argv and argv[0] in COMMANDS:
        from lab.predict_cli import main as predict_main
        return predict_main(argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("names", nargs="*", help="experiments to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the experiments")
    ap.add_argument("--json", action="store_true", help="one JSON object per experiment on stdout")
    args = ap.parse_args(argv)
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
    return run(args.names, as_json=args.json)[0]


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    finally:
        teardown()
