"""Running things: a command that must succeed (sh), a c10m binary inside a namespace whose
stdout and stderr are collected (Proc), and waiting for a condition with a deadline (wait_for)."""

import contextlib
import json
import os
import shlex
import signal
import subprocess
import threading
import time

from procutil import Lines, kernel

from .cleanup import track_process
from .errors import LabError
from .paths import BIN


def sh(cmd):
    """Runs cmd; its stdout, or LabError with its stderr when it exits non-zero."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: {r.stderr.strip() or r.returncode}")
    return r.stdout


def settled(read, timeout, step=0.1, accept=lambda v: True):
    """read() once two calls in a row return the same accepted value, or its last value after
    `timeout` seconds. /proc/net/tcp is walked bucket by bucket while sockets come and go, so a
    single walk can see one twice or miss one; two walks that agree saw a table holding still."""
    end, prev = time.time() + timeout, object()
    while True:
        v = read()
        if (v == prev and accept(v)) or time.time() >= end:
            return v
        prev = v
        time.sleep(step)


def kernel_log(*needles):
    """The kernel log's lines (dmesg) that contain every one of `needles`."""
    r = subprocess.run(["dmesg"], capture_output=True, text=True)
    return [line for line in r.stdout.splitlines() if all(n in line for n in needles)]


@contextlib.contextmanager
def machine_sysctl(path, value):
    """Writes `value` to the machine-wide /proc/sys file `path` for the block and puts the old
    value back on every exit path (an exception, Ctrl-C's SystemExit); yields the old value."""
    with open(path) as f:
        old = f.read().strip()
    try:
        with open(path, "w") as f:
            f.write(str(value))
        yield old
    finally:
        with open(path, "w") as f:
            f.write(old)


def wait_for(cond, timeout, step=0.1):
    """Calls cond() every `step` seconds until it returns something true, which is returned;
    None after `timeout` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return None


class Proc:
    """A c10m binary (or another program) running in a namespace, its stdout collected line by
    line."""

    def __init__(self, ns, name, args, preexec=None, env=None, cwd=None):
        """`name`: a c10m binary of BIN, else a program on PATH; `env`: variables added to the
        inherited environment; `cwd`: the directory it runs in."""
        path = os.path.join(BIN, name)
        self.cmd = [path if os.path.exists(path) else name] + [str(a) for a in args]
        pre = "".join(f"{k}={shlex.quote(str(v))} " for k, v in (env or {}).items())
        self.display = f"{pre}ip netns exec {ns.name} {name} {' '.join(shlex.quote(str(a)) for a in args)}"
        self.stderr_lines = []
        self.p = subprocess.Popen(ns.exec_cmd(self.cmd), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True,
                                  preexec_fn=preexec, cwd=cwd,
                                  env={**os.environ, **{k: str(v) for k, v in env.items()}}
                                  if env else None)
        track_process(self)
        self.out = Lines(self.p, name)
        self.err_thread = threading.Thread(target=self._stderr, daemon=True)
        self.err_thread.start()

    def _stderr(self):
        for raw in self.p.stderr:
            self.stderr_lines.append(raw.decode(errors="replace").rstrip("\n"))

    def json(self, ty=None):
        """Every JSON object printed so far (of `"type": ty` only, if given), in order."""
        objs = []
        for line in list(self.out.lines):
            if line.startswith("{"):
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                if ty is None or o.get("type") == ty:
                    objs.append(o)
        return objs

    def kernel(self, *facts):
        """{fact: value} of c10m-kernel for the /proc/net facts of this process's namespace, read
        through /proc/PID/net from here (--net-of): cheap enough to sample every few
        milliseconds, where Netns.kernel() enters the namespace each time. (`ip netns exec` execs
        the program, so PID is the program's.)"""
        return kernel(*facts, net_of=self.p.pid)

    def last(self, ty):
        objs = self.json(ty)
        return objs[-1] if objs else None

    def wait(self, timeout):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise LabError(f"{self.display} did not finish in {timeout} s")
        self.out.thread.join(5)
        self.err_thread.join(5)
        return self.p.returncode

    def stop(self, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait(10)

    def delete(self):
        self.kill()

    def dump(self):
        return "\n".join([f"$ {self.display}", "--- stdout", *self.out.lines[-40:],
                          "--- stderr", *self.stderr_lines[-40:]])
