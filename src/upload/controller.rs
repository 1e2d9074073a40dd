//! How many parts are in flight when the user did not fix the number (`--concurrency auto`).
//!
//! One connection carries at most window / RTT: 4 MiB/s through a 1 MiB window over 250 ms,
//! where the link may carry 120 MiB/s. No fixed number fits every path, so the controller finds
//! it: it starts at [`START`] on a short path and proportionally higher on a long one (the round
//! trip of the request before the parts, see [`START_ROUND_TRIP`]: measuring each level takes
//! seconds, and starting at 8 on a 250 ms path cost a third of a 20-second upload; under a
//! cap, no more than the cap needs), doubles
//! while doubling still raises the measured rate by
//! [`GAIN`] (quadruples while the rate grows in proportion), and settles at the last level
//! that helped. Retried parts (throttling such as
//! `SlowDown`/503, or failing connections) halve it and settle. Under a rate cap it stops
//! adding once the cap is met. Bounded by [`MAX`].
//!
//! The decisions are pure ([`Controller::observe`]); the engine measures and applies them.

use std::time::Duration;

/// Parts in flight to start with: enough for loopback and short paths (the fixed default of
/// earlier versions).
pub const START: usize = 8;
/// The most parts in flight: each is a connection, and OSS throttles a client with too many.
pub const MAX: usize = 64;
/// A new level is kept only when it raised the rate by this share.
pub const GAIN: f64 = 0.10;
/// A doubling that raised the rate by this share of the doubling looks per-connection bound: the
/// next step quadruples.
pub const LINEAR: f64 = 0.8;
/// After a change, connections open (a round trip each) and fill their windows: the rate is
/// measured after this.
pub const SETTLE: Duration = Duration::from_millis(1000);
/// The span the rate is measured over: long enough that the verified parts it counts are many.
pub const MEASURE: Duration = Duration::from_millis(2500);

/// What the controller wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Change to this many parts in flight and measure again.
    Try(usize),
    /// Keep this many for the rest of the upload.
    Settle(usize),
}

/// Why the controller settled, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// More parts in flight stopped raising the rate: the link (or the host) is full.
    Saturated,
    /// The rate cap is met.
    RateCap,
    /// Parts were retried (throttling or failing connections): fewer in flight.
    Errors,
    /// The largest number allowed.
    Maximum,
}

/// The adaptive state: the best level seen and its rate.
#[derive(Debug, Clone)]
pub struct Controller {
    level: usize,
    best: Option<(usize, f64)>,
    max: usize,
    cap: Option<f64>,
    /// The levels tried and their rates, in order (for the report).
    pub history: Vec<(usize, f64)>,
    /// Why it settled, once it has.
    pub limit: Option<Limit>,
}

/// The round trip [`START`] parts are enough for; a longer path starts with proportionally
/// more (a part's answer takes a round trip, and each connection carries a window per round
/// trip), up to the maximum, so the controller reaches the link in one or two steps
/// instead of spending most of a short upload below it.
pub const START_ROUND_TRIP: Duration = Duration::from_millis(25);

impl Controller {
    /// A controller allowed up to `max` parts in flight, under an optional rate cap (bytes/s),
    /// on a path whose round trip was measured as `round_trip`.
    pub fn new(max: usize, cap: Option<u64>, round_trip: Option<Duration>) -> Self {
        Controller {
            level: first_level(max, cap, round_trip),
            best: None,
            max: max.max(1),
            cap: cap.map(|c| c as f64),
            history: Vec::new(),
            limit: None,
        }
    }

    /// The current level (parts whose bodies are sent at once).
    pub fn level(&self) -> usize {
        self.level
    }

    /// The rate measured at the current level (bytes/s) and whether parts were retried during
    /// the measurement: what to do next.
    pub fn observe(&mut self, rate: f64, retried: bool) -> Decision {
        self.history.push((self.level, rate));
        if retried {
            let fewer = (self.level / 2).max(1);
            return self.settle(fewer, Limit::Errors);
        }
        if self.cap.is_some_and(|cap| rate >= cap * 0.95) {
            return self.settle(self.level, Limit::RateCap);
        }
        match self.best {
            Some((best_level, best_rate)) if rate < best_rate * (1.0 + GAIN) => {
                // The last doubling did not pay: back to the level that did.
                self.settle(best_level, Limit::Saturated)
            }
            _ if self.level >= self.max => self.settle(self.level, Limit::Maximum),
            best => {
                // The rate grew with the level as if each connection were alone on the link:
                // far from full, so jump further.
                let linear = best.is_some_and(|(best_level, best_rate)| {
                    rate >= best_rate * (self.level as f64 / best_level as f64) * LINEAR
                });
                let factor = if linear { 4 } else { 2 };
                self.best = Some((self.level, rate));
                self.level = (self.level * factor).min(self.max);
                Decision::Try(self.level)
            }
        }
    }

    fn settle(&mut self, level: usize, limit: Limit) -> Decision {
        self.level = level;
        self.limit = Some(limit);
        Decision::Settle(level)
    }
}

/// The smallest TCP window assumed of a path when sizing the first level under a cap: a
/// connection carries at least this much per round trip.
const CAP_WINDOW: f64 = 1024.0 * 1024.0;
/// A connection's share of its round trips spent sending, at the smallest part of a graded plan
/// (`plan::SMALLEST`, 4 MiB): four round trips sending through [`CAP_WINDOW`], a fifth waiting
/// for the answer.
const CAP_SENDING_SHARE: f64 = 0.8;
/// A quarter more connections than the cap needs in the middle of the upload: at both ends of a
/// graded plan parts are small and fewer are in flight. Measured at 250 ms / 1 MiB under a
/// 500 Mbit/s cap, 1.22 GiB: 19 connections held 94.5 % of the cap, 24 held 95.9 %, 32 96.0 %.
const CAP_HEADROOM: f64 = 1.25;

/// [`START`], scaled by the round trip over [`START_ROUND_TRIP`], up to `max`. Under a
/// cap, no more than the cap needs at [`CAP_WINDOW`] per connection and round trip, each
/// connection sending [`CAP_SENDING_SHARE`] of the time, with [`CAP_HEADROOM`]: the controller
/// opens no connection the cap cannot use.
fn first_level(max: usize, cap: Option<u64>, round_trip: Option<Duration>) -> usize {
    let start = START.min(max).max(1);
    let Some(round_trip) = round_trip else {
        return start;
    };
    let scale = (round_trip.as_secs_f64() / START_ROUND_TRIP.as_secs_f64()).round();
    let mut level = (start as f64 * scale.max(1.0)) as usize;
    if let Some(cap) = cap {
        let per_connection = CAP_WINDOW / round_trip.as_secs_f64() * CAP_SENDING_SHARE;
        let needed = (cap as f64 / per_connection * CAP_HEADROOM).ceil() as usize;
        level = level.min(needed);
    }
    level.clamp(start, max.max(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link of `link` bytes/s whose connections carry `per_connection` each.
    fn rate_at(level: usize, per_connection: f64, link: f64) -> f64 {
        (level as f64 * per_connection).min(link)
    }

    fn run(controller: &mut Controller, per_connection: f64, link: f64) -> usize {
        let mut level = controller.level();
        for _ in 0..20 {
            match controller.observe(rate_at(level, per_connection, link), false) {
                Decision::Try(next) => level = next,
                Decision::Settle(level) => return level,
            }
        }
        panic!("never settled: {:?}", controller.history);
    }

    #[test]
    fn a_long_thin_path_gets_enough_parts_to_fill_the_link() {
        // 1 MiB window over 250 ms: 4 MiB/s per connection; a 120 MiB/s link needs 30.
        // 8 → 16 (doubled the rate) → 64 (quadrupled): the most allowed, and the link full.
        let mut controller = Controller::new(MAX, None, None);
        let level = run(&mut controller, 4.0, 120.0);
        assert_eq!(level, 64, "{:?}", controller.history);
        assert_eq!(controller.limit, Some(Limit::Maximum));
        // With a wider window 16 fill it: 8 → 16 (the rate grew in proportion) → 64 (no gain)
        // → back to 16.
        let mut controller = Controller::new(MAX, None, None);
        assert_eq!(
            run(&mut controller, 12.0, 160.0),
            16,
            "{:?}",
            controller.history
        );
        assert_eq!(controller.limit, Some(Limit::Saturated));
    }

    #[test]
    fn loopback_stays_at_the_start_level() {
        // The host is the limit at any level: doubling does not pay, so back to the start.
        let mut controller = Controller::new(MAX, None, None);
        assert_eq!(run(&mut controller, 1000.0, 2500.0), START);
    }

    #[test]
    fn a_rate_cap_stops_the_growth_and_the_maximum_bounds_it() {
        let mut capped = Controller::new(MAX, Some(50), None);
        assert_eq!(run(&mut capped, 4.0, 120.0), 16);
        assert_eq!(capped.limit, Some(Limit::RateCap));
        let mut bounded = Controller::new(16, None, None);
        assert_eq!(run(&mut bounded, 1.0, 1000.0), 16);
        assert_eq!(bounded.limit, Some(Limit::Maximum));
    }

    #[test]
    fn a_long_round_trip_starts_higher_unless_capped() {
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(Controller::new(MAX, None, None).level(), START);
        assert_eq!(Controller::new(MAX, None, ms(1)).level(), START, "loopback");
        assert_eq!(Controller::new(MAX, None, ms(30)).level(), START);
        assert_eq!(Controller::new(MAX, None, ms(100)).level(), 32);
        assert_eq!(Controller::new(MAX, None, ms(150)).level(), 48);
        assert_eq!(Controller::new(MAX, None, ms(250)).level(), MAX);
        assert_eq!(
            Controller::new(12, None, ms(250)).level(),
            12,
            "never above max"
        );
        assert_eq!(Controller::new(4, None, ms(250)).level(), 4);
        assert_eq!(
            Controller::new(MAX, Some(50), ms(250)).level(),
            START,
            "capped"
        );
        // 60 MiB/s over 250 ms needs 15 connections of a 1 MiB window, 19 when each waits a
        // round trip in five for its answer, 24 with the headroom for both ends.
        let cap = Some(60 << 20);
        assert_eq!(Controller::new(MAX, cap, ms(250)).level(), 24);
        assert_eq!(Controller::new(MAX, cap, ms(30)).level(), START);
    }

    #[test]
    fn retries_halve_the_level() {
        let mut controller = Controller::new(MAX, None, None);
        assert_eq!(controller.observe(10.0, false), Decision::Try(16));
        assert_eq!(controller.observe(20.0, true), Decision::Settle(8));
        assert_eq!(controller.limit, Some(Limit::Errors));
    }
}
