//! Engine tests against a scripted in-memory store: exact control over which call fails how, and
//! a log of every call, so resume and retry behaviour can be counted. The same behaviours are also
//! tested end to end against the emulator in `tests/upload.rs`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::checkpoint::CheckpointStore;
use super::engine::{UploadJob, UploadOptions, UploadReport, run};
use super::error::UploadError;
use super::progress::{Counters, UploadEvent};
use super::remote::{ListedPart, ObjectReceipt, PartReceipt, Remote, RemoteError};
use crate::source::SourceFile;
use bak2rds_cloud::checksum::crc64;

#[derive(Debug, thiserror::Error)]
#[error("scripted failure ({})", if *retryable { "retryable" } else { "fatal" })]
struct ScriptedError {
    retryable: bool,
}

impl RemoteError for ScriptedError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// What the store does to the next UploadPart of a given part number.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Fail {
        retryable: bool,
    },
    WrongCrc,
    /// Hang this long before reading the body (a stuck connection).
    Stall(std::time::Duration),
}

#[derive(Default)]
struct State {
    uploads: HashMap<String, BTreeMap<u32, (Bytes, String)>>,
    objects: HashMap<String, Bytes>,
    faults: HashMap<u32, VecDeque<Fault>>,
    part_calls: Vec<u32>,
    list_without_crc: bool,
    next_id: u32,
    /// How long Initiate and HEAD take (a long path's round trip), parts taking no time.
    edge_delay: Option<std::time::Duration>,
}

#[derive(Default)]
struct ScriptedStore(Mutex<State>);

impl ScriptedStore {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }
    fn fault(&self, part_number: u32, faults: &[Fault]) {
        self.state()
            .faults
            .entry(part_number)
            .or_default()
            .extend(faults.iter().copied());
    }
    async fn edge_round_trip(&self) {
        let delay = self.state().edge_delay;
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
    }
    fn part_calls(&self) -> Vec<u32> {
        self.state().part_calls.clone()
    }
}

fn receipt(bytes: &Bytes) -> ObjectReceipt {
    ObjectReceipt {
        size: Some(bytes.len() as u64),
        etag: format!("\"{:016x}\"", crc64(bytes)),
        crc64: Some(crc64(bytes)),
    }
}

impl Remote for ScriptedStore {
    type Error = ScriptedError;

    fn endpoint(&self) -> String {
        "memory://scripted".into()
    }

    async fn list_uploads(&self, _key: &str) -> Result<Vec<String>, ScriptedError> {
        Ok(self.state().uploads.keys().cloned().collect())
    }

    async fn initiate(&self, _key: &str) -> Result<String, ScriptedError> {
        self.edge_round_trip().await;
        let mut state = self.state();
        state.next_id += 1;
        let id = format!("upload-{}", state.next_id);
        state.uploads.insert(id.clone(), BTreeMap::new());
        Ok(id)
    }

    async fn upload_part(
        &self,
        _key: &str,
        upload_id: &str,
        part_number: u32,
        body: reqwest::Body,
        len: u64,
        _content_md5: Option<String>,
    ) -> Result<PartReceipt, ScriptedError> {
        let fault = {
            let mut state = self.state();
            state.part_calls.push(part_number);
            state
                .faults
                .get_mut(&part_number)
                .and_then(VecDeque::pop_front)
        };
        match fault {
            Some(Fault::Fail { retryable }) => return Err(ScriptedError { retryable }),
            Some(Fault::Stall(delay)) => tokio::time::sleep(delay).await,
            _ => {}
        }
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len() as u64, len);
        let mut crc = crc64(&bytes);
        if let Some(Fault::WrongCrc) = fault {
            crc ^= 1;
        }
        let etag = format!("\"{crc:016x}\"");
        let mut state = self.state();
        let upload = state.uploads.get_mut(upload_id).unwrap();
        upload.insert(part_number, (bytes, etag.clone()));
        Ok(PartReceipt {
            etag,
            crc64: Some(crc),
        })
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<(u32, String)>,
    ) -> Result<ObjectReceipt, ScriptedError> {
        let mut state = self.state();
        let upload = state.uploads.remove(upload_id).unwrap();
        let mut object = Vec::new();
        for (number, etag) in parts {
            let (bytes, stored_etag) = &upload[&number];
            assert_eq!(&etag, stored_etag);
            object.extend_from_slice(bytes);
        }
        let object = Bytes::from(object);
        state.objects.insert(key.into(), object.clone());
        Ok(receipt(&object))
    }

    async fn abort(&self, _key: &str, upload_id: &str) -> Result<(), ScriptedError> {
        self.state().uploads.remove(upload_id);
        Ok(())
    }

    async fn list_parts(
        &self,
        _key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<ListedPart>>, ScriptedError> {
        let state = self.state();
        Ok(state.uploads.get(upload_id).map(|parts| {
            parts
                .iter()
                .map(|(number, (bytes, etag))| ListedPart {
                    part_number: *number,
                    etag: etag.clone(),
                    size: bytes.len() as u64,
                    crc64: (!state.list_without_crc).then(|| crc64(bytes)),
                })
                .collect()
        }))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectReceipt>, ScriptedError> {
        self.edge_round_trip().await;
        Ok(self.state().objects.get(key).map(receipt))
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<ObjectReceipt, ScriptedError> {
        let object = receipt(&body);
        self.state().objects.insert(key.into(), body);
        Ok(object)
    }

    async fn delete(&self, key: &str) -> Result<(), ScriptedError> {
        self.state().objects.remove(key);
        Ok(())
    }
}

const PART: u64 = 128 * 1024;

struct Fixture {
    dir: tempfile::TempDir,
    file: std::path::PathBuf,
    data: Vec<u8>,
}

fn fixture(len: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db.bak");
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::File::create(&file)
        .unwrap()
        .write_all(&data)
        .unwrap();
    Fixture { dir, file, data }
}

fn options() -> UploadOptions {
    let defaults = UploadOptions::default();
    UploadOptions {
        part_size: Some(PART),
        concurrency: 3,
        // Fast retries keep the suite quick; the count is what the tests exercise.
        retry: bak2rds_cloud::http::RetryConfig {
            base: std::time::Duration::from_millis(1),
            max_backoff: std::time::Duration::from_millis(5),
            ..defaults.retry
        },
        ..defaults
    }
}

async fn upload(
    store: &Arc<ScriptedStore>,
    fixture: &Fixture,
    options: UploadOptions,
) -> (Result<UploadReport, UploadError>, Vec<UploadEvent>) {
    let job = UploadJob {
        source: Arc::new(SourceFile::open(&fixture.file).unwrap()),
        bucket: "bucket".into(),
        key: "db.bak".into(),
        checkpoints: CheckpointStore::new(fixture.dir.path().join("checkpoints")),
        options,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let result = run(
        Arc::clone(store),
        job,
        tx,
        Arc::new(Counters::default()),
        CancellationToken::new(),
    )
    .await;
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    (result, events)
}

fn stored(store: &ScriptedStore) -> Option<Bytes> {
    store.state().objects.get("db.bak").cloned()
}

fn checkpoint_count(fixture: &Fixture) -> usize {
    std::fs::read_dir(fixture.dir.path().join("checkpoints"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

#[tokio::test]
async fn uploads_every_part_and_verifies_the_object() {
    let fixture = fixture(5 * PART as usize + 1234);
    let store = Arc::new(ScriptedStore::default());
    let (result, _) = upload(&store, &fixture, options()).await;
    let report = result.unwrap();
    assert_eq!(report.part_count, 6);
    assert_eq!(report.crc64, crc64(&fixture.data));
    assert_eq!(stored(&store).unwrap(), fixture.data);
    let mut calls = store.part_calls();
    calls.sort_unstable();
    assert_eq!(calls, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        checkpoint_count(&fixture),
        0,
        "checkpoint removed after success"
    );
}

#[tokio::test]
async fn the_transfer_time_runs_from_the_first_byte_to_complete() {
    // HEAD before, Initiate and HEAD after take 300 ms each; the parts and Complete take none.
    let fixture = fixture(5 * PART as usize);
    let store = Arc::new(ScriptedStore::default());
    store.state().edge_delay = Some(std::time::Duration::from_millis(300));
    let (result, _) = upload(&store, &fixture, options()).await;
    let report = result.unwrap();
    assert!(report.elapsed_ms >= 900, "{report:?}");
    assert!(
        report.sending_ms < 300,
        "the requests around the parts were counted as the transfer: {report:?}"
    );
}

#[tokio::test]
async fn retryable_failures_and_corrupted_parts_are_sent_again() {
    let fixture = fixture(4 * PART as usize);
    let store = Arc::new(ScriptedStore::default());
    store.fault(2, &[Fault::Fail { retryable: true }]);
    store.fault(3, &[Fault::WrongCrc, Fault::WrongCrc]);
    let (result, events) = upload(&store, &fixture, options()).await;
    let report = result.unwrap();
    assert_eq!(report.retries, 3);
    assert_eq!(stored(&store).unwrap(), fixture.data);
    let retried: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            UploadEvent::PartRetry { part_number, .. } => Some(*part_number),
            _ => None,
        })
        .collect();
    assert_eq!(retried.iter().filter(|n| **n == 3).count(), 2);
    // The corrupted attempts' bytes count as re-sent.
    assert_eq!(report.resent_bytes, 2 * PART);
}

#[tokio::test]
async fn persistent_corruption_stops_with_a_clear_error_and_no_object() {
    let fixture = fixture(2 * PART as usize);
    let store = Arc::new(ScriptedStore::default());
    store.fault(1, &[Fault::WrongCrc; 3]);
    let options = UploadOptions {
        retry: bak2rds_cloud::http::RetryConfig {
            max_retries: 2,
            ..options().retry
        },
        ..options()
    };
    let (result, _) = upload(&store, &fixture, options).await;
    assert!(matches!(
        result,
        Err(UploadError::PartCorrupted {
            part_number: 1,
            attempts: 3,
            ..
        })
    ));
    assert!(stored(&store).is_none());
    assert_eq!(checkpoint_count(&fixture), 1, "checkpoint kept for resume");
}

/// A six-part upload, one part at a time, that failed at part 4 for good: parts 1 to 3 are in
/// its checkpoint. The part calls are cleared for the rerun.
async fn stopped_at_part_4() -> (Fixture, Arc<ScriptedStore>, UploadOptions) {
    let fixture = fixture(6 * PART as usize);
    let store = Arc::new(ScriptedStore::default());
    store.fault(4, &[Fault::Fail { retryable: false }]);
    let sequential = UploadOptions {
        concurrency: 1,
        ..options()
    };
    let (first, _) = upload(&store, &fixture, sequential.clone()).await;
    assert!(matches!(first, Err(UploadError::Remote { .. })));
    assert_eq!(store.part_calls(), vec![1, 2, 3, 4]);
    store.state().part_calls.clear();
    (fixture, store, sequential)
}

#[tokio::test]
async fn a_rerun_resumes_and_sends_only_missing_parts() {
    let (fixture, store, sequential) = stopped_at_part_4().await;
    let (second, events) = upload(&store, &fixture, sequential).await;
    let report = second.unwrap();
    assert_eq!(report.resumed_parts, 3);
    assert_eq!(store.part_calls(), vec![4, 5, 6]);
    assert_eq!(stored(&store).unwrap(), fixture.data);
    assert!(events.iter().any(|e| matches!(
        e,
        UploadEvent::Planned {
            resumed_parts: 3,
            ..
        }
    )));
}

/// A checkpoint keeps its plan when no part size is asked: an upload begun with other parts (by
/// `--part-size`, or by a version whose default plan differed) resumes instead of starting over.
#[tokio::test]
async fn a_resume_keeps_the_parts_of_the_run_it_resumes() {
    let (fixture, store, sequential) = stopped_at_part_4().await;
    let default_plan = UploadOptions {
        part_size: None,
        ..sequential
    };
    let (second, _) = upload(&store, &fixture, default_plan).await;
    let report = second.unwrap();
    assert_eq!((report.resumed_parts, report.part_size), (3, PART));
    assert_eq!(store.part_calls(), vec![4, 5, 6]);
    assert_eq!(stored(&store).unwrap(), fixture.data);
}

/// The default plan of a file of a few parts: graded (4 MiB parts at the start and the end), the
/// object still the file byte for byte.
#[tokio::test]
async fn a_graded_plan_uploads_the_file_exactly() {
    let fixture = fixture(41 << 20);
    let store = Arc::new(ScriptedStore::default());
    let graded = UploadOptions {
        part_size: None,
        ..options()
    };
    let (result, _) = upload(&store, &fixture, graded).await;
    let report = result.unwrap();
    // Too short for a full 16 MiB part: 4 MiB parts from both ends, the last 1 MiB.
    assert_eq!(report.part_count, 11);
    assert_eq!(
        (report.smallest_part_size, report.part_size),
        (4 << 20, 4 << 20)
    );
    assert_eq!(stored(&store).unwrap(), fixture.data);
}

#[tokio::test]
async fn listed_parts_without_a_server_crc_are_not_trusted() {
    let fixture = fixture(3 * PART as usize);
    let store = Arc::new(ScriptedStore::default());
    store.fault(3, &[Fault::Fail { retryable: false }]);
    let sequential = UploadOptions {
        concurrency: 1,
        ..options()
    };
    let _ = upload(&store, &fixture, sequential.clone()).await;
    store.state().list_without_crc = true;
    store.state().part_calls.clear();
    let (second, _) = upload(&store, &fixture, sequential).await;
    assert_eq!(second.unwrap().resumed_parts, 0);
    assert_eq!(store.part_calls(), vec![1, 2, 3]);
}

#[tokio::test]
async fn an_identical_object_is_not_sent_again() {
    let fixture = fixture(3 * PART as usize);
    let store = Arc::new(ScriptedStore::default());
    upload(&store, &fixture, options()).await.0.unwrap();
    store.state().part_calls.clear();
    let (again, events) = upload(&store, &fixture, options()).await;
    assert!(again.unwrap().already_uploaded);
    assert!(store.part_calls().is_empty());
    assert!(matches!(events[0], UploadEvent::AlreadyUploaded { .. }));
}

#[tokio::test]
async fn a_file_changed_during_the_upload_stops_it_and_keeps_the_checkpoint() {
    let fixture = fixture(4 * PART as usize);
    let store = Arc::new(ScriptedStore::default());
    // Fail part 2 once so the engine re-checks the file before its second attempt.
    store.fault(2, &[Fault::Fail { retryable: true }]);
    let source = Arc::new(SourceFile::open(&fixture.file).unwrap());
    std::fs::OpenOptions::new()
        .append(true)
        .open(&fixture.file)
        .unwrap()
        .write_all(b"grown")
        .unwrap();
    let job = UploadJob {
        source,
        bucket: "bucket".into(),
        key: "db.bak".into(),
        checkpoints: CheckpointStore::new(fixture.dir.path().join("checkpoints")),
        options: options(),
    };
    let (tx, _rx) = mpsc::unbounded_channel();
    let result = run(
        Arc::clone(&store),
        job,
        tx,
        Arc::new(Counters::default()),
        CancellationToken::new(),
    )
    .await;
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("changed while it was being read"),
        "{message}"
    );
    assert!(stored(&store).is_none());
    assert_eq!(checkpoint_count(&fixture), 1);
}

#[tokio::test]
async fn cancelling_keeps_the_checkpoint_and_says_how_to_resume() {
    let fixture = fixture(6 * PART as usize);
    let store = Arc::new(ScriptedStore::default());
    // Part 2 hangs, so the upload is still running when the first part is reported done.
    store.fault(2, &[Fault::Stall(std::time::Duration::from_secs(30))]);
    let job = UploadJob {
        source: Arc::new(SourceFile::open(&fixture.file).unwrap()),
        bucket: "bucket".into(),
        key: "db.bak".into(),
        checkpoints: CheckpointStore::new(fixture.dir.path().join("checkpoints")),
        options: UploadOptions {
            concurrency: 1,
            hedge_after: None,
            ..options()
        },
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let running = tokio::spawn(run(
        Arc::clone(&store),
        job,
        tx,
        Arc::new(Counters::default()),
        cancel.clone(),
    ));
    while let Some(event) = rx.recv().await {
        if matches!(event, UploadEvent::PartDone { part_number: 1, .. }) {
            cancel.cancel(); // Ctrl-C
        }
    }
    let error = running.await.unwrap().unwrap_err();
    assert!(matches!(error, UploadError::Interrupted { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains("Rerun the same command"), "{text}");
    // First hour 21: the real command, not a template.
    assert!(
        text.contains("bak2rds upload --abort /") && text.contains(" oss://"),
        "{text}"
    );
    assert!(
        !text.contains("FILE") && !text.contains("BUCKET/KEY"),
        "{text}"
    );
    assert!(stored(&store).is_none());
    let record = std::fs::read_dir(fixture.dir.path().join("checkpoints"))
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .next()
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["parts"].as_object().unwrap().len(), 1, "part 1 kept");
}

#[tokio::test]
async fn an_empty_file_becomes_an_empty_object() {
    let fixture = fixture(0);
    let store = Arc::new(ScriptedStore::default());
    let report = upload(&store, &fixture, options()).await.0.unwrap();
    assert_eq!(report.size, 0);
    assert_eq!(report.crc64, 0);
    assert_eq!(stored(&store).unwrap().len(), 0);
}

#[tokio::test]
async fn a_part_stuck_far_behind_the_others_is_hedged_and_the_first_answer_wins() {
    let fixture = fixture(8 * PART as usize);
    let store = Arc::new(ScriptedStore::default());
    store.fault(2, &[Fault::Stall(std::time::Duration::from_secs(30))]);
    let options = UploadOptions {
        concurrency: 2,
        hedge_after: Some(std::time::Duration::from_millis(100)),
        ..options()
    };
    let (result, events) = upload(&store, &fixture, options).await;
    let report = result.unwrap();
    assert_eq!(stored(&store).unwrap(), fixture.data);
    assert!(events.contains(&UploadEvent::PartHedged { part_number: 2 }));
    assert_eq!(store.part_calls().iter().filter(|n| **n == 2).count(), 2);
    // The stuck attempt was abandoned, not waited for.
    assert!(report.elapsed_ms < 30_000);
}

#[tokio::test]
async fn a_follow_says_when_it_waits_on_the_writer_and_how_long_the_file_is_unchanged() {
    use super::follow::{FollowEvent, FollowOptions, follow};
    use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic};

    let dir = tempfile::tempdir().unwrap();
    let database = SynthDatabase::new("Sales", mssql_backup::TargetVersion::parse("2019").unwrap());
    let mut backup = Vec::new();
    write_synthetic(
        &mut backup,
        &SynthSpec::single(database, SynthKind::Full, 4 << 20),
    )
    .unwrap();
    // Half is written when the follow starts; the rest once it has caught up.
    let path = dir.path().join("growing.bak");
    let half = backup.len() / 2;
    std::fs::write(&path, &backup[..half]).unwrap();
    let options = FollowOptions {
        part_size: 1 << 20,
        part_size_is_default: false,
        in_flight: 2,
        settle: std::time::Duration::from_millis(600),
        timeout: std::time::Duration::from_secs(30),
        poll: std::time::Duration::from_millis(50),
        limiter: None,
        verify_pages: true,
    };
    let events = Mutex::new(Vec::new());
    let (record, cancel) = (dir.path().join("record"), CancellationToken::new());
    let writer = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&backup[half..]).unwrap();
    };
    let following = follow(
        Arc::new(ScriptedStore::default()),
        &path,
        "growing.bak",
        &record,
        &options,
        Arc::new(Counters::default()),
        &cancel,
        |event| events.lock().unwrap().push(event),
    );
    let (report, ()) = tokio::join!(following, writer);
    assert_eq!(report.unwrap().len, backup.len() as u64);

    let events = events.into_inner().unwrap();
    let polls: Vec<(bool, std::time::Duration)> = events
        .iter()
        .map_while(|event| match event {
            FollowEvent::Finished { .. } => None,
            FollowEvent::Polled {
                caught_up,
                unchanged_for,
            } => Some(Some((*caught_up, *unchanged_for))),
            _ => Some(None),
        })
        .flatten()
        .collect();
    // Caught up with the first half while the writer paused, then the settle at the end.
    assert!(
        polls.iter().filter(|(caught_up, _)| *caught_up).count() >= 2,
        "{polls:?}"
    );
    let (caught_up, unchanged_for) = *polls.last().unwrap();
    assert!(caught_up, "the last look before the end: every part sent");
    assert!(
        unchanged_for >= options.settle,
        "finished once unchanged for --follow-settle: {unchanged_for:?}"
    );
}
