#!/usr/bin/env python3
"""Opens a c10m dashboard (or a --report file) in a real browser, headless, and says what it shows.

Debian's chromium, driven through chromium-driver by selenium (make setup installs all three).
It loads URL, waits until the JavaScript expression --until is true (if given), reads the
expressions --read NAME=EXPR, takes a screenshot of the whole page if --shot is given, and
prints one JSON object: {"until": true|false, "read": {NAME: value}, "console": [messages at
level SEVERE or WARNING], "shot": path}.

    scripts/browse.py http://127.0.0.1:8080/ docs/img/dashboard.png
    scripts/browse.py file:///tmp/report.html --offline --read 'ended=document.querySelector("#summary").dataset.ended'

--offline cuts the browser off the network (DevTools' network emulation) before the page loads:
a report must open that way. --every MS asks a live page to poll every MS milliseconds.
Exit status: 0 the page did what --until asked (or no --until), 1 it did not in --timeout
seconds, 3 no browser here (chromium, chromium-driver or selenium missing: run make setup).
Nothing is left behind: the browser, its driver and its profile folder go when it ends.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
# What works here as root, with no display and no network but the loopback: without the
# background-networking flags chromium tries to reach its vendor and is refused.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1"]


def browser(width, height, profile):
    """A headless chromium under selenium, or None (and why on stderr) when there is none."""
    missing = [p for p in (CHROMIUM, DRIVER) if not os.path.exists(p)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (PyPI)")
    if missing:
        print(f"browse: no browser: {', '.join(missing)} missing; run make setup", file=sys.stderr)
        return None
    # Selenium's own manager would look for drivers on the network: both paths are given.
    os.environ.setdefault("SE_OFFLINE", "true")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS + [f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("out", nargs="?", help="PNG of the whole page (the same as --shot)")
    ap.add_argument("--shot", help="PNG of the whole page")
    ap.add_argument("--until", help="JavaScript expression to wait for")
    ap.add_argument("--read", action="append", default=[], metavar="NAME=EXPR")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--offline", action="store_true")
    ap.add_argument("--every", type=int, help="a live page's poll interval, in ms")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--settle", type=float, default=1.5, help="seconds to wait before reading")
    ap.add_argument("--after", type=float, default=0.0,
                    help="seconds to wait once --until holds, before reading and the screenshot")
    a = ap.parse_args()
    a.shot = a.shot or a.out
    # SIGTERM ends it as Ctrl-C does: through the finally below, so nothing is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    profile = tempfile.mkdtemp(prefix="c10m-browse-")
    driver = None
    try:
        driver = browser(a.width, a.height, profile)
        if driver is None:
            return 3
        driver.set_page_load_timeout(a.timeout)
        if a.offline:
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
                "offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
        url = a.url
        if a.every:
            url += ("&" if "?" in url else "?") + f"every={a.every}"
        driver.get(url)
        time.sleep(a.settle)
        met = True
        if a.until:
            deadline = time.time() + a.timeout
            met = False
            while time.time() < deadline:
                try:
                    met = bool(driver.execute_script(f"return ({a.until});"))
                except Exception:  # the page is still loading its script
                    met = False
                if met:
                    break
                time.sleep(0.2)
        if met and a.after:
            time.sleep(a.after)
        read = {}
        for item in a.read:
            name, _, expr = item.partition("=")
            try:
                read[name] = driver.execute_script(f"return ({expr});")
            except Exception as e:
                read[name] = f"error: {e.__class__.__name__}"
        if a.shot:
            height = driver.execute_script("return document.documentElement.scrollHeight;")
            driver.set_window_size(a.width, max(a.height, min(int(height) + 40, 6000)))
            time.sleep(0.5)
            driver.save_screenshot(a.shot)
        console = [f"{e.get('level')}: {e.get('message')}" for e in driver.get_log("browser")
                   if e.get("level") in ("SEVERE", "WARNING")]
        print(json.dumps({"until": met, "read": read, "console": console, "shot": a.shot}))
        return 0 if met else 1
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
