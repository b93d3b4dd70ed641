//! The request log: what a client sent to the local server, kept for tests to assert on.
//!
//! [`Recording`] sits in front of a server's service (s3s for S3, the emulator for STS). It
//! writes down each request's method, path, query and headers, then hands the request on
//! untouched; bodies are not kept. The log is written before the service has looked at the
//! request, so requests that it rejects (a bad signature, an unknown bucket) are in it too.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::Service;

/// Headers left out of the log because they carry credentials. The test credentials are fake,
/// but logs get printed, and the habit should hold everywhere.
const UNRECORDED_HEADERS: [&str; 2] = ["authorization", "x-amz-security-token"];

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The HTTP method, upper case: `PUT`.
    pub method: String,
    /// The path as sent, still percent-encoded: `/bucket/some%20key`.
    pub path: String,
    /// The query string without its `?`, when there was one: `partNumber=1&uploadId=...`.
    pub query: Option<String>,
    /// Every header but those in [`UNRECORDED_HEADERS`], in the order received, names in lower
    /// case. A value that is not UTF-8 is kept with its bad bytes replaced.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first value of header `name` (matched without regard to case), if it was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn from_request<B>(request: &Request<B>) -> Self {
        let headers = request
            .headers()
            .iter()
            .filter(|(name, _)| !UNRECORDED_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        RecordedRequest {
            method: request.method().as_str().to_owned(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().map(str::to_owned),
            headers,
        }
    }
}

/// A shared, growing list of the requests a server has received. Clones share the same list.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    entries: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl RequestLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every request received so far, oldest first.
    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().clone()
    }

    /// Forgets every request received so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn push(&self, request: RecordedRequest) {
        self.lock().push(request);
    }

    /// The list, even if a thread panicked while holding it: a push cannot leave it half done.
    fn lock(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A hyper service that logs each request, when it has a log, then forwards it to `S`.
#[derive(Debug, Clone)]
pub(crate) struct Recording<S> {
    inner: S,
    log: Option<RequestLog>,
}

impl<S> Recording<S> {
    pub(crate) fn new(inner: S, log: Option<RequestLog>) -> Self {
        Recording { inner, log }
    }
}

impl<S: Service<Request<Incoming>>> Service<Request<Incoming>> for Recording<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if let Some(log) = &self.log {
            log.push(RecordedRequest::from_request(&request));
        }
        Service::call(&self.inner, request)
    }
}
