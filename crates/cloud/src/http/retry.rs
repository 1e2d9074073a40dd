//! Explicit, bounded retries with decorrelated-jitter backoff (DESIGN habit 5).
//!
//! [`retry`] runs an async operation until it succeeds, the caller's classifier says the error
//! is final, the retry count is spent or the retry budget in time is used up. What counts as
//! retryable is the caller's business: this module knows no OSS or RDS semantics, only the
//! generic HTTP rules ([`status_is_retryable`], [`transport_is_retryable`]) callers build on.
//!
//! Must not: sleep without a bound, retry on its own initiative, or inspect response bodies.

use std::future::Future;
use std::time::{Duration, Instant};

use rand::RngExt as _;

/// How hard to retry. Defaults follow the Rust `object_store` crate's client (10 retries,
/// 3 minutes, 100 ms base, 15 s cap), a well-tried choice for object stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt (0 = try once).
    pub max_retries: u32,
    /// Smallest sleep between attempts, and the seed of the jitter.
    pub base: Duration,
    /// Largest sleep between attempts.
    pub max_backoff: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub retry_timeout: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 10,
            base: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            retry_timeout: Duration::from_secs(180),
        }
    }
}

impl RetryConfig {
    /// No retries at all: one attempt.
    pub fn none() -> Self {
        RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        }
    }
}

/// Decorrelated-jitter backoff: each sleep is uniform in `[base, 3 × previous]`, capped at
/// `max_backoff` ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015). Spreads
/// retries of many workers better than plain exponential backoff.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    previous: Duration,
}

impl Backoff {
    /// A fresh backoff for `config`.
    pub fn new(config: &RetryConfig) -> Self {
        Backoff {
            base: config.base,
            cap: config.max_backoff.max(config.base),
            previous: config.base,
        }
    }

    /// The next sleep.
    pub fn next_delay(&mut self) -> Duration {
        let upper = self.previous.saturating_mul(3).min(self.cap);
        let delay = if upper > self.base {
            rand::rng().random_range(self.base..=upper)
        } else {
            self.base
        };
        self.previous = delay;
        delay
    }
}

/// The classifier's verdict on one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Final: return the error.
    Fail,
    /// Transient: retry after the backoff delay.
    Retry,
    /// Retry after at least this long (a server's `Retry-After`), still capped by the config.
    RetryAfter(Duration),
    /// Retry at once: the cause was fixed locally (e.g. the clock offset was corrected).
    RetryNow,
}

/// Whether a call may be repeated without changing the outcome (GET, HEAD, PUT of the same
/// bytes, DELETE). Timeouts are retried only for these: a timed-out non-idempotent call may
/// have taken effect on the server (DESIGN habit 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Safe to repeat.
    Idempotent,
    /// Repeating may do the work twice or see a changed state.
    NonIdempotent,
}

/// Generic HTTP status rule: 5xx, 429 Too Many Requests and 408 Request Timeout are transient;
/// every other status is final.
pub fn status_is_retryable(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

/// Generic transport rule: connection failures are retried (nothing was sent); other send and
/// body errors and timeouts only for idempotent calls (the server may have acted).
pub fn transport_is_retryable(error: &reqwest::Error, idempotency: Idempotency) -> bool {
    if error.is_builder() || error.is_redirect() || error.is_decode() {
        return false;
    }
    if error.is_connect() {
        // A certificate the machine does not trust fails the same way every time.
        return !is_certificate_error(error);
    }
    let may_have_reached_server = error.is_timeout() || error.is_request() || error.is_body();
    may_have_reached_server && idempotency == Idempotency::Idempotent
}

/// Whether the connection failed because the server's certificate was not accepted (unknown
/// issuer, expired, wrong name): rustls reports these as an invalid peer certificate.
pub fn is_certificate_error(error: &(dyn std::error::Error + 'static)) -> bool {
    certificate_problem(error).is_some()
}

/// The TLS library's words for a refused server certificate (`invalid peer certificate:
/// UnknownIssuer`), if that is why the connection failed. They name no URL.
pub fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        let text = current.to_string();
        if let Some(at) = text.find("invalid peer certificate") {
            return Some(text[at..].to_owned());
        }
        cause = current.source();
    }
    None
}

/// Runs `attempt` (given the 0-based attempt number) until it succeeds or `classify` says the
/// error is final, within `config`'s count and time budget. Returns the last error.
pub async fn retry<T, E, F, Fut, C>(
    config: &RetryConfig,
    mut attempt: F,
    mut classify: C,
) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: FnMut(&E) -> RetryDecision,
{
    let started = Instant::now();
    let mut backoff = Backoff::new(config);
    let mut number = 0u32;
    loop {
        let error = match attempt(number).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let delay = match classify(&error) {
            RetryDecision::Fail => return Err(error),
            RetryDecision::Retry => backoff.next_delay(),
            RetryDecision::RetryAfter(hint) => {
                hint.max(backoff.next_delay()).min(config.max_backoff)
            }
            RetryDecision::RetryNow => Duration::ZERO,
        };
        let out_of_time = started.elapsed().saturating_add(delay) > config.retry_timeout;
        if number >= config.max_retries || out_of_time {
            return Err(error);
        }
        number = number.saturating_add(1);
        tracing::debug!(attempt = number, delay_ms = delay.as_millis(), "retrying");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick(max_retries: u32) -> RetryConfig {
        RetryConfig {
            max_retries,
            base: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            retry_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_stays_between_base_and_cap() {
        let config = RetryConfig {
            base: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            ..RetryConfig::default()
        };
        let mut backoff = Backoff::new(&config);
        let mut previous = config.base;
        for _ in 0..200 {
            let delay = backoff.next_delay();
            assert!(
                delay >= config.base && delay <= config.max_backoff,
                "{delay:?}"
            );
            assert!(delay <= previous * 3, "{delay:?} after {previous:?}");
            previous = delay;
        }
    }

    #[test]
    fn statuses() {
        for status in [500, 502, 503, 504, 429, 408] {
            assert!(status_is_retryable(status), "{status}");
        }
        for status in [200, 400, 401, 403, 404, 409, 412] {
            assert!(!status_is_retryable(status), "{status}");
        }
    }

    #[tokio::test]
    async fn retries_until_success() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, &str> = retry(
            &quick(5),
            |n| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { if n < 3 { Err("transient") } else { Ok(n) } }
            },
            |_| RetryDecision::Retry,
        )
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn final_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), &str> = retry(
            &quick(5),
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err("forbidden") }
            },
            |_| RetryDecision::Fail,
        )
        .await;
        assert_eq!(result, Err("forbidden"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn gives_up_after_max_retries() {
        let calls = AtomicU32::new(0);
        let result: Result<(), u32> = retry(
            &quick(2),
            |n| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { Err(n) }
            },
            |_| RetryDecision::RetryNow,
        )
        .await;
        assert_eq!(result, Err(2), "the last error is returned");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_when_out_of_time() {
        let config = RetryConfig {
            max_retries: 100,
            base: Duration::from_millis(50),
            max_backoff: Duration::from_millis(50),
            retry_timeout: Duration::from_millis(120),
        };
        let calls = AtomicU32::new(0);
        let result: Result<(), ()> = retry(
            &config,
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(()) }
            },
            |_| RetryDecision::Retry,
        )
        .await;
        assert!(result.is_err());
        let calls = calls.load(Ordering::SeqCst);
        assert!(
            (2..=3).contains(&calls),
            "{calls} attempts within 120 ms of 50 ms sleeps"
        );
    }

    #[tokio::test]
    async fn classifier_sees_every_error_and_may_change_its_mind() {
        // Retry once at once (like a clock correction), then fail.
        let mut seen = 0;
        let result: Result<(), &str> = retry(
            &quick(5),
            |_| async { Err("skewed") },
            |_| {
                seen += 1;
                if seen == 1 {
                    RetryDecision::RetryNow
                } else {
                    RetryDecision::Fail
                }
            },
        )
        .await;
        assert_eq!(result, Err("skewed"));
        assert_eq!(seen, 2);
    }

    #[tokio::test]
    async fn transport_errors_by_idempotency() {
        // A port nobody listens on: a connect error, retryable either way.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let error = reqwest::Client::new()
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert!(transport_is_retryable(&error, Idempotency::NonIdempotent));

        // A server that accepts and never answers: a timeout, retryable only when idempotent.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let _keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                held.push(socket);
            }
        });
        let error = reqwest::Client::builder()
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap()
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert!(error.is_timeout());
        assert!(transport_is_retryable(&error, Idempotency::Idempotent));
        assert!(!transport_is_retryable(&error, Idempotency::NonIdempotent));
    }
}
