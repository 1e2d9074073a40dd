//! Which host serves the RDS API for a region (rds-api.md §2.4, §3): the central regions share
//! `rds.aliyuncs.com`, every other region has `rds.<region>.aliyuncs.com`. An explicit URL (the
//! emulator's, `--rds-endpoint`, `BAK2RDS_RDS_ENDPOINT`) overrides both.

/// Regions served by the central endpoint, as resolved by both official SDKs (§2.4, §3).
const CENTRAL_REGIONS: &[&str] = &[
    "cn-qingdao",
    "cn-beijing",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-hongkong",
    "us-east-1",
    "us-west-1",
    "ap-southeast-1",
];

/// The central endpoint host.
pub const CENTRAL_HOST: &str = "rds.aliyuncs.com";

/// The RDS API host for a region.
pub fn regional_host(region: &str) -> String {
    if CENTRAL_REGIONS.contains(&region) {
        CENTRAL_HOST.to_owned()
    } else {
        format!("rds.{region}.aliyuncs.com")
    }
}

/// The base URL to call: the override if given (a scheme is added when missing: `https` for a
/// host name, as the SDKs do), else `https://` + the regional host.
pub fn base_url(region: &str, endpoint_override: Option<&str>) -> String {
    match endpoint_override.map(str::trim).filter(|s| !s.is_empty()) {
        Some(url) if url.contains("://") => url.trim_end_matches('/').to_owned(),
        Some(host) => format!("https://{}", host.trim_end_matches('/')),
        None => format!("https://{}", regional_host(region)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_the_sdks() {
        // rds_sign_vectors.out §2a / §4c.
        assert_eq!(regional_host("cn-hangzhou"), "rds.aliyuncs.com");
        assert_eq!(
            regional_host("eu-central-1"),
            "rds.eu-central-1.aliyuncs.com"
        );
        assert_eq!(
            regional_host("ap-southeast-5"),
            "rds.ap-southeast-5.aliyuncs.com"
        );
    }

    #[test]
    fn override_wins() {
        assert_eq!(
            base_url("cn-hangzhou", Some("http://127.0.0.1:9/")),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            base_url("eu-central-1", None),
            "https://rds.eu-central-1.aliyuncs.com"
        );
        assert_eq!(base_url("x", Some("rds.example")), "https://rds.example");
    }
}
