//! What the shared AWS config and credentials files say about profiles, read only to explain
//! things to people: which profiles exist when a named one is missing, which profile to sign in
//! with when an IAM Identity Center token has run out, and how a profile gets its credentials.
//!
//! aws-config still loads every credential itself. Nothing here keeps a secret: of each
//! profile only the setting names and a few harmless values (role ARN, source profile, SSO
//! session name) are remembered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How one profile gets its credentials, as far as the files say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// `sso_session`: the `[sso-session NAME]` section it signs in through.
    pub sso_session: Option<String>,
    /// `sso_start_url` set directly in the profile (the older IAM Identity Center layout).
    pub legacy_sso: bool,
    pub role_arn: Option<String>,
    pub source_profile: Option<String>,
    pub credential_source: Option<String>,
    pub credential_process: bool,
    pub web_identity: bool,
    /// `aws_access_key_id` is set: long-lived keys, unless a session token comes with them.
    pub access_keys: bool,
}

impl Profile {
    /// Whether the profile signs in with IAM Identity Center.
    pub fn uses_sso(&self) -> bool {
        self.sso_session.is_some() || self.legacy_sso
    }
}

/// The profiles of both files, merged by name, and where the files are.
#[derive(Debug, Clone, Default)]
pub struct ProfileFiles {
    pub config: PathBuf,
    pub credentials: PathBuf,
    profiles: BTreeMap<String, Profile>,
}

impl ProfileFiles {
    /// Reads the files the SDK reads: `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`, or
    /// `~/.aws/config` and `~/.aws/credentials`. A missing or unreadable file holds nothing.
    pub fn read() -> ProfileFiles {
        let config = file_path("AWS_CONFIG_FILE", "config");
        let credentials = file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        let mut files = ProfileFiles { config, credentials, profiles: BTreeMap::new() };
        if let Ok(text) = std::fs::read_to_string(&files.config) {
            files.add(&text, FileKind::Config);
        }
        if let Ok(text) = std::fs::read_to_string(&files.credentials) {
            files.add(&text, FileKind::Credentials);
        }
        files
    }

    /// Names of every profile defined in either file, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.profiles.keys().map(String::as_str).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    /// The profile to sign in with for `name`: `name` itself when it uses IAM Identity Center,
    /// otherwise the first profile along its `source_profile` links that does.
    pub fn sso_profile<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        let mut current = name;
        for _ in 0..self.profiles.len().max(1) {
            let profile = self.profiles.get(current)?;
            if profile.uses_sso() {
                return Some(current);
            }
            current = profile.source_profile.as_deref()?;
        }
        None
    }

    /// Both files, for messages: `` `a` or `b` ``.
    pub fn locations(&self) -> String {
        format!("`{}` or `{}`", self.config.display(), self.credentials.display())
    }

    fn add(&mut self, text: &str, kind: FileKind) {
        let mut current: Option<String> = None;
        for line in text.lines() {
            // Indented lines continue a nested setting (`s3 =` and its sub-settings).
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let line = line.trim();
            if line.is_empty() || line.starts_with(['#', ';']) {
                continue;
            }
            if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = kind.profile_name(header.trim());
                if let Some(name) = &current {
                    self.profiles.entry(name.clone()).or_default();
                }
                continue;
            }
            let (Some(name), Some((key, value))) = (&current, line.split_once('=')) else {
                continue;
            };
            if let Some(profile) = self.profiles.get_mut(name) {
                remember(profile, &key.trim().to_ascii_lowercase(), value.trim());
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Config,
    Credentials,
}

impl FileKind {
    /// The profile a section header names, if it names one: the config file writes
    /// `[profile NAME]` (and `[default]`), the credentials file `[NAME]`.
    fn profile_name(self, header: &str) -> Option<String> {
        match self {
            FileKind::Credentials => Some(header.to_owned()),
            FileKind::Config if header == "default" => Some(header.to_owned()),
            FileKind::Config => {
                let name = header.strip_prefix("profile")?;
                name.starts_with([' ', '\t']).then(|| name.trim().to_owned())
            }
        }
    }
}

/// Keeps what a setting says about how the profile signs in, and never a secret.
fn remember(profile: &mut Profile, key: &str, value: &str) {
    let value = (!value.is_empty()).then(|| value.to_owned());
    match key {
        "sso_session" => profile.sso_session = value,
        "sso_start_url" => profile.legacy_sso = true,
        "role_arn" => profile.role_arn = value,
        "source_profile" => profile.source_profile = value,
        "credential_source" => profile.credential_source = value,
        "credential_process" => profile.credential_process = true,
        "web_identity_token_file" => profile.web_identity = true,
        "aws_access_key_id" => profile.access_keys = true,
        _ => {}
    }
}

/// The file named by environment variable `variable`, or `~/.aws/NAME`.
fn file_path(variable: &str, name: &str) -> PathBuf {
    match std::env::var_os(variable).filter(|v| !v.is_empty()) {
        Some(path) => expand_home(Path::new(&path)),
        None => home().join(".aws").join(name),
    }
}

/// `path` with a leading `~` replaced by the home folder, as the SDK does.
fn expand_home(path: &Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => home().join(rest),
        Err(_) => path.to_owned(),
    }
}

fn home() -> PathBuf {
    ["HOME", "USERPROFILE"]
        .iter()
        .find_map(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
        .map(PathBuf::from)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(config: &str, credentials: &str) -> ProfileFiles {
        let mut files = ProfileFiles::default();
        files.add(config, FileKind::Config);
        files.add(credentials, FileKind::Credentials);
        files
    }

    #[test]
    fn reads_profile_names_from_both_files() {
        let files = files(
            "[default]\nregion = eu-west-2\n[profile tre]\nsso_session = corp\n\
             [sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n\
             [services local]\ns3 =\n  endpoint_url = http://localhost\n[profileless]\n",
            "# keys\n[ci]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n",
        );
        assert_eq!(files.names(), ["ci", "default", "tre"]);
        assert_eq!(files.get("tre").unwrap().sso_session.as_deref(), Some("corp"));
        assert!(files.get("ci").unwrap().access_keys);
        assert!(!files.get("default").unwrap().uses_sso());
    }

    #[test]
    fn finds_the_profile_to_sign_in_with_along_source_profiles() {
        let files = files(
            "[profile release]\nrole_arn = arn:aws:iam::111122223333:role/r\n\
             source_profile = login\n[profile login]\nsso_start_url = https://x\n\
             [profile loop]\nsource_profile = loop\n",
            "",
        );
        assert_eq!(files.sso_profile("release"), Some("login"));
        assert_eq!(files.sso_profile("login"), Some("login"));
        assert_eq!(files.sso_profile("loop"), None);
        assert_eq!(files.sso_profile("absent"), None);
    }

    #[test]
    fn keeps_no_secret_values() {
        let files = files("", "[k]\naws_secret_access_key = SECRETVALUE\naws_session_token = T\n");
        assert!(!format!("{files:?}").contains("SECRETVALUE"));
    }
}
