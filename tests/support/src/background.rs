//! A testkit server on a thread of its own: what [`LocalS3`](crate::LocalS3) and
//! [`LocalSts`](crate::LocalSts) hold to keep their server running while a test uses it.
//!
//! The thread has its own tokio runtime, so the server answers the same whether the test is a
//! plain `#[test]` or a `#[tokio::test]` on a current-thread runtime.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Completes when the server should stop taking connections.
pub(crate) type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server running on its own thread. Dropping it stops the server and waits for the thread.
#[derive(Debug)]
pub(crate) struct Background {
    address: SocketAddr,
    /// Taken on drop: sending on it (or dropping it) tells the server to stop.
    stop: Option<oneshot::Sender<()>>,
    /// Taken on drop, to wait for the server to finish.
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Listens on a free port of 127.0.0.1, then runs `serve` on a new thread called `name`,
    /// handing it the listener and a future that completes when the server should stop.
    ///
    /// It returns once the port is listening: a connection made after that waits in the
    /// kernel's queue until the server takes it, it is never refused. Panics, with a message
    /// saying what, when the port, runtime or thread cannot be had.
    pub(crate) fn start<F, Fut>(name: &str, serve: F) -> Background
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
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
            .thread_name(format!("{name}-worker"))
            .enable_all()
            .build()
            .unwrap_or_else(|err| panic!("cannot start a tokio runtime for {name}: {err}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener)
                        .unwrap_or_else(|err| panic!("cannot hand the listener to tokio: {err}"));
                    // A dropped sender means stop as well, so the result does not matter.
                    let shutdown = Box::pin(async {
                        let _ = stopped.await;
                    });
                    serve(listener, shutdown).await;
                });
                // Shut the runtime down here: a runtime cannot be dropped from inside the
                // test's own async context.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .unwrap_or_else(|err| panic!("cannot start the {name} thread: {err}"));

        Background { address, stop: Some(stop), thread: Some(thread) }
    }

    /// The base URL of the server: `http://127.0.0.1:PORT`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the server has stopped already, which is what is wanted.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread has been printed already; panicking again in a drop
            // would only hide the test's own failure.
            let _ = thread.join();
        }
    }
}
