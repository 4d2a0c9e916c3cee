"""Running experiments: the machine's checks first (root, namespaces, the binaries), then each
experiment in turn with everything it made torn down after it, its record written to the results.
`python3 scripts/lab` and `python3 scripts/lab predict` both run experiments through run()."""

import json
import os
import signal
import sys
import time

from procutil import KERNEL, log, machine

from .cleanup import teardown
from .errors import LabSkipped
from .experiments import EXPERIMENTS
from .framework import Lab
from .netns import netns_available
from .paths import BIN, OUT, ROOT
from .report import record, render_text, write_results

SKIPPED = 77


def cannot_run():
    """(exit status, why) when this machine cannot run the lab at all, else None."""
    if os.geteuid() != 0:
        return SKIPPED, "SKIPPED: the lab creates network namespaces and needs root"
    why = netns_available()
    if why:
        return SKIPPED, f"SKIPPED: cannot create a network namespace here ({why})"
    for path in (os.path.join(BIN, "c10m-server"), os.path.join(BIN, "c10m-client"), KERNEL):
        if not os.path.exists(path):
            return 1, f"{path} is missing: run make build first"
    return None


def run_one(e, mach):
    """Runs experiment `e`; (its record, its Lab, whether it held, seconds it took)."""
    lab = Lab(e.name, e.claims, e.title, e.predictions)
    t0, error, skipped = time.time(), None, None
    log(f"-- {e.name}: {e.title}")
    try:
        e.run(lab)
        if lab.unmeasured():
            error = f"LabError: the run measured none of {', '.join(lab.unmeasured())} (PREDICTIONS)"
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
    rec = record(lab, ok, error, skipped, elapsed, mach)
    write_results(OUT, lab, rec, elapsed, mach)
    return rec, lab, error


def run(names, as_json=False, quiet=False):
    """Runs the experiments named (all, in teaching order, if none); (exit status, {name:
    record}). Exit status: 0 every check held, 1 one failed or broke, 77 nothing could run here.
    `quiet`: no table on stdout (the caller prints its own)."""
    refused = cannot_run()
    if refused:
        code, why = refused
        print(f"lab: {why}", file=sys.stderr)
        return code, {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: (teardown(), sys.exit(130)))
    os.makedirs(OUT, exist_ok=True)
    mach = machine()
    log(f"lab: {mach}")
    records, failed, skips = {}, 0, 0
    t_all = time.time()
    for e in EXPERIMENTS:
        if names and e.name not in names:
            continue
        rec, lab, error = run_one(e, mach)
        records[e.name] = rec
        failed += not rec["ok"]
        skips += rec["skipped"] is not None
        if as_json:
            print(json.dumps(rec), flush=True)
        elif not quiet:
            print(render_text(lab, rec["elapsed_s"], error) + "\n", flush=True)
    log(f"lab: {'all checks held' if not failed else f'{failed} experiment(s) failed'} "
        f"in {time.time() - t_all:.0f} s; results in {os.path.relpath(OUT, ROOT)}/")
    if failed:
        return 1, records
    return (SKIPPED if records and skips == len(records) else 0), records
