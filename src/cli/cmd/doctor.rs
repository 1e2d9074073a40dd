//! `bak2rds doctor`: the page a security review signs off before a migration. Where the
//! credentials come from, which endpoints and region are used, how TLS is verified, which proxy
//! requests go through, where checkpoints and state files live and who may read them, and the
//! version. Nothing secret is printed; no request is sent.

use std::path::Path;

use serde::Serialize;

use super::super::Status;
use super::super::args::DoctorArgs;
use super::super::printer::Printer;
use super::super::settings;
use bak2rds_cloud::credentials::{ChainSettings, SourceKind, choose_source};
use bak2rds_cloud::http::proxy::proxy_for;
use bak2rds_cloud::oss::Credentials;
use bak2rds_cloud::rds::endpoint;

/// Everything the page shows.
#[derive(Debug, Serialize)]
struct Report {
    version: &'static str,
    credentials: String,
    region: String,
    oss_endpoint: String,
    oss_proxy: String,
    rds_endpoint: String,
    rds_proxy: String,
    tls: String,
    checkpoints: String,
    state: String,
}

/// Where credentials would come from, in words: the chain is walked without contacting any
/// service (STS, the metadata service), and only an AccessKey's id is shown, masked.
fn credentials_source(profile: Option<&str>) -> String {
    let env = |name: &str| std::env::var(name).ok();
    let choice = match choose_source(&ChainSettings { profile, env: &env }) {
        Ok(choice) => choice,
        Err(error) => return format!("none usable: {error}"),
    };
    let described = match choice.describe() {
        Ok(described) => described,
        Err(error) => return format!("none usable: {error}"),
    };
    match choice.chosen().map(|source| &source.kind) {
        Some(SourceKind::Fixed(credentials)) => format!(
            "{described}; AccessKey ID {}",
            masked(credentials.access_key_id())
        ),
        _ => format!("{described} (asked at the first request)"),
    }
}

/// Runs `bak2rds doctor`.
pub fn run(args: DoctorArgs, printer: &Printer) -> anyhow::Result<Status> {
    let region = args
        .oss
        .region
        .clone()
        .unwrap_or_else(|| settings::DEFAULT_REGION.to_owned());
    let credentials = credentials_source(args.oss.profile.as_deref());
    // A throwaway client resolves the OSS endpoint exactly as an upload would.
    let mut oss_args = args.oss.clone();
    if oss_args.region.is_none() && oss_args.oss_endpoint.is_none() {
        oss_args.region = Some(region.clone());
    }
    let oss = settings::oss_client_with(
        &oss_args,
        "bucket-name",
        Credentials::new("doctor", "not-a-secret"),
    )?;
    let oss_url = oss.endpoint().url(None, "");
    let oss_local = bak2rds_cloud::http::is_loopback_url(&oss_url);
    let rds_url = endpoint::base_url(&region, args.rds_endpoint.as_deref());
    let report = Report {
        version: env!("CARGO_PKG_VERSION"),
        credentials,
        region,
        oss_proxy: proxy_for(&oss_url, oss_local).unwrap_or_else(|| "direct".into()),
        oss_endpoint: oss_url
            .replace("bucket-name.", "<bucket>.")
            .replace("/bucket-name/", "/<bucket>/"),
        rds_proxy: proxy_for(&rds_url, bak2rds_cloud::http::is_loopback_url(&rds_url))
            .unwrap_or_else(|| "direct".into()),
        rds_endpoint: rds_url,
        tls: tls_roots(args.oss.ca_bundle.as_deref())?,
        checkpoints: folder(&settings::checkpoint_dir(
            args.folders.checkpoint_dir.clone(),
        )?),
        state: folder(&settings::state_dir(args.folders.state_dir.clone())?),
    };
    if printer.json() {
        printer.json_document(&report)?;
        return Ok(Status::Done);
    }
    for (name, value) in [
        ("version", report.version.to_owned()),
        ("credentials", report.credentials),
        ("region", report.region),
        ("OSS endpoint", report.oss_endpoint),
        ("OSS proxy", report.oss_proxy),
        ("RDS endpoint", report.rds_endpoint),
        ("RDS proxy", report.rds_proxy),
        ("TLS", report.tls),
        ("checkpoints", report.checkpoints),
        ("state files", report.state),
    ] {
        printer.line(format!("{name:<13} {value}"))?;
    }
    Ok(Status::Done)
}

/// The first four and last four characters: enough to tell keys apart, too little to use one.
fn masked(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let head: String = chars.iter().take(4).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{head}…{tail}")
}

/// Which roots a server certificate is checked against.
fn tls_roots(ca_bundle: Option<&Path>) -> anyhow::Result<String> {
    let mut roots = vec!["the system's trust store".to_owned()];
    for variable in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        if let Some(value) = std::env::var_os(variable) {
            roots.push(format!("{variable}={}", Path::new(&value).display()));
        }
    }
    roots.push("the bundled web roots".to_owned());
    if let Some(path) = ca_bundle {
        settings::read_ca_bundle(Some(path))?;
        roots.push(format!("--ca-bundle {}", path.display()));
    }
    Ok(format!(
        "rustls, certificates verified against {}; plain HTTP only to this machine unless \
         --insecure-http",
        roots.join(", ")
    ))
}

/// A folder, whether it exists, and its permissions.
fn folder(path: &Path) -> String {
    let Ok(metadata) = std::fs::metadata(path) else {
        return format!(
            "{} (not created yet; made private, mode 700, on first use)",
            path.display()
        );
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o777;
        let who = if mode & 0o077 == 0 {
            "only its owner can read it"
        } else {
            "OTHER USERS CAN READ IT: chmod 700"
        };
        format!("{} (mode {mode:03o}: {who})", path.display())
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        path.display().to_string()
    }
}
