"""Where the lab finds the c10m binaries and where it writes its results.

C10M_BIN overrides the binaries' directory (target/release by default); LAB_OUT the results'
(lab/results by default), relative to the repository unless absolute.
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("C10M_BIN", os.path.join(ROOT, "target", "release"))
OUT = os.path.join(ROOT, os.environ.get("LAB_OUT", "lab/results"))
