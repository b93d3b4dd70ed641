//! The hash cache: digests of local files remembered between runs, so re-planning reads no
//! file whose metadata is unchanged.
//!
//! An entry is trusted only while the file's size, modification time, change time and inode
//! are what they were when it was hashed. The change time cannot be set back by hand, so a
//! file edited and given its old modification time is still hashed again. Files modified
//! within a moment of being hashed are not cached, since a later write in the same clock tick
//! would leave their times unchanged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::digest::Digests;

const FORMAT: u32 = 1;
/// Files modified this recently (nanoseconds) before hashing are not cached.
const SETTLE_NANOS: i128 = 2_000_000_000;

/// File metadata that decides whether a cached digest still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub inode: u64,
}

impl Stamp {
    pub fn of(metadata: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let nanos = |secs: i64, nsec: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsec);
        Stamp {
            size: metadata.len(),
            mtime_ns: nanos(metadata.mtime(), metadata.mtime_nsec()),
            ctime_ns: nanos(metadata.ctime(), metadata.ctime_nsec()),
            inode: metadata.ino(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    stamp: Stamp,
    crc64nvme: u64,
    #[serde(with = "hex::serde")]
    sha256: [u8; 32],
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    entries: HashMap<String, Entry>,
}

/// Cached digests by path relative to the manifest's folder.
#[derive(Debug, Default)]
pub struct HashCache {
    path: Option<PathBuf>,
    entries: HashMap<String, Entry>,
    changed: bool,
}

impl HashCache {
    /// The cache in `dir` (usually `.release/` beside the manifest). A missing, unreadable or
    /// outdated cache is an empty one: the cache only saves work, it never decides anything.
    pub fn open(dir: &Path) -> HashCache {
        let path = dir.join("hash-cache.json");
        let entries = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
            .filter(|file| file.format == FORMAT)
            .map(|file| file.entries)
            .unwrap_or_default();
        HashCache { path: Some(path), entries, changed: false }
    }

    /// A cache that remembers nothing on disk.
    pub fn in_memory() -> HashCache {
        HashCache::default()
    }

    pub fn get(&self, relative: &str, stamp: &Stamp) -> Option<Digests> {
        let entry = self.entries.get(relative)?;
        (entry.stamp == *stamp)
            .then_some(Digests { crc64nvme: entry.crc64nvme, sha256: entry.sha256 })
    }

    /// Remembers digests of a file hashed at `hashed_at_ns`, unless it was still settling.
    pub fn put(&mut self, relative: &str, stamp: Stamp, digests: Digests, hashed_at_ns: i128) {
        if hashed_at_ns - stamp.mtime_ns.max(stamp.ctime_ns) < SETTLE_NANOS {
            self.entries.remove(relative);
            return;
        }
        let entry = Entry { stamp, crc64nvme: digests.crc64nvme, sha256: digests.sha256 };
        self.entries.insert(relative.to_owned(), entry);
        self.changed = true;
    }

    /// Keeps only the entries for `live` paths and writes the cache atomically (a temporary
    /// file renamed into place), so a crash never leaves half a cache.
    pub fn save(&mut self, live: &[&str]) -> std::io::Result<()> {
        let before = self.entries.len();
        let keep: std::collections::HashSet<&str> = live.iter().copied().collect();
        self.entries.retain(|path, _| keep.contains(path.as_str()));
        let Some(path) = &self.path else { return Ok(()) };
        if !self.changed && before == self.entries.len() {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
            ignore_in_git(dir);
        }
        let file = CacheFile { format: FORMAT, entries: std::mem::take(&mut self.entries) };
        let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        self.entries = file.entries;
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, path)?;
        self.changed = false;
        Ok(())
    }
}

/// Keeps the tool's local folder out of git without touching the user's `.gitignore`.
fn ignore_in_git(dir: &Path) {
    let marker = dir.join(".gitignore");
    if !marker.exists() {
        let _ = std::fs::write(marker, "*\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(mtime_ns: i128) -> Stamp {
        Stamp { size: 3, mtime_ns, ctime_ns: mtime_ns, inode: 7 }
    }

    #[test]
    fn hits_only_on_identical_stamps() {
        let mut cache = HashCache::in_memory();
        let digests = Digests::of(b"abc");
        cache.put("a.csv", stamp(0), digests, 10_000_000_000);
        assert_eq!(cache.get("a.csv", &stamp(0)), Some(digests));
        assert_eq!(cache.get("a.csv", &stamp(1)), None);
        assert_eq!(cache.get("b.csv", &stamp(0)), None);
    }

    #[test]
    fn settling_files_are_not_cached() {
        let mut cache = HashCache::in_memory();
        cache.put("a.csv", stamp(9_000_000_000), Digests::of(b"abc"), 10_000_000_000);
        assert_eq!(cache.get("a.csv", &stamp(9_000_000_000)), None);
    }

    #[test]
    fn survives_a_round_trip_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = HashCache::open(dir.path());
        cache.put("a.csv", stamp(0), Digests::of(b"abc"), 10_000_000_000);
        cache.save(&["a.csv"]).unwrap();
        let reopened = HashCache::open(dir.path());
        assert_eq!(reopened.get("a.csv", &stamp(0)), Some(Digests::of(b"abc")));
        assert!(dir.path().join(".gitignore").exists());
    }
}
