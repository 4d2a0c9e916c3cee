# c10m: `make demo` shows one process holding ~19,000 connections; `make test` runs the suite.
CARGO ?= cargo
BIN   := target/release

.PHONY: all build setup cluster course demo test lint fmt clean help bench bench-tun bench-connect bench-ramp bench-metrics lab

all: build

help:
	@echo "make build   build c10m-server, c10m-client and c10m-kernel, which reads /proc for the scripts (release)"
	@echo "make demo    one server process filled to its fd limit by one client, on loopback (< 1 min)"
	@echo "make test    unit and integration tests (what CI runs); installs what they need first (make setup)"
	@echo "make course  make lab, then the course pack's student and teacher sheets from its results (docs/course/labs/)"
	@echo "make cluster  CLUSTER_HOSTS (8) client hosts x CLUSTER_CONNS/HOSTS connections to one server, from deploy/k8s, summed by Prometheus"
	@echo "make bench   BENCH_CONNS (default 1,000,000) held 30 s with pings, vs the C floor; writes bench/results/latest/"
	@echo "make bench-tun  BENCH_CONNS (default 3,000,000) to c10m-server from the TUN client in a namespace, vs the floor server"
	@echo "make bench-connect  one-process connect rate vs the C floor (BENCH_N, BENCH_ROUNDS)"
	@echo "make bench-metrics  server user bytes per connection with and without --metrics (BENCH_N, BENCH_ROUNDS)"
	@echo "make bench-ramp  the ramp to BENCH_CONNS alone, c10m vs the C floor, BENCH_ROUNDS alternating rounds, wall and CPU"
	@echo "make lab     every experiment of the lab (docs/labs/), each in throwaway network namespaces (< 3 min, root)"
	@echo "make lab-NAME  one experiment: $(shell python3 scripts/lab --list 2>/dev/null | cut -d' ' -f1 | tr '\n' ' ')"
	@echo "make lint    cargo fmt --check and clippy -D warnings"
	@echo "make clean   remove build output"

build:
	$(CARGO) build --release --workspace --bins

demo: build
	@scripts/demo.sh

setup:
	@scripts/setup.sh

test: build setup
	python3 -m unittest discover -s scripts -p 'test_*.py'
	$(CARGO) test --release --workspace

bench: build setup
	python3 scripts/bench.py

bench-tun: build setup
	BENCH_ENGINE=tun python3 scripts/bench.py

bench-connect: build
	scripts/bench-connect.sh

bench-metrics: build
	scripts/bench-metrics.sh

bench-ramp: build
	python3 scripts/bench-ramp.py

course: lab
	python3 scripts/course.py --publish

cluster: build setup
	python3 scripts/cluster.py

lab: build
	python3 scripts/lab

lab-%: build
	python3 scripts/lab $*

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
