//! The RDS native-restore procedures in `msdb.dbo`: `rds_restore_database`, `rds_task_status`
//! and `rds_cancel_task`. Each takes its arguments by name, checks them as SQL Server checks a
//! procedure's parameters, and calls the [`Instance`].
//!
//! What they return:
//! - `rds_task_status`: the documented columns, in the documented order (see [`task_columns`]);
//! - `rds_restore_database`: undocumented. The emulator returns the new task as one row of
//!   `rds_task_status`'s columns; a client should look the task up with `rds_task_status`
//!   rather than rely on this;
//! - `rds_cancel_task`: undocumented. The emulator returns the cancelled task's row the same
//!   way.
//!
//! Arguments must be named (`@task_id = 3`): the order of the parameters is not documented,
//! so positional arguments are refused with an `emulator:` error.

use std::time::SystemTime;

use super::messages::ServerMessage;
use super::rds::{Instance, RestoreRequest, RestoreTask, same_name};
use super::value::{Column, ColumnType, ResultSet, Value};

/// The procedures, by their unqualified names, with the parameters each declares.
const PROCEDURES: [(&str, &[&str]); 3] = [
    (
        "rds_restore_database",
        &[
            "@restore_db_name",
            "@s3_arn_to_restore_from",
            "@with_norecovery",
            "@type",
            "@kms_master_key_arn",
            "@keep_cdc",
            "@block_size",
            "@max_transfer_size",
            "@buffer_count",
        ],
    ),
    ("rds_task_status", &["@db_name", "@task_id"]),
    ("rds_cancel_task", &["@task_id"]),
];

/// The canonical name of an RDS procedure, if `name` is one (ignoring case).
pub(crate) fn known(name: &str) -> Option<&'static str> {
    PROCEDURES.iter().map(|(known, _)| *known).find(|known| known.eq_ignore_ascii_case(name))
}

/// Runs procedure `name` (as returned by [`known`]) with `args` (name with `@`, value).
pub(crate) fn call(
    instance: &mut Instance,
    name: &'static str,
    args: Vec<(Option<String>, Value)>,
) -> Result<ResultSet, ServerMessage> {
    let args = Args::bind(name, args)?;
    match name {
        "rds_restore_database" => restore_database(instance, &args),
        "rds_task_status" => task_status(instance, &args),
        _ => cancel_task(instance, &args),
    }
}

fn restore_database(instance: &mut Instance, args: &Args) -> Result<ResultSet, ServerMessage> {
    let database = args.required_text("@restore_db_name")?;
    let arn = args.required_text("@s3_arn_to_restore_from")?;
    let with_norecovery = args.int("@with_norecovery")?.unwrap_or(0) != 0;
    let differential = match args.text("@type").map(|kind| kind.to_ascii_uppercase()).as_deref() {
        None | Some("FULL") => false,
        Some("DIFFERENTIAL") => true,
        Some(_) => {
            let given = args.text("@type").unwrap_or_default();
            return Err(ServerMessage::invalid_restore_type(args.procedure, &given));
        }
    };
    let request = RestoreRequest {
        database,
        arn,
        with_norecovery,
        differential,
        kms_master_key_arn: args.text("@kms_master_key_arn").filter(|arn| !arn.is_empty()),
    };
    let task = instance.restore(args.procedure, request)?;
    Ok(task_rows(&[task]))
}

fn task_status(instance: &mut Instance, args: &Args) -> Result<ResultSet, ServerMessage> {
    let database = args.text("@db_name");
    let task_id = args.int("@task_id")?;
    let tasks: Vec<RestoreTask> = instance
        .tasks()
        .into_iter()
        .filter(|task| database.as_deref().is_none_or(|name| same_name(name, &task.database_name)))
        .filter(|task| task_id.is_none_or(|id| id == task.task_id))
        .collect();
    Ok(task_rows(&tasks))
}

fn cancel_task(instance: &mut Instance, args: &Args) -> Result<ResultSet, ServerMessage> {
    let task_id = args
        .int("@task_id")?
        .ok_or_else(|| ServerMessage::missing_parameter(args.procedure, "@task_id"))?;
    instance.cancel(args.procedure, task_id)?;
    let task: Vec<RestoreTask> =
        instance.tasks().into_iter().filter(|task| task.task_id == task_id).collect();
    Ok(task_rows(&task))
}

/// The columns of `rds_task_status`, in the documented order.
pub(crate) fn task_columns() -> Vec<Column> {
    let text = ColumnType::NVarChar(4000);
    [
        ("task_id", ColumnType::Int),
        ("task_type", ColumnType::NVarChar(128)),
        ("database_name", ColumnType::NVarChar(128)),
        ("% complete", ColumnType::Int),
        ("duration (mins)", ColumnType::Int),
        ("lifecycle", ColumnType::NVarChar(128)),
        ("task_info", text),
        ("last_updated", ColumnType::DateTime),
        ("created_at", ColumnType::DateTime),
        ("S3_object_arn", text),
        ("overwrite_s3_backup_file", ColumnType::Int),
        ("KMS_master_key_arn", text),
        ("filepath", text),
        ("overwrite_file", ColumnType::Int),
    ]
    .into_iter()
    .map(|(name, ty)| Column::new(name, ty))
    .collect()
}

fn task_rows(tasks: &[RestoreTask]) -> ResultSet {
    let rows = tasks.iter().map(task_row).collect();
    ResultSet { columns: task_columns(), rows }
}

fn task_row(task: &RestoreTask) -> Vec<Value> {
    let end = if task.lifecycle.is_active() { SystemTime::now() } else { task.last_updated };
    let minutes = end.duration_since(task.created_at).unwrap_or_default().as_secs() / 60;
    let text = |value: &Option<String>| value.clone().map_or(Value::Null, Value::Str);
    vec![
        Value::Int(task.task_id),
        Value::Str(task.task_type.clone()),
        Value::Str(task.database_name.clone()),
        Value::Int(task.percent_complete),
        Value::Int(minutes as i64),
        Value::Str(task.lifecycle.as_str().to_owned()),
        text(&task.task_info),
        Value::Time(task.last_updated),
        Value::Time(task.created_at),
        Value::Str(task.s3_object_arn.clone()),
        Value::Int(0),
        text(&task.kms_master_key_arn),
        Value::Null,
        Value::Int(0),
    ]
}

/// A procedure's arguments, bound to its declared parameters.
struct Args {
    procedure: &'static str,
    /// (parameter, value), parameter names in lower case with their `@`.
    values: Vec<(String, Value)>,
}

impl Args {
    fn bind(
        procedure: &'static str,
        args: Vec<(Option<String>, Value)>,
    ) -> Result<Args, ServerMessage> {
        let declared = PROCEDURES
            .iter()
            .find(|(name, _)| *name == procedure)
            .map_or(&[][..], |(_, params)| *params);
        let mut values = Vec::new();
        for (name, value) in args {
            let Some(name) = name else {
                return Err(ServerMessage::unsupported(&format!(
                    "a positional argument to {procedure} (name it: the order of its parameters \
                     is not documented)"
                )));
            };
            let lower = name.to_lowercase();
            if !declared.contains(&lower.as_str()) {
                return Err(ServerMessage::not_a_parameter(&name, procedure));
            }
            values.push((lower, value));
        }
        Ok(Args { procedure, values })
    }

    fn get(&self, parameter: &str) -> Option<&Value> {
        self.values.iter().rev().find(|(name, _)| name == parameter).map(|(_, value)| value)
    }

    fn text(&self, parameter: &str) -> Option<String> {
        self.get(parameter).and_then(Value::to_text)
    }

    fn required_text(&self, parameter: &str) -> Result<String, ServerMessage> {
        match self.get(parameter) {
            None => Err(ServerMessage::missing_parameter(self.procedure, parameter)),
            // An explicit NULL reads as an empty value, which the procedure then refuses.
            Some(value) => Ok(value.to_text().unwrap_or_default()),
        }
    }

    fn int(&self, parameter: &str) -> Result<Option<i64>, ServerMessage> {
        match self.get(parameter) {
            None => Ok(None),
            Some(value) => {
                value.to_int().map_err(|()| ServerMessage::conversion(self.procedure, parameter))
            }
        }
    }
}
