//! Parsing of property values, shared by the property tables.

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;

/// An invalid-value error; the value of a secret property is replaced by `[hidden]`.
pub(super) fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        value: if is_secret(key) {
            "[hidden]".to_owned()
        } else {
            value.to_owned()
        },
        reason: reason.into(),
    }
}

/// An integer in `min..=max`.
pub(super) fn int(key: &str, value: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
    let v: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "not an integer"))?;
    if v < min || v > max {
        return Err(invalid(key, value, format!("must be in {min}..={max}")));
    }
    Ok(v)
}

/// An `i32` of at least `min`.
pub(super) fn i32_at_least(key: &str, value: &str, min: i64) -> Result<i32, ConfigError> {
    // The range check makes the narrowing exact.
    Ok(int(key, value, min, i64::from(i32::MAX))? as i32)
}

/// A duration in milliseconds, at least `min`.
pub(super) fn millis(key: &str, value: &str, min: i64) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(int(key, value, min, i64::MAX)? as u64))
}

/// `true` or `false`, in any case.
pub(super) fn boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "expected true or false")),
    }
}

/// A comma-separated list, entries trimmed, empty ones dropped.
pub(super) fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A trimmed value; empty is none.
pub(super) fn optional(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// Properties whose values are secrets: errors about them never repeat the value.
pub(super) fn is_secret(key: &str) -> bool {
    matches!(
        key,
        "sasl.password"
            | "sasl.jaas.config"
            | "sasl.oauthbearer.config"
            | "ssl.key.password"
            | "ssl.keystore.password"
            | "ssl.key.pem"
            | "ssl.keystore.key"
    )
}

/// A file path; empty is none.
pub(super) fn path(value: &str) -> Option<PathBuf> {
    let v = value.trim();
    (!v.is_empty()).then(|| PathBuf::from(v))
}

/// A value kept as given (PEM text); blank is none.
pub(super) fn text(value: &str) -> Option<String> {
    (!value.trim().is_empty()).then(|| value.to_owned())
}
