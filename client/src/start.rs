//! `--start-at UNIX_SECONDS`: every shard starts its ramp at one instant of the wall clock.
//!
//! Pods of one Job, or clients started by hand on several machines, start seconds apart; a
//! shared start time makes their ramps overlap as one ramp would. The clock is the machine's
//! realtime clock (`CLOCK_REALTIME`, what `date +%s` prints), so the machines' clocks must agree
//! (NTP keeps them within milliseconds); the summary's `ramp_started_unix_s` shows how well they
//! did. A shard that arrives late starts at once and says by how much.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use c10m_sys::signal;

use crate::config::Options;

/// The furthest ahead a start may be set: a typo should not leave a client waiting for days.
const MAX_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// Seconds since the Unix epoch now, by the realtime clock.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A monotonic instant and the realtime clock read together: turns the loop's `Instant`s into
/// wall-clock seconds that other machines can compare.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallAnchor {
    at: Instant,
    unix: f64,
}

impl WallAnchor {
    pub(crate) fn now() -> WallAnchor {
        WallAnchor {
            at: Instant::now(),
            unix: unix_now(),
        }
    }

    pub(crate) fn unix_of(&self, t: Instant) -> f64 {
        match t.checked_duration_since(self.at) {
            Some(d) => self.unix + d.as_secs_f64(),
            None => self.unix - self.at.duration_since(t).as_secs_f64(),
        }
    }
}

pub(crate) fn parse_unix_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t.is_finite() && t > 0.0 => Ok(t),
        _ => Err(format!(
            "'{s}' is not a start time: seconds since the Unix epoch, e.g. $(($(date +%s) + 10))"
        )),
    }
}

/// What waiting for `at` from `now` means: how long to sleep, or how late the start is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Wait {
    Sleep(Duration),
    Late(Duration),
}

/// Refuses a start more than [`MAX_AHEAD`] away; else how to get there.
pub(crate) fn wait_for(at: f64, now: f64) -> Result<Wait, String> {
    let ahead = at - now;
    if ahead > MAX_AHEAD.as_secs_f64() {
        return Err(format!(
            "--start-at {at} is {:.0} s from now, more than {} h ahead: is it in seconds (not milliseconds)?",
            ahead,
            MAX_AHEAD.as_secs() / 3600
        ));
    }
    Ok(if ahead > 0.0 {
        Wait::Sleep(Duration::from_secs_f64(ahead))
    } else {
        Wait::Late(Duration::from_secs_f64(-ahead))
    })
}

/// Sleeps until `at` (or a stop signal). `Ok(Some(late))` when it was already past.
pub(crate) fn wait_until(at: f64) -> Result<Option<Duration>, String> {
    loop {
        match wait_for(at, unix_now())? {
            Wait::Late(by) => return Ok(Some(by).filter(|d| *d > Duration::from_millis(1))),
            Wait::Sleep(_) if signal::stop_requested() => return Ok(None),
            // Short steps: the realtime clock may be stepped, and a signal must not wait.
            Wait::Sleep(d) if d <= Duration::from_millis(2) => {
                std::thread::sleep(d);
                return Ok(None);
            }
            Wait::Sleep(d) => std::thread::sleep(d.min(Duration::from_millis(100)) / 2),
        }
    }
}

/// Waits for `--start-at`, if given; `say`: this process speaks for the run.
pub(crate) fn wait_for_start(opts: &Options, say: bool) {
    let Some(at) = opts.start_at else { return };
    if let Ok(Some(late)) = wait_until(at) {
        if say {
            log::warn!(
                "--start-at {at:.3} had passed {:.3} s before this client was ready: ramping now",
                late.as_secs_f64()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_ahead_and_reports_lateness() {
        assert_eq!(
            wait_for(100.5, 100.0),
            Ok(Wait::Sleep(Duration::from_millis(500)))
        );
        assert_eq!(
            wait_for(100.0, 102.0),
            Ok(Wait::Late(Duration::from_secs(2)))
        );
        assert!(wait_for(1.0e12, 1.0e9)
            .unwrap_err()
            .contains("milliseconds"));
    }

    #[test]
    fn parses_seconds() {
        assert_eq!(parse_unix_seconds("1764700000.25"), Ok(1_764_700_000.25));
        for bad in ["", "soon", "-5", "inf", "NaN", "0"] {
            assert!(parse_unix_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_past_start_returns_at_once() {
        assert!(wait_until(unix_now() - 5.0).unwrap().unwrap() >= Duration::from_secs(4));
    }
}
