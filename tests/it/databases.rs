//! Database releases through the built binary: a `.bak` staged in the local S3 server and
//! restored, by the real tiberius client inside `release`, into the TDS emulator of an RDS
//! for SQL Server instance, which the RDS and Secrets Manager emulator points it at
//! (`common::DbWorld`).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{BUCKET, DB_PASSWORD, DbWorld, INSTANCE, MASTER_SECRET_ARN, Run};
use release_testkit::bak::Header;
use release_testkit::tds::{DatabaseState, Lifecycle, ServerCertificate};
use sha2::{Digest, Sha256};

const BACKUP: &str = "backups/Cohort.bak";
const DATABASE: &str = "Cohort_12";
const APPLY: [&str; 4] = ["apply", "plan.json", "--restore-poll", "100ms"];

/// A database world whose release holds one file and the backup of `Cohort_12`, with
/// `database_lines` (indented four spaces) added to the database's entry. Returns the backup's
/// bytes.
fn release_with_backup(world: &DbWorld, backup: &[u8], database_lines: &str) -> Vec<u8> {
    world.write("extract/people.csv", "person_id,year\nP1,1961\nP2,1974\n");
    world.write(BACKUP, backup);
    world.manifest(&format!(
        "  staging:\n    bucket: {BUCKET}\n    prefix: staging\n\
         files:\n  - source: extract\n    destination: tre\n\
         databases:\n  - backup: {BACKUP}\n    staging: staging\n    target:\n      \
         kind: rds-sqlserver\n      instance: {INSTANCE}\n      database: {DATABASE}\n      \
         ca_bundle: rds-ca.pem\n{database_lines}"
    ));
    backup.to_vec()
}

/// [`release_with_backup`] with a good full backup of 4 KiB.
fn cohort_release(world: &DbWorld) -> Vec<u8> {
    release_with_backup(world, &Header::full("Cohort").build(), "")
}

/// Where `release` stages a single-file backup: under its digest, a hash of the file's
/// SHA-256, computed here independently of `release`.
fn staged_key(backup: &[u8]) -> String {
    let digest = Sha256::digest(Sha256::digest(backup));
    format!("staging/r1/backups/{}/Cohort.bak", hex::encode(&digest[..8]))
}

/// The bytes the local S3 server holds for `key` in the test bucket, if it holds it.
fn stored(world: &DbWorld, key: &str) -> Option<Vec<u8>> {
    std::fs::read(world.s3.data_dir().join(BUCKET).join(key)).ok()
}

/// The database's row of a human plan.
fn database_row(run: &Run) -> &str {
    let needle = format!("{INSTANCE} / {DATABASE}");
    run.stdout.lines().find(|line| line.contains(&needle)).unwrap_or_else(|| {
        panic!("no row for {needle} in the plan\n{}\n{}", run.stdout, run.stderr)
    })
}

/// The symbol opening a table row (`│ + │ ...`).
fn symbol(row: &str) -> char {
    row.trim_start_matches(['│', '|', ' ']).chars().next().unwrap_or(' ')
}

fn state_of(world: &DbWorld, name: &str) -> Option<DatabaseState> {
    world.tds.databases().into_iter().find(|d| d.name == name).map(|d| d.state)
}

/// The local receipts, parsed.
fn receipts(world: &DbWorld) -> Vec<serde_json::Value> {
    let Ok(entries) = std::fs::read_dir(world.root().join(".release/receipts")) else {
        return Vec::new();
    };
    entries
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .map(|bytes| serde_json::from_slice(&bytes).unwrap())
        .collect()
}

/// Waits (within a deadline) until `ready` holds.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_backup_is_planned_staged_restored_recorded_and_then_unchanged() {
    let world = DbWorld::new();
    let backup = cohort_release(&world);

    // The plan shows the restore with what the backup's header says.
    let run = world.release(&["plan"]);
    run.expect_code(0);
    let row = database_row(&run);
    assert_eq!(symbol(row), '+', "{row}");
    assert!(row.contains("4.0 KiB, full"), "{row}");
    let last = run.stdout.trim_end().lines().last().unwrap();
    assert!(last.contains("2 to upload") && last.contains("1 database to restore"), "{last}");

    // Apply stages the backup, then restores it.
    world.release(&["plan", "-o", "plan.json"]).expect_code(0);
    let run = world.release(&APPLY);
    run.expect_code(0);
    let key = staged_key(&backup);
    assert_eq!(stored(&world, &key).as_deref(), Some(&backup[..]), "{key} was not staged");
    assert_eq!(state_of(&world, DATABASE), Some(DatabaseState::Online));
    let tasks = world.tds.tasks();
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(world.tds.restore_requests(), 1);
    assert_eq!(tasks[0].lifecycle, Lifecycle::Success);
    assert_eq!(tasks[0].s3_object_arn, format!("arn:aws:s3:::{BUCKET}/{key}"));

    // The receipt records the restore.
    let receipts = receipts(&world);
    assert_eq!(receipts.len(), 1);
    let databases = receipts[0]["databases"].as_array().expect("a databases entry");
    assert_eq!(databases.len(), 1, "{databases:#?}");
    assert_eq!(databases[0]["instance"], INSTANCE);
    assert_eq!(databases[0]["database"], DATABASE);
    assert_eq!(databases[0]["task_id"], tasks[0].task_id);
    assert_eq!(databases[0]["state"], "ONLINE");
    assert_eq!(databases[0]["restored_now"], true);
    assert_eq!(databases[0]["staged_keys"][0], key.as_str());

    // A new plan has nothing to do.
    let run = world.release(&["plan", "--detailed-exitcode"]);
    run.expect_code(0);
    let row = database_row(&run);
    assert_eq!(symbol(row), '=', "{row}");
    let last = run.stdout.trim_end().lines().last().unwrap();
    assert!(last.contains("0 to upload") && last.contains("0 databases to restore"), "{last}");
    assert_eq!(world.tds.restore_requests(), 1);
}

#[test]
fn a_killed_apply_rejoins_the_restore_task_it_started() {
    let world = DbWorld::new();
    cohort_release(&world);
    world.release(&["plan", "-o", "plan.json"]).expect_code(0);

    // Kill the apply while its restore task is in progress, and hold the task there.
    let mut child =
        world.command(&APPLY).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_until("the restore task is in progress", || {
        assert!(child.try_wait().unwrap().is_none(), "apply ended before it could be killed");
        world.tds.tasks().iter().any(|t| t.lifecycle == Lifecycle::InProgress)
    });
    world.tds.pause_tasks();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(receipts(&world).is_empty());

    // A new plan would wait for that task rather than start another.
    let run = world.release(&["plan", "--detailed-exitcode"]);
    run.expect_code(2);
    let row = database_row(&run);
    assert_eq!(symbol(row), '~', "{row}");
    assert!(row.contains("restore task 1 of this backup is IN_PROGRESS"), "{row}");

    // The same plan again: it rejoins the task, and finishes once the task moves on.
    let mut child =
        world.command(&APPLY).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            all.push_str(&line);
            all.push('\n');
            let _ = lines.send(line);
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let rejoined = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("rejoining restore task") => break line,
            Ok(_) => {}
            Err(error) => panic!("the second apply never rejoined the task: {error}"),
        }
    };
    assert!(rejoined.contains("rejoining restore task 1 (IN_PROGRESS)"), "{rejoined}");
    world.tds.resume_tasks();
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    let stdout = std::io::read_to_string(stdout).unwrap();
    assert_eq!(status.code(), Some(0), "--- stdout\n{stdout}\n--- stderr\n{stderr}");

    assert_eq!(world.tds.restore_requests(), 1, "a second restore was started");
    let tasks = world.tds.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].lifecycle, Lifecycle::Success);
    assert_eq!(state_of(&world, DATABASE), Some(DatabaseState::Online));
    let receipts = receipts(&world);
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["databases"][0]["task_id"], 1);
    assert_eq!(receipts[0]["databases"][0]["state"], "ONLINE");
    assert_eq!(receipts[0]["databases"][0]["restored_now"], false);
}

#[test]
fn a_database_that_is_not_ours_is_a_conflict_and_is_never_restored_over() {
    let world = DbWorld::new();
    cohort_release(&world);
    world.tds.add_database(DATABASE, DatabaseState::Online);

    let run = world.release(&["plan", "-o", "plan.json"]);
    run.expect_code(0);
    let row = database_row(&run);
    assert_eq!(symbol(row), '!', "{row}");
    assert!(row.contains("on_exists: fail"), "{row}");
    assert!(run.stdout.contains("Not applied: 1 conflict"), "{}", run.stdout);

    let run = world.release(&APPLY);
    run.expect_code(5);
    assert_eq!(world.tds.restore_requests(), 0);
    assert!(receipts(&world).is_empty());
}

#[test]
fn a_database_that_appears_after_the_plan_is_not_restored_over() {
    let world = DbWorld::new();
    cohort_release(&world);
    world.release(&["plan", "-o", "plan.json"]).expect_code(0);
    world.tds.add_database(DATABASE, DatabaseState::Online);

    let run = world.release(&APPLY);
    run.expect_code(5);
    assert!(run.stderr.contains("`Cohort_12` exists now (ONLINE)"), "{}", run.stderr);
    assert_eq!(world.tds.restore_requests(), 0);
    assert!(receipts(&world).is_empty());
}

#[test]
fn on_exists_skip_leaves_a_database_that_is_not_ours_alone() {
    let world = DbWorld::new();
    release_with_backup(&world, &Header::full("Cohort").build(), "    on_exists: skip\n");
    world.tds.add_database(DATABASE, DatabaseState::Online);

    let run = world.release(&["plan", "-o", "plan.json"]);
    run.expect_code(0);
    let row = database_row(&run);
    assert_eq!(symbol(row), '=', "{row}");
    assert!(row.contains("on_exists: skip"), "{row}");
    assert!(!run.stdout.contains("Not applied"), "{}", run.stdout);

    world.release(&APPLY).expect_code(0);
    assert_eq!(world.tds.restore_requests(), 0);
    assert_eq!(state_of(&world, DATABASE), Some(DatabaseState::Online));
}

#[test]
fn an_option_group_without_native_restore_is_refused_at_plan_time() {
    let world = DbWorld::new();
    cohort_release(&world);
    world.api.add_instance(release_testkit::Instance {
        option_group: "tre-sqlserver-plain".to_owned(),
        ..world.instance()
    });
    world.api.add_option_group("tre-sqlserver-plain", vec![("TDE", vec![])]);

    let run = world.release(&["plan"]);
    run.expect_code(1);
    assert!(run.stderr.contains("tre-sqlserver-plain"), "{}", run.stderr);
    assert!(run.stderr.contains("SQLSERVER_BACKUP_RESTORE"), "{}", run.stderr);
}

#[test]
fn a_wrong_password_is_a_login_failure() {
    let world = DbWorld::new();
    cohort_release(&world);
    world.set_master_password("Not-The-Master-Pw-31d9");

    let run = world.release(&["plan"]);
    run.expect_code(1);
    assert!(run.stderr.contains("Login failed for user 'tre_admin'"), "{}", run.stderr);
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains("Not-The-Master-Pw-31d9"), "the password was printed");
    }
}

#[test]
fn a_missing_master_secret_is_named() {
    let world = DbWorld::new();
    cohort_release(&world);
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0000-Zz99Yy";
    world.api.add_instance(release_testkit::Instance {
        master_secret_arn: Some(missing.to_owned()),
        ..world.instance()
    });

    let run = world.release(&["plan"]);
    run.expect_code(1);
    assert!(run.stderr.contains(missing), "{}", run.stderr);
    assert!(!run.stderr.contains(MASTER_SECRET_ARN), "{}", run.stderr);
}

#[test]
fn a_failed_restore_task_is_reported_word_for_word_and_the_rest_is_applied() {
    let world = DbWorld::with(|tds| tds.fetch(|_, _| None));
    let backup = cohort_release(&world);
    world.release(&["plan", "-o", "plan.json"]).expect_code(0);

    let run = world.release(&APPLY);
    run.expect_code(5);
    let tasks = world.tds.tasks();
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(tasks[0].lifecycle, Lifecycle::Error);
    let info = tasks[0].task_info.as_deref().expect("the failed task says why");
    assert!(
        run.stderr.contains(info),
        "task_info not shown verbatim:\n{info}\n---\n{}",
        run.stderr
    );

    // The other file and the staged backup are in place; no database, no receipt.
    let people = std::fs::read(world.root().join("extract/people.csv")).unwrap();
    assert_eq!(stored(&world, "data/people.csv"), Some(people));
    assert_eq!(stored(&world, &staged_key(&backup)), Some(backup));
    assert_eq!(state_of(&world, DATABASE), None);
    assert!(receipts(&world).is_empty());
}

#[test]
fn a_file_that_is_not_a_backup_is_refused_before_anything_is_sent() {
    let world = DbWorld::new();
    release_with_backup(&world, b"person_id,year\nP1,1961\n", "");
    world.s3.clear_requests();

    let run = world.release(&["plan", "-o", "plan.json"]);
    run.expect_code(1);
    assert!(run.stderr.contains(BACKUP), "{}", run.stderr);
    let puts: Vec<_> = world.s3.requests().into_iter().filter(|r| r.method == "PUT").collect();
    assert!(puts.is_empty(), "{puts:#?}");
    assert!(!world.root().join("plan.json").exists());
    assert_eq!(world.tds.restore_requests(), 0);
}

#[test]
fn a_server_certificate_from_another_ca_is_refused() {
    let world = DbWorld::with(|tds| tds.certificate(ServerCertificate::OtherCa));
    cohort_release(&world);

    let run = world.release(&["plan"]);
    run.expect_code(1);
    assert!(run.stderr.to_lowercase().contains("certificate"), "{}", run.stderr);
    assert_eq!(world.tds.restore_requests(), 0);
}

#[test]
fn the_database_password_is_never_printed_logged_or_saved() {
    let world = DbWorld::new();
    cohort_release(&world);

    let planned = world.release(&["-vv", "plan", "-o", "plan.json"]);
    planned.expect_code(0);
    let applied = world.release(&["-vv", "apply", "plan.json", "--restore-poll", "100ms"]);
    applied.expect_code(0);
    assert!(planned.stderr.contains("TRACE") || planned.stderr.contains("DEBUG"), "logging on");

    let plan = std::fs::read_to_string(world.root().join("plan.json")).unwrap();
    let receipts: Vec<String> = receipts(&world).iter().map(|r| r.to_string()).collect();
    assert_eq!(receipts.len(), 1);
    let written = [&planned.stdout, &planned.stderr, &applied.stdout, &applied.stderr, &plan];
    for text in written.into_iter().chain(&receipts) {
        assert!(!text.contains(DB_PASSWORD), "the database password was written out");
    }
}
