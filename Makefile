# c10m: `make demo` shows one process holding ~19,000 connections; `make test` runs the suite.
CARGO ?= cargo
BIN   := target/release

.PHONY: all build demo test lint fmt clean help

all: build

help:
	@echo "make build   build c10m-server and c10m-client (release)"
	@echo "make demo    one server process filled to its fd limit by one client, on loopback (< 1 min)"
	@echo "make test    unit and integration tests (what CI runs)"
	@echo "make lint    cargo fmt --check and clippy -D warnings"
	@echo "make clean   remove build output"

build:
	$(CARGO) build --release --workspace --bins

demo: build
	@scripts/demo.sh

test: build
	$(CARGO) test --release --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
