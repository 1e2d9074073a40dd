//! What the emulator serves: buckets, key pairs and faults, from a TOML file or from code.
//!
//! ```toml
//! [[bucket]]
//! name = "sqlbak-test"
//! region = "cn-hangzhou"
//! storage_class = "Standard"      # Standard | IA | Archive | ColdArchive
//! server_side_encryption = false  # true: GetBucketInfo reports AES256
//! allow_anonymous = false         # true: unsigned GET/HEAD/list allowed (OSS public-read)
//! rds_can_read = true             # false: RDS is not authorised to read it (no import role)
//!
//! [[key]]
//! id = "LTAI5tEmulatorKey"
//! secret = "..."
//! security_token = "CAIS..."      # optional: the pair is an STS credential
//! expires_unix = 1900000000       # optional: the STS credential expires then
//!
//! [faults]                         # see faults.rs; off by default
//! [sts]                            # see config/identity.rs: roles, OIDC, ECS, token lifetime
//! [ram]                            # see config/identity.rs: AliyunRDSImportRole's state
//! ```
//! Other top-level tables (e.g. `[[instance]]` for the RDS emulator) are kept untouched in
//! [`EmulatorConfig::other`] so the RDS side can read them from the same file.

use std::fmt;

use rand::RngExt as _;
use serde::Deserialize;

use super::error::EmulatorError;
use super::faults::FaultConfig;

mod identity;

pub use identity::{ImportRole, RamConfig, StsConfig};

/// The default region, as the issue asks (`bak2rds serve` with no flags).
pub const DEFAULT_REGION: &str = "cn-hangzhou";
/// The default bucket's name.
pub const DEFAULT_BUCKET: &str = "bak2rds-emulator";

/// The emulator's configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct EmulatorConfig {
    /// Buckets; the first one is "the" bucket the handle and `serve`'s JSON line report.
    #[serde(default, rename = "bucket")]
    pub buckets: Vec<BucketConfig>,
    /// Key pairs; the first one is reported by the handle and `serve`'s JSON line.
    #[serde(default, rename = "key")]
    pub keys: Vec<KeyPair>,
    /// Fault injection (off by default).
    #[serde(default)]
    pub faults: FaultConfig,
    /// A long, thin link in front of the OSS side (none by default): `[link]`.
    #[serde(default)]
    pub link: Option<crate::link::LinkConfig>,
    /// The credential services: STS, the ECS metadata service (`[sts]`).
    #[serde(default)]
    pub sts: StsConfig,
    /// RAM and the import role (`[ram]`).
    #[serde(default)]
    pub ram: RamConfig,
    /// The RDS side's settings (`[[instance]]` tables, `restore_ms`), read by
    /// [`EmulatorConfig::rds_config`].
    #[serde(flatten)]
    pub other: toml::Table,
}

/// One bucket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    /// Bucket name (3–63 characters: lower-case letters, digits, `-`; `oss-protocol.md` §1.3).
    pub name: String,
    /// Region id (`cn-hangzhou`), the one V4 signatures must name.
    #[serde(default = "default_region")]
    pub region: String,
    /// Storage class reported by GetBucketInfo and HEAD.
    #[serde(default = "default_storage_class")]
    pub storage_class: String,
    /// Server-side encryption on (reported as `AES256`) or off.
    #[serde(default)]
    pub server_side_encryption: bool,
    /// Unsigned reads allowed (GetObject, HeadObject, ListObjects), like OSS's `public-read`
    /// ACL; writes always need a signature. Off by default: like OSS's default `private`, an
    /// unsigned request is refused with `AccessDenied`.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// RDS is authorised to read the bucket (the `AliyunRDSImportRole` of Alibaba's guide). Off:
    /// a migration from it fails as the guide says one does when the role is missing or
    /// changed, "could not find backup file (…) on OSS".
    #[serde(default = "default_true")]
    pub rds_can_read: bool,
}

/// One AccessKey pair, optionally an STS credential (then requests must carry its token).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    /// AccessKey ID.
    pub id: String,
    /// AccessKey secret. Never printed by `Debug`.
    pub secret: String,
    /// STS security token; when set, requests signed with this pair must carry it.
    #[serde(default)]
    pub security_token: Option<String>,
    /// When the STS credential expires (Unix seconds); requests after it are refused.
    #[serde(default)]
    pub expires_unix: Option<i64>,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_unix", &self.expires_unix)
            .finish()
    }
}

fn default_region() -> String {
    DEFAULT_REGION.to_owned()
}

fn default_true() -> bool {
    true
}

fn default_storage_class() -> String {
    "Standard".to_owned()
}

impl Default for EmulatorConfig {
    /// One bucket in `cn-hangzhou` and one key pair with a random secret.
    fn default() -> Self {
        EmulatorConfig {
            buckets: vec![BucketConfig::new(DEFAULT_BUCKET)],
            keys: vec![KeyPair::random()],
            faults: FaultConfig::default(),
            link: None,
            sts: StsConfig::default(),
            ram: RamConfig::default(),
            other: toml::Table::new(),
        }
    }
}

impl BucketConfig {
    /// A Standard, unencrypted bucket in the default region.
    pub fn new(name: &str) -> Self {
        BucketConfig {
            name: name.to_owned(),
            region: default_region(),
            storage_class: default_storage_class(),
            server_side_encryption: false,
            allow_anonymous: false,
            rds_can_read: true,
        }
    }
}

impl KeyPair {
    /// True once `now` is past the credential's expiry (a long-term pair never expires). The
    /// last second is still valid: `expires_unix` is the `Expiration` STS reports.
    pub fn is_expired(&self, now: time::OffsetDateTime) -> bool {
        self.expires_unix
            .is_some_and(|expires| now.unix_timestamp() > expires)
    }

    /// The pair as the clients' request-signing credentials (with its STS token, if any).
    pub fn credentials(&self) -> bak2rds_cloud::oss::Credentials {
        let credentials = bak2rds_cloud::oss::Credentials::new(&self.id, &self.secret);
        match &self.security_token {
            Some(token) => credentials.with_security_token(token),
            None => credentials,
        }
    }

    /// A long-term key pair.
    pub fn new(id: &str, secret: &str) -> Self {
        KeyPair {
            id: id.to_owned(),
            secret: secret.to_owned(),
            security_token: None,
            expires_unix: None,
        }
    }

    /// A key pair with a random id and secret (shaped like Alibaba's: `LTAI` + 20, secret 30).
    pub fn random() -> Self {
        let mut rng = rand::rng();
        let id = format!("LTAI{}", random_alnum(&mut rng, 20));
        let secret = random_alnum(&mut rng, 30);
        KeyPair::new(&id, &secret)
    }
}

pub(crate) fn random_alnum(rng: &mut impl rand::Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| {
            let index = rng.random_range(0..ALPHABET.len());
            ALPHABET.get(index).map_or('A', |byte| char::from(*byte))
        })
        .collect()
}

impl EmulatorConfig {
    /// Parses a TOML document; an empty bucket or key list gets the defaults.
    pub fn from_toml(text: &str) -> Result<Self, EmulatorError> {
        let mut config: EmulatorConfig =
            toml::from_str(text).map_err(|err| EmulatorError::Config(err.to_string()))?;
        if config.buckets.is_empty() {
            config.buckets.push(BucketConfig::new(DEFAULT_BUCKET));
        }
        if config.keys.is_empty() {
            config.keys.push(KeyPair::random());
        }
        config.validate()?;
        Ok(config)
    }

    /// The RDS side's configuration: the `[[instance]]` tables and `restore_ms` (defaults when
    /// absent). Any other unknown top-level key is refused, so a typo is not silently ignored.
    pub fn rds_config(&self) -> Result<super::rds::RdsConfig, EmulatorError> {
        toml::Value::Table(self.other.clone())
            .try_into()
            .map_err(|err: toml::de::Error| EmulatorError::Config(err.to_string()))
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| EmulatorError::io(format!("read {}", path.display()), err))?;
        Self::from_toml(&text)
    }

    /// Checks what OSS itself would refuse: bucket names, duplicate buckets or keys, empty lists.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        self.rds_config()?;
        if self.buckets.is_empty() || self.keys.is_empty() {
            return Err(EmulatorError::Config(
                "declare at least one [[bucket]] and one [[key]]".to_owned(),
            ));
        }
        for (index, bucket) in self.buckets.iter().enumerate() {
            if !is_valid_bucket_name(&bucket.name) {
                return Err(EmulatorError::Config(format!(
                    "bucket name {:?}: use 3-63 lower-case letters, digits and '-', starting and \
                     ending with a letter or digit",
                    bucket.name
                )));
            }
            if self
                .buckets
                .iter()
                .skip(index + 1)
                .any(|b| b.name == bucket.name)
            {
                return Err(EmulatorError::Config(format!(
                    "bucket {:?} is declared twice",
                    bucket.name
                )));
            }
        }
        for (index, key) in self.keys.iter().enumerate() {
            if key.id.is_empty() || key.secret.is_empty() {
                return Err(EmulatorError::Config(
                    "every [[key]] needs a non-empty id and secret".to_owned(),
                ));
            }
            if self.keys.iter().skip(index + 1).any(|k| k.id == key.id) {
                return Err(EmulatorError::Config(format!(
                    "key id {:?} is declared twice",
                    key.id
                )));
            }
        }
        if let Some(link) = &self.link {
            link.validate()?;
        }
        self.sts.validate()?;
        self.faults.validate()
    }
}

/// Bucket naming rule of `oss-protocol.md` §1.3.
pub fn is_valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&bytes.len())
        && bytes.iter().all(allowed)
        && alnum(bytes.first())
        && alnum(bytes.last())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buckets_keys_and_keeps_unknown_tables() {
        let config = EmulatorConfig::from_toml(
            r#"
            [[bucket]]
            name = "sqlbak-test"
            region = "ap-southeast-1"
            server_side_encryption = true

            [[key]]
            id = "AK1"
            secret = "SK1"
            security_token = "TOKEN"

            [[instance]]
            id = "rm-123"
            "#,
        )
        .unwrap();
        assert_eq!(config.buckets[0].region, "ap-southeast-1");
        assert_eq!(config.buckets[0].storage_class, "Standard");
        assert!(config.buckets[0].server_side_encryption);
        assert_eq!(config.keys[0].security_token.as_deref(), Some("TOKEN"));
        assert!(config.other.contains_key("instance"));
    }

    #[test]
    fn parses_faults() {
        let config = EmulatorConfig::from_toml(
            r#"
            [faults]
            seed = 7
            latency_ms = 20
            bandwidth_bytes_per_sec = 1048576

            [[faults.error]]
            operation = "UploadPart"
            rate = 0.1
            status = 503
            code = "ServiceUnavailable"

            [[faults.drop_connection]]
            operation = "GetObject"
            rate = 0.05

            [[faults.flip_byte]]
            rate = 0.01
            times = 1
            "#,
        )
        .unwrap();
        let faults = &config.faults;
        assert_eq!((faults.seed, faults.latency_ms), (7, 20));
        assert_eq!(faults.errors[0].code, "ServiceUnavailable");
        assert_eq!(faults.drop_connection[0].operation, "GetObject");
        assert_eq!(faults.flip_byte[0].operation, "*");
        assert!(EmulatorConfig::from_toml("[faults]\nunknown = 1").is_err());
    }

    #[test]
    fn refuses_bad_bucket_names_and_duplicates() {
        assert!(EmulatorConfig::from_toml("[[bucket]]\nname = \"Bad_Name\"").is_err());
        let twice = "[[key]]\nid='a'\nsecret='b'\n[[key]]\nid='a'\nsecret='c'";
        assert!(EmulatorConfig::from_toml(twice).is_err());
    }

    #[test]
    fn parses_the_sts_and_ram_tables() {
        let config = EmulatorConfig::from_toml(
            r#"
            [sts]
            token_ttl_secs = 10
            roles = ["restore-role", "other"]
            ecs_metadata_token_required = true

            [ram]
            import_role = "altered"
            caller_can_read_ram = false
            "#,
        )
        .unwrap();
        assert_eq!(config.sts.token_ttl_secs, Some(10));
        assert_eq!(config.sts.roles, ["restore-role", "other"]);
        assert_eq!(config.sts.account_id, identity::DEFAULT_ACCOUNT_ID);
        assert_eq!(config.sts.oidc_provider, "bak2rds-oidc");
        assert!(config.sts.ecs_metadata_token_required);
        assert_eq!(config.ram.import_role, ImportRole::Altered);
        assert!(!config.ram.caller_can_read_ram);
        let defaults = EmulatorConfig::from_toml("").unwrap();
        assert_eq!(defaults.sts, StsConfig::default());
        assert_eq!(defaults.ram, RamConfig::default());
    }

    #[test]
    fn refuses_unknown_or_bad_identity_settings() {
        let error = |text: &str| EmulatorConfig::from_toml(text).unwrap_err().to_string();
        assert!(error("[sts]\ntoken_ttl = 10").contains("token_ttl"));
        assert!(error("[ram]\nimport_role = \"gone\"").contains("gone"));
        assert!(error("[sts]\ntoken_ttl_secs = 0").contains("token_ttl_secs"));
        assert!(error("[sts]\naccount_id = \"12ab\"").contains("account_id"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = KeyPair::new("AK", "super-secret-value");
        assert!(!format!("{key:?}").contains("super-secret-value"));
    }
}
