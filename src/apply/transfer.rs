//! Moving one file into one object, exactly as planned.
//!
//! Small files go in one PutObject. Larger ones go in a multipart upload: one reader streams
//! the file once, hashing it whole (CRC64NVME and SHA-256) and per part, and hands parts to a
//! few uploads in flight. Every buffer, whole small file or part, first takes its room in one
//! memory budget shared by the whole apply, so memory stays bounded whatever the sizes and
//! however many files are in flight.
//! An unfinished upload of the same key is resumed: parts whose size and checksum match are
//! kept, the rest are sent again. The object is only committed when the bytes read are those
//! planned; otherwise the upload is aborted and nothing changes in the bucket.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use crc_fast::CrcAlgorithm;
use futures_util::{StreamExt, stream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::journal::{Entry, Journal, Resume};
use super::progress::Progress;
use crate::inventory::cache::Stamp;
use crate::inventory::digest::{Digests, Hasher};
use crate::plan::LocalFacts;
use crate::providers::s3::{Bucket, Condition, S3Error, UploadedPart, WriteOptions, Written};

/// S3 allows at most this many parts in one upload.
const MAX_PARTS: u64 = 10_000;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Upload buffers, in KiB, that all transfers of one apply may hold at once. A buffer waits
/// for room before it is read, so memory stays bounded however many files are in flight.
pub const BUFFER_BUDGET_KIB: u32 = 96 * 1024;

/// A budget of buffer memory shared by every transfer of an apply, counted in KiB.
pub fn buffer_budget() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(BUFFER_BUDGET_KIB as usize))
}

/// The room a buffer of `bytes` takes in the budget. A buffer larger than the whole budget
/// takes all of it, so such buffers are held one at a time.
fn room_for(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(KIB).max(1)).unwrap_or(u32::MAX).min(BUFFER_BUDGET_KIB)
}

/// How transfers are sized.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Files at least this large use multipart uploads.
    pub multipart_threshold: u64,
    /// Preferred part size; raised when a file would need more than 10,000 parts.
    pub part_size: u64,
    /// Parts of one file uploading at once.
    pub parts_in_flight: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { multipart_threshold: 16 * MIB, part_size: 16 * MIB, parts_in_flight: 4 }
    }
}

/// One file to put at one key.
#[derive(Debug, Clone)]
pub struct Job {
    pub bucket: Bucket,
    pub key: String,
    pub path: PathBuf,
    pub planned: LocalFacts,
    pub condition: Condition,
    pub options: WriteOptions,
}

/// Why a transfer did not commit its object.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("`{path}` changed since the plan was made ({what}); it was not uploaded")]
    SourceChanged { path: String, what: String },
    #[error("`s3://{bucket}/{key}` changed since the plan was made")]
    Stale { bucket: String, key: String },
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error("cannot read `{path}`: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The part size for a file of `size` bytes: the preferred size, raised to a whole MiB so
/// that the file fits in 10,000 parts (a 5 TiB file gets parts of 525 MiB).
pub fn part_size(size: u64, preferred: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    preferred.max(needed).max(5 * MIB)
}

/// What a transfer left in the bucket.
#[derive(Debug, Clone)]
pub struct Stored {
    pub written: Written,
    /// False when the object already held the planned content (an earlier run wrote it).
    pub fresh: bool,
}

/// Uploads `job` and returns what the store holds.
pub async fn upload(
    job: &Job,
    tuning: Tuning,
    journal: &Journal,
    resume: &Resume,
    progress: &Progress,
    memory: &Arc<Semaphore>,
) -> Result<Stored, TransferError> {
    check_source(job)?;
    if job.planned.size < tuning.multipart_threshold {
        return upload_single(job, resume, progress, memory).await;
    }
    upload_multipart(job, tuning, journal, resume, progress, memory).await
}

/// The file must still have the size and modification time it had when planned.
fn check_source(job: &Job) -> Result<(), TransferError> {
    let metadata = std::fs::metadata(&job.path)
        .map_err(|source| TransferError::Io { path: job.planned.path.clone(), source })?;
    let stamp = Stamp::of(&metadata);
    let changed =
        |what: String| TransferError::SourceChanged { path: job.planned.path.clone(), what };
    if stamp.size != job.planned.size {
        return Err(changed(format!("size {} is now {}", job.planned.size, stamp.size)));
    }
    if i64::try_from(stamp.mtime_ns).ok() != Some(job.planned.mtime_ns) {
        return Err(changed("its modification time moved".to_owned()));
    }
    Ok(())
}

async fn upload_single(
    job: &Job,
    resume: &Resume,
    progress: &Progress,
    memory: &Arc<Semaphore>,
) -> Result<Stored, TransferError> {
    let io = |source| TransferError::Io { path: job.planned.path.clone(), source };
    // The buffer keeps its room in the budget until the upload ends.
    let _room = Arc::clone(memory)
        .acquire_many_owned(room_for(job.planned.size))
        .await
        .map_err(|_| io(std::io::Error::other("the apply stopped")))?;
    // Read and hash on a blocking thread, so that hashing runs beside other uploads.
    let path = job.path.clone();
    let (body, digests) = tokio::task::spawn_blocking(move || {
        let body = std::fs::read(path)?;
        let digests = Digests::of(&body);
        Ok::<_, std::io::Error>((body, digests))
    })
    .await
    .map_err(|e| io(std::io::Error::other(e)))?
    .map_err(io)?;
    if digests.crc64nvme_base64() != job.planned.crc64nvme
        || digests.sha256_hex() != job.planned.sha256
    {
        return Err(TransferError::SourceChanged {
            path: job.planned.path.clone(),
            what: "its content differs from the planned checksum".to_owned(),
        });
    }
    let size = body.len() as u64;
    let result = job
        .bucket
        .put_object(&job.key, body, digests.crc64nvme, &job.options, &job.condition)
        .await;
    let stored = committed_or_stale(job, resume, result).await?;
    progress.advance(size);
    Ok(stored)
}

/// Turns a refused condition into "already done" when the object holds the planned
/// content (a previous run committed it), and into `Stale` otherwise.
async fn committed_or_stale(
    job: &Job,
    resume: &Resume,
    result: Result<Written, S3Error>,
) -> Result<Stored, TransferError> {
    match result {
        Ok(written) => Ok(Stored { written, fresh: true }),
        Err(error) if error.is_code("PreconditionFailed") => match already_done(job, resume).await?
        {
            Some(written) => Ok(Stored { written, fresh: false }),
            None => Err(TransferError::Stale {
                bucket: job.bucket.name().to_owned(),
                key: job.key.clone(),
            }),
        },
        Err(error) => Err(error.into()),
    }
}

/// The stored object, when it already has the planned content: its checksum says so, or
/// (for stores that keep no checksum of multipart objects) the journal recorded committing
/// this plan's content with the ETag it still has.
pub async fn already_done(job: &Job, resume: &Resume) -> Result<Option<Written>, S3Error> {
    let Some(head) = job.bucket.head(&job.key).await? else { return Ok(None) };
    let etag = head.etag.clone().unwrap_or_default();
    let journaled = resume
        .done
        .get(&(job.bucket.name().to_owned(), job.key.clone()))
        .is_some_and(|done| same_etag(done, &etag));
    let same = head.size as u64 == job.planned.size
        && match (&head.crc64nvme, &head.sha256) {
            (Some(crc), _) => *crc == job.planned.crc64nvme,
            (None, Some(sha)) => *sha == job.planned.sha256,
            (None, None) => journaled,
        };
    Ok(same.then(|| Written { etag: head.etag.unwrap_or_default(), version_id: head.version_id }))
}

async fn upload_multipart(
    job: &Job,
    tuning: Tuning,
    journal: &Journal,
    resume: &Resume,
    progress: &Progress,
    memory: &Arc<Semaphore>,
) -> Result<Stored, TransferError> {
    // A previous run may have finished this object already.
    if let Some(written) = already_done(job, resume).await? {
        progress.advance(job.planned.size);
        return Ok(Stored { written, fresh: false });
    }
    let part_size = part_size(job.planned.size, tuning.part_size);
    let (upload_id, existing) = find_or_create(job, part_size, journal, resume).await?;

    // Read the file once: whole-file digests, and a checksum per part.
    let (sender, receiver) = mpsc::channel::<Part>(1);
    let reader = {
        let path = job.path.clone();
        let memory = Arc::clone(memory);
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || read_parts(path, part_size, sender, &memory, &runtime))
    };
    let stored: Arc<HashMap<i32, UploadedPart>> =
        Arc::new(existing.into_iter().map(|p| (p.number, p)).collect());
    let uploads = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
    .map(|(number, body, crc, room)| {
        let stored = Arc::clone(&stored);
        let upload_id = upload_id.clone();
        async move {
            // The part keeps its share of the memory budget until its upload ends.
            let _room = room;
            let size = body.len() as u64;
            if let Some(etag) = reusable(&stored, &resume.parts, &upload_id, number, size, crc) {
                tracing::debug!(key = %job.key, part = number, "keep: part already stored");
                progress.advance(size);
                return Ok::<_, S3Error>((number, etag, crc));
            }
            let etag =
                job.bucket.upload_part(&job.key, &upload_id, number, body, Some(crc)).await?;
            journal.record(&Entry::PartDone {
                key: job.key.clone(),
                upload_id: upload_id.clone(),
                part: number,
                etag: etag.clone(),
                crc64nvme: crc,
            });
            progress.advance(size);
            Ok((number, etag, crc))
        }
    })
    .buffer_unordered(tuning.parts_in_flight.max(1))
    .collect::<Vec<_>>()
    .await;

    let io = |source| TransferError::Io { path: job.planned.path.clone(), source };
    let digests = reader.await.map_err(|e| io(std::io::Error::other(e)))?.map_err(io)?;
    let mut parts = Vec::with_capacity(uploads.len());
    for result in uploads {
        parts.push(result?);
    }
    parts.sort_by_key(|(number, ..)| *number);

    // Commit only the planned bytes; otherwise leave no upload behind.
    let planned = digests.crc64nvme_base64() == job.planned.crc64nvme
        && digests.sha256_hex() == job.planned.sha256;
    if !planned || check_source(job).is_err() {
        job.bucket.abort_upload(&job.key, &upload_id).await?;
        return Err(TransferError::SourceChanged {
            path: job.planned.path.clone(),
            what: "its content differs from the planned checksum".to_owned(),
        });
    }
    let parts: Vec<(i32, String, Option<u64>)> =
        parts.into_iter().map(|(n, etag, crc)| (n, etag, Some(crc))).collect();
    let crc = job.options.send_checksum.then_some(digests.crc64nvme);
    let result =
        job.bucket.complete_upload(&job.key, &upload_id, &parts, crc, &job.condition).await;
    if result.as_ref().is_err_and(|e| e.is_code("PreconditionFailed")) {
        job.bucket.abort_upload(&job.key, &upload_id).await?;
    }
    committed_or_stale(job, resume, result).await
}

/// The stored part's ETag when it can be kept: same size, and a checksum (from the store, or
/// from the journal for the same ETag) equal to the part just read.
fn reusable(
    stored: &HashMap<i32, UploadedPart>,
    known: &HashMap<(String, i32), (String, u64)>,
    upload_id: &str,
    number: i32,
    size: u64,
    crc: u64,
) -> Option<String> {
    let part = stored.get(&number)?;
    if part.size != size {
        return None;
    }
    if let Some(stored_crc) = &part.crc64nvme {
        let same = *stored_crc == crate::inventory::digest::crc64nvme_base64(crc);
        return (same && !part.etag.is_empty()).then(|| part.etag.clone());
    }
    // The store lists no checksum: trust the journal's record of sending this very part,
    // provided the store's ETag (when it gives one) is the one recorded.
    let (etag, known_crc) = known.get(&(upload_id.to_owned(), number))?;
    let same_part = *known_crc == crc && (part.etag.is_empty() || same_etag(etag, &part.etag));
    same_part.then(|| etag.clone())
}

/// ETags compare without the quotes some responses wrap them in.
fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

/// An unfinished upload of this key with the same part size, or a new one. Uploads that
/// cannot be reused are aborted so that none is left behind.
async fn find_or_create(
    job: &Job,
    part_size: u64,
    journal: &Journal,
    resume: &Resume,
) -> Result<(String, Vec<UploadedPart>), S3Error> {
    let mut candidates: Vec<String> =
        job.bucket.open_uploads(&job.key).await?.into_iter().map(|u| u.upload_id).collect();
    for entry in resume.uploads_for(job.bucket.name(), &job.key) {
        if !candidates.contains(&entry) {
            candidates.push(entry);
        }
    }
    let mut chosen = None;
    for upload_id in candidates {
        let parts = job.bucket.list_parts(&job.key, &upload_id).await?;
        let Some(parts) = parts else { continue };
        tracing::debug!(key = %job.key, %upload_id, ?parts, "unfinished upload found");
        let fits =
            parts.iter().all(|p| p.size == part_size || p.number == last_part(job, part_size));
        if chosen.is_none() && fits {
            tracing::debug!(key = %job.key, %upload_id, parts = parts.len(), "resume upload");
            chosen = Some((upload_id, parts));
        } else {
            job.bucket.abort_upload(&job.key, &upload_id).await?;
        }
    }
    if let Some(found) = chosen {
        return Ok(found);
    }
    let upload_id = job.bucket.create_upload(&job.key, &job.options).await?;
    journal.record(&Entry::UploadStarted {
        bucket: job.bucket.name().to_owned(),
        key: job.key.clone(),
        upload_id: upload_id.clone(),
        part_size,
    });
    Ok((upload_id, Vec::new()))
}

fn last_part(job: &Job, part_size: u64) -> i32 {
    job.planned.size.div_ceil(part_size).max(1) as i32
}

/// A part read from disk: number, bytes, CRC64NVME, and its room in the memory budget.
type Part = (i32, Vec<u8>, u64, OwnedSemaphorePermit);

/// Reads the file in parts, sending each with its CRC64NVME, and returns the whole file's
/// digests. Runs on a blocking thread.
fn read_parts(
    path: PathBuf,
    part_size: u64,
    sender: mpsc::Sender<Part>,
    memory: &Arc<Semaphore>,
    runtime: &tokio::runtime::Handle,
) -> std::io::Result<Digests> {
    let mut file = std::fs::File::open(&path)?;
    let mut hasher = Hasher::new();
    let mut number = 0;
    let share = room_for(part_size);
    loop {
        let room = runtime
            .block_on(Arc::clone(memory).acquire_many_owned(share))
            .map_err(|_| std::io::Error::other("the upload stopped"))?;
        // Exactly one part's worth of memory: `read_to_end` would grow a full buffer.
        let mut part = vec![0u8; part_size as usize];
        let filled = fill(&mut file, &mut part)?;
        part.truncate(filled);
        if part.is_empty() && number > 0 {
            break;
        }
        number += 1;
        hasher.update(&part);
        let crc = crc_fast::checksum(CrcAlgorithm::Crc64Nvme, &part);
        let last = (part.len() as u64) < part_size;
        if sender.blocking_send((number, part, crc, room)).is_err() {
            return Err(std::io::Error::other("the upload stopped"));
        }
        if last {
            break;
        }
    }
    Ok(hasher.finish())
}

/// Reads until `buffer` is full or the file ends; returns how much was read.
fn fill(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_keep_any_file_under_ten_thousand_parts() {
        assert_eq!(part_size(100 * MIB, 16 * MIB), 16 * MIB);
        let five_tib = 5 * 1024 * 1024 * MIB;
        let size = part_size(five_tib, 16 * MIB);
        assert_eq!(size, 525 * MIB);
        assert!(five_tib.div_ceil(size) <= MAX_PARTS);
        assert_eq!(part_size(MIB, MIB), 5 * MIB);
    }

    #[test]
    fn buffers_take_room_by_the_kib_and_never_more_than_the_budget() {
        assert_eq!(room_for(0), 1);
        assert_eq!(room_for(4 * KIB + 1), 5);
        assert_eq!(room_for(16 * MIB), 16 * 1024);
        assert_eq!(room_for(525 * MIB), BUFFER_BUDGET_KIB);
    }
}
