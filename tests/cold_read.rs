//! A backup larger than memory (issue 25): past the memory bound, each sent part is dropped from
//! the mapping, so the resident set stays at the parts in flight whatever the file's size; under
//! it, the mapping keeps its pages (tearing them down costs CPU for nothing).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bak2rds::source::SourceFile;
use bak2rds::upload::checkpoint::CheckpointStore;
use bak2rds::upload::engine::{UploadJob, UploadOptions, run};
use bak2rds::upload::progress::{Counters, UploadEvent};
use bak2rds_emulator::Emulator;
use mssql_backup::TargetVersion;
use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};
use tokio_util::sync::CancellationToken;

const MIB: u64 = 1 << 20;
const PART: u64 = 4 * MIB;
const IN_FLIGHT: usize = 2;
const FILE: u64 = 64 * MIB;

/// Resident bytes of the mapping that starts at `start` (`/proc/self/smaps`), if listed.
fn mapping_rss(start: usize) -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut lines = smaps.lines();
    while let Some(line) = lines.next() {
        let Some((range, _)) = line.split_once(' ') else {
            continue;
        };
        let Some((from, _)) = range.split_once('-') else {
            continue;
        };
        if usize::from_str_radix(from, 16).ok() != Some(start) {
            continue;
        }
        return lines
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024);
    }
    None
}

/// Uploads a [`FILE`]-byte backup with `options` and returns the peak resident set of its mapping
/// during the upload, sampled every millisecond.
async fn peak_mapping_rss(dir: &Path, options: UploadOptions) -> Option<u64> {
    let path = dir.join("Big.bak");
    let database = SynthDatabase::new("Big", TargetVersion::parse("2019").unwrap());
    write_synthetic_file(&path, &SynthSpec::single(database, SynthKind::Full, FILE)).unwrap();
    let source = Arc::new(SourceFile::open(&path).unwrap());
    let start = source.bytes().as_ptr() as usize;
    mapping_rss(start)?;
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // Sampled from the first finished part on: before it, the inspection's walk has touched
    // pages all over the file, which the engine drops as the parts start.
    let sending = Arc::new(AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let (peak, done, sending) = (Arc::clone(&peak), Arc::clone(&done), Arc::clone(&sending));
        move || {
            while !done.load(Ordering::Relaxed) {
                if sending.load(Ordering::Relaxed) {
                    peak.fetch_max(mapping_rss(start).unwrap_or(0), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let job = UploadJob {
        source: Arc::clone(&source),
        bucket: emulator.bucket().to_string(),
        key: "Big.bak".into(),
        checkpoints: CheckpointStore::new(dir.join("cp")),
        options: UploadOptions {
            part_size: Some(PART),
            concurrency: IN_FLIGHT,
            ..options
        },
    };
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn({
        let sending = Arc::clone(&sending);
        async move {
            while let Some(event) = received.recv().await {
                if matches!(event, UploadEvent::PartDone { .. }) {
                    sending.store(true, Ordering::Relaxed);
                }
            }
        }
    });
    let client =
        bak2rds_cloud::oss::OssClient::new(emulator.oss_config(), emulator.credentials()).unwrap();
    let report = run(
        Arc::new(client),
        job,
        events,
        Arc::new(Counters::default()),
        CancellationToken::new(),
    )
    .await;
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(report.unwrap().size, source.len());
    Some(peak.load(Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_memory_bound_the_mapping_holds_only_the_parts_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    // A machine whose page cache could keep only 4 MiB of the file.
    let bounded = UploadOptions {
        residency_budget: Some(4 * MIB),
        ..UploadOptions::default()
    };
    let Some(peak) = peak_mapping_rss(dir.path(), bounded).await else {
        eprintln!("skipped: /proc/self/smaps does not list the mapping");
        return;
    };
    // The parts in flight, the one a worker takes as it records the last, and a large folio
    // (up to 2 MiB here) mapped whole across a part's edge: far under the file's 64 MiB.
    let bound = (IN_FLIGHT as u64 + 1) * PART + 2 * MIB;
    assert!(
        peak <= bound,
        "peak resident {} KiB of the mapping, bound {} KiB",
        peak >> 10,
        bound >> 10
    );

    // Under the bound nothing is dropped: the same upload keeps the whole file mapped, which is
    // what the bounded run above did not.
    let dir = tempfile::tempdir().unwrap();
    let unbounded = UploadOptions {
        residency_budget: Some(1 << 40),
        ..UploadOptions::default()
    };
    let peak = peak_mapping_rss(dir.path(), unbounded).await.unwrap_or(0);
    assert!(peak > FILE / 2, "peak {} KiB", peak >> 10);
}
