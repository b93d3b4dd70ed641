//! Writing objects: single puts, multipart uploads (with resume), conditional deletes.
//! Every write carries the full-object CRC64NVME it expects, so the store refuses bytes that
//! differ from those planned, and a condition (`If-None-Match: *` or `If-Match`) so it refuses
//! to act on an object that changed since the plan.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
    StorageClass,
};

use super::object::{Bucket, S3Error, SHA256_METADATA};
use crate::inventory::digest::crc64nvme_base64;
use crate::manifest::types::{self, Encryption};

/// What an object is written with, from the manifest.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub encryption: Encryption,
    pub storage_class: Option<types::StorageClass>,
    pub content_type: String,
    /// Hex SHA-256, recorded in metadata for people and for stores without CRC64NVME.
    pub sha256: String,
    /// Send checksums (off for stores that reject the newer headers).
    pub send_checksum: bool,
}

/// The condition a write must meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The key must not exist.
    Absent,
    /// The object must have this ETag.
    Etag(String),
}

/// What the store said about a written object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub etag: String,
    pub version_id: Option<String>,
}

/// A part already uploaded to an unfinished multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub number: i32,
    pub size: u64,
    pub etag: String,
    /// Base64 CRC64NVME of the part, when the store reports it.
    pub crc64nvme: Option<String>,
}

/// An unfinished multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenUpload {
    pub key: String,
    pub upload_id: String,
}

impl Bucket {
    /// Puts a whole object whose full-object CRC64NVME is `crc64nvme`.
    pub async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        crc64nvme: u64,
        options: &WriteOptions,
        condition: &Condition,
    ) -> Result<Written, S3Error> {
        let mut request = self
            .client()
            .put_object()
            .bucket(self.name())
            .key(key)
            .expected_bucket_owner(self.owner())
            .content_type(&options.content_type)
            .metadata(SHA256_METADATA, &options.sha256)
            .body(ByteStream::from(body));
        if options.send_checksum {
            request = request
                .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
                .checksum_crc64_nvme(crc64nvme_base64(crc64nvme));
        }
        let (sse, kms) = encryption(&options.encryption);
        request = request.server_side_encryption(sse).set_ssekms_key_id(kms);
        request = request.set_storage_class(options.storage_class.map(storage_class));
        request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Etag(etag) => request.if_match(etag),
        };
        let output = request.send().await.map_err(|e| self.error("PutObject", key, e))?;
        Ok(Written { etag: output.e_tag.unwrap_or_default(), version_id: output.version_id })
    }

    /// Starts a multipart upload whose parts carry CRC64NVME checksums.
    pub async fn create_upload(
        &self,
        key: &str,
        options: &WriteOptions,
    ) -> Result<String, S3Error> {
        let mut request = self
            .client()
            .create_multipart_upload()
            .bucket(self.name())
            .key(key)
            .expected_bucket_owner(self.owner())
            .content_type(&options.content_type)
            .metadata(SHA256_METADATA, &options.sha256);
        if options.send_checksum {
            request = request
                .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
                .checksum_type(ChecksumType::FullObject);
        }
        let (sse, kms) = encryption(&options.encryption);
        request = request.server_side_encryption(sse).set_ssekms_key_id(kms);
        request = request.set_storage_class(options.storage_class.map(storage_class));
        let output =
            request.send().await.map_err(|e| self.error("CreateMultipartUpload", key, e))?;
        Ok(output.upload_id.unwrap_or_default())
    }

    /// Uploads (or replaces) part `number` of an upload.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
        crc64nvme: Option<u64>,
    ) -> Result<String, S3Error> {
        let mut request = self
            .client()
            .upload_part()
            .bucket(self.name())
            .key(key)
            .expected_bucket_owner(self.owner())
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body));
        if let Some(crc) = crc64nvme {
            request = request
                .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
                .checksum_crc64_nvme(crc64nvme_base64(crc));
        }
        let output = request.send().await.map_err(|e| self.error("UploadPart", key, e))?;
        Ok(output.e_tag.unwrap_or_default())
    }

    /// Finishes an upload from its parts, on `condition`, checking the whole object's
    /// CRC64NVME when `crc64nvme` is given.
    pub async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String, Option<u64>)],
        crc64nvme: Option<u64>,
        condition: &Condition,
    ) -> Result<Written, S3Error> {
        let completed: Vec<CompletedPart> = parts
            .iter()
            .map(|(number, etag, crc)| {
                CompletedPart::builder()
                    .part_number(*number)
                    .e_tag(etag)
                    .set_checksum_crc64_nvme(crc.map(crc64nvme_base64))
                    .build()
            })
            .collect();
        let mut request = self
            .client()
            .complete_multipart_upload()
            .bucket(self.name())
            .key(key)
            .expected_bucket_owner(self.owner())
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder().set_parts(Some(completed)).build(),
            );
        if let Some(crc) = crc64nvme {
            request = request
                .checksum_crc64_nvme(crc64nvme_base64(crc))
                .checksum_type(ChecksumType::FullObject);
        }
        request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Etag(etag) => request.if_match(etag),
        };
        let output =
            request.send().await.map_err(|e| self.error("CompleteMultipartUpload", key, e))?;
        Ok(Written { etag: output.e_tag.unwrap_or_default(), version_id: output.version_id })
    }

    /// Abandons an upload and frees its parts.
    pub async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        self.client()
            .abort_multipart_upload()
            .bucket(self.name())
            .key(key)
            .expected_bucket_owner(self.owner())
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| self.error("AbortMultipartUpload", key, e))?;
        Ok(())
    }

    /// Parts of an unfinished upload, in part-number order. `None` when the upload is gone.
    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<UploadedPart>>, S3Error> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let result = self
                .client()
                .list_parts()
                .bucket(self.name())
                .key(key)
                .expected_bucket_owner(self.owner())
                .upload_id(upload_id)
                .set_part_number_marker(marker.clone())
                .send()
                .await;
            let output = match result {
                Ok(output) => output,
                Err(error) => {
                    let error = self.error("ListParts", key, error);
                    if error.is_code("NoSuchUpload") {
                        return Ok(None);
                    }
                    return Err(error);
                }
            };
            for part in output.parts.unwrap_or_default() {
                parts.push(UploadedPart {
                    number: part.part_number.unwrap_or_default(),
                    size: part.size.unwrap_or_default().max(0) as u64,
                    etag: part.e_tag.unwrap_or_default(),
                    crc64nvme: part.checksum_crc64_nvme,
                });
            }
            if output.is_truncated != Some(true) {
                break;
            }
            marker = output.next_part_number_marker;
        }
        parts.sort_by_key(|p| p.number);
        Ok(Some(parts))
    }

    /// Unfinished uploads for exactly `key`. Stores that cannot list uploads (some
    /// S3-compatible ones) give an empty list: resuming then relies on the local journal.
    pub async fn open_uploads(&self, key: &str) -> Result<Vec<OpenUpload>, S3Error> {
        let result = self
            .client()
            .list_multipart_uploads()
            .bucket(self.name())
            .prefix(key)
            .expected_bucket_owner(self.owner())
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                let error = self.error("ListMultipartUploads", key, error);
                if error.is_code("NotImplemented") {
                    tracing::debug!(bucket = self.name(), "store cannot list multipart uploads");
                    return Ok(Vec::new());
                }
                return Err(error);
            }
        };
        Ok(output
            .uploads
            .unwrap_or_default()
            .into_iter()
            .filter(|u| u.key.as_deref() == Some(key))
            .filter_map(|u| Some(OpenUpload { key: u.key?, upload_id: u.upload_id? }))
            .collect())
    }

    /// Deletes `key` if it still has `etag`.
    pub async fn delete_object(&self, key: &str, etag: &str) -> Result<(), S3Error> {
        self.client()
            .delete_object()
            .bucket(self.name())
            .key(key)
            .expected_bucket_owner(self.owner())
            .if_match(etag)
            .send()
            .await
            .map_err(|e| self.error("DeleteObject", key, e))?;
        Ok(())
    }
}

fn encryption(encryption: &Encryption) -> (ServerSideEncryption, Option<String>) {
    match encryption {
        Encryption::SseS3 => (ServerSideEncryption::Aes256, None),
        Encryption::SseKms { kms_key_id } => {
            (ServerSideEncryption::AwsKms, Some(kms_key_id.clone()))
        }
    }
}

fn storage_class(class: types::StorageClass) -> StorageClass {
    StorageClass::from(class.as_str())
}
