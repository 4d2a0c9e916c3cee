"""Unit tests of check_house.py on small workspaces written to a temp dir. Stdlib only:
python3 -m unittest discover -s scripts -p 'test_*.py'."""

import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

import check_house

HERE = os.path.dirname(os.path.abspath(__file__))


class Tree:
    """A workspace in a temp dir: write(path, text), then check()."""

    def __init__(self, case):
        self.dir = tempfile.TemporaryDirectory()
        case.addCleanup(self.dir.cleanup)
        self.root = self.dir.name
        self.write("Cargo.toml", '[workspace]\nmembers = ["demo", "tests"]\n')
        self.write("demo/Cargo.toml", '[package]\nname = "demo"\n')

    def write(self, path, text):
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as fh:
            fh.write(textwrap.dedent(text))

    def check(self, max_lines=check_house.MAX_LINES):
        return check_house.check(self.root, max_lines)


def circles(problems):
    return [p for p in problems if "import circle" in p]


class Circles(unittest.TestCase):
    def test_a_circle_is_found_with_the_names_that_tie_it(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "mod a;\nmod b;\nmod c;\n")
        t.write("demo/src/a.rs", "use crate::b::B;\npub struct A;\n")
        t.write("demo/src/b.rs", "pub struct B;\npub fn f() -> u8 { crate::c::g() }\n")
        t.write("demo/src/c.rs", "pub fn g() -> u8 { let _:crate::a::A = crate::a::A; 1 }\n")
        [p] = t.check()
        self.assertIn("demo (lib): import circle among 3 files: "
                      "demo/src/a.rs, demo/src/b.rs, demo/src/c.rs", p)
        self.assertIn("demo/src/a.rs -> demo/src/b.rs: crate::b::B (line 1)", p)
        self.assertIn("demo/src/b.rs -> demo/src/c.rs: crate::c::g (line 2)", p)
        self.assertIn("demo/src/c.rs -> demo/src/a.rs: crate::a::A (line 1)", p)
        self.assertNotIn("lib.rs ->", p)  # `mod a;` is not an import

    def test_a_child_using_its_parent_through_super_only_is_not_a_circle(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "mod net;\n")
        t.write("demo/src/net/mod.rs", "mod conn;\npub struct Addr;\n")
        t.write("demo/src/net/conn.rs", "use super::Addr;\nfn f() -> super::Addr { Addr }\n")
        self.assertEqual(t.check(), [])

    def test_the_parent_using_the_child_back_is_one(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "mod net;\n")
        t.write("demo/src/net/mod.rs", "mod conn;\npub use self::conn::Conn;\npub struct Addr;\n")
        t.write("demo/src/net/conn.rs", "use super::Addr;\npub struct Conn(Addr);\n")
        [p] = circles(t.check())
        self.assertIn("demo/src/net/conn.rs -> demo/src/net/mod.rs: super::Addr (line 1)", p)
        self.assertIn("demo/src/net/mod.rs -> demo/src/net/conn.rs: self::conn::Conn (line 2)", p)

    def test_a_bare_child_path_is_not_counted(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "mod net;\n")
        t.write("demo/src/net/mod.rs", "mod conn;\npub use conn::Conn;\npub struct Addr;\n"
                "fn f() { conn::g() }\n")
        t.write("demo/src/net/conn.rs", "use super::Addr;\npub struct Conn(Addr);\npub fn g() {}\n")
        self.assertEqual(t.check(), [])

    def test_super_in_a_file_is_its_parent_file(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "mod a;\nmod b;\n")
        t.write("demo/src/a.rs", "mod inner;\npub struct A;\npub use self::inner::I;\n")
        t.write("demo/src/a/inner.rs", "pub struct I(super::A);\n")
        t.write("demo/src/b.rs", "pub use super::a::A;\n")
        [p] = circles(t.check())
        self.assertIn("demo/src/a.rs, demo/src/a/inner.rs", p)
        self.assertIn("demo/src/a/inner.rs -> demo/src/a.rs: super::A (line 1)", p)

    def test_use_trees_and_super_chains(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "mod x;\nmod y;\n")
        t.write("demo/src/x/mod.rs", "mod deep;\npub struct X;\n")
        t.write("demo/src/x/deep.rs", "use super::super::y::{self, Y as Why};\n")
        t.write("demo/src/y.rs", "use crate::{x::{self, deep::*}};\npub struct Y;\n")
        [p] = circles(t.check())
        self.assertIn("demo/src/x/deep.rs -> demo/src/y.rs: super::super::y (line 1), "
                      "super::super::y::Y (line 1)", p)
        self.assertIn("demo/src/y.rs -> demo/src/x/deep.rs: crate::x::deep (line 1)", p)
        self.assertNotIn("x/mod.rs", p)  # y uses x, x does not use y: not in the circle

    def test_comments_strings_and_extern_paths_are_not_imports(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "mod a;\nmod b;\n")
        t.write("demo/src/a.rs", r'''
            use crate::b::B;
            pub struct A;
            ''')
        t.write("demo/src/b.rs", r'''
            // use crate::a::A;
            /* crate::a::A /* nested */ crate::a::A */
            /// [`crate::a::A`]
            pub struct B;
            const S: &str = "crate::a::A \" crate::a::A";
            const R: &str = r#"crate::a::A "# ;
            const C: char = '"';
            fn f<'a>(x: &'a str) -> &'a str { let _ = "crate::a::A"; x }
            use ::a::A;
            fn g() { let _ = std::a::A; let _ = other::a::A; }
            ''')
        self.assertEqual(t.check(), [])

    def test_test_code_may_import_anything(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "mod a;\nmod b;\n")
        t.write("demo/src/a.rs", "use crate::b::B;\npub struct A;\n")
        t.write("demo/src/b.rs", '''\
            pub struct B;
            #[cfg(test)]
            use crate::a::A;
            #[cfg(test)]
            mod tests {
                use super::*;
                use crate::a::A;
                #[test]
                fn t() { let _ = crate::a::A; }
            }
            ''')
        self.assertEqual(t.check(), [])

    def test_each_binary_is_its_own_crate(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "pub fn run() {}\n")
        t.write("demo/src/main.rs", "mod cli;\nfn main() { crate::cli::parse(); }\nstruct Opts;\n")
        t.write("demo/src/cli.rs", "pub fn parse() -> crate::Opts { crate::Opts }\n")
        [p] = t.check()
        self.assertIn("demo (bin src/main.rs): import circle among 2 files", p)
        self.assertIn("demo/src/main.rs -> demo/src/cli.rs: crate::cli::parse (line 2)", p)

    def test_integration_tests_are_not_checked(self):
        t = Tree(self)
        t.write("tests/Cargo.toml", '[package]\nname = "t"\n[lib]\npath = "lib.rs"\n')
        t.write("tests/lib.rs", "mod a;\nmod b;\n")
        t.write("tests/a.rs", "use crate::b::B;\npub struct A;\n")
        t.write("tests/b.rs", "use crate::a::A;\npub struct B;\n" + "//\n" * 600)
        t.write("demo/src/lib.rs", "")
        self.assertEqual(t.check(), [])


class Lines(unittest.TestCase):
    def test_a_long_file_is_found(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "mod long;\n")
        t.write("demo/src/long.rs", "fn f() {}\n" * 501)
        self.assertEqual(t.check(), ["demo/src/long.rs: 501 lines outside #[cfg(test)] "
                                     "(at most 500)"])
        t.write("demo/src/long.rs", "fn f() {}\n" * 500)
        self.assertEqual(t.check(), [])

    def test_test_blocks_do_not_count(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "mod m;\n")
        tests = "#[cfg(test)]\nmod tests {\n" + "    #[test]\n    fn t() {}\n" * 200 + "}\n"
        t.write("demo/src/m.rs", "fn f() {}\n" * 450 + tests)
        self.assertEqual(t.check(), [])
        self.assertEqual(check_house.lines_outside_tests("fn f() {}\n" * 450 + tests), 450)
        # A brace in a string or a comment of the tests does not end the block early.
        odd = '#[cfg(test)]\nmod tests {\n    // }\n    const S: &str = "}";\n' + "\n" * 600 + "}\n"
        self.assertEqual(check_house.lines_outside_tests("fn f() {}\n" + odd), 1)

    def test_a_test_module_in_its_own_file_does_not_count(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "pub fn f() {}\n#[cfg(test)]\nmod tests;\n")
        t.write("demo/src/tests.rs", "#[test]\nfn t() {}\n" * 300)
        t.write("demo/tests/it.rs", "#[test]\nfn t() {}\n" * 300)
        self.assertEqual(t.check(), [])


class UseTrees(unittest.TestCase):
    def test_paths(self):
        self.assertEqual(check_house.use_paths("crate::{a::B, c::{self, D as E}}"),
                         [["crate", "a", "B"], ["crate", "c"], ["crate", "c", "D"]])
        self.assertEqual(check_house.use_paths("super::*"), [["super"]])
        self.assertEqual(check_house.use_paths("::std::io"), [])
        self.assertEqual(check_house.use_paths("{::std::io, crate::a}"), [["crate", "a"]])


class Script(unittest.TestCase):
    def run_script(self, root):
        return subprocess.run([sys.executable, os.path.join(HERE, "check_house.py"), root],
                              capture_output=True, text=True, check=False)

    def test_exit_status_and_messages(self):
        t = Tree(self)
        t.write("demo/src/lib.rs", "mod a;\nmod b;\n")
        t.write("demo/src/a.rs", "use crate::b::B;\npub struct A;\n")
        t.write("demo/src/b.rs", "pub struct B;\n")
        ok = self.run_script(t.root)
        self.assertEqual((ok.returncode, ok.stderr), (0, ""), ok.stderr)
        t.write("demo/src/b.rs", "use crate::a::A;\npub struct B;\n" + "\n" * 500)
        bad = self.run_script(t.root)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("check_house: demo (lib): import circle among 2 files", bad.stderr)
        self.assertIn("check_house: demo/src/b.rs: 502 lines", bad.stderr)
        self.assertIn("check_house: 2 problem(s)", bad.stderr)


if __name__ == "__main__":
    unittest.main()
