//! `--concurrency auto` on a long, thin link (issue 18): through the emulator's link model, the
//! controller adds parts in flight while the rate rises and settles where the link is full.

use std::sync::Arc;

use bak2rds::source::SourceFile;
use bak2rds::upload::checkpoint::CheckpointStore;
use bak2rds::upload::controller::Limit;
use bak2rds::upload::engine::{UploadJob, UploadOptions, run};
use bak2rds::upload::progress::Counters;
use bak2rds_cloud::oss::OssClient;
use bak2rds_emulator::Emulator;
use bak2rds_emulator::link::LinkConfig;
use tokio_util::sync::CancellationToken;

const MIB: u64 = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_fills_a_link_that_eight_connections_cannot() {
    // 64 KiB windows over 20 ms: 3.2 MiB/s a connection; the link carries 48 MiB/s, so 8
    // connections fill about half of it. (A round trip this short starts the controller at 8:
    // longer ones start it higher, see `controller::first_level`.)
    let link = LinkConfig {
        rtt_ms: 20,
        rate_bytes_per_sec: 48 * MIB,
        window_bytes: 64 * 1024,
    };
    let emulator = Emulator::builder()
        .discard_bodies()
        .link(link)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wan.bin");
    std::fs::write(&path, vec![3u8; (256 * MIB) as usize]).unwrap();
    let job = UploadJob {
        source: Arc::new(SourceFile::open(&path).unwrap()),
        bucket: emulator.bucket().to_string(),
        key: "wan.bin".into(),
        checkpoints: CheckpointStore::new(dir.path().join("cp")),
        options: UploadOptions {
            part_size: Some(4 * MIB),
            concurrency: 64,
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
    let adaptive = report.concurrency.expect("the controller's report");
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
