//! Every error the emulator sends, with its number, severity and text, in one place so that a
//! reader can see which texts come from documentation and which are the emulator's choice.
//!
//! Numbers below 50000 are SQL Server's own system messages, with SQL Server's wording. The RDS
//! procedures raise their errors with `RAISERROR` and a message string, which SQL Server reports
//! as number 50000; the texts quoted in the RDS user guide are used word for word, and the few
//! the guide does not give are marked as the emulator's own.

/// An ERROR token's content: what a client sees as `tiberius::error::Error::Server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerMessage {
    /// The message number (`TokenError::code` in tiberius).
    pub(crate) number: u32,
    /// The state, a modifier of the number.
    pub(crate) state: u8,
    /// The severity: 10 or less is information, 11 to 16 are errors the user can correct.
    pub(crate) class: u8,
    /// The text.
    pub(crate) text: String,
    /// The procedure that raised it, or empty.
    pub(crate) procedure: String,
}

/// The number SQL Server gives a `RAISERROR` with a message string instead of a number.
const RAISERROR: u32 = 50000;

impl ServerMessage {
    fn new(number: u32, class: u8, text: impl Into<String>) -> ServerMessage {
        ServerMessage { number, state: 1, class, text: text.into(), procedure: String::new() }
    }

    /// A message raised by one of the RDS procedures.
    fn rds(procedure: &str, text: impl Into<String>) -> ServerMessage {
        ServerMessage { procedure: procedure.to_owned(), ..ServerMessage::new(RAISERROR, 16, text) }
    }

    /// 18456: the login does not exist or the password is wrong. SQL Server says the same in
    /// both cases, on purpose.
    pub(crate) fn login_failed(user: &str) -> ServerMessage {
        ServerMessage::new(18456, 14, format!("Login failed for user '{user}'."))
    }

    /// 4060: the database named in the login does not exist.
    pub(crate) fn cannot_open_database(database: &str) -> ServerMessage {
        ServerMessage::new(
            4060,
            11,
            format!(
                "Cannot open database \"{database}\" requested by the login. The login failed."
            ),
        )
    }

    /// 911: `USE` of a database that does not exist.
    pub(crate) fn database_does_not_exist(database: &str) -> ServerMessage {
        ServerMessage::new(
            911,
            16,
            format!(
                "Database '{database}' does not exist. Make sure that the name is entered \
                 correctly."
            ),
        )
    }

    /// 102: a statement the emulator cannot parse.
    pub(crate) fn syntax_near(near: &str) -> ServerMessage {
        ServerMessage::new(102, 15, format!("Incorrect syntax near '{near}'."))
    }

    /// 2812: `EXEC` of a procedure the emulator does not have.
    pub(crate) fn no_such_procedure(name: &str) -> ServerMessage {
        ServerMessage::new(2812, 16, format!("Could not find stored procedure '{name}'."))
    }

    /// 208: a `SELECT` from a table or view the emulator does not have.
    pub(crate) fn invalid_object(name: &str) -> ServerMessage {
        ServerMessage::new(208, 16, format!("Invalid object name '{name}'."))
    }

    /// 207: a column `sys.databases` does not have (here).
    pub(crate) fn invalid_column(name: &str) -> ServerMessage {
        ServerMessage::new(207, 16, format!("Invalid column name '{name}'."))
    }

    /// 137: a `@variable` used in the statement but not bound to a parameter.
    pub(crate) fn undeclared_variable(name: &str) -> ServerMessage {
        ServerMessage::new(137, 15, format!("Must declare the scalar variable \"{name}\"."))
    }

    /// 8145: a named argument the procedure does not declare.
    pub(crate) fn not_a_parameter(argument: &str, procedure: &str) -> ServerMessage {
        ServerMessage::new(
            8145,
            16,
            format!("{argument} is not a parameter for procedure {procedure}."),
        )
    }

    /// 201: a required argument that was not passed.
    pub(crate) fn missing_parameter(procedure: &str, parameter: &str) -> ServerMessage {
        ServerMessage::new(
            201,
            16,
            format!(
                "Procedure or function '{procedure}' expects parameter '{parameter}', which was \
                 not supplied."
            ),
        )
    }

    /// 8114: an argument of the wrong type, such as text where a number is expected.
    pub(crate) fn conversion(procedure: &str, parameter: &str) -> ServerMessage {
        ServerMessage::new(
            8114,
            16,
            format!(
                "Error converting data type to the type of parameter {parameter} of {procedure}."
            ),
        )
    }

    /// 3902: `COMMIT` outside a transaction.
    pub(crate) fn commit_without_begin() -> ServerMessage {
        ServerMessage::new(
            3902,
            16,
            "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.",
        )
    }

    /// 3903: `ROLLBACK` outside a transaction.
    pub(crate) fn rollback_without_begin() -> ServerMessage {
        ServerMessage::new(
            3903,
            16,
            "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.",
        )
    }

    /// A request the emulator does not implement at all (bulk load, prepared statements,
    /// cursors, a parameter type it cannot decode). Not a SQL Server message: the number is
    /// RAISERROR's and the text starts with `emulator:` so that nobody mistakes it for one.
    pub(crate) fn unsupported(what: &str) -> ServerMessage {
        ServerMessage::new(RAISERROR, 16, format!("emulator: {what} is not supported"))
    }

    /// The option group has no `SQLSERVER_BACKUP_RESTORE` option (yet). Documented text.
    pub(crate) fn option_not_enabled(procedure: &str) -> ServerMessage {
        ServerMessage::rds(
            procedure,
            "Database backup/restore option is not enabled yet or is in the process of being \
             enabled. Please try again later.",
        )
    }

    /// A restore onto a name that exists already. Documented text.
    pub(crate) fn database_exists(procedure: &str, database: &str) -> ServerMessage {
        ServerMessage::rds(
            procedure,
            format!(
                "Database '{database}' already exists. Two databases that differ only by case or \
                 accent are not allowed. Choose a different database name."
            ),
        )
    }

    /// A third backup/restore task while two are in flight. The limit is documented; this text
    /// is the emulator's own, the documentation does not quote one.
    pub(crate) fn too_many_tasks(procedure: &str) -> ServerMessage {
        ServerMessage::rds(
            procedure,
            "There are already 2 backup or restore tasks in progress on this instance, the most \
             that can run at once. Wait for one of them to finish, then try again.",
        )
    }

    /// An empty `@s3_arn_to_restore_from`. The emulator's own text.
    pub(crate) fn empty_arn(procedure: &str) -> ServerMessage {
        ServerMessage::rds(procedure, "The S3 ARN to restore from must not be empty.")
    }

    /// An `@s3_arn_to_restore_from` that is not `arn:aws:s3:::bucket/key`. The emulator's own
    /// text.
    pub(crate) fn invalid_arn(procedure: &str, arn: &str) -> ServerMessage {
        ServerMessage::rds(
            procedure,
            format!(
                "'{arn}' is not a valid S3 ARN. Use the form arn:aws:s3:::bucket_name/object_key."
            ),
        )
    }

    /// A database name the RDS limits rule out (leading `rdsadmin`, surrounding whitespace, a
    /// quote or a line break). The limits are documented; this text is the emulator's own.
    pub(crate) fn invalid_database_name(procedure: &str, database: &str) -> ServerMessage {
        ServerMessage::rds(
            procedure,
            format!(
                "'{database}' is not a valid database name: it must not start with rdsadmin, \
                 start or end with whitespace, or contain a quote or a line break."
            ),
        )
    }

    /// An `@type` other than FULL or DIFFERENTIAL. The emulator's own text.
    pub(crate) fn invalid_restore_type(procedure: &str, value: &str) -> ServerMessage {
        ServerMessage::rds(
            procedure,
            format!("'{value}' is not a valid @type: use FULL or DIFFERENTIAL."),
        )
    }

    /// A differential restore onto a database that is not waiting in RESTORING. The emulator's
    /// own text.
    pub(crate) fn not_restoring(procedure: &str, database: &str) -> ServerMessage {
        ServerMessage::rds(
            procedure,
            format!(
                "Database '{database}' is not in the RESTORING state: a differential restore \
                 needs a full restore made WITH NORECOVERY first."
            ),
        )
    }

    /// `rds_cancel_task` on a task id that does not exist. The emulator's own text.
    pub(crate) fn no_such_task(procedure: &str, task_id: i64) -> ServerMessage {
        ServerMessage::rds(procedure, format!("Task {task_id} does not exist."))
    }

    /// `rds_cancel_task` on a task that has finished. The emulator's own text.
    pub(crate) fn task_finished(procedure: &str, task_id: i64, lifecycle: &str) -> ServerMessage {
        ServerMessage::rds(
            procedure,
            format!("Task {task_id} cannot be cancelled: it is {lifecycle}."),
        )
    }

    /// An RDS procedure called inside a transaction. The documentation says they may not run
    /// in one; the text is the emulator's own.
    pub(crate) fn inside_transaction(procedure: &str) -> ServerMessage {
        ServerMessage::rds(
            procedure,
            format!(
                "{procedure} cannot be run inside a transaction. Commit or roll it back first."
            ),
        )
    }
}
