//! Listing what a destination prefix holds.
//!
//! The pages of one ListObjectsV2 listing come one after another, each needing the token of
//! the page before, so a large prefix listed in one go waits for every page in turn. A prefix
//! with folders is listed folder by folder instead: a listing with the delimiter `/` gives the
//! objects directly under it and the names of its folders, and the folders are then listed
//! several at once. While there are too few folders to keep the listings busy, it goes one
//! level deeper first. Every key under the prefix is in exactly one of these listings.

use futures_util::{StreamExt, TryStreamExt, stream};

use super::object::{Bucket, S3Error};

/// How many listings run at once.
const CONCURRENT_LISTINGS: usize = 16;
/// How many folder levels may be split before the remaining folders are listed whole.
const SPLIT_LEVELS: usize = 3;

/// One object as a listing shows it: no checksum, no metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// What one listing found: objects, and the folders it did not descend into.
type Found = (Vec<Listed>, Vec<String>);

impl Bucket {
    /// Every object whose key starts with `prefix`, in no particular order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, S3Error> {
        let mut objects = Vec::new();
        let mut folders = vec![prefix.to_owned()];

        // Split into folders while there are fewer than can be listed at once.
        for _ in 0..SPLIT_LEVELS {
            if folders.is_empty() || folders.len() >= CONCURRENT_LISTINGS {
                break;
            }
            let found = self.list_each(std::mem::take(&mut folders), true).await?;
            for (direct, below) in found {
                objects.extend(direct);
                folders.extend(below);
            }
        }

        // List what remains whole, several folders at a time.
        for (within, _) in self.list_each(folders, false).await? {
            objects.extend(within);
        }
        Ok(objects)
    }

    /// Lists each of `prefixes`, concurrently.
    async fn list_each(&self, prefixes: Vec<String>, split: bool) -> Result<Vec<Found>, S3Error> {
        stream::iter(prefixes)
            .map(|prefix| async move { self.list_pages(&prefix, split).await })
            .buffer_unordered(CONCURRENT_LISTINGS)
            .try_collect()
            .await
    }

    /// One listing of `prefix`, following continuation tokens. With `split`, keys below a
    /// further `/` are not listed; their folders are returned instead.
    async fn list_pages(&self, prefix: &str, split: bool) -> Result<Found, S3Error> {
        let mut objects = Vec::new();
        let mut folders = Vec::new();
        let request = self
            .client()
            .list_objects_v2()
            .bucket(self.name())
            .prefix(prefix)
            .set_delimiter(split.then(|| "/".to_owned()))
            .expected_bucket_owner(self.owner());
        let mut pages = request.into_paginator().send();
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
            let common = page.common_prefixes.unwrap_or_default();
            folders.extend(common.into_iter().filter_map(|c| c.prefix));
        }
        tracing::trace!(prefix, split, objects = objects.len(), folders = folders.len(), "listed");
        Ok((objects, folders))
    }
}
