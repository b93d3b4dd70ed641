//! `release apply`, `verify` and `unlock` through the built binary against the in-process
//! S3 server (s3s-fs: it validates checksums and honours `If-None-Match` / `If-Match`).

use crate::common::{ACCOUNT, BUCKET, Run, World, block_on};
use release::inventory::digest::Digests;

const FILES: &str = "files:\n  - source: extract\n    destination: tre\n";

fn world_with_files() -> World {
    let world = World::new();
    world.write("extract/a/people.csv", "id,year\n1,1961\n2,1974\n");
    world.write("extract/a/lookup.csv", "code,name\nT,Tayside\n");
    world.write("extract/readme.md", "# extract\n");
    world.manifest(FILES);
    world
}

fn plan_to(world: &World, file: &str) {
    world.release(&["plan", "-o", file]).expect_code(0);
}

#[test]
fn apply_uploads_every_object_with_its_checksum_and_a_fresh_plan_has_nothing_to_do() {
    let world = world_with_files();
    plan_to(&world, "plan.json");
    let run = world.release(&["apply", "plan.json"]);
    run.expect_code(0);
    assert!(run.stderr.contains("Applied: 3 written"), "{}", run.stderr);
    assert!(run.stderr.contains("Receipt: "), "{}", run.stderr);

    let bucket = world.bucket();
    for (path, key) in [
        ("extract/a/people.csv", "data/a/people.csv"),
        ("extract/a/lookup.csv", "data/a/lookup.csv"),
        ("extract/readme.md", "data/readme.md"),
    ] {
        let content = std::fs::read(world.root().join(path)).unwrap();
        let head = block_on(bucket.head(key)).unwrap().expect("uploaded");
        assert_eq!(head.crc64nvme, Some(Digests::of(&content).crc64nvme_base64()), "{key}");
        assert_eq!(head.sha256, Some(Digests::of(&content).sha256_hex()), "{key}");
        assert_eq!(block_on(bucket.get(key)).unwrap(), content);
    }
    let receipt = block_on(bucket.get("data/.release/r1/receipt.json")).unwrap();
    let receipt: serde_json::Value = serde_json::from_slice(&receipt).unwrap();
    assert_eq!(receipt["format"], "release-receipt");
    assert_eq!(receipt["account_id"], ACCOUNT);
    assert_eq!(receipt["objects"].as_array().unwrap().len(), 3);

    plan_to(&world, "again.json");
    world.s3.clear_requests();
    let run = world.release(&["apply", "again.json"]);
    run.expect_code(0);
    assert!(run.stderr.contains("Nothing to do"), "{}", run.stderr);
    let writes: Vec<_> = world
        .s3
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.method != "HEAD")
        .collect();
    assert!(writes.is_empty(), "a no-op apply wrote: {writes:?}");
}

/// Runs the binary with `answer` on its standard input.
fn answered(world: &World, args: &[&str], answer: &str) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = world
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the release binary");
    child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
    Run::from(child.wait_with_output().unwrap())
}

#[test]
fn applying_a_manifest_shows_the_plan_and_goes_ahead_only_on_yes_or_auto_approve() {
    let world = world_with_files();
    let bucket = world.bucket();

    // Any answer but `yes` changes nothing.
    let run = answered(&world, &["apply"], "y\n");
    run.expect_code(1);
    assert!(run.stdout.contains("+ ┆ a/people.csv"), "the plan is shown first: {}", run.stdout);
    assert!(run.stderr.contains("Only `yes` is accepted"), "{}", run.stderr);
    assert!(run.stderr.contains("Nothing was changed."), "{}", run.stderr);
    assert!(block_on(bucket.head("data/a/people.csv")).unwrap().is_none());

    let run = answered(&world, &["apply", "release.yaml"], "yes\n");
    run.expect_code(0);
    assert!(run.stderr.contains("Applied: 3 written"), "{}", run.stderr);
    assert!(block_on(bucket.head("data/a/people.csv")).unwrap().is_some());

    // With --auto-approve nothing is asked: an empty standard input would refuse otherwise.
    world.write("extract/readme.md", "# extract, second edition\n");
    let run = answered(&world, &["apply", "--auto-approve"], "");
    run.expect_code(0);
    assert!(!run.stderr.contains("Only `yes`"), "{}", run.stderr);
    assert!(run.stderr.contains("Applied: 1 written"), "{}", run.stderr);
    let stored = block_on(bucket.get("data/readme.md")).unwrap();
    assert_eq!(stored, b"# extract, second edition\n");
}

#[test]
fn every_apply_request_names_the_expected_bucket_owner() {
    let world = world_with_files();
    plan_to(&world, "plan.json");
    world.s3.clear_requests();
    world.release(&["apply", "plan.json"]).expect_code(0);
    let requests = world.s3.requests();
    assert!(requests.iter().any(|r| r.method == "PUT"));
    for request in requests {
        assert_eq!(request.header("x-amz-expected-bucket-owner"), Some(ACCOUNT), "{request:?}");
    }
}

#[test]
fn an_object_changed_after_planning_fails_only_its_action_as_changed_since_plan() {
    let world = world_with_files();
    plan_to(&world, "plan.json");
    // Someone else writes one of the planned keys between plan and apply.
    let other = b"someone else's bytes".to_vec();
    let crc = Digests::of(&other).crc64nvme;
    block_on(world.bucket().put("data/readme.md", other.clone(), crc, false)).unwrap();

    let run = world.release(&["apply", "plan.json"]);
    run.expect_code(5);
    assert!(run.stderr.contains("data/readme.md"), "{}", run.stderr);
    assert!(run.stderr.contains("changed since the plan was made"), "{}", run.stderr);
    assert!(run.stderr.contains("Applied: 2 written"), "{}", run.stderr);
    assert!(run.stderr.contains("no receipt was written"), "{}", run.stderr);
    assert_eq!(block_on(world.bucket().get("data/readme.md")).unwrap(), other);
    assert!(block_on(world.bucket().head("data/.release/r1/receipt.json")).unwrap().is_none());
}

#[test]
fn a_source_changed_after_planning_is_not_committed() {
    let world = world_with_files();
    plan_to(&world, "plan.json");
    world.write("extract/readme.md", "# extract, edited after the plan\n");

    let run = world.release(&["apply", "plan.json"]);
    run.expect_code(5);
    assert!(run.stderr.contains("extract/readme.md"), "{}", run.stderr);
    assert!(run.stderr.contains("changed since the plan was made"), "{}", run.stderr);
    assert!(block_on(world.bucket().head("data/readme.md")).unwrap().is_none());
}

#[test]
fn a_saved_plan_is_refused_when_the_manifest_changed() {
    let world = world_with_files();
    plan_to(&world, "plan.json");
    world.manifest(&format!("description: edited\n{FILES}"));
    let run = world.release(&["apply", "plan.json"]);
    run.expect_code(4);
    assert!(run.stderr.contains("changed since the plan was made"), "{}", run.stderr);
    assert!(world.s3.requests().iter().all(|r| r.method != "PUT"));
}

#[test]
fn a_saved_plan_older_than_max_age_is_refused() {
    let world = world_with_files();
    plan_to(&world, "plan.json");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let run = world.release(&["apply", "plan.json", "--max-age", "1s"]);
    run.expect_code(4);
    assert!(run.stderr.contains("--max-age"), "{}", run.stderr);
}

#[test]
fn a_held_lock_refuses_a_second_apply_naming_the_holder() {
    let world = world_with_files();
    plan_to(&world, "plan.json");
    let lease = serde_json::json!({
        "lock_id": "0123456789abcdef",
        "release": "r1",
        "holder": "arn:aws:iam::123456789012:user/colleague",
        "host": "analyst-laptop",
        "pid": 4242,
        "acquired_at": jiff::Timestamp::now().to_string(),
        "expires_at": (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(300)).to_string(),
    });
    let body = serde_json::to_vec(&lease).unwrap();
    let crc = Digests::of(&body).crc64nvme;
    block_on(world.bucket().put("data/.release/r1/lock.json", body, crc, true)).unwrap();

    let run = world.release(&["apply", "plan.json"]);
    run.expect_code(3);
    assert!(run.stderr.contains("user/colleague"), "{}", run.stderr);
    assert!(run.stderr.contains("analyst-laptop"), "{}", run.stderr);
    assert!(block_on(world.bucket().head("data/readme.md")).unwrap().is_none());

    // The wrong id does not unlock; the right one does, and apply then proceeds.
    world.release(&["unlock", "ffffffffffffffff"]).expect_code(1);
    world.release(&["unlock", "0123456789abcdef"]).expect_code(0);
    world.release(&["apply", "plan.json"]).expect_code(0);
    assert!(block_on(world.bucket().head("data/.release/r1/lock.json")).unwrap().is_none());
}

#[test]
fn an_expired_lease_is_taken_over() {
    let world = world_with_files();
    plan_to(&world, "plan.json");
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
    let lease = serde_json::json!({
        "lock_id": "00000000deadbeef", "release": "r1",
        "holder": "arn:aws:iam::123456789012:user/crashed", "host": "gone", "pid": 1,
        "acquired_at": past.to_string(), "expires_at": past.to_string(),
    });
    let body = serde_json::to_vec(&lease).unwrap();
    let crc = Digests::of(&body).crc64nvme;
    block_on(world.bucket().put("data/.release/r1/lock.json", body, crc, true)).unwrap();
    world.release(&["apply", "plan.json"]).expect_code(0);
}

#[test]
fn two_applies_at_once_one_proceeds_and_the_other_is_refused() {
    let world = world_with_files();
    // Enough data that the first apply is still running when the second starts.
    let big: Vec<u8> =
        (0..24 * 1024 * 1024).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    world.write("extract/big.bin", &big);
    plan_to(&world, "plan.json");
    let mut first = world
        .command(&["apply", "plan.json", "--parts-in-flight", "1", "--part-size-mib", "5"])
        .spawn()
        .unwrap();
    // Wait until the first apply holds the lock.
    let bucket = world.bucket();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while block_on(bucket.head("data/.release/r1/lock.json")).unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the first apply never took the lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = world.release(&["apply", "plan.json"]);
    let first = first.wait().unwrap();
    assert!(first.success());
    second.expect_code(3);
    assert!(
        second.stderr.contains("is being applied by arn:aws:iam::123456789012:user/tester"),
        "{}",
        second.stderr
    );
}

#[test]
fn verify_passes_after_apply_and_reports_an_object_overwritten_afterwards() {
    let world = world_with_files();
    plan_to(&world, "plan.json");
    world.release(&["apply", "plan.json"]).expect_code(0);
    let run = world.release(&["verify"]);
    run.expect_code(0);
    assert!(run.stderr.contains("all 3 objects match"), "{}", run.stderr);

    let tampered = b"tampered".to_vec();
    let crc = Digests::of(&tampered).crc64nvme;
    block_on(world.bucket().put("data/a/lookup.csv", tampered, crc, false)).unwrap();
    let run = world.release(&["verify"]);
    run.expect_code(1);
    assert!(run.stderr.contains(&format!("s3://{BUCKET}/data/a/lookup.csv")), "{}", run.stderr);
    assert!(run.stderr.contains("1 of 3 objects differ"), "{}", run.stderr);
}

/// Bytes that do not repeat in blocks (so no store could deduplicate them).
fn noise(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn journaled_parts(world: &World) -> usize {
    let dir = world.root().join(".release/journal");
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|text| text.lines().filter(|l| l.contains("\"part-done\"")).count())
        .sum()
}

fn upload_debris(world: &World) -> Vec<String> {
    std::fs::read_dir(world.s3.data_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".upload"))
        .collect()
}

#[test]
fn a_killed_multipart_apply_resumes_resending_only_unfinished_parts() {
    let world = World::new();
    let content = noise(66 * 1024 * 1024, 7);
    world.write("extract/cohort.bin", &content);
    world.manifest(FILES);
    plan_to(&world, "plan.json");
    let args = ["apply", "plan.json", "--part-size-mib", "5", "--parts-in-flight", "2"];
    let total_parts = content.len().div_ceil(5 * 1024 * 1024);

    // Kill the apply once a few parts are recorded as stored.
    let mut child = world.command(&args).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while journaled_parts(&world) < 4 {
        assert!(std::time::Instant::now() < deadline, "no progress before the deadline");
        assert!(child.try_wait().unwrap().is_none(), "apply finished before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = journaled_parts(&world);
    assert!(done_before < total_parts, "the upload had finished");
    assert!(block_on(world.bucket().head("data/cohort.bin")).unwrap().is_none());

    // Run the same plan again: it finishes, sending only parts not recorded as stored.
    world.s3.clear_requests();
    let run = world.release(&args);
    run.expect_code(0);
    let parts_sent = world
        .s3
        .requests()
        .iter()
        .filter(|r| {
            r.method == "PUT" && r.query.as_deref().is_some_and(|q| q.contains("partNumber"))
        })
        .count();
    assert!(
        parts_sent <= total_parts - done_before,
        "re-sent {parts_sent} parts; {done_before} of {total_parts} were already stored"
    );
    assert_eq!(block_on(world.bucket().get("data/cohort.bin")).unwrap(), content);
    assert_eq!(upload_debris(&world), Vec::<String>::new());
    world.release(&["verify"]).expect_code(0);
}

#[test]
fn a_changed_large_source_aborts_its_upload_and_leaves_nothing() {
    let world = World::new();
    world.write("extract/cohort.bin", noise(12 * 1024 * 1024, 3));
    world.manifest(FILES);
    plan_to(&world, "plan.json");
    // Same size, different bytes, and the planned modification time restored.
    let path = world.root().join("extract/cohort.bin");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, noise(12 * 1024 * 1024, 4)).unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();

    let run = world.release(&["apply", "plan.json", "--part-size-mib", "5"]);
    run.expect_code(5);
    assert!(run.stderr.contains("changed since the plan was made"), "{}", run.stderr);
    assert!(block_on(world.bucket().head("data/cohort.bin")).unwrap().is_none());
    assert_eq!(upload_debris(&world), Vec::<String>::new());
}

#[test]
fn applying_a_fresh_plan_writes_a_receipt_an_interrupted_apply_never_wrote() {
    let world = world_with_files();
    plan_to(&world, "plan.json");
    world.release(&["apply", "plan.json"]).expect_code(0);
    // As if the apply had been killed after its last upload, before its receipt.
    let bucket = world.bucket();
    let latest = "data/.release/r1/receipt.json";
    let etag = block_on(bucket.head(latest)).unwrap().unwrap().etag.unwrap();
    block_on(bucket.delete_object(latest, &etag)).unwrap();

    plan_to(&world, "again.json");
    let run = world.release(&["apply", "again.json"]);
    run.expect_code(0);
    assert!(run.stderr.contains("Receipt: "), "{}", run.stderr);
    assert!(block_on(bucket.head(latest)).unwrap().is_some());
}
