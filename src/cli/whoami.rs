//! `release whoami`: who the AWS credentials belong to, where they came from and when they
//! expire. With a manifest, its `aws` section is used and its rules are checked after the
//! identity is shown; without one, the standard chain and the overrides decide and nothing is
//! checked.

use std::path::PathBuf;

use super::plan::AwsArgs;
use super::session::aws_failure;
use super::{Exit, Failure, load_manifest};
use crate::providers::aws::{self, Connection, Identity};
use crate::render;

#[derive(Debug, clap::Args)]
pub(crate) struct WhoamiArgs {
    /// A release manifest whose `aws` section to use and whose account to check. Without one,
    /// the standard credential chain decides and no account is checked.
    manifest: Option<PathBuf>,
    /// Print the identity as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

/// What is shown: the identity and how it was reached.
#[derive(Debug, serde::Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    identity: &'a Identity,
    region: &'a str,
    profile: Option<&'a str>,
    role_arn: Option<&'a str>,
}

pub(crate) async fn run(args: WhoamiArgs) -> Result<Exit, Failure> {
    let loaded = args.manifest.as_deref().map(load_manifest).transpose()?;
    let overrides = args.aws.overrides();
    let connection = match &loaded {
        Some(loaded) => {
            let manifest = &loaded.manifest;
            Connection::for_release(&manifest.aws, &manifest.release, &overrides).await
        }
        None => Connection::from_environment(&overrides).await,
    };
    let credentials = connection.credentials().await.map_err(aws_failure)?;
    let identity = connection.caller(&credentials).await.map_err(aws_failure)?;

    // Show who it is first, so that a refusal below can be understood.
    let report = Report {
        identity: &identity,
        region: &connection.region,
        profile: connection.profile.as_deref(),
        role_arn: connection.role_arn.as_deref(),
    };
    if args.json {
        render::json(&report);
    } else {
        render::data(&human(&report));
    }
    for warning in &identity.warnings {
        render::warning(warning);
    }

    // Then hold it to the manifest, as a release would.
    match &loaded {
        Some(loaded) => {
            aws::check(&identity, &loaded.manifest.aws).map_err(aws_failure)?;
            if identity.static_keys {
                render::warning(
                    "these are long-lived access keys (allowed by `aws.allow_static_keys`); \
                     prefer IAM Identity Center or an assumed role",
                );
            }
        }
        None if identity.static_keys => render::warning(
            "these are long-lived access keys: a release refuses them unless its manifest sets \
             `aws.allow_static_keys: true`",
        ),
        None => {}
    }
    Ok(Exit::Success)
}

/// The report as aligned lines.
fn human(report: &Report) -> String {
    let identity = report.identity;
    let expires = match identity.expires {
        Some(at) => format!("{at} ({})", until(at)),
        None if identity.static_keys => "never (long-lived access keys)".to_owned(),
        None => "not reported".to_owned(),
    };
    let mut rows = vec![
        ("identity", identity.arn.clone()),
        ("account", identity.account.clone()),
        ("user id", identity.user_id.clone()),
        ("source", identity.provider.clone()),
        ("expires", expires),
        ("region", report.region.to_owned()),
    ];
    if let Some(profile) = report.profile {
        rows.push(("profile", profile.to_owned()));
    }
    rows.iter().map(|(name, value)| format!("{name:<9} {value}\n")).collect()
}

/// How long until `at`, in words: `in 59 min`, `in 11 h 58 min`, `expired`.
fn until(at: jiff::Timestamp) -> String {
    let minutes = at.duration_since(jiff::Timestamp::now()).as_secs() / 60;
    match minutes {
        ..0 => "expired".to_owned(),
        0..60 => format!("in {minutes} min"),
        _ => format!("in {} h {} min", minutes / 60, minutes % 60),
    }
}
