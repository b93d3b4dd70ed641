//! Running parsed statements for one session: `sys.databases`, the RDS procedures,
//! transactions and `USE`. What comes out is a [`StatementOutput`] per statement, which the
//! [`connection`](super::connection) turns into tokens.

use std::collections::HashMap;
use std::sync::Mutex;

use super::clock::lock;
use super::messages::ServerMessage;
use super::procedures;
use super::rds::{Database, Instance, same_name};
use super::sql::{Expr, Filter, Statement};
use super::value::{Column, ColumnType, ResultSet, Value};

/// What one connection remembers between requests.
#[derive(Debug)]
pub(crate) struct Session {
    /// The current database.
    pub(crate) database: String,
    /// The descriptor of the open transaction, if one is open.
    pub(crate) transaction: Option<u64>,
    next_descriptor: u64,
}

impl Session {
    pub(crate) fn new(database: String) -> Session {
        Session { database, transaction: None, next_descriptor: 1 }
    }

    /// Opens a transaction (or joins the open one) and returns its descriptor.
    pub(crate) fn begin(&mut self) -> Change {
        let descriptor = *self.transaction.get_or_insert_with(|| {
            self.next_descriptor += 1;
            self.next_descriptor
        });
        Change::Began(descriptor)
    }

    /// Ends the open transaction.
    pub(crate) fn end(&mut self, committed: bool) -> Result<Change, ServerMessage> {
        match self.transaction.take() {
            Some(descriptor) => Ok(Change::Ended { descriptor, committed }),
            None if committed => Err(ServerMessage::commit_without_begin()),
            None => Err(ServerMessage::rollback_without_begin()),
        }
    }
}

/// A change to the session the client must hear about (an ENVCHANGE token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Database { new: String, old: String },
    Began(u64),
    Ended { descriptor: u64, committed: bool },
}

/// What a statement produced.
#[derive(Debug, Default)]
pub(crate) struct StatementOutput {
    pub(crate) changes: Vec<Change>,
    pub(crate) result: Option<ResultSet>,
}

/// Bound parameters, by lower-case name with the `@`.
pub(crate) type Params = HashMap<String, Value>;

/// Runs one statement.
pub(crate) fn run(
    statement: Statement,
    params: &Params,
    session: &mut Session,
    instance: &Mutex<Instance>,
) -> Result<StatementOutput, ServerMessage> {
    let mut output = StatementOutput::default();
    match statement {
        Statement::Select { columns, from, filter, order_by } => {
            output.result = Some(select(&columns, &from, filter, order_by, params, instance)?);
        }
        Statement::SelectValues(values) => {
            output.result = Some(select_values(values, params)?);
        }
        Statement::Exec { procedure, args } => {
            output.result = Some(exec(&procedure, args, params, session, instance)?);
        }
        Statement::Begin => output.changes.push(session.begin()),
        Statement::Commit => output.changes.push(session.end(true)?),
        Statement::Rollback => output.changes.push(session.end(false)?),
        Statement::Use(name) => {
            let database = lock(instance)
                .database(&name)
                .map(|database| database.name.clone())
                .ok_or_else(|| ServerMessage::database_does_not_exist(&name))?;
            let old = std::mem::replace(&mut session.database, database.clone());
            output.changes.push(Change::Database { new: database, old });
        }
        Statement::Set => {}
    }
    Ok(output)
}

/// The value of a literal or a bound variable.
fn resolve(expr: Expr, params: &Params) -> Result<Value, ServerMessage> {
    match expr {
        Expr::Literal(value) => Ok(value),
        Expr::Variable(name) => params
            .get(&name.to_lowercase())
            .cloned()
            .ok_or_else(|| ServerMessage::undeclared_variable(&name)),
    }
}

fn exec(
    procedure: &[String],
    args: Vec<super::sql::Arg>,
    params: &Params,
    session: &Session,
    instance: &Mutex<Instance>,
) -> Result<ResultSet, ServerMessage> {
    let written = procedure.join(".");
    let name = resolve_procedure(procedure, &session.database)
        .ok_or_else(|| ServerMessage::no_such_procedure(&written))?;
    let args = args
        .into_iter()
        .map(|arg| Ok((arg.name, resolve(arg.value, params)?)))
        .collect::<Result<Vec<_>, ServerMessage>>()?;
    if session.transaction.is_some() {
        return Err(ServerMessage::inside_transaction(name));
    }
    procedures::call(&mut lock(instance), name, args)
}

/// The RDS procedure a (possibly qualified) name refers to from `database`: they live in
/// `msdb.dbo`, so `msdb.dbo.p` and `msdb..p` work anywhere, `dbo.p` and `p` only in msdb.
pub(crate) fn resolve_procedure(parts: &[String], database: &str) -> Option<&'static str> {
    let (name, qualifiers) = parts.split_last()?;
    let known = procedures::known(name)?;
    let in_msdb = |db: &str| db.eq_ignore_ascii_case("msdb");
    let schema_ok = |schema: &str| schema.is_empty() || schema.eq_ignore_ascii_case("dbo");
    let found = match qualifiers {
        [] => in_msdb(database),
        [schema] => !schema.is_empty() && schema_ok(schema) && in_msdb(database),
        [db, schema] => in_msdb(db) && schema_ok(schema),
        _ => false,
    };
    found.then_some(known)
}

/// The columns of `sys.databases` the emulator has.
const DATABASE_COLUMNS: [(&str, ColumnType); 4] = [
    ("name", ColumnType::NVarChar(128)),
    ("database_id", ColumnType::Int),
    ("create_date", ColumnType::DateTime),
    ("state_desc", ColumnType::NVarChar(60)),
];

fn select(
    columns: &[String],
    from: &[String],
    filter: Option<Filter>,
    order_by: Option<String>,
    params: &Params,
    instance: &Mutex<Instance>,
) -> Result<ResultSet, ServerMessage> {
    if !is_sys_databases(from) {
        return Err(ServerMessage::invalid_object(&from.join(".")));
    }
    let wanted: Vec<(&str, ColumnType)> = if columns.iter().any(|column| column == "*") {
        DATABASE_COLUMNS.to_vec()
    } else {
        columns.iter().map(|column| database_column(column)).collect::<Result<_, _>>()?
    };
    let filter = match filter {
        Some(Filter { column, value }) => {
            Some((database_column(&column)?.0, resolve(value, params)?))
        }
        None => None,
    };
    let order = order_by.map(|column| database_column(&column)).transpose()?;

    let mut databases: Vec<Database> = lock(instance)
        .databases()
        .iter()
        .filter(|database| {
            filter.as_ref().is_none_or(|(column, value)| matches(database, column, value))
        })
        .cloned()
        .collect();
    if let Some(("name", _)) = order {
        databases.sort_by_key(|database| database.name.to_lowercase());
    }
    let rows = databases
        .iter()
        .map(|database| wanted.iter().map(|(column, _)| cell(database, column)).collect())
        .collect();
    let columns = wanted.iter().map(|(name, ty)| Column::new(name, *ty)).collect();
    Ok(ResultSet { columns, rows })
}

/// `sys.databases`, or `db.sys.databases` from any database: the view is the same everywhere.
fn is_sys_databases(parts: &[String]) -> bool {
    let tail: Vec<String> = parts.iter().rev().take(2).map(|part| part.to_lowercase()).collect();
    parts.len() <= 3 && tail == ["databases", "sys"]
}

fn database_column(name: &str) -> Result<(&'static str, ColumnType), ServerMessage> {
    DATABASE_COLUMNS
        .iter()
        .find(|(column, _)| column.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| ServerMessage::invalid_column(name))
}

fn cell(database: &Database, column: &str) -> Value {
    match column {
        "name" => Value::Str(database.name.clone()),
        "database_id" => Value::Int(database.database_id),
        "create_date" => Value::Time(database.create_date),
        _ => Value::Str(database.state.as_str().to_owned()),
    }
}

/// `column = value` for one database, comparing text as the default collation does.
fn matches(database: &Database, column: &str, value: &Value) -> bool {
    match (cell(database, column), value) {
        (Value::Str(have), want) => want.to_text().is_some_and(|want| same_name(&have, &want)),
        (Value::Int(have), want) => want.to_int().ok().flatten() == Some(have),
        _ => false,
    }
}

fn select_values(values: Vec<Expr>, params: &Params) -> Result<ResultSet, ServerMessage> {
    let mut columns = Vec::new();
    let mut row = Vec::new();
    for expr in values {
        let value = resolve(expr, params)?;
        let ty = match value {
            Value::Int(_) | Value::Bool(_) => ColumnType::Int,
            _ => ColumnType::NVarChar(4000),
        };
        columns.push(Column::new("", ty));
        row.push(match value {
            Value::Bool(flag) => Value::Int(i64::from(flag)),
            other => other,
        });
    }
    Ok(ResultSet { columns, rows: vec![row] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(name: &str) -> Vec<String> {
        name.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn rds_procedures_resolve_from_msdb_or_fully_qualified() {
        let status = Some("rds_task_status");
        assert_eq!(resolve_procedure(&parts("msdb.dbo.rds_task_status"), "master"), status);
        assert_eq!(resolve_procedure(&parts("MSDB..RDS_TASK_STATUS"), "master"), status);
        assert_eq!(resolve_procedure(&parts("dbo.rds_task_status"), "msdb"), status);
        assert_eq!(resolve_procedure(&parts("rds_task_status"), "master"), None);
        assert_eq!(resolve_procedure(&parts("msdb.dbo.rds_nothing"), "master"), None);
    }
}
