//! The error every route answers with: `{"error": code, "message": text}`, the status, and
//! `Retry-After` when the caller should come back.

use super::json;
use crate::access::Denied;
use crate::domain::ValidationError;
use crate::linking::LinkError;
use crate::pending::ConfirmError;
use lambda_http::{Body, Response};

/// An error answered to the caller as `{"error": code, "message": text}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(400, "bad_request", m)
    }
    /// 400: a confirmation that is unknown, used or expired (docs/contract.md, the
    /// confirm route).
    pub fn invalid_confirmation(m: impl Into<String>) -> Self {
        Self::new(400, "invalid_confirmation", m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", m)
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(403, "forbidden", m)
    }
    /// 403 for a project member who is not the one allowed: the owner for a connect, the
    /// connected owner for anything that uses the Heroku grant.
    pub fn not_project_owner(m: impl Into<String>) -> Self {
        Self::new(403, "not_project_owner", m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(404, "not_found", m)
    }
    pub fn method_not_allowed(m: impl Into<String>) -> Self {
        Self::new(405, "method_not_allowed", m)
    }
    /// 409: a stack quota is used up.
    pub fn quota_exceeded(m: impl Into<String>) -> Self {
        Self::new(409, "quota_exceeded", m)
    }
    /// 409: the link is opted out or disconnected, so nothing syncs it (a resync).
    pub fn link_not_active(m: impl Into<String>) -> Self {
        Self::new(409, "link_not_active", m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(409, "conflict", m)
    }
    pub fn too_large(m: impl Into<String>) -> Self {
        Self::new(413, "payload_too_large", m)
    }
    /// 422: the config var is not one a Postgres add-on of the app provides.
    pub fn not_an_addon_config_var(m: impl Into<String>) -> Self {
        Self::new(422, "not_an_addon_config_var", m)
    }
    pub fn unprocessable(m: impl Into<String>) -> Self {
        Self::new(422, "unprocessable", m)
    }
    pub fn rate_limited(m: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(429, "rate_limited", m)
        }
    }
    pub fn unavailable(m: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(503, "unavailable", m)
        }
    }
    pub fn bad_gateway(m: impl Into<String>) -> Self {
        Self::new(502, "bad_gateway", m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(500, "internal", m)
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut resp = json(self.status, &body);
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(s));
        }
        resp
    }
}

impl From<crate::ports::StoreError> for ApiError {
    fn from(e: crate::ports::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        match e {
            crate::ports::StoreError::Unavailable(_) => {
                ApiError::unavailable("storage is unavailable; retry", 5)
            }
            _ => ApiError::internal("internal error"),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

/// A linking (or opt-out) failure as the caller sees it.
impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        let message = e.to_string();
        match e {
            LinkError::NotConnected | LinkError::Reconnect | LinkError::Conflict(_) => {
                ApiError::conflict(message)
            }
            LinkError::Unprocessable(_) => ApiError::unprocessable(message),
            LinkError::NotAnAddonConfigVar(_) => ApiError::not_an_addon_config_var(message),
            LinkError::QuotaExceeded(_) => ApiError::quota_exceeded(message),
            LinkError::RateLimited(wait) => ApiError::rate_limited(message, wait.as_secs()),
            LinkError::Unavailable(_) => ApiError::unavailable(message, 5),
            LinkError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                ApiError::internal("internal error")
            }
        }
    }
}

/// A refusal by the access rules: 403 `not_project_owner`.
impl From<Denied> for ApiError {
    fn from(e: Denied) -> Self {
        match e {
            Denied::NotProjectOwner(m) => ApiError::not_project_owner(m),
            Denied::Store(e) => e.into(),
        }
    }
}

/// A confirm step that did not take (docs/contract.md, the confirm route).
impl From<ConfirmError> for ApiError {
    fn from(e: ConfirmError) -> Self {
        match e {
            e @ ConfirmError::Invalid => ApiError::invalid_confirmation(e.to_string()),
            ConfirmError::Denied(e) => e.into(),
            ConfirmError::Store(e) => e.into(),
            ConfirmError::Link(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::StoreError;

    fn answered(e: impl Into<ApiError>) -> (u16, &'static str) {
        let e = e.into();
        (e.status, e.code)
    }

    /// The use cases' errors reach the caller as the contract's statuses and codes
    /// (docs/contract.md, errors), whichever use case they come from.
    #[test]
    fn use_case_errors_answer_the_contracts_status_and_code() {
        let down = || StoreError::Unavailable("throttled".into());
        let store = answered(down());
        assert_eq!(store.0, 503);
        assert_eq!(
            answered(Denied::NotProjectOwner("no")),
            (403, "not_project_owner")
        );
        assert_eq!(answered(Denied::Store(down())), store);
        assert_eq!(
            answered(ConfirmError::Invalid),
            (400, "invalid_confirmation")
        );
        assert_eq!(
            answered(ConfirmError::Denied(Denied::NotProjectOwner("no"))),
            (403, "not_project_owner")
        );
        assert_eq!(answered(ConfirmError::Store(down())), store);
        assert_eq!(answered(ConfirmError::Link(LinkError::NotConnected)).0, 409);
        assert_eq!(
            answered(LinkError::NotAnAddonConfigVar("x".into())),
            (422, "not_an_addon_config_var")
        );
        let limited: ApiError = LinkError::RateLimited(std::time::Duration::from_secs(30)).into();
        assert_eq!((limited.status, limited.retry_after), (429, Some(30)));
        let internal: ApiError = LinkError::Internal("a secret detail".into()).into();
        assert_eq!(internal.status, 500);
        assert!(!internal.message.contains("secret"), "{}", internal.message);
    }
}
