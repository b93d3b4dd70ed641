//! `local-s3`: the testkit's S3-compatible server in the foreground, for `scripts/local-aws`
//! and for trying `release` by hand. Test support only; not part of `release`.
//!
//! It serves a data directory on 127.0.0.1 with the testkit's fake credentials, prints
//! `endpoint=http://127.0.0.1:PORT` on stdout once it listens (and writes the same line to the
//! ready file, if asked), and stops on SIGTERM or SIGINT. Requests are not recorded.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use release_testkit::{create_bucket_dir, s3_service, serve};
use tokio::net::TcpListener;

const USAGE: &str = "\
usage: local-s3 --data DIR [--port N] [--bucket NAME]... [--ready-file PATH]

  --data DIR          directory holding the buckets, created if missing
  --port N            port on 127.0.0.1 to listen on; 0 (the default) picks a free one
  --bucket NAME       bucket to create at start if missing; may be repeated
  --ready-file PATH   also write the `endpoint=` line to PATH once listening";

/// What the command line asked for.
#[derive(Debug, PartialEq)]
struct Options {
    data: PathBuf,
    port: u16,
    buckets: Vec<String>,
    ready_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse_args(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: Vec<String>) -> Result<Options, String> {
    let mut data = None;
    let mut port = 0;
    let mut buckets = Vec::new();
    let mut ready_file = None;

    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("`{flag}` needs a value"));
        match flag.as_str() {
            "--data" => data = Some(PathBuf::from(value()?)),
            "--port" => {
                let text = value()?;
                port = text.parse().map_err(|_| format!("`{text}` is not a port number"))?;
            }
            "--bucket" => buckets.push(value()?),
            "--ready-file" => ready_file = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }

    let data = data.ok_or("`--data DIR` is required")?;
    Ok(Options { data, port, buckets, ready_file })
}

fn run(options: Options) -> Result<(), String> {
    let data = &options.data;
    std::fs::create_dir_all(data)
        .map_err(|err| format!("cannot create data directory `{}`: {err}", data.display()))?;
    for bucket in &options.buckets {
        create_bucket_dir(data, bucket).map_err(|err| err.to_string())?;
    }
    let service = s3_service(data).map_err(|err| err.to_string())?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start the tokio runtime: {err}"))?;
    runtime.block_on(async {
        // Handle signals from before the ready line on, so a quick stop is never missed.
        let stop = stop_signal()?;
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, options.port))
            .await
            .map_err(|err| format!("cannot listen on 127.0.0.1:{}: {err}", options.port))?;
        let address = listener
            .local_addr()
            .map_err(|err| format!("cannot read the listener's address: {err}"))?;
        announce(&format!("endpoint=http://{address}"), options.ready_file.as_deref())?;
        serve(listener, service, None, stop).await;
        eprintln!("local-s3: stopped");
        Ok(())
    })
}

/// Prints the ready line and flushes it, then writes it to `ready_file` whole: to a temporary
/// name first, then renamed, so that a script polling for the file never reads half of it.
fn announce(line: &str, ready_file: Option<&Path>) -> Result<(), String> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|err| format!("cannot write to stdout: {err}"))?;
    let Some(path) = ready_file else {
        return Ok(());
    };
    let partial = path.with_extension("partial");
    std::fs::write(&partial, format!("{line}\n"))
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|err| format!("cannot write ready file `{}`: {err}", path.display()))
}

/// A future that completes on SIGTERM or SIGINT. The handlers are installed before it returns.
#[cfg(unix)]
fn stop_signal() -> Result<impl Future<Output = ()>, String> {
    use tokio::signal::unix::{SignalKind, signal};

    let install = |kind| signal(kind).map_err(|err| format!("cannot handle signals: {err}"));
    let mut terminate = install(SignalKind::terminate())?;
    let mut interrupt = install(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// A future that completes on Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> Result<impl Future<Output = ()>, String> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_every_flag() {
        let options =
            parse_args(args("--data d --port 9000 --bucket a-1 --bucket b-2 --ready-file r"));
        let expected = Options {
            data: PathBuf::from("d"),
            port: 9000,
            buckets: vec!["a-1".to_owned(), "b-2".to_owned()],
            ready_file: Some(PathBuf::from("r")),
        };
        assert_eq!(options, Ok(expected));
    }

    #[test]
    fn rejects_missing_data_and_bad_values() {
        assert!(parse_args(args("--port 0")).is_err());
        assert!(parse_args(args("--data d --port high")).is_err());
        assert!(parse_args(args("--data")).is_err());
        assert!(parse_args(args("--data d --verbose")).is_err());
    }
}
