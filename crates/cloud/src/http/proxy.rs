//! Which proxy a request goes through, to say so in `-v` output and in `bak2rds doctor`: the
//! same variables reqwest honours (`HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`, lower case too, and
//! `NO_PROXY`). reqwest does the proxying; this only describes it, with any credentials in the
//! proxy URL replaced by `***`.

/// The proxy requests to `url` go through (credentials hidden), or `None` for a direct
/// connection. `direct` is a client built to bypass proxies (loopback endpoints).
pub fn proxy_for(url: &str, direct: bool) -> Option<String> {
    proxy_for_with(url, direct, |name| std::env::var(name).ok())
}

/// [`proxy_for`] with an explicit variable lookup.
pub fn proxy_for_with(
    url: &str,
    direct: bool,
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if direct {
        return None;
    }
    let get = |name: &str| {
        lookup(name)
            .or_else(|| lookup(&name.to_ascii_lowercase()))
            .filter(|v| !v.trim().is_empty())
    };
    let (scheme, rest) = url.split_once("://")?;
    let host = rest
        .split(['/', '?'])
        .next()
        .unwrap_or(rest)
        .rsplit_once(':')
        .map_or(rest.split(['/', '?']).next().unwrap_or(rest), |(h, _)| h);
    if get("NO_PROXY").is_some_and(|list| bypassed(host, &list)) {
        return None;
    }
    let variable = if scheme == "https" {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    get(variable)
        .or_else(|| get("ALL_PROXY"))
        .map(|p| redacted(&p))
}

/// `NO_PROXY`: `*`, or a comma list of hosts and domain suffixes (`.example.com` or
/// `example.com` both cover `a.example.com`).
fn bypassed(host: &str, list: &str) -> bool {
    list.split(',').map(str::trim).any(|entry| {
        let entry = entry.trim_start_matches('.');
        entry == "*"
            || (!entry.is_empty()
                && (host.eq_ignore_ascii_case(entry)
                    || host
                        .to_ascii_lowercase()
                        .ends_with(&format!(".{}", entry.to_ascii_lowercase()))))
    })
}

/// The proxy URL with its user and password replaced by `***`.
fn redacted(proxy: &str) -> String {
    match proxy.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => proxy.to_owned(),
        },
        None => match proxy.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => proxy.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_is_named_without_its_credentials() {
        let env = |name: &str| match name {
            "HTTPS_PROXY" => Some("http://user:s3cret@proxy.corp:3128".to_owned()),
            "no_proxy" => Some("localhost,.internal.corp".to_owned()),
            _ => None,
        };
        let via = proxy_for_with("https://oss-cn-hangzhou.aliyuncs.com/b", false, env);
        assert_eq!(via.as_deref(), Some("http://***@proxy.corp:3128"));
        assert_eq!(
            proxy_for_with("https://oss.internal.corp/b", false, env),
            None
        );
        assert_eq!(
            proxy_for_with("https://a.aliyuncs.com", true, env),
            None,
            "direct"
        );
        assert_eq!(
            proxy_for_with("http://127.0.0.1:9/b", false, env),
            None,
            "no HTTP_PROXY"
        );
    }
}
