//! `release plan`: fingerprint local files, observe S3, diff, and show or save the plan.
//!
//! The steps:
//! 1. load and check the manifest (the same checks as `validate`);
//! 2. sign in and check the account, before any S3 request;
//! 3. fingerprint the selected files, reading only those the hash cache does not know;
//! 4. list the destinations and fetch the checksums needed to compare;
//! 5. diff into a plan, then render it and optionally save it.

use std::path::{Path, PathBuf};

use super::session::{Session, destinations};
use super::{Exit, Failure, load_manifest};
use crate::databases::{self, Staged};
use crate::inventory::cache::HashCache;
use crate::inventory::fingerprint;
use crate::manifest::Loaded;
use crate::observe::{self, RemoteCache};
use crate::plan::{self, DatabaseKind, FORMAT, ManifestRef, Plan, Summary, VERSION};
use crate::providers::aws::Overrides;
use crate::render::{self, plan::human_bytes};

/// How a plan is shown on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Human,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// The manifest file.
    #[arg(default_value = "release.yaml")]
    manifest: PathBuf,
    /// Save the plan to this file, for `release apply FILE`.
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print the plan as JSON (the saved plan format).
    #[arg(long, conflicts_with = "markdown")]
    json: bool,
    /// Print the plan as Markdown, for a pull-request comment.
    #[arg(long)]
    markdown: bool,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
    #[arg(long)]
    detailed_exitcode: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Overrides of the manifest's `aws` section.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AwsArgs {
    /// AWS profile to use instead of the manifest's `aws.profile`.
    #[arg(long, env = "AWS_PROFILE", hide_env_values = true)]
    profile: Option<String>,
    /// Region to use instead of the manifest's `aws.region`.
    #[arg(long)]
    region: Option<String>,
}

impl AwsArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides { profile: self.profile.clone(), region: self.region.clone() }
    }
}

pub(crate) async fn run(args: PlanArgs) -> Result<Exit, Failure> {
    let loaded = load_manifest(&args.manifest)?;
    let plan = make(&loaded, &args.aws.overrides()).await?;
    let format = match (args.json, args.markdown) {
        (true, _) => Format::Json,
        (_, true) => Format::Markdown,
        _ => Format::Human,
    };
    let mut plan = plan;
    if let Some(out) = &args.out {
        plan::file::save(&mut plan, out).map_err(|e| Failure::new(e.to_string()))?;
        render::status(&format!("Saved the plan to {}", out.display()));
    } else {
        plan.digest = plan::file::digest(&mut plan);
    }
    show(&plan, format);
    let changes = plan.summary.has_changes();
    Ok(if args.detailed_exitcode && changes { Exit::Changes } else { Exit::Success })
}

/// Prints a plan on stdout in the chosen format.
pub(crate) fn show(plan: &Plan, format: Format) {
    match format {
        Format::Human => render::data(&render::plan::human(plan)),
        Format::Markdown => render::data(&render::plan::markdown(plan)),
        Format::Json => render::json(plan),
    }
}

/// Makes a plan for a loaded manifest.
pub(crate) async fn make(loaded: &Loaded, overrides: &Overrides) -> Result<Plan, Failure> {
    let session = Session::open(loaded, overrides).await?;
    let state_dir = loaded.root.join(".release");

    // Read the backups' headers first: a file that is not a backup stops here, unsent.
    let backups = databases::backups(loaded).map_err(database_failure)?;

    // Fingerprint local files and backups; the cache spares reading unchanged ones.
    let mut hashes = HashCache::open(&state_dir);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut selected = loaded.files.clone();
    let backup_files: Vec<usize> = backups.iter().map(|b| b.files.len()).collect();
    selected.extend(backups.iter().flat_map(|b| b.files.iter().cloned()));
    let (mut files, work) =
        tokio::task::block_in_place(|| fingerprint::fingerprint(selected, &mut hashes, threads))
            .map_err(|e| {
                Failure::new(e.to_string()).hint("check the file exists and can be read")
            })?;
    let mut fingerprinted_backups = files.split_off(loaded.files.len()).into_iter();
    let staged: Vec<Staged> = backups
        .into_iter()
        .zip(backup_files)
        .map(|(backup, count)| {
            let own = fingerprinted_backups.by_ref().take(count).collect();
            databases::stage(loaded, backup, own)
        })
        .collect();
    files.extend(staged.iter().flat_map(|s| s.files.iter().cloned()));
    let live: Vec<&str> = files.iter().map(|f| f.selected.relative.as_str()).collect();
    if let Err(error) = hashes.save(&live) {
        render::warning(&format!("cannot save the hash cache: {error}"));
    }
    // Large releases hold many entries: free them before the next step builds its own.
    drop((hashes, live));
    render::status(&format!(
        "Fingerprinted {} files: read {} ({}), {} from cache",
        files.len(),
        work.files_read,
        human_bytes(work.bytes_read),
        work.from_cache
    ));

    // Observe what the destinations hold.
    let mut remote = RemoteCache::open(&state_dir);
    let (observed, cost) =
        observe::observe(&loaded.manifest, &session.buckets, &files, &mut remote).await?;
    if let Err(error) = remote.save() {
        render::warning(&format!("cannot save the checksum cache: {error}"));
    }
    drop(remote);
    render::status(&format!(
        "Observed {} stored objects, {} checksum lookups",
        cost.listed, cost.heads
    ));

    // Ask each database target what exists, and compare.
    let mut database_actions = Vec::new();
    for backup in &staged {
        let database = &loaded.manifest.databases[backup.index];
        let mut connection = databases::connect(&session.config, loaded, database)
            .await
            .map_err(database_failure)?;
        let seen = databases::observe(&mut connection, database).await.map_err(database_failure)?;
        database_actions.push(databases::decide(database, backup, &seen));
    }
    let mut actions = plan::diff::diff(&loaded.manifest, &files, &observed);
    drop((files, observed));

    // A backup that will not be restored (conflict or skip) is not worth staging.
    let unused: std::collections::HashSet<(&str, &str)> = database_actions
        .iter()
        .filter(|d| matches!(d.kind, DatabaseKind::Conflict | DatabaseKind::Skip))
        .flat_map(|d| d.staged_keys.iter().map(|k| (d.staging.as_str(), k.as_str())))
        .collect();
    actions.retain(|a| !unused.contains(&(a.destination.as_str(), a.key.as_str())));
    let (git_commit, git_dirty) = git_state(&loaded.path);
    Ok(Plan {
        format: FORMAT.to_owned(),
        version: VERSION,
        release: loaded.manifest.release.clone(),
        created_at: jiff::Timestamp::now(),
        manifest: ManifestRef {
            path: loaded.path.display().to_string(),
            digest: loaded.digest.clone(),
            git_commit,
            git_dirty,
        },
        account_id: session.identity.account.clone(),
        planned_by: session.identity.arn.clone(),
        destinations: destinations(loaded),
        summary: Summary::of(&actions).with_databases(&database_actions),
        actions,
        databases: database_actions,
        digest: String::new(),
    })
}

fn database_failure(error: databases::DatabaseError) -> Failure {
    let hint = error.hint();
    Failure { message: error.to_string(), hint, exit: Exit::Error }
}

/// The git commit holding the manifest, and whether the manifest differs from it.
fn git_state(manifest: &Path) -> (Option<String>, Option<bool>) {
    let dir = match manifest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(commit) = git(&["rev-parse", "HEAD"]) else { return (None, None) };
    let name = manifest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let status = git(&["status", "--porcelain", "--", &name]);
    (Some(commit), status.map(|s| !s.is_empty()))
}
