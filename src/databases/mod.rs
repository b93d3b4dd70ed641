//! Database releases: `.bak` → staged in S3 → restored into RDS for SQL Server.
//!
//! In the pipeline:
//! 1. `backups` reads each backup's header (refusing files that are not backups, before
//!    anything is uploaded) and selects its files for staging;
//! 2. once fingerprinted, `stage` gives them keys that carry the backup's digest, so a staged
//!    object and an RDS task's S3 ARN name the exact backup;
//! 3. `observe` asks RDS and SQL Server what exists and `decide` (pure) turns that into a
//!    plan action;
//! 4. `restore` (during apply, after staging) starts or rejoins the native restore task and
//!    follows it to the end.

pub mod restore;

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::inventory::bak::{self, BackupHeader, BackupKind};
use crate::inventory::fingerprint::LocalFile;
use crate::inventory::select::{Selected, normalise_prefix};
use crate::manifest::Loaded;
use crate::manifest::types::{Database, OnExists, Target};
use crate::plan::{BackupFacts, DatabaseAction, DatabaseKind};
use crate::providers::rds::{self, Instance, Login, RdsError};
use crate::providers::sqlserver::{self, SqlError, Task, Trust};

/// One database's backup, selected for staging.
#[derive(Debug, Clone)]
pub struct Backup {
    /// Index in the manifest's `databases`.
    pub index: usize,
    pub headers: Vec<BackupHeader>,
    /// The files; their keys are set by [`stage`] once their digests are known.
    pub files: Vec<Selected>,
}

/// A backup with digests and staging keys.
#[derive(Debug, Clone)]
pub struct Staged {
    pub index: usize,
    pub headers: Vec<BackupHeader>,
    pub files: Vec<LocalFile>,
    pub arn: String,
}

/// Why a database part of the release cannot be planned or applied.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("database `{database}`: {source}")]
    Backup { database: String, source: Box<bak::BakError> },
    #[error("database `{database}` on `{instance}`: {source}")]
    Rds { database: String, instance: String, source: RdsError },
    #[error("database `{database}` on `{instance}`: {source}")]
    Sql { database: String, instance: String, source: SqlError },
    #[error("database `{database}`: cannot read CA bundle `{path}`: {source}")]
    CaBundle { database: String, path: String, source: std::io::Error },
}

impl DatabaseError {
    pub fn hint(&self) -> Option<String> {
        match self {
            DatabaseError::Backup { source, .. } => source.hint().map(str::to_owned),
            DatabaseError::Rds { source, .. } => source.hint(),
            DatabaseError::Sql { source, .. } => source.hint(),
            DatabaseError::CaBundle { .. } => Some("check `target.ca_bundle`".into()),
        }
    }
}

/// Reads every backup's header and selects its files (keys not yet set).
pub fn backups(loaded: &Loaded) -> Result<Vec<Backup>, DatabaseError> {
    let mut backups = Vec::new();
    for (index, database) in loaded.manifest.databases.iter().enumerate() {
        let paths: Vec<_> = database.backup.files().iter().map(|f| loaded.root.join(f)).collect();
        let headers = bak::read_striped(&paths).map_err(|source| DatabaseError::Backup {
            database: name(database).to_owned(),
            source: Box::new(source),
        })?;
        let files = database
            .backup
            .files()
            .into_iter()
            .zip(paths)
            .map(|(relative, path)| Selected {
                set: usize::MAX,
                path,
                relative: relative.to_owned(),
                destination: database.staging.clone(),
                key: String::new(),
            })
            .collect();
        backups.push(Backup { index, headers, files });
    }
    Ok(backups)
}

/// Gives fingerprinted backup files their staging keys:
/// `<prefix><release>/backups/<digest>/<file name>`, where the digest covers every stripe.
pub fn stage(loaded: &Loaded, backup: Backup, mut files: Vec<LocalFile>) -> Staged {
    let database = &loaded.manifest.databases[backup.index];
    let (bucket, prefix) = loaded
        .manifest
        .destinations
        .get(&database.staging)
        .map(|d| (d.bucket.clone(), normalise_prefix(&d.prefix)))
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    for file in &files {
        hasher.update(file.digests.sha256);
    }
    let digest = hex::encode(&hasher.finalize()[..8]);
    let release = &loaded.manifest.release;
    for file in &mut files {
        let name = Path::new(&file.selected.relative)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        file.selected.key = format!("{prefix}{release}/backups/{digest}/{name}");
    }
    let keys: Vec<&str> = files.iter().map(|f| f.selected.key.as_str()).collect();
    let arn = match keys.as_slice() {
        [single] => format!("arn:aws:s3:::{bucket}/{single}"),
        _ => format!("arn:aws:s3:::{bucket}/{}*", common_prefix(&keys)),
    };
    Staged { index: backup.index, headers: backup.headers, files, arn }
}

fn common_prefix<'a>(keys: &[&'a str]) -> &'a str {
    let Some(first) = keys.first() else { return "" };
    let mut length = first.len();
    for key in &keys[1..] {
        length = first.bytes().zip(key.bytes()).take(length).take_while(|(a, b)| a == b).count();
    }
    while !first.is_char_boundary(length) {
        length -= 1;
    }
    &first[..length]
}

/// What exists for one database target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// `sys.databases` state, when the database exists.
    pub state: Option<String>,
    /// RDS restore tasks for that name.
    pub tasks: Vec<Task>,
}

/// A connected target.
pub struct Connection {
    pub instance: Instance,
    pub session: sqlserver::Session,
}

/// Finds the instance, reads the login, and connects.
pub async fn connect(
    config: &aws_config::SdkConfig,
    loaded: &Loaded,
    database: &Database,
) -> Result<Connection, DatabaseError> {
    let Target::RdsSqlServer { instance, login, ca_bundle, insecure_skip_verify, .. } =
        &database.target;
    let rds_error = |source| DatabaseError::Rds {
        database: name(database).to_owned(),
        instance: instance.clone(),
        source,
    };
    let found = rds::instance(config, instance).await.map_err(rds_error)?;
    let login: Login = rds::login(config, login, &found).await.map_err(rds_error)?;
    let trust = if *insecure_skip_verify {
        crate::render::warning(&format!(
            "TLS certificate verification is off for `{instance}` (`insecure_skip_verify`)"
        ));
        Trust::Insecure
    } else if let Some(path) = ca_bundle {
        let pem =
            std::fs::read(loaded.root.join(path)).map_err(|source| DatabaseError::CaBundle {
                database: name(database).to_owned(),
                path: path.clone(),
                source,
            })?;
        Trust::Bundle(pem)
    } else {
        Trust::System
    };
    let session = sqlserver::Session::connect(&found, &login, &trust)
        .await
        .map_err(|source| sql_error(database, source))?;
    Ok(Connection { instance: found, session })
}

pub fn sql_error(database: &Database, source: SqlError) -> DatabaseError {
    let Target::RdsSqlServer { instance, .. } = &database.target;
    DatabaseError::Sql { database: name(database).to_owned(), instance: instance.clone(), source }
}

/// What exists for `database` on its instance.
pub async fn observe(
    connection: &mut Connection,
    database: &Database,
) -> Result<Observed, DatabaseError> {
    let target = name(database);
    let state =
        connection.session.database_state(target).await.map_err(|e| sql_error(database, e))?;
    let tasks = connection.session.tasks(target).await.map_err(|e| sql_error(database, e))?;
    Ok(Observed { state, tasks })
}

/// The plan action for one database, from what was observed. Pure.
pub fn decide(database: &Database, staged: &Staged, observed: &Observed) -> DatabaseAction {
    let Target::RdsSqlServer { instance, kms_key_arn, .. } = &database.target;
    let ours = |task: &&Task| task.s3_arn.as_deref() == Some(staged.arn.as_str());
    let in_flight = observed.tasks.iter().filter(ours).find(|t| t.in_flight());
    let succeeded = observed.tasks.iter().filter(ours).rfind(|t| t.lifecycle == "SUCCESS");
    let (kind, reason, task_id) = match (&observed.state, in_flight, succeeded) {
        (_, Some(task), _) => (
            DatabaseKind::Resume,
            format!(
                "restore task {} of this backup is {}; apply waits for it",
                task.id, task.lifecycle
            ),
            Some(task.id),
        ),
        (Some(state), None, Some(task)) => (
            DatabaseKind::Unchanged,
            format!("restored from this backup by task {} ({state})", task.id),
            Some(task.id),
        ),
        (Some(state), None, None) if database.on_exists == OnExists::Skip => (
            DatabaseKind::Skip,
            format!("exists ({state}) and was not restored from this backup; `on_exists: skip`"),
            None,
        ),
        (Some(state), None, None) => (
            DatabaseKind::Conflict,
            format!(
                "a database of that name exists ({state}) and was not restored from this \
                 backup; `on_exists: fail`"
            ),
            None,
        ),
        (None, None, _) => (DatabaseKind::Restore, "not on the instance".to_owned(), None),
    };
    DatabaseAction {
        kind,
        instance: instance.clone(),
        database: name(database).to_owned(),
        reason,
        backup: staged.files.iter().zip(&staged.headers).map(|(f, h)| facts(f, h)).collect(),
        staging: database.staging.clone(),
        staged_keys: staged.files.iter().map(|f| f.selected.key.clone()).collect(),
        s3_arn: staged.arn.clone(),
        kms_key_arn: kms_key_arn.clone(),
        task_id,
    }
}

fn facts(file: &LocalFile, header: &BackupHeader) -> BackupFacts {
    BackupFacts {
        path: file.selected.relative.clone(),
        size: file.stamp.size,
        crc64nvme: file.digests.crc64nvme_base64(),
        sha256: file.digests.sha256_hex(),
        kind: match header.backup_kind {
            BackupKind::Full => "full",
            BackupKind::Differential => "differential",
            BackupKind::CopyOnly => "copy-only",
            BackupKind::Unknown => "unknown",
        }
        .to_owned(),
        compressed: header.compressed,
        media_name: header.media_name.clone(),
        written_at: header.written_at.map(|d| d.to_string()),
        software_version: header.software_version.map(|v| v.to_string()),
    }
}

/// The name of the database a target creates.
pub fn name(database: &Database) -> &str {
    let Target::RdsSqlServer { database, .. } = &database.target;
    database
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn striped_backups_share_the_longest_common_prefix() {
        let keys = ["p/r/backups/ab/db_1.bak", "p/r/backups/ab/db_2.bak"];
        assert_eq!(common_prefix(&keys), "p/r/backups/ab/db_");
    }
}
