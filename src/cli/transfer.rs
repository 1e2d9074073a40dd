//! Runs an upload while showing it: a progress bar on a terminal, notes on stderr otherwise, or
//! one JSON event per line with `--json`; Ctrl-C stops it cleanly with the checkpoint kept.
//! Shared by `upload`, `bench` and `migrate`.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{BinaryBytes, ProgressBar};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::printer::Printer;
use crate::upload::controller::Limit;
use crate::upload::engine::{ConcurrencyReport, UploadJob, UploadReport, run};
use crate::upload::error::UploadError;
use crate::upload::progress::{Counters, UploadEvent};
use crate::upload::remote::Remote;

/// How often the bar (and, with `--json`, a progress event) is refreshed.
const TICK: Duration = Duration::from_millis(200);
/// JSON progress events are written this often: often enough to follow, rare enough to read.
const JSON_PROGRESS_EVERY: u32 = 5;

/// Uploads `job`, showing progress through `printer`; Ctrl-C cancels it.
pub async fn upload_with_progress<R: Remote>(
    remote: Arc<R>,
    job: UploadJob,
    printer: &Printer,
) -> Result<UploadReport, UploadError> {
    let counters = Arc::new(Counters::default());
    let (events, received) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let bar = printer.byte_bar(job.source.len());
    let upload = run(remote, job, events, Arc::clone(&counters), cancel.clone());
    let result = drive(
        upload,
        received,
        &counters,
        printer,
        &bar,
        &cancel,
        |event, bar| show_event(&event, printer, bar),
    )
    .await;
    bar.finish_and_clear();
    result
}

/// Runs `job` to its end while showing its events and its byte counters on `bar`; the first
/// Ctrl-C cancels `cancel` (the job then stops cleanly) instead of killing the process.
pub async fn drive<T, E>(
    job: impl std::future::Future<Output = T>,
    mut events: mpsc::UnboundedReceiver<E>,
    counters: &Counters,
    printer: &Printer,
    bar: &ProgressBar,
    cancel: &CancellationToken,
    mut on_event: impl FnMut(E, &ProgressBar),
) -> T {
    let mut job = std::pin::pin!(job);
    let mut tick = tokio::time::interval(TICK);
    let mut ticks = 0u32;
    let mut resumed_seen = 0u64;
    let mut interrupted = false;
    // One listener for the whole run: a `ctrl_c()` made anew by each turn of the loop misses a
    // SIGINT delivered while no turn is waiting (a branch body running, or another branch
    // winning the same poll), and the job then never stops.
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let result = loop {
        tokio::select! {
            result = &mut job => break result,
            Some(event) = events.recv() => on_event(event, bar),
            _ = tick.tick() => {
                ticks = ticks.wrapping_add(1);
                show_counters(counters, printer, bar, ticks, &mut resumed_seen);
            }
            _ = &mut ctrl_c => {
                ctrl_c.set(tokio::signal::ctrl_c());
                if interrupted {
                    // A second Ctrl-C: the user will not wait. Checkpoints and state files are
                    // written atomically, so stopping here loses nothing already recorded.
                    bar.abandon();
                    std::process::exit(130);
                }
                interrupted = true;
                cancel.cancel();
                say(printer, bar, "stopping cleanly (Ctrl-C again to quit at once)…");
            }
        }
    };
    while let Ok(event) = events.try_recv() {
        on_event(event, bar);
    }
    result
}

fn show_counters(
    counters: &Counters,
    printer: &Printer,
    bar: &ProgressBar,
    ticks: u32,
    resumed_seen: &mut u64,
) {
    let snapshot = counters.snapshot();
    let total = bar.length().unwrap_or(0);
    if total == 0 {
        return; // no upload running (yet)
    }
    bar.set_position(snapshot.bytes.min(total));
    if snapshot.resumed != *resumed_seen {
        // The bytes already on the server arrive in one jump: rate and ETA count only what
        // this run sends, or a resume would show GiB/s and "ETA 0s".
        *resumed_seen = snapshot.resumed;
        bar.reset_eta();
    }
    let mut message = format!(
        "parts {} done, {} in flight, {} retried",
        snapshot.parts_done, snapshot.in_flight, snapshot.retries
    );
    if snapshot.hedged > 0 {
        message.push_str(&format!(", {} hedged", snapshot.hedged));
    }
    if snapshot.resumed > 0 {
        message.push_str(&format!(", {} resumed", BinaryBytes(snapshot.resumed)));
    }
    bar.set_message(message);
    if printer.json() && ticks.is_multiple_of(JSON_PROGRESS_EVERY) {
        let _ = printer.json_line(&serde_json::json!({
            "event": "progress",
            "bytes": snapshot.bytes,
            "total": total,
            "resumed_bytes": snapshot.resumed,
            "parts_done": snapshot.parts_done,
            "in_flight": snapshot.in_flight,
            // The bar's own estimate, over its recent ticks (what the bar prints).
            "bytes_per_sec": bar.per_sec() as u64,
            "retries": snapshot.retries,
            "hedged": snapshot.hedged,
        }));
    }
}

/// Shows one upload event.
pub fn show_event(event: &UploadEvent, printer: &Printer, bar: &ProgressBar) {
    if printer.json() {
        let _ = printer.json_line(event);
        return;
    }
    match event {
        UploadEvent::Planned {
            len,
            part_size,
            smallest_part_size,
            part_count,
            resumed_parts,
            resumed_bytes,
            ..
        } => {
            let sizes = if smallest_part_size < part_size {
                format!(
                    "{} to {}, small at both ends so that parts in flight neither start nor \
                     end together",
                    BinaryBytes(*smallest_part_size),
                    BinaryBytes(*part_size)
                )
            } else {
                BinaryBytes(*part_size).to_string()
            };
            let noun = if *part_count == 1 { "part" } else { "parts" };
            let mut line = format!(
                "sending {} in {part_count} {noun} of {sizes}",
                BinaryBytes(*len)
            );
            if *resumed_parts > 0 {
                line.push_str(&format!(
                    "; resuming: {resumed_parts} parts ({}) already on the server",
                    BinaryBytes(*resumed_bytes)
                ));
            }
            say(printer, bar, &line);
        }
        UploadEvent::CheckpointDiscarded { reason } => say(printer, bar, reason),
        UploadEvent::OtherUploads { object, upload_ids } => say(
            printer,
            bar,
            &format!(
                "{} other unfinished upload(s) of {object} hold parts OSS bills for ({}); once \
                 this upload is done, `bak2rds upload --abort` with the same file and \
                 destination aborts every one",
                upload_ids.len(),
                upload_ids.join(", ")
            ),
        ),
        UploadEvent::PartRetry {
            part_number,
            attempt,
            delay_ms,
            reason,
        } => say(
            printer,
            bar,
            &format!(
                "part {part_number}: attempt {attempt} failed ({reason}); retrying in {:.1} s",
                *delay_ms as f64 / 1000.0
            ),
        ),
        // Counted in the bar and the summary: with many small parts a line each would bury
        // everything else (and -v logs each one).
        UploadEvent::PartHedged { part_number } => {
            tracing::debug!(
                part_number,
                "part lags far behind the others: sent again in parallel"
            );
        }
        UploadEvent::Concurrency {
            parts_in_flight,
            rate_bytes_per_sec,
            settled,
        } => {
            let verb = if *settled { "settled on" } else { "trying" };
            tracing::info!(
                rate = %BinaryBytes(*rate_bytes_per_sec),
                "{verb} {parts_in_flight} parts in flight"
            );
            if *settled {
                say(
                    printer,
                    bar,
                    &format!(
                        "{verb} {parts_in_flight} parts in flight ({}/s measured)",
                        BinaryBytes(*rate_bytes_per_sec)
                    ),
                );
            }
        }
        UploadEvent::Completing { part_count } => {
            say(
                printer,
                bar,
                &format!("all {part_count} parts verified; completing the object"),
            );
        }
        UploadEvent::AlreadyUploaded { .. } | UploadEvent::PartDone { .. } => {}
    }
}

/// A note above the bar when it is shown, on stderr otherwise.
pub fn say(printer: &Printer, bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        printer.note(line);
    } else {
        bar.println(line);
    }
}

/// Shows a `--follow` upload's state on its bar ([`Printer::following_bar`]): once every written
/// part is sent, that the upload waits on the writer and for how long the file has not changed.
/// Without it the bar sat still with "ETA 0s" while SQL Server wrote, and for `--follow-settle`
/// at the end.
pub fn show_following(bar: &ProgressBar, caught_up: bool, unchanged_for: Duration) {
    bar.set_prefix(following_state(caught_up, unchanged_for));
}

/// The words after a `--follow` bar's counters.
fn following_state(caught_up: bool, unchanged_for: Duration) -> String {
    match (caught_up, unchanged_for.as_secs()) {
        (false, _) => String::new(),
        (true, 0) => "; waiting for SQL Server to write more".to_owned(),
        (true, seconds) => format!("; the file unchanged for {seconds} s"),
    }
}

/// The one-line summary of a finished upload.
pub fn summary(report: &UploadReport) -> String {
    if report.already_uploaded {
        return format!(
            "oss://{}/{} already holds this file ({}, CRC-64 {}): nothing sent",
            report.bucket,
            report.key,
            BinaryBytes(report.size),
            report.crc64
        );
    }
    let seconds = report.elapsed_ms as f64 / 1000.0;
    let rate = if seconds > 0.0 {
        format!(
            ", {}/s",
            BinaryBytes((report.transferred_bytes as f64 / seconds) as u64)
        )
    } else {
        String::new()
    };
    let mut extras = Vec::new();
    if report.resumed_parts > 0 {
        extras.push(format!("{} resumed", report.resumed_parts));
    }
    if report.retries > 0 {
        extras.push(format!("{} retried", report.retries));
    }
    if report.hedged_parts > 0 {
        extras.push(format!(
            "{} sent twice for lagging behind the others",
            report.hedged_parts
        ));
    }
    let extras = if extras.is_empty() {
        String::new()
    } else {
        format!(" ({})", extras.join(", "))
    };
    let parts = if report.part_count == 1 {
        "part"
    } else {
        "parts"
    };
    let settled = report
        .concurrency
        .as_ref()
        .map_or_else(String::new, concurrency_clause);
    format!(
        "uploaded oss://{}/{}: {} in {} {parts}{extras}, CRC-64 {} verified, {seconds:.1} s{rate}{settled}; {}",
        report.bucket,
        report.key,
        BinaryBytes(report.size),
        report.part_count,
        report.crc64,
        report.pages
    )
}

/// What the adaptive controller settled on, and why; nothing when the upload ended before it
/// measured anything (a small file says nothing about the link).
fn concurrency_clause(report: &ConcurrencyReport) -> String {
    if report.tried.is_empty() {
        return String::new();
    }
    format!(
        "; settled on {} parts in flight ({})",
        report.settled_on,
        why_settled(report.limit)
    )
}

/// Why the controller stopped changing the level, in words (also `bench`'s).
pub(crate) fn why_settled(limit: Option<Limit>) -> &'static str {
    match limit {
        Some(Limit::Saturated) => "more stopped raising the rate: the link or this host was full",
        Some(Limit::RateCap) => "the --max-rate cap was met",
        Some(Limit::Errors) => "parts were retried (throttling or failing connections)",
        Some(Limit::Maximum) => "the most allowed: 64, fewer when `ulimit -n` is low",
        // Levels were measured (the caller checks), but the last one had no verdict yet.
        None => "the upload ended while it was still trying levels",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::pages::PageSummary;

    #[test]
    fn a_follow_bar_says_whether_it_waits_on_the_writer() {
        let second = Duration::from_secs(1);
        assert_eq!(following_state(false, 10 * second), "");
        assert_eq!(
            following_state(true, second / 2),
            "; waiting for SQL Server to write more"
        );
        assert_eq!(
            following_state(true, 3 * second),
            "; the file unchanged for 3 s"
        );
    }

    /// First hour 17: hedged parts are one count in the summary, not a line each; "1 part".
    #[test]
    fn the_summary_counts_hedges_and_says_one_part() {
        let report = UploadReport {
            bucket: "b".into(),
            key: "k.bak".into(),
            size: 1 << 20,
            crc64: 1,
            etag: "E".into(),
            part_count: 1,
            part_size: 1 << 20,
            smallest_part_size: 1 << 20,
            resumed_parts: 0,
            already_uploaded: false,
            transferred_bytes: 1 << 20,
            resent_bytes: 0,
            retries: 0,
            hedged_parts: 0,
            elapsed_ms: 1000,
            sending_ms: 900,
            pages: PageSummary::Checked {
                checked: 10,
                without_checksum: 2,
                resumed_parts: 0,
            },
            concurrency: None,
        };
        let plain = summary(&report);
        assert!(
            plain.contains("1 part") && !plain.contains("1 parts"),
            "{plain}"
        );
        assert!(!plain.contains("twice"), "{plain}");
        let hedged = summary(&UploadReport {
            part_count: 1675,
            hedged_parts: 1675,
            ..report.clone()
        });
        assert!(hedged.contains("1675 sent twice"), "{hedged}");
        // The controller is named only when it measured something.
        let quick = ConcurrencyReport {
            settled_on: 8,
            limit: None,
            tried: Vec::new(),
        };
        let small = summary(&UploadReport {
            concurrency: Some(quick.clone()),
            ..report.clone()
        });
        assert!(!small.contains("settled"), "{small}");
        let measured = summary(&UploadReport {
            concurrency: Some(ConcurrencyReport {
                settled_on: 32,
                limit: Some(Limit::Saturated),
                tried: vec![(8, 1), (16, 2), (32, 4), (64, 4)],
            }),
            ..report
        });
        assert!(
            measured.contains("settled on 32 parts in flight (more stopped raising the rate"),
            "{measured}"
        );
    }
}
