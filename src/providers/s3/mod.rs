//! The only code that calls `aws-sdk-s3`. Every request names the bucket owner the manifest
//! expects, so S3 refuses to act on a bucket in another account.

mod client;
pub mod inspect;
mod list;
mod object;
mod write;

pub use client::{ClientSettings, client};
pub use list::Listed;
pub use object::{Bucket, S3Error, S3ErrorKind, SHA256_METADATA, StoredChecksum};
pub use write::{Condition, OpenUpload, UploadedPart, WriteOptions, Written};
