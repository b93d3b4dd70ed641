//! The plan: what a release would change, action by action, each with its reason and the
//! precondition apply must find before acting.
//!
//! `diff` builds a plan from the manifest, the local inventory and what was observed, with
//! no I/O. `file` saves and loads plans as versioned, self-hashed JSON. A saved plan is the
//! contract between review and apply: apply does what it says and nothing else.

pub mod diff;
pub mod file;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Name of the plan format, first field of every plan file.
pub const FORMAT: &str = "release-plan";
/// Version of the plan format; bumped when a field changes meaning.
pub const VERSION: u32 = 1;

/// A reviewed, saveable description of a release's changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] for plans this build writes; others are refused.
    pub version: u32,
    /// The manifest's release id.
    pub release: String,
    /// When the plan was made. Apply refuses plans older than its limit.
    pub created_at: jiff::Timestamp,
    /// The manifest the plan was made from.
    pub manifest: ManifestRef,
    /// The account the plan's observations were made in; apply refuses any other.
    pub account_id: String,
    /// ARN of whoever made the plan (not a secret).
    pub planned_by: String,
    /// Destinations as the manifest defined them when planned.
    pub destinations: BTreeMap<String, DestinationRef>,
    /// Every object of the release and every other change, sorted by destination and key.
    /// Staged database backups are objects too, and come first in apply.
    pub actions: Vec<Action>,
    /// Database restores, in manifest order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<DatabaseAction>,
    /// Counts derived from `actions`, kept for readers of the JSON.
    pub summary: Summary,
    /// Hex SHA-256 of this plan's JSON with `digest` empty. Apply recomputes it and refuses a
    /// plan that was edited after it was made.
    #[serde(default)]
    pub digest: String,
}

/// Which manifest, at which commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRef {
    /// The manifest path as given on the command line.
    pub path: String,
    /// Hex SHA-256 of the manifest's bytes.
    pub digest: String,
    /// `HEAD` of the git repository holding the manifest, if it is in one.
    pub git_commit: Option<String>,
    /// Whether the manifest differed from that commit when planned.
    pub git_dirty: Option<bool>,
}

/// A destination as the plan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationRef {
    pub bucket: String,
    /// Normalised prefix: empty, or ending in exactly one `/`.
    pub prefix: String,
    pub expected_bucket_owner: String,
}

/// One thing the plan would do (or deliberately not do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub kind: ActionKind,
    /// Destination name in the manifest.
    pub destination: String,
    /// Full object key, prefix included.
    pub key: String,
    /// Why, in words, for reviewers.
    pub reason: String,
    /// What apply must find before acting. Enforced by S3 conditional requests.
    pub precondition: Precondition,
    /// The local file, for uploads and unchanged objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalFacts>,
    /// The stored object as observed, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteFacts>,
}

/// Kinds of action. Only `create`, `replace` and `delete` change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// `+` upload an object that does not exist.
    Create,
    /// `~` overwrite an object whose content differs.
    Replace,
    /// `-` delete an object the manifest no longer lists (policy `prune`).
    Delete,
    /// `=` the stored object already has the local content.
    Unchanged,
    /// `!` an object differs and policy forbids replacing it.
    Conflict,
    /// `!` a change policy stops: a protected key, or deletes past `max_delete`.
    Blocked,
}

impl ActionKind {
    /// The symbol shown in tables; colour never carries the meaning alone.
    pub fn symbol(self) -> char {
        match self {
            ActionKind::Create => '+',
            ActionKind::Replace => '~',
            ActionKind::Delete => '-',
            ActionKind::Unchanged => '=',
            ActionKind::Conflict | ActionKind::Blocked => '!',
        }
    }

    /// Whether apply would change something for this action.
    pub fn changes(self) -> bool {
        matches!(self, ActionKind::Create | ActionKind::Replace | ActionKind::Delete)
    }
}

/// What apply must find in S3 before it acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "if", rename_all = "kebab-case")]
pub enum Precondition {
    /// The key must not exist (`If-None-Match: *`).
    Absent,
    /// The object must still have this ETag (`If-Match`).
    Etag { etag: String },
    /// Nothing to check: the action changes nothing.
    None,
}

/// A local file as planned. Apply refuses to commit it if any of this changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalFacts {
    /// Path relative to the manifest's folder.
    pub path: String,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Full-object CRC64NVME, base64 as S3 writes it.
    pub crc64nvme: String,
    /// Hex SHA-256.
    pub sha256: String,
}

/// A stored object as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteFacts {
    pub size: u64,
    pub etag: String,
    /// Full-object CRC64NVME, base64, when the store reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    /// Hex SHA-256 from the object's metadata, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A database restore as planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseAction {
    pub kind: DatabaseKind,
    /// RDS DB instance identifier.
    pub instance: String,
    /// Name of the database to create.
    pub database: String,
    /// Why, in words, for reviewers.
    pub reason: String,
    /// The backup's files, in stripe order, with what their headers say.
    pub backup: Vec<BackupFacts>,
    /// Destination the backup is staged in.
    pub staging: String,
    /// Keys of the staged files; they carry the backup's digest.
    pub staged_keys: Vec<String>,
    /// What `rds_restore_database` is given: the staged object, or for a striped backup
    /// the common prefix followed by `*`.
    pub s3_arn: String,
    /// KMS key that encrypted the backup, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    /// The RDS task this plan resumes or found finished, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<i64>,
}

/// Kinds of database action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// `+` stage the backup (if not staged) and restore it.
    Restore,
    /// `~` a restore of this backup is in flight: wait for it.
    Resume,
    /// `=` restored from this backup already.
    Unchanged,
    /// `!` a database of that name exists and was not restored from this backup.
    Conflict,
    /// `=` a database of that name exists and `on_exists: skip` leaves it alone.
    Skip,
}

impl DatabaseKind {
    pub fn symbol(self) -> char {
        match self {
            DatabaseKind::Restore => '+',
            DatabaseKind::Resume => '~',
            DatabaseKind::Unchanged | DatabaseKind::Skip => '=',
            DatabaseKind::Conflict => '!',
        }
    }
}

/// One backup file as planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFacts {
    /// Path relative to the manifest's folder.
    pub path: String,
    pub size: u64,
    /// Base64 full-object CRC64NVME.
    pub crc64nvme: String,
    /// Hex SHA-256.
    pub sha256: String,
    /// `full`, `differential`, `copy-only` or `unknown`, as the header suggests.
    pub kind: String,
    pub compressed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
}

/// Counts of actions by kind, and bytes to send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub create_bytes: u64,
    pub replace: usize,
    pub replace_bytes: u64,
    pub delete: usize,
    pub unchanged: usize,
    pub conflict: usize,
    pub blocked: usize,
    /// Databases to restore (or whose restore is resumed).
    #[serde(default)]
    pub restore: usize,
}

impl Summary {
    pub fn of(actions: &[Action]) -> Summary {
        let mut summary = Summary::default();
        for action in actions {
            let bytes = action.local.as_ref().map_or(0, |l| l.size);
            match action.kind {
                ActionKind::Create => {
                    summary.create += 1;
                    summary.create_bytes += bytes;
                }
                ActionKind::Replace => {
                    summary.replace += 1;
                    summary.replace_bytes += bytes;
                }
                ActionKind::Delete => summary.delete += 1,
                ActionKind::Unchanged => summary.unchanged += 1,
                ActionKind::Conflict => summary.conflict += 1,
                ActionKind::Blocked => summary.blocked += 1,
            }
        }
        summary
    }

    /// Adds the database actions' counts.
    pub fn with_databases(mut self, databases: &[DatabaseAction]) -> Summary {
        for database in databases {
            match database.kind {
                DatabaseKind::Restore | DatabaseKind::Resume => self.restore += 1,
                DatabaseKind::Conflict => self.conflict += 1,
                DatabaseKind::Unchanged | DatabaseKind::Skip => {}
            }
        }
        self
    }

    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        self.create + self.replace + self.delete + self.restore > 0
    }
}
