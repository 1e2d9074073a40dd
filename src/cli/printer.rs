//! Where output goes. Results go to stdout (text, or one JSON document / one JSON event per line
//! with `--json`); warnings, progress and logs go to stderr. Progress bars appear only when stderr
//! is a terminal, `--quiet` is off and `RUST_LOG` is unset, so piped output stays clean.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::args::GlobalArgs;

/// The output policy of one run.
#[derive(Debug, Clone)]
pub struct Printer {
    json: bool,
    quiet: bool,
    progress: bool,
    /// Whether any JSON went to stdout yet (shared by clones): a run that fails after its
    /// JSON answer must not append a second document.
    wrote_json: Arc<AtomicBool>,
}

impl Printer {
    /// The policy for these global flags and this terminal.
    pub fn new(global: &GlobalArgs) -> Self {
        let logging = std::env::var_os(crate::env_vars::RUST_LOG).is_some() || global.verbose > 0;
        Printer {
            json: global.json,
            quiet: global.quiet,
            progress: !global.quiet && !global.json && !logging && std::io::stderr().is_terminal(),
            wrote_json: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True when output must be JSON.
    pub fn json(&self) -> bool {
        self.json
    }

    /// True when progress bars may be drawn.
    pub fn progress_enabled(&self) -> bool {
        self.progress
    }

    /// Writes a line of the result to stdout.
    pub fn line(&self, text: impl std::fmt::Display) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")
    }

    /// True once any JSON went to stdout.
    pub fn wrote_json(&self) -> bool {
        self.wrote_json.load(Ordering::Relaxed)
    }

    /// Writes one JSON value as one line to stdout.
    pub fn json_line(&self, value: &impl serde::Serialize) -> std::io::Result<()> {
        self.wrote_json.store(true, Ordering::Relaxed);
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, value).map_err(std::io::Error::other)?;
        writeln!(out)
    }

    /// Writes a JSON value, pretty, to stdout (one document per run).
    pub fn json_document(&self, value: &impl serde::Serialize) -> std::io::Result<()> {
        self.wrote_json.store(true, Ordering::Relaxed);
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::other)?;
        writeln!(out)
    }

    /// Writes a note to stderr unless `--quiet`.
    pub fn note(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Writes a warning to stderr (even with `--quiet`: warnings are never hidden).
    pub fn warn(&self, text: impl std::fmt::Display) {
        eprintln!("warning: {text}");
    }

    /// A byte progress bar on stderr, hidden when progress is off (it still keeps its length
    /// and position, which `--json` progress events read).
    pub fn byte_bar(&self, total: u64) -> indicatif::ProgressBar {
        self.bar_with(
            total,
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        )
    }

    /// The bar of a `--follow` upload: its total is what is written so far, so it has no ETA;
    /// the prefix slot, after the counters, says whether it waits on the writer
    /// (`transfer::show_following`).
    pub fn following_bar(&self) -> indicatif::ProgressBar {
        self.bar_with(
            0,
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes} sent of {total_bytes} written so far {binary_bytes_per_sec} {msg}{prefix}",
        )
    }

    fn bar_with(&self, total: u64, template: &str) -> indicatif::ProgressBar {
        if !self.progress {
            return indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::hidden(),
            );
        }
        let bar = indicatif::ProgressBar::new(total);
        let style = indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    }
}
