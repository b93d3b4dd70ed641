//! Restoring during apply: start the native restore of a staged backup, or rejoin the task
//! already running for it, and follow it to SUCCESS (database ONLINE) or ERROR (its
//! `task_info`, word for word). A restore never goes over an existing database: RDS refuses
//! that itself, and the plan's precondition is checked again just before starting.

use std::time::Duration;

use super::{Connection, DatabaseError, sql_error};
use crate::manifest::types::Database;
use crate::plan::DatabaseAction;
use crate::providers::sqlserver::{Task, restore_hint};

/// How a restore ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub task_id: i64,
    /// Whether this run started the task (false: it rejoined one already running or done).
    pub started: bool,
    pub state: String,
}

/// Why a restore did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("restore task {task} of `{database}` ended {lifecycle}: {info}")]
    Task { task: i64, database: String, lifecycle: String, info: String },
    #[error("`{database}` exists now ({state}) and was not restored from this backup")]
    Exists { database: String, state: String },
    #[error("restore task {task} of `{database}` finished, but the database is {state}")]
    NotOnline { task: i64, database: String, state: String },
}

impl RestoreError {
    pub fn hint(&self) -> Option<String> {
        match self {
            RestoreError::Database(error) => error.hint(),
            RestoreError::Task { info, .. } => restore_hint(info),
            RestoreError::Exists { .. } => {
                Some("make a new plan, review it, and apply that".into())
            }
            RestoreError::NotOnline { .. } => {
                Some("look at the database on the instance; RDS reported the task done".into())
            }
        }
    }
}

/// Runs (or rejoins) the restore `action` plans for `database`, reporting progress through
/// `say`, polling every `poll`. Called for `restore` and `resume` actions only.
pub async fn restore(
    connection: &mut Connection,
    database: &Database,
    action: &DatabaseAction,
    poll: Duration,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Restored, RestoreError> {
    let name = action.database.as_str();
    let session = &mut connection.session;
    let sql = |e| RestoreError::Database(sql_error(database, e));

    // Rejoin a task of this backup if one runs or ran; else start one on an absent name.
    let tasks = session.tasks(name).await.map_err(sql)?;
    let ours: Vec<&Task> =
        tasks.iter().filter(|t| t.s3_arn.as_deref() == Some(action.s3_arn.as_str())).collect();
    let (mut task, started) =
        match ours.iter().rev().find(|t| t.in_flight() || t.lifecycle == "SUCCESS") {
            Some(task) => {
                say(&format!("{name}: rejoining restore task {} ({})", task.id, task.lifecycle));
                ((*task).clone(), false)
            }
            None => {
                if let Some(state) = session.database_state(name).await.map_err(sql)? {
                    return Err(RestoreError::Exists { database: name.to_owned(), state });
                }
                let task = session
                    .restore(name, &action.s3_arn, action.kms_key_arn.as_deref())
                    .await
                    .map_err(sql)?;
                say(&format!("{name}: restore task {} started from {}", task.id, action.s3_arn));
                (task, true)
            }
        };

    // Follow the task to its end.
    let mut last_percent = -1;
    while task.in_flight() {
        tokio::time::sleep(poll).await;
        task = session.task(task.id).await.map_err(sql)?.unwrap_or(task);
        if task.percent != last_percent {
            say(&format!("{name}: task {} {} {}% complete", task.id, task.lifecycle, task.percent));
            last_percent = task.percent;
        }
    }
    if task.lifecycle != "SUCCESS" {
        return Err(RestoreError::Task {
            task: task.id,
            database: name.to_owned(),
            lifecycle: task.lifecycle,
            info: task.info.unwrap_or_else(|| "RDS gave no task_info".into()),
        });
    }
    let state = session.database_state(name).await.map_err(sql)?.unwrap_or_else(|| "absent".into());
    if state != "ONLINE" {
        return Err(RestoreError::NotOnline { task: task.id, database: name.to_owned(), state });
    }
    Ok(Restored { task_id: task.id, started, state })
}
