//! Fingerprinting selected files: size, times and both digests, read once, in parallel,
//! skipping files the hash cache already knows.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::cache::{HashCache, Stamp};
use super::digest::{Digests, Hasher};
use super::select::Selected;

const BUFFER: usize = 1024 * 1024;

/// A selected file with its content identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub selected: Selected,
    pub stamp: Stamp,
    pub digests: Digests,
}

/// What fingerprinting had to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    pub files_read: usize,
    pub bytes_read: u64,
    pub from_cache: usize,
}

/// A file that could not be fingerprinted.
#[derive(Debug, thiserror::Error)]
#[error("cannot read `{path}`: {source}")]
pub struct FingerprintError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Fingerprints `files` in order, hashing on up to `threads` threads what `cache` does not
/// know, and records new digests in the cache.
pub fn fingerprint(
    files: Vec<Selected>,
    cache: &mut HashCache,
    threads: usize,
) -> Result<(Vec<LocalFile>, Work), FingerprintError> {
    let mut work = Work::default();
    let mut fingerprinted = Vec::with_capacity(files.len());
    let mut pending = Vec::new();
    for selected in files {
        let metadata = std::fs::metadata(&selected.path)
            .map_err(|source| FingerprintError { path: selected.relative.clone(), source })?;
        let stamp = Stamp::of(&metadata);
        let cached = cache.get(&selected.relative, &stamp);
        match cached {
            Some(_) => work.from_cache += 1,
            None => pending.push(fingerprinted.len()),
        }
        // Files still to hash get their digests below; until then they hold a placeholder.
        let digests = cached.unwrap_or(Digests { crc64nvme: 0, sha256: [0; 32] });
        fingerprinted.push(LocalFile { selected, stamp, digests });
    }

    let hashed = hash_all(&fingerprinted, &pending, threads)?;
    let now = now_ns();
    for (index, digests) in pending.into_iter().zip(hashed) {
        let file = &mut fingerprinted[index];
        work.files_read += 1;
        work.bytes_read += file.stamp.size;
        cache.put(&file.selected.relative, file.stamp, digests, now);
        file.digests = digests;
    }
    Ok((fingerprinted, work))
}

/// Hashes the files at the `pending` indexes of `files`, workers taking the next one from a
/// shared counter.
fn hash_all(
    files: &[LocalFile],
    pending: &[usize],
    threads: usize,
) -> Result<Vec<Digests>, FingerprintError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Digests, FingerprintError>>>> =
        Mutex::new((0..pending.len()).map(|_| None).collect());
    let workers = threads.clamp(1, pending.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut buffer = vec![0u8; BUFFER];
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(selected) = pending.get(index).map(|&i| &files[i].selected) else {
                        break;
                    };
                    let result = hash_file(&selected.path, &mut buffer).map_err(|source| {
                        FingerprintError { path: selected.relative.clone(), source }
                    });
                    if let Ok(mut results) = results.lock() {
                        results[index] = Some(result);
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    results.into_iter().map(|r| r.unwrap_or_else(|| Err(missing_result()))).collect()
}

/// Only reached if a worker panicked; reported as an error rather than a wrong digest.
fn missing_result() -> FingerprintError {
    FingerprintError {
        path: String::new(),
        source: std::io::Error::other("hashing worker stopped"),
    }
}

/// Both digests of the file at `path`, read once.
pub fn hash_file(path: &Path, buffer: &mut [u8]) -> std::io::Result<Digests> {
    let mut file = File::open(path)?;
    let mut hasher = Hasher::new();
    loop {
        let read = file.read(buffer)?;
        if read == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buffer[..read]);
    }
}

fn now_ns() -> i128 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map(|d| d.as_nanos() as i128).unwrap_or_default()
}
