//! `release doctor` against the in-process S3 server (s3s-fs) and STS emulator: a checklist on
//! stdout with ✔ for what works and a hinted ✘ for what does not, exit 0 only when nothing
//! failed, and no change to anything unless `--write-test` is given.
//!
//! s3s-fs does not report a region header, answers GetBucketLocation with no constraint (that
//! is, us-east-1), does not implement GetBucketEncryption, and ignores ExpectedBucketOwner.
//! The tests below say where that limits what they show.

use crate::common::{ACCOUNT, BUCKET, Run, World, block_on};

const FILES: &str = "files:\n  - source: data\n    destination: tre\n";

fn doctor(world: &World, rest: &str, args: &[&str]) -> Run {
    world.write("data/people.csv", "person_id\nP1\n");
    world.manifest(rest);
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    world.release(&all)
}

#[test]
fn a_good_destination_passes_without_changing_anything() {
    let world = World::new();

    let run = doctor(&world, FILES, &[]);

    run.expect_code(0);
    let out = &run.stdout;
    assert!(out.contains("✔ credentials from environment variables (long-lived access keys"));
    assert!(out.contains(&format!("✔ signed in as `arn:aws:iam::{ACCOUNT}:user/tester`")));
    assert!(out.contains(&format!("Destination `tre`: s3://{BUCKET}/data/")), "{out}");
    assert!(out.contains(&format!("✔ bucket `{BUCKET}` answers")), "{out}");
    assert!(out.contains("✔ bucket is in region us-east-1"), "{out}");
    assert!(out.contains("– default encryption not checked: this store does not report it"));
    assert!(out.contains("✔ `data/` can be listed (it is empty)"), "{out}");
    assert!(out.contains("0 failed"), "{out}");
    assert!(run.stderr.contains("warning: using long-lived access keys"), "{}", run.stderr);

    // Read-only requests, each naming the expected owner, and no ListAllMyBuckets.
    let requests = world.s3.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert!(matches!(request.method.as_str(), "GET" | "HEAD"), "{request:?}");
        assert_ne!(request.path, "/", "ListAllMyBuckets was called");
        assert_eq!(request.header("x-amz-expected-bucket-owner"), Some(ACCOUNT), "{request:?}");
    }
}

#[test]
fn write_test_puts_and_deletes_a_probe_under_the_reserved_prefix() {
    let world = World::new();

    let run = doctor(&world, FILES, &["--write-test"]);

    run.expect_code(0);
    assert!(run.stdout.contains("✔ wrote and deleted `data/.release/doctor-probe-"), "{run:?}");
    let requests = world.s3.requests();
    let probe = format!("/{BUCKET}/data/.release/doctor-probe-");
    let put = requests.iter().find(|r| r.method == "PUT").expect("a PUT");
    assert!(put.path.starts_with(&probe), "{put:?}");
    assert_eq!(put.header("if-none-match"), Some("*"));
    assert_eq!(put.header("x-amz-server-side-encryption"), Some("AES256"));
    assert!(requests.iter().any(|r| r.method == "DELETE" && r.path == put.path));
    let left = block_on(world.bucket().list("data/.release/")).unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_missing_bucket_fails_with_a_hint() {
    let world = World::new();
    let rest = format!("  gone:\n    bucket: release-missing\n    prefix: data\n{FILES}");

    let run = doctor(&world, &rest, &[]);

    run.expect_code(1);
    let out = &run.stdout;
    assert!(out.contains("✘ bucket `release-missing` does not exist\n    hint: "), "{out}");
    assert!(out.contains(&format!("✔ bucket `{BUCKET}` answers")), "the good one still passes");
    assert!(out.contains("1 failed"), "{out}");
}

/// No local server enforces ExpectedBucketOwner, so the wrong owner cannot be caught by S3
/// here as it would be on AWS (where HeadBucket answers 403). What doctor can do honestly, and
/// what this shows: the request carries the owner the manifest expects, and since that owner
/// is not the caller's account and the endpoint is not AWS S3, doctor says it cannot confirm
/// the ownership rather than passing it.
#[test]
fn an_expected_owner_that_cannot_be_confirmed_fails_with_a_hint() {
    let world = World::new();
    let rest = format!("    expected_bucket_owner: \"999999999999\"\n{FILES}");

    let run = doctor(&world, &rest, &[]);

    run.expect_code(1);
    let out = &run.stdout;
    let refused = format!("✘ cannot confirm that account 999999999999 owns bucket `{BUCKET}`");
    assert!(out.contains(&refused), "{out}");
    assert!(out.contains("    hint: AWS S3 refuses requests to a bucket owned by"), "{out}");
    let head = world.s3.requests().into_iter().find(|r| r.method == "HEAD").expect("HeadBucket");
    assert_eq!(head.header("x-amz-expected-bucket-owner"), Some("999999999999"));
}

#[test]
fn another_account_stops_doctor_before_any_s3_request() {
    let world = World::new();
    world.write("data/people.csv", "person_id\nP1\n");
    world.write(
        "release.yaml",
        format!(
            "release: r1\naws:\n  region: us-east-1\n  account_id: \"999999999999\"\n  \
             allow_static_keys: true\ndestinations:\n  tre:\n    bucket: {BUCKET}\n{FILES}"
        ),
    );

    let run = world.release(&["doctor"]);

    run.expect_code(1);
    let refusal = "✘ the credentials belong to account 123456789012, but the manifest releases \
                   to account 999999999999";
    assert!(run.stdout.contains(refusal), "{}", run.stdout);
    assert!(run.stdout.contains("– destinations: no S3 request is made"), "{}", run.stdout);
    assert!(world.s3.requests().is_empty());
}

#[test]
fn database_targets_are_skipped_and_said_so() {
    let world = World::new();
    let rest = format!(
        "{FILES}databases:\n  - backup: backups/cohort.bak\n    staging: tre\n    target:\n      \
         kind: rds-sqlserver\n      instance: tre-sql-1\n      database: Cohort12\n"
    );

    let run = doctor(&world, &rest, &[]);

    run.expect_code(0);
    assert!(
        run.stdout.contains(
            "– database `Cohort12` on instance `tre-sql-1`: database checks are not available yet"
        ),
        "{}",
        run.stdout
    );
}

/// s3s-fs places every bucket in us-east-1 (GetBucketLocation names no constraint), so a run
/// in another region shows the mismatch; on AWS, HeadBucket's region header says the same.
#[test]
fn a_bucket_in_another_region_names_both_regions() {
    let world = World::new();

    let run = doctor(&world, FILES, &["--region", "eu-west-2"]);

    run.expect_code(1);
    let out = &run.stdout;
    assert!(
        out.contains(&format!(
            "✘ bucket `{BUCKET}` is in region us-east-1, but this run uses region eu-west-2\n    \
             hint: set `aws.region: us-east-1` in the manifest, or pass --region us-east-1"
        )),
        "{out}"
    );
    assert!(!out.contains("can be listed"), "checks after a wrong region are not made: {out}");
}
