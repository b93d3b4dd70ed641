//! What exists now: the objects under each destination prefix, with the checksums that
//! identify their content.
//!
//! Listing gives size and ETag; the content checksum needs a HEAD request. HEADs are made
//! only for objects whose size matches a local file (a different size already proves
//! different content), concurrently, and their answers are remembered in `.release/` keyed
//! by ETag, so re-planning an unchanged release makes none.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::inventory::fingerprint::LocalFile;
use crate::manifest::types::Manifest;
use crate::providers::s3::{Bucket, S3Error};

/// Key prefix, under each destination prefix, reserved for the tool's own objects
/// (receipts and locks). Planning never uploads to it and never prunes it.
pub const RESERVED: &str = ".release/";

/// How many HEAD requests run at once.
const HEAD_CONCURRENCY: usize = 32;

/// A stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub size: u64,
    pub etag: String,
    /// Base64 full-object CRC64NVME, when known.
    pub crc64nvme: Option<String>,
    /// Hex SHA-256 from metadata, when known.
    pub sha256: Option<String>,
}

/// Objects by destination name, then by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub destinations: BTreeMap<String, BTreeMap<String, Stored>>,
}

impl Observed {
    pub fn get(&self, destination: &str, key: &str) -> Option<&Stored> {
        self.destinations.get(destination)?.get(key)
    }
}

/// How much observing cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub listed: usize,
    pub heads: usize,
}

/// Lists every destination that files go to and fetches the checksums needed to compare
/// `files` with what is stored.
pub async fn observe(
    manifest: &Manifest,
    buckets: &BTreeMap<String, (Bucket, String)>,
    local: &[LocalFile],
    cache: &mut RemoteCache,
) -> Result<(Observed, Cost), S3Error> {
    let mut observed = Observed::default();
    let mut cost = Cost::default();
    let files = manifest.files.iter().map(|f| f.destination.as_str());
    let staging = manifest.databases.iter().map(|d| d.staging.as_str());
    let used: std::collections::BTreeSet<&str> = files.chain(staging).collect();

    // List each destination prefix.
    for name in used {
        let Some((bucket, prefix)) = buckets.get(name) else { continue };
        let listed = bucket.list(prefix).await?;
        cost.listed += listed.len();
        let objects = listed
            .into_iter()
            .map(|o| {
                let stored = Stored { size: o.size, etag: o.etag, crc64nvme: None, sha256: None };
                (o.key, stored)
            })
            .collect();
        observed.destinations.insert(name.to_owned(), objects);
    }

    // Checksums the latest receipt records, valid while an object keeps its ETag and size.
    let mut receipts: HashMap<(String, String), Stored> = HashMap::new();
    for name in observed.destinations.keys() {
        let Some((bucket, prefix)) = buckets.get(name) else { continue };
        for object in latest_receipt(bucket, prefix, &manifest.release).await {
            let stored = Stored {
                size: object.size,
                etag: object.etag,
                crc64nvme: Some(object.crc64nvme),
                sha256: Some(object.sha256),
            };
            receipts.insert((name.clone(), object.key), stored);
        }
    }

    // Fill in checksums from the receipt or the cache where the ETag still matches, else by
    // HEAD.
    let mut wanted = Vec::new();
    for file in local {
        let selected = &file.selected;
        let Some(objects) = observed.destinations.get_mut(&selected.destination) else { continue };
        let Some(stored) = objects.get_mut(&selected.key) else { continue };
        if stored.size != file.stamp.size {
            continue;
        }
        let Some((bucket, _)) = buckets.get(&selected.destination) else { continue };
        let recorded = receipts.get(&(selected.destination.clone(), selected.key.clone()));
        if let Some(recorded) = recorded.filter(|r| same_version(r, stored)) {
            *stored = Stored { etag: stored.etag.clone(), ..recorded.clone() };
            continue;
        }
        match cache.get(bucket.name(), &selected.key, &stored.etag, stored.size) {
            Some(known) => *stored = known,
            None => {
                wanted.push((selected.destination.clone(), bucket.clone(), selected.key.clone()))
            }
        }
    }
    cost.heads = wanted.len();
    let heads = stream::iter(wanted)
        .map(|(destination, bucket, key)| async move {
            let head = bucket.head(&key).await;
            (destination, bucket, key, head)
        })
        .buffer_unordered(HEAD_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    for (destination, bucket, key, head) in heads {
        let Some(head) = head? else { continue };
        let Some(stored) =
            observed.destinations.get_mut(&destination).and_then(|o| o.get_mut(&key))
        else {
            continue;
        };
        stored.crc64nvme = head.crc64nvme;
        stored.sha256 = head.sha256;
        if let Some(etag) = head.etag {
            stored.etag = etag;
        }
        cache.put(bucket.name(), &key, stored.clone());
    }
    Ok((observed, cost))
}

/// Whether a receipt's record is of the object a listing shows (same ETag and size).
fn same_version(recorded: &Stored, listed: &Stored) -> bool {
    recorded.size == listed.size && recorded.etag.trim_matches('"') == listed.etag.trim_matches('"')
}

/// The objects of the release's latest receipt under one destination; none when there is no
/// receipt or it cannot be read (planning then asks S3 instead).
async fn latest_receipt(
    bucket: &Bucket,
    prefix: &str,
    release: &str,
) -> Vec<crate::apply::receipt::ReceiptObject> {
    let key = crate::apply::receipt::latest_key(prefix, release);
    match bucket.get_small(&key).await {
        Ok(Some((body, _))) => serde_json::from_slice::<crate::apply::receipt::Receipt>(&body)
            .map(|receipt| receipt.objects)
            .unwrap_or_default(),
        Ok(None) => Vec::new(),
        Err(error) => {
            tracing::debug!(%error, "no receipt to plan from");
            Vec::new()
        }
    }
}

/// Checksums of stored objects remembered between runs, valid while the ETag and size are
/// unchanged (S3 gives an overwritten object a new ETag unless the bytes are the same).
#[derive(Debug, Default)]
pub struct RemoteCache {
    path: Option<PathBuf>,
    entries: HashMap<String, Stored>,
    changed: bool,
}

impl RemoteCache {
    /// The cache in `dir`; missing or unreadable means empty.
    pub fn open(dir: &Path) -> RemoteCache {
        let path = dir.join("remote-cache.json");
        let entries = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        RemoteCache { path: Some(path), entries, changed: false }
    }

    fn get(&self, bucket: &str, key: &str, etag: &str, size: u64) -> Option<Stored> {
        let stored = self.entries.get(&format!("{bucket}/{key}"))?;
        (stored.etag == etag && stored.size == size && stored.crc64nvme.is_some())
            .then(|| stored.clone())
    }

    pub fn put(&mut self, bucket: &str, key: &str, stored: Stored) {
        self.entries.insert(format!("{bucket}/{key}"), stored);
        self.changed = true;
    }

    /// Writes the cache atomically when it changed.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.changed {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec(&self.entries).map_err(std::io::Error::other)?;
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, path)?;
        self.changed = false;
        Ok(())
    }
}
