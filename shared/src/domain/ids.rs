//! Validated identifiers. They end up in DynamoDB keys and Secrets Manager names, so each
//! one is checked once, at the edge, and cannot be built invalid afterwards.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value that failed validation, with a message fit to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field,
        message: message.into(),
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
                let value = value.into();
                $check(&value)?;
                Ok(Self(value))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

string_id!(
    /// The platform's project id. Letters, digits, `.`, `_`, `-`; at most 128.
    ProjectId,
    check_project_id
);
string_id!(
    /// A project env var name: a portable shell identifier, as every runtime accepts.
    EnvVarName,
    check_env_var
);
string_id!(
    /// A Heroku config var name (`^\w+$` in Heroku's schema).
    ConfigVarName,
    check_config_var
);
string_id!(
    /// A Heroku app's id (a UUID). Links key on the id, never the name: names can change.
    AppId,
    check_app_id
);

/// Env var names a project may not sync into: a runtime, loader, interpreter or cloud
/// variable that would change how the project's process starts or whom it talks to (a
/// database URL in `LD_PRELOAD` or `NODE_OPTIONS` is at best a broken start). Compared in
/// upper case; documented in docs/security.md.
pub const RESERVED_ENV_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "SHELL",
    "USER",
    "PWD",
    "LANG",
    "TZ",
    "HOSTNAME",
    "IFS",
    "ENV",
    "BASH_ENV",
    "PS4",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "GCONV_PATH",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH",
    "NODE_OPTIONS",
    "NODE_PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PERL5LIB",
    "PERL5OPT",
    "RUBYOPT",
    "RUBYLIB",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

/// Prefixes reserved the same way: the cloud's and the platform's own variables.
pub const RESERVED_ENV_VAR_PREFIXES: &[&str] = &["AWS_", "LAMBDA_", "ECS_", "KUBERNETES_"];

impl EnvVarName {
    /// May a sync write this env var? Not a reserved name (see [`RESERVED_ENV_VARS`]).
    /// Checked when linking, not when parsing, so links stored before stay readable.
    pub fn check_assignable(&self) -> Result<(), ValidationError> {
        let upper = self.0.to_ascii_uppercase();
        let reserved = RESERVED_ENV_VARS.contains(&upper.as_str())
            || RESERVED_ENV_VAR_PREFIXES
                .iter()
                .any(|p| upper.starts_with(p));
        if reserved {
            return Err(invalid(
                "env_var",
                format!(
                    "{} is reserved for the runtime or the platform; choose another name \
                     (for example PG_DATABASE_URL)",
                    self.0
                ),
            ));
        }
        Ok(())
    }
}

fn check_project_id(v: &str) -> Result<(), ValidationError> {
    if v.is_empty() || v.len() > 128 {
        return Err(invalid("project_id", "must be 1 to 128 characters"));
    }
    if v.starts_with('.')
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(invalid(
            "project_id",
            "may contain only letters, digits, '.', '_' and '-', and not start with '.'",
        ));
    }
    Ok(())
}

fn check_env_var(v: &str) -> Result<(), ValidationError> {
    let mut chars = v.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || v.len() > 255 || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid(
            "env_var",
            "must start with a letter or '_', contain only letters, digits and '_', and be at most 255 characters",
        ));
    }
    Ok(())
}

fn check_config_var(v: &str) -> Result<(), ValidationError> {
    if v.is_empty() || v.len() > 255 || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid(
            "config_var",
            "must be letters, digits and '_' only (at most 255)",
        ));
    }
    Ok(())
}

fn check_app_id(v: &str) -> Result<(), ValidationError> {
    if uuid::Uuid::parse_str(v).is_err() {
        return Err(invalid("app_id", "must be a Heroku app UUID"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names_follow_shell_rules() {
        for ok in ["PG_DATABASE_URL", "_X", "a1", "DATABASE_URL"] {
            assert!(EnvVarName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1ABC",
            "A-B",
            "A B",
            "ÄB",
            "A/B",
            "A#B",
            &"A".repeat(256),
        ] {
            assert!(EnvVarName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn project_ids_cannot_smuggle_key_or_path_separators() {
        for bad in ["", "a/b", "a#b", ".hidden", "a b", "p\n"] {
            assert!(ProjectId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ProjectId::parse("proj-1.a_b").is_ok());
    }

    #[test]
    fn app_ids_are_uuids() {
        assert!(AppId::parse("44dc9c7a-771c-4a9e-bfe9-a8dbc1c55f4d").is_ok());
        assert!(AppId::parse("sample-app").is_err());
    }

    #[test]
    fn ids_deserialize_through_validation() {
        assert!(serde_json::from_str::<EnvVarName>("\"1X\"").is_err());
        let v: EnvVarName = serde_json::from_str("\"X\"").unwrap();
        assert_eq!(v.as_str(), "X");
    }
}
