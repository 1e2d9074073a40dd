//! Fault injection, off by default: errors at a rate per operation, added latency, connections
//! dropped mid-body, a flipped byte in a stored part, a bandwidth cap.
//!
//! Decisions come from one seeded RNG so a test run is reproducible (same seed and same request
//! order, same faults).
//!
//! ```toml
//! [faults]
//! seed = 7
//! latency_ms = 20                    # added before every response
//! bandwidth_bytes_per_sec = 10485760 # shared by every body, in and out
//!
//! [[faults.error]]
//! operation = "UploadPart"           # an operation name, or "*" for every operation
//! rate = 0.1                         # probability per request
//! status = 503
//! code = "ServiceUnavailable"
//! times = 3                          # optional: at most this many injections
//!
//! [[faults.drop_connection]]         # stop mid-body (request or response) and close
//! operation = "GetObject"
//! rate = 0.05
//!
//! [[faults.flip_byte]]               # store the part with one byte flipped
//! operation = "UploadPart"
//! rate = 0.01
//!
//! # Whole-server conditions:
//! # clock_skew_secs = 3600           # the server's clock runs this far ahead (negative: behind)
//! # disk_full_after_bytes = 1048576  # body writes fail with ENOSPC once this much was stored
//! ```
//! Throttling is an error fault with OSS's own answer: `status = 503`, `code = "SlowDown"`
//! (or `429`/`ServiceUnavailable`); the client treats both as transient.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use rand::{RngExt as _, SeedableRng as _};
use serde::Deserialize;

use super::error::{EmulatorError, OssError};
use super::operation::Operation;

/// Fault settings, as written in the `[faults]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// RNG seed; the same seed gives the same decisions for the same request sequence.
    #[serde(default)]
    pub seed: u64,
    /// Latency added before every response, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Cap on body bytes per second, request and response bodies together; none when absent.
    #[serde(default)]
    pub bandwidth_bytes_per_sec: Option<u64>,
    /// Injected error responses.
    #[serde(default, rename = "error")]
    pub errors: Vec<ErrorFault>,
    /// Connections dropped in the middle of a body.
    #[serde(default)]
    pub drop_connection: Vec<RateFault>,
    /// Parts stored with one byte flipped.
    #[serde(default)]
    pub flip_byte: Vec<RateFault>,
    /// Seconds the server's clock is ahead of the host's (negative: behind): signatures are
    /// judged and `Date` headers written with the skewed clock, so a client meets
    /// `RequestTimeTooSkewed` exactly as against a server whose clock disagrees with its own.
    #[serde(default)]
    pub clock_skew_secs: i64,
    /// Store only this many body bytes in total, then fail every write with the operating
    /// system's "no space left on device" (`ErrorKind::StorageFull`), through the same write
    /// path a full disk would break.
    #[serde(default)]
    pub disk_full_after_bytes: Option<u64>,
}

/// An error answered instead of performing the operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorFault {
    /// Operation name (`UploadPart`, `PutObject`...) or `*`.
    #[serde(default = "any_operation")]
    pub operation: String,
    /// Probability per matching request, 0..=1.
    pub rate: f64,
    /// HTTP status of the injected error.
    pub status: u16,
    /// OSS error code (`InternalError`, `ServiceUnavailable`, `RequestTimeTooSkewed`...).
    pub code: String,
    /// At most this many injections (unlimited when absent).
    #[serde(default)]
    pub times: Option<u64>,
}

/// A fault applied at a rate to one operation (or `*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateFault {
    /// Operation name or `*`.
    #[serde(default = "any_operation")]
    pub operation: String,
    /// Probability per matching request, 0..=1.
    pub rate: f64,
    /// At most this many injections (unlimited when absent).
    #[serde(default)]
    pub times: Option<u64>,
}

fn any_operation() -> String {
    "*".to_owned()
}

impl FaultConfig {
    /// Checks rates, statuses and operation names.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        let check = |operation: &str, rate: f64| {
            if !(0.0..=1.0).contains(&rate) {
                return Err(EmulatorError::Config(format!(
                    "fault rate {rate} for {operation}: use a probability between 0 and 1"
                )));
            }
            if operation != "*" && Operation::from_name(operation).is_none() {
                return Err(EmulatorError::Config(format!(
                    "fault operation {operation:?}: use an OSS operation name such as \
                     UploadPart, or \"*\""
                )));
            }
            Ok(())
        };
        for fault in &self.errors {
            check(&fault.operation, fault.rate)?;
            if !(400..=599).contains(&fault.status) {
                return Err(EmulatorError::Config(format!(
                    "fault status {}: use an HTTP error status (400-599)",
                    fault.status
                )));
            }
        }
        for fault in self.drop_connection.iter().chain(&self.flip_byte) {
            check(&fault.operation, fault.rate)?;
        }
        if self.bandwidth_bytes_per_sec == Some(0) {
            return Err(EmulatorError::Config(
                "bandwidth_bytes_per_sec must be positive (omit it for no cap)".to_owned(),
            ));
        }
        Ok(())
    }
}

/// The running fault injector.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    state: Mutex<FaultState>,
    limiter: Option<ByteLimiter>,
}

#[derive(Debug)]
struct FaultState {
    rng: rand::rngs::StdRng,
    /// Injections so far, per fault: errors, then drop_connection, then flip_byte.
    used: Vec<u64>,
}

/// What faults apply to one request, decided when it arrives.
#[derive(Debug, Default, Clone, Copy)]
pub struct FaultPlan {
    /// Drop the connection in the middle of the request or response body.
    pub drop_connection: bool,
    /// Flip one byte of the stored body.
    pub flip_byte: bool,
}

/// Bandwidth cap: a governor token bucket where one token is one KiB, like the Go SDK's
/// limiter (`oss-protocol.md` §5.3), with a burst of one second of traffic.
struct ByteLimiter {
    limiter: governor::DefaultDirectRateLimiter,
    burst_kib: NonZeroU32,
}

impl std::fmt::Debug for ByteLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteLimiter")
            .field("burst_kib", &self.burst_kib)
            .finish()
    }
}

impl Faults {
    /// The injector for these settings.
    pub fn new(config: FaultConfig) -> Self {
        let slots = config.errors.len() + config.drop_connection.len() + config.flip_byte.len();
        let limiter = config.bandwidth_bytes_per_sec.map(|rate| {
            let kib = u32::try_from(rate.div_ceil(1024)).unwrap_or(u32::MAX);
            let burst_kib = NonZeroU32::new(kib).unwrap_or(NonZeroU32::MIN);
            ByteLimiter {
                limiter: governor::RateLimiter::direct(governor::Quota::per_second(burst_kib)),
                burst_kib,
            }
        });
        Faults {
            state: Mutex::new(FaultState {
                rng: rand::rngs::StdRng::seed_from_u64(config.seed),
                used: vec![0; slots],
            }),
            config,
            limiter,
        }
    }

    /// True when no fault can ever fire (the fast path skips all bookkeeping).
    pub fn is_off(&self) -> bool {
        self.config.latency_ms == 0
            && self.limiter.is_none()
            && self.config.errors.is_empty()
            && self.config.drop_connection.is_empty()
            && self.config.flip_byte.is_empty()
    }

    /// The latency to add before answering.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.config.latency_ms)
    }

    /// The server's clock: the host's, shifted by `clock_skew_secs`.
    pub fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + time::Duration::seconds(self.config.clock_skew_secs)
    }

    /// True when the server's clock is shifted (responses then carry its own `Date`).
    pub fn clock_is_skewed(&self) -> bool {
        self.config.clock_skew_secs != 0
    }

    /// Decides the faults for one request: an injected error, or the body faults to apply.
    pub fn plan(&self, operation: Operation) -> Result<FaultPlan, OssError> {
        if self.is_off() {
            return Ok(FaultPlan::default());
        }
        let Ok(mut state) = self.state.lock() else {
            return Ok(FaultPlan::default());
        };
        let name = operation.name();
        let mut slot = 0;
        for fault in &self.config.errors {
            if state.fires(slot, &fault.operation, name, fault.rate, fault.times) {
                let status = axum::http::StatusCode::from_u16(fault.status)
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                return Err(OssError::new(
                    status,
                    &fault.code,
                    format!("Injected fault: {} (emulator fault injection).", fault.code),
                ));
            }
            slot += 1;
        }
        let mut plan = FaultPlan::default();
        for fault in &self.config.drop_connection {
            plan.drop_connection |=
                state.fires(slot, &fault.operation, name, fault.rate, fault.times);
            slot += 1;
        }
        for fault in &self.config.flip_byte {
            plan.flip_byte |= state.fires(slot, &fault.operation, name, fault.rate, fault.times);
            slot += 1;
        }
        Ok(plan)
    }

    /// Waits until `bytes` more body bytes may pass the bandwidth cap (no-op without a cap).
    pub async fn throttle(&self, bytes: usize) {
        let Some(limit) = &self.limiter else {
            return;
        };
        let mut kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        // A chunk larger than the burst is let through in burst-sized steps.
        while kib > 0 {
            let step = kib.min(limit.burst_kib.get());
            if let Some(step) = NonZeroU32::new(step) {
                let _ = limit.limiter.until_n_ready(step).await;
            }
            kib -= step;
        }
    }
}

impl FaultState {
    fn fires(
        &mut self,
        slot: usize,
        pattern: &str,
        name: &str,
        rate: f64,
        times: Option<u64>,
    ) -> bool {
        if pattern != "*" && pattern != name {
            return false;
        }
        let Some(used) = self.used.get_mut(slot) else {
            return false;
        };
        if times.is_some_and(|max| *used >= max) {
            return false;
        }
        let fire = self.rng.random_bool(rate.clamp(0.0, 1.0));
        if fire {
            *used += 1;
        }
        fire
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> FaultConfig {
        FaultConfig {
            seed,
            errors: vec![ErrorFault {
                operation: "UploadPart".to_owned(),
                rate: 0.5,
                status: 503,
                code: "ServiceUnavailable".to_owned(),
                times: None,
            }],
            ..FaultConfig::default()
        }
    }

    fn decisions(seed: u64) -> Vec<bool> {
        let faults = Faults::new(config(seed));
        (0..64)
            .map(|_| faults.plan(Operation::UploadPart).is_err())
            .collect()
    }

    #[test]
    fn same_seed_same_decisions_and_rate_is_roughly_honoured() {
        let first = decisions(7);
        assert_eq!(first, decisions(7));
        let fired = first.iter().filter(|f| **f).count();
        assert!((16..=48).contains(&fired), "{fired} of 64 at rate 0.5");
    }

    #[test]
    fn other_operations_and_exhausted_faults_pass() {
        let mut cfg = config(1);
        cfg.errors[0].rate = 1.0;
        cfg.errors[0].times = Some(2);
        let faults = Faults::new(cfg);
        assert!(faults.plan(Operation::PutObject).is_ok());
        let err = faults.plan(Operation::UploadPart).unwrap_err();
        assert_eq!(err.status.as_u16(), 503);
        assert_eq!(err.code, "ServiceUnavailable");
        assert!(faults.plan(Operation::UploadPart).is_err());
        assert!(faults.plan(Operation::UploadPart).is_ok());
    }

    #[test]
    fn validation_names_the_problem() {
        let mut cfg = config(1);
        cfg.errors[0].operation = "Nope".to_owned();
        assert!(cfg.validate().is_err());
        let mut cfg = config(1);
        cfg.errors[0].rate = 2.0;
        assert!(cfg.validate().is_err());
    }
}
