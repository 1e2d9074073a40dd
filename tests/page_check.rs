//! Page checksums checked during the upload (issue 25): a damaged page stops `upload` and
//! `migrate` before Complete, names the page, leaves no object and no parts, and the same file
//! is refused until it changes; pages without a checksum are counted, not passed off as checked.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use bak2rds_cloud::oss::OssClient;
use bak2rds_emulator::{Emulator, EmulatorHandle};
use mssql_backup::pages::{FLAG_HAS_CHECKSUM, PAGE_SIZE, verify};
use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};
use mssql_backup::{PageLayout, TargetVersion, page_layout};

use crate::util::{bin, emulator_env};

/// A 12 MiB synthetic full backup of database Pages, and where its data pages are.
pub(crate) fn backup(dir: &Path) -> (PathBuf, Vec<std::ops::Range<u64>>) {
    let path = dir.join("Pages.bak");
    let database = SynthDatabase::new("Pages", TargetVersion::parse("2019").unwrap());
    write_synthetic_file(
        &path,
        &SynthSpec::single(database, SynthKind::Full, 12 << 20),
    )
    .unwrap();
    let PageLayout::Pages(regions) = page_layout(&std::fs::read(&path).unwrap()) else {
        panic!("a synthetic full backup has data pages");
    };
    (path, regions)
}

/// Flips one byte inside the 900th data page (past the first parts, so some are sent first);
/// returns the page's "file id:page id" and its offset.
pub(crate) fn damage_a_page(path: &Path, regions: &[std::ops::Range<u64>]) -> (String, u64) {
    let mut bytes = std::fs::read(path).unwrap();
    let offset = regions[0].start + 900 * PAGE_SIZE as u64;
    let at = usize::try_from(offset).unwrap();
    let page = &bytes[at..at + PAGE_SIZE];
    let page_id = u32::from_le_bytes(page[32..36].try_into().unwrap());
    let file_id = u16::from_le_bytes(page[36..38].try_into().unwrap());
    bytes[at + 4000] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
    (format!("{file_id}:{page_id}"), offset)
}

fn upload_command(emulator: &EmulatorHandle, dir: &Path, file: &Path) -> std::process::Command {
    let mut command = bin();
    command
        .arg("upload")
        .arg(file)
        .arg(format!("oss://{}/Pages.bak", emulator.bucket()))
        .args(["--part-size", "1MiB", "--concurrency", "2"])
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints"))
        .envs(emulator_env(emulator))
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null());
    command
}

async fn output(mut command: std::process::Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub(crate) fn client(emulator: &EmulatorHandle) -> OssClient {
    OssClient::new(emulator.oss_config(), emulator.credentials()).unwrap()
}

/// Nothing of the upload is left on the server: no object, no unfinished multipart upload.
pub(crate) async fn nothing_left(client: &OssClient, key: &str) {
    assert!(
        client.head_object(key).await.unwrap().is_none(),
        "no object {key}"
    );
    let uploads = client.list_multipart_uploads(None).await.unwrap();
    assert!(uploads.is_empty(), "no parts left billed: {uploads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_page_stops_the_upload_before_complete_and_the_file_is_refused_until_it_changes()
{
    let dir = tempfile::tempdir().unwrap();
    let (file, regions) = backup(dir.path());
    let (page, offset) = damage_a_page(&file, &regions);
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let client = client(&emulator);

    let out = output(upload_command(&emulator, dir.path(), &file)).await;
    let said = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a verdict on the backup: {said}"
    );
    assert!(said.contains(&format!("data page {page}")), "{said}");
    assert!(said.contains(&format!("offset {offset:#x}")), "{said}");
    assert!(
        said.contains("DBCC CHECKDB") && said.contains("WITH CHECKSUM"),
        "{said}"
    );
    assert!(
        emulator.requests().count_succeeded("UploadPart") >= 1,
        "parts before it went out"
    );
    assert_eq!(emulator.requests().count("CompleteMultipartUpload"), 0);
    nothing_left(&client, "Pages.bak").await;

    // The same file again: refused at once, nothing sent.
    let parts_before = emulator.requests().count("UploadPart");
    let out = output(upload_command(&emulator, dir.path(), &file)).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("an earlier run found"), "{said}");
    assert_eq!(emulator.requests().count("UploadPart"), parts_before);
    assert_eq!(emulator.requests().count("InitiateMultipartUpload"), 1);

    // The user's explicit choice uploads it anyway, whole.
    let mut command = upload_command(&emulator, dir.path(), &file);
    command.arg("--no-verify-pages");
    let out = output(command).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("page checksums not checked (--no-verify-pages)"),
        "{said}"
    );
    let stored = client.head_object("Pages.bak").await.unwrap().unwrap();
    assert_eq!(stored.size, std::fs::metadata(&file).unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_stops_at_a_damaged_page_before_any_task() {
    let dir = tempfile::tempdir().unwrap();
    let (file, regions) = backup(dir.path());
    let (page, _) = damage_a_page(&file, &regions);
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let mut command = bin();
    command
        .arg("migrate")
        .arg(&file)
        .args(["--instance", &emulator.instance_id(), "--database", "Pages"])
        .args(["--bucket", emulator.bucket(), "--part-size", "1MiB"])
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .envs(emulator_env(&emulator))
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null());
    let out = output(command).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains(&format!("data page {page}")), "{said}");
    assert_eq!(emulator.requests().count("CreateMigrateTask"), 0, "{said}");
    assert_eq!(emulator.requests().count("CompleteMultipartUpload"), 0);
    let uploads = client(&emulator)
        .list_multipart_uploads(None)
        .await
        .unwrap();
    assert!(uploads.is_empty(), "{uploads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_counted_as_checked_or_as_carrying_no_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let (file, regions) = backup(dir.path());
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let expected = verify(&std::fs::read(&file).unwrap(), &regions);
    assert!(expected.checked > 1000 && expected.failed == 0);

    let out = output(upload_command(&emulator, dir.path(), &file)).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains(&format!(
            "{} data pages match their checksums",
            expected.checked
        )),
        "every page of every part, once: {said}"
    );

    // The same backup written with PAGE_VERIFY NONE: no page carries a checksum.
    let mut bytes = std::fs::read(&file).unwrap();
    for region in &regions {
        let (start, end) = (region.start as usize, region.end as usize);
        for page in bytes[start..end].chunks_exact_mut(PAGE_SIZE) {
            let flags = u16::from_le_bytes([page[4], page[5]]) & !FLAG_HAS_CHECKSUM;
            page[4..6].copy_from_slice(&flags.to_le_bytes());
        }
    }
    let unchecked = dir.path().join("NoChecksum.bak");
    std::fs::write(&unchecked, bytes).unwrap();
    let mut command = upload_command(&emulator, dir.path(), &unchecked);
    command.arg("--json");
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let done = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["event"] == "done")
        .expect("a done event");
    let pages = &done["report"]["pages"];
    assert_eq!(pages["status"], "checked", "{pages}");
    assert_eq!(pages["checked"], 0, "{pages}");
    assert_eq!(pages["without_checksum"], expected.checked, "{pages}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_backup_is_uploaded_and_said_unchecked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.bak");
    std::fs::write(&file, vec![7u8; 3 << 20]).unwrap();
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let out = output(upload_command(&emulator, dir.path(), &file)).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("page checksums not checked: not a SQL Server backup"),
        "{said}"
    );
}
