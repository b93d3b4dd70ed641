//! The `release` command: parse arguments, run the command, turn the outcome into an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    release::cli::main()
}
