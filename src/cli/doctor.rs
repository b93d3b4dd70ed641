//! `release doctor`: checks that a release could reach everything it needs, changing nothing.
//!
//! The checklist goes to stdout, a line per check, in this order:
//! 1. sign-in: the credentials load, are not long-lived keys the manifest refuses, and STS
//!    names the manifest's account. Nothing else is checked when this fails, so no S3 request
//!    is ever made before the account is confirmed;
//! 2. each destination: the bucket answers HeadBucket for its expected owner, is in the region
//!    this run uses, encrypts by default as the manifest asks, and its prefix can be listed;
//!    with `--write-test`, a probe object is written under the reserved `.release/` prefix and
//!    deleted again;
//! 3. each database target: not checked yet, and said so.
//!
//! Only what a release needs is asked for: no ListAllMyBuckets, no KMS or IAM calls. The exit
//! code is 0 when nothing failed and 1 otherwise.

use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;

use super::plan::AwsArgs;
use super::session::{buckets, warn_about};
use super::{Exit, Failure, load_manifest};
use crate::manifest::types::{Aws, Destination, Encryption, Target};
use crate::observe::RESERVED;
use crate::providers::aws::{self, AwsError, Connection, Identity};
use crate::providers::s3::inspect::{self, BucketAnswer, DefaultEncryption};
use crate::providers::s3::{Bucket, S3Error, S3ErrorKind};
use crate::render::{self, Mark};

#[derive(Debug, clap::Args)]
pub(crate) struct DoctorArgs {
    /// The manifest file.
    #[arg(default_value = "release.yaml")]
    manifest: PathBuf,
    /// Also write a probe object under each destination's `.release/` prefix and delete it.
    #[arg(long)]
    write_test: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

/// The checks so far, printed as they are made.
#[derive(Debug, Default)]
struct Checklist {
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Checklist {
    fn record(&mut self, mark: Mark, text: &str, hint: Option<&str>) {
        match mark {
            Mark::Pass => self.passed += 1,
            Mark::Fail => self.failed += 1,
            Mark::Skip => self.skipped += 1,
        }
        render::check(mark, text, hint);
    }

    fn pass(&mut self, text: &str) {
        self.record(Mark::Pass, text, None);
    }

    fn fail(&mut self, text: &str, hint: Option<&str>) {
        self.record(Mark::Fail, text, hint);
    }

    fn skip(&mut self, text: &str) {
        self.record(Mark::Skip, text, None);
    }

    /// Prints the totals and gives the exit code.
    fn finish(&self) -> Exit {
        let Checklist { passed, failed, skipped } = self;
        render::data(&format!("\n{passed} passed, {failed} failed, {skipped} not checked\n"));
        if *failed == 0 { Exit::Success } else { Exit::Error }
    }
}

/// What every destination's checks compare against.
struct Context {
    /// The caller's account.
    account: String,
    /// The region this run sends requests to.
    region: String,
    /// The S3 endpoint, when it is not AWS S3 (and so may not check bucket owners).
    endpoint: Option<String>,
    write_test: bool,
}

pub(crate) async fn run(args: DoctorArgs) -> Result<Exit, Failure> {
    let loaded = load_manifest(&args.manifest)?;
    let manifest = &loaded.manifest;
    let connection =
        Connection::for_release(&manifest.aws, &manifest.release, &args.aws.overrides()).await;
    let mut checklist = Checklist::default();

    // Sign in; without a confirmed account, nothing else may be asked.
    render::check_heading("AWS sign-in");
    let Some(identity) = sign_in(&connection, &manifest.aws, &mut checklist).await else {
        checklist.skip("destinations: no S3 request is made before the account is confirmed");
        return Ok(checklist.finish());
    };

    // Each destination, with the same S3 client a release uses.
    let context = Context {
        account: identity.account.clone(),
        region: connection.region.clone(),
        endpoint: custom_endpoint(&manifest.aws),
        write_test: args.write_test,
    };
    for (name, (bucket, prefix)) in buckets(&loaded, &connection) {
        let Some(destination) = manifest.destinations.get(&name) else { continue };
        render::check_heading(&format!("\nDestination `{name}`: s3://{}/{prefix}", bucket.name()));
        check_destination(&bucket, &prefix, destination, &context, &mut checklist).await;
    }

    // Databases are not checked yet.
    if !manifest.databases.is_empty() {
        render::check_heading("\nDatabases");
    }
    for database in &manifest.databases {
        let Target::RdsSqlServer { instance, database, .. } = &database.target;
        checklist.skip(&format!(
            "database `{database}` on instance `{instance}`: database checks are not available yet"
        ));
    }
    Ok(checklist.finish())
}

/// Credentials, long-lived keys and the account, each a line. The identity when all pass.
async fn sign_in(
    connection: &Connection,
    aws: &Aws,
    checklist: &mut Checklist,
) -> Option<Identity> {
    let failed = |checklist: &mut Checklist, error: AwsError| {
        checklist.fail(&error.to_string(), error.hint().as_deref());
        None
    };
    let credentials = match connection.credentials().await {
        Ok(credentials) => credentials,
        Err(error) => return failed(checklist, error),
    };
    if credentials.session_token().is_none() && !aws.allow_static_keys {
        return failed(checklist, AwsError::StaticKeys);
    }
    let identity = match connection.caller(&credentials).await {
        Ok(identity) => identity,
        Err(error) => return failed(checklist, error),
    };
    warn_about(&identity);
    let lifetime = match identity.expires {
        _ if identity.static_keys => {
            " (long-lived access keys, allowed by `aws.allow_static_keys`)".to_owned()
        }
        Some(at) => format!(", valid until {at}"),
        None => String::new(),
    };
    checklist.pass(&format!("credentials from {}{lifetime}", identity.provider));
    if let Err(error) = aws::check(&identity, aws) {
        return failed(checklist, error);
    }
    checklist.pass(&format!(
        "signed in as `{}` in account {}, the manifest's account",
        identity.arn, identity.account
    ));
    Some(identity)
}

/// The checks of one destination, stopping where the next would only repeat a failure.
async fn check_destination(
    bucket: &Bucket,
    prefix: &str,
    destination: &Destination,
    context: &Context,
    checklist: &mut Checklist,
) {
    let Some(region) = check_bucket(bucket, prefix, context, checklist).await else { return };
    if !check_region(bucket, region, context, checklist).await {
        return;
    }
    check_encryption(bucket, &destination.encryption, checklist).await;
    check_listing(bucket, prefix, checklist).await;
    if context.write_test {
        check_write(bucket, prefix, &destination.encryption, checklist).await;
    }
}

/// HeadBucket with the expected owner. Gives the region S3 named when the bucket answered.
///
/// HeadBucket needs `s3:ListBucket` with no prefix condition. A role limited to its own
/// prefixes is refused it, so a refusal is followed by the listing a release makes anyway,
/// which names the expected owner too.
async fn check_bucket(
    bucket: &Bucket,
    prefix: &str,
    context: &Context,
    checklist: &mut Checklist,
) -> Option<Option<String>> {
    let (name, owner) = (bucket.name(), bucket.owner());
    match bucket.answer().await {
        BucketAnswer::Found { region } => {
            check_owner(bucket, context, checklist);
            return Some(region);
        }
        BucketAnswer::Refused { region } if bucket.holds_anything(prefix).await.is_ok() => {
            checklist.skip(&format!(
                "HeadBucket on `{name}` was refused (the role may list only its prefixes); the \
                 bucket was reached by listing `{prefix}` instead"
            ));
            check_owner(bucket, context, checklist);
            return Some(region);
        }
        BucketAnswer::Missing => checklist.fail(
            &format!("bucket `{name}` does not exist"),
            Some("check the destination's `bucket`; buckets are made by whoever runs the TRE"),
        ),
        BucketAnswer::Refused { .. } => checklist.fail(
            &format!("S3 refused HeadBucket on `{name}` with expected owner {owner}"),
            Some(&format!(
                "either account {owner} does not own the bucket (check the destination's \
                 `expected_bucket_owner` and `aws.account_id`), or the role lacks \
                 `s3:ListBucket` on `arn:aws:s3:::{name}`"
            )),
        ),
        BucketAnswer::Moved { region } => {
            let (text, hint) = wrong_region(name, region.as_deref(), &context.region);
            checklist.fail(&text, hint.as_deref());
        }
        BucketAnswer::Failed(error) => checklist.fail(&error.to_string(), hint(&error).as_deref()),
    }
    None
}

/// Whether the bucket's owner is the one the manifest expects, as far as can be known.
///
/// AWS S3 refuses a request whose expected owner does not own the bucket, so on AWS the answer
/// itself is the proof. Other stores may ignore the expected owner: there, an owner other than
/// the caller's own account cannot be confirmed, and doctor says so rather than pass it.
fn check_owner(bucket: &Bucket, context: &Context, checklist: &mut Checklist) {
    let (name, owner, account) = (bucket.name(), bucket.owner(), &context.account);
    match (&context.endpoint, owner == account) {
        (None, true) => checklist.pass(&format!(
            "bucket `{name}` answers for its expected owner, account {owner} (yours)"
        )),
        (None, false) => checklist.pass(&format!(
            "bucket `{name}` answers for its expected owner, account {owner} (not yours, \
             {account}, as the manifest allows)"
        )),
        (Some(endpoint), true) => checklist.pass(&format!(
            "bucket `{name}` answers; its owner is taken to be your account {owner}, since \
             `{endpoint}` is not AWS S3 and may not check owners"
        )),
        (Some(endpoint), false) => checklist.fail(
            &format!(
                "cannot confirm that account {owner} owns bucket `{name}`: you are signed in to \
                 account {account}, and `{endpoint}` is not AWS S3, so it may ignore the \
                 expected owner it is sent"
            ),
            Some(
                "AWS S3 refuses requests to a bucket owned by any other account than the \
                 expected one; for this endpoint, remove `expected_bucket_owner` or set it to \
                 your account",
            ),
        ),
    }
}

/// The bucket's region against the run's. False when they differ or S3 would not say.
async fn check_region(
    bucket: &Bucket,
    reported: Option<String>,
    context: &Context,
    checklist: &mut Checklist,
) -> bool {
    let region = match reported {
        Some(region) => Ok(region),
        None => bucket.location().await,
    };
    match region {
        Ok(region) if region == context.region => {
            checklist.pass(&format!("bucket is in region {region}, the region this run uses"));
            true
        }
        Ok(region) => {
            let (text, hint) = wrong_region(bucket.name(), Some(&region), &context.region);
            checklist.fail(&text, hint.as_deref());
            false
        }
        Err(error) => {
            checklist.skip(&format!("region not checked: {error}"));
            true
        }
    }
}

/// A bucket in another region than the run's, in words, with both regions named.
fn wrong_region(bucket: &str, theirs: Option<&str>, ours: &str) -> (String, Option<String>) {
    match theirs {
        Some(theirs) => (
            format!("bucket `{bucket}` is in region {theirs}, but this run uses region {ours}"),
            Some(format!("set `aws.region: {theirs}` in the manifest, or pass --region {theirs}")),
        ),
        None => (
            format!("bucket `{bucket}` is not in region {ours}: S3 redirected the request"),
            Some("set `aws.region` to the bucket's region".to_owned()),
        ),
    }
}

/// The bucket's default encryption against the manifest's.
async fn check_encryption(bucket: &Bucket, wanted: &Encryption, checklist: &mut Checklist) {
    let name = bucket.name();
    match bucket.default_encryption().await {
        Ok(Some(default)) => {
            let (mark, text, hint) = compare_encryption(wanted, &default);
            checklist.record(mark, &text, hint.as_deref());
        }
        Ok(None) => checklist.fail(
            &format!("bucket `{name}` has no default encryption"),
            Some(&format!(
                "ask the bucket's owner to make {} its default, so that every object is \
                 encrypted whoever writes it",
                describe_wanted(wanted)
            )),
        ),
        Err(error) if matches!(error.kind, S3ErrorKind::AccessDenied(_)) => {
            checklist.skip(&format!(
                "default encryption not checked: reading it needs \
                 `s3:GetEncryptionConfiguration` on `arn:aws:s3:::{name}`"
            ))
        }
        Err(error) if error.is_code("NotImplemented") => checklist.skip(
            "default encryption not checked: this store does not report it \
             (GetBucketEncryption is not implemented)",
        ),
        Err(error) => checklist.fail(&error.to_string(), hint(&error).as_deref()),
    }
}

/// Mark, line and hint for a bucket's default encryption against the manifest's.
fn compare_encryption(
    wanted: &Encryption,
    default: &DefaultEncryption,
) -> (Mark, String, Option<String>) {
    let kms = default.algorithm.starts_with("aws:kms");
    let theirs = describe_default(default);
    let mismatch = || {
        let text = format!(
            "the bucket encrypts with {theirs} by default, but the manifest asks for {}",
            describe_wanted(wanted)
        );
        let hint = "make the destination's `encryption` match the bucket, or ask its owner \
                    which is intended"
            .to_owned();
        (Mark::Fail, text, Some(hint))
    };
    match wanted {
        Encryption::SseS3 if default.algorithm == "AES256" => {
            (Mark::Pass, "default encryption is SSE-S3, as the manifest asks".to_owned(), None)
        }
        Encryption::SseKms { kms_key_id } if kms => {
            let bucket_key = default.kms_key_id.as_deref().unwrap_or("alias/aws/s3");
            match same_key(kms_key_id, bucket_key) {
                Some(true) => (
                    Mark::Pass,
                    format!("default encryption is {theirs}, as the manifest asks"),
                    None,
                ),
                Some(false) => mismatch(),
                None => (
                    Mark::Pass,
                    format!(
                        "default encryption is {theirs}; the manifest's `{kms_key_id}` was not \
                         compared with it (that needs `kms:DescribeKey`)"
                    ),
                    None,
                ),
            }
        }
        _ => mismatch(),
    }
}

fn describe_wanted(wanted: &Encryption) -> String {
    match wanted {
        Encryption::SseS3 => "SSE-S3".to_owned(),
        Encryption::SseKms { kms_key_id } => format!("SSE-KMS with key `{kms_key_id}`"),
    }
}

fn describe_default(default: &DefaultEncryption) -> String {
    let key = default.kms_key_id.as_deref().unwrap_or("aws/s3, the AWS managed key");
    match default.algorithm.as_str() {
        "AES256" => "SSE-S3".to_owned(),
        "aws:kms" => format!("SSE-KMS with key `{key}`"),
        "aws:kms:dsse" => format!("DSSE-KMS with key `{key}`"),
        other => format!("`{other}`"),
    }
}

/// Whether two ways of naming a KMS key name the same key: `Some` when they can be compared
/// (both by key id, or both by alias, bare or as ARNs), `None` when not (an alias and an id).
fn same_key(a: &str, b: &str) -> Option<bool> {
    match (key_name(a), key_name(b)) {
        (KeyName::Id(a), KeyName::Id(b)) | (KeyName::Alias(a), KeyName::Alias(b)) => Some(a == b),
        _ => None,
    }
}

enum KeyName<'a> {
    Id(&'a str),
    Alias(&'a str),
}

/// `arn:aws:kms:REGION:ACCOUNT:key/ID`, `alias/NAME`, its ARN, or a bare key id.
fn key_name(text: &str) -> KeyName<'_> {
    let resource = match text.strip_prefix("arn:") {
        Some(arn) => arn.splitn(5, ':').nth(4).unwrap_or(arn),
        None => text,
    };
    if let Some(alias) = resource.strip_prefix("alias/") {
        KeyName::Alias(alias)
    } else {
        KeyName::Id(resource.strip_prefix("key/").unwrap_or(resource))
    }
}

/// A one-key listing of the prefix.
async fn check_listing(bucket: &Bucket, prefix: &str, checklist: &mut Checklist) {
    let place =
        if prefix.is_empty() { "the whole bucket".to_owned() } else { format!("`{prefix}`") };
    match bucket.holds_anything(prefix).await {
        Ok(true) => checklist.pass(&format!("{place} can be listed (it holds objects)")),
        Ok(false) => checklist.pass(&format!("{place} can be listed (it is empty)")),
        Err(error) => checklist.fail(&error.to_string(), hint(&error).as_deref()),
    }
}

/// Writes a probe under the reserved prefix as a release would, and deletes it.
async fn check_write(
    bucket: &Bucket,
    prefix: &str,
    encryption: &Encryption,
    checklist: &mut Checklist,
) {
    let suffix = RandomState::new().hash_one(std::process::id());
    let key = format!("{prefix}{RESERVED}doctor-probe-{suffix:016x}");
    match bucket.probe(&key, encryption).await {
        Ok(()) => checklist.pass(&format!("wrote and deleted `{key}`")),
        Err(error) if error.operation == "DeleteObject" => checklist.fail(
            &format!("wrote `{key}` but could not delete it: {error}"),
            Some(&format!(
                "delete it with `aws s3 rm s3://{}/{key}`; a release needs `s3:DeleteObject` \
                 under `{prefix}{RESERVED}` to release its lock",
                bucket.name()
            )),
        ),
        Err(error) => checklist.fail(&error.to_string(), hint(&error).as_deref()),
    }
}

/// What to do about a failed S3 request: the permission it needs, where one is missing.
fn hint(error: &S3Error) -> Option<String> {
    match &error.kind {
        S3ErrorKind::AccessDenied(_) if inspect::is_kms_refusal(error) => Some(
            "the role needs `kms:GenerateDataKey` and `kms:Decrypt` on the destination's key"
                .to_owned(),
        ),
        S3ErrorKind::AccessDenied(_) => {
            inspect::needed_permission(error).map(|needed| format!("the role needs {needed}"))
        }
        _ => error.hint(),
    }
}

/// The S3 endpoint in use when it is not AWS S3's own.
fn custom_endpoint(aws: &Aws) -> Option<String> {
    let url = aws.endpoint_url.clone().or_else(aws::s3_endpoint_from_env)?;
    let host = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let host = host.split(['/', ':']).next().unwrap_or_default();
    let on_aws = [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"]
        .iter()
        .any(|suffix| host.ends_with(suffix));
    (!on_aws).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_kms_keys_only_when_named_alike() {
        let arn = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(same_key("1234abcd-12ab-34cd-56ef-1234567890ab", arn), Some(true));
        assert_eq!(
            same_key("alias/tre", "arn:aws:kms:eu-west-2:111122223333:alias/tre"),
            Some(true)
        );
        assert_eq!(same_key("alias/tre", "alias/other"), Some(false));
        assert_eq!(same_key("alias/tre", arn), None);
    }

    #[test]
    fn sse_kms_against_an_sse_s3_bucket_fails() {
        let wanted = Encryption::SseKms { kms_key_id: "alias/tre".into() };
        let default = DefaultEncryption { algorithm: "AES256".into(), kms_key_id: None };
        let (mark, text, hint) = compare_encryption(&wanted, &default);
        assert_eq!(mark, Mark::Fail);
        assert!(text.contains("SSE-S3") && text.contains("alias/tre"), "{text}");
        assert!(hint.is_some());
    }

    #[test]
    fn the_aws_managed_key_matches_its_alias() {
        let wanted = Encryption::SseKms { kms_key_id: "alias/aws/s3".into() };
        let default = DefaultEncryption { algorithm: "aws:kms".into(), kms_key_id: None };
        assert_eq!(compare_encryption(&wanted, &default).0, Mark::Pass);
    }
}
