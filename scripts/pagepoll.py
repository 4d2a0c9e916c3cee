#!/usr/bin/env python3
"""Reads a c10m dashboard the way its page does, without a browser: /api/state, then the rows
it has not seen from /api/series, every --every seconds over one kept-alive connection, for
--duration seconds (or until the process is gone). For benchmarks that ask what an open page
costs the server (make bench-metrics, BENCH_PAGE=poll make bench).

    scripts/pagepoll.py http://127.0.0.1:8080/ --every 0.1 --duration 30

Prints one line at the end: requests answered, failed, and the largest answer in bytes.
"""

import argparse
import http.client
import json
import sys
import time
import urllib.parse


def poll(url, every, duration):
    u = urllib.parse.urlsplit(url)
    conn = None
    gen, rows = -1, 0
    ok = failed = largest = 0
    end = time.time() + duration
    while time.time() < end:
        time.sleep(every)
        try:
            conn = conn or http.client.HTTPConnection(u.hostname, u.port, timeout=2)
            conn.request("GET", "/api/state")
            body = conn.getresponse().read()
            state = json.loads(body)
            frm = rows if state["generation"] == gen else 0
            conn.request("GET", f"/api/series?gen={gen}&from={frm}")
            series_body = conn.getresponse().read()
            series = json.loads(series_body)
            gen, rows = series["generation"], series["from"] + len(series["rows"])
            ok += 2
            largest = max(largest, len(body), len(series_body))
            if state.get("ended"):
                break
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            failed += 1
            if conn:
                conn.close()
            conn = None
            if failed > 20 and ok == 0:
                break
    return ok, failed, largest


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("--every", type=float, default=0.1)
    ap.add_argument("--duration", type=float, default=60.0)
    a = ap.parse_args()
    ok, failed, largest = poll(a.url, a.every, a.duration)
    print(f"pagepoll: {ok} answers, {failed} failed, largest {largest} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
