//! `bak2rds synth`: write a structurally valid synthetic backup (one file per stripe), or with
//! `--chain` a restore chain of one database (full, differential, logs). `--write-rate` and
//! `--preallocate` write it as SQL Server does a long backup, for rehearsing `--follow`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cli::Status;
use crate::cli::args::{SynthArgs, SynthKind};
use crate::cli::printer::Printer;
use crate::units::{parse_rate, parse_size};
use mssql_backup::TargetVersion;
use mssql_backup::synth::{
    SynthChain, SynthDatabase, SynthKind as Kind, SynthSpec, write_synthetic, write_synthetic_file,
};

/// Runs `bak2rds synth`.
pub fn run(args: SynthArgs, printer: &Printer) -> anyhow::Result<Status> {
    let size = parse_size(&args.size).context("--size")?;
    let version = TargetVersion::parse(&args.version).context("--version")?;
    let stripes = u16::try_from(args.stripes)
        .ok()
        .filter(|&s| s >= 1)
        .context("--stripes must be between 1 and 65535")?;
    let kind = match args.kind {
        SynthKind::Full => Kind::Full,
        SynthKind::Diff => Kind::Differential,
        SynthKind::Log => Kind::Log,
    };
    let database = SynthDatabase::new(&args.database, version);
    if args.chain {
        return write_chain(&args, database, size, printer);
    }
    let spec = SynthSpec::single(database, kind, size);
    if !args.force {
        // The name may be a real backup's: never overwrite one without being told to.
        if let Some(existing) = (1..=stripes)
            .map(|family| family_path(&args.out, family, stripes))
            .find(|path| path.exists())
        {
            anyhow::bail!(
                "{} already exists; bak2rds synth does not overwrite a file (it may be a real \
                 backup). Choose another name, or pass --force to replace it.",
                existing.display()
            );
        }
    }
    let pacing = Pacing {
        rate: args
            .write_rate
            .as_deref()
            .map(parse_rate)
            .transpose()
            .context("--write-rate")?
            .filter(|&rate| rate > 0),
        preallocate: args.preallocate,
    };
    for family in 1..=stripes {
        let path = family_path(&args.out, family, stripes);
        let spec = spec.clone().family(family, stripes);
        let written = if pacing.is_plain() {
            write_synthetic_file(&path, &spec)
        } else {
            if pacing.preallocate {
                printer.note(format!(
                    "{}: set to its final size (zeros) first, filled in from the start",
                    path.display()
                ));
            }
            pacing.write(&path, &spec)
        }
        .with_context(|| format!("write {}", path.display()))?;
        printer.note(format!("wrote {} ({written} bytes)", path.display()));
    }
    Ok(Status::Done)
}

/// How `--write-rate` and `--preallocate` write a backup: like SQL Server, over time, into a
/// file that may be set to its final size first (also the demo's writer).
pub(super) struct Pacing {
    /// Bytes a second; `None`: as fast as the disk takes them.
    pub rate: Option<u64>,
    /// Set the file to (slightly more than) its final size first.
    pub preallocate: bool,
}

impl Pacing {
    fn is_plain(&self) -> bool {
        self.rate.is_none() && !self.preallocate
    }

    /// Writes `spec` to `path`; returns the bytes written (the file's final length).
    pub(super) fn write(&self, path: &Path, spec: &SynthSpec) -> std::io::Result<u64> {
        let file = std::fs::File::create(path)?;
        if self.preallocate {
            // SQL Server sets a compressed backup's file to its estimated size and cuts it at
            // the end; the estimate is a little high, so the tail stays zeros until then.
            let exact = write_synthetic(&mut std::io::sink(), spec)?;
            file.set_len(exact + exact / 16)?;
        }
        let paced = Paced::new(&file, self.rate);
        let mut out = std::io::BufWriter::with_capacity(1 << 20, paced);
        let written = write_synthetic(&mut out, spec)?;
        out.flush()?;
        drop(out);
        if self.preallocate {
            file.set_len(written)?;
        }
        file.sync_all()?;
        Ok(written)
    }
}

/// A writer that hands at most `rate` bytes a second to the file (no limit without a rate), in
/// pieces of a tenth of a second, so a reader sees the file grow steadily.
struct Paced<W> {
    inner: W,
    rate: Option<u64>,
    started: Instant,
    written: u64,
}

impl<W: Write> Paced<W> {
    fn new(inner: W, rate: Option<u64>) -> Self {
        Paced {
            inner,
            rate,
            started: Instant::now(),
            written: 0,
        }
    }
}

impl<W: Write> Write for Paced<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(rate) = self.rate else {
            return self.inner.write(buf);
        };
        let piece = usize::try_from(rate / 10)
            .unwrap_or(usize::MAX)
            .max(4096)
            .min(buf.len());
        let n = self.inner.write(&buf[..piece])?;
        self.written += n as u64;
        let due = Duration::from_secs_f64(self.written as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `--chain`: NAME_FULL.bak (`size`), NAME_DIFF.bak (a quarter of it) and NAME_LOG_k.trn (an
/// eighth each, at least 1 MiB) in the folder `args.out`, one restore chain by LSN.
fn write_chain(
    args: &SynthArgs,
    database: SynthDatabase,
    size: u64,
    printer: &Printer,
) -> anyhow::Result<Status> {
    let name = args.database.clone();
    let mut chain = SynthChain::new(database);
    let mut backups = vec![
        (format!("{name}_FULL.bak"), chain.full(size)),
        (
            format!("{name}_DIFF.bak"),
            chain.differential((size / 4).max(1 << 20)),
        ),
    ];
    for k in 1..=args.logs {
        backups.push((
            format!("{name}_LOG_{k}.trn"),
            chain.log((size / 8).max(1 << 20)),
        ));
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("create the folder {}", args.out.display()))?;
    if !args.force
        && let Some((existing, _)) = backups
            .iter()
            .find(|(file, _)| args.out.join(file).exists())
    {
        anyhow::bail!(
            "{} already exists; bak2rds synth does not overwrite a file (it may be a real \
             backup). Choose another folder, or pass --force to replace it.",
            args.out.join(existing).display()
        );
    }
    for (file, spec) in &backups {
        let path = args.out.join(file);
        let written = write_synthetic_file(&path, spec)
            .with_context(|| format!("write {}", path.display()))?;
        printer.note(format!("wrote {} ({written} bytes)", path.display()));
    }
    printer.note(format!(
        "`bak2rds inspect --chain {}` shows the restore order",
        args.out.display()
    ));
    Ok(Status::Done)
}

/// Family 1 goes to OUT; family N of a striped set to OUT's stem + `_N` + extension.
fn family_path(out: &Path, family: u16, stripes: u16) -> PathBuf {
    if family == 1 || stripes == 1 {
        return out.to_path_buf();
    }
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match out.extension() {
        Some(ext) => format!("{stem}_{family}.{}", ext.to_string_lossy()),
        None => format!("{stem}_{family}"),
    };
    out.with_file_name(name)
}
