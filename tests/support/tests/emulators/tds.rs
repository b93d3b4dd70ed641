//! The TDS emulator of RDS native restore, driven by the real tiberius client over TCP.

use std::path::Path;
use std::time::{Duration, Instant};

use release_testkit::LocalS3;
use release_testkit::tds::{
    DEFAULT_PASSWORD, DEFAULT_USER, DatabaseState, Encryption, Lifecycle, ServerCertificate,
    TdsServer, objects_in_dir,
};
use tiberius::error::Error;
use tiberius::{AuthMethod, Client, Config, EncryptionLevel, Row};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

type Sql = Client<Compat<TcpStream>>;

const RESTORE: &str = "exec msdb.dbo.rds_restore_database @restore_db_name=@P1, \
                       @s3_arn_to_restore_from=@P2";
const STATUS_BY_ID: &str = "exec msdb.dbo.rds_task_status @task_id=@P1";
const DATABASES: &str = "SELECT name, state_desc FROM sys.databases WHERE name = @P1";

/// A client configuration for `server`, trusting its test CA, logging in as the default user.
fn config(server: &TdsServer, encryption: EncryptionLevel) -> Config {
    let mut config = Config::new();
    config.host(server.host());
    config.port(server.port());
    config.authentication(AuthMethod::sql_server(DEFAULT_USER, DEFAULT_PASSWORD));
    config.encryption(encryption);
    if let Some(ca) = server.ca_pem() {
        config.trust_cert_ca_bundle(ca.as_bytes().to_vec());
    }
    config
}

async fn connect_with(config: Config) -> tiberius::Result<Sql> {
    let tcp = TcpStream::connect(config.get_addr()).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

async fn connect(server: &TdsServer) -> Sql {
    connect_with(config(server, EncryptionLevel::Required)).await.expect("connect")
}

/// A server reading backups from a fresh local S3 store, with `objects` in bucket `backups`.
fn server_with_objects(objects: &[(&str, &[u8])]) -> (TdsServer, LocalS3) {
    let s3 = LocalS3::start();
    s3.create_bucket("backups");
    for (key, bytes) in objects {
        let path = s3.data_dir().join("backups").join(key);
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let server = TdsServer::builder()
        .login(DEFAULT_USER, DEFAULT_PASSWORD)
        .step(Duration::from_millis(100))
        .fetch(objects_in_dir(s3.data_dir()))
        .start();
    (server, s3)
}

/// The code and text of a server error, or a panic saying what came instead.
fn server_error<T: std::fmt::Debug>(result: tiberius::Result<T>) -> (u32, String) {
    match result {
        Err(Error::Server(token)) => (token.code(), token.message().to_owned()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

async fn restore(client: &mut Sql, database: &str, arn: &str) -> tiberius::Result<Row> {
    let row = client.query(RESTORE, &[&database, &arn]).await?.into_row().await?;
    Ok(row.expect("rds_restore_database answers with the task's row"))
}

async fn task_status(client: &mut Sql, task_id: i32) -> Row {
    let stream = client.query(STATUS_BY_ID, &[&task_id]).await.expect("rds_task_status");
    stream.into_row().await.expect("status rows").expect("a row for the task")
}

/// Runs a SQL batch to the end, keeping only whether it failed.
async fn run_batch(client: &mut Sql, sql: &str) -> tiberius::Result<()> {
    client.simple_query(sql).await?.into_results().await.map(|_| ())
}

fn lifecycle(row: &Row) -> String {
    row.get::<&str, _>("lifecycle").expect("lifecycle").to_owned()
}

/// Polls the task until its lifecycle is `wanted`. The deadline only stops a broken emulator
/// from hanging the test run.
async fn wait_for(client: &mut Sql, task_id: i32, wanted: Lifecycle) -> Row {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = task_status(client, task_id).await;
        let now = lifecycle(&row);
        if now == wanted.as_str() {
            return row;
        }
        assert!(Instant::now() < deadline, "task {task_id} is still {now}, not {wanted:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn database_state(client: &mut Sql, name: &str) -> Option<String> {
    let row = client.query(DATABASES, &[&name]).await.unwrap().into_row().await.unwrap();
    row.map(|row| row.get::<&str, _>("state_desc").unwrap().to_owned())
}

#[tokio::test]
async fn login_with_the_right_password_works_without_tls() {
    let server =
        TdsServer::builder().login("Reader", "s3cret").encryption(Encryption::NotSupported).start();
    assert_eq!(server.ca_pem(), None);
    let mut config = config(&server, EncryptionLevel::NotSupported);
    config.authentication(AuthMethod::sql_server("reader", "s3cret"));

    let mut client = connect_with(config).await.expect("login");
    let row = client.simple_query("SELECT 1").await.unwrap().into_row().await.unwrap().unwrap();
    assert_eq!(row.get::<i32, _>(0), Some(1));
    assert_eq!(server.logins(), vec!["Reader".to_owned()]);
}

#[tokio::test]
async fn a_wrong_password_is_login_failed() {
    let server = TdsServer::start();
    let mut config = config(&server, EncryptionLevel::Required);
    config.authentication(AuthMethod::sql_server(DEFAULT_USER, "not the password"));

    let (code, message) = server_error(connect_with(config).await);
    assert_eq!((code, message.as_str()), (18456, "Login failed for user 'admin'."));
}

#[tokio::test]
async fn every_encryption_level_connects_with_the_test_ca() {
    let server = TdsServer::start();
    for level in [
        EncryptionLevel::NotSupported,
        EncryptionLevel::Required,
        EncryptionLevel::On,
        EncryptionLevel::Off,
        EncryptionLevel::Strict,
    ] {
        let mut client = connect_with(config(&server, level))
            .await
            .unwrap_or_else(|err| panic!("{level:?}: {err}"));
        let rows = client.simple_query("SELECT 42").await.unwrap().into_first_result().await;
        assert_eq!(rows.unwrap()[0].get::<i32, _>(0), Some(42), "{level:?}");
    }
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_by_the_client() {
    let server = TdsServer::builder()
        .login(DEFAULT_USER, DEFAULT_PASSWORD)
        .certificate(ServerCertificate::OtherCa)
        .start();
    match connect_with(config(&server, EncryptionLevel::Required)).await {
        Err(Error::Tls(message)) => assert!(message.contains("certificate"), "{message}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_requires_tls_turns_away_a_client_without() {
    let server = TdsServer::builder()
        .login(DEFAULT_USER, DEFAULT_PASSWORD)
        .encryption(Encryption::Required)
        .start();
    assert!(connect_with(config(&server, EncryptionLevel::NotSupported)).await.is_err());
    connect_with(config(&server, EncryptionLevel::Required)).await.expect("with TLS");
}

#[tokio::test]
async fn sys_databases_by_bound_name_and_in_full() {
    let server = TdsServer::start();
    server.add_database("Other", DatabaseState::Online);
    let mut client = connect(&server).await;

    let rows = client.query(DATABASES, &[&"other"]).await.unwrap().into_first_result().await;
    let rows = rows.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<&str, _>("name"), Some("Other"));
    assert_eq!(rows[0].get::<&str, _>("state_desc"), Some("ONLINE"));

    let all = client.simple_query("select NAME from SYS.DATABASES order by name").await.unwrap();
    let names: Vec<String> = all
        .into_first_result()
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<&str, _>(0).unwrap().to_owned())
        .collect();
    assert_eq!(names, ["master", "model", "msdb", "Other", "rdsadmin", "tempdb"]);
}

#[tokio::test]
async fn a_restore_runs_to_success_and_the_database_comes_online() {
    let (server, _s3) = server_with_objects(&[("sales/Sales.bak", b"TAPE\0\0\0\0 a backup")]);
    let mut client = connect(&server).await;

    let created = restore(&mut client, "Sales", "arn:aws:s3:::backups/sales/Sales.bak").await;
    let created = created.expect("restore accepted");
    let task_id = created.get::<i32, _>("task_id").unwrap();
    assert_eq!(task_id, 1);
    assert_eq!(lifecycle(&created), "CREATED");
    assert_eq!(created.get::<&str, _>("task_type"), Some("RESTORE_DB"));

    let done = wait_for(&mut client, task_id, Lifecycle::Success).await;
    let columns: Vec<&str> = done.columns().iter().map(|column| column.name()).collect();
    assert_eq!(
        columns,
        [
            "task_id",
            "task_type",
            "database_name",
            "% complete",
            "duration (mins)",
            "lifecycle",
            "task_info",
            "last_updated",
            "created_at",
            "S3_object_arn",
            "overwrite_s3_backup_file",
            "KMS_master_key_arn",
            "filepath",
            "overwrite_file",
        ]
    );
    assert_eq!(done.get::<i32, _>("% complete"), Some(100));
    assert_eq!(done.get::<&str, _>("database_name"), Some("Sales"));
    assert_eq!(done.get::<&str, _>("S3_object_arn"), Some("arn:aws:s3:::backups/sales/Sales.bak"));
    assert_eq!(database_state(&mut client, "Sales").await.as_deref(), Some("ONLINE"));
    assert_eq!(server.restore_requests(), 1);
    assert_eq!(server.tasks()[0].lifecycle, Lifecycle::Success);
}

#[tokio::test]
async fn with_norecovery_leaves_the_database_restoring() {
    let (server, _s3) = server_with_objects(&[("Sales.bak", b"MSSQLBAK compressed")]);
    let mut client = connect(&server).await;

    let sql = "EXEC msdb.dbo.rds_restore_database @restore_db_name = N'Sales', \
               @s3_arn_to_restore_from = N'arn:aws:s3:::backups/Sales.bak', @with_norecovery = 1";
    let row = client.simple_query(sql).await.unwrap().into_row().await.unwrap().unwrap();
    assert_eq!(row.get::<&str, _>("task_type"), Some("RESTORE_DB_NORECOVERY"));

    wait_for(&mut client, 1, Lifecycle::Success).await;
    assert_eq!(database_state(&mut client, "Sales").await.as_deref(), Some("RESTORING"));
}

#[tokio::test]
async fn an_existing_name_is_refused_with_the_documented_text() {
    let server = TdsServer::start();
    server.add_database("Sales", DatabaseState::Online);
    let mut client = connect(&server).await;

    let refused = restore(&mut client, "sales", "arn:aws:s3:::backups/Sales.bak").await;
    assert_eq!(
        server_error(refused),
        (
            50000,
            "Database 'sales' already exists. Two databases that differ only by case or accent \
             are not allowed. Choose a different database name."
                .to_owned()
        )
    );
    assert_eq!(server.restore_requests(), 0);
}

#[tokio::test]
async fn a_third_task_in_flight_is_refused() {
    let server = TdsServer::start();
    server.pause_tasks();
    let mut client = connect(&server).await;

    for name in ["One", "Two"] {
        restore(&mut client, name, "arn:aws:s3:::backups/x.bak").await.expect(name);
    }
    let (code, message) = server_error(restore(&mut client, "Three", "arn:aws:s3:::b/x.bak").await);
    assert_eq!(code, 50000);
    assert!(message.contains("already 2 backup or restore tasks"), "{message}");
    assert_eq!(server.restore_requests(), 2);
}

#[tokio::test]
async fn a_missing_object_ends_in_error_with_task_info() {
    let (server, _s3) = server_with_objects(&[]);
    let mut client = connect(&server).await;

    restore(&mut client, "Sales", "arn:aws:s3:::backups/missing.bak").await.unwrap();
    let failed = wait_for(&mut client, 1, Lifecycle::Error).await;
    let info = failed.get::<&str, _>("task_info").unwrap();
    assert!(info.contains("Error Code Not Found"), "{info}");
    assert_eq!(database_state(&mut client, "Sales").await, None);
}

#[tokio::test]
async fn an_object_that_is_not_a_backup_ends_in_error() {
    let (server, _s3) = server_with_objects(&[("notes.txt", b"just some text")]);
    let mut client = connect(&server).await;

    restore(&mut client, "Sales", "arn:aws:s3:::backups/notes.txt").await.unwrap();
    let failed = wait_for(&mut client, 1, Lifecycle::Error).await;
    let info = failed.get::<&str, _>("task_info").unwrap();
    assert!(info.contains("is not a valid SQL Server backup"), "{info}");
}

#[tokio::test]
async fn a_task_survives_its_client_disconnecting() {
    let (server, _s3) = server_with_objects(&[("Sales.bak", b"TAPE backup")]);
    let mut client = connect(&server).await;
    let created = restore(&mut client, "Sales", "arn:aws:s3:::backups/Sales.bak").await.unwrap();
    let task_id = created.get::<i32, _>("task_id").unwrap();
    drop(client);

    let mut client = connect(&server).await;
    let stream =
        client.query("exec msdb.dbo.rds_task_status @db_name=@P1", &[&"Sales"]).await.unwrap();
    let rows = stream.into_first_result().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<i32, _>("task_id"), Some(task_id));
    assert_ne!(lifecycle(&rows[0]), "ERROR");

    wait_for(&mut client, task_id, Lifecycle::Success).await;
    assert_eq!(server.restore_requests(), 1);
}

#[tokio::test]
async fn a_cancelled_task_is_cancel_requested_then_cancelled() {
    let (server, _s3) = server_with_objects(&[("Sales.bak", b"TAPE backup")]);
    server.pause_tasks();
    let mut client = connect(&server).await;
    restore(&mut client, "Sales", "arn:aws:s3:::backups/Sales.bak").await.unwrap();

    let cancel = client.query("exec msdb.dbo.rds_cancel_task @task_id=@P1", &[&1i32]).await;
    let row = cancel.unwrap().into_row().await.unwrap().unwrap();
    assert_eq!(lifecycle(&row), "CANCEL_REQUESTED");

    server.resume_tasks();
    wait_for(&mut client, 1, Lifecycle::Cancelled).await;
    assert_eq!(database_state(&mut client, "Sales").await, None);

    let again = client.query("exec msdb.dbo.rds_cancel_task @task_id=@P1", &[&1i32]).await;
    assert_eq!(server_error(again).0, 50000);
}

#[tokio::test]
async fn without_the_backup_restore_option_restores_are_refused() {
    let server = TdsServer::start();
    server.set_option_enabled(false);
    let mut client = connect(&server).await;

    let (code, message) = server_error(restore(&mut client, "Sales", "arn:aws:s3:::b/k").await);
    assert_eq!(code, 50000);
    assert_eq!(
        message,
        "Database backup/restore option is not enabled yet or is in the process of being \
         enabled. Please try again later."
    );

    server.set_option_enabled(true);
    restore(&mut client, "Sales", "arn:aws:s3:::b/k").await.expect("enabled again");
}

#[tokio::test]
async fn an_empty_arn_is_refused() {
    let server = TdsServer::start();
    let mut client = connect(&server).await;
    let (code, message) = server_error(restore(&mut client, "Sales", "").await);
    assert_eq!(code, 50000);
    assert!(message.contains("must not be empty"), "{message}");
    assert_eq!(server.restore_requests(), 0);
}

#[tokio::test]
async fn procedures_refuse_to_run_inside_a_transaction() {
    let server = TdsServer::start();
    let mut client = connect(&server).await;

    // A transaction begun in SQL...
    run_batch(&mut client, "BEGIN TRAN").await.unwrap();
    let (code, message) = server_error(restore(&mut client, "Sales", "arn:aws:s3:::b/k").await);
    assert_eq!(code, 50000);
    assert!(message.contains("inside a transaction"), "{message}");
    run_batch(&mut client, "ROLLBACK").await.unwrap();

    // ...or with a transaction-manager request.
    client.begin_transaction().await.unwrap();
    let inside = client.query("exec msdb.dbo.rds_task_status", &[]).await.map(|_| ());
    assert_eq!(server_error(inside).0, 50000);
    client.rollback_transaction().await.unwrap();

    restore(&mut client, "Sales", "arn:aws:s3:::b/k").await.expect("outside a transaction");
    let (code, _) = server_error(run_batch(&mut client, "COMMIT").await);
    assert_eq!(code, 3902);
}

#[tokio::test]
async fn unknown_sql_gets_sql_servers_errors() {
    let server = TdsServer::start();
    let mut client = connect(&server).await;

    let missing = run_batch(&mut client, "exec msdb.dbo.rds_nothing @x = 1").await;
    assert_eq!(
        server_error(missing),
        (2812, "Could not find stored procedure 'msdb.dbo.rds_nothing'.".to_owned())
    );

    let nonsense = client.query("SELECT name FROM", &[]).await.map(|_| ());
    assert_eq!(server_error(nonsense).0, 102);

    // The connection is still usable after errors.
    let row = client.query("SELECT @P1", &[&7i32]).await.unwrap().into_row().await.unwrap();
    assert_eq!(row.unwrap().get::<i32, _>(0), Some(7));
}

#[tokio::test]
async fn procedures_resolve_from_msdb_and_logins_name_existing_databases() {
    let server = TdsServer::start();
    let mut in_master = connect(&server).await;
    let unqualified = run_batch(&mut in_master, "exec rds_task_status").await;
    assert_eq!(server_error(unqualified).0, 2812);

    let mut msdb = config(&server, EncryptionLevel::Required);
    msdb.database("msdb");
    let mut in_msdb = connect_with(msdb).await.expect("login to msdb");
    run_batch(&mut in_msdb, "exec dbo.rds_task_status").await.expect("found from msdb");

    let mut nowhere = config(&server, EncryptionLevel::Required);
    nowhere.database("Nowhere");
    let (code, message) = server_error(connect_with(nowhere).await);
    assert_eq!(code, 4060, "{message}");
}

#[tokio::test]
async fn long_parameters_and_long_replies_span_several_packets() {
    let server = TdsServer::start();
    for number in 0..300 {
        server.add_database(
            &format!("Extract_{number:04}_with_a_longish_name"),
            DatabaseState::Online,
        );
    }
    let mut client = connect(&server).await;

    // Over 4000 characters: sent as nvarchar(max), in several packets.
    let long_name = "x".repeat(6000);
    let rows = client.query(DATABASES, &[&long_name.as_str()]).await.unwrap();
    assert!(rows.into_first_result().await.unwrap().is_empty());

    let all = client.simple_query("SELECT * FROM sys.databases").await.unwrap();
    let rows = all.into_first_result().await.unwrap();
    assert_eq!(rows.len(), 305);
    assert_eq!(rows[304].get::<&str, _>("name"), Some("Extract_0299_with_a_longish_name"));
    assert_eq!(rows[304].get::<i32, _>("database_id"), Some(305));
}
