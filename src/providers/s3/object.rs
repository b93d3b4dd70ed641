//! Object operations on one bucket, each pinned to the expected bucket owner.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};

use crate::inventory::digest::crc64nvme_base64;

/// User metadata key under which uploads record the content's hex SHA-256.
pub const SHA256_METADATA: &str = "sha256";

/// One bucket as a release sees it.
#[derive(Debug, Clone)]
pub struct Bucket {
    client: Client,
    name: String,
    owner: String,
}

/// The checksum and identity S3 reports for a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChecksum {
    pub size: i64,
    pub etag: Option<String>,
    /// Base64 full-object CRC64NVME, when the store reports one.
    pub crc64nvme: Option<String>,
    pub version_id: Option<String>,
    /// Hex SHA-256 that `release` records in the object's metadata when it uploads.
    pub sha256: Option<String>,
}

/// A failed S3 request, with the bucket and key it was about.
#[derive(Debug, thiserror::Error)]
#[error("{operation} `s3://{bucket}/{key}` failed: {kind}")]
pub struct S3Error {
    pub operation: &'static str,
    pub bucket: String,
    pub key: String,
    pub kind: S3ErrorKind,
}

/// What kind of failure S3 reported.
#[derive(Debug, thiserror::Error)]
pub enum S3ErrorKind {
    #[error("the bucket does not exist")]
    NoSuchBucket,
    #[error("access denied ({0})")]
    AccessDenied(String),
    #[error("the object changed since it was read (precondition failed)")]
    PreconditionFailed,
    #[error("the store rejected the checksum: the bytes it received differ from those sent")]
    BadDigest,
    #[error("{code}: {message}")]
    Service { code: String, message: String },
    #[error("{0}")]
    Transport(String),
}

impl S3Error {
    /// Whether the service answered with this error code.
    pub fn is_code(&self, code: &str) -> bool {
        match &self.kind {
            S3ErrorKind::Service { code: actual, .. } => actual == code,
            S3ErrorKind::NoSuchBucket => code == "NoSuchBucket",
            S3ErrorKind::PreconditionFailed => code == "PreconditionFailed",
            _ => false,
        }
    }

    /// What the user can do about this failure.
    pub fn hint(&self) -> Option<String> {
        match &self.kind {
            S3ErrorKind::NoSuchBucket => {
                Some(format!("check the bucket name `{}` and the region", self.bucket))
            }
            S3ErrorKind::AccessDenied(_) => Some(format!(
                "check that your role may use `arn:aws:s3:::{}/{}` and that the bucket belongs \
                 to the account the manifest expects",
                self.bucket, self.key
            )),
            S3ErrorKind::PreconditionFailed => Some("make a new plan".to_owned()),
            _ => None,
        }
    }
}

impl Bucket {
    pub fn new(client: Client, name: impl Into<String>, owner: impl Into<String>) -> Bucket {
        Bucket { client, name: name.into(), owner: owner.into() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The account that must own the bucket.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// Puts a small object whose full-object CRC64NVME is `crc64nvme`; S3 rejects the body
    /// if it does not match. With `if_none_match`, the put fails when the key exists.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        crc64nvme: u64,
        if_none_match: bool,
    ) -> Result<StoredChecksum, S3Error> {
        let size = body.len() as i64;
        let mut request = self
            .client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .expected_bucket_owner(&self.owner)
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .checksum_crc64_nvme(crc64nvme_base64(crc64nvme))
            .body(ByteStream::from(body));
        if if_none_match {
            request = request.if_none_match("*");
        }
        let output = request.send().await.map_err(|e| self.error("PutObject", key, e))?;
        Ok(StoredChecksum {
            size,
            etag: output.e_tag,
            crc64nvme: output.checksum_crc64_nvme,
            version_id: output.version_id,
            sha256: None,
        })
    }

    /// Size, ETag and stored checksum of `key`, or `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<StoredChecksum>, S3Error> {
        let result = self
            .client
            .head_object()
            .bucket(&self.name)
            .key(key)
            .expected_bucket_owner(&self.owner)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(StoredChecksum {
                size: output.content_length.unwrap_or_default(),
                etag: output.e_tag,
                crc64nvme: output.checksum_crc64_nvme,
                version_id: output.version_id,
                sha256: output.metadata.and_then(|mut m| m.remove(SHA256_METADATA)),
            })),
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => Ok(None),
            Err(error) => Err(self.error("HeadObject", key, error)),
        }
    }

    /// The body and ETag of a small object (a lock or a receipt), or `None` when absent.
    /// The SDK checks the body against the stored checksum when the store reports one.
    pub async fn get_small(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, S3Error> {
        let result = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .expected_bucket_owner(&self.owner)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => return Ok(None),
            Err(error) => return Err(self.error("GetObject", key, error)),
        };
        let etag = output.e_tag.clone().unwrap_or_default();
        let body = output.body.collect().await.map_err(|e| S3Error {
            operation: "GetObject",
            bucket: self.name.clone(),
            key: key.to_owned(),
            kind: S3ErrorKind::Transport(e.to_string()),
        })?;
        Ok(Some((body.into_bytes().to_vec(), etag)))
    }

    /// The whole body of `key`, verified against its stored checksum when there is one.
    /// For tests and small objects only.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, S3Error> {
        match self.get_small(key).await? {
            Some((body, _)) => Ok(body),
            None => Err(S3Error {
                operation: "GetObject",
                bucket: self.name.clone(),
                key: key.to_owned(),
                kind: S3ErrorKind::Service {
                    code: "NoSuchKey".to_owned(),
                    message: "the object does not exist".to_owned(),
                },
            }),
        }
    }

    pub(super) fn error<E, R>(
        &self,
        operation: &'static str,
        key: &str,
        error: SdkError<E, R>,
    ) -> S3Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        S3Error { operation, bucket: self.name.clone(), key: key.to_owned(), kind: classify(error) }
    }
}

fn classify<E, R>(error: SdkError<E, R>) -> S3ErrorKind
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = error.code().unwrap_or_default().to_owned();
    let message = error.message().unwrap_or_default().to_owned();
    match code.as_str() {
        "NoSuchBucket" => S3ErrorKind::NoSuchBucket,
        "AccessDenied" | "Forbidden" => S3ErrorKind::AccessDenied(message),
        "PreconditionFailed" => S3ErrorKind::PreconditionFailed,
        "BadDigest" | "InvalidDigest" | "XAmzContentChecksumMismatch" => S3ErrorKind::BadDigest,
        "" => S3ErrorKind::Transport(transport_message(&error)),
        _ => S3ErrorKind::Service { code, message },
    }
}

/// The innermost cause of a failure that did not come from the service.
fn transport_message<E, R>(error: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = cause.to_string();
        source = cause.source();
    }
    message
}
