//! Typed configuration, read once from the environment names fixed in docs/contract.md.

use std::fmt;

/// Default Heroku endpoints, used when `HEROKU_API_URL` / `HEROKU_ID_URL` are unset.
pub const DEFAULT_HEROKU_API_URL: &str = "https://api.heroku.com";
pub const DEFAULT_HEROKU_ID_URL: &str = "https://id.heroku.com";

/// Everything a function needs to know about its surroundings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The one DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// Prefix of every secret name we create (`SECRET_PREFIX`), without a trailing slash.
    pub secret_prefix: String,
    /// Public base URL of the HTTP API (`PUBLIC_BASE_URL`), without a trailing slash.
    /// Optional in Lambda: when empty the connect function derives it from the request's
    /// domain name, which is what API Gateway's default endpoint gives us.
    pub public_base_url: Option<String>,
    /// Where the OAuth callback sends the browser back (`CONSOLE_URL`).
    pub console_url: Option<String>,
    pub heroku_api_url: String,
    pub heroku_id_url: String,
    pub heroku_oauth_client_id: Option<String>,
    /// Secrets Manager id of the Heroku OAuth client secret.
    pub heroku_oauth_client_secret_id: Option<String>,
    /// Secrets Manager id of the webhook signing key.
    pub webhook_signing_key_id: Option<String>,
    /// The EventBridge bus change events go to (`EVENT_BUS_NAME`): a name, or an ARN for
    /// a bus in another account.
    pub event_bus_name: Option<String>,
    /// Quotas (stack parameters): env vars one project may sync (`LINKS_PER_PROJECT`,
    /// default 200) and trial databases it may create per day
    /// (`TRIAL_DATABASES_PER_DAY`, default 3). Past them: 409 `quota_exceeded`.
    pub links_per_project: usize,
    pub trial_databases_per_day: usize,
}

/// Defaults of the quotas when the stack does not set them.
pub const DEFAULT_LINKS_PER_PROJECT: usize = 200;
pub const DEFAULT_TRIAL_DATABASES_PER_DAY: usize = 3;

/// A configuration problem, naming the variable so an operator can fix it at once.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Which optional settings a function cannot run without.
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    pub oauth_client: bool,
    pub signing_key: bool,
    pub console_url: bool,
    /// Functions that write env vars publish change events, so need `EVENT_BUS_NAME`.
    pub event_bus: bool,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env(needs: Needs) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), needs)
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        needs: Needs,
    ) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let require = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        // https everywhere but on this machine: tokens, codes and the callback's redirect
        // travel through these URLs. http is for loopback hosts (the local stack) only.
        let url = |name: &'static str, value: String| -> Result<String, ConfigError> {
            match url::Url::parse(&value) {
                Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)) => {
                    Ok(value.trim_end_matches('/').to_owned())
                }
                Ok(u) if u.scheme() == "http" => Err(ConfigError::Invalid {
                    name,
                    reason:
                        "must be an https:// URL (http:// only for 127.0.0.1, localhost or [::1])"
                            .into(),
                }),
                _ => Err(ConfigError::Invalid {
                    name,
                    reason: "expected an https:// URL".into(),
                }),
            }
        };

        let quota = |name: &'static str, default: usize| -> Result<usize, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                    name,
                    reason: "expected a whole number".into(),
                }),
            }
        };
        let table_name = require("TABLE_NAME")?;
        let secret_prefix = require("SECRET_PREFIX")?.trim_end_matches('/').to_owned();
        if secret_prefix.is_empty()
            || !secret_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
        {
            return Err(ConfigError::Invalid {
                name: "SECRET_PREFIX",
                reason: "use letters, digits and /_+=.@- only".into(),
            });
        }
        let public_base_url = get("PUBLIC_BASE_URL")
            .map(|v| url("PUBLIC_BASE_URL", v))
            .transpose()?;
        let console_url = get("CONSOLE_URL")
            .map(|v| url("CONSOLE_URL", v))
            .transpose()?;
        let heroku_api_url = url(
            "HEROKU_API_URL",
            get("HEROKU_API_URL").unwrap_or_else(|| DEFAULT_HEROKU_API_URL.into()),
        )?;
        let heroku_id_url = url(
            "HEROKU_ID_URL",
            get("HEROKU_ID_URL").unwrap_or_else(|| DEFAULT_HEROKU_ID_URL.into()),
        )?;
        let event_bus_name = get("EVENT_BUS_NAME");
        if let Some(bus) = &event_bus_name
            && (bus.len() > 1600
                || !bus
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-:".contains(c)))
        {
            return Err(ConfigError::Invalid {
                name: "EVENT_BUS_NAME",
                reason: "an EventBridge bus name or ARN: letters, digits and /._-: only".into(),
            });
        }
        let config = Config {
            table_name,
            secret_prefix,
            public_base_url,
            console_url,
            heroku_api_url,
            heroku_id_url,
            heroku_oauth_client_id: get("HEROKU_OAUTH_CLIENT_ID"),
            heroku_oauth_client_secret_id: get("HEROKU_OAUTH_CLIENT_SECRET_ID"),
            webhook_signing_key_id: get("WEBHOOK_SIGNING_KEY_ID"),
            event_bus_name,
            links_per_project: quota("LINKS_PER_PROJECT", DEFAULT_LINKS_PER_PROJECT)?,
            trial_databases_per_day: quota(
                "TRIAL_DATABASES_PER_DAY",
                DEFAULT_TRIAL_DATABASES_PER_DAY,
            )?,
        };
        if needs.oauth_client {
            config.oauth_client_id()?;
            config.oauth_client_secret_id()?;
        }
        if needs.signing_key {
            config.signing_key_id()?;
        }
        if needs.console_url && config.console_url.is_none() {
            return Err(ConfigError::Missing("CONSOLE_URL"));
        }
        if needs.event_bus && config.event_bus_name.is_none() {
            return Err(ConfigError::Missing("EVENT_BUS_NAME"));
        }
        Ok(config)
    }

    pub fn oauth_client_id(&self) -> Result<&str, ConfigError> {
        self.heroku_oauth_client_id
            .as_deref()
            .ok_or(ConfigError::Missing("HEROKU_OAUTH_CLIENT_ID"))
    }

    pub fn oauth_client_secret_id(&self) -> Result<&str, ConfigError> {
        self.heroku_oauth_client_secret_id
            .as_deref()
            .ok_or(ConfigError::Missing("HEROKU_OAUTH_CLIENT_SECRET_ID"))
    }

    pub fn signing_key_id(&self) -> Result<&str, ConfigError> {
        self.webhook_signing_key_id
            .as_deref()
            .ok_or(ConfigError::Missing("WEBHOOK_SIGNING_KEY_ID"))
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only ids and URLs: nothing here is a secret, but say so by construction.
        write!(
            f,
            "table={} secret_prefix={} heroku_api={} heroku_id={}",
            self.table_name, self.secret_prefix, self.heroku_api_url, self.heroku_id_url
        )
    }
}

/// A host on this machine: the only place a plain-http URL is acceptable.
fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn given_minimal_env_when_read_then_heroku_defaults_apply() {
        let c = Config::from_lookup(
            lookup(&[("TABLE_NAME", "t"), ("SECRET_PREFIX", "hsync/")]),
            Needs::default(),
        )
        .unwrap();
        assert_eq!(c.secret_prefix, "hsync");
        assert_eq!(c.heroku_api_url, DEFAULT_HEROKU_API_URL);
        assert_eq!(c.heroku_id_url, DEFAULT_HEROKU_ID_URL);
        assert_eq!(c.public_base_url, None);
    }

    #[test]
    fn given_missing_table_when_read_then_error_names_variable() {
        let err =
            Config::from_lookup(lookup(&[("SECRET_PREFIX", "p")]), Needs::default()).unwrap_err();
        assert_eq!(err, ConfigError::Missing("TABLE_NAME"));
        assert!(err.to_string().contains("TABLE_NAME"));
    }

    #[test]
    fn given_needs_signing_key_when_absent_then_error() {
        let err = Config::from_lookup(
            lookup(&[("TABLE_NAME", "t"), ("SECRET_PREFIX", "p")]),
            Needs {
                signing_key: true,
                ..Needs::default()
            },
        )
        .unwrap_err();
        assert_eq!(err, ConfigError::Missing("WEBHOOK_SIGNING_KEY_ID"));
    }

    #[test]
    fn given_a_syncing_function_then_the_event_bus_is_required_and_checked() {
        let needs = Needs {
            event_bus: true,
            ..Needs::default()
        };
        let base = [("TABLE_NAME", "t"), ("SECRET_PREFIX", "p")];
        assert_eq!(
            Config::from_lookup(lookup(&base), needs).unwrap_err(),
            ConfigError::Missing("EVENT_BUS_NAME")
        );
        for ok in [
            "heroku-db-url-sync",
            "arn:aws:events:us-east-1:123456789012:event-bus/platform",
        ] {
            let c = Config::from_lookup(lookup(&[base[0], base[1], ("EVENT_BUS_NAME", ok)]), needs)
                .unwrap();
            assert_eq!(c.event_bus_name.as_deref(), Some(ok));
        }
        let err = Config::from_lookup(
            lookup(&[base[0], base[1], ("EVENT_BUS_NAME", "my bus")]),
            needs,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "EVENT_BUS_NAME",
                ..
            }
        ));
        // A function that never syncs (opt-out) runs without one.
        assert!(Config::from_lookup(lookup(&base), Needs::default()).is_ok());
    }

    #[test]
    fn given_bad_url_when_read_then_invalid() {
        let err = Config::from_lookup(
            lookup(&[
                ("TABLE_NAME", "t"),
                ("SECRET_PREFIX", "p"),
                ("HEROKU_API_URL", "ftp://x"),
            ]),
            Needs::default(),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "HEROKU_API_URL",
                ..
            }
        ));
    }

    #[test]
    fn given_plain_http_outside_this_machine_then_invalid_and_on_loopback_then_fine() {
        for name in [
            "HEROKU_API_URL",
            "HEROKU_ID_URL",
            "CONSOLE_URL",
            "PUBLIC_BASE_URL",
        ] {
            let read = |value: &str| {
                Config::from_lookup(
                    lookup(&[("TABLE_NAME", "t"), ("SECRET_PREFIX", "p"), (name, value)]),
                    Needs::default(),
                )
            };
            assert!(
                matches!(read("http://api.example.com"), Err(ConfigError::Invalid { name: n, .. }) if n == name),
                "{name}"
            );
            for ok in [
                "https://api.example.com",
                "http://127.0.0.1:8787",
                "http://localhost:5001",
                "http://[::1]:9000",
            ] {
                assert!(read(ok).is_ok(), "{name}={ok}");
            }
        }
    }
}
