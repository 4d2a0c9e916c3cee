//! c10m-report: what the binaries measure with, and how their records reach people and scripts.
//!
//! - [`output`]: the output pipeline: records in, one module per format out.
//! - [`metrics`]: `--metrics`: the Prometheus text format, served from a thread of its own.
//! - [`dashboard`]: `--dashboard` and `--report`: the run as a web page, live and as one file.
//! - [`http`]: the small, bounded HTTP server both pages are served by.
//! - [`page_error`]: why a page cannot be served: bad usage, or a failure at start.
//! - [`histogram`]: a fixed, mergeable latency histogram.
//! - [`counts`]: failures counted by kind in a fixed array.
//! - [`rss`]: user-space bytes per connection from RSS growth.
//! - [`tick`]: the live line's steady interval.
//! - [`fmt`]: human numbers (19.9k, 1.05M, KiB/MiB).

pub mod counts;
pub mod dashboard;
pub mod fmt;
pub mod histogram;
pub mod http;
pub mod metrics;
pub mod output;
pub mod page_error;
pub mod rss;
pub mod tick;
