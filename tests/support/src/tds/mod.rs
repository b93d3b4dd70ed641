//! [`TdsServer`]: an emulator of an RDS for SQL Server instance as `release` sees it, for tests
//! that cannot have a real one. It speaks TDS 7.4 on 127.0.0.1, so the real tiberius client
//! connects to it over TCP, logs in, and calls the RDS native-restore procedures; behind them
//! sits a small model of the instance whose restore tasks run on a compressed clock.
//!
//! A connection goes through these modules in turn:
//!
//! 1. `packet`: TDS packets in and out;
//! 2. `prelogin` and `tls`: encryption agreed in PRELOGIN, the TLS handshake wrapped in
//!    PRELOGIN packets (TDS 7.x) or first thing on the socket (TDS 8.0 "strict");
//! 3. `login`: LOGIN7 with SQL Server authentication;
//! 4. `request`: SQL batches, RPCs (`sp_executesql` carries every parameterised query) and
//!    transaction requests, decoded;
//! 5. `sql`: the statements, parsed tolerantly;
//! 6. `exec` and `procedures`: `sys.databases`, `msdb.dbo.rds_restore_database`,
//!    `rds_task_status`, `rds_cancel_task`, transactions;
//! 7. `rds` and `clock`: the instance and its tasks;
//! 8. `tokens`: the reply, as result sets, errors and DONE tokens;
//!
//! and `connection` strings them together. Error numbers and texts are in `messages`,
//! each marked as documented or chosen.
//!
//! # Encryption and tiberius 0.13
//!
//! tiberius 0.13's default features include `tds80`, which adds `EncryptionLevel::Strict`
//! (TDS 8.0, TLS before PRELOGIN); its default encryption level with a TLS feature is
//! `Required`, which is TDS 7.x: TLS negotiated in PRELOGIN. The testkit uses tiberius with
//! `default-features = false, features = ["rustls", "tds80"]` (rustls instead of native-tls,
//! so no OpenSSL). The emulator accepts `Required`, `On`, `Off` (TLS for the login only) and
//! `Strict` when it has TLS, and `NotSupported` unless it requires TLS. The server's
//! certificate names `localhost` and `127.0.0.1` and is signed by a CA made for each server
//! ([`TdsServer::ca_pem`]), or by another CA ([`ServerCertificate::OtherCa`]) to see a client
//! refuse it.
//!
//! # What the procedures do
//!
//! As the RDS user guide documents them (see the shared REFERENCE.md): a restore is refused
//! without the `SQLSERVER_BACKUP_RESTORE` option, with an empty or malformed S3 ARN, onto a
//! name that exists (ignoring case) or that a running task is restoring, and when two
//! backup/restore tasks are in flight; inside a transaction; and with a database name RDS does
//! not allow. Otherwise it creates a task: `CREATED`, then `IN_PROGRESS` with a growing
//! `% complete`, then `SUCCESS` or `ERROR` with `task_info` (`rds` has the steps). Whether a
//! restore succeeds depends on the backup object, which the emulator reads through the fetch
//! function the test gives ([`TdsServerBuilder::fetch`]): missing, not starting with `TAPE` or
//! `MSSQLBAK`, or good.
//!
//! Where the documentation is silent, the emulator chooses, and says so here:
//! - what `rds_restore_database` and `rds_cancel_task` return (the task's status row);
//! - the texts of errors the guide does not quote (the third task, an empty ARN...), which
//!   `messages` marks; RDS procedure errors carry number 50000, as `RAISERROR` gives them;
//! - while a good restore runs, the database shows in `sys.databases` as `RESTORING`, as SQL
//!   Server shows a database being restored; it goes when the task fails or is cancelled;
//! - the `task_info` texts, which are representative, not quoted;
//! - the procedures' arguments must be named, since their order is not documented.
//!
//! # What is not emulated
//!
//! - Any other SQL: `SELECT` from anything but `sys.databases`, DDL, DML, variables,
//!   expressions. They fail with SQL Server's error for them (102, 208, 2812...).
//! - `rds_restore_log`, `rds_finish_restore`, `rds_drop_database`, backups
//!   (`rds_backup_database`), and striped restores (an ARN ending in `*`): the `*` is taken as
//!   part of the key, so such a restore fails as a missing object.
//! - Backup contents: any object starting with `TAPE` or `MSSQLBAK` restores; the database
//!   name, size, family GUID and "already restored" checks of real restores are not made.
//!   Accents are not folded when names are compared.
//! - The region of the bucket, IAM roles, KMS keys (a KMS key ARN is recorded, not used),
//!   the instance's database limit, Multi-AZ, and the 36 days of task history.
//! - A batch stops at its first error (SQL Server would go on after some).
//! - INFO messages, MARS, Windows and Azure AD logins, prepared statements, cursors, bulk
//!   load, and attention during a request (requests are answered before the next is read, so
//!   an attention only ever gets its acknowledgement).

mod clock;
mod connection;
mod exec;
mod login;
mod messages;
mod packet;
mod prelogin;
mod procedures;
mod rds;
mod request;
mod server;
mod sql;
mod tls;
mod tokens;
mod value;

use std::path::{Component, Path, PathBuf};

pub use rds::{Database, DatabaseState, FetchObject, Lifecycle, RestoreTask};
pub use server::{DEFAULT_PASSWORD, DEFAULT_USER, Encryption, TdsServer, TdsServerBuilder};
pub use tls::ServerCertificate;

/// A fetch function for [`TdsServerBuilder::fetch`] that reads object `key` of `bucket` from
/// `root/bucket/key`, which is where [`LocalS3`](crate::LocalS3) keeps it
/// ([`LocalS3::data_dir`](crate::LocalS3::data_dir)). Keys that would leave the bucket's
/// directory read as missing.
pub fn objects_in_dir(
    root: impl Into<PathBuf>,
) -> impl Fn(&str, &str) -> Option<Vec<u8>> + Send + Sync + 'static {
    let root = root.into();
    move |bucket, key| {
        let relative = Path::new(bucket).join(key);
        if !relative.components().all(|part| matches!(part, Component::Normal(_))) {
            return None;
        }
        std::fs::read(root.join(relative)).ok()
    }
}
