//! `release validate`: load a manifest, report every problem with its place, touch no network.

use std::path::Path;

use super::Exit;
use crate::manifest::{self, LoadError};
use crate::render;

pub(super) fn run(path: &Path) -> Exit {
    match manifest::load(path) {
        Ok(loaded) => {
            let files = loaded.files.len();
            let databases = loaded.manifest.databases.len();
            render::status(&format!(
                "{} is valid: release `{}`, {files} file{}, {databases} database{}",
                path.display(),
                loaded.manifest.release,
                if files == 1 { "" } else { "s" },
                if databases == 1 { "" } else { "s" },
            ));
            Exit::Success
        }
        Err(LoadError::Invalid { path, diagnostics }) => {
            render::diagnostics(&diagnostics);
            render::error(
                &format!("`{path}` has {} problem{}", diagnostics.len(), plural(diagnostics.len())),
                None,
            );
            Exit::Error
        }
        Err(error) => {
            render::error(&error.to_string(), Some("give the path of a release manifest"));
            Exit::Error
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
