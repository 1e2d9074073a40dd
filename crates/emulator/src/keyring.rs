//! The emulator's one key ring: the configured key pairs plus the temporary credentials STS
//! and the ECS metadata service issue, so that every server (OSS, RDS, STS, RAM) accepts an
//! issued key until it expires and then refuses it, each in its own words.
//!
//! The ring only stores and finds keys; deciding what a missing, mismatched or expired key is
//! answered with stays with each server's authentication (`oss_auth`, `rpc_auth`). It must not
//! be held across an `.await`: every method takes the lock and releases it before returning.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use base64::Engine as _;
use rand::RngExt as _;
use time::{Duration, OffsetDateTime};

use crate::config::{KeyPair, random_alnum};

/// How long an expired issued key is kept after its expiry: long enough that a client using it
/// meets "expired" rather than "unknown key", short enough that a long rehearsal with short
/// tokens does not grow the ring without bound.
const KEEP_EXPIRED: Duration = Duration::hours(1);

/// At most this many issued keys are kept; past it the one expiring first is dropped. A
/// safety net for a client that asks for credentials in a loop.
const MAX_ISSUED: usize = 10_000;

/// Length of the random part of an issued AccessKey ID (`STS.` + 28, as the service's are).
const ISSUED_ID_LEN: usize = 28;
/// Length of an issued AccessKey secret (the service's are 44 characters).
const ISSUED_SECRET_LEN: usize = 44;
/// Random bytes in an issued security token. Real tokens are several hundred characters of
/// base64 after `CAIS`, with `+`, `/` and `=`, which a client must encode correctly.
const TOKEN_BYTES: usize = 240;

/// Every key pair the emulator accepts.
#[derive(Debug)]
pub struct KeyRing {
    long_term: Vec<KeyPair>,
    issued: RwLock<HashMap<String, KeyPair>>,
    clock_skew: Duration,
}

/// A temporary credential just issued, with its times.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The pair, its token and its expiry.
    pub key: KeyPair,
    /// When it was issued (the emulator's clock).
    pub issued_at: OffsetDateTime,
    /// The last second it is valid (`Expiration`).
    pub expires_at: OffsetDateTime,
}

impl KeyRing {
    /// A ring of the configured pairs; `clock_skew_secs` is the fault settings' server clock
    /// shift, so issued keys expire on the same clock the OSS side judges signatures with.
    pub fn new(long_term: Vec<KeyPair>, clock_skew_secs: i64) -> Self {
        KeyRing {
            long_term,
            issued: RwLock::new(HashMap::new()),
            clock_skew: Duration::seconds(clock_skew_secs),
        }
    }

    /// The emulator's clock: the host's, shifted by the configured clock skew (the same
    /// reading as [`crate::faults::Faults::now`]).
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.clock_skew
    }

    /// The pair with this AccessKey ID, configured or issued (expired ones included: callers
    /// tell the client its token expired).
    pub fn find(&self, access_key_id: &str) -> Option<KeyPair> {
        if let Some(key) = self.long_term.iter().find(|k| k.id == access_key_id) {
            return Some(key.clone());
        }
        self.read().get(access_key_id).cloned()
    }

    /// Issues a temporary credential valid from `now` for `lifetime`, and keeps it until an
    /// hour after it expires.
    pub fn issue(&self, now: OffsetDateTime, lifetime: Duration) -> IssuedKey {
        let expires_at = now + lifetime;
        let key = new_temporary_key(expires_at.unix_timestamp());
        let mut issued = self.write();
        prune(&mut issued, now);
        issued.insert(key.id.clone(), key.clone());
        IssuedKey {
            expires_at: OffsetDateTime::from_unix_timestamp(expires_at.unix_timestamp())
                .unwrap_or(expires_at),
            key,
            issued_at: now,
        }
    }

    /// The issued keys still kept (for tests that check none of them leaks).
    pub fn issued(&self) -> Vec<KeyPair> {
        self.read().values().cloned().collect()
    }

    /// How many issued keys are kept.
    pub fn issued_count(&self) -> usize {
        self.read().len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, KeyPair>> {
        // A map of keys cannot be left half-written by a panic elsewhere: keep serving.
        self.issued.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, KeyPair>> {
        self.issued.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Drops keys expired for more than [`KEEP_EXPIRED`], then, past [`MAX_ISSUED`], the ones
/// expiring first.
fn prune(issued: &mut HashMap<String, KeyPair>, now: OffsetDateTime) {
    let horizon = (now - KEEP_EXPIRED).unix_timestamp();
    issued.retain(|_, key| key.expires_unix.is_none_or(|at| at >= horizon));
    while issued.len() >= MAX_ISSUED {
        let first = issued
            .values()
            .min_by_key(|key| key.expires_unix)
            .map(|key| key.id.clone());
        match first {
            Some(id) => issued.remove(&id),
            None => break,
        };
    }
}

/// A key pair shaped like STS's: `STS.` + 28 characters, a 44-character secret, a `CAIS`
/// token.
fn new_temporary_key(expires_unix: i64) -> KeyPair {
    let mut rng = rand::rng();
    let mut token = [0_u8; TOKEN_BYTES];
    rng.fill(&mut token[..]);
    KeyPair {
        id: format!("STS.{}", random_alnum(&mut rng, ISSUED_ID_LEN)),
        secret: random_alnum(&mut rng, ISSUED_SECRET_LEN),
        security_token: Some(format!(
            "CAIS{}",
            base64::engine::general_purpose::STANDARD.encode(token)
        )),
        expires_unix: Some(expires_unix),
    }
}

/// `yyyy-MM-ddTHH:mm:ssZ`, the form of STS's `Expiration` and the metadata service's times.
pub fn utc_text(at: OffsetDateTime) -> String {
    bak2rds_cloud::rds::sign::format_timestamp(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn finds_configured_and_issued_keys() {
        let ring = KeyRing::new(vec![KeyPair::new("LTAIlong", "secret")], 0);
        let issued = ring.issue(at(1_000), Duration::seconds(60));
        assert!(issued.key.id.starts_with("STS."));
        assert_eq!(issued.key.id.len(), 4 + ISSUED_ID_LEN);
        assert!(
            issued
                .key
                .security_token
                .as_deref()
                .is_some_and(|t| t.starts_with("CAIS"))
        );
        assert_eq!(issued.expires_at, at(1_060));
        assert_eq!(
            ring.find("LTAIlong").map(|k| k.secret),
            Some("secret".into())
        );
        let found = ring.find(&issued.key.id).unwrap();
        assert_eq!(found.secret, issued.key.secret);
        assert!(!found.is_expired(at(1_060)), "the last second is valid");
        assert!(found.is_expired(at(1_061)));
        assert!(ring.find("STS.unknown").is_none());
    }

    #[test]
    fn keys_expired_for_an_hour_are_dropped_when_the_next_is_issued() {
        let ring = KeyRing::new(Vec::new(), 0);
        let old = ring.issue(at(1_000), Duration::seconds(10));
        ring.issue(at(1_010 + 3_600), Duration::seconds(10));
        assert!(
            ring.find(&old.key.id).is_some(),
            "an hour after expiry: kept"
        );
        ring.issue(at(1_011 + 3_600), Duration::seconds(10));
        assert!(ring.find(&old.key.id).is_none());
        assert_eq!(ring.issued_count(), 2);
    }

    #[test]
    fn the_ring_never_holds_more_than_its_bound() {
        let mut issued = HashMap::new();
        for n in 0..MAX_ISSUED + 5 {
            let key = new_temporary_key(i64::try_from(n).unwrap() + 10_000);
            issued.insert(key.id.clone(), key);
        }
        prune(&mut issued, at(0));
        assert_eq!(issued.len(), MAX_ISSUED - 1);
        assert!(issued.values().all(|k| k.expires_unix > Some(10_005)));
    }

    #[test]
    fn the_clock_is_the_skewed_one() {
        let ring = KeyRing::new(Vec::new(), 3_600);
        let skew = ring.now() - OffsetDateTime::now_utc();
        assert!((skew - Duration::hours(1)).abs() < Duration::seconds(5));
    }

    #[test]
    fn debug_hides_issued_secrets() {
        let ring = KeyRing::new(Vec::new(), 0);
        let issued = ring.issue(at(0), Duration::seconds(1));
        let text = format!("{ring:?} {issued:?}");
        assert!(!text.contains(&issued.key.secret));
        assert!(!text.contains(issued.key.security_token.as_deref().unwrap()));
    }
}
