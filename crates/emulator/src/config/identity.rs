//! The identity side of the configuration: the `[sts]` table (the account, the roles keys may
//! assume, the OIDC provider, the ECS instance's role, how long issued credentials last) and
//! the `[ram]` table (the state of `AliyunRDSImportRole`, whether the caller may read RAM).
//!
//! ```toml
//! [sts]
//! token_ttl_secs = 10                 # optional: issued credentials last at most this long
//! account_id = "1234567890123456"     # the Alibaba Cloud account of every ARN
//! roles = ["bak2rds-migration"]       # roles the keys may assume (AssumeRole, OIDC)
//! max_session_secs = 3600             # the roles' MaxSessionDuration
//! oidc_provider = "bak2rds-oidc"      # the one OIDC identity provider
//! ecs_role = "bak2rds-ecs-role"       # the role attached to the emulated ECS instance
//! ecs_metadata_token_required = false # true: the metadata service's hardened mode only
//!
//! [ram]
//! import_role = "present"             # present | missing | altered (AliyunRDSImportRole)
//! caller_can_read_ram = true          # false: GetRole is refused with NoPermission
//! ```
//! Only parsing and validation live here; `sts.rs`, `ecs_metadata.rs` and `ram.rs` serve them.

use serde::Deserialize;

use crate::error::EmulatorError;

/// The account every emulated ARN names: sixteen digits, like a real account ID.
pub const DEFAULT_ACCOUNT_ID: &str = "1234567890123456";
/// The role the default configuration lets its keys assume.
pub const DEFAULT_ROLE: &str = "bak2rds-migration";
/// The default OIDC identity provider's name.
pub const DEFAULT_OIDC_PROVIDER: &str = "bak2rds-oidc";
/// The default role of the emulated ECS instance.
pub const DEFAULT_ECS_ROLE: &str = "bak2rds-ecs-role";
/// A role's default MaxSessionDuration (RAM's default: one hour).
pub const DEFAULT_MAX_SESSION_SECS: u64 = 3600;
/// RAM's range for a role's MaxSessionDuration: one to twelve hours.
const MAX_SESSION_RANGE: std::ops::RangeInclusive<u64> = 3600..=43_200;

/// The `[sts]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StsConfig {
    /// Issued credentials last at most this many seconds, whatever the client asks: a
    /// rehearsal of expiry in seconds instead of the real service's 15 minutes at least.
    /// None: AssumeRole gives what was asked, the metadata service six hours.
    #[serde(default)]
    pub token_ttl_secs: Option<u64>,
    /// The account ID of every ARN.
    #[serde(default = "default_account_id")]
    pub account_id: String,
    /// The roles the key pairs may assume; the first is the handle's `role_arn()`.
    #[serde(default = "default_roles")]
    pub roles: Vec<String>,
    /// The roles' MaxSessionDuration: the largest DurationSeconds AssumeRole accepts.
    #[serde(default = "default_max_session_secs")]
    pub max_session_secs: u64,
    /// The name of the OIDC identity provider AssumeRoleWithOIDC accepts.
    #[serde(default = "default_oidc_provider")]
    pub oidc_provider: String,
    /// The RAM role attached to the emulated ECS instance (served by the metadata service).
    #[serde(default = "default_ecs_role")]
    pub ecs_role: String,
    /// The metadata service's hardened mode only: every GET must carry a session token.
    #[serde(default)]
    pub ecs_metadata_token_required: bool,
}

/// The state of `AliyunRDSImportRole`, the role RDS assumes to read the bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportRole {
    /// Present, trusting `rds.aliyuncs.com` (what the console's authorisation creates).
    #[default]
    Present,
    /// Deleted: RDS cannot read any bucket.
    Missing,
    /// Present, but its trust policy names another service: RDS cannot assume it.
    Altered,
}

impl ImportRole {
    /// True when RDS can assume the role, and so read the account's buckets.
    pub fn lets_rds_read(self) -> bool {
        self == ImportRole::Present
    }
}

/// The `[ram]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RamConfig {
    /// The state of `AliyunRDSImportRole`.
    #[serde(default)]
    pub import_role: ImportRole,
    /// The caller may call RAM's read actions (`GetRole`); false: `NoPermission`.
    #[serde(default = "default_true")]
    pub caller_can_read_ram: bool,
}

impl Default for StsConfig {
    fn default() -> Self {
        StsConfig {
            token_ttl_secs: None,
            account_id: default_account_id(),
            roles: default_roles(),
            max_session_secs: default_max_session_secs(),
            oidc_provider: default_oidc_provider(),
            ecs_role: default_ecs_role(),
            ecs_metadata_token_required: false,
        }
    }
}

impl Default for RamConfig {
    fn default() -> Self {
        RamConfig {
            import_role: ImportRole::Present,
            caller_can_read_ram: true,
        }
    }
}

fn default_account_id() -> String {
    DEFAULT_ACCOUNT_ID.to_owned()
}

fn default_roles() -> Vec<String> {
    vec![DEFAULT_ROLE.to_owned()]
}

fn default_max_session_secs() -> u64 {
    DEFAULT_MAX_SESSION_SECS
}

fn default_oidc_provider() -> String {
    DEFAULT_OIDC_PROVIDER.to_owned()
}

fn default_ecs_role() -> String {
    DEFAULT_ECS_ROLE.to_owned()
}

fn default_true() -> bool {
    true
}

impl StsConfig {
    /// `acs:ram::<account>:role/<name>`; RAM writes role names in ARNs in lower case.
    pub fn role_arn(&self, role: &str) -> String {
        format!(
            "acs:ram::{}:role/{}",
            self.account_id,
            role.to_ascii_lowercase()
        )
    }

    /// The ARN of the first role (the one a client is told to assume).
    pub fn first_role_arn(&self) -> String {
        self.role_arn(self.roles.first().map_or(DEFAULT_ROLE, String::as_str))
    }

    /// `acs:ram::<account>:oidc-provider/<name>`.
    pub fn oidc_provider_arn(&self) -> String {
        format!(
            "acs:ram::{}:oidc-provider/{}",
            self.account_id, self.oidc_provider
        )
    }

    /// The configured role an ARN names (role names compare case-insensitively, as in RAM).
    pub fn role_for_arn(&self, arn: &str) -> Option<&str> {
        self.roles
            .iter()
            .find(|role| self.role_arn(role).eq_ignore_ascii_case(arn))
            .map(String::as_str)
    }

    /// Refuses what RAM itself would not let exist.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        let config = |message: String| Err(EmulatorError::Config(message));
        if self.account_id.len() != 16 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return config(format!(
                "[sts] account_id {:?}: use the sixteen digits of an account ID",
                self.account_id
            ));
        }
        if self.roles.is_empty() {
            return config("[sts] roles: name at least one role".to_owned());
        }
        for name in self
            .roles
            .iter()
            .chain([&self.ecs_role, &self.oidc_provider])
        {
            if !is_valid_ram_name(name) {
                return config(format!(
                    "[sts] {name:?}: a role or provider name is 1-64 letters, digits, '.', '-' \
                     or '_'"
                ));
            }
        }
        if self.token_ttl_secs == Some(0) {
            return config("[sts] token_ttl_secs: give at least 1 second".to_owned());
        }
        if !MAX_SESSION_RANGE.contains(&self.max_session_secs) {
            return config(format!(
                "[sts] max_session_secs {}: RAM allows 3600 to 43200",
                self.max_session_secs
            ));
        }
        Ok(())
    }
}

/// RAM's rule for role names: 1–64 characters of letters, digits, `.`, `-` and `_`.
fn is_valid_ram_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_use_the_account_and_lower_case_role_names() {
        let sts = StsConfig {
            roles: vec!["Migration-Role".into()],
            ..StsConfig::default()
        };
        assert_eq!(
            sts.first_role_arn(),
            "acs:ram::1234567890123456:role/migration-role"
        );
        assert_eq!(
            sts.role_for_arn("acs:ram::1234567890123456:role/MIGRATION-ROLE"),
            Some("Migration-Role")
        );
        assert_eq!(sts.role_for_arn("acs:ram::1:role/migration-role"), None);
        assert_eq!(
            sts.oidc_provider_arn(),
            "acs:ram::1234567890123456:oidc-provider/bak2rds-oidc"
        );
    }

    #[test]
    fn validation_names_the_bad_field() {
        let bad = |sts: StsConfig| sts.validate().unwrap_err().to_string();
        let short = StsConfig {
            account_id: "123".into(),
            ..StsConfig::default()
        };
        assert!(bad(short).contains("account_id"));
        let no_roles = StsConfig {
            roles: Vec::new(),
            ..StsConfig::default()
        };
        assert!(bad(no_roles).contains("roles"));
        let zero = StsConfig {
            token_ttl_secs: Some(0),
            ..StsConfig::default()
        };
        assert!(bad(zero).contains("token_ttl_secs"));
        let role = StsConfig {
            ecs_role: "has space".into(),
            ..StsConfig::default()
        };
        assert!(bad(role).contains("has space"));
        assert!(StsConfig::default().validate().is_ok());
    }

    #[test]
    fn only_a_present_import_role_lets_rds_read() {
        assert!(ImportRole::Present.lets_rds_read());
        assert!(!ImportRole::Missing.lets_rds_read());
        assert!(!ImportRole::Altered.lets_rds_read());
    }
}
