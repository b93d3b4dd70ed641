//! Connecting a loaded manifest to AWS: credentials, the account check, and one S3 bucket
//! handle per destination. Every command that touches AWS starts here, so no S3 request is
//! made before the caller's account has been checked.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::{Exit, Failure};
use crate::inventory::select::normalise_prefix;
use crate::manifest::Loaded;
use crate::plan::DestinationRef;
use crate::providers::aws::{self, AwsError, Connection, Identity, Overrides};
use crate::providers::s3::{self, Bucket, S3ErrorKind, inspect};
use crate::render;

/// The region this process sends S3 requests to, for messages about buckets elsewhere.
static REGION: OnceLock<String> = OnceLock::new();

/// AWS as one release sees it.
pub(crate) struct Session {
    pub identity: Identity,
    /// Bucket handle and normalised prefix, by destination name.
    pub buckets: BTreeMap<String, (Bucket, String)>,
    /// The SDK configuration, for the RDS and Secrets Manager clients of database targets.
    pub config: aws_config::SdkConfig,
}

impl Session {
    /// Resolves credentials, checks the account, and prepares the buckets.
    pub async fn open(loaded: &Loaded, overrides: &Overrides) -> Result<Session, Failure> {
        let manifest = &loaded.manifest;
        let connection = Connection::for_release(&manifest.aws, &manifest.release, overrides).await;
        let identity = connection.identify(&manifest.aws).await.map_err(aws_failure)?;
        warn_about(&identity);
        let _ = REGION.set(connection.region.clone());
        let buckets = buckets(loaded, &connection);
        Ok(Session { identity, buckets, config: connection.config.clone() })
    }
}

/// Prints what the person should know about how they signed in, on every run.
pub(crate) fn warn_about(identity: &Identity) {
    if identity.static_keys {
        render::warning(
            "using long-lived access keys (allowed by `aws.allow_static_keys`); prefer IAM \
             Identity Center or an assumed role",
        );
    }
    for warning in &identity.warnings {
        render::warning(warning);
    }
}

/// A bucket handle and normalised prefix for each destination, sharing one S3 client.
pub(crate) fn buckets(
    loaded: &Loaded,
    connection: &Connection,
) -> BTreeMap<String, (Bucket, String)> {
    let client = s3::client(&connection.config, &aws::s3_settings(&loaded.manifest.aws));
    destinations(loaded)
        .into_iter()
        .map(|(name, d)| {
            let bucket = Bucket::new(client.clone(), d.bucket, d.expected_bucket_owner);
            (name, (bucket, d.prefix))
        })
        .collect()
}

/// Destinations with their prefixes normalised and owners defaulted to the account.
pub(crate) fn destinations(loaded: &Loaded) -> BTreeMap<String, DestinationRef> {
    let manifest = &loaded.manifest;
    manifest
        .destinations
        .iter()
        .map(|(name, d)| {
            let owner = d.expected_bucket_owner.clone();
            let reference = DestinationRef {
                bucket: d.bucket.clone(),
                prefix: normalise_prefix(&d.prefix),
                expected_bucket_owner: owner.unwrap_or_else(|| manifest.aws.account_id.clone()),
            };
            (name.clone(), reference)
        })
        .collect()
}

/// A failure to reach AWS as the manifest asks, with what to do about it.
pub(crate) fn aws_failure(error: AwsError) -> Failure {
    Failure::new(error.to_string()).hint_opt(error.hint())
}

impl Failure {
    fn hint_opt(mut self, hint: Option<String>) -> Failure {
        self.hint = hint;
        self
    }
}

impl From<s3::S3Error> for Failure {
    fn from(error: s3::S3Error) -> Failure {
        let hint = s3_hint(&error);
        Failure { message: error.to_string(), hint, exit: Exit::Error }
    }
}

/// What to do about a failed S3 request: the permission it needs, or the region to use.
fn s3_hint(error: &s3::S3Error) -> Option<String> {
    match &error.kind {
        S3ErrorKind::AccessDenied(_) if inspect::is_kms_refusal(error) => Some(
            "the role may use the bucket but not its KMS key: it needs `kms:GenerateDataKey` \
             and `kms:Decrypt` on the destination's key (see docs/iam.md)"
                .to_owned(),
        ),
        S3ErrorKind::AccessDenied(_) => inspect::needed_permission(error).map(|needed| {
            format!(
                "the role needs {needed}, and the bucket must belong to the account the \
                 manifest expects"
            )
        }),
        S3ErrorKind::Service { message, .. } if inspect::is_region_error(error) => {
            let ours = REGION.get().map_or("the configured region", String::as_str);
            Some(match inspect::expected_region(message) {
                Some(theirs) => format!(
                    "bucket `{}` is in region `{theirs}`, not `{ours}`: set `aws.region: \
                     {theirs}` or pass --region {theirs}",
                    error.bucket
                ),
                None => format!(
                    "bucket `{}` is not in region `{ours}`: `release doctor` shows where it is",
                    error.bucket
                ),
            })
        }
        _ => error.hint(),
    }
}
