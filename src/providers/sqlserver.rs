//! SQL Server through tiberius: the only code that speaks TDS. It asks `sys.databases` what
//! exists and drives the RDS native-restore procedures (`rds_restore_database`,
//! `rds_task_status`). Every value reaches SQL as a bound parameter; database names are also
//! checked against the RDS rules before they get here.

use tiberius::{AuthMethod, Client, Config, EncryptionLevel, Row};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::rds::{Instance, Login};

/// How to trust the server's TLS certificate.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The system's roots (AWS publishes the RDS bundle for systems that lack it).
    System,
    /// A PEM bundle, such as the RDS CA bundle.
    Bundle(Vec<u8>),
    /// No verification at all; only with the manifest's explicit setting.
    Insecure,
}

/// A restore task as `rds_task_status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: i64,
    pub kind: String,
    pub database: String,
    pub percent: i64,
    /// `CREATED`, `IN_PROGRESS`, `SUCCESS`, `ERROR`, `CANCEL_REQUESTED` or `CANCELLED`.
    pub lifecycle: String,
    pub info: Option<String>,
    pub s3_arn: Option<String>,
}

impl Task {
    pub fn in_flight(&self) -> bool {
        matches!(self.lifecycle.as_str(), "CREATED" | "IN_PROGRESS" | "CANCEL_REQUESTED")
    }
}

/// A SQL Server failure, with the server's own message when it sent one.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("cannot reach `{address}:{port}`: {reason}")]
    Connect { address: String, port: u16, reason: String },
    #[error("SQL Server refused the login of `{user}`: {message}")]
    Login { user: String, message: String },
    #[error("SQL Server error {code}: {message}")]
    Server { code: u32, message: String },
    #[error("{0}")]
    Protocol(String),
}

impl SqlError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SqlError::Connect { reason, .. } if reason.contains("certificate") => Some(
                "the server's certificate is not trusted: set `target.ca_bundle` to the RDS CA \
                 bundle"
                    .into(),
            ),
            SqlError::Connect { .. } => {
                Some("check the instance's security group lets this machine reach it".into())
            }
            SqlError::Login { .. } => Some("check the login the manifest names".into()),
            SqlError::Server { message, .. } => restore_hint(message),
            SqlError::Protocol(_) => None,
        }
    }
}

/// What to do about the documented RDS restore errors.
pub fn restore_hint(message: &str) -> Option<String> {
    let hint = if message.contains("option is not enabled") {
        "add SQLSERVER_BACKUP_RESTORE to the instance's option group and wait until it is in sync"
    } else if message.contains("already exists") {
        "choose another `target.database`, or drop the existing database first"
    } else if message.contains("Access Denied") {
        "the option group's IAM role must be able to read the staging bucket (and use its KMS key)"
    } else if message.contains("same region") {
        "stage the backup in a bucket in the instance's region"
    } else if message.contains("does not exist") {
        "check the staging bucket exists"
    } else if message.contains("EXECUTE permission") {
        "connect as the master user, which may run the msdb restore procedures"
    } else {
        return None;
    };
    Some(hint.to_owned())
}

/// A connection to an instance.
pub struct Session {
    client: Client<Compat<TcpStream>>,
}

impl Session {
    /// Connects over TLS (never in the clear) and logs in: TDS 8.0 strict encryption first,
    /// then TLS negotiated in the TDS handshake for servers that do not offer strict mode.
    pub async fn connect(
        instance: &Instance,
        login: &Login,
        trust: &Trust,
    ) -> Result<Session, SqlError> {
        match Session::connect_with(instance, login, trust, EncryptionLevel::Strict).await {
            Ok(session) => Ok(session),
            Err(error @ SqlError::Login { .. }) => Err(error),
            Err(error) => {
                tracing::debug!(%error, "strict encryption refused; trying TLS in the handshake");
                Session::connect_with(instance, login, trust, EncryptionLevel::Required).await
            }
        }
    }

    async fn connect_with(
        instance: &Instance,
        login: &Login,
        trust: &Trust,
        encryption: EncryptionLevel,
    ) -> Result<Session, SqlError> {
        let mut config = Config::new();
        config.host(&instance.address);
        config.port(instance.port);
        config.authentication(AuthMethod::sql_server(&login.username, &login.password));
        config.encryption(encryption);
        match trust {
            Trust::System => {}
            Trust::Bundle(pem) => config.trust_cert_ca_bundle(pem.clone()),
            Trust::Insecure => config.trust_cert(),
        }
        let connect_error = |reason: String| SqlError::Connect {
            address: instance.address.clone(),
            port: instance.port,
            reason,
        };
        let tcp = TcpStream::connect(config.get_addr())
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let client =
            Client::connect(config, tcp.compat_write()).await.map_err(|error| match error {
                tiberius::error::Error::Server(token) if token.code() == 18456 => SqlError::Login {
                    user: login.username.clone(),
                    message: token.message().to_owned(),
                },
                other => connect_error(other.to_string()),
            })?;
        Ok(Session { client })
    }

    /// The state of database `name` (`ONLINE`, `RESTORING`, …), or `None` when absent.
    pub async fn database_state(&mut self, name: &str) -> Result<Option<String>, SqlError> {
        let sql = "SELECT name, state_desc FROM sys.databases WHERE name = @P1";
        let rows = self.rows(sql, &[&name]).await?;
        Ok(rows.first().and_then(|row| text(row, 1)))
    }

    /// Restore tasks RDS knows for database `name`, oldest first.
    pub async fn tasks(&mut self, name: &str) -> Result<Vec<Task>, SqlError> {
        let rows = self.rows("exec msdb.dbo.rds_task_status @db_name=@P1", &[&name]).await?;
        let mut tasks: Vec<Task> = rows.iter().filter_map(task).collect();
        tasks.sort_by_key(|t| t.id);
        Ok(tasks)
    }

    /// One task by id.
    pub async fn task(&mut self, id: i64) -> Result<Option<Task>, SqlError> {
        let id = i32::try_from(id)
            .map_err(|_| SqlError::Protocol(format!("task id {id} is out of range")))?;
        let rows = self.rows("exec msdb.dbo.rds_task_status @task_id=@P1", &[&id]).await?;
        Ok(rows.iter().filter_map(task).next())
    }

    /// Starts a native restore of `name` from `arn`; returns the task RDS created.
    pub async fn restore(
        &mut self,
        name: &str,
        arn: &str,
        kms: Option<&str>,
    ) -> Result<Task, SqlError> {
        let rows = match kms {
            Some(key) => {
                let sql = "exec msdb.dbo.rds_restore_database @restore_db_name=@P1, \
                           @s3_arn_to_restore_from=@P2, @kms_master_key_arn=@P3";
                self.rows(sql, &[&name, &arn, &key]).await?
            }
            None => {
                let sql = "exec msdb.dbo.rds_restore_database @restore_db_name=@P1, \
                           @s3_arn_to_restore_from=@P2";
                self.rows(sql, &[&name, &arn]).await?
            }
        };
        // What the procedure returns is not documented: take a task row if it sent one, else
        // ask the status procedure for the newest task of this database.
        if let Some(task) = rows.iter().filter_map(task).next() {
            return Ok(task);
        }
        let tasks = self.tasks(name).await?;
        tasks.into_iter().rev().find(|t| t.s3_arn.as_deref() == Some(arn)).ok_or_else(|| {
            SqlError::Protocol(format!(
                "RDS accepted the restore of `{name}` but lists no task for it"
            ))
        })
    }

    async fn rows(
        &mut self,
        sql: &str,
        params: &[&dyn tiberius::ToSql],
    ) -> Result<Vec<Row>, SqlError> {
        let stream = self.client.query(sql, params).await.map_err(server_error)?;
        let results = stream.into_results().await.map_err(server_error)?;
        Ok(results.into_iter().flatten().collect())
    }
}

fn server_error(error: tiberius::error::Error) -> SqlError {
    match error {
        tiberius::error::Error::Server(token) => {
            SqlError::Server { code: token.code(), message: token.message().to_owned() }
        }
        other => SqlError::Protocol(other.to_string()),
    }
}

/// A task from a status row, reading columns by position as documented.
fn task(row: &Row) -> Option<Task> {
    Some(Task {
        id: number(row, 0)?,
        kind: text(row, 1).unwrap_or_default(),
        database: text(row, 2).unwrap_or_default(),
        percent: number(row, 3).unwrap_or_default(),
        lifecycle: text(row, 5)?,
        info: text(row, 6),
        s3_arn: text(row, 9),
    })
}

fn text(row: &Row, index: usize) -> Option<String> {
    row.try_get::<&str, usize>(index).ok().flatten().map(str::to_owned)
}

/// A whole number from any integer column type.
fn number(row: &Row, index: usize) -> Option<i64> {
    if let Ok(Some(value)) = row.try_get::<i32, usize>(index) {
        return Some(i64::from(value));
    }
    if let Ok(Some(value)) = row.try_get::<i64, usize>(index) {
        return Some(value);
    }
    if let Ok(Some(value)) = row.try_get::<i16, usize>(index) {
        return Some(i64::from(value));
    }
    row.try_get::<u8, usize>(index).ok().flatten().map(i64::from)
}
