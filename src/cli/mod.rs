//! Command-line interface: argument parsing and dispatch, one file per subcommand.

mod schema;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::render::{self, ColorChoice};

/// Exit codes, so that scripts and CI can react to what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Everything asked for was done (or, for `plan --detailed-exitcode`, nothing to do).
    Success = 0,
    /// Something failed; the message says what.
    Error = 1,
    /// `plan --detailed-exitcode` found changes to make.
    Changes = 2,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Release research data into a Trusted Research Environment on AWS, from a reviewed manifest.
#[derive(Debug, Parser)]
#[command(name = "release", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More detail on stderr: -v for decisions, -vv for wire detail. `RUST_LOG` also works.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// When to colour output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    color: ColorChoice,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a manifest without touching the network.
    Validate {
        /// The manifest file.
        #[arg(default_value = "release.yaml")]
        manifest: PathBuf,
    },
    /// Print the JSON Schema of the manifest format.
    Schema,
    /// Show what a release would change in S3 and the databases.
    Plan(NotYet),
    /// Carry out a saved plan (or plan and confirm).
    Apply(NotYet),
    /// Check a finished release against its receipt.
    Verify(NotYet),
    /// Check credentials, buckets and databases a release needs, changing nothing.
    Doctor(NotYet),
}

/// Arguments of a command that is not built yet, accepted so that it can say so.
#[derive(Debug, clap::Args)]
struct NotYet {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    render::init(cli.color, cli.verbose);
    let exit = match cli.command {
        Command::Validate { manifest } => validate::run(&manifest),
        Command::Schema => schema::run(),
        Command::Plan(_) => not_yet("plan"),
        Command::Apply(_) => not_yet("apply"),
        Command::Verify(_) => not_yet("verify"),
        Command::Doctor(_) => not_yet("doctor"),
    };
    exit.into()
}

fn not_yet(command: &str) -> Exit {
    render::error(
        &format!("`release {command}` is not available in this version"),
        Some("`release validate` checks a manifest today"),
    );
    Exit::Error
}
