//! Turns command-line arguments (with their environment fallbacks, which clap applies) into the
//! typed, checked values the library takes. Errors say which flag is wrong and what to give.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use super::args::{Concurrency, FollowArgs, OssArgs, SignatureVersionArg, TransferArgs};
use crate::units::{parse_duration, parse_rate, parse_size};
use crate::upload::engine::UploadOptions;
use crate::upload::follow::FollowOptions;
use bak2rds_cloud::credentials::{ChainSettings, CredentialProvider, choose_source};
use bak2rds_cloud::http::HttpConfig;
use bak2rds_cloud::http::limit::BandwidthLimiter;
use bak2rds_cloud::oss::OssClient;
use bak2rds_cloud::oss::config::{OssConfig, SignatureVersion};
use bak2rds_cloud::ram::RamClient;
use bak2rds_cloud::rds::{RdsClient, RdsClientConfig};

/// Region assumed for an explicit endpoint when none is given (the emulator's default too).
pub const DEFAULT_REGION: &str = "cn-hangzhou";

/// An `oss://bucket/key` destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssUrl {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// The folder given (`oss://BUCKET/` or `oss://BUCKET/PREFIX/`: "" or "PREFIX/") when the
    /// object is named after the file; `None` when the key was given.
    pub folder: Option<String>,
}

impl OssUrl {
    /// Parses `oss://BUCKET/KEY`. A missing key, or one ending in `/`, gets the object name
    /// derived from `file` by [`default_object_name`].
    pub fn parse(text: &str, file: &std::path::Path) -> anyhow::Result<Self> {
        let Some(rest) = text.strip_prefix("oss://") else {
            bail!("destination {text:?} is not an OSS URL: write it as oss://BUCKET/KEY");
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("destination {text:?} names no bucket: write it as oss://BUCKET/KEY");
        }
        let folder = (key.is_empty() || key.ends_with('/')).then(|| key.to_owned());
        let key = match &folder {
            Some(folder) => format!("{folder}{}", default_object_name(file)),
            None => key.to_string(),
        };
        Ok(OssUrl {
            bucket: bucket.to_string(),
            key,
            folder,
        })
    }
}

/// The object name for `file` when the user gave none: for a SQL Server backup, the name RDS
/// accepts, with the extension of its type (`.bak`, `.diff`, `.trn`: the rule `inspect` reports
/// and `migrate` uses, `mssql_backup::object_key_for_backup`); for any other file, or one that
/// cannot be read, its own name, as every OSS uploader keeps it.
pub fn default_object_name(file: &std::path::Path) -> String {
    let name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let backup_type = crate::source::SourceFile::open(file)
        .ok()
        .and_then(|source| {
            mssql_backup::examine(source.bytes(), &mssql_backup::Rules::default())
                .backup
                .and_then(|header| header.backup_type)
        });
    match backup_type {
        Some(backup_type) => mssql_backup::object_key_for_backup(&name, backup_type),
        None => name,
    }
}

impl std::fmt::Display for OssUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oss://{}/{}", self.bucket, self.key)
    }
}

/// The most parts in flight `--concurrency` accepts.
const MAX_CONCURRENCY: usize = 256;

/// The OSS client for `bucket`, from the flags, the environment and the aliyun CLI profile.
pub fn oss_client(args: &OssArgs, bucket: &str) -> anyhow::Result<OssClient> {
    // Settings are judged before credentials are looked for: a mistyped region is named even
    // on a machine without keys.
    let config = oss_config(args, bucket)?;
    Ok(OssClient::new(
        config,
        credentials(args.profile.as_deref(), args.ca_bundle.as_deref())?,
    )?)
}

/// Like [`oss_client`] with credentials already in hand.
pub fn oss_client_with(
    args: &OssArgs,
    bucket: &str,
    credentials: impl Into<CredentialProvider>,
) -> anyhow::Result<OssClient> {
    Ok(OssClient::new(oss_config(args, bucket)?, credentials)?)
}

/// The OSS client's settings from the flags: endpoint or region, signature, transport.
fn oss_config(args: &OssArgs, bucket: &str) -> anyhow::Result<OssConfig> {
    let mut config = match (&args.oss_endpoint, &args.region) {
        (Some(endpoint), region) => {
            let region = region
                .clone()
                .or_else(|| region_of_endpoint(endpoint))
                .unwrap_or_else(|| DEFAULT_REGION.to_string());
            OssConfig::with_endpoint(endpoint, &region, bucket)
        }
        (None, Some(region)) => {
            if let Some(problem) = bak2rds_cloud::regions::region_problem(region) {
                bail!(problem);
            }
            OssConfig::for_region(region, bucket, args.internal)
        }
        (None, None) => bail!(
            "no OSS region: pass --region (e.g. cn-hangzhou), set ALIBABA_CLOUD_REGION_ID, \
             or pass --oss-endpoint URL"
        ),
    };
    config.allow_http = args.insecure_http;
    config.http.ca_bundle = read_ca_bundle(args.ca_bundle.as_deref())?;
    config.signature_version = match args.signature_version {
        SignatureVersionArg::V4 => SignatureVersion::V4,
        SignatureVersionArg::V1 => SignatureVersion::V1,
    };
    bak2rds_cloud::oss::ResolvedEndpoint::resolve(&config)?;
    Ok(config)
}

/// The region named by an OSS host (`oss-cn-shanghai.aliyuncs.com`,
/// `oss-cn-shanghai-internal.aliyuncs.com`): V4 signatures must name it.
fn region_of_endpoint(endpoint: &str) -> Option<String> {
    let host = endpoint
        .split("://")
        .last()?
        .split(['/', ':'])
        .next()?
        .split('.')
        .find(|label| label.starts_with("oss-"))?;
    let region = host.strip_prefix("oss-")?;
    Some(
        region
            .strip_suffix("-internal")
            .unwrap_or(region)
            .to_string(),
    )
}

/// Upload tuning from the transfer flags.
pub fn upload_options(args: &TransferArgs, resume: bool) -> anyhow::Result<UploadOptions> {
    let part_size = args
        .part_size
        .as_deref()
        .map(parse_size)
        .transpose()
        .context("--part-size")?;
    let limiter = args
        .max_rate
        .as_deref()
        .map(|text| -> anyhow::Result<_> {
            let rate = parse_rate(text).context("--max-rate")?;
            Ok(Arc::new(BandwidthLimiter::new(rate)?))
        })
        .transpose()?;
    let open_files = parts_the_open_file_limit_allows();
    let (concurrency, adaptive) = match args.concurrency {
        Concurrency::Auto => (crate::upload::controller::MAX.min(open_files.max(1)), true),
        Concurrency::Fixed(n) if n < 1 => bail!("--concurrency must be at least 1 (or auto)"),
        Concurrency::Fixed(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if n > MAX_CONCURRENCY {
                bail!(
                    "--concurrency {n} is more parts in flight than bak2rds sends \
                     ({MAX_CONCURRENCY} at most): each is a connection of its own, OSS throttles \
                     a client that opens too many, and 32 to 64 already fill a 1 Gbit/s link at \
                     a 250 ms round trip; choose at most {MAX_CONCURRENCY}, or auto"
                );
            }
            // A limit too low for even one part is left to fail where it bites, with the
            // system's own error: refusing here would leave no number to choose.
            if n > open_files && open_files > 0 {
                bail!(
                    "--concurrency {n} needs more open files than this process may have (`ulimit \
                     -n` allows about {open_files} parts in flight: each holds a connection, and \
                     a hedged part a second one); raise the limit (e.g. `ulimit -n 4096`) or \
                     choose at most {open_files}"
                );
            }
            (n, false)
        }
    };
    Ok(UploadOptions {
        part_size,
        concurrency,
        adaptive,
        content_md5: args.content_md5,
        verify_pages: !args.no_verify_pages,
        limiter,
        resume,
        ..UploadOptions::default()
    })
}

/// The checkpoint folder: the flag, else `~/.bak2rds/checkpoints`.
pub fn checkpoint_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    home_folder(flag, "checkpoints", "--checkpoint-dir")
}

/// The migration state folder: the flag, else `~/.bak2rds/migrations`.
pub fn state_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    home_folder(flag, "migrations", "--state-dir")
}

fn home_folder(flag: Option<PathBuf>, name: &str, option: &str) -> anyhow::Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    match std::env::var_os(crate::env_vars::HOME) {
        Some(home) => Ok(PathBuf::from(home).join(".bak2rds").join(name)),
        None => bail!("HOME is not set: pass {option} DIR"),
    }
}

/// The RDS client for `region` (or `endpoint`), with these credentials; `insecure_http` lets a
/// plain-HTTP endpoint off this machine through.
pub fn rds_client(
    region: Option<&str>,
    endpoint: Option<&str>,
    credentials: CredentialProvider,
    insecure_http: bool,
    ca_bundle: Option<&std::path::Path>,
) -> anyhow::Result<RdsClient> {
    let config = rds_config(region, endpoint, insecure_http, ca_bundle)?;
    Ok(RdsClient::new(config, credentials)?)
}

/// The RDS client's settings from the flags.
pub fn rds_config(
    region: Option<&str>,
    endpoint: Option<&str>,
    insecure_http: bool,
    ca_bundle: Option<&std::path::Path>,
) -> anyhow::Result<RdsClientConfig> {
    let region = match (region, endpoint) {
        (Some(region), _) => region,
        (None, Some(_)) => DEFAULT_REGION,
        (None, None) => bail!(
            "no region: pass --region (e.g. cn-hangzhou), set ALIBABA_CLOUD_REGION_ID, or pass \
             --rds-endpoint URL"
        ),
    };
    if endpoint.is_none()
        && let Some(problem) = bak2rds_cloud::regions::region_problem(region)
    {
        bail!(problem);
    }
    let mut config = RdsClientConfig::new(region);
    config.endpoint = endpoint.map(str::to_owned);
    config.allow_http = insecure_http;
    config.ca_bundle = read_ca_bundle(ca_bundle)?;
    Ok(config)
}

/// The RAM client that checks `AliyunRDSImportRole` before a migration: at
/// `BAK2RDS_RAM_ENDPOINT`, else RAM's own endpoint; none for a rehearsal (an RDS endpoint on
/// this machine) without a RAM endpoint, whose keys real RAM would not know.
pub fn ram_client(
    rds: &RdsClientConfig,
    credentials: CredentialProvider,
) -> anyhow::Result<Option<RamClient>> {
    let endpoint = std::env::var(crate::env_vars::BAK2RDS_RAM_ENDPOINT)
        .ok()
        .filter(|value| !value.trim().is_empty());
    let rehearsal = rds
        .endpoint
        .as_deref()
        .is_some_and(bak2rds_cloud::http::is_loopback_url);
    if endpoint.is_none() && rehearsal {
        return Ok(None);
    }
    Ok(Some(RamClient::new(
        endpoint.as_deref(),
        rds.clone(),
        credentials,
    )?))
}

/// The PEM bytes of `--ca-bundle`, checked to hold at least one certificate.
pub fn read_ca_bundle(path: Option<&std::path::Path>) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let pem = std::fs::read(path).with_context(|| format!("--ca-bundle {}", path.display()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
        anyhow::anyhow!("--ca-bundle {}: not a PEM certificate file", path.display())
    })?;
    if certificates.is_empty() {
        bail!(
            "--ca-bundle {} holds no certificate: give a PEM file with the CA's BEGIN \
             CERTIFICATE block",
            path.display()
        );
    }
    Ok(Some(pem))
}

/// The credentials of Alibaba's default chain (`profile`: `--profile`), refreshed ahead of
/// their expiry; nothing is fetched until the first request.
pub fn credentials(
    profile: Option<&str>,
    ca_bundle: Option<&std::path::Path>,
) -> anyhow::Result<CredentialProvider> {
    let env = |name: &str| std::env::var(name).ok();
    let choice = choose_source(&ChainSettings { profile, env: &env })?;
    // STS and a credentials URI sit behind the same TLS-inspecting proxy as OSS and RDS.
    let http = HttpConfig {
        ca_bundle: read_ca_bundle(ca_bundle)?,
        ..HttpConfig::default()
    };
    // The chain's errors already name the source and what to set: no context on top, or the
    // message says it twice.
    Ok(choice.provider(&http)?)
}

/// `--follow`'s settings; `None` without `--follow`. Parts in flight and the part size come
/// from the transfer flags (the part size is fixed before the final size is known: by default
/// 16 MiB, raised from the database's size once the header is read).
pub fn follow_options(
    follow: &FollowArgs,
    transfer: &TransferArgs,
) -> anyhow::Result<Option<FollowOptions>> {
    if !follow.enabled {
        return Ok(None);
    }
    let upload = upload_options(transfer, false)?;
    let settle = parse_duration(&follow.follow_settle).context("--follow-settle")?;
    let timeout = parse_duration(&follow.follow_timeout).context("--follow-timeout")?;
    if timeout <= settle {
        bail!(
            "--follow-timeout ({} s) must be longer than --follow-settle ({} s): the backup is \
             finished only after it stays unchanged for --follow-settle",
            timeout.as_secs(),
            settle.as_secs()
        );
    }
    let part_size = upload.part_size.unwrap_or(FOLLOW_PART_SIZE);
    crate::upload::plan::PartPlan::new(part_size, Some(part_size)).context("--part-size")?;
    Ok(Some(FollowOptions {
        part_size,
        part_size_is_default: upload.part_size.is_none(),
        in_flight: if upload.adaptive {
            FOLLOW_IN_FLIGHT.min(upload.concurrency)
        } else {
            upload.concurrency
        },
        settle,
        timeout,
        poll: std::time::Duration::from_millis(250),
        limiter: upload.limiter.clone(),
        verify_pages: upload.verify_pages,
    }))
}

/// Default part size with --follow: the engine's smallest default part, raised by the
/// database's size once the backup's header is read (`upload::follow`).
const FOLLOW_PART_SIZE: u64 = 16 << 20;
/// Parts in flight with --follow and `--concurrency auto` (not adaptive yet).
const FOLLOW_IN_FLIGHT: usize = 8;

/// Open files kept for everything but the parts in flight: the backup, checkpoints, the state
/// file, the runtime's own descriptors, a batch's other files.
const OTHER_OPEN_FILES: u64 = 64;

/// The most parts in flight this process's open-file limit (`ulimit -n`, the soft limit) leaves
/// room for: two descriptors each (a hedged part opens a second connection). Without
/// `/proc/self/limits` (not Linux), no bound.
pub fn parts_the_open_file_limit_allows() -> usize {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return usize::MAX;
    };
    open_files_room(&limits).map_or(usize::MAX, |room| {
        usize::try_from(room / 2).unwrap_or(usize::MAX)
    })
}

/// The soft open-file limit in a `/proc/self/limits` text, less [`OTHER_OPEN_FILES`]; `None`
/// when unlimited or absent.
fn open_files_room(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let soft: u64 = line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(soft.saturating_sub(OTHER_OPEN_FILES))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_open_file_limit_bounds_the_parts_in_flight() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             63426                63426                processes\n\
                      Max open files            256                  524288               files\n";
        assert_eq!(open_files_room(limits), Some(192));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(open_files_room(unlimited), None);
        assert_eq!(open_files_room(""), None);
    }

    use super::*;

    #[test]
    fn oss_urls_parse_and_get_safe_default_keys() {
        use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, kind| {
            let path = dir.path().join(name);
            let database =
                SynthDatabase::new("Sales", mssql_backup::TargetVersion::parse("2019").unwrap());
            write_synthetic_file(&path, &SynthSpec::single(database, kind, 1 << 20)).unwrap();
            path
        };
        let full = write("Sales DB (full).bak", SynthKind::Full);
        assert_eq!(
            OssUrl::parse("oss://b/dir/x.bak", &full).unwrap(),
            OssUrl {
                bucket: "b".into(),
                key: "dir/x.bak".into(),
                folder: None,
            }
        );
        assert_eq!(
            OssUrl::parse("oss://b/dir/", &full).unwrap().key,
            "dir/Sales_DB_full.bak"
        );
        assert_eq!(
            OssUrl::parse("oss://b", &full).unwrap().key,
            "Sales_DB_full.bak"
        );
        // The extension follows the backup's type, whatever the file is called.
        let diff = write("diff.bak", SynthKind::Differential);
        assert_eq!(
            OssUrl::parse("oss://b/dd/", &diff).unwrap().key,
            "dd/diff.diff"
        );
        let log = write("ChainDb_log.bak", SynthKind::Log);
        assert_eq!(
            OssUrl::parse("oss://b/", &log).unwrap().key,
            "ChainDb_log.trn"
        );
        // Not a backup: its own name.
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, b"not a backup").unwrap();
        assert_eq!(OssUrl::parse("oss://b/", &notes).unwrap().key, "notes.txt");
        assert!(OssUrl::parse("s3://b/k", &full).is_err());
        assert!(OssUrl::parse("oss:///k", &full).is_err());
    }

    #[test]
    fn the_region_is_read_from_an_oss_host() {
        assert_eq!(
            region_of_endpoint("https://oss-cn-shanghai.aliyuncs.com").as_deref(),
            Some("cn-shanghai")
        );
        assert_eq!(
            region_of_endpoint("oss-ap-southeast-1-internal.aliyuncs.com").as_deref(),
            Some("ap-southeast-1")
        );
        assert_eq!(region_of_endpoint("http://127.0.0.1:9000"), None);
    }

    #[test]
    fn transfer_flags_are_checked() {
        let args = TransferArgs {
            part_size: Some("8MiB".into()),
            concurrency: Concurrency::Fixed(4),
            max_rate: Some("100MiB/s".into()),
            content_md5: true,
            no_verify_pages: true,
        };
        let options = upload_options(&args, true).unwrap();
        assert_eq!(options.part_size, Some(8 << 20));
        assert!(
            !options.verify_pages,
            "--no-verify-pages turns the page check off"
        );
        assert_eq!(
            options.limiter.as_ref().map(|l| l.bytes_per_second()),
            Some(100 << 20)
        );
        let bad = TransferArgs {
            max_rate: Some("lots".into()),
            ..args.clone()
        };
        assert!(format!("{:#}", upload_options(&bad, true).unwrap_err()).contains("--max-rate"));
        let zero = TransferArgs {
            concurrency: Concurrency::Fixed(0),
            ..args
        };
        assert!(upload_options(&zero, true).is_err());
    }
}
