//! Errors of the RDS client, naming the action that failed, the service's code, message and
//! request ID, and what to do. Never the secret, the token or a signature.

use crate::error::Category;

/// How a failed call may be retried (DESIGN habit 5; rds-api.md §0: the SDKs do not retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// The server did not act on the request (throttling, 503): always safe to send again.
    Always,
    /// The server may have acted (5xx, timeout): retry only idempotent calls (Describe*).
    IfIdempotent,
    /// A definite answer; retrying would get the same one.
    Never,
}

/// An error from an RDS call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RdsError {
    /// The service answered with Alibaba's JSON error body.
    #[error(
        "RDS {action} failed: {code} (HTTP {status}){message}{request}. {advice}",
        message = if message.trim().is_empty() { String::new() } else { format!(": {}", message.trim()) },
        request = if request_id.is_empty() { String::new() } else { format!(" [request id {request_id}]") },
        advice = advice(code)
    )]
    Service {
        /// The API action, e.g. `CreateMigrateTask`.
        action: String,
        /// HTTP status.
        status: u16,
        /// Alibaba's error code.
        code: String,
        /// Alibaba's message.
        message: String,
        /// Request ID, for Alibaba support.
        request_id: String,
    },
    /// The request did not get an answer.
    #[error(
        "RDS {action}: no answer from {endpoint}{}: {detail}. Check the network, the region and --rds-endpoint.",
        if *timed_out { " (timed out)" } else { "" }
    )]
    Transport {
        /// The API action.
        action: String,
        /// The endpoint URL.
        endpoint: String,
        /// Whether the request timed out.
        timed_out: bool,
        /// Whether the connection was never made (then the server cannot have acted).
        not_connected: bool,
        /// The server's certificate was refused (unknown issuer, expired, wrong name): asking
        /// again cannot help.
        untrusted_certificate: bool,
        /// The transport's description.
        detail: String,
    },
    /// The answer could not be read.
    #[error("RDS {action}: unreadable answer (HTTP {status}): {detail}")]
    Decode {
        /// The API action.
        action: String,
        /// HTTP status.
        status: u16,
        /// What was wrong.
        detail: String,
    },
    /// A setting is wrong (endpoint, credentials, argument).
    #[error("RDS client setting: {0}")]
    Config(String),
    /// No credentials could be had to sign with.
    #[error(transparent)]
    Credentials(#[from] crate::credentials::CredentialError),
    /// The answer was well-formed but not what the call promises (e.g. an unknown instance in
    /// an empty list).
    #[error("RDS {action}: {detail}")]
    NotFound {
        /// The API action.
        action: String,
        /// What was missing.
        detail: String,
    },
    /// A task did not reach a final status before the deadline.
    #[error(
        "migration task {task_id} still {status} after {waited_secs} s; watch it with `bak2rds watch {task_id} --instance {instance_id}`"
    )]
    WaitDeadline {
        /// Instance ID.
        instance_id: String,
        /// Task ID.
        task_id: String,
        /// Last status seen.
        status: String,
        /// How long we waited.
        waited_secs: u64,
    },
}

impl RdsError {
    /// The service's error code, if the service answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            RdsError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// How this failure may be retried.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            RdsError::Service { status, code, .. } => {
                if is_not_rds(code) && !matches!(status, 408 | 429 | 502 | 503 | 504) {
                    // Whatever answered is not RDS: asking again will not make it one.
                    RetryClass::Never
                } else if is_throttling(code) || code == "ServiceUnavailable" || *status == 503 {
                    RetryClass::Always
                } else if code == "InternalError" || *status >= 500 {
                    RetryClass::IfIdempotent
                } else {
                    RetryClass::Never
                }
            }
            // A refused connection never reached the server; anything else (a timeout, an answer
            // cut off after the server acted) may have, so only idempotent calls repeat it: a
            // repeated CreateMigrateTask would start a second restore.
            RdsError::Transport {
                untrusted_certificate: true,
                ..
            } => RetryClass::Never,
            RdsError::Transport { not_connected, .. } => {
                if *not_connected {
                    RetryClass::Always
                } else {
                    RetryClass::IfIdempotent
                }
            }
            _ => RetryClass::Never,
        }
    }

    /// The category callers match on (crate `Error::category`).
    pub fn category(&self) -> Category {
        match self {
            RdsError::Service { code, .. } if is_credential_problem(code) => Category::Config,
            RdsError::Service { code, .. } if is_refusal(code) => Category::Refused,
            RdsError::Service { .. } if self.retry_class() != RetryClass::Never => {
                Category::Transient
            }
            RdsError::Service { .. } => Category::Service,
            RdsError::Transport { .. } => Category::Transient,
            RdsError::Decode { .. } => Category::Service,
            RdsError::Config(_) => Category::Config,
            RdsError::Credentials(error) if error.is_transient() => Category::Transient,
            RdsError::Credentials(_) => Category::Config,
            RdsError::NotFound { .. } => Category::Refused,
            RdsError::WaitDeadline { .. } => Category::Transient,
        }
    }
}

/// The client's code for an answer without RDS's JSON error document (`HTTP501`): not RDS.
fn is_not_rds(code: &str) -> bool {
    code.strip_prefix("HTTP")
        .is_some_and(|status| status.parse::<u16>().is_ok())
}

/// `Throttling`, `Throttling.User`, `Throttling.Api` (rds-api.md §1.9).
fn is_throttling(code: &str) -> bool {
    code == "Throttling" || code.starts_with("Throttling.")
}

/// Codes that mean the key, the secret, the clock or the permissions are wrong (§1.9).
fn is_credential_problem(code: &str) -> bool {
    code.starts_with("InvalidAccessKeyId")
        || code.starts_with("InvalidTimeStamp")
        || matches!(
            code,
            "SignatureDoesNotMatch"
                | "IncompleteSignature"
                | "InvalidAccessKeySecret"
                | "Forbidden.RAM"
                | "InvalidSecurityToken.Expired"
                | "InvalidSecurityToken.Malformed"
        )
}

/// Codes where the service judged the request and said no: the user must change something
/// (CreateMigrateTask's error table, rds-api.md §1.9).
fn is_refusal(code: &str) -> bool {
    matches!(
        code,
        "InvalidDBName"
            | "InvalidDBName.Duplicate"
            | "InvalidDBName.NotFound"
            | "IncorrectDBInstanceState"
            | "IncorrectDBInstanceType"
            | "IncorrectDBInstanceLockMode"
            | "IncorrectDBType"
            | "IncorrectDBState"
            | "UploadLimitExceeded"
            | "ConcurrentTaskExceeded"
            | "IncorrectFileExtension"
            | "InvalidOssUrl"
            | "BakFileSizeExceeded"
            | "FileSizeExceeded"
            | "OperationDenied.DBInstanceStatus"
            | "InvalidDBInstanceId.NotFound"
            | "InvalidDBInstance.NotFound"
    )
}

/// One sentence on what to do about a code (rds-api.md §1.1 limits, §1.9 tables).
fn advice(code: &str) -> &'static str {
    match code {
        c if is_throttling(c) => {
            "RDS is rate-limiting this account; bak2rds retried with backoff, try again in a minute."
        }
        "ServiceUnavailable" | "InternalError" => {
            "A temporary failure on Alibaba's side; try again later."
        }
        "SignatureDoesNotMatch" | "IncompleteSignature" | "InvalidAccessKeySecret" => {
            "Check the AccessKey secret (ALIBABA_CLOUD_ACCESS_KEY_SECRET) belongs to this AccessKey ID."
        }
        "InvalidSecurityToken.Expired" => {
            "The STS token expired and its source cannot hand out a new one (a fixed \
             ALIBABA_CLOUD_SECURITY_TOKEN or StsToken profile): get a new token, or use a source \
             bak2rds refreshes by itself (a RamRoleArn, EcsRamRole or OIDC profile, the OIDC \
             variables, or the ECS instance's role)."
        }
        c if c.starts_with("InvalidAccessKeyId") => {
            "Check the AccessKey ID (ALIBABA_CLOUD_ACCESS_KEY_ID) exists and is enabled."
        }
        c if c.starts_with("InvalidTimeStamp") => {
            "The local clock is more than 15 minutes off; synchronise it (NTP)."
        }
        "Forbidden.RAM" => {
            "Grant the RAM user AliyunRDSFullAccess (and AliyunOSSFullAccess) or the specific rds: actions."
        }
        "InvalidDBInstanceId.NotFound" | "InvalidDBInstance.NotFound" => {
            "Check --instance and --region: the instance is not in this region or account."
        }
        "InvalidDBName" => {
            "Choose another --database: system names (master, model, msdb, tempdb) are not allowed."
        }
        "InvalidDBName.Duplicate" => {
            "A database of that name exists on the instance: back it up and drop it, or choose another --database."
        }
        "IncorrectDBInstanceState" | "OperationDenied.DBInstanceStatus" => {
            "Wait until the instance is Running (see the RDS console) and run again."
        }
        "IncorrectDBInstanceType" => {
            "CreateMigrateTask works on RDS for SQL Server instances only."
        }
        "IncorrectDBInstanceLockMode" => {
            "The instance is locked (expired or out of disk); unlock it in the RDS console."
        }
        "IncorrectDBState" => {
            "A migration already runs on this database; wait for it (bak2rds tasks) and run again."
        }
        "UploadLimitExceeded" => {
            "At most 20 migrations per database per day; wait until tomorrow or use another name."
        }
        "ConcurrentTaskExceeded" => {
            "Too many migration tasks on this instance today (500); wait and run again."
        }
        "IncorrectFileExtension" => {
            "Name the object .bak (full), .diff (differential) or .trn/.log (log)."
        }
        "InvalidOssUrl" => {
            "The OSS position is wrong: bucket in the instance's region, key without ':' or special characters."
        }
        "BakFileSizeExceeded" => {
            "RDS takes .bak files up to 3 TB; split the database or use another migration method."
        }
        "FileSizeExceeded" => {
            "The restored database would not fit: enlarge the instance's storage first."
        }
        c if is_not_rds(c) => {
            "This endpoint does not answer like RDS (no RDS error document): check --rds-endpoint (or BAK2RDS_RDS_ENDPOINT) and --region."
        }
        _ => "See the code in Alibaba's RDS error reference.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> RdsError {
        RdsError::Service {
            action: "CreateMigrateTask".into(),
            status,
            code: code.into(),
            message: "m".into(),
            request_id: "R1".into(),
        }
    }

    /// First hour 9: an answer without RDS's error document is not retried (a gateway's 502-504
    /// still are) and says to check the endpoint.
    #[test]
    fn an_answer_that_is_not_rds_is_named_and_not_retried() {
        let not_rds = service(501, "HTTP501");
        assert_eq!(not_rds.retry_class(), RetryClass::Never);
        assert!(advice("HTTP501").contains("--rds-endpoint"));
        assert_eq!(
            service(502, "HTTP502").retry_class(),
            RetryClass::IfIdempotent
        );
    }

    #[test]
    fn classes_follow_the_code_not_the_status() {
        assert_eq!(
            service(400, "Throttling.User").retry_class(),
            RetryClass::Always
        );
        assert_eq!(
            service(503, "ServiceUnavailable").retry_class(),
            RetryClass::Always
        );
        assert_eq!(
            service(500, "InternalError").retry_class(),
            RetryClass::IfIdempotent
        );
        // The same code arrives with 403 or 500 (rds-api.md §1.9): it is a refusal either way.
        assert_eq!(
            service(403, "IncorrectDBInstanceState").category(),
            Category::Refused
        );
        assert_eq!(
            service(500, "IncorrectDBInstanceState").category(),
            Category::Refused
        );
        assert_eq!(
            service(400, "SignatureDoesNotMatch").category(),
            Category::Config
        );
        assert_eq!(
            service(400, "SignatureDoesNotMatch").retry_class(),
            RetryClass::Never
        );
    }

    #[test]
    fn message_names_action_code_request_and_advice() {
        let text = service(400, "InvalidDBName.Duplicate").to_string();
        assert!(text.contains("CreateMigrateTask"));
        assert!(text.contains("InvalidDBName.Duplicate"));
        assert!(text.contains("R1"));
        assert!(text.contains("drop it"));
    }
}
