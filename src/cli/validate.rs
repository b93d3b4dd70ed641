//! `release validate`: load a manifest, report every problem with its place, touch no network.

use std::path::Path;

use super::{Exit, Failure, load_manifest};
use crate::render;

pub(super) fn run(path: &Path) -> Result<Exit, Failure> {
    let loaded = load_manifest(path)?;
    let files = loaded.files.len();
    let databases = loaded.manifest.databases.len();
    render::status(&format!(
        "{} is valid: release `{}`, {files} file{}, {databases} database{}",
        path.display(),
        loaded.manifest.release,
        if files == 1 { "" } else { "s" },
        if databases == 1 { "" } else { "s" },
    ));
    Ok(Exit::Success)
}
