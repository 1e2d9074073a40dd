//! `migrate --incremental FOLDER --follow`: after the full (and differential) are restored
//! without opening the database, keep watching FOLDER and restore each new log backup as it
//! appears, in LSN order, on the same task, until the database is cut over.
//!
//! Each round is an ordinary incremental run over the folder: the chain is read from the
//! backups' headers (never their names), what was restored is skipped (the state file), a gap
//! or a foreign backup is refused with its fix (the follower says so and keeps waiting for the
//! missing one), the daily CreateMigrateTask quota is counted and warned about as for any run.
//! A round starts once the folder has not changed for `settle` (a log being copied in is not
//! read half-written). The follower ends when the database is open: cut over by this process
//! (`--cutover-after-lag-below`, once the newest restored log is that recent) or from another
//! shell (`bak2rds cutover TASK`); Ctrl-C leaves it resumable (rerun the same command).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{IncrementalOutcome, IncrementalSpec, recorded_task, run};
use crate::migrate::{Clients, MigrateError, MigrateEvent, Problem};
use crate::upload::error::UploadError;
use crate::upload::progress::Counters;
use bak2rds_cloud::rds::model::TaskStatus;
use bak2rds_cloud::rds::quota::DAILY_MIGRATIONS_PER_DATABASE;

/// How long a follower waits after a transient failure before the next round.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// How long a follower waits when RDS refused a migration for the day's quota: slots free up
/// one by one as the calls of 24 hours ago age out.
const QUOTA_RETRY_AFTER: Duration = Duration::from_secs(10 * 60);

/// How the follower watches.
#[derive(Debug, Clone)]
pub struct LogFollowOptions {
    /// The folder must be unchanged this long before a round reads it.
    pub settle: Duration,
    /// Cut over once the newest restored log was written less than this long ago.
    pub cutover_below_lag: Option<Duration>,
}

/// Follows the folder until the database is open (see the module docs).
pub async fn follow_logs(
    mut spec: IncrementalSpec,
    options: LogFollowOptions,
    clients: Clients,
    events: mpsc::UnboundedSender<MigrateEvent>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
) -> Result<IncrementalOutcome, MigrateError> {
    let note = |message: String| {
        let _ = events.send(MigrateEvent::Following { message });
    };
    spec.following = true;
    let mut seen: Option<Listing> = None;
    // The task of the chain, once created (every round plans the whole folder again); a rerun
    // finds it in the state file, so a cutover from elsewhere is seen even while every round
    // is refused.
    let mut task_id: Option<String> = spec.task_id.clone().or_else(|| recorded_task(&spec));
    let mut changed_at = Instant::now();
    let mut last_listing = listing(&spec.files);
    loop {
        if cancel.is_cancelled() {
            return Err(MigrateError::Interrupted(format!(
                "stopped following {} (Ctrl-C); what was restored stays on task {}: rerun the \
                 same command to go on",
                folders(&spec.files),
                task_id.as_deref().unwrap_or("(none yet)")
            )));
        }
        let now = listing(&spec.files);
        if now != last_listing {
            (last_listing, changed_at) = (now.clone(), Instant::now());
        }
        let settled = changed_at.elapsed() >= options.settle;
        if settled && seen.as_ref() != Some(&now) {
            let outcome = run(
                spec.clone(),
                clients.clone(),
                events.clone(),
                Arc::clone(&counters),
                cancel.clone(),
            )
            .await;
            // A follower runs for days: a network or service hiccup, or the day's quota of
            // migrations, is waited out, not fatal.
            let outcome = match outcome {
                Err(error) if is_transient(&error) => {
                    note(format!(
                        "waiting: {error}; trying again in {} s",
                        RETRY_AFTER.as_secs()
                    ));
                    sleep_unless_cancelled(RETRY_AFTER, &cancel).await;
                    continue;
                }
                Err(error) if is_daily_quota(&error) => {
                    note(format!(
                        "waiting: RDS allows {DAILY_MIGRATIONS_PER_DATABASE} migrations a day per                          database, and today's are used (UploadLimitExceeded); trying again every                          {} min until the oldest is a day old. The logs keep arriving meanwhile:                          a differential backup put in the folder then replaces them all in one                          call",
                        QUOTA_RETRY_AFTER.as_secs() / 60
                    ));
                    sleep_unless_cancelled(QUOTA_RETRY_AFTER, &cancel).await;
                    continue;
                }
                outcome => outcome?,
            };
            seen = Some(now.clone());
            match &outcome {
                IncrementalOutcome::Finished(report) if report.online => return Ok(outcome),
                IncrementalOutcome::Finished(report) if report.failure.is_some() => {
                    return Ok(outcome);
                }
                IncrementalOutcome::Finished(report) => {
                    task_id = Some(report.task_id.clone()).filter(|id| !id.is_empty());
                    // The lag of what was restored, not of whatever else the folder holds.
                    // A rerun finding everything restored already (stopped after the last
                    // step) goes by the newest restored backup, or it never cuts over.
                    let restored = report
                        .steps
                        .last()
                        .map(|step| step.file.clone())
                        .or_else(|| report.last_restored.clone());
                    let written = restored.as_deref().and_then(written_at);
                    let lag = written.and_then(|at| at.elapsed().ok());
                    note(lag_line(restored.as_deref(), written, lag));
                    if let (Some(limit), Some(lag)) = (options.cutover_below_lag, lag)
                        && lag < limit
                    {
                        note(format!(
                            "the database is {} behind the source, under the {} asked \
                             (--cutover-after-lag-below): cutting over",
                            words(lag),
                            words(limit)
                        ));
                        spec.cutover = true;
                        seen = None;
                        continue;
                    }
                }
                IncrementalOutcome::Refused { findings, .. }
                    if findings.iter().any(|f| f.code == "already-online") =>
                {
                    return Ok(outcome);
                }
                IncrementalOutcome::Refused { findings, .. } => {
                    for finding in findings {
                        note(waiting_line(finding));
                    }
                }
                IncrementalOutcome::Planned { .. } => return Ok(outcome),
            }
        }
        if let Some(task_id) = &task_id
            && cut_over_elsewhere(&clients, &spec.instance_id, task_id).await
        {
            note(format!(
                "task {task_id} was cut over (bak2rds cutover): the database is open; done"
            ));
            // One last round records it: the cutover finds the task open and only watches it.
            spec.cutover = true;
            return run(spec, clients, events, counters, cancel).await;
        }
        tokio::time::sleep(options.settle.min(Duration::from_secs(5))).await;
    }
}

/// Whether the task was cut over from elsewhere: CreateOnlineDatabaseTask ended it.
async fn cut_over_elsewhere(clients: &Clients, instance_id: &str, task_id: &str) -> bool {
    clients
        .rds
        .describe_migrate_task_by_id(instance_id, task_id)
        .await
        .is_ok_and(|task| task.status == TaskStatus::Success)
}

/// The backups in the followed folders: names, sizes and modification times.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listing(Vec<(PathBuf, u64, Option<SystemTime>)>);

fn listing(paths: &[PathBuf]) -> Listing {
    let mut entries = Vec::new();
    for path in paths {
        let files: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(dir) => dir.flatten().map(|entry| entry.path()).collect(),
            Err(_) => vec![path.clone()],
        };
        for file in files {
            if let Ok(meta) = std::fs::metadata(&file)
                && meta.is_file()
            {
                entries.push((file, meta.len(), meta.modified().ok()));
            }
        }
    }
    entries.sort();
    Listing(entries)
}

fn folders(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the follower waits for, and how to help it along.
pub(super) fn waiting_line(problem: &Problem) -> String {
    format!(
        "waiting: {} ({}); the follower goes on when the folder changes",
        problem.message, problem.fix
    )
}

/// "restored up to X, written at 14:30:05 UTC, 3 min ago: the database is about 3 min behind
/// the source".
fn lag_line(restored: Option<&Path>, written: Option<SystemTime>, lag: Option<Duration>) -> String {
    match (restored, written, lag) {
        (Some(name), Some(written), Some(lag)) => format!(
            "restored up to {}, written at {} UTC, {} ago: the database is about {} behind the \
             source; waiting for the next log backup",
            name.display(),
            clock(written),
            words(lag),
            words(lag)
        ),
        _ => "nothing new to restore; waiting for the next log backup".to_owned(),
    }
}

/// A time of day, UTC: "14:30:05".
fn clock(at: SystemTime) -> String {
    let format = time::macros::format_description!("[hour]:[minute]:[second]");
    time::OffsetDateTime::from(at)
        .format(&format)
        .unwrap_or_default()
}

/// A failure a later round may not meet: the network, a busy or failing service.
fn is_transient(error: &MigrateError) -> bool {
    use bak2rds_cloud::Category;
    match error {
        MigrateError::Oss(error) => error.category() == Category::Transient,
        MigrateError::Rds(error) => error.category() == Category::Transient,
        MigrateError::Upload(UploadError::Remote { source, .. }) => source
            .downcast_ref::<bak2rds_cloud::oss::OssError>()
            .is_some_and(|error| error.category() == Category::Transient),
        _ => false,
    }
}

/// RDS refused a migration: the database's 20 a day are used.
fn is_daily_quota(error: &MigrateError) -> bool {
    matches!(error, MigrateError::Rds(error) if error.code() == Some("UploadLimitExceeded"))
}

/// Sleeps, waking early on Ctrl-C (the loop then reports the stop).
async fn sleep_unless_cancelled(duration: Duration, cancel: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = cancel.cancelled() => {}
    }
}

/// When `file` was last written.
fn written_at(file: &Path) -> Option<SystemTime> {
    std::fs::metadata(file).ok()?.modified().ok()
}

/// A duration in words: seconds, minutes or hours.
fn words(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        _ => format!("{:.1} h", secs as f64 / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_read_as_a_person_says_them() {
        assert_eq!(words(Duration::from_secs(45)), "45 s");
        assert_eq!(words(Duration::from_secs(180)), "3 min");
        assert_eq!(words(Duration::from_secs(5400)), "90 min");
        assert_eq!(words(Duration::from_secs(9000)), "2.5 h");
    }

    #[test]
    fn the_lag_line_names_the_log_its_time_and_the_lag() {
        let written = SystemTime::UNIX_EPOCH + Duration::from_secs(52_205); // 14:30:05
        let line = lag_line(
            Some(Path::new("logs/Sales_LOG_7.trn")),
            Some(written),
            Some(Duration::from_secs(180)),
        );
        assert_eq!(
            line,
            "restored up to logs/Sales_LOG_7.trn, written at 14:30:05 UTC, 3 min ago: the \
             database is about 3 min behind the source; waiting for the next log backup"
        );
        assert_eq!(
            lag_line(None, None, None),
            "nothing new to restore; waiting for the next log backup"
        );
    }
}
