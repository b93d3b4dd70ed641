//! AWS configuration and identity: one way to build clients for the whole program, and the
//! check that the credentials belong to the account the manifest names.
//!
//! Every command that reaches AWS goes through the same steps:
//! 1. [`Connection::for_release`] (or [`Connection::from_environment`] without a manifest)
//!    builds the SDK configuration: the region and profile come from the command line, then
//!    the standard environment, then the manifest; credentials come from aws-config's own
//!    chain (environment, profiles with IAM Identity Center, `role_arn`, `credential_process`,
//!    web identity, containers, instances); the manifest's `role_arn` is assumed on top, with
//!    a session name saying who runs which release;
//! 2. [`Connection::credentials`] resolves the credentials once for the whole run, and turns a
//!    failure into an error that says what to do;
//! 3. long-lived keys are refused unless the manifest allows them, before any request;
//! 4. [`Connection::caller`] asks STS who the credentials belong to, and [`check`] holds
//!    that to the manifest's account.
//!
//! [`Connection::identify`] does steps 2 to 4 in that order. No S3 or database request may be
//! made before it succeeds. No credential value is ever logged or put in a message.

mod profiles;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature as Feature;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider, future};
use aws_sdk_sts::error::ProvideErrorMetadata;

pub use profiles::{Profile, ProfileFiles};

use crate::manifest::types::Aws;
use crate::providers::s3::ClientSettings;

/// The region STS is asked in when nothing names one (`whoami` without a manifest).
const FALLBACK_REGION: &str = "us-east-1";

/// Credentials are fetched again when they expire sooner than this.
const REFRESH_BEFORE: Duration = Duration::from_secs(120);

/// Command-line overrides of the manifest's `aws` section.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub profile: Option<String>,
    pub region: Option<String>,
}

/// The caller as STS reports it, and where its credentials came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub arn: String,
    pub account: String,
    pub user_id: String,
    /// Where the credentials came from, in words: `IAM Identity Center (profile `tre`)`.
    pub provider: String,
    /// When the credentials expire, if they do.
    pub expires: Option<jiff::Timestamp>,
    /// Long-lived keys with no session token.
    pub static_keys: bool,
    /// Things the person should know about how they were signed in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Why AWS could not be reached as the manifest asks. Each names what to do in [`hint`].
///
/// [`hint`]: AwsError::hint
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("AWS profile `{profile}` is not defined in {locations}")]
    MissingProfile { profile: String, locations: String, known: Vec<String> },
    #[error("the IAM Identity Center sign-in{} has expired or was never made: {detail}",
        for_profile(.profile.as_deref()))]
    SsoLogin { profile: Option<String>, detail: String },
    #[error("`credential_process`{} failed: {detail}", for_profile(.profile.as_deref()))]
    Process { profile: Option<String>, detail: String },
    #[error("`sts:AssumeRole` on `{role}` was refused: {detail}")]
    AssumeRoleDenied { role: String, detail: String },
    #[error("no usable AWS credentials: {detail}")]
    Credentials { profile: Option<String>, detail: String },
    #[error("STS could not say who the credentials belong to (`sts:GetCallerIdentity`): {0}")]
    Identity(String),
    #[error(
        "the credentials belong to account {actual}, \
         but the manifest releases to account {expected}"
    )]
    WrongAccount { expected: String, actual: String },
    #[error("the credentials are long-lived access keys, which this manifest does not allow")]
    StaticKeys,
}

impl AwsError {
    /// What the person can do about it.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            AwsError::MissingProfile { known, .. } if known.is_empty() => {
                "no profiles are defined; set one up with `aws configure sso` (see docs/iam.md)"
                    .to_owned()
            }
            AwsError::MissingProfile { known, .. } => format!(
                "profiles that exist: {}; fix `aws.profile` or pass --profile NAME",
                known.join(", ")
            ),
            AwsError::SsoLogin { profile, .. } => format!("run: {}", login(profile.as_deref())),
            AwsError::Process { .. } => {
                "run the profile's `credential_process` command by hand to \
                 see what it needs (for IAM Roles Anywhere: the certificate, private key, trust \
                 anchor, profile and role ARNs)"
                    .to_owned()
            }
            AwsError::AssumeRoleDenied { .. } => "check that the role's trust policy lets your \
                 identity assume it, and that `aws.external_id` is the one it requires"
                .to_owned(),
            AwsError::Credentials { profile, .. } => format!(
                "set `aws.profile` in the manifest or pass --profile NAME, then sign in (for IAM \
                 Identity Center: {})",
                login(profile.as_deref())
            ),
            AwsError::Identity(detail) if refused_token(detail) => "STS did not accept the \
                 credentials: they may have expired or been revoked; sign in again"
                .to_owned(),
            AwsError::Identity(_) => {
                "check the network and the region (and `AWS_ENDPOINT_URL_STS`, if set)".to_owned()
            }
            AwsError::WrongAccount { .. } => {
                "sign in to the account the manifest names, or fix `aws.account_id`".to_owned()
            }
            AwsError::StaticKeys => "sign in with IAM Identity Center or a role; if long-lived \
                 keys are really needed, set `aws.allow_static_keys: true` in the manifest"
                .to_owned(),
        };
        Some(hint)
    }
}

/// ` for profile `NAME``, or nothing.
fn for_profile(profile: Option<&str>) -> String {
    profile.map(|name| format!(" for profile `{name}`")).unwrap_or_default()
}

/// The command that signs in to IAM Identity Center.
fn login(profile: Option<&str>) -> String {
    match profile {
        Some(profile) => format!("aws sso login --profile {profile}"),
        None => "aws sso login".to_owned(),
    }
}

/// Whether STS's refusal says the credentials themselves are bad.
fn refused_token(detail: &str) -> bool {
    ["InvalidClientTokenId", "ExpiredToken", "SignatureDoesNotMatch", "security token"]
        .iter()
        .any(|needle| detail.contains(needle))
}

/// A role to assume on top of the chain's credentials.
#[derive(Debug, Clone)]
struct RoleRequest {
    arn: String,
    session_name: String,
    external_id: Option<String>,
    duration: Option<Duration>,
}

/// How this run reaches AWS: the SDK configuration every client is built from, and what is
/// needed to explain where its credentials come from.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Build every client from this, so that they share one set of credentials.
    pub config: SdkConfig,
    /// The profile named by `--profile`, `AWS_PROFILE` or the manifest, if any.
    pub profile: Option<String>,
    pub region: String,
    /// The manifest's role, assumed on top of the chain's credentials.
    pub role_arn: Option<String>,
    pub files: ProfileFiles,
    /// Features of the credentials the role was assumed with.
    base_features: FeatureLog,
}

impl Connection {
    /// For a release: the manifest's `aws` section, with the command line's overrides.
    pub async fn for_release(aws: &Aws, release: &str, overrides: &Overrides) -> Connection {
        let region = overrides.region.clone().unwrap_or_else(|| aws.region.clone());
        let profile = overrides.profile.clone().or_else(|| aws.profile.clone());
        let role = aws.role_arn.as_ref().map(|arn| RoleRequest {
            arn: arn.clone(),
            session_name: session_name(release),
            external_id: aws.external_id.clone(),
            duration: aws.session_duration_seconds.map(|s| Duration::from_secs(u64::from(s))),
        });
        Connection::build(profile, Some(region), role).await
    }

    /// Without a manifest: the standard chain and environment, with the overrides.
    pub async fn from_environment(overrides: &Overrides) -> Connection {
        Connection::build(overrides.profile.clone(), overrides.region.clone(), None).await
    }

    async fn build(
        profile: Option<String>,
        region: Option<String>,
        role: Option<RoleRequest>,
    ) -> Connection {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &profile {
            loader = loader.profile_name(profile);
        }
        let mut base = loader.load().await;
        if base.region().is_none() {
            tracing::debug!("no region is configured; asking STS in {FALLBACK_REGION}");
            base = base.into_builder().region(Region::from_static(FALLBACK_REGION)).build();
        }
        let region = base.region().map(ToString::to_string).unwrap_or_default();

        // The manifest's role is assumed with whatever the chain finds, through the STS
        // endpoint the environment names (the SDK reads `AWS_ENDPOINT_URL_STS` from `base`).
        let base_features = FeatureLog::default();
        let chain = base.credentials_provider();
        let provider = match (&role, chain) {
            (Some(role), Some(chain)) => {
                tracing::debug!(role = %role.arn, session = %role.session_name, "assuming role");
                let recorded = Recorded { inner: chain, log: base_features.clone() };
                let mut builder =
                    AssumeRoleProvider::builder(&role.arn).session_name(&role.session_name);
                if let Some(external_id) = &role.external_id {
                    builder = builder.external_id(external_id);
                }
                if let Some(duration) = role.duration {
                    builder = builder.session_length(duration);
                }
                let assumed = builder.configure(&base).build_from_provider(recorded).await;
                Some(SharedCredentialsProvider::new(assumed))
            }
            (_, chain) => chain,
        };
        let config = match provider {
            Some(provider) => {
                let reused = SharedCredentialsProvider::new(Reuse::new(provider));
                base.into_builder().credentials_provider(reused).build()
            }
            None => base,
        };
        Connection {
            config,
            profile,
            region,
            role_arn: role.map(|r| r.arn),
            files: ProfileFiles::read(),
            base_features,
        }
    }

    /// Resolves the credentials (once for the run; clients built from [`config`] reuse them).
    ///
    /// [`config`]: Connection::config
    pub async fn credentials(&self) -> Result<Credentials, AwsError> {
        let Some(provider) = self.config.credentials_provider() else {
            let detail = "no credential provider is configured".to_owned();
            return Err(AwsError::Credentials { profile: self.profile.clone(), detail });
        };
        provider.provide_credentials().await.map_err(|error| self.explain(&error))
    }

    /// Asks STS who `credentials` (this connection's) belong to.
    pub async fn caller(&self, credentials: &Credentials) -> Result<Identity, AwsError> {
        let sts = aws_sdk_sts::Client::new(&self.config);
        let output = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|error| AwsError::Identity(error_chain(&error)))?;
        let identity = Identity {
            arn: output.arn.unwrap_or_default(),
            account: output.account.unwrap_or_default(),
            user_id: output.user_id.unwrap_or_default(),
            provider: self.describe(credentials),
            expires: credentials.expiry().and_then(|t| jiff::Timestamp::try_from(t).ok()),
            static_keys: credentials.session_token().is_none(),
            warnings: self.warnings(credentials),
        };
        tracing::debug!(arn = %identity.arn, provider = %identity.provider, "caller identified");
        Ok(identity)
    }

    /// Credentials, refusal of long-lived keys the manifest does not allow (before any
    /// request), the caller, and the account check: what every release run does first.
    pub async fn identify(&self, aws: &Aws) -> Result<Identity, AwsError> {
        let credentials = self.credentials().await?;
        if credentials.session_token().is_none() && !aws.allow_static_keys {
            return Err(AwsError::StaticKeys);
        }
        let identity = self.caller(&credentials).await?;
        check(&identity, aws)?;
        Ok(identity)
    }

    /// Turns a credential failure into an error that says what to do.
    fn explain(&self, error: &CredentialsError) -> AwsError {
        let detail = error_chain(error);
        tracing::debug!(%detail, "credentials could not be loaded");
        let profile = self.profile.clone();

        // A named profile that neither file defines: say which ones exist.
        if let Some(name) = &profile
            && self.files.get(name).is_none()
        {
            return AwsError::MissingProfile {
                profile: name.clone(),
                locations: self.files.locations(),
                known: self.files.names().iter().map(|n| n.to_string()).collect(),
            };
        }
        if detail.contains("external process") {
            return AwsError::Process { profile, detail: process_failure(&detail) };
        }
        let in_use = profile.as_deref().unwrap_or("default");
        let lower = detail.to_ascii_lowercase();
        if let Some(sso) = self.files.sso_profile(in_use)
            && (lower.contains("sso") || lower.contains("token") || lower.contains("unauthorized"))
        {
            let profile = (profile.is_some() || sso != "default").then(|| sso.to_owned());
            return AwsError::SsoLogin { profile, detail };
        }
        if lower.contains("accessdenied") || lower.contains("not authorized") {
            let profile_role = self.files.get(in_use).and_then(|p| p.role_arn.clone());
            if let Some(role) = self.role_arn.clone().or(profile_role) {
                return AwsError::AssumeRoleDenied { role, detail };
            }
        }
        AwsError::Credentials { profile, detail }
    }

    /// Where credentials came from, in words.
    fn describe(&self, credentials: &Credentials) -> String {
        match &self.role_arn {
            Some(role) => {
                format!("role `{role}`, assumed with {}", self.source(&self.base_features.get()))
            }
            None => self.source(&features(credentials)),
        }
    }

    /// The credentials' source from the features aws-config records on them, filled in from
    /// the profile files where the features say only "a profile".
    fn source(&self, features: &[Feature]) -> String {
        let profile = self.profile.as_deref().unwrap_or("default");
        let from_profile = features.contains(&Feature::CredentialsProfile);
        match features.iter().find_map(feature_name) {
            Some(name) if from_profile => format!("{name} (profile `{profile}`)"),
            Some(name) => name.to_owned(),
            None if from_profile => match self.files.get(profile) {
                Some(Profile { role_arn: Some(role), .. }) => {
                    format!("role `{role}` (profile `{profile}`)")
                }
                Some(p) if p.access_keys => format!("access keys in profile `{profile}`"),
                _ => format!("profile `{profile}`"),
            },
            None => "the default credential chain".to_owned(),
        }
    }

    /// A named profile loses to keys in the environment: aws-config's chain reads those first.
    fn warnings(&self, credentials: &Credentials) -> Vec<String> {
        let features =
            if self.role_arn.is_some() { self.base_features.get() } else { features(credentials) };
        match &self.profile {
            Some(profile) if features.contains(&Feature::CredentialsEnvVars) => vec![format!(
                "profile `{profile}` was not used: `AWS_ACCESS_KEY_ID` is set in the environment, \
                 and the SDK reads the environment first"
            )],
            _ => Vec::new(),
        }
    }
}

/// Holds the caller to the manifest: long-lived keys only where allowed, and its account.
pub fn check(identity: &Identity, aws: &Aws) -> Result<(), AwsError> {
    if identity.static_keys && !aws.allow_static_keys {
        return Err(AwsError::StaticKeys);
    }
    if identity.account != aws.account_id {
        return Err(AwsError::WrongAccount {
            expected: aws.account_id.clone(),
            actual: identity.account.clone(),
        });
    }
    Ok(())
}

/// SDK configuration for a release: region, profile, and the manifest's role if any.
pub async fn sdk_config(aws: &Aws, release: &str, overrides: &Overrides) -> SdkConfig {
    Connection::for_release(aws, release, overrides).await.config
}

/// The session name CloudTrail shows for an assumed role: who, and which release.
pub fn session_name(release: &str) -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_default();
    let allowed = |c: &char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c);
    let user: String = user.chars().filter(allowed).collect();
    let name =
        if user.is_empty() { format!("release-{release}") } else { format!("{user}-{release}") };
    name.chars().filter(allowed).take(64).collect()
}

/// S3 settings from the manifest and the standard endpoint variables.
pub fn s3_settings(aws: &Aws) -> ClientSettings {
    let force_path_style = aws.force_path_style.or(s3_endpoint_from_env().map(|_| true));
    ClientSettings { endpoint_url: aws.endpoint_url.clone(), force_path_style }
}

/// The S3 endpoint the environment names (`AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`).
pub fn s3_endpoint_from_env() -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// The features aws-config recorded on credentials, innermost provider first.
fn features(credentials: &Credentials) -> Vec<Feature> {
    credentials.get_property::<Vec<Feature>>().cloned().unwrap_or_default()
}

/// A provider's name, for the features that name one.
fn feature_name(feature: &Feature) -> Option<&'static str> {
    let name = match feature {
        Feature::CredentialsEnvVars => "environment variables",
        Feature::CredentialsProfileSso | Feature::CredentialsSso => "IAM Identity Center",
        Feature::CredentialsProfileProcess | Feature::CredentialsProcess => "credential_process",
        Feature::CredentialsStsAssumeRole => "an assumed role",
        Feature::CredentialsStsAssumeRoleWebId
        | Feature::CredentialsEnvVarsStsWebIdToken
        | Feature::CredentialsProfileStsWebIdToken => "web identity",
        Feature::CredentialsImds => "instance metadata",
        Feature::CredentialsHttp => "container credentials",
        _ => return None,
    };
    Some(name)
}

/// The part of aws-config's message about a failed `credential_process` that matters: how it
/// ended and what it printed on stderr.
fn process_failure(detail: &str) -> String {
    let start = detail.find("external process").unwrap_or(0);
    let text = detail[start..].trim_end();
    match text.split_once(". Stderr:") {
        Some((status, stderr)) => format!("{status}; its stderr says: {}", stderr.trim()),
        None => text.to_owned(),
    }
}

/// An error and its causes on one line, most specific last. An STS error among them ends
/// the line with its code and message (the SDK's own text for it shows only the code, and its
/// wrappers say nothing more).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(cause) = current {
        let sts = sts_message(cause);
        let text = sts.clone().unwrap_or_else(|| cause.to_string());
        let filler = ["service error", "an error occurred while loading credentials"]
            .contains(&text.as_str())
            || text.starts_with("unhandled error");
        if !filler && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        if sts.is_some() {
            break;
        }
        current = cause.source();
    }
    parts.join(": ")
}

/// `Code: message` of an STS error, when `error` is one.
fn sts_message(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError;
    let (code, message) = if let Some(e) = error.downcast_ref::<AssumeRoleError>() {
        (e.code(), e.message())
    } else if let Some(e) = error.downcast_ref::<GetCallerIdentityError>() {
        (e.code(), e.message())
    } else if let Some(e) = error.downcast_ref::<AssumeRoleWithWebIdentityError>() {
        (e.code(), e.message())
    } else {
        return None;
    };
    match (code, message) {
        (Some(code), Some(message)) => Some(format!("{code}: {message}")),
        (code, message) => code.or(message).map(str::to_owned),
    }
}

/// Features seen on the credentials a role was assumed with.
#[derive(Debug, Clone, Default)]
struct FeatureLog(Arc<Mutex<Vec<Feature>>>);

impl FeatureLog {
    fn get(&self) -> Vec<Feature> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, features: Vec<Feature>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = features;
    }
}

/// A provider that notes the features of what it hands out, so that `whoami` can say what
/// a role was assumed with.
#[derive(Debug)]
struct Recorded {
    inner: SharedCredentialsProvider,
    log: FeatureLog,
}

impl ProvideCredentials for Recorded {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let credentials = self.inner.provide_credentials().await?;
            self.log.set(features(&credentials));
            Ok(credentials)
        })
    }
}

/// Credentials fetched once and shared by every client of the run until they near expiry:
/// one AssumeRole, one `credential_process` run, one IAM Identity Center call per run rather
/// than one for the identity check and another for each client.
#[derive(Debug)]
struct Reuse {
    inner: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl Reuse {
    fn new(inner: SharedCredentialsProvider) -> Reuse {
        Reuse { inner, cached: tokio::sync::Mutex::new(None) }
    }

    async fn credentials(&self) -> provider::Result {
        let mut cached = self.cached.lock().await;
        if let Some(credentials) = cached.as_ref().filter(|c| lasting(c)) {
            return Ok(credentials.clone());
        }
        let credentials = self.inner.provide_credentials().await?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}

impl ProvideCredentials for Reuse {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}

/// Whether credentials stay valid for a while yet.
fn lasting(credentials: &Credentials) -> bool {
    credentials.expiry().is_none_or(|expiry| {
        expiry.duration_since(SystemTime::now()).is_ok_and(|left| left > REFRESH_BEFORE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_safe_and_short() {
        let name = session_name(&"r".repeat(80));
        assert!(name.len() <= 64);
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)));
    }

    #[test]
    fn keeps_the_stderr_of_a_failed_credential_process() {
        let detail = "an error occurred while loading credentials: Error retrieving credentials: \
                      external process exited with code exit status: 3. Stderr: no cert\n";
        assert_eq!(
            process_failure(detail),
            "external process exited with code exit status: 3; its stderr says: no cert"
        );
    }

    #[test]
    fn soon_expiring_credentials_are_fetched_again() {
        let at = |seconds| SystemTime::now() + Duration::from_secs(seconds);
        let with_expiry = |expiry| Credentials::new("AKID", "secret", None, expiry, "test");
        assert!(lasting(&with_expiry(None)));
        assert!(lasting(&with_expiry(Some(at(3600)))));
        assert!(!lasting(&with_expiry(Some(at(30)))));
        assert!(!lasting(&with_expiry(Some(SystemTime::UNIX_EPOCH))));
    }

    #[test]
    fn names_the_login_command() {
        let error = AwsError::SsoLogin { profile: Some("tre".into()), detail: "expired".into() };
        assert_eq!(error.hint().as_deref(), Some("run: aws sso login --profile tre"));
        assert!(error.to_string().contains("for profile `tre`"), "{error}");
    }
}
