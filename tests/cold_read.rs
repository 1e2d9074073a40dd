//! Reading a backup that is not in memory (issue 25): a cold file, or one larger than the page
//! cache may keep, is read directly, block by block, without filling the page cache; a cached
//! one is sent from the mapping. Either way the object is the file, and every page is checked.

use std::path::Path;
use std::sync::Arc;

use bak2rds::source::{SourceFile, evict_from_cache};
use bak2rds::upload::checkpoint::CheckpointStore;
use bak2rds::upload::engine::{ReadMode, UploadJob, UploadOptions, UploadReport, run};
use bak2rds::upload::error::UploadError;
use bak2rds::upload::pages::PageSummary;
use bak2rds::upload::progress::Counters;
use bak2rds_cloud::checksum::crc64;
use bak2rds_cloud::oss::OssClient;
use bak2rds_emulator::{Emulator, EmulatorHandle};
use mssql_backup::pages::PAGE_SIZE;
use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};
use mssql_backup::{PageLayout, TargetVersion, page_layout};
use tokio_util::sync::CancellationToken;

const MIB: u64 = 1 << 20;
/// Parts of a little over 9 MiB: each spans three direct blocks of 4 MiB, off any alignment.
const PART: u64 = 9 * MIB + 4096 * 3;

/// A synthetic full backup of about 20 MiB in `dir` (on disk: tmpfs refuses direct reads).
fn backup(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("Cold.bak");
    let database = SynthDatabase::new("Cold", TargetVersion::parse("2019").unwrap());
    write_synthetic_file(
        &path,
        &SynthSpec::single(database, SynthKind::Full, 20 * MIB),
    )
    .unwrap();
    path
}

fn work_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

async fn upload(
    emulator: &EmulatorHandle,
    file: &Path,
    checkpoints: &Path,
    options: UploadOptions,
) -> Result<UploadReport, UploadError> {
    let client = OssClient::new(emulator.oss_config(), emulator.credentials()).unwrap();
    let job = UploadJob {
        source: Arc::new(SourceFile::open(file).unwrap()),
        bucket: emulator.bucket().to_string(),
        key: "Cold.bak".into(),
        checkpoints: CheckpointStore::new(checkpoints),
        options: UploadOptions {
            part_size: Some(PART),
            concurrency: 3,
            ..options
        },
    };
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    run(
        Arc::new(client),
        job,
        events,
        Arc::new(Counters::default()),
        CancellationToken::new(),
    )
    .await
}

fn resident_share(file: &Path) -> f64 {
    SourceFile::open(file).unwrap().resident_share().unwrap()
}

/// Whether this file system allows direct reads (tmpfs does not): a test says when it skips.
fn direct_reads_allowed(file: &Path) -> bool {
    let allowed = SourceFile::open(file).unwrap().direct_reader().is_some();
    if !allowed {
        eprintln!(
            "skipped: the file system of {} refuses O_DIRECT",
            file.display()
        );
    }
    allowed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_file_is_read_directly_and_leaves_the_page_cache_empty() {
    let dir = work_dir();
    let file = backup(dir.path());
    if !direct_reads_allowed(&file) {
        return;
    }
    let emulator = Emulator::builder().memory().start().await.unwrap();
    evict_from_cache(&file).unwrap();
    if resident_share(&file) > 0.0 {
        eprintln!("skipped: the page cache would not drop {}", file.display());
        return;
    }
    let report = upload(
        &emulator,
        &file,
        &dir.path().join("cp"),
        UploadOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.direct_reads, "a cold file is read directly");
    assert_eq!(report.crc64, crc64(&std::fs::read(&file).unwrap()));
    // The upload brought (almost) none of the file into memory: residency stays bounded
    // whatever the file's size. (The read above, for the CRC, comes after the check below.)
    let left = resident_share(&file);
    assert!(
        left < 0.1,
        "{:.0} % of the file is cached after the upload",
        left * 100.0
    );
    let PageSummary::Checked { checked, .. } = report.pages else {
        panic!("pages checked from the direct blocks: {:?}", report.pages);
    };
    assert!(checked > 2000, "{checked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_file_is_sent_from_the_mapping_unless_it_exceeds_the_memory_bound() {
    let dir = work_dir();
    let file = backup(dir.path());
    if !direct_reads_allowed(&file) {
        return;
    }
    std::fs::read(&file).unwrap(); // in the page cache, as a file just written or read
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let cached = upload(
        &emulator,
        &file,
        &dir.path().join("cp"),
        UploadOptions::default(),
    )
    .await
    .unwrap();
    assert!(
        !cached.direct_reads,
        "a cached file is sent zero-copy from the mapping"
    );
    client_delete(&emulator).await;

    // The same file on a machine whose page cache could keep only 1 MiB of it.
    let bounded = UploadOptions {
        residency_budget: Some(MIB),
        ..UploadOptions::default()
    };
    let report = upload(&emulator, &file, &dir.path().join("cp"), bounded)
        .await
        .unwrap();
    assert!(
        report.direct_reads,
        "larger than the memory bound: read directly"
    );
    assert_eq!(report.crc64, cached.crc64);
    assert_eq!(
        report.pages, cached.pages,
        "the same pages checked either way"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_page_is_caught_in_a_direct_block_wherever_it_falls() {
    let dir = work_dir();
    let file = backup(dir.path());
    if !direct_reads_allowed(&file) {
        return;
    }
    let bytes = std::fs::read(&file).unwrap();
    let PageLayout::Pages(regions) = page_layout(&bytes) else {
        panic!("data pages");
    };
    // A page that straddles the first 4 MiB block boundary of the second part, damaged in its
    // second half: only the block's one-page overhang can see it.
    let boundary = PART + 4 * MIB;
    let page = (boundary - regions[0].start) / PAGE_SIZE as u64;
    let page_start = regions[0].start + page * PAGE_SIZE as u64;
    assert!(page_start < boundary && boundary < page_start + PAGE_SIZE as u64);
    let mut damaged = bytes;
    damaged[usize::try_from(page_start).unwrap() + PAGE_SIZE - 10] ^= 1;
    std::fs::write(&file, damaged).unwrap();

    let emulator = Emulator::builder().memory().start().await.unwrap();
    let direct = UploadOptions {
        read: ReadMode::Direct,
        ..UploadOptions::default()
    };
    let error = upload(&emulator, &file, &dir.path().join("cp"), direct)
        .await
        .expect_err("a damaged page stops the upload");
    let UploadError::DamagedPage { page, .. } = error else {
        panic!("{error}");
    };
    assert_eq!(page.offset, page_start);
}

async fn client_delete(emulator: &EmulatorHandle) {
    let client = OssClient::new(emulator.oss_config(), emulator.credentials()).unwrap();
    client.delete_object("Cold.bak").await.unwrap();
}
