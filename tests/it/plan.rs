//! `release plan` and `release show` through the built binary, against the in-process S3
//! server (s3s-fs) and STS emulator.
//!
//! Each test builds a release folder with a few small files, puts whatever the bucket should
//! already hold through the SDK with the right CRC64NVME, and reads what the plan says: the
//! table and its summary line on stdout, the status lines on stderr, and the JSON plan. The
//! last tests pin the table, JSON and Markdown renderings of one mixed plan as snapshots.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use crate::common::{ACCOUNT, BUCKET, Run, World, block_on};
use release::inventory::digest::Digests;
use release::providers::s3::StoredChecksum;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The release folder most tests use: three files under `extract/`, which the manifest sends
/// to destination `tre` (prefix `data/`) with the default `{path}` layout.
const FILES: [(&str, &str); 3] = [
    ("extract/README.md", "# Extract\nSynthetic data for tests.\n"),
    ("extract/people.csv", "person_id,year_of_birth\nP0001,1961\nP0002,1975\n"),
    ("extract/visits/2024.csv", "person_id,visit_date\nP0001,2024-03-01\n"),
];

/// The manifest's `files` section for [`FILES`].
const FILES_SECTION: &str = "files:\n  - { source: extract, destination: tre }\n";

/// A world holding [`FILES`] and a manifest with `policy` (YAML, possibly empty) at the end.
fn world(policy: &str) -> World {
    let world = World::new();
    for (path, content) in FILES {
        world.write(path, content);
    }
    world.manifest(&format!("{FILES_SECTION}{policy}"));
    world
}

/// The object key a file of [`FILES`] lands at.
fn key_of(path: &str) -> String {
    format!("data/{}", path.trim_start_matches("extract/"))
}

/// Puts `content` at `key` with its correct CRC64NVME, as a finished release would have.
fn store(world: &World, key: &str, content: &[u8]) -> StoredChecksum {
    let crc = Digests::of(content).crc64nvme;
    block_on(world.bucket().put(key, content.to_vec(), crc, false))
        .unwrap_or_else(|error| panic!("put {key}: {error}"))
}

/// Stores every file of [`FILES`] with its content.
fn store_all(world: &World) {
    for (path, content) in FILES {
        store(world, &key_of(path), content.as_bytes());
    }
}

/// Waits out the hash cache's settling time: it does not remember a file whose modification
/// or change time is within two seconds of hashing, since a write in the same clock tick
/// could go unseen. Tests about the cache need files older than that.
fn let_files_settle() {
    std::thread::sleep(Duration::from_millis(2_200));
}

/// Runs `release plan --json` with `extra` arguments and parses stdout.
fn plan_json(world: &World, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["plan", "--json"];
    args.extend_from_slice(extra);
    let run = world.release(&args);
    assert!(matches!(run.code, Some(0 | 2)), "plan failed\n{}", run.stderr);
    let plan = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("plan JSON: {error}\n{}", run.stdout));
    (run, plan)
}

/// `(kind, key)` of every action of a JSON plan, in plan order.
fn kinds(plan: &Value) -> Vec<(String, String)> {
    actions(plan)
        .iter()
        .map(|action| (text(&action["kind"]).to_owned(), text(&action["key"]).to_owned()))
        .collect()
}

fn actions(plan: &Value) -> &Vec<Value> {
    plan["actions"].as_array().expect("`actions` is a list")
}

/// The action for `key` in a JSON plan.
fn action<'a>(plan: &'a Value, key: &str) -> &'a Value {
    actions(plan)
        .iter()
        .find(|action| action["key"] == key)
        .unwrap_or_else(|| panic!("no action for {key} in\n{plan:#}"))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("expected a string, found {value}"))
}

/// The stderr line that says how many files were read and how many came from the cache.
fn fingerprint_line(run: &Run) -> &str {
    run.stderr
        .lines()
        .find(|line| line.starts_with("Fingerprinted "))
        .unwrap_or_else(|| panic!("no fingerprint status line in\n{}", run.stderr))
}

/// The last line of a human-readable plan, which scripts read.
fn last_line(run: &Run) -> &str {
    run.stdout.lines().last().unwrap_or_default()
}

/// Rows of the plan table whose first cell is `symbol`, with their cells trimmed. Rows are
/// framed by `│` and their cells divided by `┆`.
fn rows(run: &Run, symbol: char) -> Vec<Vec<String>> {
    run.stdout
        .lines()
        .filter_map(|line| line.strip_prefix('│')?.strip_suffix('│'))
        .map(|line| line.split('┆').map(|cell| cell.trim().to_owned()).collect::<Vec<_>>())
        .filter(|cells| cells.first().is_some_and(|c| *c == symbol.to_string()))
        .collect()
}

#[test]
fn an_empty_destination_plans_every_file_as_a_create() {
    let world = world("");

    let run = world.release(&["plan"]);
    run.expect_code(0);
    let created: Vec<String> = rows(&run, '+').into_iter().map(|cells| cells[1].clone()).collect();
    assert_eq!(created, ["README.md", "people.csv", "visits/2024.csv"], "{}", run.stdout);
    let bytes: usize = FILES.iter().map(|(_, content)| content.len()).sum();
    let expected =
        format!("Plan: 3 to upload ({bytes} B), 0 to replace, 0 to delete; 0 unchanged.");
    assert_eq!(last_line(&run), expected);

    world.release(&["plan", "--detailed-exitcode"]).expect_code(2);
}

#[test]
fn objects_stored_with_the_same_checksum_are_unchanged() {
    let world = world("");
    store_all(&world);

    let run = world.release(&["plan"]);
    run.expect_code(0);
    assert!(run.stdout.contains("= 3 unchanged"), "{}", run.stdout);
    assert!(!run.stdout.contains('┌'), "no table when nothing changes:\n{}", run.stdout);
    assert_eq!(last_line(&run), "Plan: 0 to upload (0 B), 0 to replace, 0 to delete; 3 unchanged.");

    let (_, plan) = plan_json(&world, &[]);
    assert!(kinds(&plan).iter().all(|(kind, _)| kind == "unchanged"), "{plan:#}");
    for action in actions(&plan) {
        assert_eq!(action["reason"], "checksum matches");
        assert_eq!(action["precondition"]["if"], "none");
    }

    world.release(&["plan", "--detailed-exitcode"]).expect_code(0);
}

/// Size and modification time are the same, the content is not: the plan must notice, both
/// through the hash cache (which also keys on the change time) and through the comparison
/// with the stored CRC64NVME.
#[test]
fn one_changed_byte_with_the_old_size_and_mtime_is_a_replace() {
    let world = world("");
    store_all(&world);
    let_files_settle();
    world.release(&["plan"]).expect_code(0);
    let warm = world.release(&["plan"]);
    assert_eq!(fingerprint_line(&warm), "Fingerprinted 3 files: read 0 (0 B), 3 from cache");

    // 1975 becomes 1976: one byte, same length, and the old modification time put back.
    let path = world.root().join("extract/people.csv");
    let before = std::fs::metadata(&path).unwrap();
    let edited = FILES[1].1.replace("1975", "1976");
    std::fs::write(&path, &edited).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    drop(file);
    let after = std::fs::metadata(&path).unwrap();
    let identity = |m: &std::fs::Metadata| (m.len(), m.modified().unwrap(), m.ino());
    assert_eq!(identity(&after), identity(&before), "only the change time differs");

    let (run, plan) = plan_json(&world, &[]);
    assert_eq!(fingerprint_line(&run), "Fingerprinted 3 files: read 1 (46 B), 2 from cache");
    let expected = [
        ("unchanged", key_of(FILES[0].0)),
        ("replace", key_of(FILES[1].0)),
        ("unchanged", key_of(FILES[2].0)),
    ];
    let expected: Vec<(String, String)> =
        expected.into_iter().map(|(kind, key)| (kind.to_owned(), key)).collect();
    assert_eq!(kinds(&plan), expected);
    let stored = Digests::of(FILES[1].1.as_bytes()).crc64nvme_base64();
    let local = Digests::of(edited.as_bytes()).crc64nvme_base64();
    assert_eq!(
        action(&plan, "data/people.csv")["reason"],
        format!("content differs: CRC64NVME stored {stored}, local {local}")
    );

    let run = world.release(&["plan", "--detailed-exitcode"]);
    run.expect_code(2);
    let replaced = rows(&run, '~');
    assert_eq!(replaced.len(), 1, "{}", run.stdout);
    assert_eq!(replaced[0][1], "people.csv");
    assert!(replaced[0][3].starts_with("content differs: CRC64NVME"), "{}", run.stdout);
    assert_eq!(
        last_line(&run),
        "Plan: 0 to upload (46 B), 1 to replace, 0 to delete; 2 unchanged."
    );
}

#[test]
fn foreign_objects_are_left_alone_unless_policy_prunes_them() {
    let world = world("");
    store_all(&world);
    store(&world, "data/old/retired.csv", b"retired\n");
    // The tool's own objects under the prefix are never pruned.
    store(&world, "data/.release/r0/receipt.json", b"{}\n");

    // By default nothing outside the manifest is touched or even listed as an action.
    let (_, plan) = plan_json(&world, &["--detailed-exitcode"]);
    assert_eq!(actions(&plan).len(), 3, "{plan:#}");
    let run = world.release(&["plan", "--detailed-exitcode"]);
    run.expect_code(0);
    assert!(!run.stdout.contains("retired"), "{}", run.stdout);

    // With `prune`, the foreign object is deleted on the ETag the plan saw.
    world.manifest(&format!("{FILES_SECTION}policy: {{ delete: prune }}\n"));
    let (_, plan) = plan_json(&world, &[]);
    let deletions: Vec<&str> = actions(&plan)
        .iter()
        .filter(|action| action["kind"] != "unchanged")
        .map(|action| text(&action["key"]))
        .collect();
    assert_eq!(deletions, ["data/old/retired.csv"], "{plan:#}");
    let deletion = action(&plan, "data/old/retired.csv");
    assert_eq!(deletion["kind"], "delete");
    assert_eq!(deletion["precondition"]["if"], "etag");
    let run = world.release(&["plan", "--detailed-exitcode"]);
    run.expect_code(2);
    let deleted = rows(&run, '-');
    assert_eq!(deleted.len(), 1, "{}", run.stdout);
    assert_eq!(deleted[0][1], "old/retired.csv");
    assert_eq!(last_line(&run), "Plan: 0 to upload (0 B), 0 to replace, 1 to delete; 3 unchanged.");

    // Past `max_delete`, every deletion is blocked and nothing is deleted.
    store(&world, "data/old/retired-too.csv", b"retired too\n");
    world.manifest(&format!("{FILES_SECTION}policy: {{ delete: prune, max_delete: 1 }}\n"));
    let run = world.release(&["plan", "--detailed-exitcode"]);
    run.expect_code(0);
    let blocked = rows(&run, '!');
    let keys: Vec<&str> = blocked.iter().map(|cells| cells[1].as_str()).collect();
    assert_eq!(keys, ["old/retired-too.csv", "old/retired.csv"], "{}", run.stdout);
    for cells in &blocked {
        assert_eq!(cells[3], "would delete 2 objects under `tre`; `policy.max_delete` is 1");
    }
    assert!(rows(&run, '-').is_empty(), "{}", run.stdout);
    assert!(run.stdout.contains("Not applied: 2 blocked"), "{}", run.stdout);
    assert_eq!(last_line(&run), "Plan: 0 to upload (0 B), 0 to replace, 0 to delete; 3 unchanged.");
}

#[test]
fn a_prefix_with_many_folders_is_listed_folder_by_folder_and_nothing_is_missed() {
    // Files directly under the prefix, in a few folders three levels deep, and in more
    // folders than are listed at once; foreign objects at every level.
    let world = World::new();
    let mut paths = vec!["extract/top.csv".to_owned()];
    for level in ["a", "a/b", "a/b/c", "a/b/c/d"] {
        paths.push(format!("extract/{level}/file.csv"));
    }
    for folder in 0..20 {
        paths.push(format!("extract/wide/w{folder:02}/file.csv"));
    }
    for path in &paths {
        world.write(path, path.as_bytes());
        store(&world, &key_of(path), path.as_bytes());
    }
    let foreign = ["data/foreign.csv", "data/a/b/c/d/foreign.csv", "data/wide/w07/foreign.csv"];
    for key in foreign {
        store(&world, key, b"foreign\n");
    }
    world.manifest(&format!("{FILES_SECTION}policy: {{ delete: prune }}\n"));
    world.s3.clear_requests();

    let (run, plan) = plan_json(&world, &[]);
    let observed = format!("Observed {} stored objects", paths.len() + foreign.len());
    assert!(run.stderr.contains(&observed), "{}", run.stderr);
    let mut deleted: Vec<&str> = actions(&plan)
        .iter()
        .filter(|action| action["kind"] == "delete")
        .map(|action| text(&action["key"]))
        .collect();
    deleted.sort_unstable();
    assert_eq!(
        deleted,
        ["data/a/b/c/d/foreign.csv", "data/foreign.csv", "data/wide/w07/foreign.csv"]
    );
    assert_eq!(plan["summary"]["unchanged"], paths.len());

    // The listing was split by folder: some listings asked for the delimiter, others did not.
    let listings: Vec<String> = world
        .s3
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "GET" && r.query.as_deref().is_some_and(|q| q.contains("list-type"))
        })
        .filter_map(|r| r.query)
        .collect();
    assert!(listings.iter().any(|q| q.contains("delimiter=%2F")), "{listings:#?}");
    assert!(listings.iter().any(|q| !q.contains("delimiter")), "{listings:#?}");
}

#[test]
fn a_difference_is_a_conflict_when_replacing_is_not_allowed() {
    let world = world("policy: { replace: false }\n");
    store_all(&world);
    store(&world, "data/people.csv", b"person_id,year_of_birth\nP0001,1961\n");

    let run = world.release(&["plan"]);
    run.expect_code(0);
    let conflicts = rows(&run, '!');
    assert_eq!(conflicts.len(), 1, "{}", run.stdout);
    assert_eq!(conflicts[0][1], "people.csv");
    assert_eq!(
        conflicts[0][3],
        "size differs: stored 35 bytes, local 46 bytes; `policy.replace` is false"
    );
    assert!(rows(&run, '~').is_empty(), "{}", run.stdout);
    assert!(run.stdout.contains("Not applied: 1 conflict (the `!` rows say why)."));
    assert_eq!(last_line(&run), "Plan: 0 to upload (0 B), 0 to replace, 0 to delete; 2 unchanged.");

    let (_, plan) = plan_json(&world, &[]);
    let conflict = action(&plan, "data/people.csv");
    assert_eq!(conflict["kind"], "conflict");
    assert_eq!(conflict["precondition"]["if"], "none");
    assert_eq!(plan["summary"]["conflict"], 1);
}

#[test]
fn a_second_plan_over_unchanged_files_reads_none_of_them() {
    let world = world("");
    let_files_settle();

    let (first, first_plan) = plan_json(&world, &[]);
    let bytes: usize = FILES.iter().map(|(_, content)| content.len()).sum();
    let expected = format!("Fingerprinted 3 files: read 3 ({bytes} B), 0 from cache");
    assert_eq!(fingerprint_line(&first), expected);
    assert!(world.root().join(".release/hash-cache.json").is_file());

    let (second, second_plan) = plan_json(&world, &[]);
    assert_eq!(fingerprint_line(&second), "Fingerprinted 3 files: read 0 (0 B), 3 from cache");

    // The cached digests are the ones first computed, and they are right.
    let locals = |plan: &Value| -> Vec<Value> {
        actions(plan).iter().map(|action| action["local"].clone()).collect()
    };
    assert_eq!(locals(&second_plan), locals(&first_plan));
    for (path, content) in FILES {
        let local = &action(&second_plan, &key_of(path))["local"];
        let digests = Digests::of(content.as_bytes());
        assert_eq!(local["crc64nvme"], digests.crc64nvme_base64(), "{path}");
        assert_eq!(local["sha256"], digests.sha256_hex(), "{path}");
    }
}

#[test]
fn a_saved_plan_shows_the_same_and_refuses_an_edit() {
    let world = world("");
    store(&world, &key_of(FILES[0].0), FILES[0].1.as_bytes());

    let planned = world.release(&["plan", "-o", "plan.json"]);
    planned.expect_code(0);
    assert!(planned.stderr.contains("Saved the plan to plan.json"), "{}", planned.stderr);
    let shown = world.release(&["show", "plan.json"]);
    shown.expect_code(0);
    assert_eq!(shown.stdout, planned.stdout);
    assert_eq!(last_line(&shown), last_line(&planned));
    assert!(last_line(&shown).starts_with("Plan: 2 to upload"), "{}", shown.stdout);

    // One byte of the release id, `r1` to `r2`: still a well-formed plan, but not this one.
    let path = world.root().join("plan.json");
    let saved = std::fs::read_to_string(&path).unwrap();
    let edited = saved.replacen("\"release\": \"r1\"", "\"release\": \"r2\"", 1);
    assert_eq!(edited.len(), saved.len());
    assert_ne!(edited, saved);
    std::fs::write(&path, edited).unwrap();

    let refused = world.release(&["show", "plan.json"]);
    refused.expect_code(1);
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    assert!(
        refused.stderr.contains("plan `plan.json` was changed after it was made"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("hint: make a new plan"), "{}", refused.stderr);
}

#[test]
fn the_json_plan_records_the_account_the_manifest_and_each_precondition() {
    let world = world("");
    // README.md is stored as is, people.csv with other content of the same size.
    store(&world, &key_of(FILES[0].0), FILES[0].1.as_bytes());
    let old = FILES[1].1.replace("1975", "1976");
    let old_object = store(&world, "data/people.csv", old.as_bytes());

    let (_, plan) = plan_json(&world, &[]);
    assert_eq!(plan["format"], "release-plan");
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["release"], "r1");
    assert_eq!(plan["account_id"], ACCOUNT);
    assert_eq!(plan["planned_by"], format!("arn:aws:iam::{ACCOUNT}:user/tester"));
    let manifest = std::fs::read(world.root().join("release.yaml")).unwrap();
    assert_eq!(plan["manifest"]["digest"], hex::encode(Sha256::digest(&manifest)));
    assert_eq!(plan["manifest"]["path"], "release.yaml");
    let destination = &plan["destinations"]["tre"];
    assert_eq!(destination["bucket"], BUCKET);
    assert_eq!(destination["prefix"], "data/");
    assert_eq!(destination["expected_bucket_owner"], ACCOUNT);

    let unchanged = action(&plan, "data/README.md");
    assert_eq!(unchanged["kind"], "unchanged");
    assert_eq!(unchanged["precondition"], serde_json::json!({ "if": "none" }));
    let replace = action(&plan, "data/people.csv");
    assert_eq!(replace["kind"], "replace");
    let etag = old_object.etag.expect("the store gave the object an ETag");
    assert_eq!(replace["precondition"], serde_json::json!({ "if": "etag", "etag": etag }));
    assert_eq!(replace["remote"]["etag"], etag);
    assert_eq!(replace["remote"]["crc64nvme"], Digests::of(old.as_bytes()).crc64nvme_base64());
    let create = action(&plan, "data/visits/2024.csv");
    assert_eq!(create["kind"], "create");
    assert_eq!(create["precondition"], serde_json::json!({ "if": "absent" }));
    assert_eq!(create["local"]["path"], "extract/visits/2024.csv");
    assert_eq!(create["local"]["size"], FILES[2].1.len());
    assert!(create.get("remote").is_none(), "{create:#}");

    let summary = &plan["summary"];
    assert_eq!((&summary["create"], &summary["replace"]), (&1.into(), &1.into()));
    assert_eq!(summary["unchanged"], 1);

    // The digest is that of the plan with an empty digest, so the JSON is a valid plan file.
    let mut parsed: release::plan::Plan = serde_json::from_value(plan.clone()).unwrap();
    assert_eq!(plan["digest"], release::plan::file::digest(&mut parsed));
}

#[test]
fn every_s3_request_of_a_plan_names_the_expected_bucket_owner() {
    let world = world("policy: { delete: prune }\n");
    store_all(&world);
    store(&world, "data/old/retired.csv", b"retired\n");
    world.s3.clear_requests();

    world.release(&["plan"]).expect_code(0);
    let requests = world.s3.requests();
    assert!(requests.iter().any(|r| r.method == "GET"), "a listing: {requests:#?}");
    assert!(requests.iter().any(|r| r.method == "HEAD"), "checksum lookups: {requests:#?}");
    for request in &requests {
        let owner = request.header("x-amz-expected-bucket-owner");
        assert_eq!(owner, Some(ACCOUNT), "{} {}", request.method, request.path);
        assert!(
            matches!(request.method.as_str(), "GET" | "HEAD"),
            "a plan changes nothing: {} {}",
            request.method,
            request.path
        );
    }
}

#[test]
fn the_summary_line_counts_each_kind_and_the_bytes_to_send() {
    let world = World::new();
    world.write("extract/big.bin", vec![7u8; 1024 * 1024]);
    world.write("extract/half.bin", vec![8u8; 512 * 1024]);
    world.write("extract/changed.csv", "a,b\n1,2\n");
    world.write("extract/same.csv", "a,b\n3,4\n");
    world.manifest(&format!("{FILES_SECTION}policy: {{ delete: prune }}\n"));
    store(&world, "data/changed.csv", b"a,b\n1,9\n");
    store(&world, "data/same.csv", b"a,b\n3,4\n");
    store(&world, "data/gone.csv", b"x\n");
    store(&world, "data/gone-too.csv", b"y\n");

    let run = world.release(&["plan"]);
    run.expect_code(0);
    // 1 MiB + 512 KiB to create and 8 B to replace: 1.5 MiB to send.
    assert_eq!(
        last_line(&run),
        "Plan: 2 to upload (1.5 MiB), 1 to replace, 2 to delete; 1 unchanged."
    );
}

/// A plan with one row of each kind the table shows: `+` new.csv, `~` changed.csv,
/// `=` same.csv, `!` docs/guide.md (protected, and different), `-` retired.csv (stored,
/// no longer in the manifest, pruned).
///
/// s3s-fs lists objects without ETags, so the rows known only from the listing (the delete
/// and the blocked one, whose size alone shows the difference) carry an empty ETag in the
/// JSON snapshot; on AWS S3 they would carry the object's ETag.
fn mixed_world() -> World {
    let world = World::new();
    world.write("extract/new.csv", "id,value\n1,new\n");
    world.write("extract/changed.csv", "id,value\n2,now\n");
    world.write("extract/same.csv", "id,value\n3,same\n");
    world.write("extract/docs/guide.md", "# Guide\nRevised.\n");
    world.manifest(&format!(
        "{FILES_SECTION}policy: {{ delete: prune, protected: [\"docs/**\"] }}\n"
    ));
    store(&world, "data/changed.csv", b"id,value\n2,was\n");
    store(&world, "data/same.csv", b"id,value\n3,same\n");
    store(&world, "data/docs/guide.md", b"# Guide\nFirst.\n");
    store(&world, "data/retired.csv", b"id,value\n4,old\n");
    world
}

/// Markdown names the git commit of the manifest, which depends on where the temporary
/// folder is; everything else in the table and Markdown is fixed by the test's content.
fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"at `[0-9a-f]{12}`( with uncommitted changes)?\.", "at [commit].");
    settings.add_filter(r"at no git commit\.", "at [commit].");
    settings
}

#[test]
fn snapshot_of_a_mixed_plan_as_a_table() {
    let world = mixed_world();
    let run = world.release(&["plan"]);
    run.expect_code(0);
    snapshot_settings().bind(|| insta::assert_snapshot!("human", run.stdout));
}

#[test]
fn snapshot_of_a_mixed_plan_as_markdown() {
    let world = mixed_world();
    let run = world.release(&["plan", "--markdown"]);
    run.expect_code(0);
    snapshot_settings().bind(|| insta::assert_snapshot!("markdown", run.stdout));
}

#[test]
fn snapshot_of_a_mixed_plan_as_json() {
    let world = mixed_world();
    let (_, mut plan) = plan_json(&world, &[]);
    normalise(&mut plan);
    insta::assert_json_snapshot!("json", plan);
}

/// Replaces what changes from run to run in a JSON plan: the time, the digests that cover
/// the time or the test harness's manifest header, the git state, and file times.
fn normalise(plan: &mut Value) {
    plan["created_at"] = "[created_at]".into();
    plan["digest"] = "[plan digest]".into();
    plan["manifest"]["digest"] = "[manifest digest]".into();
    for field in ["git_commit", "git_dirty"] {
        if !plan["manifest"][field].is_null() {
            plan["manifest"][field] = "[git]".into();
        }
    }
    let Some(actions) = plan["actions"].as_array_mut() else { return };
    for action in actions {
        if let Some(local) = action.get_mut("local").and_then(Value::as_object_mut) {
            local.insert("mtime_ns".into(), "[mtime]".into());
        }
    }
}
