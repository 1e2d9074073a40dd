//! Alibaba Cloud's region IDs where both OSS and RDS for SQL Server are offered, to refuse a
//! mistyped `--region` locally instead of waiting on a host that does not exist
//! (`rds.mars-1.aliyuncs.com`). A region newer than this list is still reachable by naming its
//! endpoints (`--oss-endpoint`, `--rds-endpoint`), which skips the check.

/// The region IDs, mainland China first, as Alibaba's endpoint tables list them.
pub const REGIONS: &[&str] = &[
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-wulanchabu",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-nanjing",
    "cn-fuzhou",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-guangzhou",
    "cn-chengdu",
    "cn-wuhan-lr",
    "cn-hongkong",
    "cn-hangzhou-finance",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
    "cn-beijing-finance-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "us-east-1",
    "us-west-1",
    "na-south-1",
    "eu-west-1",
    "eu-central-1",
    "me-east-1",
    "me-central-1",
];

/// Why `region` is refused, or `None` for a known region. A region given with OSS's `oss-`
/// prefix (as GetBucketInfo and the console print it) is named with the ID to write instead.
pub fn region_problem(region: &str) -> Option<String> {
    if REGIONS.contains(&region) {
        return None;
    }
    if let Some(plain) = region.strip_prefix("oss-").filter(|r| REGIONS.contains(r)) {
        return Some(format!(
            "region {region:?} is OSS's name for the region: write --region {plain}"
        ));
    }
    Some(format!(
        "unknown region {region:?}: Alibaba Cloud's regions with OSS and RDS are {}. For a \
         region newer than this list, pass --oss-endpoint and --rds-endpoint instead",
        REGIONS.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_regions_pass_and_others_are_named() {
        assert_eq!(region_problem("cn-hangzhou"), None);
        assert_eq!(region_problem("ap-southeast-1"), None);
        let text = region_problem("mars-1").unwrap_or_default();
        assert!(
            text.contains("mars-1")
                && text.contains("cn-hangzhou")
                && text.contains("--oss-endpoint")
        );
        let text = region_problem("oss-cn-shanghai").unwrap_or_default();
        assert!(text.contains("--region cn-shanghai"), "{text}");
    }
}
