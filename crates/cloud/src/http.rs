//! HTTP plumbing shared by the OSS and RDS clients: the reqwest client ([`client`]), bounded
//! retries ([`retry`](mod@retry)) and the bandwidth cap ([`limit`]). Knows nothing of OSS or RDS semantics.

pub mod client;
pub mod limit;
pub mod proxy;
pub mod retry;

pub use client::{HttpConfig, build_client};
pub use retry::{Backoff, Idempotency, RetryConfig, RetryDecision, retry};

/// True for `localhost` and loopback IPs (`127.0.0.0/8`, `[::1]`): the only hosts plain HTTP
/// may reach without `--insecure-http`, because nothing leaves the machine.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// True when `url`'s host (`scheme://host[:port]/…`) is loopback: such endpoints (the emulator)
/// are reached directly, whatever proxy the environment names.
pub fn is_loopback_url(url: &str) -> bool {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    is_loopback_host(host)
}

/// Refuses a plain-HTTP `url` to a host that is not loopback unless `allow_http`: credentials,
/// signatures and the backup itself would cross the network unencrypted. `what` names the
/// service in the message.
pub fn check_transport(what: &str, url: &str, allow_http: bool) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    if allow_http || is_loopback_host(host) {
        return Ok(());
    }
    Err(format!(
        "{what} endpoint {url:?} uses plain HTTP to a host that is not this machine: use \
         https://, or pass --insecure-http if you accept that credentials and data travel \
         unencrypted"
    ))
}

/// Why an endpoint without a scheme is refused: a host name gets HTTPS, as the SDKs do, but an
/// IP address or `localhost` is most often the emulator, which speaks plain HTTP. Guessing
/// HTTPS there ends in a TLS error that says nothing useful; the user is asked to say which.
pub fn missing_scheme(what: &str, endpoint: &str) -> Option<String> {
    let endpoint = endpoint.trim();
    if endpoint.contains("://") {
        return None;
    }
    let authority = endpoint.split(['/', '?']).next().unwrap_or(endpoint);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let local_looking =
        host.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok();
    local_looking.then(|| {
        format!(
            "{what} endpoint {endpoint:?} has no scheme: write http://{endpoint} for a local \
             emulator (`bak2rds serve` speaks plain HTTP) or https://{endpoint}"
        )
    })
}

/// What to tell the user when `service` reported that the local clock is `skew_secs` behind
/// its own (negative: ahead): the client corrected its signing time, but other tools on the
/// machine will keep failing until the clock is fixed.
pub fn clock_skew_warning(service: &str, skew_secs: i64) -> String {
    let direction = if skew_secs >= 0 { "behind" } else { "ahead of" };
    format!(
        "the local clock is {} s {direction} {service}'s; requests are now signed with the \
         server's time, but fix the local clock (enable NTP, e.g. `timedatectl set-ntp true` or \
         `chronyc makestep`)",
        skew_secs.unsigned_abs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First hour 15: an IP endpoint without a scheme is refused with both spellings; a host
    /// name gets HTTPS.
    #[test]
    fn an_ip_endpoint_needs_its_scheme() {
        let text = missing_scheme("OSS", "127.0.0.1:9000").unwrap_or_default();
        assert!(
            text.contains("http://127.0.0.1:9000") && text.contains("https://127.0.0.1:9000"),
            "{text}"
        );
        assert!(missing_scheme("OSS", "localhost:9000").is_some());
        assert!(missing_scheme("OSS", "oss-cn-hangzhou.aliyuncs.com").is_none());
        assert!(missing_scheme("OSS", "http://127.0.0.1:9000").is_none());
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        for url in [
            "http://127.0.0.1:9000",
            "http://localhost:1/",
            "http://[::1]:80",
            "https://192.0.2.1",
        ] {
            assert!(check_transport("OSS", url, false).is_ok(), "{url}");
        }
        let refused = check_transport("RDS", "http://192.0.2.1:80/", false).unwrap_err();
        assert!(refused.contains("--insecure-http") && refused.contains("https://"));
        assert!(check_transport("RDS", "http://192.0.2.1", true).is_ok());
        assert!(check_transport("RDS", "http://127.0.0.1.example.com", false).is_err());
    }
}
