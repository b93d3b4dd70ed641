//! Reading a manifest: text → located YAML → typed `Manifest` → checked, with every problem
//! collected and given a place in the file.
//!
//! This is the first step of the pipeline. Nothing here touches the network; the only I/O
//! is reading the manifest and listing the local files it selects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::diagnostic::Diagnostic;
use super::source::{Position, SourceMap};
use super::types::{Aws, Database, Destination, FileSet, Manifest, Policy};
use super::{rules, validate};
use crate::inventory::select::{self, Selected};

/// Manifests are small; anything bigger is a mistake or an attack.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// A manifest that passed every check, with the files it selects.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The manifest file as the user named it.
    pub path: PathBuf,
    /// The folder every source path is relative to.
    pub root: PathBuf,
    pub manifest: Manifest,
    /// SHA-256 of the manifest's bytes, hex.
    pub digest: String,
    /// Selected local files, in manifest order then path order.
    pub files: Vec<Selected>,
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read manifest `{path}`: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("manifest `{path}` is {size} bytes; the limit is {MAX_MANIFEST_BYTES}")]
    TooLarge { path: String, size: u64 },
    #[error("manifest `{path}` has {} problem{}", diagnostics.len(), plural(diagnostics.len()))]
    Invalid { path: String, diagnostics: Vec<Diagnostic> },
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Loads and checks the manifest at `path`.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let shown = path.display().to_string();
    let read_error = |source| LoadError::Read { path: shown.clone(), source };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_MANIFEST_BYTES {
        return Err(LoadError::TooLarge { path: shown, size });
    }
    let bytes = std::fs::read(path).map_err(read_error)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let root = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let digest = hex::encode(Sha256::digest(&bytes));

    let checked = check_text(&shown, &text, &root);
    match checked {
        Ok((manifest, files)) => {
            Ok(Loaded { path: path.to_path_buf(), root, manifest, digest, files })
        }
        Err(diagnostics) => Err(LoadError::Invalid { path: shown, diagnostics }),
    }
}

/// Every check on a manifest's text, with `root` as its folder.
fn check_text(
    file: &str,
    text: &str,
    root: &Path,
) -> Result<(Manifest, Vec<Selected>), Vec<Diagnostic>> {
    let map = SourceMap::build(text);
    let locate = |problem: validate::Problem| {
        Diagnostic::new(file, text, map.value(&problem.path), problem.message)
            .with_width(map.width(&problem.path))
            .with_hint(problem.hint)
    };

    // Credentials are refused wherever they appear, even in a file that does not parse.
    let mut diagnostics = credential_diagnostics(file, text, &map);

    // Types: on failure, parse each top-level section alone to report more than one error.
    let manifest = match parse::<Manifest>(text) {
        Ok(manifest) => manifest,
        Err(error) => {
            let mut found = vec![to_diagnostic(file, text, &map, &error)];
            for section in sections(text, &map) {
                if let Err(error) = parse::<Partial>(&section) {
                    found.push(to_diagnostic(file, text, &map, &error));
                }
            }
            found.sort_by(|a, b| (a.position, &a.message).cmp(&(b.position, &b.message)));
            found.dedup_by(|a, b| a.position == b.position && a.message == b.message);
            diagnostics.extend(found);
            return Err(diagnostics);
        }
    };

    // Rules on values, then on the files the manifest selects.
    diagnostics.extend(validate::check(&manifest).into_iter().map(locate));
    let (files, problems) = select::select(&manifest, root);
    for problem in problems {
        let path = problem.manifest_path();
        let diagnostic = Diagnostic::new(file, text, map.value(&path), problem.to_string())
            .with_width(map.width(&path))
            .with_hint(problem.hint());
        diagnostics.push(diagnostic);
    }
    diagnostics.extend(validate::check_keys(&manifest, &files).into_iter().map(locate));

    if diagnostics.is_empty() {
        Ok((manifest, files))
    } else {
        diagnostics.sort_by_key(|d| d.position);
        Err(diagnostics)
    }
}

/// The same top-level keys as `Manifest`, all optional, to type-check one section alone.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Partial {
    release: Option<String>,
    description: Option<String>,
    ticket: Option<String>,
    aws: Option<Aws>,
    destinations: Option<BTreeMap<String, Destination>>,
    files: Option<Vec<FileSet>>,
    databases: Option<Vec<Database>>,
    policy: Option<Policy>,
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: 64,
            max_anchors: 64,
            max_depth: 32,
            max_events: 500_000,
        },
    };
    serde_saphyr::from_str_with_options(text, options)
}

/// The text once per top-level key, with every other line blanked so that line numbers
/// stay those of the whole file.
fn sections(text: &str, map: &SourceMap) -> Vec<String> {
    let starts: Vec<usize> = map.top_level().iter().map(|(_, line)| *line).collect();
    let lines: Vec<&str> = text.lines().collect();
    let mut sections = Vec::new();
    for (index, start) in starts.iter().enumerate() {
        let end = starts.get(index + 1).copied().unwrap_or(lines.len() + 1);
        let mut section = String::with_capacity(text.len());
        for (number, line) in lines.iter().enumerate().map(|(i, l)| (i + 1, l)) {
            if (*start..end).contains(&number) {
                section.push_str(line);
            }
            section.push('\n');
        }
        sections.push(section);
    }
    sections
}

fn to_diagnostic(
    file: &str,
    text: &str,
    map: &SourceMap,
    error: &serde_saphyr::Error,
) -> Diagnostic {
    let position = error
        .location()
        .map(|l| Position { line: l.line() as usize, column: l.column() as usize })
        .filter(|p| p.line > 0)
        .unwrap_or(Position { line: 1, column: 1 });
    let options = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
    let rendered = error.render_with_options(options);
    let (message, hint) = explain(&strip_location(&rendered));
    // The parser points at the mapping's last key; a missing key belongs to the mapping.
    let position = if message.contains("missing field") {
        map.owner_of_key_at(position)
    } else if message == "the manifest is empty" {
        Position { line: 1, column: 1 }
    } else {
        position
    };
    Diagnostic::new(file, text, position, message).with_hint(hint)
}

/// The parser's message without the location it appends (shown separately).
fn strip_location(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    let cut = first.find(" at line ").unwrap_or(first.len());
    let trimmed = first[..cut].trim().trim_end_matches('.');
    let mut chars = trimmed.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "the manifest cannot be read".to_owned(),
    }
}

/// The parser's wording, rephrased where it speaks to programmers, with a hint.
fn explain(message: &str) -> (String, String) {
    let schema = "`release schema` describes every key";
    if message.contains("budget") {
        let message = "the manifest is too large or nests anchors and aliases too deeply".into();
        return (message, "write the values out; anchors and aliases are limited".into());
    }
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        let message = format!("key `{key}` appears twice in the same mapping");
        return (message, "remove one of the two; each key may appear once".into());
    }
    if message.contains("unexpected end of input") || message.contains("end of stream") {
        return (
            "the manifest is empty".into(),
            format!("start from `examples/quickstart`; {schema}"),
        );
    }
    let hint = if message.contains("unknown field") {
        "check the spelling; `release schema` lists every key".to_owned()
    } else if message.contains("missing field") {
        "add the key; `release schema` shows what each section needs".to_owned()
    } else if message.contains("unknown variant") {
        "use one of the values the message lists".to_owned()
    } else if message.contains("sequence") {
        "this value must be a list: one `- item` per line, or `[a, b]`".to_owned()
    } else if message.contains("boolean") {
        "use `true` or `false`".to_owned()
    } else if message.contains("tab") {
        "indent with spaces; YAML does not allow tabs".to_owned()
    } else {
        format!("fix the YAML at this place; {schema}")
    };
    (message.to_owned(), hint)
}

/// Values that look like AWS credentials, wherever they are, even on lines that do not
/// parse. Every shown line is masked, so the diagnostic does not repeat the secret.
fn credential_diagnostics(file: &str, text: &str, map: &SourceMap) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for (offset, token) in rules::credential_tokens(line) {
            let Some(kind) = rules::looks_like_credential(token) else { continue };
            let number = index + 1;
            let position = Position { line: number, column: line[..offset].chars().count() + 1 };
            let owner =
                map.scalars().iter().find(|s| s.position.line == number && s.value.contains(token));
            let message = match owner {
                Some(scalar) => format!("`{}` holds what looks like {kind}", scalar.path),
                None => format!("line {number} holds what looks like {kind}"),
            };
            let diagnostic =
                Diagnostic::new(file, text, position, message).with_width(Some(8)).with_hint(
                    "never put credentials in a manifest: use `aws.profile` with IAM Identity \
                     Center or an assumed role, and rotate this key if it is real",
                );
            found.push(diagnostic);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keep_line_numbers() {
        let text = "a: 1\nb:\n  c: 2\nd: 3\n";
        let map = SourceMap::build(text);
        let parts = sections(text, &map);
        assert_eq!(parts, ["a: 1\n\n\n\n", "\nb:\n  c: 2\n\n", "\n\n\nd: 3\n"]);
    }

    #[test]
    fn location_suffix_is_removed_and_first_letter_lowered() {
        assert_eq!(strip_location("Unknown field `x` at line 3, column 1"), "unknown field `x`");
    }
}
