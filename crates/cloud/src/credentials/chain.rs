//! Alibaba's default credential chain, in the order and with the variables of its official
//! credential libraries (`alibabacloud-credentials` for Python, Go and Java):
//!
//! 1. the environment's AccessKey (`ALIBABA_CLOUD_ACCESS_KEY_ID`, `…_SECRET`, optional
//!    `ALIBABA_CLOUD_SECURITY_TOKEN`);
//! 2. OIDC (`ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`,
//!    `ALIBABA_CLOUD_OIDC_TOKEN_FILE`) → STS `AssumeRoleWithOIDC`;
//! 3. the aliyun CLI profile (`~/.aliyun/config.json`; skipped with
//!    `ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true`);
//! 4. the SDKs' `~/.alibabacloud/credentials.ini` (or `ALIBABA_CLOUD_CREDENTIALS_FILE`);
//! 5. the ECS instance's RAM role from the metadata service (skipped with
//!    `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`; probed unless `ALIBABA_CLOUD_ECS_METADATA`
//!    names the role);
//! 6. `ALIBABA_CLOUD_CREDENTIALS_URI`.
//!
//! The first source that is configured is used, and a broken one is an error that names it:
//! it is never passed over for the next (a typo in a role ARN must not silently fall back to
//! other credentials). Only the ECS step, which cannot be seen without asking, is passed over
//! when the metadata service does not answer. `--profile` (or `ALIBABA_CLOUD_PROFILE`) picks
//! the profile of steps 3 and 4; on the command line it also passes over steps 1 and 2.

use std::path::PathBuf;

use super::ecs_metadata;
use super::error::CredentialError;
use super::keys::Credentials;
use super::profile::{self, default_session_name};
use super::provider::CredentialProvider;
use super::source::{RoleSession, Source, SourceKind};
use super::sts;
use crate::env_vars as var;
use crate::http::HttpConfig;

/// What the chain reads: the profile asked for on the command line and the environment.
pub struct ChainSettings<'a> {
    /// `--profile`.
    pub profile: Option<&'a str>,
    /// Reads an environment variable (`std::env::var` in the binary, a map in tests).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for ChainSettings<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainSettings")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// The sources that apply, in order: the last is configured for certain, those before it are
/// probed (the ECS step) and passed over if they do not answer.
#[derive(Debug)]
pub struct Choice {
    probes: Vec<Source>,
    chosen: Option<Source>,
    /// What was looked at and not found, for the error when nothing answers.
    tried: Vec<String>,
}

/// Where the chain's services are, from the environment.
#[derive(Debug, Clone)]
pub(super) struct Endpoints {
    /// `BAK2RDS_STS_ENDPOINT`: wins over every other STS setting.
    sts_override: Option<String>,
    sts_region: Option<String>,
    vpc: bool,
    pub ecs_metadata: String,
    pub imds_v1_disabled: bool,
}

impl Endpoints {
    pub(super) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        Endpoints {
            sts_override: set(env, var::BAK2RDS_STS_ENDPOINT),
            sts_region: set(env, var::ALIBABA_CLOUD_STS_REGION),
            vpc: is_true(env, var::ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED),
            ecs_metadata: set(env, var::BAK2RDS_ECS_METADATA_ENDPOINT)
                .unwrap_or_else(|| ecs_metadata::DEFAULT_ENDPOINT.to_owned()),
            imds_v1_disabled: is_true(env, var::ALIBABA_CLOUD_IMDSV1_DISABLED),
        }
    }

    /// The STS endpoint for a region (`None`: the environment's, else the global one).
    pub fn sts_for(&self, region: Option<&str>, vpc: Option<bool>) -> String {
        if let Some(url) = &self.sts_override {
            return url.clone();
        }
        match region.or(self.sts_region.as_deref()) {
            None => sts::DEFAULT_ENDPOINT.to_owned(),
            Some(region) => {
                let vpc = if vpc.unwrap_or(self.vpc) { "-vpc" } else { "" };
                format!("https://sts{vpc}.{region}.aliyuncs.com")
            }
        }
    }

    /// A profile's own STS endpoint (a host, or a URL), unless the environment overrides it.
    pub fn sts_url(&self, endpoint: &str) -> String {
        match &self.sts_override {
            Some(url) => url.clone(),
            None if endpoint.contains("://") => endpoint.to_owned(),
            None => format!("https://{endpoint}"),
        }
    }
}

fn set(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name)
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn is_true(env: &dyn Fn(&str) -> Option<String>, name: &str) -> bool {
    set(env, name).is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

/// Walks the chain without network: which sources apply. Errors are configured sources that
/// are broken (an incomplete profile, a file that does not parse).
pub fn choose_source(settings: &ChainSettings<'_>) -> Result<Choice, CredentialError> {
    let env = settings.env;
    let endpoints = Endpoints::from_env(env);
    let mut tried = Vec::new();
    let chosen = |source: Source, tried: Vec<String>| Choice {
        probes: Vec::new(),
        chosen: Some(source),
        tried,
    };
    if settings.profile.is_none() {
        if let Some(credentials) = Credentials::from_lookup(env)? {
            return Ok(chosen(
                Source::fixed(credentials, environment_origin()),
                tried,
            ));
        }
        tried.push("environment variables ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET".to_owned());
        if let Some(source) = oidc_from_env(env, &endpoints)? {
            return Ok(chosen(source, tried));
        }
        tried.push("OIDC variables ALIBABA_CLOUD_ROLE_ARN, …".to_owned());
    }
    let env_profile = set(env, var::ALIBABA_CLOUD_PROFILE);
    let profile_name = settings.profile.or(env_profile.as_deref());
    if let Some(source) = profile_files(env, profile_name, &endpoints, &mut tried)? {
        return Ok(chosen(source, tried));
    }
    let mut probes = Vec::new();
    if !is_true(env, var::ALIBABA_CLOUD_ECS_METADATA_DISABLED) {
        let role_name = set(env, var::ALIBABA_CLOUD_ECS_METADATA);
        let named = role_name.is_some();
        let source = Source {
            kind: SourceKind::EcsRole {
                role_name,
                endpoint: endpoints.ecs_metadata.clone(),
                token_required: endpoints.imds_v1_disabled,
            },
            origin: if named {
                format!("the environment ({})", var::ALIBABA_CLOUD_ECS_METADATA)
            } else {
                "the default chain (this machine may be an ECS instance)".to_owned()
            },
        };
        if named {
            return Ok(chosen(source, tried));
        }
        probes.push(source);
    }
    let chosen = set(env, var::ALIBABA_CLOUD_CREDENTIALS_URI).map(|uri| Source {
        kind: SourceKind::Uri(uri),
        origin: format!("the environment ({})", var::ALIBABA_CLOUD_CREDENTIALS_URI),
    });
    if chosen.is_none() {
        tried.push("ALIBABA_CLOUD_CREDENTIALS_URI".to_owned());
    }
    Ok(Choice {
        probes,
        chosen,
        tried,
    })
}

fn environment_origin() -> String {
    format!(
        "environment variables {} and {}",
        var::ALIBABA_CLOUD_ACCESS_KEY_ID,
        var::ALIBABA_CLOUD_ACCESS_KEY_SECRET
    )
}

/// Step 2: all three OIDC variables, or none.
fn oidc_from_env(
    env: &dyn Fn(&str) -> Option<String>,
    endpoints: &Endpoints,
) -> Result<Option<Source>, CredentialError> {
    let role_arn = set(env, var::ALIBABA_CLOUD_ROLE_ARN);
    let provider_arn = set(env, var::ALIBABA_CLOUD_OIDC_PROVIDER_ARN);
    let token_file = set(env, var::ALIBABA_CLOUD_OIDC_TOKEN_FILE);
    let (role_arn, provider_arn, token_file) = match (role_arn, provider_arn, token_file) {
        (None, None, None) => return Ok(None),
        (Some(role), Some(provider), Some(file)) => (role, provider, file),
        (role, provider, _) => {
            let missing = if role.is_none() {
                var::ALIBABA_CLOUD_ROLE_ARN
            } else if provider.is_none() {
                var::ALIBABA_CLOUD_OIDC_PROVIDER_ARN
            } else {
                var::ALIBABA_CLOUD_OIDC_TOKEN_FILE
            };
            // Only the role ARN alone is not OIDC: other tools read it too.
            if missing != var::ALIBABA_CLOUD_ROLE_ARN && provider.is_none() && role.is_some() {
                return Ok(None);
            }
            return Err(CredentialError::IncompleteOidc { missing });
        }
    };
    Ok(Some(Source {
        kind: SourceKind::Oidc {
            provider_arn,
            token_file: PathBuf::from(token_file),
            session: RoleSession {
                role_arn,
                session_name: set(env, var::ALIBABA_CLOUD_ROLE_SESSION_NAME)
                    .unwrap_or_else(default_session_name),
                duration_secs: 3600,
                external_id: None,
                policy: None,
                sts_endpoint: endpoints.sts_for(None, None),
            },
        },
        origin: "the environment (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, \
                 ALIBABA_CLOUD_OIDC_TOKEN_FILE)"
            .to_owned(),
    }))
}

/// Steps 3 and 4: the aliyun CLI file, then the SDKs' ini file. A profile named but found in
/// neither is an error.
fn profile_files(
    env: &dyn Fn(&str) -> Option<String>,
    profile: Option<&str>,
    endpoints: &Endpoints,
    tried: &mut Vec<String>,
) -> Result<Option<Source>, CredentialError> {
    let home = set(env, var::HOME).map(PathBuf::from);
    let cli_path = home.as_ref().map(|home| home.join(".aliyun/config.json"));
    let mut not_in_cli = None;
    match &cli_path {
        Some(path) if is_true(env, var::ALIBABA_CLOUD_CLI_PROFILE_DISABLED) => {
            tried.push(format!("{} (disabled)", path.display()));
        }
        Some(path) if path.is_file() => {
            match profile::cli_profile_source(path, profile, endpoints) {
                Ok(source) => return Ok(Some(source)),
                // A profile named on the command line may live in the ini file instead.
                Err(error @ CredentialError::NoSuchProfile { .. }) if profile.is_some() => {
                    not_in_cli = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Some(path) => tried.push(path.display().to_string()),
        None => {}
    }
    let ini_path = set(env, var::ALIBABA_CLOUD_CREDENTIALS_FILE)
        .map(PathBuf::from)
        .or_else(|| home.map(|home| home.join(".alibabacloud/credentials.ini")));
    if let Some(path) = ini_path.filter(|path| path.is_file()) {
        if let Some(source) = profile::ini_profile_source(&path, profile, endpoints)? {
            return Ok(Some(source));
        }
        tried.push(format!("{} (no such section)", path.display()));
    } else {
        tried.push("~/.alibabacloud/credentials.ini".to_owned());
    }
    match (profile, not_in_cli, cli_path) {
        (_, Some(error), _) => Err(error),
        (Some(profile), None, Some(path)) => Err(CredentialError::NoProfileFile {
            path,
            profile: profile.to_owned(),
        }),
        _ => Ok(None),
    }
}

impl Choice {
    /// The source that will be used when nothing is probed, for `doctor` and tests.
    pub fn chosen(&self) -> Option<&Source> {
        self.chosen.as_ref()
    }

    /// The sources to ask, in order, and how many of the first are probes; an error when there
    /// is none at all.
    fn into_candidates(self) -> Result<(Vec<Source>, usize, Vec<String>), CredentialError> {
        let probes = self.probes.len();
        let mut sources = self.probes;
        sources.extend(self.chosen);
        if sources.is_empty() {
            return Err(CredentialError::NotFound {
                tried: self.tried.join("; "),
            });
        }
        Ok((sources, probes, self.tried))
    }

    /// What will be asked, in words with no secret (for `doctor`).
    pub fn describe(&self) -> Result<String, CredentialError> {
        let parts: Vec<String> = self
            .probes
            .iter()
            .chain(&self.chosen)
            .map(Source::describe)
            .collect();
        match parts.len() {
            0 => Err(CredentialError::NotFound {
                tried: self.tried.join("; "),
            }),
            1 => Ok(parts.join("")),
            _ => Ok(format!(
                "the first that answers of: {}",
                parts.join("; else ")
            )),
        }
    }

    /// A provider for this choice (nothing is fetched yet).
    pub fn provider(self, http: &HttpConfig) -> Result<CredentialProvider, CredentialError> {
        let (sources, probes, tried) = self.into_candidates()?;
        CredentialProvider::with_candidates(sources, probes, tried, http)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    /// A home folder with an aliyun CLI file and an ini file, and an environment over it.
    struct Machine {
        home: tempfile::TempDir,
        vars: HashMap<String, String>,
    }

    const CLI: &str = r#"{
        "current": "main",
        "profiles": [
            {"name": "main", "mode": "AK", "access_key_id": "cli-ak", "access_key_secret": "cli-sk"},
            {"name": "temp", "mode": "StsToken", "access_key_id": "ak2", "access_key_secret": "sk2",
             "sts_token": "tok2"},
            {"name": "role", "mode": "RamRoleArn", "access_key_id": "ak3",
             "access_key_secret": "sk3", "ram_role_arn": "acs:ram::1:role/mig",
             "ram_session_name": "night", "expired_seconds": 900, "sts_region": "cn-shanghai"},
            {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "migration-host"},
            {"name": "chained", "mode": "ChainableRamRoleArn", "source_profile": "role",
             "ram_role_arn": "acs:ram::2:role/other"},
            {"name": "loop1", "mode": "ChainableRamRoleArn", "source_profile": "loop2",
             "ram_role_arn": "acs:ram::2:role/a"},
            {"name": "loop2", "mode": "ChainableRamRoleArn", "source_profile": "loop1",
             "ram_role_arn": "acs:ram::2:role/b"},
            {"name": "uri", "mode": "CredentialsURI", "credentials_uri": "http://127.0.0.1:9/c?k=secret"},
            {"name": "oidc", "mode": "OIDC", "ram_role_arn": "acs:ram::1:role/k8s",
             "oidc_provider_arn": "acs:ram::1:oidc-provider/ack", "oidc_token_file": "/var/run/token"},
            {"name": "halfrole", "mode": "RamRoleArn", "access_key_id": "ak4",
             "access_key_secret": "sk4"},
            {"name": "odd", "mode": "External"}
        ]
    }"#;

    const INI: &str = "[default]\ntype = access_key\naccess_key_id = ini-ak\n\
                       access_key_secret = ini-sk\n\n[ops]\ntype = ram_role_arn\n\
                       access_key_id = ak5\naccess_key_secret = sk5\n\
                       role_arn = acs:ram::5:role/ops\n";

    impl Machine {
        fn new(cli: Option<&str>, ini: Option<&str>) -> Self {
            let home = tempfile::tempdir().unwrap();
            if let Some(text) = cli {
                std::fs::create_dir_all(home.path().join(".aliyun")).unwrap();
                write_private(&home.path().join(".aliyun/config.json"), text);
            }
            if let Some(text) = ini {
                std::fs::create_dir_all(home.path().join(".alibabacloud")).unwrap();
                write_private(&home.path().join(".alibabacloud/credentials.ini"), text);
            }
            let mut vars = HashMap::new();
            vars.insert(var::HOME.to_owned(), home.path().display().to_string());
            Machine { home, vars }
        }

        fn set(mut self, name: &str, value: &str) -> Self {
            self.vars.insert(name.to_owned(), value.to_owned());
            self
        }

        fn choose(&self, profile: Option<&str>) -> Result<Source, CredentialError> {
            let env = |name: &str| self.vars.get(name).cloned();
            let choice = choose_source(&ChainSettings { profile, env: &env })?;
            assert!(choice.probes.is_empty(), "probes: {:?}", choice.probes);
            let (mut sources, _, _) = choice.into_candidates()?;
            Ok(sources.remove(0))
        }

        fn choice(&self) -> Choice {
            let env = |name: &str| self.vars.get(name).cloned();
            choose_source(&ChainSettings {
                profile: None,
                env: &env,
            })
            .unwrap()
        }
    }

    fn write_private(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    fn fixed_id(source: &Source) -> &str {
        match &source.kind {
            SourceKind::Fixed(credentials) => credentials.access_key_id(),
            other => panic!("not fixed keys: {other:?}"),
        }
    }

    #[test]
    fn each_step_is_taken_in_the_documented_order() {
        let oidc = |m: Machine| {
            m.set(var::ALIBABA_CLOUD_ROLE_ARN, "acs:ram::1:role/k8s")
                .set(
                    var::ALIBABA_CLOUD_OIDC_PROVIDER_ARN,
                    "acs:ram::1:oidc-provider/ack",
                )
                .set(var::ALIBABA_CLOUD_OIDC_TOKEN_FILE, "/var/run/token")
        };
        let env_keys = |m: Machine| {
            m.set(var::ALIBABA_CLOUD_ACCESS_KEY_ID, "env-ak")
                .set(var::ALIBABA_CLOUD_ACCESS_KEY_SECRET, "env-sk")
        };
        // 1. the environment's keys before everything.
        let all = env_keys(oidc(Machine::new(Some(CLI), Some(INI))));
        assert_eq!(fixed_id(&all.choose(None).unwrap()), "env-ak");
        // 2. OIDC before the profile files.
        let source = oidc(Machine::new(Some(CLI), Some(INI)))
            .choose(None)
            .unwrap();
        assert!(matches!(source.kind, SourceKind::Oidc { .. }), "{source:?}");
        // 3. the CLI file's current profile before the ini file.
        let source = Machine::new(Some(CLI), Some(INI)).choose(None).unwrap();
        assert_eq!(fixed_id(&source), "cli-ak");
        // ... unless the CLI file is disabled.
        let disabled =
            Machine::new(Some(CLI), Some(INI)).set(var::ALIBABA_CLOUD_CLI_PROFILE_DISABLED, "true");
        assert_eq!(fixed_id(&disabled.choose(None).unwrap()), "ini-ak");
        // 4. the ini file's default section.
        let source = Machine::new(None, Some(INI)).choose(None).unwrap();
        assert_eq!(fixed_id(&source), "ini-ak");
        // 5. the ECS role named in the environment.
        let ecs = Machine::new(None, None).set(var::ALIBABA_CLOUD_ECS_METADATA, "host-role");
        let source = ecs.choose(None).unwrap();
        assert!(
            matches!(&source.kind, SourceKind::EcsRole { role_name: Some(name), .. } if name == "host-role"),
            "{source:?}"
        );
        // 5 probed (no role named), then 6 the URI.
        let uri =
            Machine::new(None, None).set(var::ALIBABA_CLOUD_CREDENTIALS_URI, "http://127.0.0.1:9/");
        let choice = uri.choice();
        assert!(
            matches!(
                choice.probes[0].kind,
                SourceKind::EcsRole {
                    role_name: None,
                    ..
                }
            ),
            "{choice:?}"
        );
        assert!(matches!(choice.chosen().unwrap().kind, SourceKind::Uri(_)));
        // 6 alone when the metadata service is disabled.
        let uri_only = Machine::new(None, None)
            .set(var::ALIBABA_CLOUD_CREDENTIALS_URI, "http://127.0.0.1:9/")
            .set(var::ALIBABA_CLOUD_ECS_METADATA_DISABLED, "true");
        assert!(matches!(
            uri_only.choose(None).unwrap().kind,
            SourceKind::Uri(_)
        ));
        // Nothing at all: every step named.
        let nothing =
            Machine::new(None, None).set(var::ALIBABA_CLOUD_ECS_METADATA_DISABLED, "true");
        let text = nothing.choose(None).unwrap_err().to_string();
        for step in [
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "OIDC",
            "config.json",
            "credentials.ini",
            "ALIBABA_CLOUD_CREDENTIALS_URI",
        ] {
            assert!(text.contains(step), "{step} missing from: {text}");
        }
    }

    #[test]
    fn a_named_profile_passes_over_the_environment_and_may_live_in_either_file() {
        let machine = Machine::new(Some(CLI), Some(INI))
            .set(var::ALIBABA_CLOUD_ACCESS_KEY_ID, "env-ak")
            .set(var::ALIBABA_CLOUD_ACCESS_KEY_SECRET, "env-sk");
        let temp = machine.choose(Some("temp")).unwrap();
        match &temp.kind {
            SourceKind::Fixed(credentials) => {
                assert_eq!(credentials.security_token(), Some("tok2"))
            }
            other => panic!("{other:?}"),
        }
        assert!(
            temp.describe().contains("StsToken mode"),
            "{}",
            temp.describe()
        );
        // Only in the ini file.
        let ops = machine.choose(Some("ops")).unwrap();
        assert!(matches!(ops.kind, SourceKind::RamRole { .. }), "{ops:?}");
        // In neither: the CLI file's error.
        let error = machine.choose(Some("nope")).unwrap_err();
        assert!(
            matches!(error, CredentialError::NoSuchProfile { .. }),
            "{error}"
        );
        // ALIBABA_CLOUD_PROFILE names one too, after the environment's keys.
        let by_variable = Machine::new(Some(CLI), None).set(var::ALIBABA_CLOUD_PROFILE, "temp");
        assert_eq!(fixed_id(&by_variable.choose(None).unwrap()), "ak2");
        // A profile asked for with no files at all says which file is missing.
        let bare = Machine::new(None, None);
        let error = bare.choose(Some("prod")).unwrap_err().to_string();
        assert!(error.contains("aliyun configure --profile prod"), "{error}");
        drop(bare.home);
    }

    #[test]
    fn role_profiles_become_sessions_with_their_settings() {
        let machine = Machine::new(Some(CLI), None);
        let role = machine.choose(Some("role")).unwrap();
        let SourceKind::RamRole { base, session } = &role.kind else {
            panic!("{role:?}")
        };
        assert_eq!(fixed_id(base), "ak3");
        assert_eq!(session.role_arn, "acs:ram::1:role/mig");
        assert_eq!(session.session_name, "night");
        assert_eq!(session.duration_secs, 900);
        assert_eq!(session.sts_endpoint, "https://sts.cn-shanghai.aliyuncs.com");
        // Chained: the base is the other profile's role.
        let chained = machine.choose(Some("chained")).unwrap();
        let SourceKind::RamRole { base, session } = &chained.kind else {
            panic!("{chained:?}")
        };
        assert!(matches!(base.kind, SourceKind::RamRole { .. }));
        assert_eq!(session.role_arn, "acs:ram::2:role/other");
        // BAK2RDS_STS_ENDPOINT wins over the profile's region (rehearsal on the emulator).
        let rehearsal =
            Machine::new(Some(CLI), None).set(var::BAK2RDS_STS_ENDPOINT, "http://127.0.0.1:7/");
        let SourceKind::RamRole { session, .. } = rehearsal.choose(Some("role")).unwrap().kind
        else {
            panic!()
        };
        assert_eq!(session.sts_endpoint, "http://127.0.0.1:7/");
        // The other modes.
        assert!(matches!(
            machine.choose(Some("ecs")).unwrap().kind,
            SourceKind::EcsRole { .. }
        ));
        assert!(matches!(
            machine.choose(Some("oidc")).unwrap().kind,
            SourceKind::Oidc { .. }
        ));
        let uri = machine.choose(Some("uri")).unwrap();
        assert!(
            !format!("{uri:?} {}", uri.describe()).contains("secret"),
            "{uri:?}"
        );
    }

    #[test]
    fn broken_profiles_are_errors_that_name_the_profile_and_the_field() {
        let machine = Machine::new(Some(CLI), None);
        let text = machine.choose(Some("halfrole")).unwrap_err().to_string();
        assert!(
            text.contains("halfrole") && text.contains("ram_role_arn"),
            "{text}"
        );
        assert!(!text.contains("sk4"), "{text}");
        let looped = machine.choose(Some("loop1")).unwrap_err();
        assert!(
            matches!(looped, CredentialError::ProfileLoop { .. }),
            "{looped}"
        );
        let odd = machine.choose(Some("odd")).unwrap_err().to_string();
        assert!(
            odd.contains("External") && odd.contains("RamRoleArn"),
            "{odd}"
        );
        // Part of the OIDC variables is an error, not a silent fall-through.
        let half = Machine::new(Some(CLI), None).set(
            var::ALIBABA_CLOUD_OIDC_PROVIDER_ARN,
            "acs:ram::1:oidc-provider/ack",
        );
        let text = half.choose(None).unwrap_err().to_string();
        assert!(text.contains("ALIBABA_CLOUD_ROLE_ARN"), "{text}");
        let broken = Machine::new(Some("{not json"), None);
        assert!(matches!(
            broken.choose(None).unwrap_err(),
            CredentialError::ParseConfig { .. }
        ));
    }
}
