//! `--concurrency auto` on a long, thin link (issue 18): through the emulator's link model, the
//! controller adds parts in flight while the rate rises and settles where the link is full; it
//! backs off when OSS throttles, and never goes past its bound.

use std::sync::Arc;

use bak2rds::source::SourceFile;
use bak2rds::upload::checkpoint::CheckpointStore;
use bak2rds::upload::controller::Limit;
use bak2rds::upload::engine::{ConcurrencyReport, UploadJob, UploadOptions, run};
use bak2rds::upload::progress::Counters;
use bak2rds_cloud::oss::OssClient;
use bak2rds_emulator::link::LinkConfig;
use bak2rds_emulator::{Emulator, EmulatorConfig};
use tokio_util::sync::CancellationToken;

const MIB: u64 = 1 << 20;

/// 64 KiB windows over 20 ms: 3.2 MiB/s a connection; the link carries 48 MiB/s, so 8
/// connections fill about half of it. (A round trip this short starts the controller at 8:
/// longer ones start it higher, see `controller::first_level`.)
const THIN: LinkConfig = LinkConfig {
    rtt_ms: 20,
    rate_bytes_per_sec: 48 * MIB,
    window_bytes: 64 * 1024,
};

/// Uploads `size` bytes in 4 MiB parts through `THIN` with `--concurrency auto` up to `max`,
/// the emulator set up by `config` (TOML); returns what the controller did.
async fn upload_through_the_link(size: u64, max: usize, config: &str) -> ConcurrencyReport {
    upload_through(THIN, size, max, config).await
}

/// [`upload_through_the_link`] through `link`.
async fn upload_through(
    link: LinkConfig,
    size: u64,
    max: usize,
    config: &str,
) -> ConcurrencyReport {
    let emulator = Emulator::builder()
        .config(EmulatorConfig::from_toml(config).unwrap())
        .discard_bodies()
        .link(link)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wan.bin");
    // Sparse: the bytes are what the link carries, not what the disk holds.
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    let job = UploadJob {
        source: Arc::new(SourceFile::open(&path).unwrap()),
        bucket: emulator.bucket().to_string(),
        key: "wan.bin".into(),
        checkpoints: CheckpointStore::new(dir.path().join("cp")),
        options: UploadOptions {
            part_size: Some(4 * MIB),
            concurrency: max,
            adaptive: true,
            ..UploadOptions::default()
        },
    };
    let client = OssClient::new(emulator.oss_config(), emulator.credentials()).unwrap();
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    let report = run(
        Arc::new(client),
        job,
        events,
        Arc::new(Counters::default()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    report.concurrency.expect("the controller's report")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_fills_a_link_that_eight_connections_cannot() {
    let adaptive = upload_through_the_link(256 * MIB, 64, "").await;
    assert!(
        adaptive.settled_on >= 16,
        "8 cannot fill the link: {adaptive:?}"
    );
    // Settled because more stopped helping, or still trying larger levels when the upload
    // ended; never for errors, never at 8.
    assert!(
        matches!(
            adaptive.limit,
            None | Some(Limit::Saturated | Limit::Maximum)
        ),
        "{adaptive:?}"
    );
    let (first_level, first_rate) = adaptive.tried[0];
    assert_eq!(first_level, 8);
    let best = adaptive.tried.iter().map(|(_, rate)| *rate).max().unwrap();
    assert!(
        best as f64 > first_rate as f64 * 1.3,
        "more parts in flight raised the rate: {adaptive:?}"
    );
}

/// The link is full at 10 connections: the controller goes past it (16 fills it, so it tries
/// 32, or 64 when a busy machine held 8 back), finds no more there, and settles back where the link was full, short of its bound. Half
/// the rate of `THIN`, so that a test machine busy with other tests still keeps up with it; and
/// 16 connections could carry 60 % more than the link, since a busy machine stretches every
/// round trip (with 16 at 7 % over the link, a loaded run once measured 16 short of full and
/// ran on to 64).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_stops_where_the_link_is_full() {
    let slow = LinkConfig {
        rtt_ms: 20,
        rate_bytes_per_sec: 24 * MIB,
        window_bytes: 48 * 1024,
    };
    // Long enough (about 30 s) for three levels measured on a busy CI machine: 384 MiB ended
    // there before the third.
    let adaptive = upload_through(slow, 640 * MIB, 64, "").await;
    assert_eq!(adaptive.limit, Some(Limit::Saturated), "{adaptive:?}");
    assert!(
        (16..64).contains(&adaptive.settled_on),
        "the link, not the bound, stopped it: {adaptive:?}"
    );
    assert!(
        adaptive
            .tried
            .iter()
            .any(|(level, _)| *level > adaptive.settled_on),
        "a larger level was tried and given up: {adaptive:?}"
    );
}

/// OSS answering `SlowDown` to one part in five: the controller halves its parts in flight
/// and settles there, for that reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_backs_off_when_oss_throttles() {
    let throttled = r#"
[faults]
seed = 11
[[faults.error]]
operation = "UploadPart"
rate = 0.2
status = 503
code = "SlowDown"
"#;
    let adaptive = upload_through_the_link(128 * MIB, 64, throttled).await;
    assert_eq!(adaptive.limit, Some(Limit::Errors), "{adaptive:?}");
    // Half the first level: 8 on this short path, 16 when a busy machine slows the round trip
    // the first level is sized by.
    let first_level = adaptive.tried[0].0;
    assert!(first_level >= 8, "{adaptive:?}");
    assert_eq!(
        adaptive.settled_on,
        first_level / 2,
        "half the first level: {adaptive:?}"
    );
}

/// However much room the link has, the controller stays within the bound it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_never_goes_past_its_bound() {
    let adaptive = upload_through_the_link(256 * MIB, 12, "").await;
    assert!(adaptive.settled_on <= 12, "{adaptive:?}");
    assert!(
        adaptive.tried.iter().all(|(level, _)| *level <= 12),
        "{adaptive:?}"
    );
}
