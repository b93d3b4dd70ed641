//! Saved plans: versioned JSON that carries its own digest, so an edited plan is refused.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{FORMAT, Plan, VERSION};

/// Why a saved plan cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read plan `{path}`: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write plan `{path}`: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("`{path}` is not a release plan: {reason}")]
    NotAPlan { path: String, reason: String },
    #[error("plan `{path}` is format version {found}; this release reads version {VERSION}")]
    Version { path: String, found: u32 },
    #[error("plan `{path}` was changed after it was made (its digest does not match its content)")]
    Tampered { path: String },
}

impl PlanFileError {
    pub fn hint(&self) -> &'static str {
        match self {
            PlanFileError::Tampered { .. } | PlanFileError::Version { .. } => {
                "make a new plan with `release plan -o FILE` and have it reviewed"
            }
            _ => "give the path of a file written by `release plan -o`",
        }
    }
}

/// The digest a plan should carry: SHA-256 of its JSON with the digest field empty. The JSON
/// is streamed into the hash, never held whole, so large plans cost no extra memory.
pub fn digest(plan: &mut Plan) -> String {
    let carried = std::mem::take(&mut plan.digest);
    let mut hasher = Sha256::new();
    // Serialising plain data into a hasher cannot fail: no map has non-string keys and the
    // writer never errors.
    let _ = serde_json::to_writer(&mut hasher, &*plan);
    plan.digest = carried;
    hex::encode(hasher.finalize())
}

/// Fills in the digest and writes the plan, atomically: to a temporary file beside it, then
/// renamed into place, so a crash never leaves half a plan.
pub fn save(plan: &mut Plan, path: &Path) -> Result<(), PlanFileError> {
    plan.digest = digest(plan);
    let write_error = |source| PlanFileError::Write { path: path.display().to_string(), source };
    let temporary = path.with_extension("tmp");
    let written = (|| {
        let mut out = BufWriter::new(File::create(&temporary)?);
        serde_json::to_writer_pretty(&mut out, &*plan)?;
        out.write_all(b"\n")?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(write_error(error));
    }
    std::fs::rename(&temporary, path).map_err(write_error)
}

/// The first fields of a plan file, read before the rest so that other formats and
/// versions are refused by name rather than by a confusing field error.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u64>,
}

/// Reads a plan and checks its format, version and digest.
pub fn load(path: &Path) -> Result<Plan, PlanFileError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|source| PlanFileError::Read { path: shown.clone(), source })?;
    let not_a_plan = |e: serde_json::Error| PlanFileError::NotAPlan {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let header: Header = serde_json::from_slice(&bytes).map_err(not_a_plan)?;
    if header.format.as_deref() != Some(FORMAT) {
        let reason = format!("its `format` is not `{FORMAT}`");
        return Err(PlanFileError::NotAPlan { path: shown, reason });
    }
    let found = header.version.unwrap_or_default();
    if found != u64::from(VERSION) {
        let found = u32::try_from(found).unwrap_or(u32::MAX);
        return Err(PlanFileError::Version { path: shown, found });
    }
    let mut plan: Plan = serde_json::from_slice(&bytes).map_err(not_a_plan)?;
    drop(bytes);
    let expected = digest(&mut plan);
    if plan.digest != expected {
        return Err(PlanFileError::Tampered { path: shown });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ManifestRef, Summary};

    fn plan() -> Plan {
        Plan {
            format: FORMAT.into(),
            version: VERSION,
            release: "r1".into(),
            created_at: jiff::Timestamp::UNIX_EPOCH,
            manifest: ManifestRef {
                path: "release.yaml".into(),
                digest: "00".into(),
                git_commit: None,
                git_dirty: None,
            },
            account_id: "123456789012".into(),
            planned_by: "arn:aws:sts::123456789012:assumed-role/r/s".into(),
            destinations: Default::default(),
            actions: vec![],
            databases: vec![],
            summary: Summary::default(),
            digest: String::new(),
        }
    }

    #[test]
    fn saved_plans_load_back_equal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let mut original = plan();
        save(&mut original, &path).unwrap();
        assert_eq!(load(&path).unwrap(), original);
    }

    #[test]
    fn edited_plans_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        save(&mut plan(), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap().replace("123456789012", "999999999999");
        std::fs::write(&path, text).unwrap();
        assert!(matches!(load(&path), Err(PlanFileError::Tampered { .. })));
    }

    #[test]
    fn other_versions_and_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(&path, r#"{"format":"release-plan","version":99}"#).unwrap();
        assert!(matches!(load(&path), Err(PlanFileError::Version { found: 99, .. })));
        std::fs::write(&path, r#"{"hello":1}"#).unwrap();
        assert!(matches!(load(&path), Err(PlanFileError::NotAPlan { .. })));
    }
}
