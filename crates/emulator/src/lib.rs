//! A faithful local OSS + RDS server (`bak2rds serve`): users rehearse a migration offline and
//! benchmark their uploader against it; the tests hold the client to it and it is held to
//! Alibaba's official SDKs (`scripts/sdk/`). Beside them, the credential services (STS, the ECS
//! metadata service, RAM) issue short-lived keys that both accept until they expire.
//!
//! ```text
//! Emulator::builder() ─▶ EmulatorState { config, storage, faults, key_ring }
//!   ─▶ serve(listener, ...)
//!   request ─▶ router (address, classify, faults, oss_auth) ─▶ oss (one fn per operation)
//!             ─▶ store (blobs on disk or in memory + catalog) ─▶ response / OSS error XML
//!   RPC ─▶ rpc_auth (signature, key ring) ─▶ rds | sts | ram ─▶ JSON / gateway error
//!   sts, ecs_metadata ─▶ issue into key_ring ◀─ oss_auth, rpc_auth look keys up
//! ```
//! The emulator shares with the rest of bak2rds only the clients' public signing functions,
//! wire models and checksums (`bak2rds-cloud`) and the backup reader (`mssql-backup`, to judge
//! a restore as RDS would). It must not use the upload engine, the migration or any client
//! state; and no pipeline crate uses it: only the `serve`, `demo` and `bench` commands and the
//! tests start it.
#![warn(missing_docs, missing_debug_implementations)]
#![warn(clippy::clone_on_ref_ptr)]
// `unsafe` is allowed only in `objects.rs` (the mapping of an object copied for a restore),
// with a `// SAFETY:` comment.
#![deny(unsafe_code)]

pub mod classify;
pub mod config;
pub mod ecs_metadata;
pub mod error;
pub mod faults;
pub mod link;
// Entry point of the fuzz target and its corpus replay test; not a stable API.
#[doc(hidden)]
pub mod fuzzing;
pub mod keyring;
pub mod objects;
pub mod observe;
pub mod operation;
pub mod oss;
pub mod oss_auth;
pub mod query;
pub mod ram;
pub mod rds;
mod rds_tasks;
pub mod restore;
pub mod router;
mod rpc_auth;
pub mod store;
pub mod sts;
pub mod xml;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::RngExt as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{BucketConfig, EmulatorConfig, KeyPair};
pub use error::{EmulatorError, OssError};
pub use faults::FaultConfig;
pub use store::{Backend, ObjectReader, Storage};

/// Everything a running emulator shares between requests.
#[derive(Debug)]
pub struct EmulatorState {
    /// Buckets, keys and faults.
    pub config: EmulatorConfig,
    /// Blobs and catalog.
    pub storage: Storage,
    /// Fault injector.
    pub faults: faults::Faults,
    /// ETags from the CRC-64 instead of MD5 (`--fast-etag`).
    pub fast_etag: bool,
    /// Accept Content-MD5 headers without hashing the body (`--trust-content-md5`, a benchmark
    /// knob: the client's MD5 cost is then measured alone).
    pub trust_content_md5: bool,
    /// Requests answered by every server (counts; records when a test asks).
    pub requests: Arc<observe::RequestLog>,
    /// Every key pair the servers accept: the configured ones and those STS and the metadata
    /// service issued.
    pub key_ring: Arc<keyring::KeyRing>,
    ids: IdSource,
    /// The temporary data folder, removed when the state is dropped.
    _temp_dir: Option<tempfile::TempDir>,
}

/// Request and upload IDs: a random prefix per run plus a counter, so they are unique and
/// shaped like OSS's (24 and 32 upper-case hex digits, §1.1 and §1.2).
#[derive(Debug)]
struct IdSource {
    prefix: u64,
    counter: AtomicU64,
}

impl EmulatorState {
    /// State for this configuration and storage backend.
    pub fn new(
        config: EmulatorConfig,
        backend: Backend,
        fast_etag: bool,
    ) -> Result<Arc<Self>, EmulatorError> {
        Self::with_temp_dir(config, backend, (fast_etag, false), None)
    }

    fn with_temp_dir(
        config: EmulatorConfig,
        backend: Backend,
        (fast_etag, trust_content_md5): (bool, bool),
        temp_dir: Option<tempfile::TempDir>,
    ) -> Result<Arc<Self>, EmulatorError> {
        config.validate()?;
        let mut storage = Storage::new(backend, &config.buckets)
            .map_err(|err| EmulatorError::io("prepare the data folder", err))?;
        if let Some(bytes) = config.faults.disk_full_after_bytes {
            storage.fail_writes_after(bytes);
        }
        Ok(Arc::new(EmulatorState {
            key_ring: Arc::new(keyring::KeyRing::new(
                config.keys.clone(),
                config.faults.clock_skew_secs,
            )),
            faults: faults::Faults::new(config.faults.clone()),
            config,
            storage,
            fast_etag,
            trust_content_md5,
            requests: Arc::default(),
            ids: IdSource {
                prefix: rand::rng().random(),
                counter: AtomicU64::new(1),
            },
            _temp_dir: temp_dir,
        }))
    }

    /// A new `x-oss-request-id`.
    pub fn new_request_id(&self) -> String {
        let n = self.ids.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:08X}{n:016X}", self.ids.prefix >> 32)
    }

    /// A new multipart upload ID.
    pub fn new_upload_id(&self) -> String {
        let n = self.ids.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:016X}{n:016X}", self.ids.prefix)
    }

    /// True when a bucket of this name is declared.
    pub fn has_bucket(&self, name: &str) -> bool {
        self.config.buckets.iter().any(|b| b.name == name)
    }

    /// True when a declared bucket allows unsigned reads (`allow_anonymous`).
    pub fn allows_anonymous(&self, name: &str) -> bool {
        self.config
            .buckets
            .iter()
            .any(|b| b.name == name && b.allow_anonymous)
    }

    /// False when RDS may not read the bucket: it is declared `rds_can_read = false`, or
    /// `AliyunRDSImportRole` is missing or altered (`[ram] import_role`), which stops RDS
    /// reading any bucket of the account.
    pub fn rds_can_read(&self, name: &str) -> bool {
        self.config.ram.import_role.lets_rds_read()
            && !self
                .config
                .buckets
                .iter()
                .any(|b| b.name == name && !b.rds_can_read)
    }

    /// The region of a declared bucket.
    pub fn bucket_region(&self, name: &str) -> Option<String> {
        self.config
            .buckets
            .iter()
            .find(|b| b.name == name)
            .map(|b| b.region.clone())
    }
}

/// Entry point: `Emulator::builder()`.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with the defaults: memory storage, the default bucket and a random key pair,
    /// MD5 ETags, no faults, a free port on 127.0.0.1.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            storage: StorageChoice::Memory,
            config: EmulatorConfig::default(),
            fast_etag: false,
            trust_content_md5: false,
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        }
    }
}

#[derive(Debug)]
enum StorageChoice {
    Memory,
    Discard,
    Dir(PathBuf),
    TempDir,
}

/// Configures and starts an emulator.
#[derive(Debug)]
pub struct EmulatorBuilder {
    storage: StorageChoice,
    config: EmulatorConfig,
    fast_etag: bool,
    trust_content_md5: bool,
    listen: SocketAddr,
}

impl EmulatorBuilder {
    /// Puts a long, thin link in front of the OSS side (see [`link`]).
    pub fn link(mut self, link: link::LinkConfig) -> Self {
        self.config.link = Some(link);
        self
    }

    /// Keep bodies in memory (the default; for tests).
    pub fn memory(mut self) -> Self {
        self.storage = StorageChoice::Memory;
        self
    }

    /// Check bodies and drop them (throughput benchmarks; GET is refused), see
    /// [`Backend::Discard`].
    pub fn discard_bodies(mut self) -> Self {
        self.storage = StorageChoice::Discard;
        self
    }

    /// Keep bodies as files in this folder (created if needed).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage = StorageChoice::Dir(dir.into());
        self
    }

    /// Keep bodies in a new temporary folder, removed when the emulator is dropped.
    pub fn temp_dir(mut self) -> Self {
        self.storage = StorageChoice::TempDir;
        self
    }

    /// Buckets, keys and faults.
    pub fn config(mut self, config: EmulatorConfig) -> Self {
        self.config = config;
        self
    }

    /// Issued temporary credentials last at most `ttl` (at least a second), whatever the
    /// client asks: overrides `[sts] token_ttl_secs`.
    pub fn sts_token_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.config.sts.token_ttl_secs = Some(ttl.as_secs().max(1));
        self
    }

    /// Replaces the `[sts]` settings (roles, OIDC provider, ECS role, token lifetime).
    pub fn sts(mut self, sts: config::StsConfig) -> Self {
        self.config.sts = sts;
        self
    }

    /// Replaces the `[ram]` settings (the import role's state, the caller's RAM access).
    pub fn ram(mut self, ram: config::RamConfig) -> Self {
        self.config.ram = ram;
        self
    }

    /// Replaces the fault settings of the configuration.
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.config.faults = faults;
        self
    }

    /// Derive ETags from the CRC-64 instead of MD5.
    pub fn fast_etag(mut self, on: bool) -> Self {
        self.fast_etag = on;
        self
    }

    /// Accept Content-MD5 without hashing the body (benchmarks only; see
    /// [`EmulatorState::trust_content_md5`]).
    pub fn trust_content_md5(mut self, on: bool) -> Self {
        self.trust_content_md5 = on;
        self
    }

    /// Where `start` listens (default `127.0.0.1:0`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The shared state, for callers that bind and [`serve`] themselves.
    pub fn build_state(self) -> Result<Arc<EmulatorState>, EmulatorError> {
        let (backend, temp_dir) = match self.storage {
            StorageChoice::Memory => (Backend::Memory, None),
            StorageChoice::Discard => (Backend::Discard, None),
            StorageChoice::Dir(dir) => (Backend::Disk(dir), None),
            StorageChoice::TempDir => {
                let dir = tempfile::Builder::new()
                    .prefix("bak2rds-emulator-")
                    .tempdir()
                    .map_err(|err| EmulatorError::io("create a temporary data folder", err))?;
                (Backend::Disk(dir.path().to_owned()), Some(dir))
            }
        };
        let checks = (self.fast_etag, self.trust_content_md5);
        EmulatorState::with_temp_dir(self.config, backend, checks, temp_dir)
    }

    /// Binds the OSS listener, then the RDS, STS, ECS metadata and RAM listeners (each a free
    /// port on the same address), and serves them all in background tasks.
    pub async fn start(self) -> Result<EmulatorHandle, EmulatorError> {
        let listen = self.listen;
        let state = self.build_state()?;
        let rds_config = state.config.rds_config()?;
        let link = state.config.link;
        let (listener, link_listener) = match link {
            None => (bind(listen).await?, None),
            // The link's proxy takes the public address; the OSS server a private one behind it.
            Some(_) => {
                let public = link::bind_small_buffers(listen)
                    .map_err(|err| EmulatorError::io(format!("listen on {listen}"), err))?;
                let private = bind(SocketAddr::new(listen.ip(), 0)).await?;
                (private, Some(public))
            }
        };
        let addr = match &link_listener {
            Some(public) => local_addr(public)?,
            None => local_addr(&listener)?,
        };
        let oss_addr = local_addr(&listener)?;
        let rds = Arc::new(rds::RdsEmulator::new(
            rds_config,
            Arc::clone(&state.key_ring),
            Arc::new(objects::StoredObjects::new(Arc::clone(&state))),
        ));
        let (stop, stopped) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(serve(
            listener,
            Arc::clone(&state),
            wait_for_stop(stopped.clone()),
        ))];
        let rds_router =
            observed_rds_router(Arc::clone(&rds).router(), Arc::clone(&state.requests));
        let (rds_addr, rds_task) = serve_on_free_port(listen, rds_router, &stopped).await?;
        tasks.push(rds_task);
        let (identity, identity_tasks) = start_identity(listen, &state, &stopped).await?;
        tasks.extend(identity_tasks);
        if let (Some(public), Some(link)) = (link_listener, link) {
            tasks.push(tokio::spawn(link::serve_link(
                public,
                oss_addr,
                link,
                wait_for_stop(stopped),
            )));
        }
        Ok(EmulatorHandle {
            addr,
            rds_addr,
            identity,
            rds,
            state,
            stop,
            tasks,
        })
    }
}

/// Where the credential services listen.
#[derive(Debug, Clone, Copy)]
struct IdentityAddrs {
    sts: SocketAddr,
    ecs_metadata: SocketAddr,
    ram: SocketAddr,
}

/// Starts STS, the ECS metadata service and RAM, each on a free port of `listen`'s address,
/// all sharing the state's key ring and request log.
async fn start_identity(
    listen: SocketAddr,
    state: &Arc<EmulatorState>,
    stopped: &watch::Receiver<bool>,
) -> Result<(IdentityAddrs, Vec<JoinHandle<std::io::Result<()>>>), EmulatorError> {
    let sts_config = &state.config.sts;
    if let Some(secs) = sts_config.token_ttl_secs {
        tracing::info!("STS tokens last {secs} s (real STS: at least 900 s)");
    }
    let keys = &state.key_ring;
    let log = &state.requests;
    let sts = sts::StsEmulator::new(sts_config.clone(), Arc::clone(keys), Arc::clone(log));
    let metadata = ecs_metadata::EcsMetadata::new(sts_config, Arc::clone(keys), Arc::clone(log));
    let ram = ram::RamEmulator::new(
        state.config.ram.clone(),
        sts_config.clone(),
        Arc::clone(keys),
        Arc::clone(log),
    );
    let (sts, sts_task) = serve_on_free_port(listen, Arc::new(sts).router(), stopped).await?;
    let (ecs_metadata, metadata_task) =
        serve_on_free_port(listen, Arc::new(metadata).router(), stopped).await?;
    let (ram, ram_task) = serve_on_free_port(listen, Arc::new(ram).router(), stopped).await?;
    let addrs = IdentityAddrs {
        sts,
        ecs_metadata,
        ram,
    };
    Ok((addrs, vec![sts_task, metadata_task, ram_task]))
}

/// Binds a free port on `listen`'s address and serves `router` there until the stop signal.
async fn serve_on_free_port(
    listen: SocketAddr,
    router: Router,
    stopped: &watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<std::io::Result<()>>), EmulatorError> {
    let listener = bind(SocketAddr::new(listen.ip(), 0)).await?;
    let addr = local_addr(&listener)?;
    let task = tokio::spawn(serve_router(
        listener,
        router,
        wait_for_stop(stopped.clone()),
    ));
    Ok((addr, task))
}

/// The RDS router with every answered call noted in the shared request log (action, status and
/// signature), so tests see both servers' traffic in one place.
fn observed_rds_router(router: Router, log: Arc<observe::RequestLog>) -> Router {
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let log = Arc::clone(&log);
            async move {
                let (action, signature) = rds_call_details(&request, log.keeps_records());
                let response = next.run(request).await;
                log.record(observe::RequestRecord {
                    operation: action,
                    status: response.status().as_u16(),
                    upload_id: None,
                    part_number: None,
                    signature,
                });
                response
            }
        },
    ))
}

/// The action (query `Action`, or the V3 `x-acs-action` header) and, when records are kept,
/// the signature of an RDS call.
fn rds_call_details(
    request: &axum::extract::Request,
    with_signature: bool,
) -> (Option<String>, Option<String>) {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let action = query
        .iter()
        .find(|(name, _)| name == "Action")
        .map(|(_, value)| value.clone())
        .or_else(|| header("x-acs-action").map(str::to_owned));
    let signature = with_signature
        .then(|| observe::signature_of(header("authorization"), &query))
        .flatten();
    (action, signature)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, EmulatorError> {
    TcpListener::bind(addr)
        .await
        .map_err(|err| EmulatorError::io(format!("listen on {addr}"), err))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, EmulatorError> {
    listener
        .local_addr()
        .map_err(|err| EmulatorError::io("read the listening address", err))
}

async fn wait_for_stop(mut stopped: watch::Receiver<bool>) {
    // An error means the handle is gone: stop as well.
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// A running emulator. Dropping it stops the servers at once; [`EmulatorHandle::shutdown`]
/// stops them gracefully.
#[derive(Debug)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    rds_addr: SocketAddr,
    identity: IdentityAddrs,
    rds: Arc<rds::RdsEmulator>,
    state: Arc<EmulatorState>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

/// What a client needs to reach the emulator (the JSON line of `bak2rds serve`): OSS, RDS and
/// the credential services.
/// Its `Debug` hides the secret: only the JSON line is meant to carry it.
#[derive(Clone, serde::Serialize)]
pub struct OssConnectionInfo {
    /// `http://127.0.0.1:PORT`.
    pub oss_endpoint: String,
    /// Region of the first bucket.
    pub region: String,
    /// The first bucket.
    pub bucket: String,
    /// The first key pair's id.
    pub access_key_id: String,
    /// The first key pair's secret.
    pub access_key_secret: String,
    /// `http://127.0.0.1:PORT` of the RDS OpenAPI side.
    pub rds_endpoint: String,
    /// The first emulated RDS instance.
    pub instance_id: String,
    /// `http://127.0.0.1:PORT` of STS (AssumeRole, AssumeRoleWithOIDC).
    pub sts_endpoint: String,
    /// `http://127.0.0.1:PORT` of the ECS instance metadata service.
    pub ecs_metadata_endpoint: String,
    /// `http://127.0.0.1:PORT` of RAM (GetRole).
    pub ram_endpoint: String,
    /// The ARN of the first role the key pairs may assume.
    pub role_arn: String,
    /// The ARN of the OIDC identity provider.
    pub oidc_provider_arn: String,
    /// The role the metadata service serves credentials for.
    pub ecs_role_name: String,
}

impl std::fmt::Debug for OssConnectionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OssConnectionInfo")
            .field("oss_endpoint", &self.oss_endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("rds_endpoint", &self.rds_endpoint)
            .field("instance_id", &self.instance_id)
            .field("sts_endpoint", &self.sts_endpoint)
            .field("ecs_metadata_endpoint", &self.ecs_metadata_endpoint)
            .field("ram_endpoint", &self.ram_endpoint)
            .field("role_arn", &self.role_arn)
            .field("oidc_provider_arn", &self.oidc_provider_arn)
            .field("ecs_role_name", &self.ecs_role_name)
            .finish()
    }
}

impl EmulatorHandle {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OSS side's `http://IP:PORT`, with a wildcard listen address replaced by loopback.
    pub fn oss_endpoint(&self) -> String {
        http_url(self.addr)
    }

    /// The RDS side's `http://IP:PORT`.
    pub fn rds_endpoint(&self) -> String {
        http_url(self.rds_addr)
    }

    /// STS's `http://IP:PORT`.
    pub fn sts_endpoint(&self) -> String {
        http_url(self.identity.sts)
    }

    /// The ECS instance metadata service's `http://IP:PORT` (what a client reaches as
    /// `http://100.100.100.200`, e.g. through `HTTP_PROXY`).
    pub fn ecs_metadata_endpoint(&self) -> String {
        http_url(self.identity.ecs_metadata)
    }

    /// RAM's `http://IP:PORT`.
    pub fn ram_endpoint(&self) -> String {
        http_url(self.identity.ram)
    }

    /// `acs:ram::<account>:role/<first role>`: the role a client assumes.
    pub fn role_arn(&self) -> String {
        self.state.config.sts.first_role_arn()
    }

    /// `acs:ram::<account>:oidc-provider/<name>`.
    pub fn oidc_provider_arn(&self) -> String {
        self.state.config.sts.oidc_provider_arn()
    }

    /// The role of the emulated ECS instance.
    pub fn ecs_role_name(&self) -> &str {
        &self.state.config.sts.ecs_role
    }

    /// The emulated RDS (instances, fault injection).
    pub fn rds(&self) -> &Arc<rds::RdsEmulator> {
        &self.rds
    }

    /// The first emulated instance's ID.
    pub fn instance_id(&self) -> String {
        self.rds
            .instance_ids()
            .into_iter()
            .next()
            .unwrap_or_default()
    }

    /// The first bucket's region.
    pub fn region(&self) -> &str {
        self.first_bucket()
            .map_or(config::DEFAULT_REGION, |b| b.region.as_str())
    }

    /// The first bucket's name.
    pub fn bucket(&self) -> &str {
        self.first_bucket()
            .map_or(config::DEFAULT_BUCKET, |b| b.name.as_str())
    }

    /// The first key pair's id.
    pub fn access_key_id(&self) -> &str {
        self.state.config.keys.first().map_or("", |k| k.id.as_str())
    }

    /// The first key pair's secret.
    pub fn access_key_secret(&self) -> &str {
        self.state
            .config
            .keys
            .first()
            .map_or("", |k| k.secret.as_str())
    }

    /// The first key pair's STS token, if it is an STS credential.
    pub fn security_token(&self) -> Option<&str> {
        self.state.config.keys.first()?.security_token.as_deref()
    }

    /// The first key pair as the clients' credentials (without its STS token).
    pub fn credentials(&self) -> bak2rds_cloud::oss::Credentials {
        bak2rds_cloud::oss::Credentials::new(self.access_key_id(), self.access_key_secret())
    }

    /// The OSS client's settings for the first bucket, on this emulator's endpoint.
    pub fn oss_config(&self) -> bak2rds_cloud::oss::OssConfig {
        bak2rds_cloud::oss::OssConfig::with_endpoint(
            &self.oss_endpoint(),
            self.region(),
            self.bucket(),
        )
    }

    /// The RDS client's settings, on this emulator's endpoint.
    pub fn rds_config(&self) -> bak2rds_cloud::rds::RdsClientConfig {
        let mut config = bak2rds_cloud::rds::RdsClientConfig::new(self.region());
        config.endpoint = Some(self.rds_endpoint());
        config
    }

    /// Everything a client needs, for `bak2rds serve`'s JSON line.
    pub fn connection_info(&self) -> OssConnectionInfo {
        OssConnectionInfo {
            oss_endpoint: self.oss_endpoint(),
            region: self.region().to_owned(),
            bucket: self.bucket().to_owned(),
            access_key_id: self.access_key_id().to_owned(),
            access_key_secret: self.access_key_secret().to_owned(),
            rds_endpoint: self.rds_endpoint(),
            instance_id: self.instance_id(),
            sts_endpoint: self.sts_endpoint(),
            ecs_metadata_endpoint: self.ecs_metadata_endpoint(),
            ram_endpoint: self.ram_endpoint(),
            role_arn: self.role_arn(),
            oidc_provider_arn: self.oidc_provider_arn(),
            ecs_role_name: self.ecs_role_name().to_owned(),
        }
    }

    /// The shared state (configuration, storage, faults).
    pub fn state(&self) -> &Arc<EmulatorState> {
        &self.state
    }

    /// Requests answered so far by both servers: counts per operation, and one record per
    /// request once [`observe::RequestLog::keep_records`] was called.
    pub fn requests(&self) -> &observe::RequestLog {
        &self.state.requests
    }

    /// The storage, e.g. to read an uploaded object's bytes.
    pub fn storage(&self) -> &Storage {
        &self.state.storage
    }

    /// A future that completes when the emulator is asked to stop; give it to another server
    /// (e.g. the RDS side's listener) and [`EmulatorHandle::attach`] that server's task.
    pub fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        wait_for_stop(self.stop.subscribe())
    }

    /// Adds a server task that [`EmulatorHandle::shutdown`] waits for and drop aborts.
    pub fn attach(&mut self, task: JoinHandle<std::io::Result<()>>) {
        self.tasks.push(task);
    }

    /// Stops accepting, lets requests in flight finish, and waits for every server task.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        let mut outcome = Ok(());
        for task in std::mem::take(&mut self.tasks) {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => outcome = Err(err),
                Err(err) => outcome = Err(std::io::Error::other(err)),
            }
        }
        outcome
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn http_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

impl EmulatorHandle {
    fn first_bucket(&self) -> Option<&BucketConfig> {
        self.state.config.buckets.first()
    }
}

/// Serves the OSS emulator on a listener the caller bound, until `shutdown` completes; then
/// stops accepting and waits for open connections to finish (DESIGN habit 10).
pub async fn serve(
    listener: TcpListener,
    state: Arc<EmulatorState>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_router(listener, router::oss_router(state), shutdown).await
}

/// Serves any axum router with the emulator's connection handling (HTTP/1.1, graceful
/// shutdown, injected connection drops). The RDS side can be served with it on a second
/// listener.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let connection = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .http1_only()
                    .serve_connection_with_upgrades(TokioIo::new(stream), connection_service(router.clone()))
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    // A malformed request or an injected drop closes only this connection.
                    if let Err(err) = connection.await {
                        tracing::debug!(%err, "connection closed with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Why a connection was closed without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
struct InjectedDrop;

/// Wraps the router so a response marked [`router::DropConnection`] becomes a service error,
/// which makes hyper close the connection without answering.
fn connection_service(
    router: Router,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = InjectedDrop,
    Future = impl Future<Output = Result<axum::response::Response, InjectedDrop>> + Send,
> + Clone {
    hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let router = router.clone();
        async move {
            use tower::ServiceExt as _;
            let response = match router.oneshot(request.map(axum::body::Body::new)).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if response
                .extensions()
                .get::<router::DropConnection>()
                .is_some()
            {
                return Err(InjectedDrop);
            }
            Ok(response)
        }
    })
}
