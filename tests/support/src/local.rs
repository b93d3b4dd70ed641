//! [`LocalS3`]: the server started from inside a test, and stopped and wiped when dropped.

use std::path::Path;

use tempfile::TempDir;

use crate::background::Background;
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
    log: RequestLog,
    /// Declared before `data`, so that on drop the server stops before its data directory
    /// goes.
    server: Background,
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

        let log = RequestLog::new();
        let server_log = log.clone();
        let server = Background::start("local-s3", move |listener, shutdown| {
            serve(listener, service, Some(server_log), shutdown)
        });
        LocalS3 { log, server, data }
    }

    /// The base URL to send requests to: `http://127.0.0.1:PORT`. Use path-style addressing.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
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
