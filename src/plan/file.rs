//! Saved plans: versioned JSON that carries its own digest, so an edited plan is refused.

use std::path::Path;

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

/// The digest a plan should carry: SHA-256 of its JSON with the digest field empty.
pub fn digest(plan: &Plan) -> String {
    let mut unsigned = plan.clone();
    unsigned.digest = String::new();
    let bytes = serde_json::to_vec(&unsigned).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// Fills in the digest and writes the plan, atomically.
pub fn save(plan: &mut Plan, path: &Path) -> Result<(), PlanFileError> {
    plan.digest = digest(plan);
    let write_error = |source| PlanFileError::Write { path: path.display().to_string(), source };
    let mut text = serde_json::to_string_pretty(plan).map_err(|e| write_error(e.into()))?;
    text.push('\n');
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).map_err(write_error)?;
    std::fs::rename(&temporary, path).map_err(write_error)
}

/// Reads a plan and checks its format, version and digest.
pub fn load(path: &Path) -> Result<Plan, PlanFileError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|source| PlanFileError::Read { path: shown.clone(), source })?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| PlanFileError::NotAPlan { path: shown.clone(), reason: e.to_string() })?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        let reason = format!("its `format` is not `{FORMAT}`");
        return Err(PlanFileError::NotAPlan { path: shown, reason });
    }
    let found = value.get("version").and_then(|v| v.as_u64()).unwrap_or_default();
    if found != u64::from(VERSION) {
        return Err(PlanFileError::Version { path: shown, found: found as u32 });
    }
    let plan: Plan = serde_json::from_value(value)
        .map_err(|e| PlanFileError::NotAPlan { path: shown.clone(), reason: e.to_string() })?;
    if plan.digest != digest(&plan) {
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
