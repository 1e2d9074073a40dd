//! The RDS RPC client: one method per API action (DESIGN habit 8), each signing with V1 or V3,
//! sending `POST /?<params>` with an empty body exactly as the official SDKs do (rds-api.md
//! §2.4), decoding the nested JSON of [`super::model`], and turning Alibaba's error body into an
//! [`RdsError`]. Retries go through one call site, `RdsClient::call`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::endpoint;
use super::error::{RdsError, RetryClass};
use super::model::*;
use super::sign::{self, RequestStamp, V1Dialect};
use crate::credentials::CredentialProvider;
use crate::http::client::{
    HttpConfig, MAX_SMALL_ANSWER, ReadAnswerError, build_client, read_capped,
};
use crate::http::retry::{Idempotency, RetryConfig, RetryDecision, retry};

/// Which signature the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureVersion {
    /// RPC V1, HMAC-SHA1 (rds-api.md §2.1); the dialect of the Tea SDK's `v2` mode.
    V1,
    /// `ACS3-HMAC-SHA256` (rds-api.md §2.2), the Tea SDK's default.
    #[default]
    V3,
}

/// How to reach RDS.
#[derive(Debug, Clone)]
pub struct RdsClientConfig {
    /// Region ID, e.g. `cn-hangzhou`; picks the endpoint unless overridden.
    pub region: String,
    /// A full endpoint URL (`http://127.0.0.1:PORT` for the emulator).
    pub endpoint: Option<String>,
    /// Signature to send.
    pub signature: SignatureVersion,
    /// Longest one call may take, answer included (and so also the longest pause in it).
    pub timeout: Duration,
    /// Retry budget (the shared decorrelated-jitter loop of [`crate::http::retry()`]).
    pub retry: RetryConfig,
    /// Accept a plain `http://` endpoint that is not loopback (`--insecure-http`).
    pub allow_http: bool,
    /// Extra trusted roots (PEM), as [`HttpConfig::ca_bundle`].
    pub ca_bundle: Option<Vec<u8>>,
}

impl RdsClientConfig {
    /// Defaults for a region: V3, 30 s per call, the shared default retry budget.
    pub fn new(region: impl Into<String>) -> Self {
        RdsClientConfig {
            region: region.into(),
            endpoint: None,
            signature: SignatureVersion::default(),
            timeout: Duration::from_secs(30),
            retry: RetryConfig::default(),
            allow_http: false,
            ca_bundle: None,
        }
    }
}

/// A client of the RDS API for one account and region. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RdsClient {
    http: reqwest::Client,
    base_url: String,
    host: String,
    config: RdsClientConfig,
    credentials: CredentialProvider,
    /// The RPC API's version: RDS's, or another product's called the same way (RAM).
    api_version: &'static str,
    /// Server time minus local time, seconds, learnt from the `Date` of an
    /// `InvalidTimeStamp.Expired` answer; added to the clock when stamping requests.
    clock_skew_secs: std::sync::Arc<AtomicI64>,
}

impl RdsClient {
    /// Builds a client; fails only on a malformed endpoint. `credentials`: fixed
    /// [`Credentials`](crate::credentials::Credentials), or a [`CredentialProvider`] that
    /// refreshes them.
    pub fn new(
        config: RdsClientConfig,
        credentials: impl Into<CredentialProvider>,
    ) -> Result<Self, RdsError> {
        let credentials = credentials.into();
        if let Some(problem) = config
            .endpoint
            .as_deref()
            .and_then(|e| crate::http::missing_scheme("RDS", e))
        {
            return Err(RdsError::Config(problem));
        }
        let base_url = endpoint::base_url(&config.region, config.endpoint.as_deref());
        crate::http::check_transport("RDS", &base_url, config.allow_http)
            .map_err(RdsError::Config)?;
        let host = base_url
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
            .filter(|h| !h.is_empty())
            .ok_or_else(|| RdsError::Config(format!("RDS endpoint {base_url} has no host")))?
            .to_owned();
        let direct = crate::http::is_loopback_url(&base_url);
        match crate::http::proxy::proxy_for(&base_url, direct) {
            Some(proxy) => {
                tracing::info!("RDS requests to {base_url} go through the proxy {proxy}")
            }
            None => tracing::info!("RDS requests to {base_url} go direct (no proxy)"),
        }
        let http = build_client(&HttpConfig {
            // RDS requests carry no body; `call_once` also bounds each whole call by this.
            read_timeout: config.timeout,
            // Plain http only when the user points us at one (the emulator).
            https_only: base_url.starts_with("https://"),
            ca_bundle: config.ca_bundle.clone(),
            direct,
            ..HttpConfig::default()
        })
        .map_err(|e| RdsError::Config(format!("HTTP client: {e}")))?;
        Ok(RdsClient {
            http,
            base_url,
            host,
            config,
            credentials,
            api_version: sign::API_VERSION,
            clock_skew_secs: std::sync::Arc::default(),
        })
    }

    /// The same machinery for another RPC product (RAM): its API version; the endpoint comes
    /// from `config`.
    pub(crate) fn for_api(
        config: RdsClientConfig,
        credentials: CredentialProvider,
        api_version: &'static str,
    ) -> Result<Self, RdsError> {
        let mut client = RdsClient::new(config, credentials)?;
        client.api_version = api_version;
        Ok(client)
    }

    /// Server time minus local time in seconds, as measured on the last
    /// `InvalidTimeStamp.Expired` (0 until then).
    pub fn clock_skew_secs(&self) -> i64 {
        self.clock_skew_secs.load(Ordering::Relaxed)
    }

    /// The base URL calls go to.
    pub fn endpoint(&self) -> &str {
        &self.base_url
    }

    /// CreateMigrateTask (§1.1). Not idempotent: retried only when the server cannot have acted.
    pub async fn create_migrate_task(
        &self,
        request: &CreateMigrateTaskRequest,
    ) -> Result<CreateMigrateTaskResponse, RdsError> {
        if let RestoreSource::OssObject { key, .. } = &request.source
            && key.contains(':')
        {
            return Err(RdsError::Config(format!(
                "object key {key:?} contains ':', which OssObjectPositions cannot carry (it is `endpoint:bucket:key`); upload under a key without ':'"
            )));
        }
        self.call(
            "CreateMigrateTask",
            request.to_params(),
            Idempotency::NonIdempotent,
        )
        .await
    }

    /// CreateOnlineDatabaseTask (§1.2): opens a database restored with `IsOnlineDB=False`.
    pub async fn create_online_database_task(
        &self,
        instance_id: &str,
        db_name: &str,
        migrate_task_id: &str,
        check_db_mode: CheckDbMode,
    ) -> Result<RequestIdOnly, RdsError> {
        let params = vec![
            ("DBInstanceId".into(), instance_id.into()),
            ("DBName".into(), db_name.into()),
            ("MigrateTaskId".into(), migrate_task_id.into()),
            ("CheckDBMode".into(), check_db_mode.as_str().into()),
        ];
        self.call(
            "CreateOnlineDatabaseTask",
            params,
            Idempotency::NonIdempotent,
        )
        .await
    }

    /// DeleteDatabase: drops a database of the instance, e.g. a rehearsal's restore before the
    /// real one. Not idempotent: repeated after it took effect, it finds no database.
    pub async fn delete_database(
        &self,
        instance_id: &str,
        db_name: &str,
    ) -> Result<RequestIdOnly, RdsError> {
        let params = vec![
            ("DBInstanceId".into(), instance_id.into()),
            ("DBName".into(), db_name.into()),
        ];
        self.call("DeleteDatabase", params, Idempotency::NonIdempotent)
            .await
    }

    /// DescribeMigrateTasks (§1.3) for a UTC time window (minutes precision on the wire).
    pub async fn describe_migrate_tasks(
        &self,
        instance_id: &str,
        start: time::OffsetDateTime,
        end: time::OffsetDateTime,
        page_number: u32,
    ) -> Result<DescribeMigrateTasksResponse, RdsError> {
        let params = vec![
            ("DBInstanceId".into(), instance_id.into()),
            ("StartTime".into(), format_minutes(start)),
            ("EndTime".into(), format_minutes(end)),
            ("PageNumber".into(), page_number.max(1).to_string()),
            // 100 is the documented maximum page size (§1.3).
            ("PageSize".into(), "100".into()),
        ];
        self.call("DescribeMigrateTasks", params, Idempotency::Idempotent)
            .await
    }

    /// DescribeMigrateTaskById (§1.4).
    pub async fn describe_migrate_task_by_id(
        &self,
        instance_id: &str,
        migrate_task_id: &str,
    ) -> Result<DescribeMigrateTaskByIdResponse, RdsError> {
        let params = vec![
            ("DBInstanceId".into(), instance_id.into()),
            ("MigrateTaskId".into(), migrate_task_id.into()),
        ];
        self.call("DescribeMigrateTaskById", params, Idempotency::Idempotent)
            .await
    }

    /// DescribeOssDownloads (§1.5): per-file detail of a task.
    pub async fn describe_oss_downloads(
        &self,
        instance_id: &str,
        migrate_task_id: &str,
    ) -> Result<DescribeOssDownloadsResponse, RdsError> {
        let params = vec![
            ("DBInstanceId".into(), instance_id.into()),
            ("MigrateTaskId".into(), migrate_task_id.into()),
        ];
        self.call("DescribeOssDownloads", params, Idempotency::Idempotent)
            .await
    }

    /// DescribeDBInstanceAttribute (§1.8) for one instance; [`RdsError::NotFound`] if the
    /// service lists none.
    pub async fn describe_db_instance_attribute(
        &self,
        instance_id: &str,
    ) -> Result<DbInstanceAttribute, RdsError> {
        let params = vec![("DBInstanceId".into(), instance_id.into())];
        let answer: DescribeDbInstanceAttributeResponse = self
            .call(
                "DescribeDBInstanceAttribute",
                params,
                Idempotency::Idempotent,
            )
            .await?;
        answer
            .items
            .db_instance_attribute
            .into_iter()
            .next()
            .ok_or_else(|| RdsError::NotFound {
                action: "DescribeDBInstanceAttribute".into(),
                detail: format!("instance {instance_id} not found; check --instance and --region"),
            })
    }

    /// DescribeDatabases (§1.8).
    pub async fn describe_databases(
        &self,
        instance_id: &str,
    ) -> Result<DescribeDatabasesResponse, RdsError> {
        let params = vec![("DBInstanceId".into(), instance_id.into())];
        self.call("DescribeDatabases", params, Idempotency::Idempotent)
            .await
    }

    /// DescribeAccounts (§1.8).
    pub async fn describe_accounts(
        &self,
        instance_id: &str,
    ) -> Result<DescribeAccountsResponse, RdsError> {
        let params = vec![("DBInstanceId".into(), instance_id.into())];
        self.call("DescribeAccounts", params, Idempotency::Idempotent)
            .await
    }

    /// DescribeResourceUsage (§1.8).
    pub async fn describe_resource_usage(
        &self,
        instance_id: &str,
    ) -> Result<DescribeResourceUsageResponse, RdsError> {
        let params = vec![("DBInstanceId".into(), instance_id.into())];
        self.call("DescribeResourceUsage", params, Idempotency::Idempotent)
            .await
    }

    /// DescribeBackupPolicy: the instance's automatic backup window and days.
    pub async fn describe_backup_policy(
        &self,
        instance_id: &str,
    ) -> Result<DescribeBackupPolicyResponse, RdsError> {
        let params = vec![("DBInstanceId".into(), instance_id.into())];
        self.call("DescribeBackupPolicy", params, Idempotency::Idempotent)
            .await
    }

    /// The one call site of retries: sends, and on a retryable failure waits and sends again
    /// (freshly signed: a new nonce and time each attempt).
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        action: &'static str,
        params: Vec<(String, String)>,
        idempotency: Idempotency,
    ) -> Result<T, RdsError> {
        let skew = self.clock_skew_secs();
        match self.call_with_retries(action, &params, idempotency).await {
            // The gateway refused the timestamp before acting, so even CreateMigrateTask may be
            // sent again, once, stamped with the server's clock.
            Err(error) if is_expired_timestamp(&error) && self.clock_skew_secs() != skew => {
                self.call_with_retries(action, &params, idempotency).await
            }
            // Likewise a token refused as expired, once the source can give a new one (the
            // refused call asked the provider to refresh).
            Err(error)
                if error.code() == Some(EXPIRED_TOKEN) && self.credentials.source().refreshes() =>
            {
                self.call_with_retries(action, &params, idempotency).await
            }
            outcome => outcome,
        }
    }

    async fn call_with_retries<T: DeserializeOwned>(
        &self,
        action: &'static str,
        params: &[(String, String)],
        idempotency: Idempotency,
    ) -> Result<T, RdsError> {
        retry(
            &self.config.retry,
            |_| self.call_once(action, params),
            |error: &RdsError| match (error.retry_class(), idempotency) {
                (RetryClass::Always, _) | (RetryClass::IfIdempotent, Idempotency::Idempotent) => {
                    tracing::debug!(action, %error, "RDS call will be retried");
                    RetryDecision::Retry
                }
                _ => RetryDecision::Fail,
            },
        )
        .await
    }

    /// One signed request and its decoded answer.
    async fn call_once<T: DeserializeOwned>(
        &self,
        action: &'static str,
        params: &[(String, String)],
    ) -> Result<T, RdsError> {
        let credentials = self.credentials.credentials().await?;
        let now = time::OffsetDateTime::now_utc() + time::Duration::seconds(self.clock_skew_secs());
        let timestamp = sign::format_timestamp(now);
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let stamp = RequestStamp {
            timestamp: &timestamp,
            nonce: &nonce,
        };
        let mut request = self.http.post(format!("{}/", self.base_url));
        match self.config.signature {
            SignatureVersion::V1 => {
                let call = sign::RpcCall {
                    version: self.api_version,
                    action,
                };
                let signed = sign::sign_v1_call(
                    "POST",
                    call,
                    params,
                    &credentials,
                    V1Dialect::TeaSdk,
                    &self.config.region,
                    stamp,
                );
                request = request.query(&signed);
            }
            SignatureVersion::V3 => {
                let call = sign::RpcCall {
                    version: self.api_version,
                    action,
                };
                let headers =
                    sign::sign_v3_call("POST", &self.host, call, params, &credentials, stamp);
                request = request.query(params);
                for (name, value) in headers.iter().filter(|(n, _)| n != "host") {
                    request = request.header(name.as_str(), value.as_str());
                }
            }
        }
        // The read timeout restarts on every byte; this bounds a server trickling its answer.
        let response = request
            .timeout(self.config.timeout)
            .send()
            .await
            .map_err(|e| self.transport(action, &e))?;
        let status = response.status().as_u16();
        let server_date = crate::http::client::server_time(&response);
        let body = read_capped(response, MAX_SMALL_ANSWER)
            .await
            .map_err(|error| match error {
                ReadAnswerError::Transport(e) => self.transport(action, &e),
                ReadAnswerError::TooLarge { .. } => RdsError::Decode {
                    action: action.into(),
                    status,
                    detail: error.to_string(),
                },
            })?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|e| RdsError::Decode {
                action: action.into(),
                status,
                detail: e.to_string(),
            });
        }
        let error: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        if error.code == EXPIRED_TOKEN {
            self.credentials.rejected(&credentials);
        }
        if error.code == EXPIRED_TIMESTAMP
            && let Some(server) = server_date
        {
            self.correct_clock(server);
        }
        Err(RdsError::Service {
            action: action.into(),
            status,
            code: if error.code.is_empty() {
                format!("HTTP{status}")
            } else {
                error.code
            },
            message: without_string_to_sign(error.message),
            request_id: error.request_id,
        })
    }

    /// Adopts the server's clock and tells the user, once per new offset, that theirs is off.
    fn correct_clock(&self, server: time::OffsetDateTime) {
        let skew = (server - time::OffsetDateTime::now_utc()).whole_seconds();
        let previous = self.clock_skew_secs.swap(skew, Ordering::Relaxed);
        if (previous - skew).abs() > CLOCK_NOTICE_SECS {
            tracing::warn!("{}", crate::http::clock_skew_warning("RDS", skew));
        }
    }

    fn transport(&self, action: &str, error: &reqwest::Error) -> RdsError {
        // reqwest's Display may include the URL, whose query carries the V1 signature: keep
        // only the kind of failure (DESIGN habit 6).
        let certificate = crate::http::retry::certificate_problem(error);
        let untrusted_certificate = certificate.is_some();
        let detail = if error.is_timeout() {
            "timed out".to_owned()
        } else if let Some(problem) = certificate {
            format!("the server's certificate is not trusted ({problem})")
        } else if error.is_connect() {
            "connection failed".to_owned()
        } else if error.is_body() || error.is_decode() {
            "the answer broke off".to_owned()
        } else {
            "request failed".to_owned()
        };
        RdsError::Transport {
            action: action.into(),
            endpoint: self.base_url.clone(),
            timed_out: error.is_timeout(),
            not_connected: error.is_connect(),
            untrusted_certificate,
            detail,
        }
    }
}

/// The RDS gateway's answer to a request stamped more than 15 minutes from its clock
/// (rds-api.md §1.9).
const EXPIRED_TIMESTAMP: &str = "InvalidTimeStamp.Expired";
/// The gateway's answer to an STS token past its expiry.
const EXPIRED_TOKEN: &str = "InvalidSecurityToken.Expired";

/// A change of the measured offset smaller than this is noise (request latency), not news.
const CLOCK_NOTICE_SECS: i64 = 5;

fn is_expired_timestamp(error: &RdsError) -> bool {
    matches!(error, RdsError::Service { code, .. } if code == EXPIRED_TIMESTAMP)
}

/// The gateway echoes its string to sign after a signature failure (rds-api.md §1.9); with STS
/// that string holds the security token, so it is cut off before the message is kept.
fn without_string_to_sign(message: String) -> String {
    const ECHO: &str = "server string to sign is:";
    match message.find(ECHO) {
        Some(at) => format!(
            "{}(string to sign withheld)",
            message.get(..at + ECHO.len()).unwrap_or("")
        ),
        None => message,
    }
}

/// `yyyy-MM-ddTHH:mmZ`, the minute-precision UTC format of DescribeMigrateTasks (§1.3).
pub fn format_minutes(at: time::OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute()
    )
}
