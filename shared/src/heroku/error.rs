//! Heroku failures, classified by what the caller should do about them.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum HerokuError {
    /// 401: the access token is expired, revoked or unknown.
    #[error("Heroku rejected the access token")]
    Unauthorized,
    /// 403: the token's user may not see this resource.
    #[error("Heroku denied access: {0}")]
    Forbidden(String),
    /// 404: no such app, add-on, release or webhook.
    #[error("not found at Heroku: {0}")]
    NotFound(String),
    /// 429: the account's rate-limit pool is empty.
    #[error("Heroku rate limit reached")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, timeout or connection failure.
    #[error("Heroku unavailable: {reason}")]
    Unavailable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Any other 4xx: Heroku understood and refused (bad grant, invalid params, ...).
    #[error("Heroku refused ({status} {id}): {message}")]
    Rejected {
        status: u16,
        id: String,
        message: String,
    },
    /// A 2xx whose body is not what the schema promises.
    #[error("unexpected Heroku response: {0}")]
    Decode(String),
}

impl HerokuError {
    /// Whether trying again later can succeed without anyone doing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HerokuError::RateLimited { .. }
                | HerokuError::Unavailable { .. }
                | HerokuError::Decode(_)
        )
    }

    /// How long Heroku asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            HerokuError::RateLimited { retry_after }
            | HerokuError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
