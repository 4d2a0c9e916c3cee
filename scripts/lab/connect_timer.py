"""Fills one (source, destination) pair's port range connect by connect and times each batch.

ports-one-pair runs it inside its namespace (`ip netns exec NS python3 connect_timer.py HOST PORT
PORTS BATCH EXTRA`): blocking connect()s to HOST:PORT from unbound sockets, so the kernel picks each
source port in __inet_hash_connect(), until the range is full; then EXTRA more, which must fail
with EADDRNOTAVAIL. Prints one JSON object: per batch, the connections held after it and the
microseconds one connect took on average and how many got an odd source port; the errnos met.
Bounded by PORTS + EXTRA attempts and a deadline.
"""

import errno
import json
import resource
import socket
import struct
import sys
import time

DEADLINE_S = 60
CONNECT_TIMEOUT_S = 2


def connect(host, port):
    """A connected socket, or the errno connect() failed with."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # connect() waits up to SO_SNDTIMEO for the handshake; the socket stays blocking.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", CONNECT_TIMEOUT_S, 0))
    try:
        s.connect((host, port))
        return s
    except OSError as e:
        s.close()
        return errno.errorcode.get(e.errno, str(e.errno))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    ports, batch, extra = (int(a) for a in sys.argv[3:6])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held, batches, errors, first_error_at = [], [], {}, None
    end = time.monotonic() + DEADLINE_S
    attempts = 0
    while attempts < ports + extra and time.monotonic() < end:
        n = min(batch, ports - attempts) if attempts < ports else extra
        got = []
        t0 = time.perf_counter_ns()
        for _ in range(n):
            r = connect(host, port)
            if isinstance(r, socket.socket):
                got.append(r)
            else:
                errors[r] = errors.get(r, 0) + 1
                if first_error_at is None:
                    first_error_at = len(held) + len(got)
        dt = time.perf_counter_ns() - t0
        attempts += n
        held += got
        odd = sum(s.getsockname()[1] & 1 for s in got)
        batches.append({"held": len(held), "connects": n, "ok": len(got), "odd_ports": odd,
                        "us_per_connect": dt / n / 1000})
    print(json.dumps({"type": "connect_timer", "ports": ports, "held": len(held),
                      "attempts": attempts, "errors": errors, "first_error_at": first_error_at,
                      "batches": batches}), flush=True)


if __name__ == "__main__":
    main()
