//! Shared harness for integration tests: a local S3 server and STS emulator, a release folder
//! in a temporary directory, and the built `release` binary run against them with an
//! environment that reaches nothing else (no profile files, no real credentials).

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

/// The RDS instance a database world registers.
pub const INSTANCE: &str = "tre-sql";
/// Its option group, which has native backup and restore with an IAM role.
pub const OPTION_GROUP: &str = "tre-sqlserver-restore";
/// The master user's name on the TDS emulator.
pub const DB_USER: &str = "tre_admin";
/// The master user's password: distinctive, so that tests can search output for it.
pub const DB_PASSWORD: &str = "Tds-Master-Pw-8c41e7b2";
/// The ARN of the secret RDS manages for the master user.
pub const MASTER_SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-5e1d2c3b-Ab12Cd";
/// The CA bundle a database world writes into the release folder.
pub const CA_BUNDLE: &str = "rds-ca.pem";

/// A [`World`] with a SQL Server restore target: the TDS emulator of an RDS instance, which
/// reads staged backups from the world's S3 data, and the RDS and Secrets Manager emulator,
/// which says where that instance is and holds its master secret.
///
/// It derefs to the [`World`]; its own [`command`](Self::command) and
/// [`release`](Self::release) also point the binary's RDS and Secrets Manager clients at the
/// emulator.
pub struct DbWorld {
    pub world: World,
    pub tds: release_testkit::tds::TdsServer,
    pub api: release_testkit::LocalAwsApi,
}

impl DbWorld {
    /// A world whose instance [`INSTANCE`] restores from the world's S3 data, with 100 ms
    /// task steps, the test CA, and the login [`DB_USER`] / [`DB_PASSWORD`] in its managed
    /// secret.
    pub fn new() -> DbWorld {
        DbWorld::with(|tds| tds)
    }

    /// Like [`new`](Self::new), with the TDS emulator's builder changed by `setup` (for
    /// example another certificate, or a fetch that finds nothing) before it starts.
    pub fn with(
        setup: impl FnOnce(
            release_testkit::tds::TdsServerBuilder,
        ) -> release_testkit::tds::TdsServerBuilder,
    ) -> DbWorld {
        use release_testkit::tds::{TdsServer, objects_in_dir};

        let world = World::new();
        let builder = TdsServer::builder()
            .login(DB_USER, DB_PASSWORD)
            .step(std::time::Duration::from_millis(100))
            .fetch(objects_in_dir(world.s3.data_dir()));
        let tds = setup(builder).start();
        let api = release_testkit::LocalAwsApi::start();
        let db = DbWorld { world, tds, api };
        db.api.add_instance(db.instance());
        db.api.add_option_group(
            OPTION_GROUP,
            vec![(
                "SQLSERVER_BACKUP_RESTORE",
                vec![("IAM_ROLE_ARN", "arn:aws:iam::123456789012:role/tre-sql-restore")],
            )],
        );
        db.set_master_password(DB_PASSWORD);
        let pem = db.tds.ca_pem().expect("the TDS emulator has TLS").to_owned();
        db.world.write(CA_BUNDLE, pem);
        db
    }

    /// The instance as registered: available, at the TDS emulator's address, in
    /// [`OPTION_GROUP`], with [`MASTER_SECRET_ARN`]. Change it with struct update syntax and
    /// register it again with `api.add_instance`.
    pub fn instance(&self) -> release_testkit::Instance {
        release_testkit::Instance {
            id: INSTANCE.to_owned(),
            status: "available".to_owned(),
            engine: "sqlserver-se".to_owned(),
            address: self.tds.host().to_owned(),
            port: self.tds.port(),
            option_group: OPTION_GROUP.to_owned(),
            master_username: DB_USER.to_owned(),
            master_secret_arn: Some(MASTER_SECRET_ARN.to_owned()),
        }
    }

    /// Puts `password` (with [`DB_USER`]) into the managed master secret.
    pub fn set_master_password(&self, password: &str) {
        let value = serde_json::json!({ "username": DB_USER, "password": password });
        self.api.add_secret(MASTER_SECRET_ARN, "rds!db-5e1d2c3b", &value.to_string());
    }

    /// A command for the built binary, as [`World::command`], that also reaches the RDS and
    /// Secrets Manager emulator.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = self.world.command(args);
        command
            .env("AWS_ENDPOINT_URL_RDS", self.api.endpoint())
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", self.api.endpoint());
        command
    }

    /// Runs the binary to the end, as [`World::release`].
    pub fn release(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run the release binary");
        Run::from(output)
    }
}

impl std::ops::Deref for DbWorld {
    type Target = World;

    fn deref(&self) -> &World {
        &self.world
    }
}
