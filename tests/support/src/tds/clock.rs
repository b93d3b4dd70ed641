//! The clock that moves restore tasks along: a thread of its own that wakes a few times per
//! step, fetches the backups of tasks about to start, and advances the
//! [`Instance`](super::rds::Instance).
//!
//! It is a plain thread rather than a task on the server's runtime so that the test's fetch
//! function may block, or run a client with a runtime of its own, without upsetting tokio.
//! The fetch runs without the instance's lock held.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::rds::{FetchObject, Instance};

/// The running clock. Dropping it stops the thread and waits for it.
#[derive(Debug)]
pub(crate) struct Clock {
    /// Dropped to tell the thread to stop.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Clock {
    pub(crate) fn start(instance: Arc<Mutex<Instance>>, fetch: Arc<FetchObject>) -> Clock {
        let tick =
            (lock(&instance).step() / 4).clamp(Duration::from_millis(1), Duration::from_millis(50));
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("tds-clock".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    let now = Instant::now();
                    let due = lock(&instance).due_fetches(now);
                    let fetched: Vec<_> = due
                        .into_iter()
                        .map(|object| (object.task_id, fetch(&object.bucket, &object.key)))
                        .collect();
                    lock(&instance).advance(now, &fetched);
                }
            })
            .unwrap_or_else(|err| panic!("cannot start the tds-clock thread: {err}"));
        Clock { stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic in the fetch function has been printed already.
            let _ = thread.join();
        }
    }
}

/// Locks the instance. A panic elsewhere while it was held leaves the state as it was, which
/// is still the best picture of the instance there is.
pub(crate) fn lock(instance: &Mutex<Instance>) -> MutexGuard<'_, Instance> {
    instance.lock().unwrap_or_else(PoisonError::into_inner)
}
