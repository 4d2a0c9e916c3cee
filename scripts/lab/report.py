"""An experiment's record as the lab reports it: the text table on stdout, the JSON record (on
stdout with --json) and the result files lab/results/NAME.json and NAME.md."""

import datetime
import json
import os

from .predictions import recorded


def record(lab, ok, error, skipped, elapsed, mach):
    """The JSON record of one experiment."""
    return {"name": lab.name, "claims": lab.claims, "title": lab.title, "ok": ok, "error": error,
            "skipped": skipped,
            "elapsed_s": round(elapsed, 2), "machine": mach,
            "command": f"make lab-{lab.name}",
            "date": datetime.date.today().isoformat(),
            "rows": [{"measured": a, "article": b, "value": c} for a, b, c in lab.rows],
            "checks": [{"check": w, "ok": k} for w, k in lab.checks],
            "notes": lab.notes, "commands": lab.commands, "curves": lab.curves,
            "predictions": recorded(lab.name, lab.predictions, lab.measured)}


def write_results(out_dir, lab, rec, elapsed, mach):
    """Writes out_dir/NAME.json (the record) and out_dir/NAME.md (the table and commands)."""
    with open(os.path.join(out_dir, f"{lab.name}.json"), "w") as f:
        json.dump(rec, f, indent=1)
    with open(os.path.join(out_dir, f"{lab.name}.md"), "w") as f:
        f.write(render_md(lab, elapsed, mach))
    if lab.curves:
        import plots
        plots.curves_plot(lab.curves, f"{lab.name}: {lab.title}", mach,
                          os.path.join(out_dir, f"{lab.name}.png"))


def render_text(lab, elapsed, error):
    lines = [f"== {lab.name} ({lab.claims}): {lab.title}"]
    if lab.rows:
        w1 = max(len(r[0]) for r in lab.rows)
        w2 = max(len(r[1]) for r in lab.rows)
        lines.append(f"  {'measured':<{w1}}  {'the article says':<{w2}}  on this machine")
        for what, article, got in lab.rows:
            lines.append(f"  {what:<{w1}}  {article:<{w2}}  {got}")
    for what, ok in lab.checks:
        lines.append(f"  [{'ok' if ok else 'FAIL'}] {what}")
    for n in lab.notes:
        lines.append(f"  note: {n}")
    if error:
        lines.append(f"  ERROR: {error}")
    lines.append(f"  ({elapsed:.1f} s)")
    return "\n".join(lines)


def render_md(lab, elapsed, mach):
    out = [f"# {lab.name} ({lab.claims}): {lab.title}", "",
           f"Machine: {mach}. Command: `make lab-{lab.name}` ({elapsed:.0f} s).", "",
           "| measured | the article says | on this machine |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in lab.rows]
    out += [""] + [f"- {'ok' if ok else 'FAIL'}: {w}" for w, ok in lab.checks]
    out += [""] + ["Commands run:", ""] + [f"    {c}" for c in lab.commands]
    return "\n".join(out) + "\n"
