//! The manifest's types: what a release is, as written in `release.yaml`.
//!
//! These types are the single source of truth for the manifest format. The JSON Schema in
//! `schemas/release.schema.json` is generated from them, and unknown keys are refused
//! everywhere so that a misspelt key is an error rather than a silently ignored setting.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One release: the files and databases that go into the Trusted Research Environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "release manifest")]
pub struct Manifest {
    /// Stable id of the release. Used in object keys, receipts, locks and AWS session names,
    /// so it may hold only letters, digits, `.`, `_` and `-` (at most 64 characters).
    pub release: String,
    /// Free text saying what the release is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The ticket or request that asked for this release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Which AWS account the release goes to and how to reach it.
    pub aws: Aws,
    /// Named S3 targets that files and database backups are written to.
    pub destinations: BTreeMap<String, Destination>,
    /// Local files and where they land.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileSet>,
    /// SQL Server backups restored into databases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<Database>,
    /// What the release may replace or delete.
    #[serde(default)]
    pub policy: Policy,
}

/// The AWS account and the way credentials are found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Aws {
    /// Profile in the AWS config files (for example an IAM Identity Center profile).
    /// When absent, the standard credential chain decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Region of the buckets and database instances, such as `eu-west-2`.
    pub region: String,
    /// Role to assume for the release, on top of the profile's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// External id required by the role's trust policy, if any. Not a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// How long the assumed role's session lasts, in seconds (900 to 43200; STS's default of
    /// 3600 when absent). The role's maximum session duration must allow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 900, max = 43200))]
    pub session_duration_seconds: Option<u32>,
    /// The 12-digit account id the release must go to. Every run checks the caller's
    /// identity against it before touching anything.
    pub account_id: String,
    /// Endpoint of an S3-compatible store, for local testing or non-AWS stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Address buckets in the path (`endpoint/bucket/key`) rather than the host name.
    /// Defaults to true when `endpoint_url` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_path_style: Option<bool>,
    /// Accept long-lived access keys (no session token). Discouraged: a warning is printed
    /// on every run when they are used.
    #[serde(default)]
    pub allow_static_keys: bool,
}

/// A named S3 target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix under which everything for this destination goes. A trailing `/` is added
    /// when missing.
    #[serde(default)]
    pub prefix: String,
    /// Account that must own the bucket; S3 refuses requests when it does not.
    /// Defaults to `aws.account_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_bucket_owner: Option<String>,
    /// Server-side encryption of written objects.
    #[serde(default)]
    pub encryption: Encryption,
    /// Storage class of written objects; the bucket's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<StorageClass>,
    /// How integrity checksums are sent to this store.
    #[serde(default)]
    pub checksum: ChecksumSettings,
}

/// Server-side encryption.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "mode", deny_unknown_fields)]
pub enum Encryption {
    /// Keys managed by S3 (AES-256).
    #[default]
    #[serde(rename = "sse-s3")]
    SseS3,
    /// A KMS key.
    #[serde(rename = "sse-kms")]
    SseKms {
        /// Key id, key ARN or alias (`alias/name`).
        kms_key_id: String,
    },
}

/// S3 storage classes a release may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    Standard,
    StandardIa,
    OnezoneIa,
    IntelligentTiering,
    GlacierIr,
}

impl StorageClass {
    /// The name S3 uses for this class.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::OnezoneIa => "ONEZONE_IA",
            StorageClass::IntelligentTiering => "INTELLIGENT_TIERING",
            StorageClass::GlacierIr => "GLACIER_IR",
        }
    }
}

/// Checksum behaviour towards one store. Content is always compared by the full-object
/// CRC64NVME computed locally; these settings only say what is sent on uploads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecksumSettings {
    /// Checksum algorithm sent with uploads so the store rejects corrupted bytes.
    #[serde(default)]
    pub algorithm: ChecksumAlgorithm,
    /// Send the checksum on uploads. Turn off for S3-compatible stores that reject the
    /// newer checksum headers.
    #[serde(default = "default_true")]
    pub send: bool,
}

impl Default for ChecksumSettings {
    fn default() -> Self {
        ChecksumSettings { algorithm: ChecksumAlgorithm::default(), send: true }
    }
}

/// Checksum algorithms understood by S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    #[default]
    Crc64nvme,
    Crc32c,
    Crc32,
    Sha256,
}

/// A group of local files and where they land.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSet {
    /// A file, a folder (everything below it) or a glob such as `extract/**/*.csv`,
    /// relative to the manifest's folder.
    pub source: String,
    /// Globs, relative to the manifest's folder, of files to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Name of the destination the files go to.
    pub destination: String,
    /// Key layout under the destination prefix. Placeholders: `{path}` (the path relative
    /// to the source's folder), `{name}`, `{stem}`, `{ext}`, `{dir}` and `{release}`.
    #[serde(default = "default_key_template")]
    pub key: String,
    /// Content type of the objects; guessed from the extension when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A SQL Server backup restored into a database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// The `.bak` file, or the files of a striped backup (at most 10), relative to the
    /// manifest's folder.
    pub backup: Backup,
    /// Name of the destination where the backup is staged for the restore.
    pub staging: String,
    /// Where the backup is restored.
    pub target: Target,
    /// What to do when a database of that name exists and was not restored by this release.
    #[serde(default)]
    pub on_exists: OnExists,
}

/// One backup file or a striped set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Backup {
    File(String),
    Striped(Vec<String>),
}

impl Backup {
    /// The backup's files, in order.
    pub fn files(&self) -> Vec<&str> {
        match self {
            Backup::File(path) => vec![path.as_str()],
            Backup::Striped(paths) => paths.iter().map(String::as_str).collect(),
        }
    }
}

/// The database a backup is restored into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Target {
    /// RDS for SQL Server, restored with the native restore procedures.
    #[serde(rename = "rds-sqlserver")]
    RdsSqlServer {
        /// The DB instance identifier.
        instance: String,
        /// Name of the database to create.
        database: String,
        /// Where the SQL login comes from.
        #[serde(default)]
        login: Login,
        /// KMS key that encrypted the backup, when it is encrypted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kms_key_arn: Option<String>,
        /// PEM bundle of certificate authorities for the server's TLS certificate
        /// (for example the RDS bundle), relative to the manifest's folder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_bundle: Option<String>,
        /// Skip TLS certificate verification. Unsafe; a warning is printed when set.
        #[serde(default)]
        insecure_skip_verify: bool,
    },
}

/// Where a database login comes from. Never the password itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "from", deny_unknown_fields)]
pub enum Login {
    /// The master user secret that RDS manages in Secrets Manager.
    #[default]
    #[serde(rename = "rds-managed-secret")]
    RdsManagedSecret,
    /// A named Secrets Manager secret whose JSON has `username` and `password`.
    #[serde(rename = "secret")]
    Secret {
        /// Secret name or ARN.
        secret_id: String,
    },
    /// Environment variables that hold the user name and password.
    #[serde(rename = "env")]
    Env {
        /// Variable holding the user name.
        username_var: String,
        /// Variable holding the password.
        password_var: String,
    },
}

/// What to do when the target database already exists and is not this release's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnExists {
    /// Report a conflict and restore nothing.
    #[default]
    Fail,
    /// Leave the existing database alone.
    Skip,
}

/// What a release may change besides creating new objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Replace objects whose content differs from the local file. When false, such an
    /// object is a conflict.
    #[serde(default = "default_true")]
    pub replace: bool,
    /// What happens to objects under a destination prefix that the manifest no longer lists.
    #[serde(default)]
    pub delete: DeletePolicy,
    /// Most objects a single release may delete under `prune`.
    #[serde(default = "default_max_delete")]
    pub max_delete: u32,
    /// Key globs (relative to the destination prefix) that are never replaced or deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            replace: true,
            delete: DeletePolicy::Never,
            max_delete: default_max_delete(),
            protected: Vec::new(),
        }
    }
}

/// Deleting objects the manifest no longer lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeletePolicy {
    /// Never delete anything.
    #[default]
    Never,
    /// Delete objects under the destination prefixes that the manifest does not list,
    /// up to `max_delete`.
    Prune,
}

fn default_true() -> bool {
    true
}

fn default_max_delete() -> u32 {
    100
}

fn default_key_template() -> String {
    "{path}".to_owned()
}

/// The manifest's JSON Schema, pretty-printed with a trailing newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Manifest);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
