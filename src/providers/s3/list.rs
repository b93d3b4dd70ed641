//! Listing what a destination prefix holds.

use super::object::{Bucket, S3Error};

/// One object as a listing shows it: no checksum, no metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

impl Bucket {
    /// Every object whose key starts with `prefix`, following continuation tokens.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, S3Error> {
        let mut objects = Vec::new();
        let mut pages = self
            .client()
            .list_objects_v2()
            .bucket(self.name())
            .prefix(prefix)
            .expected_bucket_owner(self.owner())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| self.error("ListObjectsV2", prefix, error))?;
            for object in page.contents.unwrap_or_default() {
                let Some(key) = object.key else { continue };
                objects.push(Listed {
                    key,
                    size: object.size.unwrap_or_default().max(0) as u64,
                    etag: object.e_tag.unwrap_or_default(),
                });
            }
        }
        Ok(objects)
    }
}
