//! [`LocalAwsApi`]: an in-process stand-in for the AWS calls `release` makes about a SQL Server
//! restore target before it connects to it. RDS says where the instance is, whether its option
//! group allows native restore and which secret holds the master password; Secrets Manager
//! hands over that password.
//!
//! Both services answer on one endpoint, told apart as the AWS SDKs tell their protocols apart:
//! a request with an `X-Amz-Target` header is an AWS JSON 1.1 call, answered by the Secrets
//! Manager half ([`secrets`]); any other is an AWS query call (`Action=...` in a form body or
//! the query string), answered by the RDS half ([`rds`]). moto serves the same calls, but its
//! `DescribeOptionGroups` answers aws-sdk-rust with a server error, hence this.
//!
//! What it does not do, so that tests do not lean on it:
//! - Requests are not authenticated: signatures are not checked and any credentials are
//!   accepted. The only refusal is the one a test asks for with [`LocalAwsApi::deny_secret`].
//! - RDS answers `DescribeDBInstances` and `DescribeOptionGroups` only, without filters or
//!   paging (`Filters`, `MaxRecords` and `Marker` are ignored). Identifiers are not validated,
//!   the API `Version` is not checked, and the many instance attributes `release` does not read
//!   are either absent or fixed (see [`rds`]).
//! - Secrets Manager answers `GetSecretValue` only. Each secret has one version, `AWSCURRENT`;
//!   partial ARNs, binary secrets, deleted secrets and KMS failures are not modelled.
//! - Nothing changes by itself: an instance stays in the status it was added with until a test
//!   adds it again.

mod rds;
mod secrets;

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::Service;
use hyper::{Request, Response, StatusCode};
use jiff::Timestamp;

use crate::background::Background;
use crate::recorder::{RecordedRequest, Recording, RequestLog};
use crate::server::{REGION, serve_until};

use self::rds::OptionGroup;
use self::secrets::Secret;

/// The account every ARN made up here belongs to.
const ACCOUNT: &str = "111122223333";

/// An RDS for SQL Server instance, as `DescribeDBInstances` reports it.
///
/// Fields that are not here are reported with fixed values: engine version
/// `15.00.4415.2.v1`, availability zone `us-east-1a`, class `db.m5.large`, and an ARN in
/// account `111122223333`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `DBInstanceIdentifier`: `restore-target`. RDS keeps identifiers in lower case, so this
    /// is reported in lower case and found whatever the case a request gives it in.
    pub id: String,
    /// `DBInstanceStatus`: `available`, `modifying`, `stopped`, `storage-full`, ...
    pub status: String,
    /// `Engine`: `sqlserver-se`, `sqlserver-ee`, `sqlserver-ex` or `sqlserver-web`.
    pub engine: String,
    /// `Endpoint.Address`: the host name clients connect to.
    pub address: String,
    /// `Endpoint.Port`: 1433 for SQL Server unless the instance was set up otherwise.
    pub port: u16,
    /// The name of the one option group the instance is in, reported in lower case (as RDS
    /// keeps option group names) with status `in-sync`.
    /// Add the group itself with [`LocalAwsApi::add_option_group`] for `DescribeOptionGroups`
    /// to find it.
    pub option_group: String,
    /// `MasterUsername`.
    pub master_username: String,
    /// The ARN of the secret RDS manages for the master password, reported as
    /// `MasterUserSecret` (status `active`) when set. Add the secret itself with
    /// [`LocalAwsApi::add_secret`] for `GetSecretValue` to find it.
    pub master_secret_arn: Option<String>,
}

/// A running RDS and Secrets Manager emulator on 127.0.0.1.
///
/// Like [`LocalSts`](crate::LocalSts), it runs on a thread of its own with its own tokio
/// runtime, is listening when [`start`](Self::start) returns, and stops when dropped. Point
/// both SDK clients at it with `endpoint_url(api.endpoint())`, region [`region`](Self::region)
/// and any credentials.
///
/// Setting up is test code: anything that goes wrong panics with a message saying what.
#[derive(Debug)]
pub struct LocalAwsApi {
    log: RequestLog,
    state: Shared,
    server: Background,
}

impl LocalAwsApi {
    /// Starts an emulator with no instances, option groups or secrets.
    pub fn start() -> LocalAwsApi {
        let log = RequestLog::new();
        let state = Shared::default();
        let service = Recording::new(ApiService { state: state.clone() }, Some(log.clone()));
        let server = Background::start("local-aws-api", move |listener, shutdown| {
            serve_until("local-aws-api", listener, service, shutdown)
        });
        LocalAwsApi { log, state, server }
    }

    /// The base URL to send requests to: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// The region the made-up ARNs and availability zone are in. Requests signed for any
    /// region are answered.
    pub fn region(&self) -> &'static str {
        REGION
    }

    /// Adds an instance, or replaces the one with the same identifier (in any case).
    pub fn add_instance(&self, instance: Instance) {
        self.state.lock().add_instance(instance);
    }

    /// Adds option group `name`, reported in lower case, or replaces the one with the same name
    /// in any case. `options` are pairs of option name and that option's settings, themselves
    /// pairs of setting name and value:
    /// `vec![("SQLSERVER_BACKUP_RESTORE", vec![("IAM_ROLE_ARN", role_arn)])]`.
    ///
    /// The group is reported for engine `sqlserver-se`, major version `15.00`.
    pub fn add_option_group(&self, name: &str, options: Vec<(&str, Vec<(&str, &str)>)>) {
        self.state.lock().add_option_group(OptionGroup::new(name, options));
    }

    /// Adds a secret whose value is `secret_string`, or replaces the one known by the same
    /// ARN. `GetSecretValue` finds it by `id_or_arn`, by `name` and by its ARN.
    ///
    /// When `id_or_arn` is an ARN (`arn:aws:secretsmanager:...`), it is the secret's ARN;
    /// otherwise an ARN is made from `name`, ending in a dash and six characters as AWS's do.
    /// The secret has one version, labelled `AWSCURRENT`, created now.
    pub fn add_secret(&self, id_or_arn: &str, name: &str, secret_string: &str) {
        let secret = Secret::new(id_or_arn, name, secret_string, Timestamp::now());
        self.state.lock().add_secret(secret);
    }

    /// Makes `GetSecretValue` refuse secret `id` with `AccessDeniedException`, as when the
    /// caller's policies do not allow reading it. `id` is matched against the `SecretId` sent
    /// and against the ARN, name and id of the secret it finds, so denying any one of them
    /// denies the secret. The refusal comes before the lookup, as in AWS: a denied id is
    /// refused even when no such secret exists.
    pub fn deny_secret(&self, id: &str) {
        self.state.lock().denied_secrets.insert(id.to_owned());
    }

    /// Every HTTP request received so far, oldest first. Bodies are not kept, so neither the
    /// RDS action nor any secret is in here: see [`actions`](Self::actions).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.snapshot()
    }

    /// Forgets the HTTP requests received so far. Actions are kept.
    pub fn clear_requests(&self) {
        self.log.clear();
    }

    /// The operation of every request that named one, oldest first, whether or not it
    /// succeeded: `["DescribeDBInstances", "DescribeOptionGroups", "GetSecretValue"]`.
    pub fn actions(&self) -> Vec<String> {
        self.state.lock().actions.clone()
    }
}

/// The emulator's state, shared between the [`LocalAwsApi`] handle and the server's service.
#[derive(Debug, Clone, Default)]
struct Shared(Arc<Mutex<State>>);

impl Shared {
    /// The state, even if a thread panicked while holding it: every change to it is a single
    /// insert or push, so it cannot be left half done.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
struct State {
    /// The instances, by identifier in lower case.
    instances: BTreeMap<String, Instance>,
    /// The option groups, by name in lower case.
    option_groups: BTreeMap<String, OptionGroup>,
    /// The secrets, oldest first; a secret added again replaces its earlier self in place.
    secrets: Vec<Secret>,
    /// See [`LocalAwsApi::deny_secret`].
    denied_secrets: BTreeSet<String>,
    /// See [`LocalAwsApi::actions`].
    actions: Vec<String>,
}

/// An answer in either protocol, ready to be written.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    /// The `x-amzn-ErrorType` header, which the JSON protocol sends with each error.
    error_type: Option<&'static str>,
    body: String,
}

/// The hyper service that answers both services' requests.
#[derive(Debug, Clone)]
struct ApiService {
    state: Shared,
}

impl Service<Request<Incoming>> for ApiService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move { Ok(respond(&state, request).await) })
    }
}

/// Reads one request, hands it to the service its protocol says it is for, and writes the
/// answer with the request id header both protocols send.
async fn respond(state: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = new_uuid();
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|collected| collected.to_bytes());
    let target = parts.headers.get("x-amz-target").map(|value| value.as_bytes());

    let reply = match target {
        Some(target) => {
            let target = String::from_utf8_lossy(target);
            secrets::answer(&mut state.lock(), &target, body)
        }
        None => rds::answer(&mut state.lock(), parts.uri.query(), body, &request_id),
    };

    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    if let Some(error_type) = reply.error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

/// An id in the shape AWS uses for requests and secret versions, a version 4 UUID.
fn new_uuid() -> String {
    let (high, low) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        (low >> 48) & 0x3fff | 0x8000,
        low & 0xffff_ffff_ffff
    )
}

/// 64 bits that differ from call to call and run to run, from std's randomly keyed hasher.
/// Not fit for real secrets, and nothing made from it is one.
fn random_u64() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(CALLS.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_version_4_uuids() {
        let uuid = new_uuid();
        let groups: Vec<&str> = uuid.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
        assert_eq!(lengths, [8, 4, 4, 4, 12], "{uuid}");
        assert!(groups[2].starts_with('4'), "{uuid}");
        assert!(matches!(groups[3].chars().next(), Some('8' | '9' | 'a' | 'b')), "{uuid}");
        assert_ne!(uuid, new_uuid());
    }
}
