//! Where and how the client talks to OSS: endpoint, bucket, region, signature version,
//! addressing style and scheme (`research/oss-protocol.md` §1.1, §4).
//!
//! Real OSS is reached over HTTPS with virtual-hosted addressing
//! (`https://<bucket>.oss-<region>.aliyuncs.com/<key>`); an IP or `localhost` endpoint (the
//! emulator) gets path-style addressing (`http://127.0.0.1:PORT/<bucket>/<key>`), as the
//! official SDKs do. Plain HTTP is accepted only for loopback hosts or when explicitly allowed.

use std::net::IpAddr;

use reqwest::Url;

use super::error::OssError;
use super::sign::uri_encode;
use crate::http::{HttpConfig, RetryConfig};

/// Which signature the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureVersion {
    /// `OSS ak:sig`, being phased out by Alibaba (§3.6).
    V1,
    /// `OSS4-HMAC-SHA256`, the default.
    #[default]
    V4,
}

/// How the bucket appears in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `https://<bucket>.<endpoint>/<key>`: what real OSS expects.
    VirtualHosted,
    /// `http://<endpoint>/<bucket>/<key>`: for IP and `localhost` endpoints.
    PathStyle,
}

/// The public endpoint host of a region: `oss-<region>.aliyuncs.com` (§4).
pub fn public_endpoint(region: &str) -> String {
    format!("oss-{region}.aliyuncs.com")
}

/// The internal (VPC/classic network, same region) endpoint host: `oss-<region>-internal...`.
pub fn internal_endpoint(region: &str) -> String {
    format!("oss-{region}-internal.aliyuncs.com")
}

/// Everything the client needs besides credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssConfig {
    /// Endpoint URL or host: `https://oss-cn-hangzhou.aliyuncs.com`, `oss-cn-hangzhou.aliyuncs.com`
    /// (HTTPS assumed) or `http://127.0.0.1:9000`.
    pub endpoint: String,
    /// The bucket every call addresses.
    pub bucket: String,
    /// Plain region id for the V4 scope (`cn-hangzhou`).
    pub region: String,
    /// V4 (default) or V1.
    pub signature_version: SignatureVersion,
    /// `None`: path-style for IP/`localhost` endpoints, virtual-hosted otherwise.
    pub addressing: Option<Addressing>,
    /// Accept `http://` for a non-loopback host.
    pub allow_http: bool,
    /// Retries of the calls the client retries itself (all but UploadPart).
    pub retry: RetryConfig,
    /// Transport settings (`https_only` is derived from the endpoint, not read from here).
    pub http: HttpConfig,
}

impl OssConfig {
    /// Real OSS in `region`, over the public or the internal endpoint.
    pub fn for_region(region: &str, bucket: &str, internal: bool) -> Self {
        let host = if internal {
            internal_endpoint(region)
        } else {
            public_endpoint(region)
        };
        Self::with_endpoint(&format!("https://{host}"), region, bucket)
    }

    /// An explicit endpoint (the emulator's `http://127.0.0.1:PORT`, a custom domain...).
    pub fn with_endpoint(endpoint: &str, region: &str, bucket: &str) -> Self {
        OssConfig {
            endpoint: endpoint.to_owned(),
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            signature_version: SignatureVersion::V4,
            addressing: None,
            allow_http: false,
            retry: RetryConfig::default(),
            http: HttpConfig::default(),
        }
    }
}

/// A validated endpoint: builds request URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedEndpoint {
    https: bool,
    /// Host without the bucket (and `:port` when not default).
    authority: String,
    bucket: String,
    addressing: Addressing,
}

impl ResolvedEndpoint {
    /// Validates `config`: a parseable URL without path or query, a valid bucket name, HTTPS
    /// unless the host is loopback or HTTP is allowed.
    pub fn resolve(config: &OssConfig) -> Result<Self, OssError> {
        validate_bucket(&config.bucket)?;
        if config.region.is_empty() {
            return Err(OssError::Config("the region is empty".into()));
        }
        if let Some(problem) = crate::http::missing_scheme("OSS", &config.endpoint) {
            return Err(OssError::Config(problem));
        }
        let with_scheme = if config.endpoint.contains("://") {
            config.endpoint.clone()
        } else {
            format!("https://{}", config.endpoint)
        };
        let url = Url::parse(&with_scheme)
            .map_err(|e| OssError::Config(format!("endpoint {:?}: {e}", config.endpoint)))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(OssError::Config(format!(
                    "endpoint {:?}: scheme {other} is not http or https",
                    config.endpoint
                )));
            }
        };
        let host = url.host_str().ok_or_else(|| {
            OssError::Config(format!("endpoint {:?} has no host", config.endpoint))
        })?;
        if url.path() != "/" || url.query().is_some() {
            return Err(OssError::Config(format!(
                "endpoint {:?} must not have a path or query",
                config.endpoint
            )));
        }
        if !https {
            crate::http::check_transport("OSS", url.as_str(), config.allow_http)
                .map_err(OssError::Config)?;
        }
        let addressing = config.addressing.unwrap_or(if is_ip_or_localhost(host) {
            Addressing::PathStyle
        } else {
            Addressing::VirtualHosted
        });
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(ResolvedEndpoint {
            https,
            authority,
            bucket: config.bucket.clone(),
            addressing,
        })
    }

    /// Whether requests go over HTTPS.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The addressing style in use.
    pub fn addressing(&self) -> Addressing {
        self.addressing
    }

    /// The host (and port) OSS is reached at, without the bucket: the `<endpoint>` part of an
    /// RDS `OssObjectPositions` value.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The URL of `key` (or of the bucket for `None`), with an already-encoded query string.
    pub fn url(&self, key: Option<&str>, encoded_query: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let path = uri_encode(key.unwrap_or(""), true);
        let mut url = match self.addressing {
            Addressing::VirtualHosted => {
                format!("{scheme}://{}.{}/{path}", self.bucket, self.authority)
            }
            Addressing::PathStyle => {
                format!("{scheme}://{}/{}/{path}", self.authority, self.bucket)
            }
        };
        if !encoded_query.is_empty() {
            url.push('?');
            url.push_str(encoded_query);
        }
        url
    }
}

fn is_ip_or_localhost(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok()
}

/// Bucket names: 3-63 characters, lower-case letters, digits and `-`, starting and ending with
/// a letter or digit (§1.3).
fn validate_bucket(bucket: &str) -> Result<(), OssError> {
    let valid_chars = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let valid_ends = !bucket.starts_with('-') && !bucket.ends_with('-');
    if (3..=63).contains(&bucket.len()) && valid_chars && valid_ends {
        Ok(())
    } else {
        Err(OssError::Config(format!(
            "bucket name {bucket:?} is invalid: 3-63 lower-case letters, digits or '-', \
             starting and ending with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_endpoints() {
        assert_eq!(
            public_endpoint("cn-hangzhou"),
            "oss-cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(
            internal_endpoint("ap-southeast-1"),
            "oss-ap-southeast-1-internal.aliyuncs.com"
        );
        let config = OssConfig::for_region("cn-hangzhou", "sqlbak-test", true);
        assert_eq!(
            config.endpoint,
            "https://oss-cn-hangzhou-internal.aliyuncs.com"
        );
    }

    #[test]
    fn real_oss_is_virtual_hosted_https() {
        let config = OssConfig::for_region("cn-hangzhou", "sqlbak-test", false);
        let endpoint = ResolvedEndpoint::resolve(&config).unwrap();
        assert_eq!(endpoint.addressing(), Addressing::VirtualHosted);
        assert_eq!(
            endpoint.url(Some("backups/db 01/a+b.bak"), "uploads"),
            "https://sqlbak-test.oss-cn-hangzhou.aliyuncs.com/backups/db%2001/a%2Bb.bak?uploads"
        );
        assert_eq!(
            endpoint.url(None, "bucketInfo"),
            "https://sqlbak-test.oss-cn-hangzhou.aliyuncs.com/?bucketInfo"
        );
        let bare_host =
            OssConfig::with_endpoint("oss-cn-hangzhou.aliyuncs.com", "cn-hangzhou", "b12");
        assert!(ResolvedEndpoint::resolve(&bare_host).unwrap().is_https());
    }

    #[test]
    fn loopback_is_path_style_and_may_be_http() {
        for endpoint in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            let config = OssConfig::with_endpoint(endpoint, "cn-hangzhou", "sqlbak-test");
            let resolved = ResolvedEndpoint::resolve(&config).unwrap();
            assert_eq!(resolved.addressing(), Addressing::PathStyle, "{endpoint}");
            assert!(!resolved.is_https());
        }
        let config =
            OssConfig::with_endpoint("http://127.0.0.1:9000", "cn-hangzhou", "sqlbak-test");
        assert_eq!(
            ResolvedEndpoint::resolve(&config)
                .unwrap()
                .url(Some("a/b.bak"), ""),
            "http://127.0.0.1:9000/sqlbak-test/a/b.bak"
        );
    }

    #[test]
    fn addressing_can_be_forced() {
        let mut config = OssConfig::for_region("cn-hangzhou", "sqlbak-test", false);
        config.addressing = Some(Addressing::PathStyle);
        let endpoint = ResolvedEndpoint::resolve(&config).unwrap();
        assert_eq!(
            endpoint.url(Some("k"), ""),
            "https://oss-cn-hangzhou.aliyuncs.com/sqlbak-test/k"
        );
        assert_eq!(endpoint.authority(), "oss-cn-hangzhou.aliyuncs.com");
    }

    #[test]
    fn plain_http_elsewhere_needs_permission() {
        let mut config = OssConfig::with_endpoint("http://oss.example.com", "cn-hangzhou", "bkt");
        let error = ResolvedEndpoint::resolve(&config).unwrap_err();
        assert!(error.to_string().contains("plain HTTP"), "{error}");
        config.allow_http = true;
        assert!(ResolvedEndpoint::resolve(&config).is_ok());
        config.endpoint = "http://10.0.0.5:80".into();
        assert!(ResolvedEndpoint::resolve(&config).is_ok());
    }

    #[test]
    fn bad_configs_are_refused() {
        for (endpoint, bucket) in [
            ("https://oss-cn-hangzhou.aliyuncs.com", "Bad_Bucket"),
            ("https://oss-cn-hangzhou.aliyuncs.com", "ab"),
            ("https://oss-cn-hangzhou.aliyuncs.com", "-abc"),
            ("ftp://oss-cn-hangzhou.aliyuncs.com", "abc"),
            ("https://oss-cn-hangzhou.aliyuncs.com/path", "abc"),
            ("https://", "abc"),
        ] {
            let config = OssConfig::with_endpoint(endpoint, "cn-hangzhou", bucket);
            assert!(
                ResolvedEndpoint::resolve(&config).is_err(),
                "{endpoint} {bucket}"
            );
        }
    }
}
