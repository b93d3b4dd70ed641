//! The state of the emulated RDS instance: its databases, its native-restore tasks and the
//! `SQLSERVER_BACKUP_RESTORE` option. It lives apart from any connection, so a client that
//! disconnects and comes back finds its task where it left it.
//!
//! A restore task moves on a compressed clock, one step per [`step`](Instance::step) (the
//! [`clock`](super::clock) thread calls [`Instance::advance`]):
//!
//! 1. `CREATED` when `rds_restore_database` accepts it;
//! 2. `IN_PROGRESS` at 0 % one step later, when the backup object is fetched from S3 (through
//!    the test's fetch function) and judged: missing, not a backup, or good. With a good
//!    backup the database appears in `sys.databases` as `RESTORING`, as it does while SQL
//!    Server runs a `RESTORE`;
//! 3. with a good backup, 25, 50 and 75 % on the next steps, then `SUCCESS` at 100 %: the
//!    database becomes `ONLINE`, or stays `RESTORING` when restored WITH NORECOVERY;
//!    with a missing object or a file that is not a backup, `ERROR` one step after
//!    `IN_PROGRESS`, with the reason in `task_info`, and no database.
//!
//! `rds_cancel_task` moves a `CREATED` or `IN_PROGRESS` task to `CANCEL_REQUESTED` at once and
//! to `CANCELLED` on the next step, removing the database it had started.

use std::time::{Duration, Instant, SystemTime};

use super::messages::ServerMessage;

/// The databases every RDS for SQL Server instance has, in `database_id` order.
const SYSTEM_DATABASES: [&str; 5] = ["master", "tempdb", "model", "msdb", "rdsadmin"];

/// The most backup/restore tasks an instance runs at once (documented).
const MAX_ACTIVE_TASKS: usize = 2;

/// How much `% complete` grows per step while a good restore runs.
const PROGRESS_PER_STEP: i64 = 25;

/// Reads a backup object: `(bucket, key)` to its bytes, or `None` when there is no such object.
pub type FetchObject = dyn Fn(&str, &str) -> Option<Vec<u8>> + Send + Sync;

/// The state of a database, as `sys.databases.state_desc` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatabaseState {
    Online,
    Restoring,
    Recovering,
    RecoveryPending,
    Suspect,
    Emergency,
    Offline,
}

impl DatabaseState {
    /// The text of `state_desc`: `ONLINE`, `RESTORING`...
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseState::Online => "ONLINE",
            DatabaseState::Restoring => "RESTORING",
            DatabaseState::Recovering => "RECOVERING",
            DatabaseState::RecoveryPending => "RECOVERY_PENDING",
            DatabaseState::Suspect => "SUSPECT",
            DatabaseState::Emergency => "EMERGENCY",
            DatabaseState::Offline => "OFFLINE",
        }
    }
}

/// Where a task is in its life, as `rds_task_status.lifecycle` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    Created,
    InProgress,
    Success,
    Error,
    CancelRequested,
    Cancelled,
}

impl Lifecycle {
    /// The text of the `lifecycle` column: `CREATED`, `IN_PROGRESS`...
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Created => "CREATED",
            Lifecycle::InProgress => "IN_PROGRESS",
            Lifecycle::Success => "SUCCESS",
            Lifecycle::Error => "ERROR",
            Lifecycle::CancelRequested => "CANCEL_REQUESTED",
            Lifecycle::Cancelled => "CANCELLED",
        }
    }

    /// Whether the task still counts against the limit of two at once.
    pub fn is_active(self) -> bool {
        matches!(self, Lifecycle::Created | Lifecycle::InProgress | Lifecycle::CancelRequested)
    }
}

/// A database of the instance, as `sys.databases` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// `name`, as created (comparisons ignore case).
    pub name: String,
    /// `database_id`: 1 to 5 for the system databases, then counting up.
    pub database_id: i64,
    /// `state_desc`.
    pub state: DatabaseState,
    /// `create_date`: when the emulator added it.
    pub create_date: SystemTime,
}

/// A native-restore task, as a row of `rds_task_status` reports it. The columns the emulator
/// always fills the same way (`duration (mins)`, computed on each call,
/// `overwrite_s3_backup_file` 0, `filepath` NULL, `overwrite_file` 0) are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreTask {
    /// `task_id`: 1 for the instance's first task, then counting up.
    pub task_id: i64,
    /// `task_type`: `RESTORE_DB`, `RESTORE_DB_NORECOVERY` or `RESTORE_DB_DIFFERENTIAL`.
    pub task_type: String,
    /// `database_name`, as the restore named it.
    pub database_name: String,
    /// `% complete`.
    pub percent_complete: i64,
    /// `lifecycle`.
    pub lifecycle: Lifecycle,
    /// `task_info`: NULL until the task succeeds or fails, then what happened.
    pub task_info: Option<String>,
    /// `last_updated`: the last change of lifecycle or progress.
    pub last_updated: SystemTime,
    /// `created_at`.
    pub created_at: SystemTime,
    /// `S3_object_arn`: the ARN the restore was asked for.
    pub s3_object_arn: String,
    /// `KMS_master_key_arn`, when the restore named one.
    pub kms_master_key_arn: Option<String>,
}

/// A validated `rds_restore_database` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestoreRequest {
    pub(crate) database: String,
    pub(crate) arn: String,
    pub(crate) with_norecovery: bool,
    pub(crate) differential: bool,
    pub(crate) kms_master_key_arn: Option<String>,
}

/// A fetch the clock must make, outside the lock, before a task can start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fetch {
    pub(crate) task_id: i64,
    pub(crate) bucket: String,
    pub(crate) key: String,
}

/// How a task's backup turned out, decided when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Restores,
    Fails(String),
}

#[derive(Debug)]
struct Task {
    public: RestoreTask,
    bucket: String,
    key: String,
    with_norecovery: bool,
    /// A differential restore works on a database that is there already.
    differential: bool,
    /// Decided when the task leaves CREATED.
    outcome: Option<Outcome>,
    /// When the task next moves.
    due: Instant,
    /// Whether this task put its database in `sys.databases` (to take it away on cancel);
    /// never for a differential restore, whose database was there before.
    added_database: bool,
}

/// The instance: everything that outlives a connection.
#[derive(Debug)]
pub(crate) struct Instance {
    databases: Vec<Database>,
    next_database_id: i64,
    tasks: Vec<Task>,
    option_enabled: bool,
    restore_requests: usize,
    paused: bool,
    step: Duration,
}

impl Instance {
    pub(crate) fn new(step: Duration, option_enabled: bool) -> Instance {
        let now = SystemTime::now();
        let databases = SYSTEM_DATABASES
            .iter()
            .zip(1..)
            .map(|(name, database_id)| Database {
                name: (*name).to_owned(),
                database_id,
                state: DatabaseState::Online,
                create_date: now,
            })
            .collect();
        Instance {
            databases,
            next_database_id: SYSTEM_DATABASES.len() as i64 + 1,
            tasks: Vec::new(),
            option_enabled,
            restore_requests: 0,
            paused: false,
            step,
        }
    }

    /// How long one step of a task takes.
    pub(crate) fn step(&self) -> Duration {
        self.step
    }

    pub(crate) fn databases(&self) -> &[Database] {
        &self.databases
    }

    pub(crate) fn database(&self, name: &str) -> Option<&Database> {
        self.databases.iter().find(|database| same_name(&database.name, name))
    }

    /// Adds a database (or changes the state of one with that name).
    pub(crate) fn add_database(&mut self, name: &str, state: DatabaseState) {
        if let Some(database) =
            self.databases.iter_mut().find(|database| same_name(&database.name, name))
        {
            database.state = state;
            return;
        }
        self.databases.push(Database {
            name: name.to_owned(),
            database_id: self.next_database_id,
            state,
            create_date: SystemTime::now(),
        });
        self.next_database_id += 1;
    }

    fn remove_database(&mut self, name: &str) {
        self.databases.retain(|database| !same_name(&database.name, name));
    }

    pub(crate) fn set_option_enabled(&mut self, enabled: bool) {
        self.option_enabled = enabled;
    }

    pub(crate) fn restore_requests(&self) -> usize {
        self.restore_requests
    }

    /// Stops (or restarts) the clock: while paused no task moves.
    pub(crate) fn set_paused(&mut self, paused: bool) {
        if self.paused && !paused {
            let due = Instant::now() + self.step;
            for task in &mut self.tasks {
                task.due = due;
            }
        }
        self.paused = paused;
    }

    pub(crate) fn tasks(&self) -> Vec<RestoreTask> {
        self.tasks.iter().map(|task| task.public.clone()).collect()
    }

    /// `rds_restore_database`: checks the request as RDS does, then queues a task.
    pub(crate) fn restore(
        &mut self,
        procedure: &str,
        request: RestoreRequest,
    ) -> Result<RestoreTask, ServerMessage> {
        if !self.option_enabled {
            return Err(ServerMessage::option_not_enabled(procedure));
        }
        if request.arn.is_empty() {
            return Err(ServerMessage::empty_arn(procedure));
        }
        let (bucket, key) = parse_s3_arn(&request.arn)
            .ok_or_else(|| ServerMessage::invalid_arn(procedure, &request.arn))?;
        if !valid_database_name(&request.database) {
            return Err(ServerMessage::invalid_database_name(procedure, &request.database));
        }
        self.check_target(procedure, &request)?;
        if self.tasks.iter().filter(|task| task.public.lifecycle.is_active()).count()
            >= MAX_ACTIVE_TASKS
        {
            return Err(ServerMessage::too_many_tasks(procedure));
        }

        let now = SystemTime::now();
        let task_type = match (request.differential, request.with_norecovery) {
            (true, _) => "RESTORE_DB_DIFFERENTIAL",
            (false, true) => "RESTORE_DB_NORECOVERY",
            (false, false) => "RESTORE_DB",
        };
        let public = RestoreTask {
            task_id: self.tasks.len() as i64 + 1,
            task_type: task_type.to_owned(),
            database_name: request.database,
            percent_complete: 0,
            lifecycle: Lifecycle::Created,
            task_info: None,
            last_updated: now,
            created_at: now,
            s3_object_arn: request.arn,
            kms_master_key_arn: request.kms_master_key_arn,
        };
        self.tasks.push(Task {
            public: public.clone(),
            bucket,
            key,
            with_norecovery: request.with_norecovery,
            differential: request.differential,
            outcome: None,
            due: Instant::now() + self.step,
            added_database: false,
        });
        self.restore_requests += 1;
        Ok(public)
    }

    /// A full restore needs a name no database and no running task has; a differential one
    /// needs a database waiting in RESTORING that no running task is busy with.
    fn check_target(&self, procedure: &str, request: &RestoreRequest) -> Result<(), ServerMessage> {
        let busy = self.tasks.iter().any(|task| {
            task.public.lifecycle.is_active()
                && same_name(&task.public.database_name, &request.database)
        });
        let existing = self.database(&request.database);
        if request.differential {
            match existing {
                Some(database) if database.state == DatabaseState::Restoring && !busy => Ok(()),
                _ => Err(ServerMessage::not_restoring(procedure, &request.database)),
            }
        } else if existing.is_some() || busy {
            Err(ServerMessage::database_exists(procedure, &request.database))
        } else {
            Ok(())
        }
    }

    /// `rds_cancel_task`.
    pub(crate) fn cancel(&mut self, procedure: &str, task_id: i64) -> Result<(), ServerMessage> {
        let step = self.step;
        let task = self
            .tasks
            .iter_mut()
            .find(|task| task.public.task_id == task_id)
            .ok_or_else(|| ServerMessage::no_such_task(procedure, task_id))?;
        match task.public.lifecycle {
            Lifecycle::Created | Lifecycle::InProgress => {
                set_lifecycle(task, Lifecycle::CancelRequested, SystemTime::now());
                task.due = Instant::now() + step;
                Ok(())
            }
            Lifecycle::CancelRequested => Ok(()),
            done => Err(ServerMessage::task_finished(procedure, task_id, done.as_str())),
        }
    }

    /// The fetches due now: tasks about to leave CREATED. The clock makes them without holding
    /// the lock, then hands the bytes to [`advance`](Self::advance).
    pub(crate) fn due_fetches(&self, now: Instant) -> Vec<Fetch> {
        if self.paused {
            return Vec::new();
        }
        self.tasks
            .iter()
            .filter(|task| task.public.lifecycle == Lifecycle::Created && task.due <= now)
            .map(|task| Fetch {
                task_id: task.public.task_id,
                bucket: task.bucket.clone(),
                key: task.key.clone(),
            })
            .collect()
    }

    /// Moves every task that is due by one step. `fetched` holds the objects of the tasks
    /// [`due_fetches`](Self::due_fetches) named (None for a missing object); a CREATED task
    /// whose object is not among them waits for the next tick.
    pub(crate) fn advance(&mut self, now: Instant, fetched: &[(i64, Option<Vec<u8>>)]) {
        if self.paused {
            return;
        }
        let wall = SystemTime::now();
        let step = self.step;
        let mut appeared = Vec::new();
        let mut finished = Vec::new();
        let mut dropped = Vec::new();
        for task in self.tasks.iter_mut().filter(|task| task.due <= now) {
            let object = fetched.iter().find(|(id, _)| *id == task.public.task_id);
            if task.public.lifecycle == Lifecycle::Created && object.is_none() {
                continue;
            }
            task.due = now + step;
            match task.public.lifecycle {
                Lifecycle::Created => {
                    let object = object.and_then(|(_, object)| object.as_deref());
                    task.outcome = Some(judge(object, &task.public.s3_object_arn));
                    set_lifecycle(task, Lifecycle::InProgress, wall);
                    if task.outcome == Some(Outcome::Restores) && !task.differential {
                        task.added_database = true;
                        appeared.push(task.public.database_name.clone());
                    }
                }
                Lifecycle::InProgress => match task.outcome.clone() {
                    Some(Outcome::Fails(info)) => {
                        task.public.task_info = Some(info);
                        set_lifecycle(task, Lifecycle::Error, wall);
                    }
                    _ if task.public.percent_complete + PROGRESS_PER_STEP >= 100 => {
                        task.public.percent_complete = 100;
                        task.public.task_info = Some(success_info(&task.public));
                        set_lifecycle(task, Lifecycle::Success, wall);
                        let state = if task.with_norecovery {
                            DatabaseState::Restoring
                        } else {
                            DatabaseState::Online
                        };
                        finished.push((task.public.database_name.clone(), state));
                    }
                    _ => {
                        task.public.percent_complete += PROGRESS_PER_STEP;
                        task.public.last_updated = wall;
                    }
                },
                Lifecycle::CancelRequested => {
                    set_lifecycle(task, Lifecycle::Cancelled, wall);
                    if task.added_database {
                        dropped.push(task.public.database_name.clone());
                    }
                }
                Lifecycle::Success | Lifecycle::Error | Lifecycle::Cancelled => {}
            }
        }
        for name in appeared {
            self.add_database(&name, DatabaseState::Restoring);
        }
        for (name, state) in finished {
            self.add_database(&name, state);
        }
        for name in dropped {
            self.remove_database(&name);
        }
    }
}

fn set_lifecycle(task: &mut Task, lifecycle: Lifecycle, now: SystemTime) {
    task.public.lifecycle = lifecycle;
    task.public.last_updated = now;
}

/// Decides how a restore from `object` ends. An uncompressed backup starts with the MTF `TAPE`
/// block, a compressed one with `MSSQLBAK`; anything else is not a backup.
fn judge(object: Option<&[u8]>, arn: &str) -> Outcome {
    // These texts are representative of what RDS writes to task_info, composed from pieces of
    // RDS and SQL Server messages; they are not quoted from documentation.
    match object {
        None => Outcome::Fails(format!(
            "Aborted the task because of a task failure or a concurrent RESTORE_DB request.\n\
             Task has been aborted\n\
             Error making request with Error Code Not Found and Http Status Code NotFound. \
             No further information is available. (object {arn})"
        )),
        Some(bytes) if bytes.starts_with(b"TAPE") || bytes.starts_with(b"MSSQLBAK") => {
            Outcome::Restores
        }
        Some(_) => Outcome::Fails(format!(
            "Aborted the task because of a task failure or a concurrent RESTORE_DB request.\n\
             Task has been aborted\n\
             The file {arn} is not a valid SQL Server backup: the media family on the device \
             is incorrectly formed. SQL Server cannot process this media family.\n\
             RESTORE DATABASE is terminating abnormally."
        )),
    }
}

/// The task_info of a successful restore. Representative, not quoted from documentation.
fn success_info(task: &RestoreTask) -> String {
    format!(
        "Task execution has started.\n\
         RESTORE DATABASE successfully processed the backup {}.\n\
         Task has been completed successfully.",
        task.s3_object_arn
    )
}

/// Database names compare as the instance's default collation does: ignoring case. (SQL
/// Server's CI_AS collations are accent-sensitive; RDS's message speaks of accents too, which
/// the emulator does not fold.)
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// The documented limits on a restored database's name.
fn valid_database_name(name: &str) -> bool {
    !name.is_empty()
        && !name.to_lowercase().starts_with("rdsadmin")
        && name.trim() == name
        && !name.contains(['\'', '\n', '\r'])
}

/// `arn:PARTITION:s3:::bucket/key` to `(bucket, key)`.
pub(crate) fn parse_s3_arn(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("s3"), Some(""), Some(""), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if !partition.starts_with("aws") {
        return None;
    }
    let (bucket, key) = resource.split_once('/')?;
    if bucket.is_empty() || key.is_empty() {
        return None;
    }
    Some((bucket.to_owned(), key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: Duration = Duration::from_millis(10);

    fn request(database: &str) -> RestoreRequest {
        RestoreRequest {
            database: database.to_owned(),
            arn: "arn:aws:s3:::bucket/dir/db.bak".to_owned(),
            with_norecovery: false,
            differential: false,
            kms_master_key_arn: None,
        }
    }

    /// Runs the clock by hand until the task settles, handing it `object`.
    fn run(instance: &mut Instance, object: Option<&[u8]>) -> RestoreTask {
        let mut now = Instant::now();
        for _ in 0..10 {
            now += STEP;
            let fetched: Vec<_> = instance
                .due_fetches(now)
                .into_iter()
                .map(|fetch| (fetch.task_id, object.map(<[u8]>::to_vec)))
                .collect();
            instance.advance(now, &fetched);
        }
        instance.tasks().pop().unwrap()
    }

    #[test]
    fn arns_name_a_bucket_and_a_key() {
        assert_eq!(
            parse_s3_arn("arn:aws:s3:::b/k/x.bak"),
            Some(("b".to_owned(), "k/x.bak".to_owned()))
        );
        assert_eq!(parse_s3_arn("arn:aws:s3:::b"), None);
        assert_eq!(parse_s3_arn("s3://b/k"), None);
    }

    #[test]
    fn a_good_backup_restores_and_the_database_comes_online() {
        let mut instance = Instance::new(STEP, true);
        instance.restore("p", request("Sales")).unwrap();
        let task = run(&mut instance, Some(b"TAPE...."));
        assert_eq!((task.lifecycle, task.percent_complete), (Lifecycle::Success, 100));
        assert_eq!(instance.database("sales").unwrap().state, DatabaseState::Online);
    }

    #[test]
    fn a_missing_object_ends_in_error_without_a_database() {
        let mut instance = Instance::new(STEP, true);
        instance.restore("p", request("Sales")).unwrap();
        let task = run(&mut instance, None);
        assert_eq!(task.lifecycle, Lifecycle::Error);
        assert!(task.task_info.unwrap().contains("Not Found"));
        assert!(instance.database("Sales").is_none());
    }

    #[test]
    fn names_differing_only_by_case_clash() {
        let mut instance = Instance::new(STEP, true);
        instance.add_database("Sales", DatabaseState::Online);
        let refused = instance.restore("p", request("SALES")).unwrap_err();
        assert!(refused.text.starts_with("Database 'SALES' already exists."), "{refused:?}");
    }

    #[test]
    fn a_differential_restore_finishes_what_a_norecovery_one_started() {
        let mut instance = Instance::new(STEP, true);
        let differential = RestoreRequest { differential: true, ..request("Sales") };
        let refused = instance.restore("p", differential.clone()).unwrap_err();
        assert!(refused.text.contains("not in the RESTORING state"), "{refused:?}");

        instance
            .restore("p", RestoreRequest { with_norecovery: true, ..request("Sales") })
            .unwrap();
        run(&mut instance, Some(b"TAPE"));
        assert_eq!(instance.database("Sales").unwrap().state, DatabaseState::Restoring);

        instance.restore("p", differential).unwrap();
        let task = run(&mut instance, Some(b"TAPE"));
        assert_eq!(
            (task.task_type.as_str(), task.lifecycle),
            ("RESTORE_DB_DIFFERENTIAL", Lifecycle::Success)
        );
        assert_eq!(instance.database("Sales").unwrap().state, DatabaseState::Online);
    }
}
