//! Shared harness for integration tests: a local S3 server and STS emulator, a release folder
//! in a temporary directory, and the built `release` binary run against them with an
//! environment that reaches nothing else (no profile files, no real credentials).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use release_testkit::{ACCESS_KEY, LocalS3, LocalSts, SECRET_KEY};

/// The account the local identity belongs to, as manifests in tests name it.
pub const ACCOUNT: &str = "123456789012";
/// The bucket every world starts with.
pub const BUCKET: &str = "release-test";

/// Local servers plus a release folder.
pub struct World {
    pub s3: LocalS3,
    pub sts: LocalSts,
    pub dir: tempfile::TempDir,
}

impl World {
    /// Starts both servers, registers the test key as a user of [`ACCOUNT`] and creates
    /// [`BUCKET`].
    pub fn new() -> World {
        let s3 = LocalS3::start();
        let sts = LocalSts::start();
        sts.add_identity(ACCESS_KEY, &format!("arn:aws:iam::{ACCOUNT}:user/tester"), ACCOUNT);
        s3.create_bucket(BUCKET);
        let dir = tempfile::tempdir().expect("temporary release folder");
        World { s3, sts, dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file under the release folder, creating folders as needed.
    pub fn write(&self, relative: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folders");
        }
        std::fs::write(&path, content).expect("write file");
        path
    }

    /// Writes `release.yaml`: the standard header (release `r1`, the test account, static
    /// keys allowed, destination `tre` on [`BUCKET`] under `data/`) followed by `rest`.
    pub fn manifest(&self, rest: &str) -> PathBuf {
        let text = format!(
            "release: r1\naws:\n  region: us-east-1\n  account_id: \"{ACCOUNT}\"\n  \
             allow_static_keys: true\ndestinations:\n  tre:\n    bucket: {BUCKET}\n    \
             prefix: data\n{rest}"
        );
        self.write("release.yaml", text)
    }

    /// A command for the built binary, run in the release folder against the local servers.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_release"));
        command.current_dir(self.root()).args(args);
        for name in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "RUST_LOG"] {
            command.env_remove(name);
        }
        command
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", self.root().join("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.root().join("no-aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL_S3", self.s3.endpoint())
            .env("AWS_ENDPOINT_URL_STS", self.sts.endpoint())
            .env("NO_COLOR", "1");
        command
    }

    /// Runs the binary to the end.
    pub fn release(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run the release binary");
        Run::from(output)
    }

    /// An S3 client for the local server, built by `release`'s own client code.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let credentials =
            aws_credential_types::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test");
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                credentials,
            ))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let settings = release::providers::s3::ClientSettings {
            endpoint_url: Some(self.s3.endpoint()),
            force_path_style: Some(true),
        };
        release::providers::s3::client(&config, &settings)
    }

    /// The test bucket through `release`'s bucket handle.
    pub fn bucket(&self) -> release::providers::s3::Bucket {
        release::providers::s3::Bucket::new(self.client(), BUCKET, ACCOUNT)
    }
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Panics with both streams unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A current-thread runtime for the async SDK calls a test makes itself.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
        .block_on(future)
}
