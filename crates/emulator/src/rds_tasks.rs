//! The emulated RDS's migration tasks: what each task holds, the status it shows at a given
//! moment (rds-api.md §1.7), the databases it creates and its per-file detail (§1.5), and the
//! daily CreateMigrateTask quotas (§1.1).
//!
//! A task is a list of steps, each taking the configured restore time from its start:
//! * FULL (`IsOnlineDB=True`): one file, `NoStart → Running → Success | Failed`.
//! * UPDF (`IsOnlineDB=False`, §1.6): the full restored WITH NORECOVERY (`NoStart → Running →
//!   Waiting`, or `Failed`), then any number of differentials and logs (`Waiting → Running →
//!   Waiting`), then the opening by CreateOnlineDatabaseTask (`Waiting → Running → Success`).
//!
//! Each step's outcome is judged when it is submitted (`restore.rs`) and only revealed as time
//! passes, so status is a pure function of the clock: no background work to own or cancel.
//! Nothing here parses requests or formats errors; that is `rds.rs`.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::restore::{ObjectKind, Outcome, RestorePoint};
use bak2rds_cloud::rds::model::{MigrateTask, OssDownload, TaskStatus};
use bak2rds_cloud::rds::sign;

/// How the task was created (`BackupMode`, §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `FULL` with `IsOnlineDB=True`: one file, the database opens at the end.
    Full,
    /// `UPDF` with `IsOnlineDB=False`: a chain of files, opened by CreateOnlineDatabaseTask.
    Incremental,
}

impl Mode {
    /// The `BackupMode` value.
    pub fn wire(self) -> &'static str {
        match self {
            Mode::Full => "FULL",
            Mode::Incremental => "UPDF",
        }
    }
}

/// One file restored by a task.
#[derive(Debug, Clone)]
pub(super) struct FileStep {
    /// The object key, as DescribeOssDownloads names the file.
    pub object_key: String,
    /// The object's size.
    pub file_bytes: u64,
    /// What the backup reader says it is.
    pub kind: ObjectKind,
    /// When the step started (monotonic clock: drives the phase).
    pub started: Instant,
    /// When the step started (wall clock: reported).
    pub start_time: OffsetDateTime,
    /// How the step ends, decided when it was submitted.
    pub outcome: Outcome,
}

/// The CreateOnlineDatabaseTask step of an incremental task.
#[derive(Debug, Clone)]
pub(super) struct Opening {
    started: Instant,
    start_time: OffsetDateTime,
    description: String,
}

/// One migration task.
#[derive(Debug, Clone)]
pub(super) struct Task {
    pub id: u64,
    pub instance_id: String,
    pub db_name: String,
    pub mode: Mode,
    pub create_time: OffsetDateTime,
    /// Disk the restored database occupies (the full's file list).
    pub restored_bytes: u64,
    /// The files in submission order; the first is the full.
    pub files: Vec<FileStep>,
    /// Where the database stands after every accepted file (incremental tasks whose full was
    /// accepted); what the next increment is judged against.
    pub at: Option<RestorePoint>,
    opening: Option<Opening>,
    /// When DeleteDatabase dropped the database this task created. The task stays in the
    /// history, but its database no longer stands on the instance and it takes no more files.
    dropped: Option<OffsetDateTime>,
}

/// Where a step is, by the fraction of the restore time passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    NoStart,
    Downloading,
    Checking,
    Restoring,
    Done,
}

/// NoStart for the first 10 % of the restore time, then downloading to 40 %, checking to 60 %,
/// restoring to 100 %.
pub(super) fn phase(started: Instant, now: Instant, total: Duration) -> Phase {
    let elapsed = now.saturating_duration_since(started);
    if elapsed >= total {
        return Phase::Done;
    }
    let fraction = elapsed.as_secs_f64() / total.as_secs_f64();
    match fraction {
        f if f < 0.1 => Phase::NoStart,
        f if f < 0.4 => Phase::Downloading,
        f if f < 0.6 => Phase::Checking,
        _ => Phase::Restoring,
    }
}

/// A database a task has created, as DescribeDatabases shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DbState {
    /// Restored WITH NORECOVERY, waiting for more files or the opening.
    Restoring,
    /// Online.
    Running,
}

impl DbState {
    /// `DBStatus`. The API documents only `Creating`/`Running`/`Deleting` (§1.8); for a
    /// database left restoring, the incremental-migration doc (§1.6) names the console's states
    /// "In Recovery" (High-availability) and "Restoring" (Basic). Unverified against the live
    /// API: `Restoring` is the most plausible single value, and it is not `Running`, so no client
    /// mistakes the database for usable.
    pub fn wire(self) -> &'static str {
        match self {
            DbState::Restoring => "Restoring",
            DbState::Running => "Running",
        }
    }
}

/// A task's status at one moment.
struct Snapshot {
    status: TaskStatus,
    description: String,
    end_time: Option<OffsetDateTime>,
}

impl Task {
    /// A new task whose first file is `full`, restoring a database of `restored_bytes`.
    pub fn new(
        id: u64,
        instance_id: &str,
        db_name: &str,
        mode: Mode,
        full: FileStep,
        restored_bytes: u64,
    ) -> Self {
        Task {
            id,
            instance_id: instance_id.to_owned(),
            db_name: db_name.to_owned(),
            mode,
            create_time: full.start_time,
            restored_bytes,
            files: vec![full],
            at: None,
            opening: None,
            dropped: None,
        }
    }

    /// DeleteDatabase: the database this task created is gone.
    pub fn drop_database(&mut self) {
        self.dropped.get_or_insert_with(OffsetDateTime::now_utc);
    }

    /// Whether DeleteDatabase dropped this task's database.
    pub fn is_dropped(&self) -> bool {
        self.dropped.is_some()
    }

    /// Starts opening the database (CreateOnlineDatabaseTask), ending with `description`.
    pub fn open(&mut self, now: Instant, description: String) {
        self.opening = Some(Opening {
            started: now,
            start_time: OffsetDateTime::now_utc(),
            description,
        });
    }

    /// Whether CreateOnlineDatabaseTask was already called.
    pub fn is_opened(&self) -> bool {
        self.opening.is_some()
    }

    /// The step under way or last finished: its start and, for a file, the file.
    fn last_step_started(&self) -> Option<Instant> {
        match &self.opening {
            Some(opening) => Some(opening.started),
            None => self.files.last().map(|f| f.started),
        }
    }

    /// Whether a step is still under way (nothing else may touch the database meanwhile).
    pub fn is_busy(&self, now: Instant, total: Duration) -> bool {
        self.last_step_started()
            .is_some_and(|started| phase(started, now, total) != Phase::Done)
    }

    /// The database this task has created so far, if any.
    pub fn database(&self, now: Instant, total: Duration) -> Option<DbState> {
        let full = self.files.first()?;
        if self.is_dropped()
            || !full.outcome.success
            || phase(full.started, now, total) != Phase::Done
        {
            return None;
        }
        let opened = match (self.mode, &self.opening) {
            (Mode::Full, _) => true,
            (Mode::Incremental, Some(o)) => phase(o.started, now, total) == Phase::Done,
            (Mode::Incremental, None) => false,
        };
        Some(if opened {
            DbState::Running
        } else {
            DbState::Restoring
        })
    }

    /// The task's status now (§1.7). A failed differential or log does not fail the task: the
    /// database still stands where the last good file left it, so the task returns to
    /// `Waiting` with the failure as its Description and the file marked `RestoreFailed`, and
    /// the user can submit the right file or open the database. The docs do not say what the
    /// service does here; this is the choice that keeps the emulator useful and consistent
    /// with SQL Server, where a refused RESTORE LOG leaves the database restoring.
    ///
    /// A waiting migration whose database was dropped can never go on, so it ends Failed
    /// rather than wait forever (the docs do not say this either).
    fn snapshot(&self, now: Instant, total: Duration) -> Snapshot {
        let snapshot = self.restore_snapshot(now, total);
        match self.dropped {
            Some(dropped) if snapshot.status == TaskStatus::Waiting => Snapshot {
                status: TaskStatus::Failed,
                description: format!(
                    "The database {} was deleted before the migration was completed.",
                    self.db_name
                ),
                end_time: Some(dropped),
            },
            _ => snapshot,
        }
    }

    /// The status the restore steps alone give.
    fn restore_snapshot(&self, now: Instant, total: Duration) -> Snapshot {
        let running = |status| Snapshot {
            status,
            description: String::new(),
            end_time: None,
        };
        if let Some(opening) = &self.opening {
            return match phase(opening.started, now, total) {
                Phase::Done => Snapshot {
                    status: TaskStatus::Success,
                    description: opening.description.clone(),
                    end_time: Some(opening.start_time + total),
                },
                _ => running(TaskStatus::Running),
            };
        }
        let Some(last) = self.files.last() else {
            return running(TaskStatus::NoStart);
        };
        let first = self.files.len() == 1;
        let ended = Snapshot {
            status: TaskStatus::Failed,
            description: last.outcome.description.clone(),
            end_time: Some(last.start_time + total),
        };
        match (phase(last.started, now, total), self.mode) {
            (Phase::NoStart, _) if first => running(TaskStatus::NoStart),
            (Phase::Done, Mode::Full) if last.outcome.success => Snapshot {
                status: TaskStatus::Success,
                ..ended
            },
            (Phase::Done, Mode::Incremental) if last.outcome.success || !first => Snapshot {
                status: TaskStatus::Waiting,
                description: last.outcome.description.clone(),
                end_time: None,
            },
            (Phase::Done, _) => ended,
            _ => running(TaskStatus::Running),
        }
    }

    /// The task as DescribeMigrateTasks and DescribeMigrateTaskById show it.
    pub fn view(&self, now: Instant, total: Duration) -> MigrateTask {
        let snapshot = self.snapshot(now, total);
        MigrateTask {
            migrate_task_id: self.id.to_string(),
            db_name: self.db_name.clone(),
            backup_mode: self.mode.wire().into(),
            status: snapshot.status,
            is_db_replaced: "False".into(),
            create_time: sign::format_timestamp(self.create_time),
            end_time: snapshot
                .end_time
                .map(sign::format_timestamp)
                .unwrap_or_default(),
            description: snapshot.description,
        }
    }

    /// Every file of the task as DescribeOssDownloads lists it (§1.5), in submission order.
    pub fn downloads(&self, now: Instant, total: Duration) -> Vec<OssDownload> {
        self.files
            .iter()
            .map(|file| download(file, now, total))
            .collect()
    }
}

fn download(file: &FileStep, now: Instant, total: Duration) -> OssDownload {
    let phase = phase(file.started, now, total);
    let done = phase == Phase::Done;
    let status = match phase {
        Phase::NoStart => "NoStart",
        Phase::Downloading => "Downloading",
        Phase::Checking => "CheckSuccess",
        Phase::Restoring => "Restoring",
        Phase::Done => file.outcome.file_status,
    };
    OssDownload {
        file_name: file.object_key.clone(),
        file_size: file.file_bytes.div_ceil(1 << 20).to_string(),
        backup_mode: match file.kind {
            ObjectKind::Differential => "Differential_Database",
            ObjectKind::Log => "Transaction_Log",
            ObjectKind::Full
            | ObjectKind::Striped(_)
            | ObjectKind::Unverifiable
            | ObjectKind::Missing => "Database",
        }
        .into(),
        is_available: "True".into(),
        status: status.into(),
        create_time: sign::format_timestamp(file.start_time),
        end_time: if done {
            sign::format_timestamp(file.start_time + total)
        } else {
            String::new()
        },
        description: if done && !file.outcome.success {
            file.outcome.description.clone()
        } else {
            String::new()
        },
    }
}

/// The daily CreateMigrateTask quotas of §1.1: per database per instance
/// (`UploadLimitExceeded`) and per instance (`ConcurrentTaskExceeded`). "Per day" is read as
/// the UTC calendar day; the docs do not say which day boundary the service uses.
#[derive(Debug, Default)]
pub(super) struct DailyQuota {
    /// (UTC day, instance, lower-case database name) of every accepted call.
    calls: Vec<(time::Date, String, String)>,
}

/// Which quota a call would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QuotaExceeded {
    /// Too many migrations of this database today.
    Database,
    /// Too many migrations on this instance today.
    Instance,
}

impl DailyQuota {
    /// Checks a call against the limits; when within them, counts it.
    pub fn take(
        &mut self,
        instance: &str,
        db_name: &str,
        per_database: u32,
        per_instance: u32,
    ) -> Result<(), QuotaExceeded> {
        let today = OffsetDateTime::now_utc().date();
        let db = db_name.to_ascii_lowercase();
        self.calls.retain(|(day, _, _)| *day == today);
        let on_instance = || self.calls.iter().filter(|(_, i, _)| i == instance);
        let instance_count = on_instance().count();
        let database_count = on_instance().filter(|(_, _, d)| *d == db).count();
        if database_count >= usize::try_from(per_database).unwrap_or(usize::MAX) {
            return Err(QuotaExceeded::Database);
        }
        if instance_count >= usize::try_from(per_instance).unwrap_or(usize::MAX) {
            return Err(QuotaExceeded::Instance);
        }
        self.calls.push((today, instance.to_owned(), db));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOTAL: Duration = Duration::from_secs(10);

    fn file(kind: ObjectKind, started: Instant, success: bool) -> FileStep {
        FileStep {
            object_key: "k".into(),
            file_bytes: 1,
            kind,
            started,
            start_time: OffsetDateTime::now_utc(),
            outcome: Outcome {
                success,
                description: if success { String::new() } else { "bad".into() },
                file_status: if success { "Restored" } else { "RestoreFailed" },
            },
        }
    }

    #[test]
    fn an_incremental_task_waits_between_files_and_succeeds_once_opened() {
        let t0 = Instant::now();
        let mut task = Task::new(
            1,
            "rm",
            "db",
            Mode::Incremental,
            file(ObjectKind::Full, t0, true),
            1,
        );
        let status = |task: &Task, at: Instant| task.view(at, TOTAL).status;
        assert_eq!(status(&task, t0), TaskStatus::NoStart);
        assert_eq!(status(&task, t0 + TOTAL / 2), TaskStatus::Running);
        assert_eq!(task.database(t0 + TOTAL / 2, TOTAL), None);
        let t1 = t0 + TOTAL;
        assert_eq!(status(&task, t1), TaskStatus::Waiting);
        assert_eq!(task.database(t1, TOTAL), Some(DbState::Restoring));

        task.files.push(file(ObjectKind::Log, t1, false));
        assert_eq!(
            status(&task, t1),
            TaskStatus::Running,
            "never NoStart again"
        );
        let t2 = t1 + TOTAL;
        let view = task.view(t2, TOTAL);
        assert_eq!(
            view.status,
            TaskStatus::Waiting,
            "a bad log leaves it usable"
        );
        assert_eq!(view.description, "bad");
        assert_eq!(task.downloads(t2, TOTAL)[1].status, "RestoreFailed");

        task.open(t2, "opened".into());
        assert_eq!(status(&task, t2), TaskStatus::Running);
        assert_eq!(task.database(t2, TOTAL), Some(DbState::Restoring));
        let view = task.view(t2 + TOTAL, TOTAL);
        assert_eq!(
            (view.status, view.description.as_str()),
            (TaskStatus::Success, "opened")
        );
        assert_eq!(task.database(t2 + TOTAL, TOTAL), Some(DbState::Running));
    }

    #[test]
    fn a_failed_full_fails_the_task_in_either_mode() {
        let t0 = Instant::now();
        for mode in [Mode::Full, Mode::Incremental] {
            let task = Task::new(1, "rm", "db", mode, file(ObjectKind::Full, t0, false), 1);
            let view = task.view(t0 + TOTAL, TOTAL);
            assert_eq!(view.status, TaskStatus::Failed, "{mode:?}");
            assert!(!view.end_time.is_empty());
            assert_eq!(task.database(t0 + TOTAL, TOTAL), None);
        }
    }

    #[test]
    fn quotas_count_per_database_then_per_instance() {
        let mut quota = DailyQuota::default();
        assert!(quota.take("rm", "a", 2, 3).is_ok());
        assert!(quota.take("rm", "A", 2, 3).is_ok());
        assert_eq!(quota.take("rm", "a", 2, 3), Err(QuotaExceeded::Database));
        assert!(quota.take("rm", "b", 2, 3).is_ok());
        assert_eq!(quota.take("rm", "c", 2, 3), Err(QuotaExceeded::Instance));
        assert!(quota.take("rm-other", "a", 2, 3).is_ok(), "per instance");
    }
}
