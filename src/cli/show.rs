//! `release show`: render a saved plan, after checking it is intact.

use std::path::PathBuf;

use super::plan::{Format, show};
use super::{Exit, Failure};
use crate::plan::file;

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// A plan file written by `release plan -o`.
    plan: PathBuf,
    /// Print the plan as JSON.
    #[arg(long, conflicts_with = "markdown")]
    json: bool,
    /// Print the plan as Markdown.
    #[arg(long)]
    markdown: bool,
}

pub(crate) fn run(args: &ShowArgs) -> Result<Exit, Failure> {
    let plan = file::load(&args.plan).map_err(|e| Failure::new(e.to_string()).hint(e.hint()))?;
    let format = match (args.json, args.markdown) {
        (true, _) => Format::Json,
        (_, true) => Format::Markdown,
        _ => Format::Human,
    };
    show(&plan, format);
    Ok(Exit::Success)
}
