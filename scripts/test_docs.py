"""The teaching pages read as lessons, and their figures come from recorded runs.

- No clock time of a past run anywhere in docs/ (the issue's own grep).
- No citation of files outside the repository (../shared, /tmp).
- Every teaching page opens with what the reader will learn.
- Every relative link in docs/ and the READMEs leads to a file, and every #anchor to a heading.
- Every measured-looking figure in a page's prose (a number with a thousands separator or a
  decimal point, outside code and the generated blocks) appears in a committed record of a
  project command: the lab's reference run (lab/reference/*.json) or a bench's, demo's or
  cluster's (any file under bench/reference/), or it is one of the constants and derived values
  below.
"""

import glob
import json
import os
import re
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLOCK = re.compile(r"[0-2][0-9]:[0-5][0-9]")
FIGURE = re.compile(r"(?<![\w.-])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.-])\d+\.\d+")
NOT_FIGURES = [
    re.compile(r"\b\d+\.\d+\.\d+\.\d+(?:/\d+)?(?::\d+)?"),  # IPv4 addresses
    re.compile(r"\b(?:Linux|kernel|kernels|since|from|before|version|v)\s+\d+\.\d+\b", re.I),
    re.compile(r"\b\d+\.\d+\.\d+\b"),  # versions such as 0.26.1
]
# Constants of the kernel or of a page's arithmetic, not measurements: each named.
CONSTANTS = {
    "28232": "ip_local_port_range's default size, 32768-60999",
    "282320": "10 x 28,232, C10's arithmetic with the default range",
    "65535": "the largest port number",
    "64512": "ports 1024-65535, the widest range",
    "1048576": "fs.nr_open's default",
    "0.25": "time-wait's polling interval of /proc/net/sockstat (scripts/lab/experiments/time_wait.py)",
    "19984": "20,000 fds minus the 16 a server worker keeps for itself (server/src/workers.rs)",
    "17985": "90% of 19,984, what --workers auto fills a worker to",
    "12704": "45% of 28,232, the pair size the client's plan stays under (client/src/plan.rs)",
    "12659": "1,000,000 / 79 pairs, rounded up",
    "100000": "the file-max margin of scripts/bench.py (2N + 100,000)",
    "27800": "scale.md, question 2: 1,000,000 / 36 pairs",
    "10000000": "scale.md, question 1: ten million connections",
    "4000000": "scale.md, question 5: two fds per connection for 2,000,000",
    "191.4": "scale.md: the kmalloc-* and ep_head rows of bench-1m added up",
    "8228.8": "scale.md: the five per-socket caches of bench-1m added up",
    "4.1": "scale.md: 8,228.8 B per pair / 2, in KB",
    "54.3": "scale.md: 23.454 + 30.876 B, server and client RSS per connection",
    "2.2": "tcp-mem.md: 575,778 pages x 4 KiB in GiB, the reference machine's third tcp_mem value",
    "39969": "one-port.md: 2 x 19,984 + 1, the demo's sockets on loopback and its listener",
    "79936": "one-port.md: 4 x 19,984, the room of four server workers",
    "65534": "the host addresses of 198.19.0.0/16, the TUN client's default range (client/src/engine/tun/addrs.rs)",
    "50.5": "past-one-machine.md: the mean of a 1 ms and a 100 ms p99, the example of a wrong merge",
    "16384": "PINGS_IN_FLIGHT, the TUN engine's cap on pings in flight (client/src/engine/tun/mod.rs)",
    "14116": "half of 28,232: where connect()'s first pass over one parity of the range is full (docs/labs/ports-one-pair.md)",
    "1.94": "tun.md, answer 1: 9,810.7 B per loopback pair / 5,046.9 B per TUN connection",
    "1.66": "traffic.md: 49,794 messages/s x 33.34 µs of the machine's CPU each, in s per s",
    "4.7": "past-one-machine.md: 1,000,000 x 5,046.9 B (bench-tun-3m) in GiB",
    "1768": "answers/ports-one-pair.md, question 3: 30,000 asked - 28,232 ports of the one pair",
    "140004": "answers/one-port-beyond-65535.md, question 3: 2 x 70,000 sockets + 4 listeners, TCP inuse",
    "24000": "answers/time-wait.md, question 1: 400 connections/s x 60 s of TIME_WAIT",
    "1281": "answers/listen-queue.md, question 2: 183 timed-out clients x 7 SYNs each in 8 s",
    "2709": "answers/listen-queue.md, question 5: 903 clients past the 4,097 x 3 SYNs each in 3 s",
    "1636": "answers/syn-flood.md, question 2: (1,000 - 257) flood SYNs x 2 + 50 clients x 3 SYNs",
    "32256": "answers/cpu-cost.md, question 1: half of 64,512, the even ports of the range 1024-65535",
    "8219": "answers/socket-memory.md, question 1: 5,017 + 1,707 + 613 + 382 + 500 B per pair, the table's five socket caches",
    "6.2": "answers/tcp-mem.md, question 2: the sixth send of a segment whose 200 ms RTO doubles (0.2 + 0.4 + 0.8 + 1.6 + 3.2 s)",
    "1400": "traffic.md: Graham's budget of clock cycles per packet for application logic (Shmoocon 2013)",
    "16700": "traffic.md, answer 5: 1,000,000 messages a minute / 60 s, rounded",
}

TEACHING = (glob.glob(os.path.join(ROOT, "docs", "*.md"))
            + glob.glob(os.path.join(ROOT, "docs", "labs", "*.md"))
            + [os.path.join(ROOT, "docs", "course", n)
               for n in ("README.md", "teacher-guide.md", "predicting.md")])


def figures(text):
    for pat in NOT_FIGURES:
        text = pat.sub(" ", text)
    return {m.group(0).replace(",", "") for m in FIGURE.finditer(text)}


def prose(text):
    """The page without code blocks, indented command lines and generated blocks."""
    text = re.sub(r"<!-- generated.*?<!-- end of the generated block -->", " ", text, flags=re.S)
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", " ", text)
    return "\n".join(line for line in text.split("\n") if not line.startswith("    "))


def recorded():
    """Every number of every committed record, as written and without separators."""
    out = set(CONSTANTS)
    paths = (glob.glob(os.path.join(ROOT, "lab", "reference", "*.json"))
             + glob.glob(os.path.join(ROOT, "bench", "reference", "**", "*.*"), recursive=True))
    for path in paths:
        if path.endswith((".png", ".svg")):
            continue
        with open(path) as f:
            text = f.read()
        if path.endswith(".json"):
            json.loads(text)
        numbers = set(re.findall(r"\d+(?:\.\d+)?", text))
        # A whole number that JSON wrote as a float (a median of two, a Prometheus value).
        out |= figures(text) | numbers | {n[:-2] for n in numbers if n.endswith(".0")}
    return out


LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading):
    """A heading's anchor as GitHub makes it: lower case, punctuation gone, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(path):
    text = re.sub(r"```.*?```", " ", read(path), flags=re.S)
    return {slug(line.lstrip("#")) for line in text.split("\n") if line.startswith("#")}


def read(path):
    with open(path) as f:
        return f.read()


class Docs(unittest.TestCase):
    def test_no_clock_times(self):
        for path in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True):
            for n, line in enumerate(read(path).split("\n"), 1):
                self.assertIsNone(CLOCK.search(line), f"{os.path.relpath(path, ROOT)}:{n}: {line}")

    def test_no_files_outside_the_repository_cited(self):
        for path in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True):
            text = read(path)
            for bad in ("seed-claims", "/tmp/"):
                self.assertFalse(bad in text, f"{os.path.relpath(path, ROOT)} cites {bad}")

    def test_every_page_says_what_the_reader_learns(self):
        for path in TEACHING:
            head = "\n".join(read(path).split("\n")[:12])
            self.assertTrue("**What you will learn.**" in head,
                            f"{os.path.relpath(path, ROOT)}: no 'What you will learn' in its first lines")

    def test_figures_come_from_recorded_runs(self):
        known = recorded()
        stray = {}
        for path in TEACHING + glob.glob(os.path.join(ROOT, "docs", "course", "answers", "*.md")):
            s = figures(prose(read(path))) - known
            if s:
                stray[os.path.relpath(path, ROOT)] = sorted(s)
        self.assertEqual(stray, {}, "figures in no committed record (lab/reference, bench/reference)")

    def test_links_resolve(self):
        pages = (glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
                 + glob.glob(os.path.join(ROOT, "bench", "reference", "**", "*.md"), recursive=True)
                 + [os.path.join(ROOT, "README.md")])
        broken = []
        for page in pages:
            text = re.sub(r"```.*?```", " ", read(page), flags=re.S)
            for target in LINK.findall(text):
                if target.startswith(("http://", "https://", "mailto:")):
                    continue
                name, _, anchor = target.partition("#")
                path = os.path.normpath(os.path.join(os.path.dirname(page), name)) if name else page
                if not os.path.exists(path):
                    broken.append(f"{os.path.relpath(page, ROOT)}: {target} (no such file)")
                elif anchor and path.endswith(".md") and anchor not in headings(path):
                    broken.append(f"{os.path.relpath(page, ROOT)}: {target} (no such heading)")
        self.assertEqual(broken, [])

    def test_the_figure_pattern(self):
        self.assertEqual(figures("10,202.4 B at 127.0.0.1:7000 on Linux 6.5, 4.2 KB, 1,000"),
                         {"10202.4", "4.2", "1000"})


if __name__ == "__main__":
    unittest.main()
