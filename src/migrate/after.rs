//! After the restore, what Alibaba's migration guide says comes next, done or told: the source's
//! logins do not come along; the backup left in OSS costs money and is a copy of the data
//! (deleted with `--delete-after`, else named with the way to delete it); and RDS's own
//! automatic backup, whose first run on a large database takes hours.

use serde::Serialize;

use super::{Clients, MigrateError, UploadedObject};
use bak2rds_cloud::rds::backup_policy;

/// The closing notes of a migration whose database is online.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AfterRestore {
    /// The source's logins and what to do about them.
    pub accounts: String,
    /// Objects deleted (`--delete-after`), this run or an earlier one.
    pub deleted: Vec<String>,
    /// Bytes of OSS storage the deletion freed.
    pub freed_bytes: u64,
    /// Objects left in OSS.
    pub left: Vec<String>,
    /// Their bytes.
    pub left_bytes: u64,
    /// How to delete what is left, when anything is.
    pub left_fix: Option<String>,
    /// When RDS's next automatic backup of the instance runs, if the policy says.
    pub next_backup: Option<String>,
    /// What did not go as asked (an object not deleted, and why).
    pub notes: Vec<String>,
}

/// What a migrated database needs that the backup does not carry.
pub(super) fn accounts_note(instance_id: &str, database: &str) -> String {
    format!(
        "logins of the source server do not come along: database {database}'s users have no \
         login on RDS. Create accounts on instance {instance_id} and grant them {database} (RDS \
         console: Accounts → Create Account; or the CreateAccount and GrantAccountPrivilege \
         API calls)"
    )
}

/// Deletes the objects this migration uploaded once its database is online (`delete`), each
/// recorded as deleted (`record_deleted`, which saves the state) before the next, so a rerun
/// after a crash neither loses the outcome nor deletes twice. Never deleted: an object found
/// already in OSS (not sent by this migration), and one that no longer holds what was sent (a
/// newer backup uploaded under the same key since). Nothing here fails the migration: the
/// database is online; a deletion that fails leaves the object listed, with the reason.
pub(super) async fn clean_up(
    clients: &Clients,
    objects: Vec<UploadedObject>,
    delete: bool,
    record_deleted: &mut (dyn FnMut(&UploadedObject) -> Result<(), MigrateError> + Send),
) -> AfterRestore {
    let mut after = AfterRestore::default();
    let mut kept_foreign = false;
    for mut object in objects {
        if delete && object.sent && !object.deleted {
            match delete_if_ours(clients, &object).await {
                Ok(true) => {
                    object.deleted = true;
                    if let Err(error) = record_deleted(&object) {
                        after.notes.push(format!(
                            "{} was deleted but the state file could not record it: {error}",
                            object.name()
                        ));
                    }
                }
                Ok(false) => {
                    kept_foreign = true;
                    after.notes.push(format!(
                        "{} was not deleted: it no longer holds what this migration uploaded \
                         (another upload replaced it)",
                        object.name()
                    ));
                }
                Err(error) => after.notes.push(format!(
                    "{} could not be deleted ({error}); the migration itself is done",
                    object.name()
                )),
            }
        }
        if object.deleted {
            after.deleted.push(object.name());
            after.freed_bytes = after.freed_bytes.saturating_add(object.size);
        } else {
            kept_foreign |= !object.sent;
            after.left.push(object.name());
            after.left_bytes = after.left_bytes.saturating_add(object.size);
        }
    }
    if !after.left.is_empty() {
        after.left_fix = Some(if delete || kept_foreign {
            "objects that were in OSS before this migration's upload, or were replaced since, \
             are never deleted by bak2rds: delete them in the OSS console or with `ossutil rm` \
             once you no longer need them"
                .to_owned()
        } else {
            "rerun the same command with --delete-after to delete them (the database is \
             online: nothing is restored again)"
                .to_owned()
        });
    }
    after
}

/// Deletes `object` if the key still holds the bytes this migration sent (same size and
/// CRC-64); `Ok(false)` when it holds something else, or nothing (then nothing is left either).
async fn delete_if_ours(
    clients: &Clients,
    object: &UploadedObject,
) -> Result<bool, bak2rds_cloud::oss::OssError> {
    let Some(meta) = clients.oss.head_object(&object.key).await? else {
        return Ok(true); // already gone: nothing to delete, nothing left
    };
    if meta.size != object.size || meta.crc64 != Some(object.crc64) {
        return Ok(false);
    }
    clients.oss.delete_object(&object.key).await?;
    Ok(true)
}

/// When RDS's next automatic backup of the instance runs (DescribeBackupPolicy); `None` when the
/// policy cannot be read or names no day.
pub(super) async fn next_backup_note(clients: &Clients, instance_id: &str) -> Option<String> {
    let policy = clients
        .rds
        .describe_backup_policy(instance_id)
        .await
        .inspect_err(|error| tracing::debug!(%error, "no backup policy"))
        .ok()?;
    let next = if policy.preferred_next_backup_time.is_empty() {
        backup_policy::next_backup(
            &policy.preferred_backup_time,
            &policy.preferred_backup_period,
            time::OffsetDateTime::now_utc(),
        )
        .map(backup_policy::minutes_text)?
    } else {
        policy.preferred_next_backup_time.clone()
    };
    Some(format!(
        "RDS's next automatic backup of instance {instance_id} starts at {next} (UTC; window \
         {} on {}): the first backup of a large database takes hours, and it is the first \
         restore point RDS has of it",
        policy.preferred_backup_time, policy.preferred_backup_period
    ))
}
