//! The checked-in JSON Schema must be exactly what the manifest types generate, and
//! `release schema` must print it.

use std::process::Command;

const CHECKED_IN: &str = include_str!("../../schemas/release.schema.json");

#[test]
fn checked_in_schema_matches_the_types() {
    let generated = release::manifest::types::schema_json();
    assert!(
        generated == CHECKED_IN,
        "schemas/release.schema.json is stale: run \
         `cargo run -- schema > schemas/release.schema.json`"
    );
}

#[test]
fn schema_command_prints_the_schema() {
    let output = Command::new(env!("CARGO_BIN_EXE_release")).arg("schema").output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap(), CHECKED_IN);
}

#[test]
fn schema_refuses_unknown_keys_everywhere() {
    let schema: serde_json::Value = serde_json::from_str(CHECKED_IN).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    for name in ["Aws", "Destination", "FileSet", "Database", "Policy", "ChecksumSettings"] {
        assert_eq!(schema["$defs"][name]["additionalProperties"], false, "{name}");
    }
}

#[test]
fn examples_validate() {
    for example in ["examples/quickstart/release.yaml", "examples/rdmp-extraction/release.yaml"] {
        let output = Command::new(env!("CARGO_BIN_EXE_release"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["validate", example])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{example}: {stderr}");
        assert!(stderr.contains("is valid"), "{example}: {stderr}");
    }
}

#[test]
fn examples_declare_the_schema_for_editors() {
    for example in ["examples/quickstart/release.yaml", "examples/rdmp-extraction/release.yaml"] {
        let path = format!("{}/{example}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(first, "# yaml-language-server: $schema=../../schemas/release.schema.json");
    }
}
