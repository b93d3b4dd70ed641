//! Checks on a deserialised manifest that types alone cannot express: names follow AWS and
//! SQL Server rules, references point at defined destinations, keys are unique and valid.
//! Each problem names the manifest path it is about; loading turns that into a location.

use std::collections::{BTreeMap, HashMap};

use super::rules;
use super::types::{Encryption, Login, Manifest, Target};
use crate::inventory::select::Selected;

/// A problem found by a check, before it is given a place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Manifest path of the offending value, such as `files[1].destination`.
    pub path: String,
    pub message: String,
    pub hint: String,
}

impl Problem {
    fn new(path: impl Into<String>, message: String, hint: impl Into<String>) -> Problem {
        Problem { path: path.into(), message, hint: hint.into() }
    }
}

/// Runs every check that needs only the manifest.
pub fn check(manifest: &Manifest) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut rule = |path: &str, result: Result<(), String>, hint: &str| {
        if let Err(message) = result {
            problems.push(Problem::new(path, message, hint));
        }
    };

    rule("release", rules::release_id(&manifest.release), "pick an id such as `cohort-12-2026-11`");
    check_aws(manifest, &mut rule);
    for (name, destination) in &manifest.destinations {
        let path = format!("destinations.{name}");
        let valid_name = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            let message =
                format!("destination name `{name}` may hold only letters, digits, `-`, `_`");
            rule(&path, Err(message), "rename the destination");
        }
        let hint = "see the S3 bucket naming rules; the bucket must already exist";
        rule(&format!("{path}.bucket"), rules::bucket(&destination.bucket), hint);
        if let Some(owner) = &destination.expected_bucket_owner {
            let hint = "give the 12-digit id of the account that owns the bucket";
            rule(&format!("{path}.expected_bucket_owner"), rules::account_id(owner), hint);
        }
        let prefix = destination.prefix.trim_matches('/');
        if !prefix.is_empty() {
            let hint = "use `/`-separated folder names without `.` or `..`";
            rule(&format!("{path}.prefix"), rules::object_key(prefix), hint);
        }
        if let Encryption::SseKms { kms_key_id } = &destination.encryption
            && kms_key_id.trim().is_empty()
        {
            let message = "`sse-kms` needs a `kms_key_id`".to_owned();
            rule(&format!("{path}.encryption.kms_key_id"), Err(message), "give a key ARN or alias");
        }
    }
    check_references(manifest, &mut rule);
    check_databases(manifest, &mut rule);
    for (index, pattern) in manifest.policy.protected.iter().enumerate() {
        if let Err(error) = globset::Glob::new(pattern) {
            let message = format!("`{pattern}` is not a valid glob: {}", error.kind());
            let hint = "use `*`, `**`, `?`, `[abc]` or `{a,b}`, with every bracket closed";
            rule(&format!("policy.protected[{index}]"), Err(message), hint);
        }
    }
    problems
}

type Rule<'a> = dyn FnMut(&str, Result<(), String>, &str) + 'a;

fn check_aws(manifest: &Manifest, rule: &mut Rule<'_>) {
    let aws = &manifest.aws;
    let hint = "the account the release must go to, as shown in the AWS access portal";
    rule("aws.account_id", rules::account_id(&aws.account_id), hint);
    if aws.endpoint_url.is_none() {
        rule("aws.region", rules::region(&aws.region), "use the region of the buckets");
    } else if aws.region.trim().is_empty() {
        rule("aws.region", Err("region is empty".into()), "name the store's region");
    }
    if let Some(seconds) = aws.session_duration_seconds
        && !(900..=43_200).contains(&seconds)
    {
        let message = format!("a role session lasts 900 to 43,200 seconds, not {seconds}");
        let hint = "STS refuses other durations; the role's own maximum may be lower";
        rule("aws.session_duration_seconds", Err(message), hint);
    }
    if let Some(arn) = &aws.role_arn {
        rule("aws.role_arn", rules::role_arn(arn), "use `arn:aws:iam::ACCOUNT:role/NAME`");
    }
    if let Some(url) = &aws.endpoint_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        let message = format!("endpoint `{url}` is not an http or https URL");
        rule("aws.endpoint_url", Err(message), "write it as `https://host[:port]`");
    }
    if aws.profile.as_deref().is_some_and(|p| p.trim().is_empty()) {
        rule(
            "aws.profile",
            Err("profile name is empty".into()),
            "name a profile or remove the key",
        );
    }
}

fn check_references(manifest: &Manifest, rule: &mut Rule<'_>) {
    let known: Vec<String> = manifest.destinations.keys().map(|k| format!("`{k}`")).collect();
    let hint = if known.is_empty() {
        "define it under `destinations`".to_owned()
    } else {
        format!("define it under `destinations`, or use one of {}", known.join(", "))
    };
    let mut reference = |path: String, name: &str| {
        if !manifest.destinations.contains_key(name) {
            rule(&path, Err(format!("destination `{name}` is not defined")), &hint);
        }
    };
    for (index, entry) in manifest.files.iter().enumerate() {
        reference(format!("files[{index}].destination"), &entry.destination);
    }
    for (index, database) in manifest.databases.iter().enumerate() {
        reference(format!("databases[{index}].staging"), &database.staging);
    }
}

fn check_databases(manifest: &Manifest, rule: &mut Rule<'_>) {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (index, database) in manifest.databases.iter().enumerate() {
        let path = format!("databases[{index}]");
        let files = database.backup.files();
        if files.is_empty() || files.len() > 10 {
            let message = format!("a backup has 1 to 10 files; this one has {}", files.len());
            rule(&format!("{path}.backup"), Err(message), "RDS restores at most 10 striped files");
        }
        let Target::RdsSqlServer { instance, database: name, login, .. } = &database.target;
        let hint = "use the DB instance identifier shown in the RDS console";
        rule(&format!("{path}.target.instance"), rules::instance_id(instance), hint);
        let hint = "pick another name; RDS refuses these";
        rule(&format!("{path}.target.database"), rules::database_name(name), hint);
        if let Login::Env { username_var, password_var } = login {
            for (key, var) in [("username_var", username_var), ("password_var", password_var)] {
                let hint = "name the variable, never the value";
                rule(&format!("{path}.target.login.{key}"), rules::env_var(var), hint);
            }
        }
        let identity = (instance.clone(), name.to_lowercase());
        if let Some(first) = seen.insert(identity, index) {
            let message = format!(
                "database `{name}` on `{instance}` is also restored by `databases[{first}]`"
            );
            rule(&format!("{path}.target.database"), Err(message), "restore each database once");
        }
    }
}

/// Checks on the files the manifest selects: each key is valid and lands once.
pub fn check_keys(manifest: &Manifest, selected: &[Selected]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut owners: BTreeMap<(&str, &str), &Selected> = BTreeMap::new();
    for file in selected {
        let path = format!("files[{}].key", file.set);
        if let Err(message) = rules::object_key(&file.key) {
            let message = format!("{message} (from `{}`)", file.relative);
            problems.push(Problem::new(path, message, "change the key template or the file name"));
            continue;
        }
        let bucket = manifest
            .destinations
            .get(&file.destination)
            .map(|d| d.bucket.as_str())
            .unwrap_or_default();
        if let Some(first) = owners.insert((bucket, &file.key), file) {
            let message = format!(
                "`{}` and `{}` both map to key `{}` in bucket `{bucket}`",
                first.relative, file.relative, file.key
            );
            let hint = "exclude one of them or use a key template that keeps them apart";
            problems.push(Problem::new(format!("files[{}].source", file.set), message, hint));
        }
    }
    problems
}
