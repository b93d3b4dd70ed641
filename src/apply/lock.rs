//! The release lock: a lease object under the reserved prefix, so that two people never
//! apply the same release at once.
//!
//! Taking the lock creates `.release/<release>/lock.json` with `If-None-Match: *`; only one
//! creator can succeed. The lease names its holder and runs for a few minutes; the holder
//! renews it with `If-Match` on its last ETag, and releases it with a conditional delete.
//! A lease that has run out (its holder crashed) may be taken over, again with `If-Match`,
//! so two people cannot both take over the same stale lease. On the holder's own machine a
//! lease whose process is gone is taken over at once, so re-running a killed apply resumes
//! without waiting for the lease to run out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::manifest::types::Encryption;
use crate::observe::RESERVED;
use crate::providers::s3::{Bucket, Condition, S3Error, WriteOptions};

/// How long a lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(300);
/// How often the holder renews it.
const RENEW_EVERY: Duration = Duration::from_secs(60);

/// What the lock object holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Random id; `release unlock` needs it.
    pub lock_id: String,
    pub release: String,
    /// Caller identity ARN of the holder.
    pub holder: String,
    pub host: String,
    pub pid: u32,
    pub acquired_at: jiff::Timestamp,
    pub expires_at: jiff::Timestamp,
}

/// Why the lock could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "release `{release}` is being applied by {holder} on {host} (pid {pid}) until {expires_at} \
         (lock {lock_id})"
    )]
    Held {
        release: String,
        holder: String,
        host: String,
        pid: u32,
        expires_at: String,
        lock_id: String,
    },
    #[error("the lock object `s3://{bucket}/{key}` is not a release lock: {reason}")]
    Unreadable { bucket: String, key: String, reason: String },
    #[error(transparent)]
    S3(#[from] S3Error),
}

/// Where a release's lock lives: under the reserved prefix of one destination.
pub fn lock_key(prefix: &str, release: &str) -> String {
    format!("{prefix}{RESERVED}{release}/lock.json")
}

/// A held lock; renewed in the background until released.
pub struct Held {
    bucket: Bucket,
    key: String,
    pub lease: Lease,
    etag: Arc<Mutex<String>>,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Held {
    /// Whether a renewal failed, so another apply may have taken the release over.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Stops renewing and deletes the lock if it is still ours.
    pub async fn release(self) -> Result<(), S3Error> {
        self.renewer.abort();
        let etag = self.etag.lock().await.clone();
        match self.bucket.delete_object(&self.key, &etag).await {
            Ok(()) => Ok(()),
            Err(error) if error.is_code("PreconditionFailed") => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// Takes the lock for `release` in `bucket` under `prefix`, or says who holds it.
pub async fn acquire(
    bucket: &Bucket,
    prefix: &str,
    release: &str,
    holder: &str,
    encryption: &Encryption,
) -> Result<Held, LockError> {
    let key = lock_key(prefix, release);
    let lease = new_lease(release, holder);
    let etag = match put_lease(bucket, &key, &lease, encryption, &Condition::Absent).await {
        Ok(etag) => etag,
        Err(error) if error.is_code("PreconditionFailed") => {
            take_over(bucket, &key, &lease, encryption).await?
        }
        Err(error) => return Err(error.into()),
    };
    tracing::debug!(key = %key, lock_id = %lease.lock_id, "lock taken");
    let etag = Arc::new(Mutex::new(etag));
    let lost = Arc::new(AtomicBool::new(false));
    let renewer = tokio::spawn(renew(
        bucket.clone(),
        key.clone(),
        lease.clone(),
        encryption.clone(),
        Arc::clone(&etag),
        Arc::clone(&lost),
    ));
    Ok(Held { bucket: bucket.clone(), key, lease, etag, lost, renewer })
}

/// Reads the current lease; takes it over only if it has expired.
async fn take_over(
    bucket: &Bucket,
    key: &str,
    lease: &Lease,
    encryption: &Encryption,
) -> Result<String, LockError> {
    let Some((current, etag)) = read(bucket, key).await? else {
        // Released between our attempt and this read: try once more to create it.
        return Ok(put_lease(bucket, key, lease, encryption, &Condition::Absent).await?);
    };
    let crashed_here = current.host == lease.host && !process_alive(current.pid);
    if current.expires_at > jiff::Timestamp::now() && !crashed_here {
        return Err(held(current));
    }
    let holder = &current.holder;
    tracing::warn!(%holder, crashed_here, "taking over a lock whose holder is gone");
    match put_lease(bucket, key, lease, encryption, &Condition::Etag(etag)).await {
        Ok(etag) => Ok(etag),
        Err(error) if error.is_code("PreconditionFailed") => match read(bucket, key).await? {
            Some((winner, _)) => Err(held(winner)),
            None => Err(error.into()),
        },
        Err(error) => Err(error.into()),
    }
}

/// Whether a process with this id runs on this machine.
fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn held(lease: Lease) -> LockError {
    LockError::Held {
        release: lease.release,
        holder: lease.holder,
        host: lease.host,
        pid: lease.pid,
        expires_at: lease.expires_at.to_string(),
        lock_id: lease.lock_id,
    }
}

/// The lease at `key` and its ETag, if there is one.
pub async fn read(bucket: &Bucket, key: &str) -> Result<Option<(Lease, String)>, LockError> {
    let Some((body, etag)) = bucket.get_small(key).await? else { return Ok(None) };
    let lease = serde_json::from_slice(&body).map_err(|e| LockError::Unreadable {
        bucket: bucket.name().to_owned(),
        key: key.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Some((lease, etag)))
}

/// Removes the lock at `key` if its id is `lock_id`.
pub async fn unlock(bucket: &Bucket, key: &str, lock_id: &str) -> Result<Option<Lease>, LockError> {
    let Some((lease, etag)) = read(bucket, key).await? else { return Ok(None) };
    if lease.lock_id != lock_id {
        return Err(held(lease));
    }
    bucket.delete_object(key, &etag).await?;
    Ok(Some(lease))
}

async fn renew(
    bucket: Bucket,
    key: String,
    mut lease: Lease,
    encryption: Encryption,
    etag: Arc<Mutex<String>>,
    lost: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        lease.expires_at = expiry_from_now();
        let mut current = etag.lock().await;
        let condition = Condition::Etag(current.clone());
        match put_lease(&bucket, &key, &lease, &encryption, &condition).await {
            Ok(new_etag) => *current = new_etag,
            Err(error) => {
                tracing::error!(%error, "cannot renew the release lock");
                lost.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
}

async fn put_lease(
    bucket: &Bucket,
    key: &str,
    lease: &Lease,
    encryption: &Encryption,
    condition: &Condition,
) -> Result<String, S3Error> {
    let body = serde_json::to_vec_pretty(lease).unwrap_or_default();
    let digests = crate::inventory::digest::Digests::of(&body);
    let options = WriteOptions {
        encryption: encryption.clone(),
        storage_class: None,
        content_type: "application/json".to_owned(),
        sha256: digests.sha256_hex(),
        send_checksum: true,
    };
    let written = bucket.put_object(key, body, digests.crc64nvme, &options, condition).await?;
    Ok(written.etag)
}

fn new_lease(release: &str, holder: &str) -> Lease {
    let now = jiff::Timestamp::now();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown host".to_owned());
    let pid = std::process::id();
    let seed = format!("{now}-{host}-{pid}-{holder}-{:?}", std::time::Instant::now());
    let lock_id = hex::encode(&Sha256::digest(seed.as_bytes())[..8]);
    Lease {
        lock_id,
        release: release.to_owned(),
        holder: holder.to_owned(),
        host,
        pid,
        acquired_at: now,
        expires_at: expiry_from_now(),
    }
}

fn expiry_from_now() -> jiff::Timestamp {
    let lease = jiff::SignedDuration::try_from(LEASE).unwrap_or_default();
    jiff::Timestamp::now().checked_add(lease).unwrap_or(jiff::Timestamp::MAX)
}
