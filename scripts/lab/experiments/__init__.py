"""The lab's experiments, one module each, and ORDER: the teaching order, the one place it is set.

Each module is named after its experiment (ports-one-pair -> ports_one_pair.py), opens with a
docstring on the kernel behaviour it shows, and defines NAME, CLAIMS (the article's claims it
tests), TITLE, PREDICTIONS (the quantities a student predicts before running it:
predictions.quantity(...), each measured by the run with lab.measure(key, value)) and run(lab),
which fills a framework.Lab with rows, checks and notes. Adding an experiment is a new module here
and its name in ORDER; docs/labs/NAME.md is its worksheet.
"""

import importlib
from collections import namedtuple

from ..predictions import check_declarations

ORDER = [
    "ports_one_pair",
    "ports_sources",
    "ports_destinations",
    "one_port_beyond_65535",
    "time_wait",
    "fin_wait_2",
    "listen_queue",
    "syn_flood",
    "conntrack",
    "nat_gateway",
    "fd_limits",
    "socket_memory",
    "tcp_mem",
    "cpu_cost",
    "bandwidth",
    "autogroup",
    "retired_knobs",
]

Experiment = namedtuple("Experiment", "name claims title predictions run")


def _load(module_name):
    m = importlib.import_module(f"{__name__}.{module_name}")
    if m.NAME.replace("-", "_") != module_name:
        raise ImportError(f"{m.__file__}: NAME {m.NAME!r} does not match the module's name")
    why = check_declarations(m.NAME, getattr(m, "PREDICTIONS", None))
    if why:
        raise ImportError(f"{m.__file__}: {why}")
    return Experiment(m.NAME, m.CLAIMS, m.TITLE, m.PREDICTIONS, m.run)


EXPERIMENTS = [_load(m) for m in ORDER]
