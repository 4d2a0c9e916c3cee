# c10m: `make demo` shows one process holding ~19,000 connections; `make test` runs the suite.
CARGO ?= cargo
BIN   := target/release
# make install: PREFIX and DESTDIR as usual (DESTDIR stages the tree, for packagers).
PREFIX  ?= /usr/local
DESTDIR ?=
# What users run; each renders its own man page and completions (--generate KIND).
BINS := c10m-server c10m-client
GEN  := $(BIN)/generated

.PHONY: all build generate install uninstall deb setup cluster course demo test lint fmt clean help bench bench-tun bench-connect bench-ramp bench-metrics bench-echo sched-timeline size-compare lab

all: build

help:
	@echo "make build   build c10m-server, c10m-client and c10m-kernel, which reads /proc for the scripts (release)"
	@echo "make install  build, then install both binaries, man pages and bash/zsh/fish completions under PREFIX (/usr/local; DESTDIR too)"
	@echo "make uninstall  remove what make install put under PREFIX"
	@echo "make deb     a Debian package (cargo-deb) with both binaries, man pages and completions, in target/debian/"
	@echo "make demo    one server process filled to its fd limit by one client, on loopback (< 1 min); both dashboards live, report.html after"
	@echo "make test    unit and integration tests (what CI runs); installs what they need first (make setup)"
	@echo "make course  make lab, then the course pack's student and teacher sheets from its results (docs/course/labs/)"
	@echo "make cluster  CLUSTER_HOSTS (8) client hosts x CLUSTER_CONNS/HOSTS connections to one server, from deploy/k8s, summed by Prometheus"
	@echo "make bench   BENCH_CONNS (default 1,000,000) held 30 s with pings, vs the C floor; writes bench/results/latest/"
	@echo "make bench-tun  BENCH_CONNS (default 3,000,000) to c10m-server from the TUN client in a namespace, vs the floor server"
	@echo "make bench-connect  one-process connect rate vs the C floor (BENCH_N, BENCH_ROUNDS)"
	@echo "make bench-metrics  server user bytes per connection without a page, with --metrics, with --dashboard (BENCH_N, BENCH_ROUNDS)"
	@echo "make bench-echo  traffic at 19,000, 200,000 and 1,000,000 connections: the rate sweep to the knee, c10m-server vs the floor's echo server"
	@echo "make sched-timeline  which CPU the client and the workers run on at 200,000 connections, client free vs kept to one CPU (perf sched)"
	@echo "make size-compare  c10m-server --check --size-for beside published single-machine results (WhatsApp, Phoenix, MigratoryData)"
	@echo "make bench-ramp  the ramp to BENCH_CONNS alone, c10m vs the C floor, BENCH_ROUNDS alternating rounds, wall and CPU"
	@echo "make lab     every experiment of the lab (docs/labs/), each in throwaway network namespaces (< 6 min, root); python3 scripts/lab predict NAME grades predictions (docs/course/predicting.md)"
	@echo "make lab-NAME  one experiment: $(shell python3 scripts/lab --list 2>/dev/null | cut -d' ' -f1 | tr '\n' ' ')"
	@echo "make lint    cargo fmt --check, clippy -D warnings, and the house checks (scripts/check_house.py)"
	@echo "make clean   remove build output"

build:
	$(CARGO) build --release --workspace --bins

# The man pages and completions, rendered by the binaries from their own clap definitions.
generate: build
	@mkdir -p $(GEN)/man $(GEN)/bash $(GEN)/zsh $(GEN)/fish
	@for b in $(BINS); do \
	  $(BIN)/$$b --generate man > $(GEN)/man/$$b.1 && \
	  $(BIN)/$$b --generate complete-bash > $(GEN)/bash/$$b && \
	  $(BIN)/$$b --generate complete-zsh > $(GEN)/zsh/_$$b && \
	  $(BIN)/$$b --generate complete-fish > $(GEN)/fish/$$b.fish || exit 1; \
	done
	@echo "man pages and completions in $(GEN)/"

install: generate
	@d='$(DESTDIR)$(PREFIX)'; set -e; \
	install -d "$$d/bin" "$$d/share/man/man1" "$$d/share/bash-completion/completions" \
	  "$$d/share/zsh/site-functions" "$$d/share/fish/vendor_completions.d"; \
	for b in $(BINS); do \
	  install -m 755 $(BIN)/$$b "$$d/bin/$$b"; \
	  install -m 644 $(GEN)/man/$$b.1 "$$d/share/man/man1/$$b.1"; \
	  install -m 644 $(GEN)/bash/$$b "$$d/share/bash-completion/completions/$$b"; \
	  install -m 644 $(GEN)/zsh/_$$b "$$d/share/zsh/site-functions/_$$b"; \
	  install -m 644 $(GEN)/fish/$$b.fish "$$d/share/fish/vendor_completions.d/$$b.fish"; \
	done; \
	echo "installed $(BINS) under $$d (bin/, share/man/man1/, bash, zsh and fish completions)"

uninstall:
	@d='$(DESTDIR)$(PREFIX)'; \
	for b in $(BINS); do \
	  rm -f "$$d/bin/$$b" "$$d/share/man/man1/$$b.1" \
	    "$$d/share/bash-completion/completions/$$b" "$$d/share/zsh/site-functions/_$$b" \
	    "$$d/share/fish/vendor_completions.d/$$b.fish"; \
	done; \
	echo "removed $(BINS) from $$d"

# cargo-deb (cargo install cargo-deb --locked); the package is described in server/Cargo.toml.
# Its Maintainer field is whoever builds it: git's user.name and user.email, or DEB_MAINTAINER.
DEB_MAINTAINER ?= $(shell git config user.name) <$(shell git config user.email)>
deb: generate
	@$(CARGO) deb --version >/dev/null 2>&1 || { echo "make deb needs cargo-deb: cargo install cargo-deb --locked"; exit 1; }
	gzip -9nkf $(GEN)/man/*.1
	$(CARGO) deb -p c10m-server --no-build --maintainer '$(DEB_MAINTAINER)'

demo: build
	@scripts/demo.sh

setup:
	@scripts/setup.sh

test: build setup
	python3 -m unittest discover -s scripts -p 'test_*.py'
	$(CARGO) test --profile test-fast --workspace

bench: build setup
	python3 scripts/bench.py

bench-tun: build setup
	BENCH_ENGINE=tun python3 scripts/bench.py

bench-connect: build
	scripts/bench-connect.sh

bench-metrics: build
	scripts/bench-metrics.sh

bench-echo: build setup
	python3 scripts/bench-echo.py

sched-timeline: build setup
	python3 scripts/sched-timeline.py

size-compare: build
	python3 scripts/size-compare.py

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
	python3 scripts/check_house.py

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
