//! The one place that prints. stdout carries data (schemas, plans, JSON); stderr carries
//! status, progress and diagnostics. Colour is decoration only: every meaning is also in the
//! text.

pub mod plan;

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

use crate::manifest::diagnostic::Diagnostic;

/// When to colour output, from `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and `NO_COLOR` is not set.
    Auto,
    Always,
    Never,
}

static COLOR: OnceLock<bool> = OnceLock::new();

/// Sets up colour and logging for the process; later calls change nothing.
pub fn init(choice: ColorChoice, verbose: u8) {
    let color = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    };
    let _ = COLOR.set(color);
    let default = match verbose {
        // aws-config warns about each credential provider that fails; `release` explains
        // the failure that matters itself, so those repeat it less clearly.
        0 => "warn,aws_config=error,tiberius=off",
        1 => "release=debug,warn",
        _ => "release=trace,aws_smithy_runtime=debug,info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .try_init();
}

fn color() -> bool {
    COLOR.get().copied().unwrap_or(false)
}

/// Wraps `text` in an ANSI style when colour is on.
pub fn paint(text: &str, style: &str) -> String {
    if color() { format!("\x1b[{style}m{text}\x1b[0m") } else { text.to_owned() }
}

/// Data for stdout, printed as is.
pub fn data(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// A value for stdout as indented JSON and a newline, streamed rather than built whole.
pub fn json(value: &impl serde::Serialize) {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Plain data serialises without error; a closed stdout is the reader's choice.
    let _ = serde_json::to_writer_pretty(&mut out, value);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// A status line for stderr.
pub fn status(text: &str) {
    eprintln!("{text}");
}

/// A warning for stderr.
pub fn warning(text: &str) {
    eprintln!("{}: {text}", paint("warning", "1;33"));
}

/// An error for stderr, with what to do next when there is something to do.
pub fn error(message: &str, hint: Option<&str>) {
    eprintln!("{}: {message}", paint("error", "1;31"));
    if let Some(hint) = hint {
        eprintln!("{}: {hint}", paint("hint", "1;36"));
    }
}

/// Manifest diagnostics for stderr, one block each, separated by blank lines.
pub fn diagnostics(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        let text = diagnostic.to_string();
        let text = match text.strip_prefix("error:") {
            Some(rest) => format!("{}:{rest}", paint("error", "1;31")),
            None => text,
        };
        eprintln!("{text}\n");
    }
}

/// How one check of a checklist came out. The mark is text, so it reads without colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Pass,
    Fail,
    /// Not checked, and not a failure: the line says why.
    Skip,
}

/// A heading of a checklist on stdout.
pub fn check_heading(text: &str) {
    data(&format!("{text}\n"));
}

/// One line of a checklist on stdout, with what to do under a failure.
pub fn check(mark: Mark, text: &str, hint: Option<&str>) {
    let symbol = match mark {
        Mark::Pass => "✔",
        Mark::Fail => "✘",
        Mark::Skip => "–",
    };
    let mut line = format!("  {symbol} {text}\n");
    if let Some(hint) = hint {
        line.push_str(&format!("    hint: {hint}\n"));
    }
    data(&line);
}
