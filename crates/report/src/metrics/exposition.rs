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
    pub fn gauges_by(
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

/// One sample of a scrape, as [`parse`] reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// The samples of a Prometheus text page (comments skipped). For tests and scripts that read
/// `/metrics` without a Prometheus server; label values with `,` or `}` inside are not handled.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().ok()?,
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_string(), v.trim_matches('"').to_string()))
                })
                .collect();
            Some(Sample {
                name: name.to_string(),
                labels,
                value,
            })
        })
        .collect()
}

/// The value of the sample `name` with every label of `labels`, if the page has it.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| s.value)
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
        assert!(
            text.contains("# TYPE c10m_client_established counter"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        let p = parse(&text);
        assert_eq!(value(&p, "c10m_client_connections", &[]), Some(42.0));
        assert_eq!(value(&p, "c10m_client_established_total", &[]), Some(45.0));
        assert_eq!(
            value(
                &p,
                "c10m_client_failures_total",
                &[("errno", "ECONNREFUSED")]
            ),
            Some(3.0)
        );
        let b = |le: &str| value(&p, "c10m_client_rtt_seconds_bucket", &[("le", le)]);
        assert_eq!(b("0.000024"), Some(1.0), "{text}");
        assert_eq!(b("0.000128"), Some(3.0), "{text}");
        assert_eq!(b("+Inf"), Some(4.0));
        assert_eq!(value(&p, "c10m_client_rtt_seconds_count", &[]), Some(4.0));
        assert_eq!(value(&p, "c10m_client_rtt_seconds_sum", &[]), Some(0.00322));
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
