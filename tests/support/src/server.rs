//! The server itself: s3s-fs over a data directory, behind SigV4 with the test credentials,
//! served over HTTP/1 and HTTP/2 on a listener until told to stop.
//!
//! [`LocalS3`](crate::LocalS3) and the `local-s3` binary both serve through here, and
//! [`LocalSts`](crate::LocalSts) shares its connection loop.

use std::error::Error;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s_fs::FileSystem;
use tokio::net::TcpListener;

use crate::recorder::{Recording, RequestLog};

/// The access key the server accepts. A fake, local value.
pub const ACCESS_KEY: &str = "release-test";

/// The secret key the server accepts. A fake, local value.
pub const SECRET_KEY: &str = "release-test-secret-not-a-real-key";

/// The region clients should sign for. The server checks signatures with whatever region the
/// client signed for, so this only has to be some region.
pub const REGION: &str = "us-east-1";

/// How long open connections get to finish their requests once the server is told to stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the S3 service over `root`, which must exist. Buckets are its subdirectories.
pub fn s3_service(root: &Path) -> io::Result<S3Service> {
    // s3s-fs's error type carries an io::Error here (the root cannot be resolved or read), but
    // only shows it through Debug.
    let store = FileSystem::new(root).map_err(|err| {
        let message = format!("cannot serve data directory `{}`: {err:?}", root.display());
        io::Error::other(message)
    })?;
    let mut builder = S3ServiceBuilder::new(store);
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    Ok(builder.build())
}

/// Creates bucket `name` under the data directory `root`, unless it exists already.
///
/// s3s-fs has no bucket records of its own: a bucket is a directory directly under the root
/// (its `create_bucket` makes one, `list_buckets` lists them), so a directory is enough.
pub fn create_bucket_dir(root: &Path, name: &str) -> io::Result<PathBuf> {
    if !s3s::path::check_bucket_name(name) {
        let message = format!("`{name}` is not a valid bucket name");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    }
    let path = root.join(name);
    std::fs::create_dir_all(&path).map_err(|err| {
        io::Error::new(err.kind(), format!("cannot create bucket `{name}`: {err}"))
    })?;
    Ok(path)
}

/// Serves `service` on `listener` until `shutdown` completes, then gives open connections a
/// few seconds to finish. Each request is written to `log` first, when there is one.
pub async fn serve(
    listener: TcpListener,
    service: S3Service,
    log: Option<RequestLog>,
    shutdown: impl Future<Output = ()>,
) {
    serve_until("local-s3", listener, Recording::new(service, log), shutdown).await;
}

/// The connection loop behind every testkit server: accepts connections on `listener` and
/// serves each with `service` over HTTP/1 or HTTP/2 until `shutdown` completes, then gives the
/// open ones a few seconds to finish. `name` prefixes the few problems it reports on stderr.
pub(crate) async fn serve_until<S, B>(
    name: &str,
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    let connections = ConnectionBuilder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.as_mut() => break,
        };
        let socket = match accepted {
            Ok((socket, _peer)) => socket,
            Err(err) => {
                // Usually out of file descriptors: back off rather than spin.
                eprintln!("{name}: cannot accept a connection: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small requests and replies should not wait on Nagle's algorithm.
        let _ = socket.set_nodelay(true);
        let connection = connections.serve_connection(TokioIo::new(socket), service.clone());
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            // A client that hangs up mid-request is the client's business.
            let _ = connection.await;
        });
    }

    // Stop taking connections, then let the open ones drain.
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        eprintln!("{name}: connections still open after {DRAIN_TIMEOUT:?}, closing them");
    }
}
