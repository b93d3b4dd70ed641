//! Naming rules of AWS and SQL Server that a manifest's values must follow.
//!
//! Each function returns `Err` with a lowercase sentence saying what is wrong, so callers can
//! attach the manifest location and a hint.

/// Release ids go into keys, receipts, lock names and AWS session names.
pub fn release_id(id: &str) -> Result<(), String> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    if id.is_empty() || id.len() > 64 {
        return Err(format!("release id `{id}` must be 1 to 64 characters long"));
    }
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) || !id.chars().all(valid_char) {
        return Err(format!(
            "release id `{id}` may hold only letters, digits, `.`, `_` and `-`, starting with a \
             letter or digit"
        ));
    }
    Ok(())
}

pub fn account_id(id: &str) -> Result<(), String> {
    if id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("`{id}` is not a 12-digit AWS account id"))
    }
}

pub fn region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let letters = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase());
    let number =
        parts.last().is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if parts.len() >= 3 && parts[..parts.len() - 1].iter().all(|p| letters(p)) && number {
        Ok(())
    } else {
        Err(format!("`{region}` is not an AWS region name such as `eu-west-2`"))
    }
}

pub fn role_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let shaped = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && account_id(parts[4]).is_ok()
        && parts[5].strip_prefix("role/").is_some_and(|name| !name.is_empty());
    if shaped { Ok(()) } else { Err(format!("`{arn}` is not an IAM role ARN")) }
}

/// S3 general purpose bucket naming rules.
pub fn bucket(name: &str) -> Result<(), String> {
    let fail = |why: &str| Err(format!("bucket name `{name}` {why}"));
    if !(3..=63).contains(&name.len()) {
        return fail("must be 3 to 63 characters long");
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    if !name.chars().all(allowed) {
        return fail("may hold only lowercase letters, digits, `.` and `-`");
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(name.chars().next()) || !edge(name.chars().last()) {
        return fail("must begin and end with a letter or digit");
    }
    if name.contains("..") {
        return fail("may not hold two adjacent periods");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return fail("may not look like an IP address");
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return fail(&format!("may not start with `{prefix}`"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return fail(&format!("may not end with `{suffix}`"));
        }
    }
    Ok(())
}

/// Object keys: at most 1,024 bytes, printable, and safe to turn back into paths inside
/// the environment (no empty, `.` or `..` segments, no backslashes).
pub fn object_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("object key is empty".to_owned());
    }
    if key.len() > 1024 {
        return Err(format!("object key is {} bytes long; S3 allows 1,024", key.len()));
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return Err(format!("object key `{}` holds control character {:?}", key.escape_debug(), c));
    }
    if key.contains('\\') {
        return Err(format!("object key `{key}` holds a backslash"));
    }
    if key.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        return Err(format!("object key `{key}` has an empty, `.` or `..` segment"));
    }
    Ok(())
}

/// RDS DB instance identifiers.
pub fn instance_id(id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-';
    let valid = (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(allowed)
        && !id.ends_with('-')
        && !id.contains("--");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not an RDS instance identifier (1 to 63 letters, digits or single \
             hyphens, starting with a letter)"
        ))
    }
}

/// Database names that RDS native restore accepts, read strictly.
pub fn database_name(name: &str) -> Result<(), String> {
    let shown = if name.chars().any(char::is_control) {
        name.escape_debug().to_string()
    } else {
        name.to_owned()
    };
    let fail = |why: &str| Err(format!("database name `{shown}` {why}"));
    if name.is_empty() || name.chars().count() > 128 {
        return fail("must be 1 to 128 characters long");
    }
    if name.to_ascii_lowercase().starts_with("rdsadmin") {
        return fail("may not start with `rdsadmin`");
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return fail("may not start or end with white space");
    }
    if name.contains(['\'', '\n', '\r']) || name.chars().any(char::is_control) {
        return fail("may not hold quotes, line breaks or control characters");
    }
    if ["master", "model", "msdb", "tempdb"].contains(&name.to_ascii_lowercase().as_str()) {
        return fail("names a SQL Server system database");
    }
    Ok(())
}

/// Names of environment variables that hold a database login.
pub fn env_var(name: &str) -> Result<(), String> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid { Ok(()) } else { Err(format!("`{name}` is not an environment variable name")) }
}

/// What a value that looks like an AWS credential looks like, if it does.
pub fn looks_like_credential(value: &str) -> Option<&'static str> {
    let value = value.trim();
    let key_id_prefixes = ["AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA"];
    let upper_alnum = |s: &str| s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if value.len() == 20
        && key_id_prefixes.iter().any(|p| value.starts_with(p))
        && upper_alnum(value)
    {
        return Some("an AWS access key id");
    }
    let secret_chars = |c: char| c.is_ascii_alphanumeric() || "/+".contains(c);
    let mixed = value.chars().any(|c| c.is_ascii_uppercase())
        && value.chars().any(|c| c.is_ascii_lowercase())
        && value.chars().any(|c| c.is_ascii_digit());
    if value.len() == 40 && value.chars().all(secret_chars) && mixed {
        return Some("an AWS secret access key");
    }
    None
}

/// Pieces of `line` that look like AWS credentials, as (byte offset, text).
pub fn credential_tokens(line: &str) -> Vec<(usize, &str)> {
    let token_char = |c: char| c.is_ascii_alphanumeric() || "/+".contains(c);
    let mut tokens = Vec::new();
    let mut start = None;
    for (index, c) in line.char_indices().chain(std::iter::once((line.len(), ' '))) {
        match (token_char(c), start) {
            (true, None) => start = Some(index),
            (false, Some(from)) => {
                let token = &line[from..index];
                if looks_like_credential(token).is_some() {
                    tokens.push((from, token));
                }
                start = None;
            }
            _ => {}
        }
    }
    tokens
}

/// `line` with every credential-looking piece replaced by asterisks.
pub fn mask_credentials(line: &str) -> String {
    let mut masked = line.to_owned();
    for (_, token) in credential_tokens(line) {
        masked = masked.replace(token, "********");
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for good in ["tre-release", "a.b-c", "123"] {
            assert_eq!(bucket(good), Ok(()), "{good}");
        }
        for bad in ["ab", "Tre", "a..b", "-ab", "192.168.5.4", "xn--ab", "ab-s3alias", "a_b"] {
            assert!(bucket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_keys() {
        assert_eq!(object_key("a/b c/d.csv"), Ok(()));
        for bad in ["", "/a", "a//b", "a/../b", "a\\b", "a\u{7}b", &"k".repeat(1025)] {
            assert!(object_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn database_names_follow_rds() {
        assert_eq!(database_name("Cohort 12_release"), Ok(()));
        for bad in ["", "rdsadminX", " x", "x ", "o'brien", "a\nb", "msdb"] {
            assert!(database_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn identifiers_and_ids() {
        assert!(release_id("rdmp-2026.11_a").is_ok());
        assert!(release_id("-x").is_err());
        assert!(release_id("a b").is_err());
        assert!(account_id("123456789012").is_ok());
        assert!(account_id("12345").is_err());
        assert!(region("eu-west-2").is_ok());
        assert!(region("us-gov-west-1").is_ok());
        assert!(region("europe").is_err());
        assert!(role_arn("arn:aws:iam::123456789012:role/tre/release").is_ok());
        assert!(role_arn("arn:aws:iam::123456789012:user/me").is_err());
        assert!(instance_id("tre-sql-1").is_ok());
        assert!(instance_id("1tre").is_err());
        assert!(instance_id("a--b").is_err());
    }

    #[test]
    fn credentials_are_found_and_masked_inside_lines() {
        let line = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY # x";
        assert_eq!(credential_tokens(line), [(24, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")]);
        assert_eq!(mask_credentials(line), "aws_secret_access_key = ******** # x");
        assert_eq!(mask_credentials("key: AKIAIOSFODNN7EXAMPLE"), "key: ********");
        assert_eq!(mask_credentials("bucket: tre-data"), "bucket: tre-data");
    }

    #[test]
    fn credentials_are_recognised() {
        assert_eq!(looks_like_credential("AKIAIOSFODNN7EXAMPLE"), Some("an AWS access key id"));
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(looks_like_credential(secret), Some("an AWS secret access key"));
        assert_eq!(looks_like_credential("arn:aws:iam::123456789012:role/tre"), None);
        assert_eq!(looks_like_credential("Cohort_12/demography/people.csv"), None);
    }
}
