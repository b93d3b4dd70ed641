//! The apply journal: an append-only record of progress under `.release/journal/`, one file
//! per plan. It makes resuming faster (it knows which parts were sent and their checksums) and
//! lets a watcher follow progress, but nothing depends on it: losing it loses no work, since
//! resuming also asks S3 what exists.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Entry {
    /// A multipart upload was created for `key` with parts of `part_size` bytes.
    UploadStarted { bucket: String, key: String, upload_id: String, part_size: u64 },
    /// Part `part` of an upload was stored with this ETag and CRC64NVME.
    PartDone { key: String, upload_id: String, part: i32, etag: String, crc64nvme: u64 },
    /// `key` holds the planned content.
    ObjectDone { bucket: String, key: String, etag: String, version_id: Option<String> },
    /// `key` was deleted as planned.
    DeleteDone { bucket: String, key: String },
}

/// What a journal says about earlier runs of the same plan.
#[derive(Debug, Default)]
pub struct Resume {
    /// Stored parts by (upload id, part number): ETag and CRC64NVME.
    pub parts: std::collections::HashMap<(String, i32), (String, u64)>,
    /// Uploads started, as (bucket, key, upload id), oldest first.
    pub uploads: Vec<(String, String, String)>,
    /// Objects committed, by (bucket, key): the ETag they were committed with.
    pub done: std::collections::HashMap<(String, String), String>,
}

impl Resume {
    pub fn from_entries(entries: &[Entry]) -> Resume {
        let mut resume = Resume::default();
        for entry in entries {
            match entry {
                Entry::UploadStarted { bucket, key, upload_id, .. } => {
                    resume.uploads.push((bucket.clone(), key.clone(), upload_id.clone()));
                }
                Entry::PartDone { upload_id, part, etag, crc64nvme, .. } => {
                    resume.parts.insert((upload_id.clone(), *part), (etag.clone(), *crc64nvme));
                }
                Entry::ObjectDone { bucket, key, etag, .. } => {
                    resume.done.insert((bucket.clone(), key.clone()), etag.clone());
                }
                Entry::DeleteDone { .. } => {}
            }
        }
        resume
    }

    /// Upload ids started for `key` in `bucket`.
    pub fn uploads_for(&self, bucket: &str, key: &str) -> Vec<String> {
        let ours = |(b, k, _): &&(String, String, String)| b == bucket && k == key;
        self.uploads.iter().filter(ours).map(|(_, _, id)| id.clone()).collect()
    }
}

/// An open journal, safe to append to from several tasks.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    /// Opens (creating if needed) the journal for the plan with `plan_digest` under `dir`,
    /// and returns it with the entries already in it. Unreadable lines (a write cut short by a
    /// crash) are skipped.
    pub fn open(dir: &Path, plan_digest: &str) -> std::io::Result<(Journal, Vec<Entry>)> {
        std::fs::create_dir_all(dir)?;
        let name: String = plan_digest.chars().take(16).collect();
        let path = dir.join(format!("{name}.jsonl"));
        let mut entries = Vec::new();
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                if let Ok(entry) = serde_json::from_str(&line) {
                    entries.push(entry);
                }
            }
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        // A line cut short by a crash is closed, so the next entry starts on a line of its own.
        let bytes = std::fs::read(&path)?;
        if bytes.last().is_some_and(|b| *b != b'\n') {
            file.write_all(b"\n")?;
        }
        Ok((Journal { path, file: Mutex::new(file) }, entries))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry as a line. A failure to record progress is logged, not fatal: the
    /// journal only speeds resuming up.
    pub fn record(&self, entry: &Entry) {
        let Ok(mut line) = serde_json::to_string(entry) else { return };
        line.push('\n');
        let written = match self.file.lock() {
            Ok(mut file) => file.write_all(line.as_bytes()).and_then(|()| file.flush()),
            Err(_) => return,
        };
        if let Err(error) = written {
            tracing::warn!(path = %self.path.display(), %error, "cannot write to the journal");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, before) = Journal::open(dir.path(), "abcdef").unwrap();
        assert!(before.is_empty());
        let entry = Entry::DeleteDone { bucket: "b".into(), key: "k".into() };
        journal.record(&entry);
        std::fs::OpenOptions::new()
            .append(true)
            .open(journal.path())
            .unwrap()
            .write_all(b"{\"event\":\"part-do")
            .unwrap();
        let (journal, after) = Journal::open(dir.path(), "abcdef").unwrap();
        assert_eq!(after, std::slice::from_ref(&entry));
        journal.record(&entry);
        let (_, again) = Journal::open(dir.path(), "abcdef").unwrap();
        assert_eq!(again, [entry.clone(), entry]);
    }
}
