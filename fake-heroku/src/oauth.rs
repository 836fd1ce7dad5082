//! Heroku OAuth (id.heroku.com): the authorize redirect, the token endpoint, and token bookkeeping.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::names;
use crate::state::{
    AccessTokenRec, AuthorizationRec, ClientRec, CodeRec, RefreshTokenRec, Shared, State as World,
};
use crate::types::{AuthorizeDecision, Tokens};

const CODE_TTL: Duration = Duration::from_secs(300);
const SCOPES: &[&str] = &[
    "identity",
    "read",
    "write",
    "read-protected",
    "write-protected",
    "global",
];

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
}

impl World {
    pub(crate) fn register_client(&mut self, id: &str, secret: &str, redirect_uri: &str) {
        self.clients.insert(
            id.to_owned(),
            ClientRec {
                id: id.to_owned(),
                name: format!("OAuth client {id}"),
                secret: secret.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
            },
        );
    }

    fn new_access_token(&mut self, authorization_id: &str, user_id: &str) -> (String, String, i64) {
        let ttl = self.settings.token_ttl;
        let token = names::token();
        self.access_tokens.insert(
            token.clone(),
            AccessTokenRec {
                authorization_id: authorization_id.to_owned(),
                user_id: user_id.to_owned(),
                expires_at: Instant::now() + ttl,
            },
        );
        (names::uuid(), token, ttl.as_secs() as i64)
    }

    fn new_refresh_token(&mut self, authorization_id: &str) -> (String, String) {
        let token = names::token();
        self.refresh_tokens.insert(
            token.clone(),
            RefreshTokenRec {
                authorization_id: authorization_id.to_owned(),
                valid: true,
            },
        );
        (names::uuid(), token)
    }

    /// A new authorization of `client_id` by `user_id`, with fresh tokens.
    pub(crate) fn issue_authorization(
        &mut self,
        user_id: &str,
        client_id: &str,
        scope: Vec<String>,
    ) -> Tokens {
        let id = names::uuid();
        let (access_token_id, access_token, expires_in) = self.new_access_token(&id, user_id);
        let (refresh_token_id, refresh_token) = self.new_refresh_token(&id);
        let now = names::now();
        self.authorizations.insert(
            id.clone(),
            AuthorizationRec {
                id: id.clone(),
                client_id: client_id.to_owned(),
                user_id: user_id.to_owned(),
                scope,
                created_at: now.clone(),
                updated_at: now,
                access_token_id,
                access_token: access_token.clone(),
                refresh_token_id,
                refresh_token: refresh_token.clone(),
                revoked: false,
            },
        );
        Tokens {
            access_token,
            refresh_token,
            expires_in,
            authorization_id: id,
        }
    }

    /// Revokes an authorization; its tokens die with it (checked on every use).
    pub(crate) fn revoke_authorization(&mut self, id: &str) {
        if let Some(a) = self.authorizations.get_mut(id) {
            a.revoked = true;
            a.updated_at = names::now();
        }
    }

    /// A refresh-token grant: a new access token, and (when rotating) a new refresh token that
    /// replaces the old one.
    fn refresh(
        &mut self,
        refresh_token: &str,
        client_secret: &str,
    ) -> Result<(Tokens, String), OAuthError> {
        let rec = self
            .refresh_tokens
            .get(refresh_token)
            .filter(|r| r.valid)
            .cloned()
            .ok_or_else(|| OAuthError::invalid_grant("Invalid refresh token."))?;
        let auth = self
            .authorizations
            .get(&rec.authorization_id)
            .filter(|a| !a.revoked)
            .cloned()
            .ok_or_else(|| OAuthError::invalid_grant("The authorization was revoked."))?;
        self.check_client(&auth.client_id, client_secret)?;
        let (access_token_id, access_token, expires_in) =
            self.new_access_token(&auth.id, &auth.user_id);
        let (refresh_token_id, refresh_token) = if self.settings.rotate_refresh {
            if let Some(old) = self.refresh_tokens.get_mut(refresh_token) {
                old.valid = false;
            }
            self.new_refresh_token(&auth.id)
        } else {
            (auth.refresh_token_id.clone(), auth.refresh_token.clone())
        };
        let a = self
            .authorizations
            .get_mut(&auth.id)
            .expect("authorization exists");
        a.access_token_id = access_token_id;
        a.access_token = access_token.clone();
        a.refresh_token_id = refresh_token_id;
        a.refresh_token = refresh_token.clone();
        a.updated_at = names::now();
        let tokens = Tokens {
            access_token,
            refresh_token,
            expires_in,
            authorization_id: auth.id,
        };
        Ok((tokens, auth.user_id))
    }

    fn check_client(&self, client_id: &str, secret: &str) -> Result<(), OAuthError> {
        match self.clients.get(client_id) {
            Some(c) if c.secret == secret => Ok(()),
            _ => Err(OAuthError::invalid_client()),
        }
    }
}

/// The token endpoint's errors: Heroku's `{id, message}` plus OAuth 2's `error` fields, so
/// clients reading either style understand them.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    message: String,
}

impl OAuthError {
    fn invalid_grant(message: &str) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_grant",
            message: message.to_owned(),
        }
    }

    fn invalid_request(message: &str) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            message: message.to_owned(),
        }
    }

    fn invalid_client() -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            message: "Invalid OAuth client credentials.".to_owned(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let id = if self.status == StatusCode::UNAUTHORIZED {
            "unauthorized"
        } else {
            self.error
        };
        let body = json!({
            "id": id,
            "message": self.message,
            "error": self.error,
            "error_description": self.message,
        });
        (self.status, axum::Json(body)).into_response()
    }
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><title>Heroku</title><h1>{message}</h1>"
        )),
    )
        .into_response()
}

fn redirect(base: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(base) else {
        return error_page(StatusCode::BAD_REQUEST, "Invalid redirect URI");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

fn parse_scope(scope: Option<&String>) -> Vec<String> {
    let scope: Vec<String> = scope
        .map(|s| {
            s.split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if scope.is_empty() {
        vec!["global".to_owned()]
    } else {
        scope
    }
}

/// The consent step: the "browser user" approves (or denies) at once, no page shown.
async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut st = s.lock();
    let Some(client) = q
        .get("client_id")
        .and_then(|id| st.clients.get(id))
        .cloned()
    else {
        return error_page(StatusCode::BAD_REQUEST, "Unknown OAuth client");
    };
    if q.get("redirect_uri")
        .is_some_and(|r| *r != client.redirect_uri)
    {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The redirect_uri does not match the OAuth client's",
        );
    }
    let state = q.get("state").map(String::as_str).unwrap_or("");
    let with_state = |mut p: Vec<(&'static str, String)>| {
        if q.contains_key("state") {
            p.push(("state", state.to_owned()));
        }
        let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        redirect(&client.redirect_uri, &refs)
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return with_state(vec![("error", "unsupported_response_type".to_owned())]);
    }
    let scope = parse_scope(q.get("scope"));
    if scope.iter().any(|s| !SCOPES.contains(&s.as_str())) {
        return with_state(vec![("error", "invalid_scope".to_owned())]);
    }
    let Some(user_id) = st.settings.browser_user.clone() else {
        return (
            StatusCode::OK,
            Html("<!doctype html><title>Heroku | Login</title><h1>Log in to your account</h1>"),
        )
            .into_response();
    };
    if st.settings.decision == AuthorizeDecision::Deny {
        return with_state(vec![("error", "access_denied".to_owned())]);
    }
    let code = names::uuid();
    st.codes_issued.push(code.clone());
    st.codes.insert(
        code.clone(),
        CodeRec {
            client_id: client.id.clone(),
            user_id,
            scope,
            expires_at: Instant::now() + CODE_TTL,
        },
    );
    with_state(vec![("code", code)])
}

fn token_params(headers: &HeaderMap, body: &Bytes) -> HashMap<String, String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    }
}

async fn token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let p = token_params(&headers, &body);
    let secret = p.get("client_secret").map(String::as_str).unwrap_or("");
    let mut st = s.lock();
    let result = match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(&mut st, &p, secret),
        Some("refresh_token") => match p.get("refresh_token") {
            Some(rt) => st.refresh(rt, secret),
            None => Err(OAuthError::invalid_request("Missing refresh_token.")),
        },
        Some(_) => Err(OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            message: "Unsupported grant_type.".to_owned(),
        }),
        None => Err(OAuthError::invalid_request("Missing grant_type.")),
    };
    match result {
        Ok((t, user_id)) => axum::Json(json!({
            "access_token": t.access_token,
            "refresh_token": t.refresh_token,
            "expires_in": t.expires_in,
            "token_type": "Bearer",
            "user_id": user_id,
            "session_nonce": names::random_hex(8),
        }))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Codes are single use and live five minutes; the client secret must be the code's client's.
fn exchange_code(
    st: &mut World,
    p: &HashMap<String, String>,
    secret: &str,
) -> Result<(Tokens, String), OAuthError> {
    let code = p
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("Missing code."))?;
    let rec = st
        .codes
        .get(code)
        .cloned()
        .ok_or_else(|| OAuthError::invalid_grant("Invalid authorization code."))?;
    if p.get("client_id").is_some_and(|id| *id != rec.client_id) {
        return Err(OAuthError::invalid_client());
    }
    st.check_client(&rec.client_id, secret)?;
    st.codes.remove(code);
    if rec.expires_at <= Instant::now() {
        return Err(OAuthError::invalid_grant(
            "The authorization code has expired.",
        ));
    }
    let tokens = st.issue_authorization(&rec.user_id, &rec.client_id, rec.scope);
    Ok((tokens, rec.user_id))
}
