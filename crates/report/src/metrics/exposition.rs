//! One scrape's worth of samples, rendered in the Prometheus text format by `prometheus-client`.
//!
//! The binaries already count everything in plain records that add up across processes (the
//! supervisor's aggregate). A [`Snapshot`] is those numbers at one instant, named the
//! Prometheus way: a `c10m_` prefix, base units in the name (`_seconds`, `_bytes`), counters
//! ending in `_total` (the encoder adds it). The encoder writes the OpenMetrics text format,
//! which Prometheus scrapes as it is.
//!
//! # Latency as buckets
//! Percentiles of separate shards cannot be averaged into the percentile of all; bucket counts
//! can be added. The RTT histogram is exposed as cumulative buckets at fixed edges (powers of two
//! of microseconds, and one and a half times each), which are also edges of the binaries' own
//! log-linear histogram, so every bucket count is exact; `histogram_quantile()` over the sum of
//! all shards' buckets is then the quantile of all their samples, to the bucket's width.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::counts::ErrnoCounts;
use crate::histogram::Histogram;
use c10m_kernel::sockstat::SockStat;

/// The content type of what [`Snapshot::render`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone)]
enum Value {
    Counter(u64),
    Gauge(f64),
    /// (upper edge in seconds, samples from the edge before up to it), the sum in seconds, the count.
    Histogram {
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    },
}

#[derive(Debug, Clone)]
struct Family {
    name: String,
    help: &'static str,
    kind: MetricType,
    samples: Vec<(Vec<(String, String)>, Value)>,
}

/// The samples of one scrape, built by the binaries and rendered by [`Snapshot::render`].
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    families: Vec<Family>,
}

/// The bucket edges of latency histograms, in µs: 16, 24, 32, 48, ... 2^25 (33.6 s).
pub fn latency_edges_us() -> impl Iterator<Item = u64> {
    (4..=25)
        .flat_map(|k| [1u64 << k, 3u64 << (k - 1)])
        .filter(|e| *e <= 1 << 25)
}

impl Snapshot {
    fn push(
        &mut self,
        name: &str,
        help: &'static str,
        kind: MetricType,
        samples: Vec<(Vec<(String, String)>, Value)>,
    ) {
        self.families.push(Family {
            name: name.to_string(),
            help,
            kind,
            samples,
        });
    }

    /// A counter; `name` without `_total`, which the encoder adds.
    pub fn counter(&mut self, name: &str, help: &'static str, v: u64) -> &mut Self {
        self.push(
            name,
            help,
            MetricType::Counter,
            vec![(vec![], Value::Counter(v))],
        );
        self
    }

    pub fn gauge(&mut self, name: &str, help: &'static str, v: f64) -> &mut Self {
        self.push(
            name,
            help,
            MetricType::Gauge,
            vec![(vec![], Value::Gauge(v))],
        );
        self
    }

    /// A gauge with one sample per label value.
    fn gauges_by(
        &mut self,
        name: &str,
        help: &'static str,
        label: &str,
        values: &[(&str, f64)],
    ) -> &mut Self {
        let samples = values
            .iter()
            .map(|(l, v)| (vec![(label.to_string(), l.to_string())], Value::Gauge(*v)))
            .collect();
        self.push(name, help, MetricType::Gauge, samples);
        self
    }

    /// A counter by errno (`errno="ECONNREFUSED"`), one sample per errno seen.
    pub fn counter_by_errno(
        &mut self,
        name: &str,
        help: &'static str,
        counts: &ErrnoCounts,
    ) -> &mut Self {
        let samples = counts
            .iter()
            .map(|(errno, n)| {
                (
                    vec![("errno".to_string(), errno.to_string())],
                    Value::Counter(n),
                )
            })
            .collect();
        self.push(name, help, MetricType::Counter, samples);
        self
    }

    /// A latency histogram in seconds from a histogram of microseconds.
    pub fn histogram_seconds(
        &mut self,
        name: &str,
        help: &'static str,
        h: &Histogram,
    ) -> &mut Self {
        // The encoder adds the buckets up itself: each gets the samples since the edge before.
        let mut below = 0;
        let mut buckets: Vec<(f64, u64)> = latency_edges_us()
            .map(|e| {
                let now = h.count_below(e);
                let here = now - below;
                below = now;
                (e as f64 / 1e6, here)
            })
            .collect();
        buckets.push((f64::INFINITY, h.count() - below));
        let v = Value::Histogram {
            buckets,
            sum: h.sum() as f64 / 1e6,
            count: h.count(),
        };
        self.push(name, help, MetricType::Histogram, vec![(vec![], v)]);
        self
    }

    /// The namespace's `/proc/net/sockstat` TCP line, as gauges.
    pub fn sockstat(&mut self, tcp: &SockStat, page_size: u64) -> &mut Self {
        self.gauges_by(
            "c10m_sockstat_tcp_sockets",
            "TCP sockets of the network namespace by /proc/net/sockstat kind (inuse, orphan, tw, alloc)",
            "kind",
            &[
                ("inuse", tcp.tcp_inuse as f64),
                ("orphan", tcp.tcp_orphan as f64),
                ("tw", tcp.tcp_tw as f64),
                ("alloc", tcp.tcp_alloc as f64),
            ],
        );
        self.gauge(
            "c10m_sockstat_tcp_memory_bytes",
            "Memory of TCP socket buffers, machine-wide (sockstat mem pages x page size), the figure tcp_mem limits",
            (tcp.tcp_mem_pages * page_size) as f64,
        )
    }

    /// The OpenMetrics text of every sample, ending in `# EOF`.
    pub fn render(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

fn encode_value(
    v: &Value,
    e: prometheus_client::encoding::MetricEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    let mut e = e;
    match v {
        Value::Counter(n) => ConstCounter::new(*n).encode(e),
        Value::Gauge(x) => ConstGauge::new(*x).encode(e),
        Value::Histogram {
            buckets,
            sum,
            count,
        } => e.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None),
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.families {
            let mut me = encoder.encode_descriptor(&f.name, f.help, None, f.kind)?;
            match &f.samples[..] {
                [(labels, v)] if labels.is_empty() => encode_value(v, me)?,
                samples => {
                    for (labels, v) in samples {
                        encode_value(v, me.encode_family(labels)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_errnos_and_buckets() {
        let mut failed = ErrnoCounts::default();
        failed.add("ECONNREFUSED", 3);
        let mut rtt = Histogram::default();
        for us in [20, 100, 100, 3000] {
            rtt.record(us);
        }
        let mut s = Snapshot::default();
        s.gauge("c10m_client_connections", "held now", 42.0)
            .counter("c10m_client_established", "handshakes done", 45)
            .counter_by_errno("c10m_client_failures", "by errno", &failed)
            .histogram_seconds("c10m_client_rtt_seconds", "round trips", &rtt);
        let text = s.render();
        for line in [
            "# TYPE c10m_client_established counter",
            "c10m_client_connections 42.0",
            "c10m_client_established_total 45",
            "c10m_client_failures_total{errno=\"ECONNREFUSED\"} 3",
            "c10m_client_rtt_seconds_bucket{le=\"0.000024\"} 1",
            "c10m_client_rtt_seconds_bucket{le=\"0.000128\"} 3",
            "c10m_client_rtt_seconds_bucket{le=\"+Inf\"} 4",
            "c10m_client_rtt_seconds_count 4",
            "c10m_client_rtt_seconds_sum 0.00322",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn edges_are_the_histograms_own() {
        for e in latency_edges_us() {
            let mut h = Histogram::default();
            h.record(e - 1);
            h.record(e);
            assert_eq!(h.count_below(e), 1, "edge {e}");
        }
        assert_eq!(latency_edges_us().last(), Some(1 << 25));
    }
}
