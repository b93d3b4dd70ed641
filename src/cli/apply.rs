//! `release apply`: carry out a saved plan, or plan, show and confirm first.
//!
//! A saved plan is refused when it was edited, when the manifest changed since it was made,
//! when the credentials belong to another account, or when it is older than `--max-age`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::plan::{AwsArgs, Format, make, show};
use super::session::Session;
use super::{Exit, Failure, load_manifest};
use crate::apply::transfer::Tuning;
use crate::apply::{self, Settings, lock::LockError};
use crate::plan::{Plan, file};
use crate::render::{self, plan::human_bytes};

#[derive(Debug, clap::Args)]
pub(crate) struct ApplyArgs {
    /// A plan file from `release plan -o`, or a manifest to plan and confirm.
    #[arg(default_value = "release.yaml")]
    target: PathBuf,
    /// Apply a freshly made plan without asking (for CI).
    #[arg(long)]
    auto_approve: bool,
    /// Refuse saved plans older than this (for example `30m`, `8h`, `2d`).
    #[arg(long, default_value = "24h", value_parser = parse_age)]
    max_age: jiff::SignedDuration,
    /// Files transferring at once (their buffers share one 96 MiB budget).
    #[arg(long, default_value_t = 32)]
    files_in_flight: usize,
    /// Parts of one file uploading at once.
    #[arg(long, default_value_t = 4)]
    parts_in_flight: usize,
    /// Preferred multipart part size in MiB (raised when a file needs more than 10,000 parts).
    #[arg(long, default_value_t = 16)]
    part_size_mib: u64,
    /// Print one JSON event per line on stdout instead of a progress bar.
    #[arg(long)]
    json: bool,
    /// How often to ask RDS about a running restore (for example `15s`, `1m`).
    #[arg(long, default_value = "15s", value_parser = parse_age)]
    restore_poll: jiff::SignedDuration,
    #[command(flatten)]
    aws: AwsArgs,
}

const LOCK_HINT: &str = "wait for it to finish; if its holder crashed, the lock expires by \
                         itself, or run `release unlock LOCK_ID`";
const PARTIAL_HINT: &str = "fix what is reported above, make a new plan and apply it; finished \
                            work is not sent again";

fn parse_age(text: &str) -> Result<jiff::SignedDuration, String> {
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let number: i64 =
        number.parse().map_err(|_| format!("`{text}` is not a duration like `8h`"))?;
    if unit == "ms" {
        return Ok(jiff::SignedDuration::from_millis(number));
    }
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: use ms, s, m, h or d")),
    };
    Ok(jiff::SignedDuration::from_secs(number * seconds))
}

pub(crate) async fn run(args: ApplyArgs) -> Result<Exit, Failure> {
    let overrides = args.aws.overrides();
    let (plan, loaded, session) = if is_plan_file(&args.target) {
        let plan =
            file::load(&args.target).map_err(|e| Failure::new(e.to_string()).hint(e.hint()))?;
        let loaded = load_manifest(Path::new(&plan.manifest.path))?;
        check_saved(&plan, &loaded.digest, args.max_age)?;
        let session = Session::open(&loaded, &overrides).await?;
        if session.identity.account != plan.account_id {
            return Err(stale(format!(
                "the plan was made in account {}, but the credentials belong to account {}",
                plan.account_id, session.identity.account
            )));
        }
        (plan, loaded, session)
    } else {
        let loaded = load_manifest(&args.target)?;
        let mut plan = make(&loaded, &overrides).await?;
        plan.digest = file::digest(&mut plan);
        show(&plan, Format::Human);
        if plan.summary.has_changes() && !args.auto_approve && !confirmed()? {
            render::status("Nothing was changed.");
            return Ok(Exit::Error);
        }
        let session = Session::open(&loaded, &overrides).await?;
        (plan, loaded, session)
    };

    // Nothing to change: done, unless an earlier apply stopped before writing its receipt.
    let stopped = plan.summary.conflict + plan.summary.blocked;
    if !plan.summary.has_changes() && stopped == 0 && has_receipt(&session, &plan.release).await? {
        render::status("Nothing to do: every object already holds its planned content.");
        return Ok(Exit::Success);
    }
    let settings = Settings {
        tuning: Tuning {
            part_size: args.part_size_mib.max(5) * 1024 * 1024,
            multipart_threshold: args.part_size_mib.max(5) * 1024 * 1024,
            parts_in_flight: args.parts_in_flight,
        },
        files_in_flight: args.files_in_flight,
        json: args.json,
        restore_poll: std::time::Duration::try_from(args.restore_poll)
            .unwrap_or(std::time::Duration::from_secs(15)),
    };
    let arn = &session.identity.arn;
    let outcome = apply::apply(&plan, &loaded, &session.buckets, &session.config, arn, settings)
        .await
        .map_err(|error| match error {
            apply::ApplyError::Lock(LockError::Held { .. }) => Failure {
                message: error.to_string(),
                hint: Some(LOCK_HINT.into()),
                exit: Exit::LockHeld,
            },
            other => Failure::new(other.to_string()),
        })?;

    // Report: what was done, what failed and why, and where the receipt is.
    for failed in &outcome.failed {
        render::error(&format!("{}: {}", failed.key, failed.message), failed.hint.as_deref());
    }
    let sent: u64 = plan
        .actions
        .iter()
        .filter(|a| a.kind.changes())
        .filter_map(|a| a.local.as_ref())
        .map(|l| l.size)
        .sum();
    render::status(&format!(
        "Applied: {} written, {} already in place, {} deleted, {} failed ({} planned to send).",
        outcome.written,
        outcome.already_done,
        outcome.deleted,
        outcome.failed.len(),
        human_bytes(sent)
    ));
    match &outcome.receipt {
        Some((_, path)) => {
            render::status(&format!("Receipt: {}", path.display()));
            Ok(Exit::Success)
        }
        None => {
            let stopped = plan.summary.conflict + plan.summary.blocked;
            let why = if outcome.failed.is_empty() && stopped > 0 {
                format!(
                    "{stopped} planned change{} stopped by policy",
                    if stopped == 1 { " was" } else { "s were" }
                )
            } else {
                format!(
                    "{} action{} failed",
                    outcome.failed.len(),
                    if outcome.failed.len() == 1 { "" } else { "s" }
                )
            };
            Err(Failure {
                message: format!("the release is incomplete: {why}; no receipt was written"),
                hint: Some(PARTIAL_HINT.into()),
                exit: Exit::Partial,
            })
        }
    }
}

/// Whether any destination holds a receipt of this release.
async fn has_receipt(session: &Session, release: &str) -> Result<bool, Failure> {
    for (bucket, prefix) in session.buckets.values() {
        let key = crate::apply::receipt::latest_key(prefix, release);
        if bucket.head(&key).await?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A saved plan must be intact (checked on load), from this manifest, and recent.
fn check_saved(
    plan: &Plan,
    manifest_digest: &str,
    max_age: jiff::SignedDuration,
) -> Result<(), Failure> {
    if plan.manifest.digest != manifest_digest {
        return Err(stale(format!(
            "the manifest `{}` changed since the plan was made",
            plan.manifest.path
        )));
    }
    let age = jiff::Timestamp::now().duration_since(plan.created_at);
    if age > max_age {
        return Err(stale(format!(
            "the plan was made {} ago, more than --max-age {}",
            human_duration(age),
            human_duration(max_age)
        )));
    }
    Ok(())
}

fn stale(message: String) -> Failure {
    Failure {
        message,
        hint: Some("make a new plan with `release plan -o FILE`, review it, and apply that".into()),
        exit: Exit::PlanStale,
    }
}

fn human_duration(duration: jiff::SignedDuration) -> String {
    let minutes = duration.as_secs() / 60;
    if minutes < 120 { format!("{minutes} minutes") } else { format!("{} hours", minutes / 60) }
}

/// Whether `path` holds a saved plan rather than a manifest: JSON, so its first character
/// other than white space is `{`. Reads only as far as that character.
fn is_plan_file(path: &Path) -> bool {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else { return false };
    let mut bytes = std::io::BufReader::new(file).bytes();
    bytes
        .find(|b| !b.as_ref().is_ok_and(u8::is_ascii_whitespace))
        .is_some_and(|b| b.ok() == Some(b'{'))
}

/// Asks on the terminal; only `yes` is taken as consent.
fn confirmed() -> Result<bool, Failure> {
    render::status("Apply these changes? Only `yes` is accepted:");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::new(format!("cannot read the answer: {e}")))?;
    Ok(answer.trim() == "yes")
}
