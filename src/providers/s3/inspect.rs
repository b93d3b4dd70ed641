//! Reading a bucket's settings for `release doctor`: does it answer for the expected owner,
//! which region is it in, how does it encrypt by default, can the prefix be listed, and
//! (only when asked) can a probe object be written and removed. Nothing here needs a
//! permission a release does not already have, and nothing but the probe changes anything.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ServerSideEncryption};

use super::object::{Bucket, S3Error, S3ErrorKind};
use crate::inventory::digest::{Digests, crc64nvme_base64};
use crate::manifest::types::Encryption;

/// What HeadBucket said, with the owner the manifest expects attached to the request.
#[derive(Debug)]
pub enum BucketAnswer {
    /// The bucket exists and the request was accepted; S3 names its region.
    Found { region: Option<String> },
    /// 404: no bucket of that name.
    Missing,
    /// 403: owned by another account than the expected one, or no `s3:ListBucket`.
    Refused { region: Option<String> },
    /// 301: the bucket is in another region, which S3 usually names.
    Moved { region: Option<String> },
    /// Anything else: the network, the endpoint, a throttle.
    Failed(S3Error),
}

/// A bucket's default encryption, as GetBucketEncryption reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultEncryption {
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub algorithm: String,
    /// The KMS key, when the bucket names one (none means the AWS managed key `aws/s3`).
    pub kms_key_id: Option<String>,
}

/// The header in which S3 names a bucket's region, on success and on failure alike.
const REGION_HEADER: &str = "x-amz-bucket-region";

impl Bucket {
    /// HeadBucket with the expected owner.
    pub async fn answer(&self) -> BucketAnswer {
        let result = self
            .client()
            .head_bucket()
            .bucket(self.name())
            .expected_bucket_owner(self.owner())
            .send()
            .await;
        let error = match result {
            Ok(output) => return BucketAnswer::Found { region: output.bucket_region },
            Err(error) => error,
        };
        let (status, region) = match &error {
            SdkError::ServiceError(context) => {
                let raw = context.raw();
                let region = raw.headers().get(REGION_HEADER).map(str::to_owned);
                (raw.status().as_u16(), region)
            }
            _ => (0, None),
        };
        match status {
            404 => BucketAnswer::Missing,
            403 => BucketAnswer::Refused { region },
            301 | 307 => BucketAnswer::Moved { region },
            400 if region.is_some() => BucketAnswer::Moved { region },
            _ => BucketAnswer::Failed(self.error("HeadBucket", "", error)),
        }
    }

    /// The bucket's region from GetBucketLocation, which names `us-east-1` by saying nothing
    /// and `eu-west-1` by its old name `EU`.
    pub async fn location(&self) -> Result<String, S3Error> {
        let output = self
            .client()
            .get_bucket_location()
            .bucket(self.name())
            .expected_bucket_owner(self.owner())
            .send()
            .await
            .map_err(|error| self.error("GetBucketLocation", "", error))?;
        let region = match output.location_constraint.as_ref().map(|c| c.as_str()) {
            None | Some("") => "us-east-1",
            Some("EU") => "eu-west-1",
            Some(region) => region,
        };
        Ok(region.to_owned())
    }

    /// The bucket's default encryption, or `None` when it has none.
    pub async fn default_encryption(&self) -> Result<Option<DefaultEncryption>, S3Error> {
        let result = self
            .client()
            .get_bucket_encryption()
            .bucket(self.name())
            .expected_bucket_owner(self.owner())
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) if error.code() == Some(NO_ENCRYPTION) => return Ok(None),
            Err(error) => return Err(self.error("GetBucketEncryption", "", error)),
        };
        let rule = output
            .server_side_encryption_configuration
            .iter()
            .flat_map(|configuration| configuration.rules())
            .find_map(|rule| rule.apply_server_side_encryption_by_default());
        Ok(rule.map(|default| DefaultEncryption {
            algorithm: default.sse_algorithm().as_str().to_owned(),
            kms_key_id: default.kms_master_key_id().map(str::to_owned),
        }))
    }

    /// Lists at most one key under `prefix`; true when the prefix holds anything.
    pub async fn holds_anything(&self, prefix: &str) -> Result<bool, S3Error> {
        let output = self
            .client()
            .list_objects_v2()
            .bucket(self.name())
            .prefix(prefix)
            .max_keys(1)
            .expected_bucket_owner(self.owner())
            .send()
            .await
            .map_err(|error| self.error("ListObjectsV2", prefix, error))?;
        Ok(output.key_count.unwrap_or_default() > 0 || !output.contents().is_empty())
    }

    /// Writes a small object at `key` the way a release writes (only if absent, with its
    /// checksum and the destination's encryption), then deletes it.
    pub async fn probe(&self, key: &str, encryption: &Encryption) -> Result<(), S3Error> {
        let body = b"written by `release doctor --write-test`, deleted straight after\n".to_vec();
        let crc = crc64nvme_base64(Digests::of(&body).crc64nvme);
        let mut request = self
            .client()
            .put_object()
            .bucket(self.name())
            .key(key)
            .expected_bucket_owner(self.owner())
            .if_none_match("*")
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .checksum_crc64_nvme(crc)
            .body(ByteStream::from(body));
        request = match encryption {
            Encryption::SseS3 => request.server_side_encryption(ServerSideEncryption::Aes256),
            Encryption::SseKms { kms_key_id } => request
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms_key_id),
        };
        request.send().await.map_err(|error| self.error("PutObject", key, error))?;
        self.client()
            .delete_object()
            .bucket(self.name())
            .key(key)
            .expected_bucket_owner(self.owner())
            .send()
            .await
            .map_err(|error| self.error("DeleteObject", key, error))?;
        Ok(())
    }
}

/// The error code S3 gives a bucket with no default encryption.
const NO_ENCRYPTION: &str = "ServerSideEncryptionConfigurationNotFoundError";

/// The IAM action an S3 operation needs, and whether it applies to objects (`bucket/key`)
/// rather than the bucket.
pub fn iam_action(operation: &str) -> Option<(&'static str, bool)> {
    let action = match operation {
        "ListObjectsV2" | "HeadBucket" => ("s3:ListBucket", false),
        "GetBucketLocation" => ("s3:GetBucketLocation", false),
        "GetBucketEncryption" => ("s3:GetEncryptionConfiguration", false),
        "ListMultipartUploads" => ("s3:ListBucketMultipartUploads", false),
        "HeadObject" | "GetObject" => ("s3:GetObject", true),
        "PutObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => {
            ("s3:PutObject", true)
        }
        "DeleteObject" => ("s3:DeleteObject", true),
        "AbortMultipartUpload" => ("s3:AbortMultipartUpload", true),
        "ListParts" => ("s3:ListMultipartUploadParts", true),
        _ => return None,
    };
    Some(action)
}

/// The action and ARN an access-denied S3 error needs, in words:
/// `` `s3:ListBucket` on `arn:aws:s3:::bucket` ``.
pub fn needed_permission(error: &S3Error) -> Option<String> {
    let (action, on_object) = iam_action(error.operation)?;
    let resource = if on_object {
        format!("arn:aws:s3:::{}/{}", error.bucket, error.key)
    } else {
        format!("arn:aws:s3:::{}", error.bucket)
    };
    Some(format!("`{action}` on `{resource}`"))
}

/// Whether S3 refused because of KMS: the caller may use the bucket but not the key.
pub fn is_kms_refusal(error: &S3Error) -> bool {
    match &error.kind {
        S3ErrorKind::AccessDenied(message) | S3ErrorKind::Service { message, .. } => {
            message.contains("kms:") || message.contains("KMS")
        }
        _ => false,
    }
}

/// Whether S3 says the request went to the wrong region.
pub fn is_region_error(error: &S3Error) -> bool {
    match &error.kind {
        S3ErrorKind::Service { code, .. } => matches!(
            code.as_str(),
            "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "IllegalLocationConstraintException"
                | "TemporaryRedirect"
        ),
        _ => false,
    }
}

/// The region S3 says it expected, when its message names one
/// (`... the region 'us-east-1' is wrong; expecting 'eu-west-2'`).
pub fn expected_region(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("expecting '")?;
    let (region, _) = rest.split_once('\'')?;
    (!region.is_empty()).then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_iam_action_and_resource() {
        let error = S3Error {
            operation: "ListObjectsV2",
            bucket: "b".into(),
            key: "p/".into(),
            kind: S3ErrorKind::AccessDenied("Access Denied".into()),
        };
        assert_eq!(needed_permission(&error).unwrap(), "`s3:ListBucket` on `arn:aws:s3:::b`");
        let error = S3Error { operation: "PutObject", ..error };
        assert_eq!(needed_permission(&error).unwrap(), "`s3:PutObject` on `arn:aws:s3:::b/p/`");
    }

    #[test]
    fn reads_the_expected_region_from_s3s_message() {
        let message = "The authorization header is malformed; the region 'us-east-1' is wrong; \
                       expecting 'eu-west-2'";
        assert_eq!(expected_region(message), Some("eu-west-2"));
        assert_eq!(expected_region("Access Denied"), None);
    }
}
