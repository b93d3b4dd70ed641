//! RDS control plane and the database login: which instance a database target names, whether
//! it can restore native backups, and where its login comes from. The only code that calls
//! aws-sdk-rds and aws-sdk-secretsmanager. Passwords never reach a log line: `Login` prints
//! without them.

use aws_config::SdkConfig;
use aws_sdk_rds::error::ProvideErrorMetadata;

use crate::manifest::types::Login as LoginSource;

/// The option RDS needs for native backup and restore.
pub const BACKUP_RESTORE_OPTION: &str = "SQLSERVER_BACKUP_RESTORE";

/// An RDS for SQL Server instance as a restore needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub status: String,
    pub engine: String,
    pub address: String,
    pub port: u16,
    pub option_groups: Vec<String>,
    /// ARN of the master user secret RDS manages, if it manages one.
    pub master_secret_arn: Option<String>,
}

/// A SQL login. The password is kept out of `Debug` output.
#[derive(Clone)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("username", &self.username).finish_non_exhaustive()
    }
}

/// Why an instance or its login cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RdsError {
    #[error("RDS instance `{0}` does not exist in this account and region")]
    NoInstance(String),
    #[error("`{instance}` is not RDS for SQL Server (engine `{engine}`)")]
    NotSqlServer { instance: String, engine: String },
    #[error("RDS instance `{instance}` is `{status}`, not available")]
    NotAvailable { instance: String, status: String },
    #[error(
        "the option groups of `{instance}` ({groups}) have no `{BACKUP_RESTORE_OPTION}` option \
         with an IAM role"
    )]
    NoBackupRestore { instance: String, groups: String },
    #[error("`{instance}` has no RDS-managed master secret")]
    NoManagedSecret { instance: String },
    #[error("cannot read secret `{secret}`: {reason}")]
    Secret { secret: String, reason: String },
    #[error("environment variable `{0}` is not set")]
    MissingEnv(String),
    #[error("{operation} failed: {reason}")]
    Api { operation: &'static str, reason: String },
}

impl RdsError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RdsError::NoInstance(_) => "check `target.instance` and `aws.region`".into(),
            RdsError::NotSqlServer { .. } => "native restore is for RDS for SQL Server".into(),
            RdsError::NotAvailable { .. } => "wait until the instance is available".into(),
            RdsError::NoBackupRestore { .. } => format!(
                "add the `{BACKUP_RESTORE_OPTION}` option, with an IAM role that can read the \
                 staging bucket, to the instance's option group"
            ),
            RdsError::NoManagedSecret { .. } => {
                "turn on RDS-managed master credentials, or set `target.login` to a named \
                 secret or environment variables"
                    .into()
            }
            RdsError::Secret { .. } => {
                "check the secret exists and your role may call secretsmanager:GetSecretValue"
                    .into()
            }
            RdsError::MissingEnv(name) => format!("export `{name}` before running release"),
            RdsError::Api { .. } => return None,
        })
    }
}

/// Looks up `id` and checks it can restore native backups.
pub async fn instance(config: &SdkConfig, id: &str) -> Result<Instance, RdsError> {
    let rds = aws_sdk_rds::Client::new(config);
    let output = rds.describe_db_instances().db_instance_identifier(id).send().await;
    let output = match output {
        Ok(output) => output,
        Err(error) if error.code() == Some("DBInstanceNotFound") => {
            return Err(RdsError::NoInstance(id.to_owned()));
        }
        Err(error) => return Err(api("DescribeDBInstances", &error)),
    };
    let Some(found) = output.db_instances.unwrap_or_default().into_iter().next() else {
        return Err(RdsError::NoInstance(id.to_owned()));
    };
    let endpoint =
        found.endpoint.unwrap_or_else(|| aws_sdk_rds::types::Endpoint::builder().build());
    let instance = Instance {
        id: id.to_owned(),
        status: found.db_instance_status.unwrap_or_default(),
        engine: found.engine.unwrap_or_default(),
        address: endpoint.address.unwrap_or_default(),
        port: endpoint.port.and_then(|p| u16::try_from(p).ok()).unwrap_or(1433),
        option_groups: found
            .option_group_memberships
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.option_group_name)
            .collect(),
        master_secret_arn: found.master_user_secret.and_then(|s| s.secret_arn),
    };
    if !instance.engine.starts_with("sqlserver") {
        return Err(RdsError::NotSqlServer { instance: id.to_owned(), engine: instance.engine });
    }
    if instance.status != "available" {
        return Err(RdsError::NotAvailable { instance: id.to_owned(), status: instance.status });
    }
    check_backup_restore(&rds, &instance).await?;
    Ok(instance)
}

/// One of the instance's option groups must have the backup/restore option with a role.
async fn check_backup_restore(
    rds: &aws_sdk_rds::Client,
    instance: &Instance,
) -> Result<(), RdsError> {
    for group in &instance.option_groups {
        let output = rds
            .describe_option_groups()
            .option_group_name(group)
            .send()
            .await
            .map_err(|e| api("DescribeOptionGroups", &e))?;
        let options = output.option_groups_list.unwrap_or_default().into_iter();
        let has_role = options.flat_map(|g| g.options.unwrap_or_default()).any(|option| {
            option.option_name.as_deref() == Some(BACKUP_RESTORE_OPTION)
                && option.option_settings.unwrap_or_default().iter().any(|s| {
                    s.name.as_deref() == Some("IAM_ROLE_ARN")
                        && s.value.as_deref().is_some_and(|v| !v.is_empty())
                })
        });
        if has_role {
            return Ok(());
        }
    }
    Err(RdsError::NoBackupRestore {
        instance: instance.id.clone(),
        groups: instance
            .option_groups
            .iter()
            .map(|g| format!("`{g}`"))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The login the manifest names for `instance`.
pub async fn login(
    config: &SdkConfig,
    source: &LoginSource,
    instance: &Instance,
) -> Result<Login, RdsError> {
    match source {
        LoginSource::Env { username_var, password_var } => {
            let read =
                |name: &str| std::env::var(name).map_err(|_| RdsError::MissingEnv(name.to_owned()));
            Ok(Login { username: read(username_var)?, password: read(password_var)? })
        }
        LoginSource::Secret { secret_id } => secret(config, secret_id).await,
        LoginSource::RdsManagedSecret => {
            let arn = instance
                .master_secret_arn
                .as_ref()
                .ok_or_else(|| RdsError::NoManagedSecret { instance: instance.id.clone() })?;
            secret(config, arn).await
        }
    }
}

async fn secret(config: &SdkConfig, id: &str) -> Result<Login, RdsError> {
    let failed = |reason: String| RdsError::Secret { secret: id.to_owned(), reason };
    let client = aws_sdk_secretsmanager::Client::new(config);
    let output = client.get_secret_value().secret_id(id).send().await.map_err(|error| {
        failed(error.message().or(error.code()).unwrap_or("the request failed").to_owned())
    })?;
    let text = output.secret_string.ok_or_else(|| failed("it holds no text".into()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| failed("it is not JSON".into()))?;
    let field = |name: &str| {
        value
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| failed(format!("its JSON has no `{name}`")))
    };
    Ok(Login { username: field("username")?, password: field("password")? })
}

fn api<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    error: &E,
) -> RdsError {
    let reason = error
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| crate::providers::aws::error_chain(error));
    RdsError::Api { operation, reason }
}
