"""Throwaway network namespaces: `lo` up, addresses of 198.18.0.0/15 on it, per-namespace sysctls
written from inside (the host's stay as they are), and the namespace's own figures read by
c10m-kernel run inside it (`ip netns exec NAME c10m-kernel FACT...`); veth links between two of
them (veth()), which go when either namespace is deleted. Also the probe for whether this machine
can make namespaces at all."""

import os
import shlex
import shutil
import signal
import subprocess
import threading

import procutil

from .cleanup import track_namespace
from .run import sh

_counter = [0]
_counter_lock = threading.Lock()
_CHILD_EHASH = "/proc/sys/net/ipv4/tcp_child_ehash_entries"
_EHASH_MAX = 1 << 24  # the kernel's limit for tcp_child_ehash_entries


def ehash_entries_for(connections):
    """The power of two at or above `connections`, within the kernel's limit: an established-hash
    table of that many buckets keeps every chain about one socket long."""
    n = 1
    while n < connections and n < _EHASH_MAX:
        n *= 2
    return n


def _add_namespace(name, ehash):
    """`ip netns add name`; with `ehash`, the new namespace gets its own established-hash table of
    that many buckets. The kernel sizes a namespace's table when the namespace is made, from the
    creating namespace's net.ipv4.tcp_child_ehash_entries (0, the default: share the host's
    table, sized at boot). The host's value is set only around the one `ip netns add` and put
    back at once, on every exit path."""
    if not ehash:
        sh(["ip", "netns", "add", name])
        return
    with _counter_lock, open(_CHILD_EHASH) as f:
        old = f.read().strip()
        try:
            with open(_CHILD_EHASH, "w") as w:
                w.write(str(ehash))
            sh(["ip", "netns", "add", name])
        finally:
            with open(_CHILD_EHASH, "w") as w:
                w.write(old)


class Netns:
    """A throwaway network namespace with `lo` up and the given addresses on it."""

    def __init__(self, tag, addrs=(), sysctls=None, ehash=None, etc_hosts=None):
        """`etc_hosts`: the text of the namespace's own /etc/hosts (names its programs resolve;
        `ip netns exec` mounts /etc/netns/NAME/hosts over /etc/hosts)."""
        with _counter_lock:
            _counter[0] += 1
            self.name = f"c10m-lab-{os.getpid()}-{_counter[0]}-{tag}"[:60]
        track_namespace(self)
        _add_namespace(self.name, ehash)
        if etc_hosts is not None:
            os.makedirs(self.etc_dir(), exist_ok=True)
            with open(os.path.join(self.etc_dir(), "hosts"), "w") as f:
                f.write(etc_hosts)
        sh(["ip", "-n", self.name, "link", "set", "lo", "up"])
        for a in addrs:
            # IPv6: a /128 with no duplicate-address detection, usable at once.
            extra = ["nodad"] if ":" in a else []
            sh(["ip", "-n", self.name, "addr", "add", f"{a}/{128 if ':' in a else 32}", "dev", "lo"]
               + extra)
        for k, v in (sysctls or {}).items():
            self.sysctl(k, v)

    def path(self, key):
        return "/proc/sys/" + key.replace(".", "/")

    def sysctl(self, key, value):
        """Writes a per-namespace sysctl from inside the namespace (the host's is untouched)."""
        sh(["ip", "netns", "exec", self.name, "sh", "-c",
            f"printf '%s' {shlex.quote(str(value))} > {self.path(key)}"])

    def kernel(self, *facts):
        """{fact: value} of c10m-kernel run inside the namespace (procutil.kernel)."""
        return procutil.kernel(*facts, prefix=self.exec_cmd([]))

    def get(self, key):
        """A sysctl of the namespace, as text."""
        return procutil.fact(f"sysctl={key}", prefix=self.exec_cmd([]))

    def exec_cmd(self, cmd):
        return ["ip", "netns", "exec", self.name] + cmd

    def netstat(self):
        """TcpExt counters of this namespace."""
        return procutil.fact("netstat", prefix=self.exec_cmd([])).get("TcpExt", {})

    def sockstat(self):
        """This namespace's sockstat: tcp_inuse (IPv4), tcp6_inuse, tcp_tw, tcp_orphan,
        tcp_mem_pages..."""
        return procutil.fact("sockstat", prefix=self.exec_cmd([]))

    def tcp_port(self, port):
        """The namespace's TCP sockets of `port` by state: {"local": {state: n}, "remote": {...},
        "client_ports": {...}} (c10m-kernel's tcp-port=PORT)."""
        return procutil.fact(f"tcp-port={port}", prefix=self.exec_cmd([]))

    def delete(self):
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                              text=True).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        shutil.rmtree(self.etc_dir(), ignore_errors=True)

    def etc_dir(self):
        return os.path.join("/etc/netns", self.name)


def veth(a, a_dev, a_addrs, b, b_dev, b_addrs):
    """A veth pair from namespace `a` (device `a_dev`, addresses `a_addrs`, as CIDR) to `b`, both
    ends up; made in the namespaces directly, never on the host. Returns the commands run."""
    cmds = [["ip", "link", "add", a_dev, "netns", a.name, "type", "veth", "peer", "name", b_dev,
             "netns", b.name]]
    for ns, dev, addrs in ((a, a_dev, a_addrs), (b, b_dev, b_addrs)):
        cmds += [["ip", "-n", ns.name, "addr", "add", addr, "dev", dev] for addr in addrs]
        cmds.append(["ip", "-n", ns.name, "link", "set", dev, "up"])
    for cmd in cmds:
        sh(cmd)
    return [" ".join(c) for c in cmds]


def netns_available():
    """None if a namespace can be made here, else why not."""
    name = f"c10m-lab-probe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr.strip() or "ip netns add failed"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None
