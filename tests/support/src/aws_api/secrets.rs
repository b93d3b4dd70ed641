//! The Secrets Manager half of [`LocalAwsApi`](super::LocalAwsApi): `GetSecretValue` over the
//! AWS JSON 1.1 protocol.
//!
//! A request is a `POST` whose `X-Amz-Target` header names the operation
//! (`secretsmanager.GetSecretValue`) and whose body is a JSON object of its parameters
//! (`{"SecretId": "..."}`). A reply is a JSON object; a failure is HTTP 400 with the error's
//! name both in the `x-amzn-ErrorType` header and as `__type` in the body, beside a `message`.
//! The SDK turns `ResourceNotFoundException` into the variant of that name; it has no variant
//! for `AccessDeniedException`, which it leaves unhandled with that code.

use hyper::StatusCode;
use hyper::body::Bytes;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{ACCOUNT, Reply, State, new_uuid};
use crate::server::REGION;

/// The content type of every request and reply.
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The prefix of every Secrets Manager `X-Amz-Target`.
const TARGET_PREFIX: &str = "secretsmanager.";

/// The label of the one version each secret has.
const CURRENT: &str = "AWSCURRENT";

/// The principal named in access-denied messages.
const CALLER_ARN: &str = "arn:aws:iam::111122223333:user/release-test";

/// A secret with a single version.
#[derive(Debug, Clone)]
pub(super) struct Secret {
    /// The id it was added under: its ARN, or some other name a test finds it by.
    id: String,
    arn: String,
    name: String,
    secret_string: String,
    version_id: String,
    created: Timestamp,
}

impl Secret {
    /// See [`LocalAwsApi::add_secret`](super::LocalAwsApi::add_secret).
    pub(super) fn new(id_or_arn: &str, name: &str, secret_string: &str, now: Timestamp) -> Self {
        let arn = if id_or_arn.starts_with("arn:") {
            id_or_arn.to_owned()
        } else {
            format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-{}", arn_suffix(name))
        };
        Secret {
            id: id_or_arn.to_owned(),
            arn,
            name: name.to_owned(),
            secret_string: secret_string.to_owned(),
            version_id: new_uuid(),
            created: now,
        }
    }

    /// Whether `id` names this secret: its id, ARN or name.
    fn is_named(&self, id: &str) -> bool {
        [&self.id, &self.arn, &self.name].iter().any(|known| *known == id)
    }
}

impl State {
    pub(super) fn add_secret(&mut self, secret: Secret) {
        match self.secrets.iter_mut().find(|known| known.arn == secret.arn) {
            Some(known) => *known = secret,
            None => self.secrets.push(secret),
        }
    }

    /// Whether reading `secret_id` is refused: see
    /// [`LocalAwsApi::deny_secret`](super::LocalAwsApi::deny_secret).
    fn is_denied(&self, secret_id: &str) -> bool {
        self.denied_secrets.contains(secret_id)
            || self.secret(secret_id).is_some_and(|secret| {
                self.denied_secrets.iter().any(|denied| secret.is_named(denied))
            })
    }

    /// The secret `secret_id` names, the latest added when more than one answers to it.
    fn secret(&self, secret_id: &str) -> Option<&Secret> {
        self.secrets.iter().rev().find(|secret| secret.is_named(secret_id))
    }
}

/// Answers one JSON-protocol request: `target` is its `X-Amz-Target` header, `body` the request
/// body as read.
pub(super) fn answer(state: &mut State, target: &str, body: Result<Bytes, hyper::Error>) -> Reply {
    match run(state, target, body) {
        Ok(reply) => Reply {
            status: StatusCode::OK,
            content_type: CONTENT_TYPE,
            error_type: None,
            body: reply.to_string(),
        },
        Err(err) => Reply {
            status: StatusCode::BAD_REQUEST,
            content_type: CONTENT_TYPE,
            error_type: Some(err.kind),
            body: json!({ "__type": err.kind, "message": err.message }).to_string(),
        },
    }
}

/// Runs the operation `target` names.
fn run(
    state: &mut State,
    target: &str,
    body: Result<Bytes, hyper::Error>,
) -> Result<Value, SecretsError> {
    let operation = target.strip_prefix(TARGET_PREFIX).unwrap_or(target);
    state.actions.push(operation.to_owned());
    if target != "secretsmanager.GetSecretValue" {
        return Err(SecretsError::unknown_operation(target));
    }
    let body = body.map_err(|err| {
        SecretsError::serialization(format!("cannot read the request body: {err}"))
    })?;
    let request: Value = serde_json::from_slice(&body).map_err(|err| {
        SecretsError::serialization(format!("the request body is not JSON: {err}"))
    })?;
    get_secret_value(state, &request)
}

/// The reply to `GetSecretValue` with parameters `request`.
fn get_secret_value(state: &State, request: &Value) -> Result<Value, SecretsError> {
    let parameter = |name: &str| request.get(name).and_then(Value::as_str);
    let secret_id = parameter("SecretId")
        .ok_or_else(|| SecretsError::invalid_parameter("`SecretId` must be a string"))?;

    // AWS checks the caller may read the secret before it looks the secret up.
    if state.is_denied(secret_id) {
        return Err(SecretsError::access_denied(secret_id));
    }
    let secret = state.secret(secret_id).ok_or_else(SecretsError::secret_not_found)?;
    if let Some(stage) = parameter("VersionStage").filter(|stage| *stage != CURRENT) {
        let message = format!(
            "Secrets Manager can't find the specified secret value for staging label: {stage}"
        );
        return Err(SecretsError::not_found(message));
    }
    if let Some(version_id) = parameter("VersionId").filter(|id| *id != secret.version_id) {
        let message = format!(
            "Secrets Manager can't find the specified secret value for VersionId: {version_id}"
        );
        return Err(SecretsError::not_found(message));
    }

    Ok(json!({
        "ARN": secret.arn,
        "Name": secret.name,
        "VersionId": secret.version_id,
        "SecretString": secret.secret_string,
        "VersionStages": [CURRENT],
        "CreatedDate": epoch_seconds(secret.created),
    }))
}

/// `time` as the JSON protocol sends timestamps: seconds since 1970, to the millisecond.
fn epoch_seconds(time: Timestamp) -> f64 {
    time.as_millisecond() as f64 / 1000.0
}

/// The six characters AWS puts after a secret's name in its ARN. AWS picks them at random;
/// here they come from the name, so that a secret added again keeps its ARN.
fn arn_suffix(name: &str) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // FNV-1a: stable across runs and Rust versions, unlike std's hashers.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..6)
        .map(|i| char::from(LETTERS[((hash >> (i * 8)) % LETTERS.len() as u64) as usize]))
        .collect()
}

/// A Secrets Manager error reply: its type, as the SDK matches it, and message.
#[derive(Debug)]
struct SecretsError {
    kind: &'static str,
    message: String,
}

impl SecretsError {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        SecretsError { kind, message: message.into() }
    }

    fn secret_not_found() -> Self {
        Self::not_found("Secrets Manager can't find the specified secret.")
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }

    fn access_denied(secret_id: &str) -> Self {
        let message = format!(
            "User: {CALLER_ARN} is not authorized to perform: secretsmanager:GetSecretValue on \
             resource: {secret_id} because no identity-based policy allows the \
             secretsmanager:GetSecretValue action"
        );
        Self::new("AccessDeniedException", message)
    }

    fn invalid_parameter(message: &str) -> Self {
        Self::new("InvalidParameterException", message)
    }

    fn unknown_operation(target: &str) -> Self {
        let message = format!("`{target}` is not an operation this emulator knows");
        Self::new("UnknownOperationException", message)
    }

    fn serialization(message: String) -> Self {
        Self::new("SerializationException", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-1-AbCdEf";

    fn state_with(secrets: &[(&str, &str)]) -> State {
        let mut state = State::default();
        for (id, name) in secrets {
            state.add_secret(Secret::new(id, name, "{}", Timestamp::UNIX_EPOCH));
        }
        state
    }

    #[test]
    fn finds_a_secret_by_id_arn_or_name() {
        let state = state_with(&[(ARN, "rds!db-1"), ("alias", "named")]);

        assert_eq!(state.secret(ARN).map(|s| s.name.as_str()), Some("rds!db-1"));
        assert_eq!(state.secret("rds!db-1").map(|s| s.arn.as_str()), Some(ARN));
        let made_up = &state.secret("alias").expect("found by its id").arn;
        assert!(made_up.starts_with("arn:aws:secretsmanager:us-east-1:111122223333:secret:named-"));
        assert_eq!(made_up.len(), ARN.len() - "rds!db-1".len() + "named".len());
        assert_eq!(state.secret("named").map(|s| &s.arn), Some(made_up));
        assert!(state.secret("unknown").is_none());
    }

    #[test]
    fn adding_a_secret_again_replaces_it() {
        let mut state = state_with(&[("alias", "named")]);
        state.add_secret(Secret::new("alias", "named", "new", Timestamp::UNIX_EPOCH));

        assert_eq!(state.secrets.len(), 1);
        assert_eq!(state.secret("alias").map(|s| s.secret_string.as_str()), Some("new"));
    }

    #[test]
    fn denying_any_name_of_a_secret_denies_it() {
        let mut state = state_with(&[(ARN, "rds!db-1")]);
        state.denied_secrets.insert("rds!db-1".to_owned());
        state.denied_secrets.insert("missing".to_owned());

        assert!(state.is_denied(ARN));
        assert!(state.is_denied("rds!db-1"));
        assert!(state.is_denied("missing"), "denial comes before the lookup");
        assert!(!state.is_denied("other"));
    }

    #[test]
    fn unknown_targets_are_unknown_operations() {
        let mut state = State::default();
        let reply = answer(&mut state, "secretsmanager.ListSecrets", Ok(Bytes::from("{}")));

        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.error_type, Some("UnknownOperationException"));
        assert_eq!(state.actions, ["ListSecrets"]);
    }

    #[test]
    fn sends_timestamps_as_fractional_seconds() {
        let time: Timestamp = "2025-03-04T05:06:07.891Z".parse().unwrap();
        assert_eq!(epoch_seconds(time), 1_741_064_767.891);
    }
}
