//! Command-line interface: argument parsing and dispatch, one file per subcommand.

mod apply;
mod doctor;
mod plan;
mod schema;
mod session;
mod show;
mod unlock;
mod validate;
mod verify;
mod whoami;

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
    /// Another apply of the same release holds the lock.
    LockHeld = 3,
    /// The saved plan no longer matches the world (manifest, account, age, objects).
    PlanStale = 4,
    /// Apply ran but not every action succeeded; no receipt was written.
    Partial = 5,
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
    /// Show what a release would change in S3, for review; save it with -o.
    Plan(plan::PlanArgs),
    /// Show a saved plan.
    Show(show::ShowArgs),
    /// Carry out a saved plan (or plan, show and confirm).
    Apply(apply::ApplyArgs),
    /// Check a finished release against its receipt.
    Verify(verify::VerifyArgs),
    /// Remove a release lock left behind, given its id.
    Unlock(unlock::UnlockArgs),
    /// Show who the AWS credentials belong to, where they came from and when they expire.
    Whoami(whoami::WhoamiArgs),
    /// Check credentials, buckets and databases a release needs, changing nothing.
    Doctor(doctor::DoctorArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    render::init(cli.color, cli.verbose);
    let exit = match cli.command {
        Command::Validate { manifest } => validate::run(&manifest).unwrap_or_else(report),
        Command::Schema => schema::run(),
        Command::Plan(args) => run_async(plan::run(args)),
        Command::Show(args) => show::run(&args).unwrap_or_else(report),
        Command::Apply(args) => run_async(apply::run(args)),
        Command::Verify(args) => run_async(verify::run(args)),
        Command::Unlock(args) => run_async(unlock::run(args)),
        Command::Whoami(args) => run_async(whoami::run(args)),
        Command::Doctor(args) => run_async(doctor::run(args)),
    };
    exit.into()
}

/// A command that failed: what went wrong, what to do, and the exit code to use.
#[derive(Debug)]
pub(crate) struct Failure {
    pub message: String,
    pub hint: Option<String>,
    pub exit: Exit,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), hint: None, exit: Exit::Error }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }
}

/// Prints a failure and returns its exit code.
fn report(failure: Failure) -> Exit {
    render::error(&failure.message, failure.hint.as_deref());
    failure.exit
}

/// Runs an async command on a multi-threaded runtime.
fn run_async(command: impl std::future::Future<Output = Result<Exit, Failure>>) -> Exit {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match runtime {
        Ok(runtime) => runtime.block_on(command).unwrap_or_else(report),
        Err(error) => report(Failure::new(format!("cannot start the async runtime: {error}"))),
    }
}

/// Loads a manifest, printing its diagnostics when it is invalid.
pub(crate) fn load_manifest(path: &std::path::Path) -> Result<crate::manifest::Loaded, Failure> {
    match crate::manifest::load(path) {
        Ok(loaded) => Ok(loaded),
        Err(crate::manifest::LoadError::Invalid { path, diagnostics }) => {
            render::diagnostics(&diagnostics);
            let count = diagnostics.len();
            let message =
                format!("`{path}` has {count} problem{}", if count == 1 { "" } else { "s" });
            Err(Failure::new(message))
        }
        Err(error) => {
            Err(Failure::new(error.to_string()).hint("give the path of a release manifest"))
        }
    }
}
