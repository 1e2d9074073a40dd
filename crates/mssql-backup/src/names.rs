//! Names RDS sees: the OSS object key of the backup and the database name to restore as.
//!
//! Alibaba's migration guide says RDS refuses backup objects whose name holds special
//! characters (it lists `!@#$%^&*()_+-=`) or whose extension is not `.bak`; its own tools name
//! files `DB_FULL_20180518153544.bak`, so underscores are safe. bak2rds chooses the key, so it
//! derives one from letters, digits and underscores, plus `.bak` (`.diff`, `.trn` for the
//! differential and log backups of an incremental migration).

use super::BackupType;

/// The extension RDS requires on the backup object.
pub const BAK_EXTENSION: &str = ".bak";
/// System databases SQL Server owns, and RDS's own management database.
const RESERVED_DATABASES: &[&str] = &["master", "msdb", "tempdb", "model", "rdscore"];
/// RDS's rule for a database name (the `DBName` of RDS's CreateDatabase). CreateMigrateTask
/// documents no rule of its own; a name outside this one is refused before the upload rather
/// than risked on a task that runs for hours.
pub const DATABASE_NAME_RULE: &str = "RDS database names are 2 to 64 characters: letters, digits, underscores (_) and hyphens (-), starting with a letter and ending with a letter or digit (RDS CreateDatabase, DBName)";

/// The OSS object key bak2rds uses for a local full backup: see [`object_key_for_backup`].
pub fn object_key_for(local_file_name: &str) -> String {
    object_key_for_backup(local_file_name, BackupType::Full)
}

/// The extension RDS expects on an object of this backup type (rds-api.md §1.1: `.bak` full,
/// `.diff` differential, `.trn` log).
pub fn extension_for(backup_type: BackupType) -> &'static str {
    match backup_type {
        BackupType::Differential => ".diff",
        BackupType::Log => ".trn",
        _ => BAK_EXTENSION,
    }
}

/// The OSS object key for a local backup file of `backup_type`: its name without directory and
/// backup extension (`.bak`, `.diff`, `.trn`, `.log`), each run of characters other than ASCII
/// letters, digits and underscores replaced by one `_` (dropped at the ends), then the
/// extension RDS expects for the type. A name that is already safe keeps its form
/// (`DB_FULL_20180518153544.bak` stays as it is); an empty result becomes `backup`.
pub fn object_key_for_backup(local_file_name: &str, backup_type: BackupType) -> String {
    let extension = extension_for(backup_type);
    let base = local_file_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(local_file_name);
    let stem = strip_backup_extension(base);
    let is_safe = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut key = String::with_capacity(stem.len() + extension.len());
    let mut in_replaced_run = false;
    for c in stem.chars() {
        if is_safe(c) {
            key.push(c);
            in_replaced_run = false;
        } else if !in_replaced_run {
            key.push('_');
            in_replaced_run = true;
        }
    }
    // Replacement underscores at the ends carry no meaning: drop them.
    if stem.starts_with(|c: char| !is_safe(c)) {
        key.remove(0);
    }
    if in_replaced_run {
        key.pop();
    }
    if key.chars().all(|c| c == '_') {
        key = "backup".to_owned();
    }
    key.push_str(extension);
    key
}

/// `base` without a trailing backup extension, whatever its case.
fn strip_backup_extension(base: &str) -> &str {
    for extension in [BAK_EXTENSION, ".diff", ".trn", ".log"] {
        let Some(cut) = base.len().checked_sub(extension.len()) else {
            continue;
        };
        if base
            .get(cut..)
            .is_some_and(|e| e.eq_ignore_ascii_case(extension))
        {
            return base.get(..cut).unwrap_or(base);
        }
    }
    base
}

/// An object-key prefix as a folder: no leading `/`, one trailing `/` unless empty.
pub fn normal_key_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_start_matches('/');
    if trimmed.is_empty() || trimmed.ends_with('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    }
}

/// Why a key prefix cannot be used, or `None` when it can: `OssObjectPositions` is
/// `endpoint:bucket:key`, so a `:` makes it ambiguous (rds-api.md §1.1), and RDS refuses the
/// special characters of [`object_key_for`]'s note.
pub fn key_prefix_problem(prefix: &str) -> Option<String> {
    let bad = prefix.chars().find(|c| {
        c.is_control()
            || matches!(
                c,
                ':' | '\\' | '!' | '@' | '#' | '$' | '%' | '^' | '&' | '*'
            )
    })?;
    Some(format!(
        "the key prefix {prefix:?} contains {bad:?}, which RDS cannot take in an object position; \
         use letters, digits, '_', '-', '.' and '/'"
    ))
}

/// Why RDS would refuse `key` as the object of a `backup_type` backup, or `None` when it takes
/// it: the folders by [`key_prefix_problem`], and the name must be what [`object_key_for_backup`]
/// makes of it (letters, digits and underscores, with the extension of the type: RDS answers
/// `IncorrectFileExtension` otherwise, rds-api.md §1.1).
pub fn object_key_problem(key: &str, backup_type: BackupType) -> Option<String> {
    let (prefix, name) = key.rsplit_once('/').map_or(("", key), |(p, n)| (p, n));
    if let Some(problem) = key_prefix_problem(prefix) {
        return Some(problem);
    }
    let wanted = object_key_for_backup(name, backup_type);
    (wanted != name).then(|| {
        format!(
            "RDS refuses the object name {name:?} for a {backup_type} backup: it must be letters, \
             digits and underscores with the extension {}, such as {wanted:?}",
            extension_for(backup_type)
        )
    })
}

/// Why a database name cannot be used on RDS, or `None` when it can: a reserved name, or one
/// outside [`DATABASE_NAME_RULE`].
pub fn database_name_problem(name: &str) -> Option<String> {
    if RESERVED_DATABASES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name.trim()))
    {
        return Some(format!(
            "{name:?} is a system database name (master, msdb, tempdb, model, rdscore are reserved)"
        ));
    }
    let breaks = rule_broken_by(name)?;
    Some(format!("{name:?} has {breaks}; {DATABASE_NAME_RULE}"))
}

/// What in `name` breaks [`DATABASE_NAME_RULE`].
fn rule_broken_by(name: &str) -> Option<String> {
    let length = name.chars().count();
    if !(2..=64).contains(&length) {
        return Some(format!("{length} characters"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        return Some(format!("the character {bad:?}"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Some("a first character that is not a letter".into());
    }
    if !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("a last character that is neither a letter nor a digit".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_are_judged_by_the_backup_type() {
        assert_eq!(
            object_key_problem("dir/Sales_FULL.bak", BackupType::Full),
            None
        );
        assert_eq!(
            object_key_problem("SalesDb.diff", BackupType::Differential),
            None
        );
        assert_eq!(
            object_key_problem("logs/SalesDb_1.trn", BackupType::Log),
            None
        );
        let odd = object_key_problem("we ird/na me!.txt", BackupType::Full).unwrap();
        assert!(odd.contains("\"na_me_txt.bak\""), "{odd}");
        let wrong_type = object_key_problem("SalesDb.bak", BackupType::Log).unwrap();
        assert!(wrong_type.contains(".trn"), "{wrong_type}");
        assert!(object_key_problem("a:b/x.bak", BackupType::Full).is_some());
    }

    #[test]
    fn keys_keep_letters_digits_underscores_and_end_in_bak() {
        assert_eq!(
            object_key_for("DB_FULL_20180518153544.bak"),
            "DB_FULL_20180518153544.bak"
        );
        assert_eq!(
            object_key_for("/x/y/My Db-2024 (copy).BAK"),
            "My_Db_2024_copy.bak"
        );
        assert_eq!(object_key_for("log.trn"), "log.bak");
        assert_eq!(object_key_for("数据.bak"), "backup.bak");
        assert_eq!(object_key_for("C:\\dir\\a+b.bak"), "a_b.bak");
        assert_eq!(object_key_for("x__y.bak"), "x__y.bak");
        assert_eq!(object_key_for("-_x.bak"), "_x.bak");
    }

    #[test]
    fn keys_of_differentials_and_logs_carry_the_extension_rds_expects() {
        use BackupType::{Differential, Full, Log};
        assert_eq!(
            object_key_for_backup("d/S_DIFF_1.bak", Differential),
            "S_DIFF_1.diff"
        );
        assert_eq!(object_key_for_backup("S_LOG_1.TRN", Log), "S_LOG_1.trn");
        assert_eq!(object_key_for_backup("S log.log", Log), "S_log.trn");
        assert_eq!(object_key_for_backup("x.diff", Full), "x.bak");
        assert_eq!(object_key_for_backup(".trn", Log), "backup.trn");
    }

    #[test]
    fn key_prefixes_are_folders_without_separators_rds_cannot_take() {
        assert_eq!(normal_key_prefix(""), "");
        assert_eq!(normal_key_prefix("/a/b"), "a/b/");
        assert_eq!(normal_key_prefix("a/"), "a/");
        assert!(key_prefix_problem("mig/2026-11/").is_none());
        assert!(key_prefix_problem("mig:x/").is_some());
        assert!(key_prefix_problem("a@b/").is_some());
    }

    #[test]
    fn refuses_system_and_unusable_database_names() {
        assert!(database_name_problem("Sales").is_none());
        assert!(database_name_problem("MSDB").is_some());
        assert!(database_name_problem("rdscore").is_some());
        for good in ["Sales", "sales_2024", "a1", "Sales-EU", &"x".repeat(64)] {
            assert_eq!(database_name_problem(good), None, "{good}");
        }
        for (bad, problem) in [
            ("my db", "' '"),
            ("a;drop", "';'"),
            ("é数据库", "'é'"),
            ("x", "1 characters"),
            (&"y".repeat(70), "70 characters"),
            ("1sales", "first character"),
            ("sales_", "last character"),
            ("Sales.DB", "'.'"),
        ] {
            let found = database_name_problem(bad).unwrap_or_default();
            assert!(found.contains(problem), "{bad}: {found}");
            assert!(found.contains("CreateDatabase"), "cites the rule: {found}");
        }
        assert!(database_name_problem("").is_some());
        assert!(database_name_problem("a]b").is_some());
        assert!(database_name_problem(&"x".repeat(129)).is_some());
    }
}
