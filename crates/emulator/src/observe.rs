//! What the emulator was asked: a count of answered requests per operation and status class,
//! always on and cheap, and, when a test turns it on, one record per request (operation,
//! upload ID, part number, status and the signature the client sent).
//!
//! Tests use it to prove properties the client alone cannot show: that a finished part is never
//! sent twice across crashes, and that no signature the server verified ever appears in the
//! client's output. It must not influence any answer.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// One answered request.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The OSS operation (`UploadPart`...) or RDS action (`CreateMigrateTask`...); `None` when
    /// the request was refused before it could be classified.
    pub operation: Option<String>,
    /// HTTP status of the answer (0 when the connection was dropped instead).
    pub status: u16,
    /// `uploadId` of the request, if any.
    pub upload_id: Option<String>,
    /// `partNumber` of the request, if any.
    pub part_number: Option<u32>,
    /// The signature value the client sent (header or query), verbatim.
    pub signature: Option<String>,
}

impl fmt::Debug for RequestRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A signature is a credential for as long as its request time is valid.
        f.debug_struct("RequestRecord")
            .field("operation", &self.operation)
            .field("status", &self.status)
            .field("upload_id", &self.upload_id)
            .field("part_number", &self.part_number)
            .field("signature", &self.signature.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl RequestRecord {
    /// True for a 2xx answer.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The observer shared by both servers of one emulator.
#[derive(Debug, Default)]
pub struct RequestLog {
    detailed: AtomicBool,
    counts: Mutex<BTreeMap<(String, u16), u64>>,
    records: Mutex<Vec<RequestRecord>>,
}

impl RequestLog {
    /// Starts keeping one record per request (off by default: a long benchmark would grow it
    /// without bound).
    pub fn keep_records(&self) {
        self.detailed.store(true, Ordering::Release);
    }

    /// True when one record per request is kept (callers skip gathering details otherwise).
    pub fn keeps_records(&self) -> bool {
        self.detailed.load(Ordering::Acquire)
    }

    /// Notes one answered request.
    pub fn record(&self, record: RequestRecord) {
        let operation = record.operation.clone().unwrap_or_else(|| "-".to_owned());
        *lock(&self.counts)
            .entry((operation, record.status))
            .or_default() += 1;
        if self.detailed.load(Ordering::Acquire) {
            lock(&self.records).push(record);
        }
    }

    /// Requests answered for `operation`, any status.
    pub fn count(&self, operation: &str) -> u64 {
        lock(&self.counts)
            .iter()
            .filter(|((name, _), _)| name == operation)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests answered for `operation` with a 2xx status.
    pub fn count_succeeded(&self, operation: &str) -> u64 {
        lock(&self.counts)
            .iter()
            .filter(|((name, status), _)| name == operation && (200..300).contains(status))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every kept record, in arrival order (empty unless [`RequestLog::keep_records`] was called).
    pub fn records(&self) -> Vec<RequestRecord> {
        lock(&self.records).clone()
    }

    /// Every signature value a client sent, as kept in the records.
    pub fn signatures(&self) -> Vec<String> {
        lock(&self.records)
            .iter()
            .filter_map(|record| record.signature.clone())
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counting cannot leave the maps inconsistent: a poisoned lock is used as is.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The signature a request carries: the last `Signature=` field or the `OSS id:signature` value
/// of the `Authorization` header, else a `Signature`/`x-oss-signature` query value (decoded).
pub fn signature_of(authorization: Option<&str>, query: &[(String, String)]) -> Option<String> {
    if let Some(value) = authorization {
        if let Some((_, signature)) = value.rsplit_once("Signature=") {
            return Some(signature.trim().to_owned());
        }
        if let Some((_, signature)) = value.trim().strip_prefix("OSS ")?.rsplit_once(':') {
            return Some(signature.to_owned());
        }
    }
    query
        .iter()
        .find(|(name, _)| name == "Signature" || name == "x-oss-signature")
        .map(|(_, value)| value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_signature_of_every_scheme() {
        let v4 = "OSS4-HMAC-SHA256 Credential=AK/20250101/cn-hangzhou/oss/aliyun_v4_request,\
                  AdditionalHeaders=host,Signature=abc123";
        assert_eq!(signature_of(Some(v4), &[]).as_deref(), Some("abc123"));
        assert_eq!(
            signature_of(Some("OSS AK:c2lnbmF0dXJl"), &[]).as_deref(),
            Some("c2lnbmF0dXJl")
        );
        let query = vec![("Signature".to_owned(), "q+s/=".to_owned())];
        assert_eq!(signature_of(None, &query).as_deref(), Some("q+s/="));
        assert_eq!(signature_of(None, &[]), None);
    }

    #[test]
    fn counts_by_operation_and_status_and_keeps_records_only_when_asked() {
        let log = RequestLog::default();
        let record = |status| RequestRecord {
            operation: Some("UploadPart".to_owned()),
            status,
            upload_id: Some("U".to_owned()),
            part_number: Some(1),
            signature: Some("secret-signature".to_owned()),
        };
        log.record(record(200));
        assert!(log.records().is_empty());
        log.keep_records();
        log.record(record(503));
        assert_eq!(log.count("UploadPart"), 2);
        assert_eq!(log.count_succeeded("UploadPart"), 1);
        assert_eq!(log.records().len(), 1);
        assert!(!format!("{:?}", log.records()).contains("secret-signature"));
    }
}
