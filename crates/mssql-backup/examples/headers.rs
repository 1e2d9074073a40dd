//! Prints what `RESTORE HEADERONLY` and `RESTORE FILELISTONLY` would say about a backup file,
//! then the verdict: whether ApsaraDB RDS for SQL Server can restore it.
//!
//! ```sh
//! cargo run -p mssql-backup --example headers -- SalesDb.bak [TARGET_RELEASE]
//! ```
//!
//! TARGET_RELEASE is the instance's SQL Server release (`2019`, `2022`, `2019_std_ha`...).
//! The file is read whole for brevity; a program that handles multi-GiB backups maps it
//! (e.g. with `memmap2`) and hands the mapping to `examine` in the same way.

use std::fmt::Display;
use std::process::ExitCode;

use mssql_backup::{BackupInfo, BackupType, FileType, Rules, TargetVersion, examine};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: headers FILE [TARGET_RELEASE]");
        return ExitCode::from(2);
    };
    let target = match args.next().map(|release| TargetVersion::parse(&release)) {
        None => None,
        Some(Ok(target)) => Some(target),
        Some(Err(error)) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("cannot read {path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let rules = Rules {
        target_version: target,
        ..Rules::default()
    };
    let report = examine(&bytes, &rules);
    if let Some(header) = &report.backup {
        print_headeronly(header);
        print_filelistonly(header);
    }
    println!("\nVerdict: {}", report.verdict.as_str());
    for finding in &report.findings {
        println!(
            "  {:?} [{}] {}",
            finding.severity, finding.code, finding.message
        );
        if !finding.fix.is_empty() {
            println!("      fix: {}", finding.fix);
        }
    }
    if report.verdict.is_refusal() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// The columns of `RESTORE HEADERONLY` this crate reads, under SQL Server's column names.
fn print_headeronly(header: &BackupInfo) {
    println!(
        "RESTORE HEADERONLY (first backup set of {})",
        header.backup_sets
    );
    let optional = |value: Option<String>| value.unwrap_or_else(|| "NULL".to_owned());
    let rows: [(&str, String); 24] = [
        ("BackupName", header.backup_name.clone()),
        ("BackupType", backup_type_code(header.backup_type)),
        (
            "BackupTypeDescription",
            backup_type_description(header.backup_type).to_owned(),
        ),
        ("Compressed", flag(header.compressed)),
        ("ServerName", header.server_name.clone()),
        ("DatabaseName", header.database_name.clone()),
        ("DatabaseVersion", header.database_version.to_string()),
        (
            "DatabaseCreationDate",
            optional(text(header.database_creation_date)),
        ),
        ("BackupSize", header.backup_size.to_string()),
        ("FirstLSN", optional(text(header.first_lsn))),
        ("LastLSN", optional(text(header.last_lsn))),
        ("CheckpointLSN", optional(text(header.checkpoint_lsn))),
        (
            "DatabaseBackupLSN",
            optional(text(header.database_backup_lsn)),
        ),
        ("BackupStartDate", optional(text(header.backup_start_date))),
        (
            "BackupFinishDate",
            optional(text(header.backup_finish_date)),
        ),
        ("CompatibilityLevel", header.compatibility_level.to_string()),
        (
            "SoftwareVersionMajor",
            header.software_version.major.to_string(),
        ),
        (
            "SoftwareVersionMinor",
            header.software_version.minor.to_string(),
        ),
        (
            "SoftwareVersionBuild",
            header.software_version.build.to_string(),
        ),
        ("HasBackupChecksums", flag(header.has_checksums)),
        (
            "DifferentialBaseLSN",
            optional(text(header.differential_base_lsn)),
        ),
        (
            "DifferentialBaseGUID",
            optional(text(header.differential_base_guid)),
        ),
        ("BackupSetGUID", optional(text(header.backup_set_guid))),
        (
            "CompressedBackupSize",
            optional(text(header.compressed_backup_size)),
        ),
    ];
    for (column, value) in rows {
        println!("  {column:<22} {value}");
    }
    if header.family_count > 1 {
        println!(
            "  (family {} of {}: a striped backup)",
            header.family_sequence, header.family_count
        );
    }
}

/// `RESTORE FILELISTONLY`: the database files a restore creates.
fn print_filelistonly(header: &BackupInfo) {
    println!("\nRESTORE FILELISTONLY");
    println!(
        "  {:<24} {:<4} {:>14}  PhysicalName",
        "LogicalName", "Type", "Size"
    );
    for file in &header.files {
        let kind = match file.file_type {
            FileType::Data => "D",
            FileType::Log => "L",
            FileType::Other => "?",
        };
        println!(
            "  {:<24} {:<4} {:>14}  {}",
            file.logical_name, kind, file.size, file.physical_name
        );
    }
}

fn text<T: Display>(value: Option<T>) -> Option<String> {
    value.map(|v| v.to_string())
}

fn flag(on: bool) -> String {
    u8::from(on).to_string()
}

/// HEADERONLY's numeric BackupType.
fn backup_type_code(kind: Option<BackupType>) -> String {
    let code = match kind {
        Some(BackupType::Full) => 1,
        Some(BackupType::Log) => 2,
        Some(BackupType::File) => 4,
        Some(BackupType::Differential) => 5,
        Some(BackupType::DifferentialFile) => 6,
        Some(BackupType::Partial) => 7,
        Some(BackupType::DifferentialPartial) => 8,
        None => return "NULL".to_owned(),
    };
    code.to_string()
}

/// HEADERONLY's BackupTypeDescription.
fn backup_type_description(kind: Option<BackupType>) -> &'static str {
    match kind {
        Some(BackupType::Full) => "Database",
        Some(BackupType::Log) => "Transaction Log",
        Some(BackupType::File) => "File or Filegroup",
        Some(BackupType::Differential) => "Database Differential",
        Some(BackupType::DifferentialFile) => "File Differential",
        Some(BackupType::Partial) => "Partial",
        Some(BackupType::DifferentialPartial) => "Partial Differential",
        None => "Unknown",
    }
}
