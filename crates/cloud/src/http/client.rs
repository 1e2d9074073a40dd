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
    /// reqwest's read timeout: a stalled answer fails instead of hanging. Beware: reqwest starts
    /// this timer with the request and resets it only on response reads, so it also bounds the
    /// time spent *sending* the body (see the test below); hence `long_request_bodies`.
    pub read_timeout: Duration,
    /// The requests carry bodies that may take longer than `read_timeout` to send (OSS parts of
    /// up to 5 GB): the read timeout is then left off, and stalled uploads are the upload
    /// engine's to detect.
    pub long_request_bodies: bool,
    /// Whole-request limit for calls with small bodies both ways (everything but part uploads,
    /// PutObject and GetObject): the read timeout restarts on every byte received, so without
    /// it a server trickling one byte a second would hold a ListParts or a Describe call for
    /// ever. Streaming uploads have the engine's stall detection instead.
    pub request_timeout: Duration,
    /// Idle connections are closed after this long (OSS closes idle ones after about a minute).
    pub pool_idle_timeout: Duration,
    /// Speak HTTP/1.1 only. Parallel part uploads then use one TCP connection each, which
    /// gives more throughput than multiplexing them over one HTTP/2 connection (the choice the
    /// Rust `object_store` crate makes for object stores by default).
    pub http1_only: bool,
    /// Refuse plain `http://` URLs.
    pub https_only: bool,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Extra trusted roots (PEM), e.g. a company CA that re-signs TLS (`--ca-bundle`); trusted
    /// besides the system's roots (which honour `SSL_CERT_FILE`/`SSL_CERT_DIR`) and the bundled
    /// web roots.
    pub ca_bundle: Option<Vec<u8>>,
    /// Connect directly, whatever proxy the environment names: for loopback endpoints (the
    /// emulator), which a proxy elsewhere could not reach.
    pub direct: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            long_request_bodies: false,
            // Twice the read timeout: CompleteMultipartUpload of 10,000 parts can take OSS tens
            // of seconds before the first byte (oss-protocol.md §1.2).
            request_timeout: Duration::from_secs(120),
            pool_idle_timeout: Duration::from_secs(50),
            http1_only: true,
            https_only: true,
            user_agent: format!("bak2rds/{}", env!("CARGO_PKG_VERSION")),
            ca_bundle: None,
            direct: false,
        }
    }
}

/// Builds a client with rustls and the given settings. Proxies from the environment are
/// honoured (reqwest's default, credentials in the URL included), since corporate networks often
/// require them, except for a `direct` client.
pub fn build_client(config: &HttpConfig) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(config.connect_timeout)
        .pool_idle_timeout(config.pool_idle_timeout)
        .https_only(config.https_only)
        .tcp_nodelay(true)
        .user_agent(config.user_agent.clone());
    if !config.long_request_bodies {
        builder = builder.read_timeout(config.read_timeout);
    }
    if config.http1_only {
        builder = builder.http1_only();
    }
    if let Some(pem) = &config.ca_bundle {
        for certificate in reqwest::Certificate::from_pem_bundle(pem)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if config.direct {
        builder = builder.no_proxy();
    }
    builder.build()
}

/// The server's clock, from an answer's `Date` header (for clock-skew corrections).
pub fn server_time(response: &reqwest::Response) -> Option<time::OffsetDateTime> {
    response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|value| value.to_str().ok())
        .and_then(crate::oss::sign::parse_http_date)
}

/// Largest XML or JSON answer read into memory. The largest real one is a ListParts page of
/// 1,000 parts, about 0.3 MB (`research/oss-protocol.md` §1.2); anything past 4 MiB is a broken
/// or hostile server, and is refused before it can exhaust memory.
pub const MAX_SMALL_ANSWER: usize = 4 << 20;

/// Why an answer body could not be read by [`read_capped`].
#[derive(Debug, thiserror::Error)]
pub enum ReadAnswerError {
    /// The connection failed or timed out while reading.
    #[error("reading the answer failed")]
    Transport(#[source] reqwest::Error),
    /// The body is (or announced itself as) larger than the limit.
    #[error("the answer body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// Reads a whole answer body, refusing at once a `Content-Length` over `limit` and otherwise
/// stopping as soon as the received bytes pass it (a chunked body announces no length).
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<bytes::Bytes, ReadAnswerError> {
    let too_large = ReadAnswerError::TooLarge { limit };
    let announced = response.content_length().unwrap_or(0);
    if usize::try_from(announced).map_or(true, |n| n > limit) {
        return Err(too_large);
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadAnswerError::Transport)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
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

    /// A server that reads the whole request body, then answers 200.
    async fn body_reading_server() -> String {
        let app = axum::Router::new()
            .fallback(|body: axum::body::Bytes| async move { body.len().to_string() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// A body that takes about 600 ms to send: six chunks, 100 ms apart.
    fn slow_body() -> reqwest::Body {
        let chunks = futures::stream::unfold(0u8, |n| async move {
            if n == 6 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((
                Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"0123456789")),
                n + 1,
            ))
        });
        reqwest::Body::wrap_stream(chunks)
    }

    #[tokio::test]
    async fn slow_uploads_are_not_cut_with_long_request_bodies() {
        let url = body_reading_server().await;
        let config = HttpConfig {
            https_only: false,
            read_timeout: Duration::from_millis(250),
            long_request_bodies: true,
            ..HttpConfig::default()
        };
        let response = build_client(&config)
            .unwrap()
            .put(&url)
            .header("content-length", "60")
            .body(slow_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "60");

        // Why: with the read timeout on and shorter than the upload, the upload fails.
        let with_read_timeout = HttpConfig {
            long_request_bodies: false,
            ..config
        };
        let error = build_client(&with_read_timeout)
            .unwrap()
            .put(&url)
            .header("content-length", "60")
            .body(slow_body())
            .send()
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error}");
    }
}
