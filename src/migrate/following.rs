//! `migrate FILE --follow`: migrate a full backup that SQL Server is still writing.
//!
//! As soon as the backup's header is written it is judged against the target instance (a
//! differential, log, striped, password-protected or too-new backup is refused before the bulk
//! is sent) and pre-flight runs; the file is then uploaded while it is written
//! (`upload::follow`), and the finished file is migrated as any other: inspected whole, its
//! object found already uploaded (same size and CRC-64: nothing is sent again), the task created
//! and watched to its end.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    Clients, MigrateError, MigrateEvent, MigrateOutcome, MigrateSpec, preflight_backup,
    problem_of_finding, problem_of_preflight, run,
};
use crate::source::SourceFile;
use crate::upload::follow::{self, FollowEvent, FollowOptions, UNFINISHED};
use crate::upload::progress::Counters;
use bak2rds_cloud::rds::gather::gather_instance;
use bak2rds_cloud::rds::preflight::target_of;
use mssql_backup::{Rules, Severity};

/// Judges the header, runs pre-flight, uploads while the file is written, then migrates the
/// finished file.
pub async fn run_following(
    spec: MigrateSpec,
    follow_options: FollowOptions,
    clients: Clients,
    events: mpsc::UnboundedSender<MigrateEvent>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
) -> Result<MigrateOutcome, MigrateError> {
    let note = |message: String| {
        let _ = events.send(MigrateEvent::Following { message });
    };
    let instance = gather_instance(&clients.rds, &spec.instance_id).await?;
    let rules = Rules {
        target_version: target_of(&instance.instance.engine_version),
        database: Some(spec.database.clone()),
        verify_pages: false,
        file_name: None,
    };
    note(format!(
        "waiting for the backup's header in {}",
        spec.file.display()
    ));
    let header = follow::read_header(&spec.file, &rules, &follow_options, &cancel).await?;
    // The structure is cut short while SQL Server writes: every other refusal stands now.
    let refusals: Vec<_> = header
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error && f.code != UNFINISHED)
        .map(problem_of_finding)
        .collect();
    if !refusals.is_empty() && !spec.skip_preflight {
        return Ok(MigrateOutcome::Refused {
            stage: "inspect",
            findings: refusals,
        });
    }
    if let Some(backup) = &header.backup {
        let written = std::fs::metadata(&spec.file)
            .map(|meta| meta.len())
            .unwrap_or_default();
        let report = preflight_backup(&clients, &instance, backup, written, &spec.database).await?;
        if report.refused() && !spec.skip_preflight {
            return Ok(MigrateOutcome::Refused {
                stage: "preflight",
                findings: report.findings.iter().map(problem_of_preflight).collect(),
            });
        }
        note(format!(
            "the header is written: a full backup of {:?} that {} can restore; uploading it \
             while SQL Server writes it",
            backup.database_name, spec.instance_id
        ));
    }
    let record = follow::record_path(
        &spec.checkpoints,
        &spec.file,
        crate::upload::remote::Remote::endpoint(&clients.oss),
        &spec.bucket,
        &spec.key,
    );
    let uploaded = follow::follow(
        Arc::new(clients.oss.clone()),
        &spec.file,
        &spec.key,
        &record,
        &follow_options,
        Arc::clone(&counters),
        &cancel,
        |event| match event {
            FollowEvent::PartSent { file_len, .. } => {
                let _ = events.send(MigrateEvent::FileGrowing { written: file_len });
            }
            FollowEvent::Finished { len } => note(format!(
                "the backup is finished ({len} bytes): checking every part sent against it"
            )),
            FollowEvent::Polled {
                caught_up,
                unchanged_for,
            } => {
                let _ = events.send(MigrateEvent::FollowPolled {
                    caught_up,
                    unchanged_ms: u64::try_from(unchanged_for.as_millis()).unwrap_or(u64::MAX),
                });
            }
            FollowEvent::Header(_) => {}
        },
    )
    .await?;
    note(format!(
        "uploaded while written: {} of {} parts sent before the backup was finished, {} sent \
         again, completed {:.1} s after its last write; {}; migrating the finished file",
        uploaded.sent_while_growing,
        uploaded.parts,
        uploaded.resent,
        uploaded.after_last_change.as_secs_f64(),
        uploaded.pages
    ));
    let source = SourceFile::open(&spec.file)?;
    if source.len() == uploaded.len {
        super::record_followed_upload(&spec, &source, uploaded.len, uploaded.crc64)?;
    }
    run(spec, clients, events, counters, cancel).await
}
