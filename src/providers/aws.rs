//! AWS configuration and identity: one way to build clients for the whole program, and the
//! check that the credentials belong to the account the manifest names.
//!
//! Credentials come from aws-config's standard chain (environment, profiles with IAM
//! Identity Center, `credential_process`, web identity, containers, instances). A manifest
//! `role_arn` is assumed on top, with a session name saying who runs which release.

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use crate::manifest::types::Aws;
use crate::providers::s3::ClientSettings;

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
    /// Name of the credential provider, such as `Sso` or `ProfileFile`.
    pub provider: String,
    /// When the credentials expire, if they do.
    pub expires: Option<jiff::Timestamp>,
    /// Long-lived keys with no session token.
    pub static_keys: bool,
}

/// Why AWS could not be reached as the manifest asks.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("no usable AWS credentials: {0}")]
    Credentials(String),
    #[error("cannot find out who the credentials belong to: {0}")]
    Identity(String),
    #[error(
        "the credentials belong to account {actual}, but the manifest releases to account {expected}"
    )]
    WrongAccount { expected: String, actual: String },
    #[error("the credentials are long-lived access keys, which this manifest does not allow")]
    StaticKeys,
}

impl AwsError {
    pub fn hint(&self, profile: Option<&str>) -> Option<String> {
        let login = match profile {
            Some(profile) => format!("aws sso login --profile {profile}"),
            None => "aws sso login".to_owned(),
        };
        match self {
            AwsError::Credentials(message)
                if message.contains("SSO") || message.contains("sso") =>
            {
                Some(format!("run: {login}"))
            }
            AwsError::Credentials(_) => Some(format!(
                "set `aws.profile` in the manifest or pass --profile, then run: {login}"
            )),
            AwsError::Identity(_) => Some("check the network and the region".to_owned()),
            AwsError::WrongAccount { .. } => Some(
                "sign in to the account the manifest names, or fix `aws.account_id`".to_owned(),
            ),
            AwsError::StaticKeys => Some(
                "sign in with IAM Identity Center or a role; if long-lived keys are really \
                 needed, set `aws.allow_static_keys: true` in the manifest"
                    .to_owned(),
            ),
        }
    }
}

/// SDK configuration for a release: region, profile, and the manifest's role if any.
pub async fn sdk_config(aws: &Aws, release: &str, overrides: &Overrides) -> SdkConfig {
    let region = overrides.region.clone().unwrap_or_else(|| aws.region.clone());
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region));
    if let Some(profile) = overrides.profile.as_ref().or(aws.profile.as_ref()) {
        loader = loader.profile_name(profile);
    }
    let base = loader.load().await;
    let Some(role_arn) = &aws.role_arn else { return base };
    let mut role = AssumeRoleProvider::builder(role_arn).session_name(session_name(release));
    if let Some(external_id) = &aws.external_id {
        role = role.external_id(external_id);
    }
    let provider = role.configure(&base).build().await;
    base.into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build()
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
    let env_endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    let force_path_style = aws.force_path_style.or(env_endpoint.then_some(true));
    ClientSettings { endpoint_url: aws.endpoint_url.clone(), force_path_style }
}

/// Resolves credentials and asks STS who they belong to. Refuses long-lived keys unless the
/// manifest allows them, and any account other than the manifest's.
pub async fn identify(config: &SdkConfig, aws: &Aws) -> Result<Identity, AwsError> {
    let provider = config
        .credentials_provider()
        .ok_or_else(|| AwsError::Credentials("no credential provider is configured".into()))?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|error| AwsError::Credentials(error_chain(&error)))?;
    let static_keys = credentials.session_token().is_none();
    if static_keys && !aws.allow_static_keys {
        return Err(AwsError::StaticKeys);
    }
    let sts = aws_sdk_sts::Client::new(config);
    let output = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| AwsError::Identity(error_chain(&error)))?;
    let identity = Identity {
        arn: output.arn.unwrap_or_default(),
        account: output.account.unwrap_or_default(),
        user_id: output.user_id.unwrap_or_default(),
        provider: source(&credentials),
        expires: credentials.expiry().and_then(|t| jiff::Timestamp::try_from(t).ok()),
        static_keys,
    };
    if identity.account != aws.account_id {
        return Err(AwsError::WrongAccount {
            expected: aws.account_id.clone(),
            actual: identity.account,
        });
    }
    Ok(identity)
}

/// Where credentials came from, in words, from the features aws-config records on them.
fn source(credentials: &aws_credential_types::Credentials) -> String {
    use aws_credential_types::credential_feature::AwsCredentialFeature as Feature;
    let features = credentials.get_property::<Vec<Feature>>().cloned().unwrap_or_default();
    let name = |feature: &Feature| match feature {
        Feature::CredentialsEnvVars => "environment variables",
        Feature::CredentialsProfile => "profile keys",
        Feature::CredentialsProfileSso | Feature::CredentialsSso => "IAM Identity Center",
        Feature::CredentialsProfileProcess | Feature::CredentialsProcess => "credential_process",
        Feature::CredentialsStsAssumeRole => "assumed role",
        Feature::CredentialsStsAssumeRoleWebId
        | Feature::CredentialsEnvVarsStsWebIdToken
        | Feature::CredentialsProfileStsWebIdToken => "web identity",
        Feature::CredentialsImds => "instance metadata",
        Feature::CredentialsHttp => "container credentials",
        _ => "",
    };
    let mut names: Vec<&str> = features.iter().map(name).filter(|n| !n.is_empty()).collect();
    names.dedup();
    if names.is_empty() { "default chain".to_owned() } else { names.join(" via ") }
}

/// An error and its causes on one line, most specific last.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
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
}
