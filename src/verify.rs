//! Verify: check a finished release against its receipt. Every object must exist with the
//! recorded size and content checksum (and version, where versioning recorded one); every
//! deleted object must still be gone. Nothing is changed.

use std::collections::BTreeMap;

use futures_util::{StreamExt, stream};

use crate::apply::receipt::Receipt;
use crate::providers::s3::{Bucket, S3Error};

/// One way the world differs from the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    pub place: Place,
    pub problem: String,
}

/// What a discrepancy is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Object { bucket: String, key: String },
    Database { instance: String, database: String },
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Object { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Place::Database { instance, database } => {
                write!(f, "database `{database}` on `{instance}`")
            }
        }
    }
}

/// Checks every object of `receipt`; `buckets` are handles by bucket name.
pub async fn verify(
    receipt: &Receipt,
    buckets: &BTreeMap<String, Bucket>,
) -> Result<(usize, Vec<Discrepancy>), S3Error> {
    let checks = stream::iter(&receipt.objects)
        .map(|object| async move {
            let Some(bucket) = buckets.get(&object.bucket) else {
                return Ok(Some(format!("bucket `{}` is not in the manifest", object.bucket)));
            };
            let Some(head) = bucket.head(&object.key).await? else {
                return Ok(Some("missing".to_owned()));
            };
            let mut problems = Vec::new();
            if head.size as u64 != object.size {
                problems.push(format!("size is {} bytes, receipt says {}", head.size, object.size));
            }
            match (&head.crc64nvme, &head.sha256) {
                (Some(crc), _) if *crc != object.crc64nvme => {
                    problems.push(format!("CRC64NVME is {crc}, receipt says {}", object.crc64nvme))
                }
                (None, Some(sha)) if *sha != object.sha256 => {
                    problems.push("SHA-256 in metadata differs from the receipt".to_owned())
                }
                (None, None) => problems.push("the store reports no checksum to compare".into()),
                _ => {}
            }
            if let (Some(expected), Some(actual)) = (&object.version_id, &head.version_id)
                && expected != actual
            {
                problems.push(format!("version is {actual}, receipt says {expected}"));
            }
            Ok::<_, S3Error>((!problems.is_empty()).then(|| problems.join("; ")))
        })
        .buffered(32)
        .collect::<Vec<_>>()
        .await;
    let mut discrepancies = Vec::new();
    for (object, check) in receipt.objects.iter().zip(checks) {
        if let Some(problem) = check? {
            let place = Place::Object { bucket: object.bucket.clone(), key: object.key.clone() };
            discrepancies.push(Discrepancy { place, problem });
        }
    }
    for deleted in &receipt.deleted {
        let Some(bucket) = buckets.get(&deleted.bucket) else { continue };
        if bucket.head(&deleted.key).await?.is_some() {
            let place = Place::Object { bucket: deleted.bucket.clone(), key: deleted.key.clone() };
            let problem = "deleted by the release, but present again".to_owned();
            discrepancies.push(Discrepancy { place, problem });
        }
    }
    Ok((receipt.objects.len(), discrepancies))
}
