#!/usr/bin/env bash
# make setup (run by make test and make cluster): installs what the tests and labs need when it
# is missing, and nothing when it is there. Debian's prometheus (make cluster scrapes with a
# real Prometheus server), Debian's nftables (the conntrack lab), PyPI's kubernetes-validate and
# PyYAML (the manifests in deploy/k8s are checked against the Kubernetes schemas offline) and
# matplotlib (the bench's plot), Debian's chromium and chromium-driver with PyPI's selenium (the
# dashboard's tests open it in a real browser; scripts/browse.py). What cannot be installed is
# said here, and the tests that need it are skipped visibly.
set -uo pipefail

say() { echo "setup: $*" >&2; }
updated=0
apt_install() {
  command -v apt-get >/dev/null || { say "no apt-get: install $* by hand"; return 1; }
  [ "$(id -u)" = 0 ] || { say "not root: cannot install $* (sudo make setup)"; return 1; }
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
    [ "$updated" = 1 ] || { apt-get update -qq >/dev/null 2>&1; updated=1; }
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
      || { say "apt-get install $* failed"; return 1; }
  fi
  say "installed $* (Debian)"
}

command -v prometheus >/dev/null || apt_install prometheus
command -v nft >/dev/null || apt_install nftables
command -v perf >/dev/null || apt_install linux-perf
{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } \
  || apt_install chromium chromium-driver

if ! python3 -c 'import selenium' 2>/dev/null; then
  if python3 -m pip install -q selenium >/dev/null 2>&1; then
    say "installed selenium (PyPI): the dashboard's browser tests"
  else
    say "pip install selenium failed: the dashboard's browser tests will be skipped"
  fi
fi

if ! python3 -c 'import matplotlib' 2>/dev/null; then
  if python3 -m pip install -q matplotlib >/dev/null 2>&1; then
    say "installed matplotlib (PyPI): the bench's plot.png"
  else
    say "pip install matplotlib failed: the bench draws its plain SVG instead"
  fi
fi

if ! python3 -c 'import kubernetes_validate, yaml' 2>/dev/null; then
  if python3 -m pip install -q kubernetes-validate pyyaml >/dev/null 2>&1; then
    say "installed kubernetes-validate and PyYAML (PyPI)"
  else
    say "pip install kubernetes-validate failed: the manifest check will be skipped"
  fi
fi
exit 0
