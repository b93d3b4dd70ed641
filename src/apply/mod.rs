//! Apply: carry out a plan exactly, resumably, under a lock, and leave a receipt.
//!
//! The steps:
//! 1. take the release lock (a lease in S3), so no one else applies the same release;
//! 2. read the journal of earlier runs of this plan, to resume where they stopped;
//! 3. upload creates and replaces, then delete, each on the precondition the plan recorded,
//!    a few files at a time;
//! 4. if every action succeeded and nothing was stopped by policy, write the receipt, last:
//!    locally, then to each destination, so its presence marks the release complete;
//! 5. release the lock.

pub mod journal;
pub mod lock;
pub mod progress;
pub mod receipt;
pub mod transfer;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use futures_util::{StreamExt, stream};

use self::journal::{Entry, Journal, Resume};
use self::progress::{Event, Progress};
use self::receipt::{Deleted, Receipt, ReceiptObject, RestoredDatabase};
use self::transfer::{Job, TransferError, Tuning};
use crate::databases::{self, restore};
use crate::manifest::Loaded;
use crate::manifest::types::{Database, Destination};
use crate::plan::{Action, ActionKind, DatabaseAction, DatabaseKind, Plan, Precondition};
use crate::providers::s3::{Bucket, Condition, S3Error, WriteOptions, Written};

/// How an apply runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub tuning: Tuning,
    /// Files transferring at once.
    pub files_in_flight: usize,
    /// One JSON event per line on stdout instead of a progress bar.
    pub json: bool,
    /// How often a running database restore is polled.
    pub restore_poll: std::time::Duration,
}

/// An action that did not happen, and why.
#[derive(Debug)]
pub struct Failed {
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub written: usize,
    pub deleted: usize,
    pub already_done: usize,
    pub failed: Vec<Failed>,
    /// Set when everything succeeded; where the local copy was written.
    pub receipt: Option<(Receipt, std::path::PathBuf)>,
}

/// Why an apply could not start or finish its bookkeeping.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error("cannot write `{path}`: {source}")]
    Local { path: String, source: std::io::Error },
}

/// Buckets and normalised prefixes by destination name.
pub type Buckets = BTreeMap<String, (Bucket, String)>;

/// Carries out `plan` for the manifest it was made from.
pub async fn apply(
    plan: &Plan,
    loaded: &Loaded,
    buckets: &Buckets,
    config: &aws_config::SdkConfig,
    applied_by: &str,
    settings: Settings,
) -> Result<Outcome, ApplyError> {
    let state_dir = loaded.root.join(".release");
    let mut outcome = Outcome::default();
    let changes: Vec<&Action> = plan.actions.iter().filter(|a| a.kind.changes()).collect();
    let touched: BTreeSet<&str> = plan.actions.iter().map(|a| a.destination.as_str()).collect();

    // Take the lock in the first destination the release touches.
    let Some((lock_bucket, lock_prefix, lock_destination)) = touched
        .iter()
        .find_map(|name| Some((buckets.get(*name)?, loaded.manifest.destinations.get(*name)?)))
        .map(|((bucket, prefix), destination)| (bucket, prefix, destination))
    else {
        return Ok(outcome);
    };
    let release = &loaded.manifest.release;
    let encryption = &lock_destination.encryption;
    let held = lock::acquire(lock_bucket, lock_prefix, release, applied_by, encryption).await?;

    // Resume from the journal of earlier runs, then run every change.
    let local_error =
        |path: &Path, source| ApplyError::Local { path: path.display().to_string(), source };
    let journal_dir = state_dir.join("journal");
    let (journal, entries) =
        Journal::open(&journal_dir, &plan.digest).map_err(|e| local_error(&journal_dir, e))?;
    let resume = Resume::from_entries(&entries);
    let total: u64 = changes.iter().filter_map(|a| a.local.as_ref()).map(|l| l.size).sum();
    let progress = Progress::new(total, settings.json);
    let content_types = content_types(loaded);
    let memory = transfer::buffer_budget();
    let context = Context {
        loaded,
        memory: &memory,
        buckets,
        journal: &journal,
        resume: &resume,
        progress: &progress,
        content_types: &content_types,
        settings,
        lost: &|| held.lost(),
    };
    let (uploads, deletes): (Vec<&Action>, Vec<&Action>) =
        changes.into_iter().partition(|a| a.kind != ActionKind::Delete);
    let mut results = run_all(&context, &uploads).await;
    results.extend(run_all(&context, &deletes).await);
    progress.finish();

    // Tally, and write the receipt only when the whole plan is done.
    let mut written: HashMap<(String, String), Written> = HashMap::new();
    for (action, result) in results {
        match result {
            Ok(Done::Written(w)) => {
                outcome.written += 1;
                written.insert((action.destination.clone(), action.key.clone()), w);
            }
            Ok(Done::Already(w)) => {
                outcome.already_done += 1;
                written.insert((action.destination.clone(), action.key.clone()), w);
            }
            Ok(Done::Deleted) => outcome.deleted += 1,
            Err(failed) => outcome.failed.push(failed),
        }
    }
    // Restore databases once every upload (their staged backups included) went through.
    let mut restored = Vec::new();
    if outcome.failed.is_empty() && !held.lost() {
        let (done, failed) = restore_databases(plan, loaded, config, settings, &progress).await;
        restored = done;
        outcome.failed.extend(failed);
    }

    let stopped = plan.summary.conflict + plan.summary.blocked;
    if outcome.failed.is_empty() && stopped == 0 && !held.lost() {
        let mut receipt = build_receipt(plan, loaded, buckets, applied_by, &written);
        receipt.databases = restored;
        let path = write_receipt(&receipt, &state_dir, buckets, &touched, loaded).await?;
        outcome.receipt = Some((receipt, path));
    }
    held.release().await?;
    Ok(outcome)
}

/// Everything an action needs, shared by all of them.
struct Context<'a> {
    loaded: &'a Loaded,
    buckets: &'a Buckets,
    journal: &'a Journal,
    resume: &'a Resume,
    progress: &'a Progress,
    content_types: &'a HashMap<String, String>,
    /// Buffer memory shared by all transfers.
    memory: &'a std::sync::Arc<tokio::sync::Semaphore>,
    settings: Settings,
    lost: &'a (dyn Fn() -> bool + Sync),
}

/// How an action ended well.
enum Done {
    Written(Written),
    /// The object already held the planned content (an earlier run wrote it).
    Already(Written),
    Deleted,
}

async fn run_all<'a>(
    context: &Context<'_>,
    actions: &[&'a Action],
) -> Vec<(&'a Action, Result<Done, Failed>)> {
    stream::iter(actions.iter().copied())
        .map(|action| async move { (action, run_one(context, action).await) })
        .buffer_unordered(context.settings.files_in_flight.max(1))
        .collect()
        .await
}

async fn run_one(context: &Context<'_>, action: &Action) -> Result<Done, Failed> {
    let failed =
        |message: String, hint: Option<String>| Failed { key: action.key.clone(), message, hint };
    if (context.lost)() {
        return Err(failed("the release lock was lost; nothing more is done".into(), None));
    }
    let Some((bucket, _)) = context.buckets.get(&action.destination) else {
        return Err(failed(
            format!("destination `{}` is not in the manifest", action.destination),
            None,
        ));
    };
    let kind = if action.kind == ActionKind::Delete { "delete" } else { "upload" };
    let progress = context.progress;
    let bytes = action.local.as_ref().map_or(0, |l| l.size);
    progress.emit(&Event::Started { kind, key: &action.key, bytes });
    let result = match action.kind {
        ActionKind::Delete => delete(context, bucket, action).await,
        _ => upload(context, bucket, action).await,
    };
    match &result {
        Ok(done) => {
            let etag = match done {
                Done::Written(w) | Done::Already(w) => w.etag.as_str(),
                Done::Deleted => "",
            };
            progress.emit(&Event::Finished { kind, key: &action.key, etag });
        }
        Err(error) => {
            progress.emit(&Event::Failed { kind, key: &action.key, error: &error.message })
        }
    }
    result
}

async fn upload(context: &Context<'_>, bucket: &Bucket, action: &Action) -> Result<Done, Failed> {
    let failed =
        |message: String, hint: Option<String>| Failed { key: action.key.clone(), message, hint };
    let (Some(local), Some(destination)) =
        (&action.local, context.loaded.manifest.destinations.get(&action.destination))
    else {
        return Err(failed("the plan has no local file for this upload".into(), None));
    };
    let condition = match &action.precondition {
        Precondition::Etag { etag } => Condition::Etag(etag.clone()),
        _ => Condition::Absent,
    };
    let content_type = context.content_types.get(&action.key).cloned();
    let job = Job {
        bucket: bucket.clone(),
        key: action.key.clone(),
        path: context.loaded.root.join(&local.path),
        planned: local.clone(),
        condition,
        options: write_options(destination, content_type, &local.path, &local.sha256),
    };
    let result = transfer::upload(
        &job,
        context.settings.tuning,
        context.journal,
        context.resume,
        context.progress,
        context.memory,
    )
    .await;
    match result {
        Ok(stored) => {
            context.journal.record(&Entry::ObjectDone {
                bucket: bucket.name().to_owned(),
                key: action.key.clone(),
                etag: stored.written.etag.clone(),
                version_id: stored.written.version_id.clone(),
            });
            if stored.fresh {
                Ok(Done::Written(stored.written))
            } else {
                Ok(Done::Already(stored.written))
            }
        }
        Err(TransferError::Stale { .. }) => Err(failed(
            format!("`s3://{}/{}` changed since the plan was made", bucket.name(), action.key),
            Some("make a new plan, review it, and apply that".into()),
        )),
        Err(TransferError::S3(error)) => {
            let hint = error.hint();
            Err(failed(error.to_string(), hint))
        }
        Err(error) => {
            Err(failed(error.to_string(), Some("make a new plan once the file is final".into())))
        }
    }
}

async fn delete(context: &Context<'_>, bucket: &Bucket, action: &Action) -> Result<Done, Failed> {
    let Precondition::Etag { etag } = &action.precondition else {
        return Err(Failed {
            key: action.key.clone(),
            message: "a delete needs an ETag precondition".into(),
            hint: None,
        });
    };
    match bucket.delete_object(&action.key, etag).await {
        Ok(()) => {}
        Err(error) if error.is_code("NoSuchKey") => {}
        Err(error) if error.is_code("PreconditionFailed") => {
            // Gone already (an earlier run deleted it) is what the plan asked for.
            let still_there = bucket.head(&action.key).await.map(|h| h.is_some()).unwrap_or(true);
            if still_there {
                return Err(Failed {
                    key: action.key.clone(),
                    message: format!(
                        "`s3://{}/{}` changed since the plan was made",
                        bucket.name(),
                        action.key
                    ),
                    hint: Some("make a new plan, review it, and apply that".into()),
                });
            }
        }
        Err(error) => {
            let hint = error.hint();
            return Err(Failed { key: action.key.clone(), message: error.to_string(), hint });
        }
    }
    context
        .journal
        .record(&Entry::DeleteDone { bucket: bucket.name().to_owned(), key: action.key.clone() });
    Ok(Done::Deleted)
}

/// Restores every database the plan restores or resumes, at most two tasks at once per
/// instance (the RDS limit), and records those already restored from their backup.
async fn restore_databases(
    plan: &Plan,
    loaded: &Loaded,
    config: &aws_config::SdkConfig,
    settings: Settings,
    progress: &Progress,
) -> (Vec<RestoredDatabase>, Vec<Failed>) {
    let mut by_instance: BTreeMap<&str, Vec<(&DatabaseAction, &Database)>> = BTreeMap::new();
    let mut done = Vec::new();
    for (action, database) in plan.databases.iter().zip(&loaded.manifest.databases) {
        match action.kind {
            DatabaseKind::Restore | DatabaseKind::Resume => {
                by_instance.entry(action.instance.as_str()).or_default().push((action, database));
            }
            DatabaseKind::Unchanged => {
                done.push(restored_entry(action, action.task_id, "ONLINE", false))
            }
            DatabaseKind::Skip | DatabaseKind::Conflict => {}
        }
    }
    let say = |text: &str| progress.say(text);
    let runs = by_instance.into_values().map(|actions| async move {
        stream::iter(actions)
            .map(|(action, database)| async move {
                let result = async {
                    let mut connection = databases::connect(config, loaded, database).await?;
                    restore::restore(&mut connection, database, action, settings.restore_poll, &say)
                        .await
                }
                .await;
                (action, result)
            })
            .buffer_unordered(2)
            .collect::<Vec<_>>()
            .await
    });
    let mut failed = Vec::new();
    for (action, result) in futures_util::future::join_all(runs).await.into_iter().flatten() {
        match result {
            Ok(restored) => done.push(restored_entry(
                action,
                Some(restored.task_id),
                &restored.state,
                restored.started,
            )),
            Err(error) => failed.push(Failed {
                key: format!("{} / {}", action.instance, action.database),
                hint: error.hint(),
                message: error.to_string(),
            }),
        }
    }
    (done, failed)
}

fn restored_entry(
    action: &DatabaseAction,
    task_id: Option<i64>,
    state: &str,
    now: bool,
) -> RestoredDatabase {
    RestoredDatabase {
        instance: action.instance.clone(),
        database: action.database.clone(),
        s3_arn: action.s3_arn.clone(),
        staged_keys: action.staged_keys.clone(),
        backup_sha256: action.backup.iter().map(|b| b.sha256.clone()).collect(),
        task_id,
        state: state.to_owned(),
        finished_at: jiff::Timestamp::now(),
        restored_now: now,
    }
}

/// Content types the manifest sets, by object key.
fn content_types(loaded: &Loaded) -> HashMap<String, String> {
    loaded
        .files
        .iter()
        .filter_map(|f| {
            let set = loaded.manifest.files.get(f.set)?;
            Some((f.key.clone(), set.content_type.clone()?))
        })
        .collect()
}

fn write_options(
    destination: &Destination,
    content_type: Option<String>,
    path: &str,
    sha256: &str,
) -> WriteOptions {
    WriteOptions {
        encryption: destination.encryption.clone(),
        storage_class: destination.storage_class,
        content_type: content_type.unwrap_or_else(|| guess_content_type(path).to_owned()),
        sha256: sha256.to_owned(),
        send_checksum: destination.checksum.send,
    }
}

/// A content type from the file's extension, for the kinds of files releases carry.
pub fn guess_content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "txt" | "log" | "sql" => "text/plain",
        "md" => "text/markdown",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "parquet" => "application/vnd.apache.parquet",
        _ => "application/octet-stream",
    }
}

fn build_receipt(
    plan: &Plan,
    loaded: &Loaded,
    buckets: &Buckets,
    applied_by: &str,
    written: &HashMap<(String, String), Written>,
) -> Receipt {
    let bucket_of = |d: &str| buckets.get(d).map(|(b, _)| b.name().to_owned()).unwrap_or_default();
    let mut objects = Vec::new();
    let mut deleted = Vec::new();
    for action in &plan.actions {
        let bucket = bucket_of(&action.destination);
        match (action.kind, &action.local) {
            (ActionKind::Delete, _) => deleted.push(Deleted {
                destination: action.destination.clone(),
                bucket,
                key: action.key.clone(),
            }),
            (ActionKind::Create | ActionKind::Replace | ActionKind::Unchanged, Some(local)) => {
                let stored = written.get(&(action.destination.clone(), action.key.clone()));
                let etag = stored
                    .map(|w| w.etag.clone())
                    .or_else(|| action.remote.as_ref().map(|r| r.etag.clone()))
                    .unwrap_or_default();
                objects.push(ReceiptObject {
                    destination: action.destination.clone(),
                    bucket,
                    key: action.key.clone(),
                    size: local.size,
                    sha256: local.sha256.clone(),
                    crc64nvme: local.crc64nvme.clone(),
                    etag,
                    version_id: stored.and_then(|w| w.version_id.clone()),
                    written: stored.is_some(),
                });
            }
            _ => {}
        }
    }
    objects.sort_by(|a, b| (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key)));
    Receipt {
        format: receipt::FORMAT.to_owned(),
        version: receipt::VERSION,
        release: loaded.manifest.release.clone(),
        completed_at: jiff::Timestamp::now(),
        applied_by: applied_by.to_owned(),
        account_id: plan.account_id.clone(),
        manifest: plan.manifest.clone(),
        plan_digest: plan.digest.clone(),
        objects,
        deleted,
        databases: Vec::new(),
    }
}

/// Writes the receipt locally, then to every destination the release touched.
async fn write_receipt(
    receipt: &Receipt,
    state_dir: &Path,
    buckets: &Buckets,
    touched: &BTreeSet<&str>,
    loaded: &Loaded,
) -> Result<std::path::PathBuf, ApplyError> {
    let body = receipt::to_json(receipt);
    let path = receipt::local_path(state_dir, receipt);
    let local_error = |source| ApplyError::Local { path: path.display().to_string(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(local_error)?;
    }
    std::fs::write(&path, &body).map_err(local_error)?;
    let digests = crate::inventory::digest::Digests::of(&body);
    for name in touched {
        let (Some((bucket, prefix)), Some(destination)) =
            (buckets.get(*name), loaded.manifest.destinations.get(*name))
        else {
            continue;
        };
        let options = WriteOptions {
            encryption: destination.encryption.clone(),
            storage_class: None,
            content_type: "application/json".to_owned(),
            sha256: digests.sha256_hex(),
            send_checksum: destination.checksum.send,
        };
        let history = receipt::receipt_key(prefix, receipt);
        bucket
            .put_object(&history, body.clone(), digests.crc64nvme, &options, &Condition::Absent)
            .await?;
        let latest = receipt::latest_key(prefix, &receipt.release);
        let condition = match bucket.head(&latest).await? {
            Some(head) => Condition::Etag(head.etag.unwrap_or_default()),
            None => Condition::Absent,
        };
        bucket.put_object(&latest, body.clone(), digests.crc64nvme, &options, &condition).await?;
    }
    Ok(path)
}
