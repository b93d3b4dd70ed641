//! `release verify`: check a release against its receipt, from a receipt file or from the
//! latest receipt the manifest's destinations hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::plan::AwsArgs;
use super::session::Session;
use super::{Exit, Failure, load_manifest};
use crate::apply::receipt::{self, Receipt};
use crate::databases;
use crate::render;
use crate::verify::{Discrepancy, Place};

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// A receipt file, or the manifest whose latest receipt (in S3) to check.
    #[arg(default_value = "release.yaml")]
    target: PathBuf,
    #[command(flatten)]
    aws: AwsArgs,
}

pub(crate) async fn run(args: VerifyArgs) -> Result<Exit, Failure> {
    let local = read_receipt(&args.target)?;
    let manifest_path = match &local {
        Some(receipt) => PathBuf::from(&receipt.manifest.path),
        None => args.target.clone(),
    };
    let loaded = load_manifest(&manifest_path)?;
    let session = Session::open(&loaded, &args.aws.overrides()).await?;
    let receipt = match local {
        Some(receipt) => receipt,
        None => latest(&session, &loaded.manifest.release).await?,
    };
    let buckets: BTreeMap<String, _> =
        session.buckets.values().map(|(b, _)| (b.name().to_owned(), b.clone())).collect();
    let (objects, mut discrepancies) = crate::verify::verify(&receipt, &buckets).await?;
    discrepancies.extend(check_databases(&receipt, &loaded, &session).await?);
    let checked = match receipt.databases.len() {
        0 => format!("{objects} objects"),
        1 => format!("{objects} objects and 1 database"),
        n => format!("{objects} objects and {n} databases"),
    };
    for found in &discrepancies {
        render::error(&format!("{}: {}", found.place, found.problem), None);
    }
    if discrepancies.is_empty() {
        render::status(&format!(
            "Verified release `{}`: all {checked} match the receipt of {}.",
            receipt.release, receipt.completed_at
        ));
        Ok(Exit::Success)
    } else {
        Err(Failure::new(format!(
            "{} of {checked} differ from the receipt of {}",
            discrepancies.len(),
            receipt.completed_at
        ))
        .hint("someone changed the bucket after the release; re-plan and re-apply to restore it"))
    }
}

/// Every database of the receipt must exist and be ONLINE.
async fn check_databases(
    receipt: &Receipt,
    loaded: &crate::manifest::Loaded,
    session: &Session,
) -> Result<Vec<Discrepancy>, Failure> {
    let mut found = Vec::new();
    for restored in &receipt.databases {
        let database = loaded.manifest.databases.iter().find(|d| {
            let crate::manifest::types::Target::RdsSqlServer { instance, database, .. } = &d.target;
            *instance == restored.instance && *database == restored.database
        });
        let problem = match database {
            None => Some("the manifest no longer names this database".to_owned()),
            Some(database) => {
                let failure = |e: databases::DatabaseError| {
                    let hint = e.hint();
                    Failure { message: e.to_string(), hint, exit: Exit::Error }
                };
                let mut connection =
                    databases::connect(&session.config, loaded, database).await.map_err(failure)?;
                let observed =
                    databases::observe(&mut connection, database).await.map_err(failure)?;
                match observed.state.as_deref() {
                    Some("ONLINE") => None,
                    Some(state) => Some(format!("the database is {state}, not ONLINE")),
                    None => Some("the database does not exist".to_owned()),
                }
            }
        };
        if let Some(problem) = problem {
            let place = Place::Database {
                instance: restored.instance.clone(),
                database: restored.database.clone(),
            };
            found.push(Discrepancy { place, problem });
        }
    }
    Ok(found)
}

/// The receipt in `path`, if it is a receipt file rather than a manifest.
fn read_receipt(path: &Path) -> Result<Option<Receipt>, Failure> {
    let Ok(bytes) = std::fs::read(path) else { return Ok(None) };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return Ok(None) };
    if value.get("format").and_then(|f| f.as_str()) != Some(receipt::FORMAT) {
        return Ok(None);
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| Failure::new(format!("`{}` is not a readable receipt: {e}", path.display())))
}

/// The newest receipt any destination holds.
async fn latest(session: &Session, release: &str) -> Result<Receipt, Failure> {
    let mut newest: Option<Receipt> = None;
    for (bucket, prefix) in session.buckets.values() {
        let key = receipt::latest_key(prefix, release);
        let Some((body, _)) = bucket.get_small(&key).await? else { continue };
        let receipt: Receipt = serde_json::from_slice(&body).map_err(|e| {
            Failure::new(format!("`s3://{}/{key}` is not a readable receipt: {e}", bucket.name()))
        })?;
        if newest.as_ref().is_none_or(|n| n.completed_at < receipt.completed_at) {
            newest = Some(receipt);
        }
    }
    newest.ok_or_else(|| {
        Failure::new(format!("release `{release}` has no receipt in any destination"))
            .hint("a release has a receipt once `release apply` has finished it")
    })
}
