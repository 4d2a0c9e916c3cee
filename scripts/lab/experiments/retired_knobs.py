"""retired-knobs (C4, C5): knobs the article names that this kernel no longer has, or that do
nothing.

net.ipv4.tcp_tw_recycle was removed in Linux 4.12 (commit 4396e46187ca): it trusted a timestamp
remembered per remote host, which breaks behind NAT and, once timestamp offsets became random per
connection, for everyone; the sysctl file is gone, so writing it fails. ip_local_port_range
defaults to 32768-60999 (28,232 ports); the article's "1024 65535" gives 64,512 per
(source, destination) pair once actually set. tcp_tw_reuse is 0, 1 or 2 (loopback only, the
default); tcp_tw_reuse_delay (ms) is the minimum age of a reused TIME_WAIT socket, absent on older
kernels. These net.* sysctls belong to the network namespace, so a throwaway one can try them all.
docs/labs/retired-knobs.md is the worksheet.
"""

import os

from ..errors import LabError
from ..framework import fmt
from ..predictions import plus_minus, quantity, text

NAME = "retired-knobs"
CLAIMS = "C4, C5"
TITLE = "Knobs the article names that this kernel no longer has, or that do nothing"


PREDICTIONS = [
    quantity("tw_recycle", "Does net.ipv4.tcp_tw_recycle exist on this kernel? Answer present or "
             "absent.", "present or absent", text(),
             "It was removed in Linux 4.12: it broke clients behind NAT, and random timestamp "
             "offsets made it useless for everyone.", paragraph="`tcp_tw_recycle` is gone."),
    quantity("default_ports", "How many ports does the default ip_local_port_range hold?", "ports",
             plus_minus(0), "32768-60999: 60,999 - 32,768 + 1 = 28,232.",
             paragraph="`ip_local_port_range`."),
    quantity("wide_ports", "How many once it is set to the article's \"1024 65535\"?", "ports",
             plus_minus(0), "65,535 - 1,024 + 1 = 64,512.", paragraph="`ip_local_port_range`."),
]


def port_range(ns):
    """The namespace's ip_local_port_range as (first, last)."""
    r = ns.kernel("port-range")["port-range"]
    return r["low"], r["high"]


def run(lab):
    ns = lab.ns("knobs")
    release = os.uname().release
    recycle = os.path.exists("/proc/sys/net/ipv4/tcp_tw_recycle")
    default_range = port_range(ns)
    ns.sysctl("net.ipv4.ip_local_port_range", "1024 65535")
    wide = port_range(ns)
    try:
        ns.sysctl("net.ipv4.tcp_tw_recycle", 1)
        wrote = "accepted"
    except LabError as e:
        wrote = "refused (" + str(e).split(":")[-1].strip() + ")"
    reuse = ns.get("net.ipv4.tcp_tw_reuse")
    delay = ns.get("net.ipv4.tcp_tw_reuse_delay") if os.path.exists(
        "/proc/sys/net/ipv4/tcp_tw_reuse_delay") else "absent on this kernel"
    lab.row("net.ipv4.tcp_tw_recycle", "recycles TIME_WAIT, breaks NAT (C4)",
            f"{'present' if recycle else 'absent'} on Linux {release} (removed in 4.12); writing it: {wrote}")
    lab.row("ip_local_port_range default", "widen it (C5)",
            f"{default_range[0]}-{default_range[1]} = {fmt(default_range[1] - default_range[0] + 1)} ports")
    lab.row("the article's example \"1024 65535\"", "\"1024-65535 to 1024-65535\" (a no-op typo)",
            f"{wide[0]}-{wide[1]} = {fmt(wide[1] - wide[0] + 1)} ports once actually set")
    lab.row("net.ipv4.tcp_tw_reuse / tcp_tw_reuse_delay (ms)", "enable reuse (C3)",
            f"{reuse} (2 = loopback only, the default) / {delay}")
    lab.measure("tw_recycle", "present" if recycle else "absent")
    lab.measure("default_ports", default_range[1] - default_range[0] + 1)
    lab.measure("wide_ports", wide[1] - wide[0] + 1)
    major, minor = (int(x) for x in release.split(".")[:2])
    lab.check("tcp_tw_recycle is absent on kernels from 4.12", recycle == ((major, minor) < (4, 12)))
    lab.check("the port range can be widened to 64,512 ports", wide == (1024, 65535))
