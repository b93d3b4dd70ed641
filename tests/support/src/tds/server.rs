//! [`TdsServer`]: the emulator started from inside a test, and what it is configured with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_rustls::rustls::ServerConfig;

use super::clock::{Clock, lock};
use super::connection;
use super::rds::{Database, DatabaseState, FetchObject, Instance, RestoreTask};
use super::tls::{ServerCertificate, TestPki};
use crate::background::Background;

/// The login [`TdsServer::start`] accepts, named like the default RDS master user.
pub const DEFAULT_USER: &str = "admin";

/// The password of [`DEFAULT_USER`].
pub const DEFAULT_PASSWORD: &str = "Emulator-Passw0rd";

/// How long one step of a restore task takes unless the test says otherwise.
const DEFAULT_STEP: Duration = Duration::from_millis(200);

/// What the server offers in PRELOGIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encryption {
    /// No TLS at all. Clients must ask for `EncryptionLevel::NotSupported`: tiberius 0.13
    /// turns a client's `Off` into a TLS handshake whatever the server answers.
    NotSupported,
    /// TLS when the client wants it: everything encrypted for `On`/`Required`, the login
    /// only for `Off`, nothing for `NotSupported`. This is how an RDS instance without
    /// `rds.force_ssl` behaves.
    #[default]
    On,
    /// TLS always, as with `rds.force_ssl = 1`: a client that cannot encrypt is turned away.
    Required,
}

/// How a [`TdsServer`] is set up. Start from [`TdsServer::builder`].
pub struct TdsServerBuilder {
    logins: Vec<(String, String)>,
    encryption: Encryption,
    certificate: ServerCertificate,
    step: Duration,
    fetch: Option<Arc<FetchObject>>,
    option_enabled: bool,
}

impl std::fmt::Debug for TdsServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TdsServerBuilder")
            .field("users", &self.logins.iter().map(|(user, _)| user).collect::<Vec<_>>())
            .field("encryption", &self.encryption)
            .field("certificate", &self.certificate)
            .field("step", &self.step)
            .field("option_enabled", &self.option_enabled)
            .finish_non_exhaustive()
    }
}

impl TdsServerBuilder {
    /// Accepts SQL login `user` with `password`. User names match ignoring case, passwords
    /// exactly.
    pub fn login(mut self, user: &str, password: &str) -> TdsServerBuilder {
        self.logins.push((user.to_owned(), password.to_owned()));
        self
    }

    /// What the server offers in PRELOGIN; [`Encryption::On`] unless set.
    pub fn encryption(mut self, encryption: Encryption) -> TdsServerBuilder {
        self.encryption = encryption;
        self
    }

    /// Which CA signs the server's certificate; the test CA unless set.
    pub fn certificate(mut self, certificate: ServerCertificate) -> TdsServerBuilder {
        self.certificate = certificate;
        self
    }

    /// How long each step of a restore task takes (200 ms unless set). A good restore takes
    /// five steps, a failing one two.
    pub fn step(mut self, step: Duration) -> TdsServerBuilder {
        self.step = step;
        self
    }

    /// How the emulator reads a backup object when a restore starts: `(bucket, key)` to its
    /// bytes, `None` when there is no such object. Without one every object is missing.
    /// [`objects_in_dir`](super::objects_in_dir) reads a [`LocalS3`](crate::LocalS3)'s data.
    pub fn fetch(
        mut self,
        fetch: impl Fn(&str, &str) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> TdsServerBuilder {
        self.fetch = Some(Arc::new(fetch));
        self
    }

    /// Whether the instance's option group has `SQLSERVER_BACKUP_RESTORE` (it has unless
    /// set).
    pub fn backup_restore_option(mut self, enabled: bool) -> TdsServerBuilder {
        self.option_enabled = enabled;
        self
    }

    /// Starts the server. It returns once the port is listening; setting up is test code, so
    /// anything that goes wrong panics with a message saying what.
    pub fn start(self) -> TdsServer {
        let pki = match self.encryption {
            Encryption::NotSupported => None,
            Encryption::On | Encryption::Required => Some(TestPki::generate(self.certificate)),
        };
        let logins = self
            .logins
            .into_iter()
            .map(|(user, password)| (user.to_lowercase(), (user, password)))
            .collect();
        let instance = Arc::new(Mutex::new(Instance::new(self.step, self.option_enabled)));
        let shared = Arc::new(Shared {
            logins: Mutex::new(logins),
            instance: Arc::clone(&instance),
            encryption: self.encryption,
            tls: pki.as_ref().map(|pki| Arc::clone(&pki.config)),
            spids: AtomicU16::new(51),
        });

        let fetch = self.fetch.unwrap_or_else(|| Arc::new(|_: &str, _: &str| None));
        let clock = Clock::start(instance, fetch);
        let accepting = Arc::clone(&shared);
        let server = Background::start("tds", move |listener, mut shutdown| async move {
            loop {
                tokio::select! {
                    () = &mut shutdown => break,
                    accepted = listener.accept() => {
                        // A failed accept (out of descriptors, a reset) affects only that
                        // client.
                        if let Ok((tcp, _)) = accepted {
                            tokio::spawn(connection::serve(tcp, Arc::clone(&accepting)));
                        }
                    }
                }
            }
        });
        TdsServer { server, _clock: clock, shared, ca_pem: pki.map(|pki| pki.ca_pem) }
    }
}

/// A running emulator of an RDS for SQL Server instance's native-restore procedures, speaking
/// TDS 7.4 on 127.0.0.1. See the [module documentation](super) for what it does and does not.
///
/// It runs on a thread of its own with its own tokio runtime, plus a clock thread that moves
/// restore tasks along; dropping it stops both. The instance's state (databases, tasks)
/// belongs to the server, not to a connection: a client may drop its connection and find the
/// same tasks when it comes back.
#[derive(Debug)]
pub struct TdsServer {
    /// Declared first so that the server stops before the clock.
    server: Background,
    /// Held only to keep the clock running: dropping it stops the thread.
    _clock: Clock,
    shared: Arc<Shared>,
    ca_pem: Option<String>,
}

impl TdsServer {
    /// A builder with no logins, [`Encryption::On`], the test CA, 200 ms steps, no objects to
    /// restore from, and the backup/restore option enabled.
    pub fn builder() -> TdsServerBuilder {
        TdsServerBuilder {
            logins: Vec::new(),
            encryption: Encryption::default(),
            certificate: ServerCertificate::default(),
            step: DEFAULT_STEP,
            fetch: None,
            option_enabled: true,
        }
    }

    /// A server with the builder's defaults and the login [`DEFAULT_USER`] /
    /// [`DEFAULT_PASSWORD`].
    pub fn start() -> TdsServer {
        TdsServer::builder().login(DEFAULT_USER, DEFAULT_PASSWORD).start()
    }

    /// The address to connect to: `127.0.0.1:PORT`.
    pub fn address(&self) -> SocketAddr {
        // The background server reports itself as a URL (`http://127.0.0.1:PORT`), which
        // always holds a socket address.
        let endpoint = self.server.endpoint();
        let address = endpoint.trim_start_matches("http://");
        address.parse().unwrap_or_else(|err| panic!("unexpected endpoint `{endpoint}`: {err}"))
    }

    /// The host to connect to: `127.0.0.1`. The certificate also names `localhost`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.address().port()
    }

    /// The test CA's certificate (PEM), for a client to trust (tiberius:
    /// `Config::trust_cert_ca_bundle`); `None` when the server has no TLS. With
    /// [`ServerCertificate::OtherCa`] this is still the test CA, which did not sign the
    /// server's certificate.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Every restore task so far, oldest first.
    pub fn tasks(&self) -> Vec<RestoreTask> {
        lock(&self.shared.instance).tasks()
    }

    /// How many `rds_restore_database` calls created a task.
    pub fn restore_requests(&self) -> usize {
        lock(&self.shared.instance).restore_requests()
    }

    /// Every database of the instance, the system ones included, in `database_id` order.
    pub fn databases(&self) -> Vec<Database> {
        lock(&self.shared.instance).databases().to_vec()
    }

    /// Adds a database, for example one that someone else restored, or changes the state of
    /// the database of that name.
    pub fn add_database(&self, name: &str, state: DatabaseState) {
        lock(&self.shared.instance).add_database(name, state);
    }

    /// Adds (or removes) the `SQLSERVER_BACKUP_RESTORE` option.
    pub fn set_option_enabled(&self, enabled: bool) {
        lock(&self.shared.instance).set_option_enabled(enabled);
    }

    /// Stops the clock: no task moves until [`resume_tasks`](Self::resume_tasks). For tests
    /// that need tasks to stay where they are, such as two restores in flight.
    pub fn pause_tasks(&self) {
        lock(&self.shared.instance).set_paused(true);
    }

    /// Restarts the clock; every task moves one step later.
    pub fn resume_tasks(&self) {
        lock(&self.shared.instance).set_paused(false);
    }

    /// Accepts another SQL login (or changes its password).
    pub fn add_login(&self, user: &str, password: &str) {
        let mut logins = self.shared.logins.lock().unwrap_or_else(PoisonError::into_inner);
        logins.insert(user.to_lowercase(), (user.to_owned(), password.to_owned()));
    }

    /// The user names the server accepts, sorted.
    pub fn logins(&self) -> Vec<String> {
        let logins = self.shared.logins.lock().unwrap_or_else(PoisonError::into_inner);
        let mut users: Vec<String> = logins.values().map(|(user, _)| user.clone()).collect();
        users.sort();
        users
    }
}

/// What every connection shares: the configuration and the instance.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Lower-case user name to (user name, password).
    logins: Mutex<HashMap<String, (String, String)>>,
    pub(crate) instance: Arc<Mutex<Instance>>,
    pub(crate) encryption: Encryption,
    pub(crate) tls: Option<Arc<ServerConfig>>,
    /// The next session id, shown in packet headers.
    spids: AtomicU16,
}

impl Shared {
    pub(crate) fn next_spid(&self) -> u16 {
        self.spids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn password_matches(&self, user: &str, password: &str) -> bool {
        let logins = self.logins.lock().unwrap_or_else(PoisonError::into_inner);
        logins.get(&user.to_lowercase()).is_some_and(|(_, expected)| expected == password)
    }

    /// The name of the database called `name` (ignoring case), if there is one.
    pub(crate) fn database_name(&self, name: &str) -> Option<String> {
        lock(&self.instance).database(name).map(|database| database.name.clone())
    }
}
