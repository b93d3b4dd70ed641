//! `release validate` run on the manifests in `fixtures/`.
//!
//! Each folder in `fixtures/invalid/` holds a `release.yaml` that is wrong on purpose (its
//! first line says how) and, when it needs them, a few tiny data files. The binary must refuse
//! every one with exit code 1 and diagnostics that name a line and column and carry a hint.
//! What it prints is kept as one insta snapshot per fixture in `tests/snapshots/`, so a change
//! in wording or location shows up in review. The manifests in `fixtures/valid/` must pass.
//!
//! Write or refresh the snapshots with `INSTA_UPDATE=always cargo test --test
//! validate_fixtures`, then read every changed file. The fixtures are checked in one loop, so
//! a plain run stops at the first snapshot that differs; `INSTA_FORCE_PASS=1` shows them all.
//!
//! The `19-symlink-outside` fixture is a symlink in git; on a checkout without symlinks it
//! becomes a small text file and that fixture fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// AWS's documented example credentials, which some fixtures paste into a manifest.
const EXAMPLE_SECRETS: [&str; 2] =
    ["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"];

/// How much of a secret may appear in output before it counts as leaked.
const LEAK_LENGTH: usize = 8;

/// What one run of `release validate` reported.
struct Run {
    code: Option<i32>,
    stderr: String,
}

/// A manifest in `fixtures/<kind>/<name>/release.yaml`.
struct Fixture {
    name: String,
    /// Relative to the repository root, with `/` separators, as the diagnostics show it.
    manifest: String,
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `release --color never validate <manifest>` from the repository root.
fn validate(manifest: &str) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_release"))
        .args(["--color", "never", "validate", manifest])
        .current_dir(repo_root())
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|error| panic!("cannot run `release`: {error}"));
    let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
    Run { code: output.status.code(), stderr }
}

/// The folders of `fixtures/<kind>/` that hold a `release.yaml`, sorted by name.
fn fixtures(kind: &str) -> Vec<Fixture> {
    let folder: PathBuf = repo_root().join("fixtures").join(kind);
    let entries = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", folder.display()));
    let mut names: Vec<String> = entries
        .map(|entry| entry.expect("readable fixture folder").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| folder.join(name).join("release.yaml").is_file())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| Fixture { manifest: format!("fixtures/{kind}/{name}/release.yaml"), name })
        .collect()
}

/// Whether `text` points into a manifest by line and column, as in `release.yaml:12:5`.
fn has_location(text: &str) -> bool {
    let marker = "release.yaml:";
    text.match_indices(marker).any(|(at, _)| {
        let (line, rest) = leading_digits(&text[at + marker.len()..]);
        let Some(rest) = rest.strip_prefix(':') else { return false };
        let (column, _) = leading_digits(rest);
        !line.is_empty() && !column.is_empty()
    })
}

fn leading_digits(text: &str) -> (&str, &str) {
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    text.split_at(end)
}

/// The first run of `LEAK_LENGTH` characters of `secret` that appears in `text`, if any.
fn leaked<'a>(secret: &'a str, text: &str) -> Option<&'a str> {
    (0..=secret.len().saturating_sub(LEAK_LENGTH))
        .map(|start| &secret[start..start + LEAK_LENGTH])
        .find(|window| text.contains(window))
}

#[test]
fn invalid_manifests_are_refused_with_located_hints() {
    let fixtures = fixtures("invalid");
    assert!(
        fixtures.len() >= 32,
        "expected at least 32 invalid fixtures, found {}",
        fixtures.len()
    );

    // Snapshot every fixture first, so that one run records them all.
    let mut failures = Vec::new();
    for Fixture { name, manifest } in &fixtures {
        let run = validate(manifest);
        insta::with_settings!({ description => manifest.as_str(), omit_expression => true }, {
            insta::assert_snapshot!(name.as_str(), run.stderr);
        });
        if run.code != Some(1) {
            failures.push(format!("{name}: exit code {:?}, expected 1", run.code));
        }
        if !has_location(&run.stderr) {
            failures.push(format!("{name}: no `release.yaml:LINE:COLUMN` in stderr"));
        }
        if !run.stderr.contains("hint:") {
            failures.push(format!("{name}: no `hint:` in stderr"));
        }
    }

    // Then report every fixture that broke a rule, not only the first.
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_manifests_pass() {
    let fixtures = fixtures("valid");
    assert!(fixtures.iter().any(|f| f.name == "minimal"), "`fixtures/valid/minimal` is missing");
    for Fixture { name, manifest } in &fixtures {
        let run = validate(manifest);
        assert_eq!(run.code, Some(0), "{name} was refused:\n{}", run.stderr);
        insta::with_settings!({ description => manifest.as_str(), omit_expression => true }, {
            insta::assert_snapshot!(format!("valid-{name}"), run.stderr);
        });
    }
}

#[test]
fn example_credentials_are_never_echoed() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for Fixture { name, manifest } in fixtures("invalid") {
        let text = std::fs::read_to_string(repo_root().join(&manifest)).expect("readable manifest");
        let pasted: Vec<&str> = EXAMPLE_SECRETS.into_iter().filter(|s| text.contains(s)).collect();
        if pasted.is_empty() {
            continue;
        }
        checked += 1;
        let run = validate(&manifest);
        if run.code != Some(1) {
            failures.push(format!("{name}: exit code {:?}, expected 1", run.code));
        }
        for secret in pasted {
            if let Some(part) = leaked(secret, &run.stderr) {
                let line = run.stderr.lines().find(|line| line.contains(part)).unwrap_or_default();
                failures.push(format!("{name}: `{part}` of a pasted secret shown in `{line}`"));
            }
        }
        if !run.stderr.contains("********") {
            failures.push(format!("{name}: no line shown with the secret masked"));
        }
    }
    assert!(checked >= 2, "expected fixtures holding the example secrets, found {checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
