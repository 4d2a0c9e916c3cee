//! Integration tests: they start the real `c10m-server` and `c10m-client` binaries (built with
//! `cargo build --release`), drive them over 127.0.0.1, and check what they print and do.
//!
//! - `server`: the server against peers the test process drives with std sockets.
//! - `client`: the client against the server.
//! - `scale`: past one process's fd limit: server `--workers`, client `--processes`.
//! - `shards`: `--shard`, `--start-at` and `--metrics`, the page read back against the summaries.
//! - `tun`: the TUN engine, each test in its own network namespace.
//! - `tun_wire`: the TUN engine over lossy paths between namespaces (nftables), and over IPv6.
//! - `usage`: bad command lines and unreachable targets.
//! - `engines`: every engine `--list-engines` names, over the same small plan.
//! - `contract`: the README's output contract, field for field, on both binaries.
//! - `check`: `--check`, the limits table for -n N, on both binaries.
//! - `dashboard`: `--dashboard` and `--report` in a real browser, the pages' bounds, their mistakes.
//! - `cluster`: `make cluster` at a small size: deploy/k8s's commands summed by a real Prometheus.
//! - `lab`: the lab's experiments (scripts/lab), each in its own network namespaces.

mod util;

mod check;
mod client;
mod cluster;
mod contract;
mod dashboard;
mod engines;
mod lab;
mod scale;
mod server;
mod shards;
mod tun;
mod tun_wire;
mod usage;
