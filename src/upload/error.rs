//! Why an upload stopped. Every variant says which step failed and what the user can do; the
//! checkpoint is kept unless the message says otherwise, so a rerun resumes.

use std::path::PathBuf;

use super::checkpoint::CheckpointError;
use super::plan::PlanError;

/// A boxed store error (the engine is generic over the store).
pub type RemoteCause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An upload failed or was stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// No part plan fits the file or the requested part size.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The local file could not be read, or changed while it was being uploaded.
    #[error("{0}")]
    Source(#[source] crate::Error),
    /// A call to the store failed and retrying cannot help (or retries ran out).
    #[error("{operation}{}: {source}", part_label(*part_number))]
    Remote {
        /// The OSS operation.
        operation: &'static str,
        /// The part, for UploadPart.
        part_number: Option<u32>,
        /// The store's error.
        source: RemoteCause,
    },
    /// A part's bytes kept arriving damaged (CRC-64 mismatch) after every retry.
    #[error(
        "part {part_number}: the server's CRC-64 differed from the bytes sent in {attempts} attempts \
         (last: local {local:#018x}, server {server:#018x}); the link or a proxy is corrupting \
         data — check it, then rerun the same command to resume"
    )]
    PartCorrupted {
        /// The part.
        part_number: u32,
        /// Attempts made.
        attempts: u32,
        /// Our CRC of the last attempt.
        local: u64,
        /// The server's CRC of the last attempt.
        server: u64,
    },
    /// The server did not return the CRC-64 that end-to-end verification needs.
    #[error(
        "{operation} did not return x-oss-hash-crc64ecma, so the upload cannot be verified; \
         check that the endpoint is an OSS endpoint (not a proxy that strips headers)"
    )]
    MissingServerCrc {
        /// The operation.
        operation: &'static str,
    },
    /// The assembled object is not the file: nothing is passed off as complete.
    #[error(
        "the assembled object's {what} is {actual} but the file's is {expected}; {} and the \
         checkpoint discarded — rerun the command to upload again",
        if *deleted { "the object was deleted" } else { "DELETE THE OBJECT (deleting it failed)" }
    )]
    ObjectMismatch {
        /// "CRC-64" or "size".
        what: &'static str,
        /// The file's value.
        expected: String,
        /// The object's value.
        actual: String,
        /// Whether the bad object was deleted.
        deleted: bool,
    },
    /// Stopped on request (Ctrl-C); the checkpoint is kept.
    #[error(
        "upload interrupted; the parts sent so far are kept (checkpoint {}). Rerun the same \
         command to resume, or discard them with `bak2rds upload --abort {} {object}` (plus \
         this run's endpoint and credential options)",
        checkpoint.display(),
        shell_word(&file.display().to_string())
    )]
    Interrupted {
        /// The checkpoint to resume from.
        checkpoint: PathBuf,
        /// The local file.
        file: PathBuf,
        /// `oss://bucket/key`.
        object: String,
    },
    /// A data page of the backup failed its checksum: the backup is damaged. The multipart
    /// upload was aborted (no object, no parts left) and the file is refused until it changes.
    #[error(
        "{}data page {}:{} (file id {}, page id {}) at offset {:#x} of {} fails its checksum: the \
         backup is damaged, and RDS would fail the restore with \"Failed to verify …: the backup \
         file may be corrupted\". {} Run DBCC CHECKDB on the source database, then take a new \
         backup WITH CHECKSUM and migrate that file (--no-verify-pages uploads this one anyway)",
        if *earlier { "an earlier run found that " } else { "" },
        page.file_id, page.page_id, page.file_id, page.page_id, page.offset, file.display(),
        left_behind(object, file, *aborted)
    )]
    DamagedPage {
        /// The first damaged page.
        page: mssql_backup::pages::PageFailure,
        /// The local file.
        file: PathBuf,
        /// `oss://bucket/key`.
        object: String,
        /// Found by an earlier run (this one sent nothing).
        earlier: bool,
        /// The multipart upload was aborted (its parts deleted).
        aborted: bool,
    },
    /// `--follow`: the file stopped changing before its backup was finished.
    #[error(
        "{} has not changed for {quiet_secs} s at {len} bytes and its backup is not finished (its \
         end is not written): is SQL Server still writing it? The parts sent so far are kept: \
         rerun the same command (with a longer --follow-timeout) to go on, or discard them with \
         `bak2rds upload --abort` on the same file and destination",
        file.display()
    )]
    NotGrowing {
        /// The local file.
        file: PathBuf,
        /// Its length.
        len: u64,
        /// How long it has not changed.
        quiet_secs: u64,
    },
    /// `--follow`: the file changed while its last parts were checked, or after: the writer is
    /// still at work. Nothing was completed (or the completed object was deleted); the parts
    /// are kept for a rerun.
    #[error(
        "{} changed while its last parts were checked (the writer is still at work), so no \
         object was completed: rerun the same command once the backup is finished (the parts \
         sent are kept and checked again)",
        file.display()
    )]
    ChangedAtTheEnd {
        /// The local file.
        file: PathBuf,
    },
    /// `--follow` stopped on request (Ctrl-C); the parts sent are kept for a rerun.
    #[error(
        "stopped following {} (Ctrl-C); the parts sent so far are kept: rerun the same command \
         to go on (each is checked against the file), or discard them with `bak2rds upload \
         --abort` on the same file and destination",
        file.display()
    )]
    FollowStopped {
        /// The local file.
        file: PathBuf,
    },
    /// A broken invariant inside the engine.
    #[error("internal error in the upload engine: {0}")]
    Internal(String),
}

/// What a damaged-page stop left on OSS.
fn left_behind(object: &str, file: &std::path::Path, aborted: bool) -> String {
    if aborted {
        format!("No object was written to {object}, and the parts sent were deleted.")
    } else {
        format!(
            "No object was written to {object}, but its unfinished upload could not be deleted: \
             `bak2rds upload --abort {} {object}` deletes it.",
            shell_word(&file.display().to_string())
        )
    }
}

/// `text` as one shell word: as is when plain, else single-quoted, so a hint can be pasted.
fn shell_word(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,%".contains(c));
    if plain && !text.is_empty() {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn part_label(part_number: Option<u32>) -> String {
    part_number.map_or_else(String::new, |n| format!(" (part {n})"))
}
