//! The one way bak2rds builds a `reqwest::Client`: rustls, connection reuse, explicit timeouts.
//!
//! A client is cheap to clone (an `Arc` inside) and should be shared by every request to the
//! same service so connections are reused. Must not: retry, sign or interpret responses.

use std::time::Duration;

/// Transport settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Time allowed to open a TCP (+TLS) connection.
    pub connect_timeout: Duration,
    /// Longest pause between two reads of a response; a stalled transfer fails instead of
    /// hanging. Whole-request timeouts are not used because a 5 GB part legitimately takes long.
    pub read_timeout: Duration,
    /// Idle connections are closed after this long (OSS closes idle ones after about a minute).
    pub pool_idle_timeout: Duration,
    /// Refuse plain `http://` URLs.
    pub https_only: bool,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(50),
            https_only: true,
            user_agent: format!("bak2rds/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Builds a client with rustls and the given settings. Proxies from the environment are
/// honoured (reqwest's default), since corporate networks often require them.
pub fn build_client(config: &HttpConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.read_timeout)
        .pool_idle_timeout(config.pool_idle_timeout)
        .https_only(config.https_only)
        .tcp_nodelay(true)
        .user_agent(config.user_agent.clone())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn https_only_refuses_plain_http() {
        let client = build_client(&HttpConfig::default()).unwrap();
        let error = client.get("http://127.0.0.1:9/").send().await.unwrap_err();
        assert!(error.is_builder(), "{error}");
    }
}
