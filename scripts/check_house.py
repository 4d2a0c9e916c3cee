#!/usr/bin/env python3
"""House checks on the workspace's Rust code, run by `make lint`. Stdlib only (Python 3.11).

1. No import circle between the files (modules) of one crate. For every library and binary of
   every workspace member, the graph has an edge from file A to file B when A's code names a
   path into B: `use crate::...`, `use super::...`, `use self::...`, and the same paths inline
   in code (`crate::a::b::f()`, `super::X`). A path resolves to the file of the longest module
   prefix it names (a/b.rs or a/b/mod.rs; `super` in a/b.rs is a.rs or a/mod.rs). Comments and
   string literals do not count, nor `mod x;` declarations (a parent declaring a child is not an
   import), nor `#[cfg(test)]` items (test code may import anything). A path that starts with
   a child module's bare name (`child::f()`, `pub use child::X`) does not count either, though
   it means `self::child::...`: the house rule names crate::, super:: and self:: paths only.
   Each strongly connected component of more than one file is reported with the paths that
   tie it.
2. No Rust file over MAX_LINES lines, not counting the lines of its `#[cfg(test)]` items (the
   trailing `mod tests` block). Files under a `tests/` folder are test files and not counted.

Usage: python3 scripts/check_house.py [WORKSPACE_ROOT]
Exit status: 0 no problem, 1 problems (each named on stderr), 2 bad usage.
"""

import glob
import os
import re
import sys
import tomllib

MAX_LINES = 500

IDENT = r"(?:r#)?[A-Za-z_][A-Za-z0-9_]*"
CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")
MOD_DECL = re.compile(r"(?<![\w$])mod\s+(" + IDENT + r")\s*([;{])")
USE = re.compile(r"(?<![\w$:])use\s+([^;]*);")
PUB_IN = re.compile(r"\bpub\s*\(\s*in\s+[^)]*\)")
PATH = re.compile(r"(?<![\w$])(?<!::)(\$?" + IDENT + r")((?:\s*::\s*" + IDENT + r")+)")
ATTR = re.compile(r"\s*#\s*\[")
RAW_STRING = re.compile(r"(?:br|cr|r)(#*)\"")


# ---------------------------------------------------------------------------------------------
# Text: comments and literals out, #[cfg(test)] items out; positions and lines kept

def blank(text, start, end):
    """text with [start, end) replaced by spaces, newlines kept (so line numbers stay)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def strip_code(src):
    """src with comments and the contents of string, char and byte literals blanked."""
    out = list(src)
    n = len(src)
    i = 0

    def wipe(a, b):
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = src[i]
        nxt = src[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = src.find("\n", i)
            j = n if j < 0 else j
            wipe(i, j)
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            wipe(i, j)
            i = j
        elif c in "rbc" and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")) and (
                m := RAW_STRING.match(src, i)):
            end = src.find('"' + m.group(1), m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            wipe(m.end(), end - 1 - len(m.group(1)))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            wipe(i + 1, j)
            i = j + 1
        elif c == "'":
            if nxt == "\\":  # '\n', '\'', '\u{1F600}'
                j = src.find("'", i + 3)
            elif i + 2 < n and src[i + 2] == "'":  # 'x'
                j = i + 2
            else:  # a lifetime or a loop label
                i += 1
                continue
            j = n if j < 0 else j
            wipe(i + 1, j)
            i = j + 1
        else:
            i += 1
    return "".join(out)


def matching(code, open_at):
    """The index of the bracket closing the one at open_at (or len(code))."""
    pairs = {"{": "}", "(": ")", "[": "]"}
    stack = []
    for k in range(open_at, len(code)):
        ch = code[k]
        if ch in pairs:
            stack.append(pairs[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
            if not stack:
                return k
    return len(code)


def item_end(code, i):
    """The end (exclusive) of the item starting at i, after its attributes: its `;`, or its
    block's `}` (a `;` after a block, as in `use a::{b};`, is left over, harmlessly)."""
    while m := ATTR.match(code, i):
        i = matching(code, m.end() - 1) + 1
    k = i
    while k < len(code):
        ch = code[k]
        if ch == ";":
            return k + 1
        if ch in "([":
            k = matching(code, k) + 1
        elif ch == "{":
            return matching(code, k) + 1
        else:
            k += 1
    return k


def without_tests(code):
    """code with every #[cfg(test)] item blanked, and the (start, end) spans blanked."""
    spans = []
    pos = 0
    while m := CFG_TEST.search(code, pos):
        end = item_end(code, m.end())
        spans.append((m.start(), end))
        code = blank(code, m.start(), end)
        pos = end
    return code, spans


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def lines_outside_tests(src):
    """How many lines of src are not inside a #[cfg(test)] item."""
    code = strip_code(src)
    _, spans = without_tests(code)
    total = src.count("\n") + (0 if src.endswith("\n") or not src else 1)
    in_tests = set()
    for start, end in spans:
        in_tests.update(range(line_of(code, start), line_of(code, max(start, end - 1)) + 1))
    return total - len(in_tests)


# ---------------------------------------------------------------------------------------------
# One crate: its module files, and the paths between them

class File:
    def __init__(self, path, module):
        self.path = path  # on disk
        self.module = module  # tuple of names from the crate root
        self.code = ""  # stripped, tests blanked
        self.inline = []  # (start, end, name) of inline `mod name { ... }` blocks


def inline_path(f, pos):
    return tuple(name for start, end, name in f.inline if start < pos < end)


def load_crate(root_file):
    """The crate whose root is root_file: its non-test files by module tuple, its modules (file
    or inline) by tuple -> the File holding them, and the files that only #[cfg(test)] declares."""
    files, modules, test_files = {}, {}, set()
    todo = [(root_file, ())]
    while todo:
        path, module = todo.pop()
        if not os.path.isfile(path) or module in files:
            continue
        f = File(path, module)
        with open(path, encoding="utf-8") as fh:
            full = strip_code(fh.read())
        f.code, spans = without_tests(full)
        files[module] = f
        modules[module] = f
        is_dir_owner = module == () or os.path.basename(path) == "mod.rs"
        here = os.path.dirname(path) if is_dir_owner else os.path.splitext(path)[0]

        def child_file(name, inner):
            d = os.path.join(here, *inner)
            for cand in (os.path.join(d, name + ".rs"), os.path.join(d, name, "mod.rs")):
                if os.path.isfile(cand):
                    return cand
            return None

        for m in MOD_DECL.finditer(f.code):
            name = m.group(1).removeprefix("r#")
            inner = inline_path(f, m.start())
            if m.group(2) == "{":
                f.inline.append((m.end() - 1, matching(f.code, m.end() - 1), name))
                modules[module + inner + (name,)] = f
            elif cand := child_file(name, inner):
                todo.append((cand, module + inner + (name,)))
        for m in MOD_DECL.finditer(full):
            if m.group(2) == ";" and any(a <= m.start() < b for a, b in spans):
                if cand := child_file(m.group(1).removeprefix("r#"), inline_path(f, m.start())):
                    test_files.add(os.path.normpath(cand))
    return files, modules, test_files - {os.path.normpath(f.path) for f in files.values()}


def use_paths(body):
    """The paths a use tree names: 'crate::{a::B, c::{self, D as E}}' ->
    [['crate', 'a', 'B'], ['crate', 'c'], ['crate', 'c', 'D']]. A path with a leading '::' (an
    extern crate) gives nothing."""
    toks = re.findall(r"::|[{},*]|\$?" + IDENT, body)
    out = []

    def at(i):
        return toks[i] if i < len(toks) else None

    def tree(i, prefix):
        """Parses one tree at toks[i] under prefix, appending its paths; returns the next i."""
        segs = list(prefix)
        if at(i) == "::":
            if not segs:  # ::extern_crate::...
                while at(i) not in (None, ",", "}"):
                    i = matching_tok(i) if toks[i] == "{" else i + 1
                return i
            i += 1
        while (t := at(i)) is not None:
            if t == "{":
                i += 1
                while at(i) not in (None, "}"):
                    i = tree(i, segs)
                    if at(i) == ",":
                        i += 1
                return i + 1
            if t == "*":
                out.append(segs)
                return i + 1
            if t in ("}", ","):
                return i
            if not (t == "self" and segs):  # `a::{self}` names a itself
                segs = segs + [t.removeprefix("r#")]
            i += 1
            if at(i) == "::":
                i += 1
                continue
            if at(i) == "as":
                i += 2
            out.append(segs)
            return i
        return i

    def matching_tok(i):
        depth = 0
        for k in range(i, len(toks)):
            depth += {"{": 1, "}": -1}.get(toks[k], 0)
            if depth == 0:
                return k + 1
        return len(toks)

    i = 0
    while i < len(toks):
        j = tree(i, [])
        i = j + 1 if j == i else j
    return out


def resolve(segs, here, modules):
    """The module tuple the path segs names from module `here`, or None when it does not start
    with crate, $crate, super or self."""
    first = segs[0]
    if first in ("crate", "$crate"):
        target = tuple(segs[1:])
    elif first == "super" or first == "self":
        cur = list(here)
        rest = segs
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                if not cur:
                    return None
                cur.pop()
            rest = rest[1:]
        target = tuple(cur) + tuple(rest)
    else:  # std::..., an extern crate, a local name, or a bare child module (see the top)
        return None
    for k in range(len(target), -1, -1):
        if target[:k] in modules:
            return target[:k]
    return None


def crate_edges(files, modules):
    """{(from_path, to_path): {name: first line}} for the paths between different files."""
    edges = {}

    def add(f, segs, pos, name):
        here = f.module + inline_path(f, pos)
        target = resolve(segs, here, modules)
        if target is None:
            return
        dest = modules[target].path
        if dest != f.path:
            edges.setdefault((f.path, dest), {}).setdefault(name, line_of(f.code, pos))

    for f in files.values():
        code = PUB_IN.sub(lambda m: " " * len(m.group()), f.code)
        for m in USE.finditer(code):
            for segs in use_paths(m.group(1)):
                add(f, segs, m.start(), "::".join(segs))
            code = blank(code, m.start(), m.end())
        for m in PATH.finditer(code):
            segs = [m.group(1)] + re.findall(IDENT, m.group(2))
            segs = [s.removeprefix("r#") for s in segs]
            add(f, segs, m.start(), "::".join(segs))
    return edges


def circles(paths, edges):
    """Strongly connected components of more than one file (Tarjan), each sorted."""
    graph = {p: [] for p in paths}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index, low, on_stack, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


# ---------------------------------------------------------------------------------------------
# The workspace

def members(root):
    with open(os.path.join(root, "Cargo.toml"), "rb") as fh:
        ws = tomllib.load(fh).get("workspace", {})
    out = []
    for pattern in ws.get("members", ["."]):
        for d in sorted(glob.glob(os.path.join(root, pattern))):
            if os.path.isfile(os.path.join(d, "Cargo.toml")) and d not in out:
                out.append(d)
    return out


def targets(member):
    """(label, root file) of the member's library and binaries: the code that is not tests."""
    with open(os.path.join(member, "Cargo.toml"), "rb") as fh:
        manifest = tomllib.load(fh)
    name = manifest.get("package", {}).get("name", os.path.basename(member))
    out = []
    lib = os.path.join(member, manifest.get("lib", {}).get("path", "src/lib.rs"))
    if os.path.isfile(lib):
        out.append((f"{name} (lib)", lib))
    bins = [os.path.join(member, b["path"]) for b in manifest.get("bin", []) if "path" in b]
    if manifest.get("package", {}).get("autobins", True):
        bins.append(os.path.join(member, "src/main.rs"))
        bins += sorted(glob.glob(os.path.join(member, "src/bin/*.rs")))
        bins += sorted(glob.glob(os.path.join(member, "src/bin/*/main.rs")))
    seen = set()
    for b in bins:
        b = os.path.normpath(b)
        if os.path.isfile(b) and b not in seen:
            seen.add(b)
            out.append((f"{name} (bin {os.path.relpath(b, member)})", b))
    return out


def is_test_path(path, root):
    return "tests" in os.path.relpath(path, root).split(os.sep)[:-1]


def rust_files(member):
    for d, subdirs, names in os.walk(member):
        subdirs[:] = sorted(s for s in subdirs if s not in ("target", ".git"))
        for n in sorted(names):
            if n.endswith(".rs"):
                yield os.path.join(d, n)


def check(root, max_lines=MAX_LINES):
    """The problems found under the workspace at root, one line of text each."""
    problems = []
    test_only = set()

    def rel(path):
        return os.path.relpath(path, root)

    for member in members(root):
        for label, root_file in targets(member):
            if is_test_path(root_file, root):
                continue
            files, modules, tests_only = load_crate(root_file)
            test_only |= tests_only
            edges = crate_edges(files, modules)
            for comp in circles([f.path for f in files.values()], edges):
                lines = [f"{label}: import circle among {len(comp)} files: "
                         + ", ".join(rel(p) for p in comp)]
                for (a, b), names in sorted(edges.items()):
                    if a in comp and b in comp:
                        tied = ", ".join(f"{n} (line {ln})"
                                         for n, ln in sorted(names.items(), key=lambda x: x[1]))
                        lines.append(f"    {rel(a)} -> {rel(b)}: {tied}")
                problems.append("\n".join(lines))
        for path in rust_files(member):
            if is_test_path(path, root) or os.path.normpath(path) in test_only:
                continue
            with open(path, encoding="utf-8") as fh:
                n = lines_outside_tests(fh.read())
            if n > max_lines:
                problems.append(f"{rel(path)}: {n} lines outside #[cfg(test)] "
                                f"(at most {max_lines})")
    return problems


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__, file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems = check(root)
    for p in problems:
        print(f"check_house: {p}", file=sys.stderr)
    if problems:
        print(f"check_house: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("check_house: ok (no import circle, no file over "
          f"{MAX_LINES} lines outside its tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
