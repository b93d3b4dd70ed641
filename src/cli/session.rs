//! Connecting a loaded manifest to AWS: credentials, the account check, and one S3 bucket
//! handle per destination. Every command that touches AWS starts here, so no S3 request is
//! made before the caller's account has been checked.

use std::collections::BTreeMap;

use super::{Exit, Failure};
use crate::inventory::select::normalise_prefix;
use crate::manifest::Loaded;
use crate::plan::DestinationRef;
use crate::providers::aws::{self, Identity, Overrides};
use crate::providers::s3::{self, Bucket};
use crate::render;

/// AWS as one release sees it.
pub(crate) struct Session {
    pub identity: Identity,
    /// Bucket handle and normalised prefix, by destination name.
    pub buckets: BTreeMap<String, (Bucket, String)>,
}

impl Session {
    /// Resolves credentials, checks the account, and prepares the buckets.
    pub async fn open(loaded: &Loaded, overrides: &Overrides) -> Result<Session, Failure> {
        let manifest = &loaded.manifest;
        let config = aws::sdk_config(&manifest.aws, &manifest.release, overrides).await;
        let profile = overrides.profile.as_deref().or(manifest.aws.profile.as_deref());
        let identity = aws::identify(&config, &manifest.aws)
            .await
            .map_err(|error| Failure::new(error.to_string()).hint_opt(error.hint(profile)))?;
        if identity.static_keys {
            render::warning(
                "using long-lived access keys (allowed by `aws.allow_static_keys`); prefer IAM \
                 Identity Center or an assumed role",
            );
        }
        tracing::debug!(arn = %identity.arn, provider = %identity.provider, "caller identified");
        let client = s3::client(&config, &aws::s3_settings(&manifest.aws));
        let buckets = destinations(loaded)
            .into_iter()
            .map(|(name, d)| {
                let bucket = Bucket::new(client.clone(), d.bucket, d.expected_bucket_owner);
                (name, (bucket, d.prefix))
            })
            .collect();
        Ok(Session { identity, buckets })
    }
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

impl Failure {
    fn hint_opt(mut self, hint: Option<String>) -> Failure {
        self.hint = hint;
        self
    }
}

impl From<s3::S3Error> for Failure {
    fn from(error: s3::S3Error) -> Failure {
        let hint = error.hint();
        Failure { message: error.to_string(), hint, exit: Exit::Error }
    }
}
