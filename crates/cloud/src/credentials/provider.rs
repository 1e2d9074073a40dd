//! The credentials every request signs with, shared by all of a process's clients and tasks:
//! fetched once, kept, and refreshed ahead of their expiry so that a multi-day upload outlives
//! any number of STS tokens.
//!
//! - Refresh ahead: temporary credentials are replaced when a quarter of their life (at most
//!   three minutes) remains, so requests in flight never carry an expired token in normal
//!   operation.
//! - One refresh at a time, and no waiting while the credentials in hand still work: the task
//!   that finds them due refreshes (a `tokio` mutex); the others go on signing with the current
//!   ones. Only credentials that have expired, or that a service refused, make requests wait
//!   for the refresh.
//! - A refused request (the service says the token expired) marks the credentials it used as
//!   rejected ([`CredentialProvider::rejected`]); they are not handed out again.
//! - A failed refresh while the current credentials still work is logged and tried again after
//!   a backoff; once they have expired, transient failures are retried with backoff (waits of
//!   1 + 2 + 4 + 8 + 16 s, [`EXPIRED_ATTEMPTS`]) before the error reaches the caller (an upload
//!   then stops, resumable).
//! - Candidates: the chain may hand over sources to probe (the ECS metadata service when no role
//!   is named) before the one configured; the first that answers is kept for every refresh.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use time::OffsetDateTime;

use super::error::CredentialError;
use super::keys::Credentials;
use super::source::{Clients, Fetched, Source};
use crate::http::{HttpConfig, build_client};

/// The most time before expiry at which credentials are refreshed.
const MAX_MARGIN: Duration = Duration::from_secs(180);
/// Attempts to refresh credentials that have expired or were refused, before giving up.
pub const EXPIRED_ATTEMPTS: u32 = 6;
/// Attempts at the very first fetch: a source that is down at the start is said quickly.
const FIRST_ATTEMPTS: u32 = 3;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A shared, refreshing source of credentials. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CredentialProvider {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The sources to ask, in order; the first `probes` are passed over when they do not
    /// answer (see the module docs). Never empty.
    sources: Vec<Source>,
    probes: usize,
    /// What the chain looked at and did not find, for the error when nothing answers.
    tried: Vec<String>,
    /// The source that answered first: asked at every refresh.
    settled: OnceLock<usize>,
    clients: Option<Clients>,
    held: RwLock<Option<Held>>,
    /// Held while one task refreshes.
    refreshing: tokio::sync::Mutex<()>,
    refreshes: AtomicU64,
}

/// The credentials in use and when to replace them.
#[derive(Debug, Clone)]
struct Held {
    fetched: Fetched,
    /// From this time on, the next request refreshes first (`None`: never).
    refresh_at: Option<OffsetDateTime>,
    /// A service refused them: never handed out again.
    rejected: bool,
    /// Refreshes that failed in a row while these stayed valid.
    failures: u32,
}

impl Held {
    fn new(fetched: Fetched, refresh_at: Option<OffsetDateTime>) -> Self {
        Held {
            fetched,
            refresh_at,
            rejected: false,
            failures: 0,
        }
    }

    /// Usable to sign: not refused, not expired.
    fn usable(&self, now: OffsetDateTime) -> bool {
        !self.rejected && self.fetched.expires_at.is_none_or(|at| now < at)
    }

    /// Usable, and not yet due for a refresh.
    fn fresh(&self, now: OffsetDateTime) -> bool {
        self.usable(now) && self.refresh_at.is_none_or(|at| now < at)
    }
}

impl CredentialProvider {
    /// Fixed credentials, never refreshed (tests, the emulator's own keys).
    pub fn fixed(credentials: Credentials) -> Self {
        let source = Source::fixed(credentials.clone(), "the caller");
        let held = Held::new(
            Fetched {
                credentials,
                expires_at: None,
            },
            None,
        );
        Self::with(vec![source], 0, Vec::new(), None, Some(held))
    }

    /// A provider asking `source`, with HTTP settings (proxy, CA bundle, user agent) from `http`.
    /// Nothing is fetched until the first [`CredentialProvider::credentials`].
    pub fn new(source: Source, http: &HttpConfig) -> Result<Self, CredentialError> {
        Self::with_candidates(vec![source], 0, Vec::new(), http)
    }

    /// A provider asking `sources` in order, passing over the first `probes` when they do not
    /// answer; `tried` lists what the chain looked at before, for the error when none answers.
    pub(super) fn with_candidates(
        sources: Vec<Source>,
        probes: usize,
        tried: Vec<String>,
        http: &HttpConfig,
    ) -> Result<Self, CredentialError> {
        let build = |direct: bool| {
            let config = HttpConfig {
                https_only: false,
                long_request_bodies: false,
                direct,
                ..http.clone()
            };
            build_client(&config).map_err(|e| CredentialError::BadEndpoint {
                what: "HTTP client for credentials".to_owned(),
                problem: e.to_string(),
            })
        };
        let clients = Clients {
            web: build(http.direct)?,
            direct: build(true)?,
        };
        Ok(Self::with(sources, probes, tried, Some(clients), None))
    }

    fn with(
        sources: Vec<Source>,
        probes: usize,
        tried: Vec<String>,
        clients: Option<Clients>,
        held: Option<Held>,
    ) -> Self {
        CredentialProvider {
            inner: Arc::new(Inner {
                sources,
                probes,
                tried,
                settled: OnceLock::new(),
                clients,
                held: RwLock::new(held),
                refreshing: tokio::sync::Mutex::new(()),
                refreshes: AtomicU64::new(0),
            }),
        }
    }

    /// Where the credentials come from, in words with no secret (for the start of a run and
    /// `doctor`): the source that answered, or the candidates before the first fetch.
    pub fn describe(&self) -> String {
        if let Some(source) = self.settled_source() {
            return source.describe();
        }
        let parts: Vec<String> = self.inner.sources.iter().map(Source::describe).collect();
        match parts.as_slice() {
            [one] => one.clone(),
            _ => format!("the first that answers of: {}", parts.join("; else ")),
        }
    }

    /// The source asked at every refresh: the one that answered, or the only one.
    pub fn source(&self) -> &Source {
        self.settled_source()
            .unwrap_or(&self.inner.sources[self.inner.sources.len() - 1])
    }

    fn settled_source(&self) -> Option<&Source> {
        match (self.inner.settled.get(), self.inner.sources.as_slice()) {
            (Some(&index), sources) => sources.get(index),
            (None, [one]) => Some(one),
            (None, _) => None,
        }
    }

    /// Whether the credentials expire and can be asked for again.
    pub fn refreshes(&self) -> bool {
        match self.settled_source() {
            Some(source) => source.refreshes(),
            None => self.inner.sources.iter().any(Source::refreshes),
        }
    }

    /// How many times credentials were fetched after the first.
    pub fn refresh_count(&self) -> u64 {
        self.inner.refreshes.load(Ordering::Relaxed)
    }

    /// When the credentials in hand expire (`None`: they do not, or none are held yet).
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.read()
            .as_ref()
            .and_then(|held| held.fetched.expires_at)
    }

    /// The credentials in hand, without refreshing: for presigned URLs, built without I/O.
    pub fn cached(&self) -> Option<Credentials> {
        self.read()
            .as_ref()
            .map(|held| held.fetched.credentials.clone())
    }

    /// Credentials to sign a request with: the ones in hand, or fresh ones when those are due.
    pub async fn credentials(&self) -> Result<Credentials, CredentialError> {
        let now = OffsetDateTime::now_utc();
        if let Some(credentials) = self.current_if(|held| held.fresh(now)) {
            return Ok(credentials);
        }
        // Due but still usable: one task refreshes, the others keep signing meanwhile.
        let guard = match self.inner.refreshing.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.current_if(|held| held.usable(now)) {
                Some(credentials) => return Ok(credentials),
                None => self.inner.refreshing.lock().await,
            },
        };
        // Another task may have refreshed while this one waited.
        let now = OffsetDateTime::now_utc();
        if let Some(credentials) = self.current_if(|held| held.fresh(now)) {
            return Ok(credentials);
        }
        let outcome = self.refresh().await;
        drop(guard);
        outcome
    }

    /// A service refused a request signed with `used` as expired or invalid: they are not
    /// handed out again and the next request refreshes (unless `used` was already replaced).
    /// Returns whether a refresh may help (the source hands out new credentials), i.e. whether
    /// the request is worth signing again.
    pub fn rejected(&self, used: &Credentials) -> bool {
        if !self.refreshes() {
            return false;
        }
        let mut held = self
            .inner
            .held
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = held.as_mut()
            && held.fetched.credentials == *used
            && !held.rejected
        {
            tracing::info!(
                access_key_id = used.access_key_id(),
                "a request was refused for an expired or invalid token; refreshing credentials"
            );
            held.rejected = true;
        }
        true
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Held>> {
        self.inner
            .held
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn current_if(&self, keep: impl Fn(&Held) -> bool) -> Option<Credentials> {
        let held = self.read();
        let held = held.as_ref().filter(|held| keep(held))?;
        Some(held.fetched.credentials.clone())
    }

    /// Fetches new credentials (the caller holds the refresh lock).
    async fn refresh(&self) -> Result<Credentials, CredentialError> {
        let Some(clients) = &self.inner.clients else {
            // Fixed credentials are never due; nothing else to do.
            return self.cached().ok_or(CredentialError::NotFound {
                tried: self.describe(),
            });
        };
        let attempts = if self.read().is_none() {
            FIRST_ATTEMPTS
        } else {
            EXPIRED_ATTEMPTS
        };
        let mut attempt = 0;
        loop {
            let now = OffsetDateTime::now_utc();
            let usable = self
                .read()
                .as_ref()
                .filter(|held| held.usable(now))
                .cloned();
            let error = match self.fetch(clients).await {
                Ok(fetched) if !self.is_rejected(&fetched.credentials) => {
                    return Ok(self.keep(fetched, now));
                }
                Ok(_) => CredentialError::Unreachable {
                    from: self.describe(),
                    service: "the credential source",
                    detail: "it handed back the credentials just refused".to_owned(),
                    fix: "wait for the source to rotate them, then resume".to_owned(),
                },
                Err(error) => error,
            };
            match usable {
                Some(held) => return Ok(self.postpone(held, &error, now)),
                None if error.is_transient() && attempt + 1 < attempts => {
                    let wait = backoff(attempt);
                    tracing::warn!(
                        "could not get credentials ({error}); trying again in {} s",
                        wait.as_secs()
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => return Err(error),
            }
        }
    }

    /// Asks the settled source, or the candidates in order until one answers (and settles).
    async fn fetch(&self, clients: &Clients) -> Result<Fetched, CredentialError> {
        if let Some(&index) = self.inner.settled.get() {
            return self.inner.sources[index].fetch(clients).await;
        }
        let mut unanswered = self.inner.tried.clone();
        for (index, source) in self.inner.sources.iter().enumerate() {
            match source.fetch(clients).await {
                Ok(fetched) => {
                    let _ = self.inner.settled.set(index);
                    return Ok(fetched);
                }
                Err(CredentialError::Unreachable { from, .. }) if index < self.inner.probes => {
                    unanswered.push(format!("{from} (no answer)"));
                }
                Err(error) => return Err(error),
            }
        }
        Err(CredentialError::NotFound {
            tried: unanswered.join("; "),
        })
    }

    fn is_rejected(&self, credentials: &Credentials) -> bool {
        self.read()
            .as_ref()
            .is_some_and(|held| held.rejected && held.fetched.credentials == *credentials)
    }

    /// Keeps fresh credentials and says so.
    fn keep(&self, fetched: Fetched, now: OffsetDateTime) -> Credentials {
        let credentials = fetched.credentials.clone();
        let first = self.read().is_none();
        if !first {
            self.inner.refreshes.fetch_add(1, Ordering::Relaxed);
        }
        let until = fetched.expires_at.map_or_else(
            || "no expiry".to_owned(),
            |at| format!("valid until {}", utc(at)),
        );
        tracing::info!(
            access_key_id = credentials.access_key_id(),
            "credentials {} from {}: {until}",
            if first { "obtained" } else { "refreshed" },
            self.describe()
        );
        let refresh_at = fetched.expires_at.map(|at| refresh_time(now, at));
        *self
            .inner
            .held
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Held::new(fetched, refresh_at));
        credentials
    }

    /// A refresh failed but the credentials in hand still work: use them, try again later.
    fn postpone(
        &self,
        mut held: Held,
        error: &CredentialError,
        now: OffsetDateTime,
    ) -> Credentials {
        let wait = backoff(held.failures);
        held.failures += 1;
        let retry_at = now + wait;
        held.refresh_at = Some(match held.fetched.expires_at {
            Some(expires) if expires < retry_at => expires,
            _ => retry_at,
        });
        tracing::warn!(
            "could not refresh credentials ({error}); the current ones stay valid until {}; \
             trying again in {} s",
            held.fetched
                .expires_at
                .map_or_else(|| "further notice".to_owned(), utc),
            wait.as_secs()
        );
        let credentials = held.fetched.credentials.clone();
        *self
            .inner
            .held
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(held);
        credentials
    }
}

impl From<Credentials> for CredentialProvider {
    fn from(credentials: Credentials) -> Self {
        CredentialProvider::fixed(credentials)
    }
}

/// When to replace credentials fetched at `now` that expire at `expires`: a quarter of their
/// life ahead, at most [`MAX_MARGIN`], and not sooner than a second from now (a source that
/// keeps answering nearly expired credentials must not be asked in a tight loop).
fn refresh_time(now: OffsetDateTime, expires: OffsetDateTime) -> OffsetDateTime {
    let life: time::Duration = (expires - now).max(time::Duration::ZERO);
    let max_margin = time::Duration::try_from(MAX_MARGIN).unwrap_or(life);
    let margin = std::cmp::min(life / 4, max_margin);
    (expires - margin).max(now + time::Duration::SECOND)
}

/// The wait before attempt `attempt + 1`: 1 s, 2 s, 4 s … up to [`MAX_BACKOFF`].
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(MAX_BACKOFF)
}

/// An expiry as a person reads it, to the second in UTC ("2026-12-05 08:59:42 UTC"), rather
/// than `OffsetDateTime`'s own form with nanoseconds and "+00:00:00".
fn utc(at: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpConfig;

    #[test]
    fn an_expiry_is_told_in_utc_to_the_second() {
        let at = time::macros::datetime!(2026-12-05 09:59:42.996 +01:00);
        assert_eq!(utc(at), "2026-12-05 08:59:42 UTC");
    }

    #[test]
    fn refresh_comes_a_quarter_of_the_life_ahead_and_at_most_three_minutes() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let in_secs = |s: i64| now + time::Duration::seconds(s);
        // A rehearsal token of 20 s is replaced after 15 s.
        assert_eq!(refresh_time(now, in_secs(20)), in_secs(15));
        // An hour's token three minutes ahead.
        assert_eq!(refresh_time(now, in_secs(3600)), in_secs(3600 - 180));
        // Nearly expired credentials are not asked for again at once.
        assert_eq!(refresh_time(now, in_secs(0)), in_secs(1));
        assert_eq!(refresh_time(now, in_secs(-50)), in_secs(1));
    }

    #[test]
    fn backoff_doubles_to_thirty_seconds() {
        let waits: Vec<u64> = (0..8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[tokio::test]
    async fn fixed_credentials_are_never_rejected_into_a_refresh() {
        let credentials = Credentials::new("id", "VerySecretValue42");
        let provider = CredentialProvider::fixed(credentials.clone());
        assert_eq!(provider.credentials().await.unwrap(), credentials);
        assert!(!provider.rejected(&credentials));
        assert_eq!(provider.credentials().await.unwrap(), credentials);
        assert_eq!(provider.refresh_count(), 0);
        let shown = format!("{provider:?}");
        assert!(!shown.contains("VerySecretValue42"), "{shown}");
    }

    /// A credentials URI on 127.0.0.1 that hands out keys valid for `life_secs`, counts the
    /// calls, and fails with 500 while `failing` is set.
    struct Broker {
        url: String,
        calls: Arc<AtomicU64>,
        failing: Arc<std::sync::atomic::AtomicBool>,
        /// The status of the failures: 500 (transient) unless set.
        failure: Arc<std::sync::atomic::AtomicU16>,
    }

    async fn broker(life_secs: i64) -> Broker {
        use axum::http::StatusCode;
        let calls = Arc::new(AtomicU64::new(0));
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let failure = Arc::new(std::sync::atomic::AtomicU16::new(500));
        let (count, fail, status) = (
            Arc::clone(&calls),
            Arc::clone(&failing),
            Arc::clone(&failure),
        );
        let app = axum::Router::new().route(
            "/credentials",
            axum::routing::get(move || {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let failing = fail.load(Ordering::SeqCst);
                let failure = StatusCode::from_u16(status.load(Ordering::SeqCst))
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                async move {
                    if failing {
                        return (failure, String::new());
                    }
                    let expires = OffsetDateTime::now_utc() + time::Duration::seconds(life_secs);
                    let body = serde_json::json!({
                        "Code": "Success",
                        "AccessKeyId": format!("STS.key{n}"),
                        "AccessKeySecret": format!("VerySecretValue{n}"),
                        "SecurityToken": format!("CAIStoken{n}"),
                        "Expiration": crate::rds::sign::format_timestamp(expires),
                    });
                    (StatusCode::OK, body.to_string())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/credentials", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Broker {
            url,
            calls,
            failing,
            failure,
        }
    }

    fn uri_provider(url: &str) -> CredentialProvider {
        let source = Source {
            kind: super::super::source::SourceKind::Uri(url.to_owned()),
            origin: "a test".to_owned(),
        };
        CredentialProvider::new(source, &HttpConfig::default()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_one_fetch_and_a_rejection_refreshes_once() {
        let broker = broker(3600).await;
        let provider = uri_provider(&broker.url);
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let provider = provider.clone();
                tokio::spawn(async move { provider.credentials().await.unwrap() })
            })
            .collect();
        let mut seen = Vec::new();
        for task in tasks {
            seen.push(task.await.unwrap());
        }
        assert_eq!(broker.calls.load(Ordering::SeqCst), 1);
        assert!(seen.iter().all(|c| c.access_key_id() == "STS.key1"));
        assert_eq!(provider.refresh_count(), 0);

        // Twenty requests refused with the same key: one refresh between them.
        for credentials in &seen {
            assert!(provider.rejected(credentials));
        }
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let provider = provider.clone();
                tokio::spawn(async move { provider.credentials().await.unwrap() })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().access_key_id(), "STS.key2");
        }
        assert_eq!(broker.calls.load(Ordering::SeqCst), 2);
        assert_eq!(provider.refresh_count(), 1);
        // A late refusal of the old key does not throw the new one away.
        assert!(provider.rejected(&seen[0]));
        assert_eq!(
            provider.credentials().await.unwrap().access_key_id(),
            "STS.key2"
        );
        assert_eq!(broker.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn short_lived_credentials_are_replaced_ahead_of_expiry() {
        // Keys of 8 s (7 to 8 once the expiry is cut to the second) are due a quarter of their
        // life ahead: a request one second before they expire gets new ones.
        let broker = broker(8).await;
        let provider = uri_provider(&broker.url);
        let first = provider.credentials().await.unwrap();
        let expires = provider.expires_at().unwrap();
        let wait = expires - time::Duration::SECOND - OffsetDateTime::now_utc();
        tokio::time::sleep(Duration::try_from(wait).unwrap()).await;
        let second = provider.credentials().await.unwrap();
        assert_ne!(first, second);
        assert!(
            OffsetDateTime::now_utc() < expires,
            "refreshed only after expiry"
        );
        assert_eq!(provider.refresh_count(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_refresh_keeps_valid_credentials_and_tries_again_later() {
        // Keys of 8 s, due after about 6 s: the refresh then fails, the keys in hand are used.
        let broker = broker(8).await;
        let provider = uri_provider(&broker.url);
        let first = provider.credentials().await.unwrap();
        broker.failing.store(true, Ordering::SeqCst);
        let due = provider.expires_at().unwrap() - time::Duration::seconds(1);
        tokio::time::sleep(Duration::try_from(due - OffsetDateTime::now_utc()).unwrap()).await;
        assert_eq!(provider.credentials().await.unwrap(), first);
        assert_eq!(broker.calls.load(Ordering::SeqCst), 2);
        // Not asked again at once (backoff).
        assert_eq!(provider.credentials().await.unwrap(), first);
        assert_eq!(broker.calls.load(Ordering::SeqCst), 2);
        // Once they have expired, requests wait for new ones: the service is back.
        broker.failing.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_ne!(provider.credentials().await.unwrap(), first);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refused_credentials_are_never_handed_out_again() {
        let broker = broker(3600).await;
        let provider = uri_provider(&broker.url);
        let first = provider.credentials().await.unwrap();
        broker.failure.store(403, Ordering::SeqCst);
        broker.failing.store(true, Ordering::SeqCst);
        assert!(provider.rejected(&first));
        // The source refuses: an error, not the refused keys.
        let error = provider.credentials().await.unwrap_err();
        assert!(error.to_string().contains("HTTP403"), "{error}");
        broker.failing.store(false, Ordering::SeqCst);
        assert_ne!(provider.credentials().await.unwrap(), first);
    }

    #[tokio::test]
    async fn a_source_that_refuses_is_an_error_naming_it() {
        let broker = broker(3600).await;
        broker.failing.store(true, Ordering::SeqCst);
        let provider = uri_provider(&format!("{}?token=hidden", broker.url));
        let error = provider.credentials().await.unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("credentials URI") && text.contains("HTTP500"),
            "{text}"
        );
        assert!(!text.contains("hidden"), "{text}");
        assert!(error.is_transient());
        // Asked three times (waits of 1 s and 2 s) before giving up.
        assert_eq!(broker.calls.load(Ordering::SeqCst), 3);
    }
}
