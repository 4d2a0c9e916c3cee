//! Integration tests: they start the real `c10m-server` and `c10m-client` binaries (built with
//! `cargo build --release`), drive them over 127.0.0.1, and check what they print and do.
//!
//! - `server`: the server against peers the test process drives with std sockets.
//! - `client`: the client against the server.
//! - `scale`: past one process's fd limit: server `--workers`, client `--processes`.
//! - `usage`: bad command lines and unreachable targets.

mod util;

mod client;
mod scale;
mod server;
mod usage;
