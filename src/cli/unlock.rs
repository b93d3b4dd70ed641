//! `release unlock`: remove a release lock left by an apply that cannot finish, but only
//! when the caller names the lock's id, so a running apply's lock is never removed by
//! accident.

use std::path::PathBuf;

use super::plan::AwsArgs;
use super::session::Session;
use super::{Exit, Failure, load_manifest};
use crate::apply::lock;
use crate::render;

#[derive(Debug, clap::Args)]
pub(crate) struct UnlockArgs {
    /// The lock id, as the refused apply printed it.
    lock_id: String,
    /// The manifest of the release.
    #[arg(default_value = "release.yaml")]
    manifest: PathBuf,
    #[command(flatten)]
    aws: AwsArgs,
}

pub(crate) async fn run(args: UnlockArgs) -> Result<Exit, Failure> {
    let loaded = load_manifest(&args.manifest)?;
    let session = Session::open(&loaded, &args.aws.overrides()).await?;
    let release = &loaded.manifest.release;
    for (bucket, prefix) in session.buckets.values() {
        let key = lock::lock_key(prefix, release);
        match lock::unlock(bucket, &key, &args.lock_id).await {
            Ok(Some(lease)) => {
                render::status(&format!(
                    "Removed lock {} held by {} on {} (pid {}).",
                    lease.lock_id, lease.holder, lease.host, lease.pid
                ));
                return Ok(Exit::Success);
            }
            Ok(None) => continue,
            Err(error) => {
                return Err(Failure::new(error.to_string())
                    .hint("the id must be the one shown when the apply was refused"));
            }
        }
    }
    Err(Failure::new(format!("release `{release}` holds no lock")).hint("nothing to unlock"))
}
