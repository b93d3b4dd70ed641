//! `seed-s3`: uploads every file of a folder to a bucket, each with its full-object CRC64NVME,
//! so that a benchmark can start from a destination that already holds a release. Test and
//! benchmark support only; not part of `release`.
//!
//! The key of `DIR/a/b.csv` is `PREFIX/a/b.csv`, the layout `release` gives a folder source
//! with the default `{path}` key. Credentials and region come from `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_REGION`, defaulting to the testkit's fake key and
//! [`REGION`]. Requests use path-style addressing, which the local server needs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use crc_fast::CrcAlgorithm;
use release_testkit::{ACCESS_KEY, REGION, SECRET_KEY};
use tokio::task::JoinSet;

const USAGE: &str = "\
usage: seed-s3 --endpoint URL --bucket NAME [--prefix PREFIX] [--concurrency N] DIR

  --endpoint URL      S3 endpoint, such as http://127.0.0.1:9000
  --bucket NAME       bucket to upload to; it must exist
  --prefix PREFIX     key prefix; keys are PREFIX/PATH-UNDER-DIR (default: none)
  --concurrency N     uploads in flight at once (default: 32)
  DIR                 folder whose files are uploaded, recursively";

/// What the command line asked for.
#[derive(Debug)]
struct Options {
    endpoint: String,
    bucket: String,
    prefix: String,
    concurrency: usize,
    dir: PathBuf,
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
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: Vec<String>) -> Result<Options, String> {
    let (mut endpoint, mut bucket, mut dir) = (None, None, None);
    let mut prefix = String::new();
    let mut concurrency = 32;

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("`{arg}` needs a value"));
        match arg.as_str() {
            "--endpoint" => endpoint = Some(value()?),
            "--bucket" => bucket = Some(value()?),
            "--prefix" => prefix = value()?,
            "--concurrency" => {
                let text = value()?;
                concurrency = text
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("`{text}` is not a positive number"))?;
            }
            _ if arg.starts_with("--") => return Err(format!("unknown argument `{arg}`")),
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument `{arg}`")),
        }
    }

    let prefix = match prefix.trim_matches('/') {
        "" => String::new(),
        trimmed => format!("{trimmed}/"),
    };
    Ok(Options {
        endpoint: endpoint.ok_or("`--endpoint URL` is required")?,
        bucket: bucket.ok_or("`--bucket NAME` is required")?,
        prefix,
        concurrency,
        dir: dir.ok_or("the folder to upload is required")?,
    })
}

async fn run(options: Options) -> Result<(), String> {
    let started = Instant::now();
    let mut files = Vec::new();
    collect_files(&options.dir, &mut files)?;
    files.sort();

    let client = Arc::new(client(&options.endpoint));
    let bucket: Arc<str> = options.bucket.into();
    let mut uploads = JoinSet::new();
    let mut done = 0;
    for path in files {
        if uploads.len() >= options.concurrency {
            finish_one(&mut uploads).await?;
            done += 1;
        }
        let relative = path.strip_prefix(&options.dir).map_err(|e| e.to_string())?;
        let key = format!("{}{}", options.prefix, key_path(relative)?);
        // Files are small; reading them here keeps the uploads busy all the same.
        let body = std::fs::read(&path)
            .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
        let (client, bucket) = (Arc::clone(&client), Arc::clone(&bucket));
        uploads.spawn(async move { upload(&client, &bucket, &key, body).await });
    }
    while !uploads.is_empty() {
        finish_one(&mut uploads).await?;
        done += 1;
    }
    eprintln!("seed-s3: uploaded {done} files in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Waits for the next upload to end; an upload that failed stops the run.
async fn finish_one(uploads: &mut JoinSet<Result<(), String>>) -> Result<(), String> {
    match uploads.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(error)) => Err(format!("an upload task stopped: {error}")),
        None => Ok(()),
    }
}

/// Puts one file with its CRC64NVME; the store checks the body against it.
async fn upload(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<(), String> {
    let crc = crc_fast::checksum(CrcAlgorithm::Crc64Nvme, &body);
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .checksum_crc64_nvme(base64(&crc.to_be_bytes()))
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|error| format!("cannot put `s3://{bucket}/{key}`: {}", error_chain(&error)))?;
    Ok(())
}

/// An S3 client for the endpoint that sends only the checksums given explicitly.
fn client(endpoint: &str) -> aws_sdk_s3::Client {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let credentials = Credentials::new(
        env("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        env("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        None,
        None,
        "seed-s3",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(env("AWS_REGION", REGION)))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Every regular file under `dir`, following no symlinks.
fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?;
        let kind = entry.file_type().map_err(|e| e.to_string())?;
        if kind.is_dir() {
            collect_files(&entry.path(), files)?;
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    Ok(())
}

/// A relative path as the `/`-separated part of a key.
fn key_path(relative: &Path) -> Result<String, String> {
    let parts: Option<Vec<&str>> = relative.components().map(|c| c.as_os_str().to_str()).collect();
    parts
        .map(|parts| parts.join("/"))
        .ok_or_else(|| format!("`{}` is not UTF-8", relative.display()))
}

/// Standard base64 with padding, as S3 writes checksum headers.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An error and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_encoded_as_s3_writes_them() {
        // The CRC-64/NVME check value, as `release` encodes it.
        let crc = crc_fast::checksum(CrcAlgorithm::Crc64Nvme, b"123456789");
        assert_eq!(base64(&crc.to_be_bytes()), "rosUhgp5mIg=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }

    #[test]
    fn keys_join_the_prefix_and_the_relative_path() {
        let args = ["--endpoint", "http://x", "--bucket", "b", "--prefix", "/p/", "dir"];
        let options = parse_args(args.map(String::from).to_vec()).unwrap();
        assert_eq!(options.prefix, "p/");
        assert_eq!(key_path(Path::new("a/b.csv")).unwrap(), "a/b.csv");
    }
}
