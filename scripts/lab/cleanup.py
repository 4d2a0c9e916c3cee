"""Everything the lab makes (network namespaces, processes) is registered here as it is made,
and torn down after each experiment and on any exit: the processes are killed first, then the
namespaces deleted, each in the reverse order of creation."""

import threading

_processes = []
_namespaces = []
_lock = threading.Lock()


def track_process(proc):
    """Registers a running Proc (it has kill())."""
    with _lock:
        _processes.append(proc)


def track_namespace(ns):
    """Registers a Netns (it has delete()), before it is created, so a half-made one goes too."""
    with _lock:
        _namespaces.append(ns)


def teardown():
    with _lock:
        procs, namespaces = list(reversed(_processes)), list(reversed(_namespaces))
        _processes.clear()
        _namespaces.clear()
    for proc in procs:
        proc.kill()
    for ns in namespaces:
        ns.delete()
