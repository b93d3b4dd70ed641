//! [`LocalSts`]: an in-process stand-in for AWS STS, answering the two calls `release` makes
//! before it touches S3: `GetCallerIdentity` (who am I?) and `AssumeRole` (become the role the
//! manifest names).
//!
//! It speaks the STS query protocol as the AWS SDKs do: each request is a `POST /` whose body
//! is a form (`Action=AssumeRole&Version=2011-06-15&RoleArn=...`), each reply is XML in the
//! `2011-06-15` namespace, and each failure is an `<ErrorResponse>` whose `Code` the SDKs turn
//! into error codes such as `AccessDenied`. Parameters in the query string are read as well.
//!
//! The caller is known by the access key id in the request's SigV4 `Authorization` header.
//! Long-term keys are the ones a test adds with [`LocalSts::add_identity`]; temporary keys are
//! the ones `AssumeRole` issues, and must come with the session token issued alongside them.
//!
//! What it does not do, so that tests do not lean on it:
//! - Signatures are not checked, and any secret key is accepted with a known access key id.
//! - Any role can be assumed by any known caller. There are no trust policies; the only
//!   condition is the external id a test sets with [`LocalSts::require_external_id`].
//! - Session length is only held to STS's outer bounds (15 minutes to 12 hours). AWS also holds
//!   it to the role's `MaxSessionDuration` (1 hour unless raised) and to 1 hour when a role is
//!   assumed with another role's credentials; neither is checked here.
//! - Issued credentials never expire here, although their `Expiration` is reported.
//! - Session policies, tags, source identity and MFA parameters are ignored.

use std::collections::HashMap;
use std::collections::hash_map::{DefaultHasher, RandomState};
use std::convert::Infallible;
use std::future::Future;
use std::hash::{BuildHasher, Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::service::Service;
use hyper::{Method, Request, Response, StatusCode};
use jiff::{SignedDuration, Timestamp};

use crate::background::Background;
use crate::recorder::{RecordedRequest, Recording, RequestLog};
use crate::server::{REGION, serve_until};

/// The XML namespace of every STS reply.
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// How long `AssumeRole` credentials last when the caller does not say, in seconds.
const DEFAULT_SESSION_SECONDS: u32 = 3600;

/// The shortest and longest sessions STS grants, in seconds.
const SESSION_SECONDS: std::ops::RangeInclusive<u32> = 900..=43_200;

/// One `AssumeRole` request as the emulator understood it, whether or not it was granted.
///
/// Only requests from a known caller with a well-formed role ARN, session name and duration
/// are kept; the rest fail before a role is considered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedRole {
    /// The `RoleArn` asked for: `arn:aws:iam::111122223333:role/release`.
    pub role_arn: String,
    /// The `RoleSessionName` asked for.
    pub session_name: String,
    /// The `ExternalId` sent, if any.
    pub external_id: Option<String>,
    /// The session length asked for, or the default of 3600 seconds when none was sent.
    pub duration_seconds: u32,
    /// Whether credentials were issued. It is false only when the role requires an external
    /// id and the request did not carry it.
    pub granted: bool,
}

/// A running STS emulator on 127.0.0.1.
///
/// Like [`LocalS3`](crate::LocalS3), it runs on a thread of its own with its own tokio runtime,
/// is listening when [`start`](Self::start) returns, and stops when dropped. Point an SDK at it
/// with `endpoint_url(sts.endpoint())`, any region, and an access key id added with
/// [`add_identity`](Self::add_identity).
///
/// Setting up is test code: anything that goes wrong panics with a message saying what.
#[derive(Debug)]
pub struct LocalSts {
    log: RequestLog,
    state: Shared,
    server: Background,
}

impl LocalSts {
    /// Starts an emulator that knows no one yet: add callers with
    /// [`add_identity`](Self::add_identity).
    pub fn start() -> LocalSts {
        let log = RequestLog::new();
        let state = Shared::default();
        let service = Recording::new(StsService { state: state.clone() }, Some(log.clone()));
        let server = Background::start("local-sts", move |listener, shutdown| {
            serve_until("local-sts", listener, service, shutdown)
        });
        LocalSts { log, state, server }
    }

    /// The base URL to send requests to: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// A region to sign requests for. Any region works; this is the one the S3 server uses.
    pub fn region(&self) -> &'static str {
        REGION
    }

    /// Makes `access_key_id` belong to the principal `arn` in `account`: `GetCallerIdentity`
    /// signed with it answers with that ARN and account, and it may call `AssumeRole`. Any
    /// secret key goes with it. Adding a key again replaces its identity.
    ///
    /// The `UserId` reported is the account for a root ARN (`arn:aws:iam::ACCOUNT:root`) and
    /// otherwise an `AIDA...` id derived from the ARN, the same on every run.
    pub fn add_identity(&self, access_key_id: &str, arn: &str, account: &str) {
        let user_id =
            if arn.ends_with(":root") { account.to_owned() } else { unique_id("AIDA", arn) };
        let identity = Identity {
            arn: arn.to_owned(),
            account: account.to_owned(),
            user_id,
            session_token: None,
        };
        self.state.lock().identities.insert(access_key_id.to_owned(), identity);
    }

    /// Makes role `role_arn` grant `AssumeRole` only to requests whose `ExternalId` is
    /// `external_id`; a request without it, or with another, is refused with `AccessDenied`.
    /// Roles not named here need no external id (and ignore one if sent).
    pub fn require_external_id(&self, role_arn: &str, external_id: &str) {
        self.state.lock().external_ids.insert(role_arn.to_owned(), external_id.to_owned());
    }

    /// Every HTTP request received so far, oldest first. Bodies are not kept, so the STS
    /// action is not in here: see [`actions`](Self::actions) and
    /// [`assumed_roles`](Self::assumed_roles).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.snapshot()
    }

    /// Forgets the HTTP requests received so far. Actions and assumed roles are kept.
    pub fn clear_requests(&self) {
        self.log.clear();
    }

    /// The `Action` of every request that named one, oldest first, whether or not it
    /// succeeded: `["GetCallerIdentity", "AssumeRole"]`.
    pub fn actions(&self) -> Vec<String> {
        self.state.lock().actions.clone()
    }

    /// Every `AssumeRole` request that reached the point of considering the role, oldest
    /// first, including the ones refused for a missing or wrong external id.
    pub fn assumed_roles(&self) -> Vec<AssumedRole> {
        self.state.lock().assumed.clone()
    }
}

/// The emulator's state, shared between the [`LocalSts`] handle and the server's service.
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
    /// Who each access key id belongs to: the long-term ones a test added and the temporary
    /// ones `AssumeRole` issued.
    identities: HashMap<String, Identity>,
    /// The external id each role requires, by role ARN.
    external_ids: HashMap<String, String>,
    /// See [`LocalSts::assumed_roles`].
    assumed: Vec<AssumedRole>,
    /// See [`LocalSts::actions`].
    actions: Vec<String>,
}

/// A principal, as `GetCallerIdentity` reports it.
#[derive(Debug, Clone)]
struct Identity {
    arn: String,
    account: String,
    user_id: String,
    /// The token that must come with the access key: set for temporary credentials only.
    session_token: Option<String>,
}

/// What a request asked for, once read off the wire.
#[derive(Debug)]
struct Call {
    /// The form parameters, `Action` among them, in the order sent.
    params: Vec<(String, String)>,
    /// The access key id from the SigV4 `Authorization` header, if there was one.
    access_key_id: Option<String>,
    /// The `x-amz-security-token` header, sent with temporary credentials.
    session_token: Option<String>,
}

impl Call {
    /// The first value of parameter `name`, if sent.
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The value of parameter `name`, or a `ValidationError` saying it is missing.
    fn required(&self, name: &str) -> Result<&str, StsError> {
        self.param(name).ok_or_else(|| StsError::validation(format!("`{name}` is required")))
    }
}

/// A successful answer: the action, for the names of the reply's elements, and the contents of
/// its `<ActionResult>` element.
struct Reply {
    action: &'static str,
    result: String,
}

impl State {
    /// Answers one call as of `now`.
    fn answer(&mut self, call: &Call, now: Timestamp) -> Result<Reply, StsError> {
        let action = call.param("Action");
        if let Some(action) = action {
            self.actions.push(action.to_owned());
        }
        match action {
            Some("GetCallerIdentity") => {
                let result = caller_identity_xml(self.caller(call)?);
                Ok(Reply { action: "GetCallerIdentity", result })
            }
            Some("AssumeRole") => {
                let result = self.assume_role(call, now)?;
                Ok(Reply { action: "AssumeRole", result })
            }
            other => Err(StsError::invalid_action(other)),
        }
    }

    /// Who signed the call, or the error STS gives an unknown or incomplete credential.
    fn caller(&self, call: &Call) -> Result<&Identity, StsError> {
        let key = call.access_key_id.as_deref().ok_or_else(StsError::missing_authentication)?;
        let identity = self.identities.get(key).ok_or_else(StsError::invalid_client_token_id)?;
        // Temporary credentials are only valid with their own token, long-term ones without.
        if identity.session_token != call.session_token {
            return Err(StsError::invalid_client_token_id());
        }
        Ok(identity)
    }

    /// Checks an `AssumeRole` call, records it, and issues credentials for the role session.
    fn assume_role(&mut self, call: &Call, now: Timestamp) -> Result<String, StsError> {
        let caller_arn = self.caller(call)?.arn.clone();
        let role_arn = call.required("RoleArn")?;
        let session_name = call.required("RoleSessionName")?;
        let role = RoleArn::parse(role_arn)?;
        check_session_name(session_name)?;
        let duration_seconds = session_seconds(call.param("DurationSeconds"))?;
        let external_id = call.param("ExternalId");

        // The only condition a role can set here is an external id.
        let granted = self
            .external_ids
            .get(role_arn)
            .is_none_or(|required| external_id == Some(required.as_str()));
        self.assumed.push(AssumedRole {
            role_arn: role_arn.to_owned(),
            session_name: session_name.to_owned(),
            external_id: external_id.map(str::to_owned),
            duration_seconds,
            granted,
        });
        if !granted {
            return Err(StsError::access_denied(&caller_arn, role_arn));
        }

        // Issue the session's credentials, and let them sign later calls as the session.
        let session = Identity {
            arn: role.session_arn(session_name),
            account: role.account.to_owned(),
            user_id: format!("{}:{session_name}", unique_id("AROA", role_arn)),
            session_token: Some(new_session_token()),
        };
        let access_key_id = self.new_access_key_id();
        let expiration = now + SignedDuration::from_secs(i64::from(duration_seconds));
        let result = assume_role_xml(&access_key_id, &session, expiration);
        self.identities.insert(access_key_id, session);
        Ok(result)
    }

    /// A temporary access key id (`ASIA` and 16 characters) not in use yet.
    fn new_access_key_id(&self) -> String {
        loop {
            let key = format!("ASIA{:016X}", random_u64());
            if !self.identities.contains_key(&key) {
                return key;
            }
        }
    }
}

/// The parts of a role ARN that the assumed-role ARN is made from.
struct RoleArn<'a> {
    partition: &'a str,
    account: &'a str,
    /// The role's name, without its path.
    name: &'a str,
}

impl<'a> RoleArn<'a> {
    /// Reads `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
    fn parse(arn: &'a str) -> Result<RoleArn<'a>, StsError> {
        let fields: Vec<&str> = arn.splitn(6, ':').collect();
        let parsed = match fields.as_slice() {
            ["arn", partition, "iam", "", account, resource]
                if account.len() == 12 && account.bytes().all(|byte| byte.is_ascii_digit()) =>
            {
                let name = resource.strip_prefix("role/").and_then(|path| path.rsplit('/').next());
                name.filter(|name| !name.is_empty()).map(|name| RoleArn {
                    partition,
                    account,
                    name,
                })
            }
            _ => None,
        };
        parsed.ok_or_else(|| {
            StsError::validation(format!(
                "`{arn}` is not a role ARN of the form arn:aws:iam::ACCOUNT:role/NAME"
            ))
        })
    }

    /// The ARN of session `session_name` of this role, as `GetCallerIdentity` reports it.
    fn session_arn(&self, session_name: &str) -> String {
        let RoleArn { partition, account, name } = self;
        format!("arn:{partition}:sts::{account}:assumed-role/{name}/{session_name}")
    }
}

/// Holds a session name to STS's rules: 2 to 64 letters, digits and `+=,.@_-`.
fn check_session_name(name: &str) -> Result<(), StsError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if (2..=64).contains(&name.len()) && name.chars().all(allowed) {
        Ok(())
    } else {
        let message =
            format!("`RoleSessionName` `{name}` must be 2 to 64 letters, digits or any of +=,.@_-");
        Err(StsError::validation(message))
    }
}

/// The session length asked for in `DurationSeconds`, or the default.
fn session_seconds(param: Option<&str>) -> Result<u32, StsError> {
    let Some(text) = param else {
        return Ok(DEFAULT_SESSION_SECONDS);
    };
    match text.parse::<u32>() {
        Ok(seconds) if SESSION_SECONDS.contains(&seconds) => Ok(seconds),
        _ => Err(StsError::validation(format!(
            "`DurationSeconds` `{text}` must be a number of seconds from {} to {}",
            SESSION_SECONDS.start(),
            SESSION_SECONDS.end()
        ))),
    }
}

/// An STS error reply. Every error here is the caller's fault, so its `Type` is `Sender`.
#[derive(Debug)]
struct StsError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl StsError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        StsError { status, code, message: message.into() }
    }

    fn invalid_action(action: Option<&str>) -> Self {
        let message = match action {
            Some(action) => format!("`{action}` is not an action this STS emulator knows"),
            None => "the request names no `Action`".to_owned(),
        };
        Self::new(StatusCode::BAD_REQUEST, "InvalidAction", message)
    }

    fn missing_authentication() -> Self {
        let message = "Request is missing Authentication Token";
        Self::new(StatusCode::FORBIDDEN, "MissingAuthenticationToken", message)
    }

    fn invalid_client_token_id() -> Self {
        let message = "The security token included in the request is invalid.";
        Self::new(StatusCode::FORBIDDEN, "InvalidClientTokenId", message)
    }

    fn access_denied(caller_arn: &str, role_arn: &str) -> Self {
        let message = format!(
            "User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: \
             {role_arn}"
        );
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    fn validation(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationError", message)
    }

    fn malformed(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MalformedInput", message)
    }
}

/// The hyper service that answers STS requests.
#[derive(Debug, Clone)]
struct StsService {
    state: Shared,
}

impl Service<Request<Incoming>> for StsService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move { Ok(respond(&state, request).await) })
    }
}

/// Reads one request, answers it, and writes the answer as STS would.
async fn respond(state: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = new_request_id();
    let outcome = match read_call(request).await {
        Ok(call) => state.lock().answer(&call, Timestamp::now()),
        Err(err) => Err(err),
    };
    let (status, body) = match outcome {
        Ok(reply) => (StatusCode::OK, success_xml(&reply, &request_id)),
        Err(err) => (err.status, error_xml(&err, &request_id)),
    };

    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

/// The parameters and credentials of a request: parameters from the query string and, for a
/// `POST`, from the form body after them.
async fn read_call(request: Request<Incoming>) -> Result<Call, StsError> {
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok());
    let access_key_id = header(AUTHORIZATION.as_str()).and_then(credential_access_key_id);
    let session_token = header("x-amz-security-token").map(str::to_owned);

    let query = parts.uri.query().unwrap_or_default();
    let mut params: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    if parts.method == Method::POST {
        let body = body
            .collect()
            .await
            .map_err(|err| StsError::malformed(format!("cannot read the request body: {err}")))?
            .to_bytes();
        params.extend(form_urlencoded::parse(&body).into_owned());
    }
    Ok(Call { params, access_key_id, session_token })
}

/// The access key id in a SigV4 `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/sts/aws4_request, SignedHeaders=..., ...`.
fn credential_access_key_id(authorization: &str) -> Option<String> {
    let (_, rest) = authorization.split_once("Credential=")?;
    let (access_key_id, _) = rest.split_once('/')?;
    let access_key_id = access_key_id.trim();
    (!access_key_id.is_empty()).then(|| access_key_id.to_owned())
}

/// `<ActionResponse>`, wrapping the reply's result and the request id.
fn success_xml(reply: &Reply, request_id: &str) -> String {
    let Reply { action, result } = reply;
    format!(
        "<{action}Response xmlns=\"{NAMESPACE}\">\
         <{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
         </{action}Response>"
    )
}

/// `<ErrorResponse>`, as STS sends for every failure.
fn error_xml(err: &StsError, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\
         <Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error>\
         <RequestId>{request_id}</RequestId>\
         </ErrorResponse>",
        err.code,
        escape(&err.message)
    )
}

/// The contents of `<GetCallerIdentityResult>`.
fn caller_identity_xml(identity: &Identity) -> String {
    format!(
        "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
        escape(&identity.arn),
        escape(&identity.user_id),
        escape(&identity.account)
    )
}

/// The contents of `<AssumeRoleResult>` for `session`, signed for with `access_key_id`.
fn assume_role_xml(access_key_id: &str, session: &Identity, expiration: Timestamp) -> String {
    format!(
        "<AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>\
         <Credentials>\
         <AccessKeyId>{access_key_id}</AccessKeyId>\
         <SecretAccessKey>{}</SecretAccessKey>\
         <SessionToken>{}</SessionToken>\
         <Expiration>{}</Expiration>\
         </Credentials>",
        escape(&session.user_id),
        escape(&session.arn),
        new_secret_key(),
        session.session_token.as_deref().unwrap_or_default(),
        expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// `text` with the characters that XML gives meaning to replaced by entities.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// An id made of `prefix` and 16 hex digits derived from `seed`: the same seed gives the same
/// id on every run, as AWS's ids for users and roles stay the same.
fn unique_id(prefix: &str, seed: &str) -> String {
    let mut hasher = DefaultHasher::new();
    seed.hash(&mut hasher);
    format!("{prefix}{:016X}", hasher.finish())
}

/// A 40-character secret access key. Nothing checks it.
fn new_secret_key() -> String {
    format!("{:016x}{:016x}{:08x}", random_u64(), random_u64(), random_u64() as u32)
}

/// A session token. Nothing reads it but this emulator, which compares it whole.
fn new_session_token() -> String {
    format!("local-sts-session/{:016x}{:016x}", random_u64(), random_u64())
}

/// A request id in the shape AWS uses, a UUID.
fn new_request_id() -> String {
    let (high, low) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

/// 64 bits that differ from call to call and run to run, from std's randomly keyed hasher.
/// Not fit for real secrets, and nothing here is one.
fn random_u64() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(CALLS.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_access_key_id_from_a_sigv4_authorization_header() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/sts/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(credential_access_key_id(header).as_deref(), Some("AKIDEXAMPLE"));
        assert_eq!(credential_access_key_id("Bearer token"), None);
        assert_eq!(credential_access_key_id("AWS4-HMAC-SHA256 Credential=/x"), None);
    }

    #[test]
    fn makes_the_session_arn_from_the_role_arn() {
        let role = RoleArn::parse("arn:aws:iam::111122223333:role/team/release-writer").unwrap();
        assert_eq!(
            role.session_arn("ci"),
            "arn:aws:sts::111122223333:assumed-role/release-writer/ci"
        );
        for bad in [
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:iam::1111:role/short-account",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::111122223333:role/",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn holds_session_names_and_lengths_to_sts_rules() {
        assert!(check_session_name("release@ci.example,run=7").is_ok());
        assert!(check_session_name("x").is_err());
        assert!(check_session_name("has space").is_err());
        assert!(check_session_name(&"a".repeat(65)).is_err());
        assert_eq!(session_seconds(None).unwrap(), 3600);
        assert_eq!(session_seconds(Some("900")).unwrap(), 900);
        assert!(session_seconds(Some("899")).is_err());
        assert!(session_seconds(Some("43201")).is_err());
        assert!(session_seconds(Some("an hour")).is_err());
    }

    #[test]
    fn escapes_text_for_xml() {
        assert_eq!(escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
    }

    #[test]
    fn formats_expiration_in_utc_to_the_second() {
        let expiration: Timestamp = "2025-03-04T05:06:07.891Z".parse().unwrap();
        let session = Identity {
            arn: "arn".to_owned(),
            account: "111122223333".to_owned(),
            user_id: "AROA:s".to_owned(),
            session_token: Some("token".to_owned()),
        };
        let xml = assume_role_xml("ASIAEXAMPLE", &session, expiration);
        assert!(xml.contains("<Expiration>2025-03-04T05:06:07Z</Expiration>"), "{xml}");
    }
}
