//! Receipts: the record of a finished release, written last (locally and to S3), whose
//! presence marks the release complete, and against which `release verify` checks it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::observe::RESERVED;
use crate::plan::ManifestRef;

pub const FORMAT: &str = "release-receipt";
pub const VERSION: u32 = 1;

/// What a release did and left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Always [`FORMAT`].
    pub format: String,
    pub version: u32,
    pub release: String,
    /// When the last action finished.
    pub completed_at: jiff::Timestamp,
    /// Caller identity ARN of whoever applied the plan.
    pub applied_by: String,
    pub account_id: String,
    /// The manifest the plan was made from.
    pub manifest: ManifestRef,
    /// Digest of the plan that was applied.
    pub plan_digest: String,
    /// Every object of the release as it now stands, sorted by bucket and key.
    pub objects: Vec<ReceiptObject>,
    /// Objects the release deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<Deleted>,
    /// Databases the release restored (or found restored from its backup).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<RestoredDatabase>,
}

/// One database of the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredDatabase {
    pub instance: String,
    pub database: String,
    /// The staged backup the database was restored from.
    pub s3_arn: String,
    pub staged_keys: Vec<String>,
    /// Hex SHA-256 of each backup file, in stripe order.
    pub backup_sha256: Vec<String>,
    /// The RDS restore task.
    pub task_id: Option<i64>,
    /// `sys.databases` state when the release finished (`ONLINE`).
    pub state: String,
    /// When this apply saw the restore finished.
    pub finished_at: jiff::Timestamp,
    /// Whether this apply started the restore.
    pub restored_now: bool,
}

/// One object of the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptObject {
    pub destination: String,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Base64 full-object CRC64NVME.
    pub crc64nvme: String,
    pub etag: String,
    /// Where the bucket keeps versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Whether this apply wrote it (false: it already held the planned content).
    pub written: bool,
}

/// An object the release deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub destination: String,
    pub bucket: String,
    pub key: String,
}

/// Where a receipt is kept for good under a destination prefix: named by its time (to the
/// millisecond) and its plan, so no two applies share a key.
pub fn receipt_key(prefix: &str, receipt: &Receipt) -> String {
    let stamp = receipt.completed_at.strftime("%Y%m%dT%H%M%S%.3fZ");
    let plan: String = receipt.plan_digest.chars().take(12).collect();
    format!("{prefix}{RESERVED}{}/receipts/{stamp}-{plan}.json", receipt.release)
}

/// The key of the latest receipt, overwritten by each complete apply.
pub fn latest_key(prefix: &str, release: &str) -> String {
    format!("{prefix}{RESERVED}{release}/receipt.json")
}

/// The local copy's path under the manifest's `.release/` folder.
pub fn local_path(state_dir: &Path, receipt: &Receipt) -> PathBuf {
    let stamp = receipt.completed_at.strftime("%Y%m%dT%H%M%S%.3fZ");
    state_dir.join("receipts").join(format!("{}-{stamp}.json", receipt.release))
}

/// The receipt as pretty JSON with a trailing newline.
pub fn to_json(receipt: &Receipt) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(receipt).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
