//! `--message-rate R1,R2,... --step S`: the echo benchmark's sweep, one rate after another over
//! the same held connections, and what each step delivered.
//!
//! A step's figures are differences of the run's counters at its two ends: pings started and
//! echoed intact, and the round trips of the echoes that came back during it (the histogram
//! subtracts bucket by bucket). An echo that was sent in one step and returns in the next counts
//! in the next: at a steady rate that is as many at each end, so a step of many round trips
//! measures its rate.

use std::time::Duration;

use c10m_report::histogram::Histogram;

use crate::config::Pings;
use crate::output::Step;
use crate::stats::Stats;

/// Where the sweep is.
#[derive(Debug)]
pub(crate) struct Steps {
    rates: Vec<u64>,
    step: Duration,
    /// The step under way.
    index: usize,
    /// The counters when it began.
    sent: u64,
    echoed: u64,
    rtt: Histogram,
}

impl Steps {
    /// The sweep `pings` asks for, if any: a list of rates with a step.
    pub(crate) fn new(pings: &Option<Pings>) -> Option<Steps> {
        let Some(Pings::Rate {
            rates,
            step: Some(step),
        }) = pings
        else {
            return None;
        };
        Some(Steps {
            rates: rates.clone(),
            step: *step,
            index: 0,
            sent: 0,
            echoed: 0,
            rtt: Histogram::default(),
        })
    }

    /// `since` the hold began, with the run's counters `st`: the record of the step that just
    /// ended, if one did (call until `None`).
    pub(crate) fn ended(&mut self, since: Duration, st: &Stats) -> Option<Step> {
        if self.index >= self.rates.len() || since < self.step * (self.index as u32 + 1) {
            return None;
        }
        let secs = self.step.as_secs_f64();
        let rtt = st.rtt.since(&self.rtt);
        let echoed = st.exchanges_ok - self.echoed;
        let step = Step {
            index: self.index as u64,
            offered_per_s: self.rates[self.index],
            duration_s: secs,
            sent: st.exchanges - self.sent,
            echoed,
            delivered_per_s: echoed as f64 / secs,
            rtt_p50_us: rtt.quantile(0.5),
            rtt_p99_us: rtt.quantile(0.99),
            rtt_p999_us: rtt.quantile(0.999),
            in_flight: st.busy,
        };
        self.index += 1;
        self.sent = st.exchanges;
        self.echoed = st.exchanges_ok;
        self.rtt = st.rtt;
        Some(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_reports_its_own_differences() {
        let pings = Some(Pings::Rate {
            rates: vec![100, 200],
            step: Some(Duration::from_secs(2)),
        });
        let mut s = Steps::new(&pings).unwrap();
        let mut st = Stats {
            exchanges: 201,
            exchanges_ok: 199,
            busy: 2,
            ..Stats::default()
        };
        for us in [100, 100, 900] {
            st.rtt.record(us);
        }
        assert_eq!(s.ended(Duration::from_millis(1999), &st), None);
        let first = s.ended(Duration::from_secs(2), &st).unwrap();
        assert_eq!(
            (first.index, first.offered_per_s, first.echoed),
            (0, 100, 199)
        );
        assert_eq!(first.delivered_per_s, 99.5);
        assert_eq!(s.ended(Duration::from_secs(3), &st), None);
        st.exchanges_ok = 599;
        st.rtt.record(5000);
        let second = s.ended(Duration::from_secs(4), &st).unwrap();
        assert_eq!((second.index, second.echoed), (1, 400));
        assert_eq!(second.rtt_p50_us, Some(4864), "only this step's round trip");
        assert_eq!(s.ended(Duration::from_secs(9), &st), None, "no third step");
        assert!(Steps::new(&Some(Pings::Every(Duration::from_secs(1)))).is_none());
    }
}
