//! [`LocalS3`]: the server started from inside a test, and stopped and wiped when dropped.

use std::net::Ipv4Addr;
use std::path::Path;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use s3s::service::S3Service;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::recorder::{RecordedRequest, RequestLog};
use crate::server::{ACCESS_KEY, REGION, SECRET_KEY, create_bucket_dir, s3_service, serve};

/// A running local S3-compatible server with a fresh, empty data directory.
///
/// It runs on a thread of its own with its own tokio runtime, so it serves the same whether the
/// test is a plain `#[test]` or a `#[tokio::test]` on a current-thread runtime. Dropping it
/// stops the server, waits for the thread, then removes the data directory.
///
/// Setting up is test code: anything that goes wrong panics with a message saying what.
#[derive(Debug)]
pub struct LocalS3 {
    endpoint: String,
    log: RequestLog,
    /// Taken on drop: sending on it (or dropping it) tells the server to stop.
    stop: Option<oneshot::Sender<()>>,
    /// Taken on drop, to wait for the server before its data directory goes.
    server: Option<JoinHandle<()>>,
    data: TempDir,
}

impl LocalS3 {
    /// Starts a server whose data directory is a fresh directory under the system's temporary
    /// directory.
    pub fn start() -> LocalS3 {
        Self::start_in(std::env::temp_dir())
    }

    /// Starts a server whose data directory is a fresh directory under `parent` (created if
    /// missing), for example somewhere in the cargo target directory.
    ///
    /// It returns once the server's port is listening: a connection made after that waits in
    /// the kernel's queue until the server thread takes it, it is never refused.
    pub fn start_in(parent: impl AsRef<Path>) -> LocalS3 {
        let parent = parent.as_ref();
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|err| panic!("cannot create `{}`: {err}", parent.display()));
        let data =
            tempfile::Builder::new().prefix("local-s3-").tempdir_in(parent).unwrap_or_else(|err| {
                panic!("cannot create a data directory in `{}`: {err}", parent.display())
            });
        let service = s3_service(data.path()).unwrap_or_else(|err| panic!("{err}"));

        // Bind here rather than on the server thread, so the port is known and listening
        // before this returns.
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|err| panic!("cannot listen on 127.0.0.1: {err}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|err| panic!("cannot make the listener non-blocking: {err}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("cannot read the listener's address: {err}"));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("local-s3-worker")
            .enable_all()
            .build()
            .unwrap_or_else(|err| panic!("cannot start a tokio runtime for local-s3: {err}"));
        let log = RequestLog::new();
        let (stop, stopped) = oneshot::channel();
        let server_log = log.clone();
        let server = thread::Builder::new()
            .name("local-s3".to_owned())
            .spawn(move || run(runtime, listener, service, server_log, stopped))
            .unwrap_or_else(|err| panic!("cannot start the local-s3 thread: {err}"));

        LocalS3 {
            endpoint: format!("http://{address}"),
            log,
            stop: Some(stop),
            server: Some(server),
            data,
        }
    }

    /// The base URL to send requests to: `http://127.0.0.1:PORT`. Use path-style addressing.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The access key the server accepts.
    pub fn access_key(&self) -> &'static str {
        ACCESS_KEY
    }

    /// The secret key the server accepts.
    pub fn secret_key(&self) -> &'static str {
        SECRET_KEY
    }

    /// The region to sign requests for.
    pub fn region(&self) -> &'static str {
        REGION
    }

    /// The directory the server keeps its buckets and objects in.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Creates bucket `name` directly on disk (if it does not exist), without a request, so it
    /// does not show in [`requests`](Self::requests). Panics on an invalid bucket name.
    pub fn create_bucket(&self, name: &str) {
        create_bucket_dir(self.data_dir(), name).unwrap_or_else(|err| panic!("{err}"));
    }

    /// Every request the server has received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.snapshot()
    }

    /// Forgets the requests received so far, for example after a test's setup.
    pub fn clear_requests(&self) {
        self.log.clear();
    }
}

impl Drop for LocalS3 {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the server has stopped already, which is what is wanted.
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            // A panic on the server thread has been printed already; panicking again in a drop
            // would only hide the test's own failure.
            let _ = server.join();
        }
        // `data` is removed when the fields drop, after the server is gone.
    }
}

/// The server thread: serves until told to stop, then shuts its runtime down here, because a
/// runtime cannot be dropped from inside the test's own async context.
fn run(
    runtime: Runtime,
    listener: std::net::TcpListener,
    service: S3Service,
    log: RequestLog,
    stopped: oneshot::Receiver<()>,
) {
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)
            .unwrap_or_else(|err| panic!("cannot hand the listener to tokio: {err}"));
        // A dropped sender means stop as well, so the result does not matter.
        let stop = async {
            let _ = stopped.await;
        };
        serve(listener, service, Some(log), stop).await;
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
}
