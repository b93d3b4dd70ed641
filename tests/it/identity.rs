//! Signing in: every way `release` gets credentials, the rules it holds them to, and the
//! messages it gives when they fail. Each test drives the built binary against the in-process
//! STS emulator and S3 server (`common`), with AWS config files, credential scripts and
//! SSO token caches written into the test's own temporary folder; nothing outside it is read.

use std::path::PathBuf;

use crate::common::{ACCOUNT, BUCKET, Run, World};
use release_testkit::SECRET_KEY;

/// A role in the test account, so that the account check passes once it is assumed.
const ROLE: &str = "arn:aws:iam::123456789012:role/release-writer";

/// `release.yaml` for release `r1` with one file, the world's bucket, and `aws` settings
/// `aws_lines` (each indented by two spaces, `account_id` among them).
fn manifest(world: &World, aws_lines: &str) -> PathBuf {
    world.write("data/people.csv", "person_id\nP1\n");
    let text = format!(
        "release: r1\naws:\n  region: us-east-1\n{aws_lines}destinations:\n  tre:\n    \
         bucket: {BUCKET}\n    prefix: data\nfiles:\n  - source: data\n    destination: tre\n"
    );
    world.write("release.yaml", text)
}

/// Runs the binary with no keys in the environment, so that the AWS config file `config`
/// (written into the test folder) is the only source of credentials.
fn run_with_config(world: &World, config: &str, args: &[&str]) -> Run {
    let path = world.write("aws/config", config);
    let mut command = world.command(args);
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", path);
    Run::from(command.output().expect("run the release binary"))
}

/// Writes an executable shell script into the test folder.
fn script(world: &World, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = world.write(name, format!("#!/bin/sh\n{body}"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn the_manifest_role_is_assumed_with_a_session_named_after_the_release() {
    let world = World::new();
    world.sts.require_external_id(ROLE, "project-12");
    let path = manifest(
        &world,
        &format!(
            "  account_id: \"{ACCOUNT}\"\n  role_arn: {ROLE}\n  external_id: project-12\n  \
             session_duration_seconds: 1800\n  allow_static_keys: true\n"
        ),
    );

    let mut command = world.command(&["whoami", path.to_str().unwrap()]);
    let run = Run::from(command.env("USER", "tester").output().unwrap());

    run.expect_code(0);
    let roles = world.sts.assumed_roles();
    assert_eq!(roles.len(), 1, "the role is assumed once per run: {roles:#?}");
    let role = &roles[0];
    assert_eq!(role.role_arn, ROLE);
    assert_eq!(role.session_name, "tester-r1");
    assert_eq!(role.external_id.as_deref(), Some("project-12"));
    assert_eq!(role.duration_seconds, 1800);
    assert!(role.granted);
    // AssumeRole reached the emulator, so AWS_ENDPOINT_URL_STS held for the role's own client.
    assert_eq!(world.sts.actions(), ["AssumeRole", "GetCallerIdentity"]);
    assert!(
        run.stdout.contains("arn:aws:sts::123456789012:assumed-role/release-writer/tester-r1"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!("role `{ROLE}`, assumed with environment variables")));
}

#[test]
fn a_refused_assume_role_names_the_action_and_the_role() {
    let world = World::new();
    world.sts.require_external_id(ROLE, "project-12");
    let path = manifest(
        &world,
        &format!("  account_id: \"{ACCOUNT}\"\n  role_arn: {ROLE}\n  external_id: wrong\n"),
    );

    let run = world.release(&["plan", path.to_str().unwrap()]);

    run.expect_code(1);
    assert!(run.stderr.contains(&format!("`sts:AssumeRole` on `{ROLE}` was refused")), "{run:?}");
    assert!(run.stderr.contains("hint: check that the role's trust policy"), "{}", run.stderr);
    assert!(world.s3.requests().is_empty());
}

#[test]
fn a_profile_role_with_a_source_profile_uses_the_local_sts() {
    let world = World::new();
    let config = format!(
        "[profile base]\naws_access_key_id = {}\naws_secret_access_key = {SECRET_KEY}\n\n\
         [profile release]\nrole_arn = {ROLE}\nsource_profile = base\n",
        release_testkit::ACCESS_KEY
    );

    let run = run_with_config(&world, &config, &["whoami", "--profile", "release"]);

    run.expect_code(0);
    let roles = world.sts.assumed_roles();
    assert_eq!(roles.len(), 1, "{roles:#?}");
    assert_eq!(roles[0].role_arn, ROLE);
    assert!(run.stdout.contains("assumed-role/release-writer/"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("role `{ROLE}` (profile `release`)")), "{}", run.stdout);
}

#[test]
fn credential_process_output_is_used() {
    let world = World::new();
    let key = "AKIAPROCESSHELPER001";
    world.sts.add_identity(key, "arn:aws:iam::123456789012:user/roles-anywhere", ACCOUNT);
    let helper = script(
        &world,
        "signing-helper",
        &format!(
            "printf '{{\"Version\": 1, \"AccessKeyId\": \"{key}\", \"SecretAccessKey\": \
             \"process-secret\"}}'\n"
        ),
    );
    let config = format!("[profile anywhere]\ncredential_process = {}\n", helper.display());

    let run = run_with_config(&world, &config, &["whoami", "--profile", "anywhere"]);

    run.expect_code(0);
    assert!(run.stdout.contains("arn:aws:iam::123456789012:user/roles-anywhere"), "{run:?}");
    assert!(run.stdout.contains("credential_process (profile `anywhere`)"), "{}", run.stdout);
    assert!(!run.stdout.contains("process-secret") && !run.stderr.contains("process-secret"));
}

#[test]
fn a_failing_credential_process_shows_its_stderr() {
    let world = World::new();
    let helper = script(
        &world,
        "signing-helper",
        "echo 'signing helper: certificate tre-cert.pem expired on 2026-01-01' >&2\nexit 3\n",
    );
    let config = format!("[profile anywhere]\ncredential_process = {}\n", helper.display());

    let run = run_with_config(&world, &config, &["whoami", "--profile", "anywhere"]);

    run.expect_code(1);
    assert!(run.stderr.contains("`credential_process` for profile `anywhere` failed"), "{run:?}");
    assert!(run.stderr.contains("certificate tre-cert.pem expired on 2026-01-01"), "{run:?}");
}

#[test]
fn an_expired_sso_token_says_how_to_sign_in_again() {
    let world = World::new();
    let home = world.root().join("home");
    let cache = format!(".aws/sso/cache/{}.json", sha1_hex(b"tre-sso"));
    world.write(
        &format!("home/{cache}"),
        "{\"startUrl\": \"https://example.awsapps.com/start\", \"region\": \"us-east-1\", \
         \"accessToken\": \"expired-access-token\", \"expiresAt\": \"2020-01-01T00:00:00Z\"}",
    );
    let config = "[profile tre]\nsso_session = tre-sso\nsso_account_id = 123456789012\n\
                  sso_role_name = ReleaseWriter\n\n[sso-session tre-sso]\n\
                  sso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n";
    let path = manifest(&world, &format!("  account_id: \"{ACCOUNT}\"\n  profile: tre\n"));
    let config_path = world.write("aws/config", config);

    for args in [vec!["whoami", "--profile", "tre"], vec!["plan", path.to_str().unwrap()]] {
        let mut command = world.command(&args);
        command
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", &config_path)
            .env("HOME", &home);
        let run = Run::from(command.output().unwrap());

        run.expect_code(1);
        assert!(run.stderr.contains("hint: run: aws sso login --profile tre"), "{run:?}");
        assert!(run.stderr.contains("IAM Identity Center sign-in for profile `tre`"), "{run:?}");
        // The cached token was found and read, not merely missing.
        assert!(run.stderr.contains("the SSO token has expired"), "{run:?}");
        assert!(!run.stderr.contains("expired-access-token"));
    }
    assert!(world.s3.requests().is_empty());
}

#[test]
fn a_missing_profile_lists_the_profiles_that_exist() {
    let world = World::new();
    let credentials = world.write("aws/credentials", "[gamma]\naws_access_key_id = AKIAX\n");
    let config = "[default]\nregion = us-east-1\n[profile alpha]\nregion = us-east-1\n\
                  [profile beta]\nsso_session = corp\n[sso-session corp]\nsso_region = x\n";
    let path = world.write("aws/config", config);

    let mut command = world.command(&["whoami", "--profile", "nope"]);
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", &path)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
    let run = Run::from(command.output().unwrap());

    run.expect_code(1);
    assert!(run.stderr.contains("AWS profile `nope` is not defined in"), "{run:?}");
    assert!(run.stderr.contains("profiles that exist: alpha, beta, default, gamma"), "{run:?}");
}

#[test]
fn long_lived_keys_are_refused_unless_the_manifest_allows_them() {
    let world = World::new();
    let path = manifest(&world, &format!("  account_id: \"{ACCOUNT}\"\n"));

    let refused = world.release(&["plan", path.to_str().unwrap()]);

    refused.expect_code(1);
    assert!(refused.stderr.contains("long-lived access keys, which this manifest does not allow"));
    assert!(refused.stderr.contains("`aws.allow_static_keys: true`"), "{}", refused.stderr);
    assert!(world.sts.actions().is_empty(), "refused before any request");
    assert!(world.s3.requests().is_empty());

    let allowed =
        manifest(&world, &format!("  account_id: \"{ACCOUNT}\"\n  allow_static_keys: true\n"));
    let run = world.release(&["plan", allowed.to_str().unwrap()]);

    run.expect_code(0);
    assert!(run.stderr.contains("warning: using long-lived access keys"), "{}", run.stderr);
}

#[test]
fn another_account_stops_the_run_before_any_s3_request() {
    let world = World::new();
    let path = manifest(&world, "  account_id: \"999999999999\"\n  allow_static_keys: true\n");

    let run = world.release(&["plan", path.to_str().unwrap()]);

    run.expect_code(1);
    assert!(run.stderr.contains("account 123456789012"), "{}", run.stderr);
    assert!(run.stderr.contains("account 999999999999"), "{}", run.stderr);
    assert!(world.s3.requests().is_empty(), "{:#?}", world.s3.requests());
}

#[test]
fn whoami_without_a_manifest_reports_the_identity_as_json() {
    let world = World::new();

    let run = world.release(&["whoami", "--json"]);

    run.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["arn"], "arn:aws:iam::123456789012:user/tester");
    assert_eq!(report["account"], ACCOUNT);
    assert_eq!(report["provider"], "environment variables");
    assert_eq!(report["static_keys"], true);
    assert_eq!(report["expires"], serde_json::Value::Null);
    assert_eq!(report["region"], "us-east-1");
    assert!(run.stderr.contains("long-lived access keys"), "{}", run.stderr);
}

#[test]
fn whoami_with_a_manifest_shows_the_identity_then_holds_it_to_the_account() {
    let world = World::new();
    let path = manifest(&world, "  account_id: \"999999999999\"\n  allow_static_keys: true\n");

    let run = world.release(&["whoami", path.to_str().unwrap()]);

    run.expect_code(1);
    assert!(run.stdout.contains("identity  arn:aws:iam::123456789012:user/tester"), "{run:?}");
    assert!(run.stderr.contains("manifest releases to account 999999999999"), "{run:?}");
}

/// No credential value reaches stdout, stderr (at the most verbose logging), a saved plan or a
/// receipt:
/// a distinctive secret key and session token are set, and every output is searched for them.
/// The emulator accepts any secret key but no unknown session token, and the S3 server checks
/// signatures, so these runs fail part way; what matters is everything they printed.
#[test]
fn no_credential_value_is_printed_or_logged() {
    const SECRET: &str = "LeakCheckSecretKeyA1B2C3D4E5F6G7H8I9J0KL";
    const TOKEN: &str = "LeakCheckSessionTokenZ9Y8X7W6V5U4T3S2R1";
    let world = World::new();
    let path =
        manifest(&world, &format!("  account_id: \"{ACCOUNT}\"\n  allow_static_keys: true\n"));
    let path = path.to_str().unwrap();

    let mut outputs = Vec::new();
    for token in [None, Some(TOKEN)] {
        for args in [vec!["-vv", "whoami"], vec!["-vv", "plan", path]] {
            let mut command = world.command(&args);
            command.env("AWS_SECRET_ACCESS_KEY", SECRET).env("RUST_LOG", "trace");
            if let Some(token) = token {
                command.env("AWS_SESSION_TOKEN", token);
            }
            outputs.push(Run::from(command.output().unwrap()));
        }
    }
    // A role session: the emulator's session tokens all start the same way.
    let role = manifest(
        &world,
        &format!("  account_id: \"{ACCOUNT}\"\n  role_arn: {ROLE}\n  allow_static_keys: true\n"),
    );
    let mut command = world.command(&["-vv", "whoami", role.to_str().unwrap()]);
    outputs.push(Run::from(command.env("RUST_LOG", "trace").output().unwrap()));
    outputs[4].expect_code(0);

    // A plan that succeeds, saved, with the server's real secret key.
    let saved =
        manifest(&world, &format!("  account_id: \"{ACCOUNT}\"\n  allow_static_keys: true\n"));
    let mut command = world.command(&["-vv", "plan", saved.to_str().unwrap(), "-o", "plan.json"]);
    let planned = Run::from(command.env("RUST_LOG", "trace").output().unwrap());
    planned.expect_code(0);
    let plan_file = std::fs::read_to_string(world.root().join("plan.json")).unwrap();
    let mut command = world.command(&["-vv", "apply", "plan.json"]);
    let applied = Run::from(command.env("RUST_LOG", "trace").output().unwrap());
    applied.expect_code(0);
    let receipts: Vec<String> = std::fs::read_dir(world.root().join(".release/receipts"))
        .expect("a local receipt")
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert!(!receipts.is_empty());

    assert!(outputs.iter().all(|run| run.stderr.contains("TRACE")), "logging was on");
    for run in &outputs {
        for needle in [SECRET, TOKEN, "local-sts-session"] {
            assert!(!run.stdout.contains(needle), "{needle} in stdout:\n{}", run.stdout);
            assert!(!run.stderr.contains(needle), "{needle} in stderr");
        }
    }
    let written = [&planned.stdout, &planned.stderr, &plan_file, &applied.stdout, &applied.stderr];
    for text in written.into_iter().chain(&receipts) {
        assert!(!text.contains(SECRET_KEY), "the secret key was written out");
    }
}

/// SHA-1 as hex: aws-config names an SSO token cache file after the SHA-1 of the session name.
fn sha1_hex(data: &[u8]) -> String {
    let mut state: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = state;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..20 => ((b & c) | (!b & d), 0x5A82_7999),
                20..40 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..60 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let next = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, next.wrapping_add(*word));
        }
        for (total, part) in state.iter_mut().zip([a, b, c, d, e]) {
            *total = total.wrapping_add(part);
        }
    }
    state.iter().map(|word| format!("{word:08x}")).collect()
}

#[test]
fn sha1_matches_a_known_digest() {
    assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}
