"""The c10m lab, as a package: `python3 scripts/lab` runs it (__main__.py holds the command line).

  paths.py        where the binaries are (C10M_BIN) and where results go (LAB_OUT)
  errors.py       LabError (an experiment broke) and LabSkipped (the machine lacks what it needs)
  cleanup.py      every namespace and process made, torn down on any exit
  run.py          running commands and the c10m binaries, and waiting for a condition
  netns.py        throwaway network namespaces and their per-namespace sysctls and /proc files
  framework.py    one experiment's record (Lab): its table, checks, notes and commands
  report.py       that record as text, Markdown and JSON, and the result files
  runner.py       running experiments: the machine's checks, then each in turn, torn down after it
  predictions.py  the quantities students predict, prediction files, and grading against a record
  predict_cli.py  `scripts/lab predict NAME` (one student) and `scripts/lab grade FOLDER` (a class)
  experiments/    one module per experiment; experiments/__init__.py holds the teaching order

The kernel's figures come from c10m-kernel (crates/kernel), run by scripts/procutil.py, which
bench.py shares.
"""
