//! Which local files a manifest selects, and the key each one gets.
//!
//! First step of the inventory: the manifest's file sets (a file, a folder or a glob, minus
//! excludes) become a list of files with the key each lands at. Every path must stay inside
//! the manifest's folder, through `..` and symlinks alike.

use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use walkdir::WalkDir;

use crate::manifest::template::{KeyTemplate, TemplateError};
use crate::manifest::types::Manifest;

/// Folders beside the manifest that are never part of a release.
const SKIPPED_DIRS: [&str; 2] = [".git", ".release"];

/// A local file selected by the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// Index of the file set in `files` that selected it.
    pub set: usize,
    /// The file on disk.
    pub path: PathBuf,
    /// The path relative to the manifest's folder, with `/` separators.
    pub relative: String,
    /// Name of the destination.
    pub destination: String,
    /// The full object key, destination prefix included.
    pub key: String,
}

/// A file set that cannot be expanded as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectProblem {
    #[error("`{source_text}` matches no file")]
    NoMatch { set: usize, source_text: String },
    #[error("`{path}` is outside the manifest's folder")]
    Outside { set: usize, path: String },
    #[error("`{pattern}` is not a valid glob: {reason}")]
    BadGlob { set: usize, field: String, pattern: String, reason: String },
    #[error("{error}")]
    BadTemplate { set: usize, error: TemplateError },
    #[error("cannot read `{path}`: {reason}")]
    Unreadable { set: usize, path: String, reason: String },
}

impl SelectProblem {
    /// The manifest path of the value the problem is about.
    pub fn manifest_path(&self) -> String {
        match self {
            SelectProblem::NoMatch { set, .. }
            | SelectProblem::Outside { set, .. }
            | SelectProblem::Unreadable { set, .. } => format!("files[{set}].source"),
            SelectProblem::BadGlob { set, field, .. } => format!("files[{set}].{field}"),
            SelectProblem::BadTemplate { set, .. } => format!("files[{set}].key"),
        }
    }

    pub fn hint(&self) -> String {
        match self {
            SelectProblem::NoMatch { .. } => {
                "check the path is relative to the manifest's folder, or remove the entry".into()
            }
            SelectProblem::Outside { .. } => {
                "move the files under the manifest's folder; `..` and symlinks may not leave it"
                    .into()
            }
            SelectProblem::BadGlob { .. } => {
                "use `*`, `**`, `?`, `[abc]` or `{a,b}`, with every bracket closed".into()
            }
            SelectProblem::BadTemplate { error, .. } => error.hint(),
            SelectProblem::Unreadable { .. } => "check the file's permissions".into(),
        }
    }
}

/// Expands every file set of `manifest`, whose folder is `root`. Returns what could be
/// selected and every problem found, so that all of them can be reported at once.
pub fn select(manifest: &Manifest, root: &Path) -> (Vec<Selected>, Vec<SelectProblem>) {
    let mut selected = Vec::new();
    let mut problems = Vec::new();
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    for (set, entry) in manifest.files.iter().enumerate() {
        let before = selected.len();
        let excludes = match exclude_set(set, &entry.exclude) {
            Ok(excludes) => excludes,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        // A bad template is reported; the files are still listed to find other problems.
        let template = KeyTemplate::parse(&entry.key).unwrap_or_else(|error| {
            problems.push(SelectProblem::BadTemplate { set, error });
            KeyTemplate::default_layout()
        });
        let prefix = manifest
            .destinations
            .get(&entry.destination)
            .map(|d| normalise_prefix(&d.prefix))
            .unwrap_or_default();
        let ctx = SetContext { set, root, canonical_root: &canonical_root, excludes: &excludes };
        for (relative, base_relative) in ctx.expand(&entry.source, &mut problems) {
            selected.push(Selected {
                set,
                path: root.join(&relative),
                key: format!("{prefix}{}", template.render(&base_relative, &manifest.release)),
                relative,
                destination: entry.destination.clone(),
            });
        }
        let nothing_new = selected.len() == before;
        if nothing_new
            && !problems.iter().any(|p| p.manifest_path().starts_with(&format!("files[{set}]")))
        {
            problems.push(SelectProblem::NoMatch { set, source_text: entry.source.clone() });
        }
    }
    (selected, problems)
}

/// A destination prefix with exactly one trailing `/` (or empty).
pub fn normalise_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() { String::new() } else { format!("{trimmed}/") }
}

struct SetContext<'a> {
    set: usize,
    root: &'a Path,
    canonical_root: &'a Path,
    excludes: &'a GlobSet,
}

impl SetContext<'_> {
    /// The files of one source as (path relative to root, path relative to the source base).
    fn expand(&self, source: &str, problems: &mut Vec<SelectProblem>) -> Vec<(String, String)> {
        let source = source.trim_start_matches("./");
        if Path::new(source).is_absolute() || escapes(source) {
            problems.push(SelectProblem::Outside { set: self.set, path: source.to_owned() });
            return Vec::new();
        }
        let (base, pattern) = split_glob(source);
        let matcher = match pattern {
            Some(_) => match glob(source) {
                Ok(glob) => Some(glob.compile_matcher()),
                Err(reason) => {
                    let pattern = source.to_owned();
                    let field = "source".to_owned();
                    problems.push(SelectProblem::BadGlob { set: self.set, field, pattern, reason });
                    return Vec::new();
                }
            },
            None => None,
        };
        let base_path = self.root.join(&base);
        if !base_path.exists() {
            return Vec::new();
        }
        if !self.inside(&base_path, &base, problems) {
            return Vec::new();
        }
        if base_path.is_file() && matcher.is_none() {
            let name = base.rsplit('/').next().unwrap_or(&base).to_owned();
            return if self.excludes.is_match(&base) { Vec::new() } else { vec![(base, name)] };
        }
        self.walk(&base_path, matcher.as_ref(), problems)
    }

    fn walk(
        &self,
        base_path: &Path,
        matcher: Option<&GlobMatcher>,
        problems: &mut Vec<SelectProblem>,
    ) -> Vec<(String, String)> {
        let mut files = Vec::new();
        let walker = WalkDir::new(base_path).follow_links(true).sort_by_file_name();
        let mut entries = walker.into_iter();
        while let Some(entry) = entries.next() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    let path = error.path().map(|p| p.display().to_string()).unwrap_or_default();
                    let reason = error.to_string();
                    problems.push(SelectProblem::Unreadable { set: self.set, path, reason });
                    continue;
                }
            };
            let Some(relative) = relative_to(self.root, entry.path()) else { continue };
            let skipped = SKIPPED_DIRS.iter().any(|d| entry.file_name() == *d);
            if entry.file_type().is_dir() && entry.depth() > 0 && skipped {
                entries.skip_current_dir();
                continue;
            }
            if entry.path_is_symlink() && !self.inside(entry.path(), &relative, problems) {
                if entry.file_type().is_dir() {
                    entries.skip_current_dir();
                }
                continue;
            }
            if !entry.file_type().is_file() || self.excludes.is_match(&relative) {
                continue;
            }
            if matcher.is_some_and(|m| !m.is_match(&relative)) {
                continue;
            }
            let from_base = relative_to(base_path, entry.path()).unwrap_or(relative.clone());
            files.push((relative, from_base));
        }
        files
    }

    /// Whether `path` (after resolving symlinks) is inside the root; records a problem if not.
    fn inside(&self, path: &Path, shown: &str, problems: &mut Vec<SelectProblem>) -> bool {
        let inside = path.canonicalize().is_ok_and(|real| real.starts_with(self.canonical_root));
        if !inside {
            problems.push(SelectProblem::Outside { set: self.set, path: shown.to_owned() });
        }
        inside
    }
}

fn exclude_set(set: usize, patterns: &[String]) -> Result<GlobSet, SelectProblem> {
    let mut builder = GlobSetBuilder::new();
    for (index, pattern) in patterns.iter().enumerate() {
        let glob = glob(pattern.trim_start_matches("./")).map_err(|reason| {
            let field = format!("exclude[{index}]");
            SelectProblem::BadGlob { set, field, pattern: pattern.clone(), reason }
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|error| SelectProblem::BadGlob {
        set,
        field: "exclude".to_owned(),
        pattern: patterns.join(", "),
        reason: error.to_string(),
    })
}

/// A glob where `*` stays within one folder and `**` crosses folders.
fn glob(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|error| error.kind().to_string())
}

/// Splits a source into its literal leading folders and, if it has one, the glob part.
fn split_glob(source: &str) -> (String, Option<String>) {
    let source = source.trim_end_matches('/');
    let is_glob = |part: &str| part.contains(['*', '?', '[', '{']);
    let parts: Vec<&str> = source.split('/').collect();
    match parts.iter().position(|part| is_glob(part)) {
        None => (source.to_owned(), None),
        Some(first) => {
            let base = parts[..first].join("/");
            (base, Some(parts[first..].join("/")))
        }
    }
}

/// Whether a relative path climbs above its start with `..`.
fn escapes(path: &str) -> bool {
    let mut depth: i64 = 0;
    for component in Path::new(path).components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// `path` relative to `base` with `/` separators, if it is below it.
fn relative_to(base: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(base).ok()?;
    let parts: Vec<_> = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect();
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_literal_folders_from_the_glob() {
        assert_eq!(split_glob("a/b/*.csv"), ("a/b".into(), Some("*.csv".into())));
        assert_eq!(split_glob("**/*.csv"), ("".into(), Some("**/*.csv".into())));
        assert_eq!(split_glob("a/b/"), ("a/b".into(), None));
    }

    #[test]
    fn detects_paths_that_climb_out() {
        assert!(escapes("../x"));
        assert!(escapes("a/../../x"));
        assert!(!escapes("a/../b"));
    }

    #[test]
    fn prefixes_end_in_one_slash() {
        assert_eq!(normalise_prefix(""), "");
        assert_eq!(normalise_prefix("/a/b//"), "a/b/");
    }
}
