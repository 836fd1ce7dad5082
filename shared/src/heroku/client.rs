//! The reqwest-based Heroku client: headers, timeouts, error mapping, rate limits and
//! paging. The calls themselves are in `platform` (the Platform API) and `oauth` (the
//! token endpoint), children of this module so they share its private transport.

mod oauth;
mod platform;

use super::error::HerokuError;
use super::types::*;
use reqwest::{Method, Response, StatusCode, header};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

const ACCEPT_V3: &str = "application/vnd.heroku+json; version=3";

#[derive(Clone, Debug)]
pub struct HerokuClientOptions {
    pub connect_timeout: Duration,
    /// Whole-request limit; keeps a slow Heroku from eating a Lambda's time budget.
    pub request_timeout: Duration,
    /// `max` in the `Range` header of list calls. Heroku allows up to 1000; more per page
    /// means fewer calls against the account's rate-limit pool.
    pub page_size: u32,
    /// On a 429 whose `Retry-After` is at most this, wait and try once more in-line.
    pub max_inline_wait: Duration,
}

impl Default for HerokuClientOptions {
    fn default() -> Self {
        HerokuClientOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(8),
            page_size: 1000,
            max_inline_wait: Duration::from_secs(2),
        }
    }
}

/// One client per container: reqwest keeps the TLS connections to Heroku warm.
pub struct HerokuClient {
    http: reqwest::Client,
    api_url: String,
    id_url: String,
    opts: HerokuClientOptions,
    /// Last `RateLimit-Remaining` seen (-1: none yet).
    rate_remaining: AtomicI64,
    /// The same, per token (keyed by a hash of it, never the token): Heroku's pool is
    /// per account, and the reconciler spends several accounts' pools at once.
    per_token: Mutex<HashMap<u64, u32>>,
}

/// How many tokens' pools are remembered before the map starts over (a container
/// serves a bounded set of accounts; this only bounds memory).
const PER_TOKEN_MAX: usize = 10_000;

fn token_key(token: &AccessToken) -> u64 {
    let digest = Sha256::digest(token.expose().as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Checks an app id or name before it goes into a URL path: Heroku ids are UUIDs and names
/// are lower-case letters, digits and dashes, so nothing else can name an app.
pub fn app_ref(app: &str) -> Result<&str, HerokuError> {
    if !app.is_empty()
        && app.len() <= 64
        && app.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        Ok(app)
    } else {
        Err(HerokuError::NotFound(format!(
            "{app:?} is not a Heroku app id or name"
        )))
    }
}

impl HerokuClient {
    pub fn new(
        api_url: &str,
        id_url: &str,
        opts: HerokuClientOptions,
    ) -> Result<Self, HerokuError> {
        let http = reqwest::Client::builder()
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.request_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("heroku-db-url-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HerokuError::Unavailable {
                reason: format!("cannot build HTTP client: {e}"),
                retry_after: None,
            })?;
        Ok(HerokuClient {
            http,
            api_url: api_url.trim_end_matches('/').to_owned(),
            id_url: id_url.trim_end_matches('/').to_owned(),
            opts,
            rate_remaining: AtomicI64::new(-1),
            per_token: Mutex::new(HashMap::new()),
        })
    }

    /// The last `RateLimit-Remaining` Heroku reported, if any.
    pub fn rate_limit_remaining(&self) -> Option<u32> {
        u32::try_from(self.rate_remaining.load(Ordering::Relaxed)).ok()
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    pub fn id_url(&self) -> &str {
        &self.id_url
    }

    /// Sends one Platform API request, waiting out a short 429 once.
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &AccessToken,
        range: Option<&str>,
        body: Option<&(dyn erased::JsonBody + Sync)>,
    ) -> Result<Response, HerokuError> {
        let url = format!("{}{}", self.api_url, path);
        let mut waited = false;
        loop {
            let started = Instant::now();
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header(header::ACCEPT, ACCEPT_V3)
                .bearer_auth(token.expose());
            if let Some(range) = range {
                req = req.header(header::RANGE, range);
            }
            if let Some(body) = body {
                req = req
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body.to_json());
            }
            let resp = req.send().await.map_err(transport_error)?;
            let status = resp.status();
            tracing::debug!(
                target: "heroku",
                method = %method,
                path,
                status = status.as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "heroku api call"
            );
            self.note_rate_limit(&resp, token);
            if status == StatusCode::TOO_MANY_REQUESTS && !waited {
                let wait = retry_after(&resp);
                if let Some(wait) = wait.filter(|w| *w <= self.opts.max_inline_wait) {
                    tracing::info!(target: "heroku", wait_ms = wait.as_millis() as u64, "rate limited; waiting once");
                    tokio::time::sleep(wait).await;
                    waited = true;
                    continue;
                }
            }
            if status.is_success() {
                return Ok(resp);
            }
            return Err(error_from(resp).await);
        }
    }

    fn note_rate_limit(&self, resp: &Response, token: &AccessToken) {
        if let Some(n) = resp
            .headers()
            .get("ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
        {
            self.rate_remaining.store(n, Ordering::Relaxed);
            let mut per_token = self.per_token.lock().unwrap_or_else(|p| p.into_inner());
            if per_token.len() >= PER_TOKEN_MAX {
                per_token.clear();
            }
            per_token.insert(token_key(token), n.clamp(0, u32::MAX as i64) as u32);
            drop(per_token);
            if n < 100 {
                tracing::warn!(target: "heroku", remaining = n, "Heroku rate-limit pool running low");
            }
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        token: &AccessToken,
        path: &str,
    ) -> Result<T, HerokuError> {
        decode(self.send(Method::GET, path, token, None, None).await?).await
    }

    /// Follows `Next-Range` until Heroku answers 200 (not 206) or sends no next range.
    async fn list<T: DeserializeOwned>(
        &self,
        token: &AccessToken,
        path: &str,
        sort_by: &str,
    ) -> Result<Vec<T>, HerokuError> {
        let mut out = Vec::new();
        let mut range = format!("{sort_by} ..; max={}", self.opts.page_size);
        // A bound on pages guards against a server that never stops paging.
        for _ in 0..10_000 {
            let resp = self
                .send(Method::GET, path, token, Some(&range), None)
                .await?;
            let partial = resp.status() == StatusCode::PARTIAL_CONTENT;
            let next = resp
                .headers()
                .get("next-range")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut page: Vec<T> = decode(resp).await?;
            out.append(&mut page);
            match next {
                Some(next) if partial => range = next,
                _ => return Ok(out),
            }
            // The pool is empty: the next page would be a 429. Heroku refills about 75
            // tokens a minute, so one second buys the next request.
            if self.rate_limit_remaining() == Some(0) {
                let wait = self.opts.max_inline_wait.min(Duration::from_secs(1));
                tracing::info!(target: "heroku", wait_ms = wait.as_millis() as u64, "rate-limit pool empty; pausing before the next page");
                tokio::time::sleep(wait).await;
            }
        }
        Err(HerokuError::Decode(format!("{path}: paging did not end")))
    }
}

fn transport_error(e: reqwest::Error) -> HerokuError {
    // reqwest's Display includes the URL but never headers, so no token can leak here.
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    HerokuError::Unavailable {
        reason: format!("{kind}: {}", e.without_url()),
        retry_after: None,
    }
}

fn retry_after(resp: &Response) -> Option<Duration> {
    resp.headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

async fn decode<T: DeserializeOwned>(resp: Response) -> Result<T, HerokuError> {
    let bytes = resp.bytes().await.map_err(transport_error)?;
    // serde_json's error names a position, never the input, so values cannot leak.
    serde_json::from_slice(&bytes).map_err(|e| HerokuError::Decode(e.to_string()))
}

async fn error_from(resp: Response) -> HerokuError {
    let status = resp.status();
    let wait = retry_after(&resp);
    let body: ErrorBody = resp
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let id = body
        .id
        .or(body.error)
        .unwrap_or_else(|| status.as_str().to_owned());
    let mut message = body
        .message
        .or(body.error_description)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    clip(&mut message, 300);
    match status {
        StatusCode::UNAUTHORIZED if id != "invalid_grant" => HerokuError::Unauthorized,
        StatusCode::FORBIDDEN => HerokuError::Forbidden(message),
        StatusCode::NOT_FOUND => HerokuError::NotFound(message),
        StatusCode::TOO_MANY_REQUESTS => HerokuError::RateLimited { retry_after: wait },
        s if s.is_server_error() => HerokuError::Unavailable {
            reason: format!("{} {}", s.as_u16(), message),
            retry_after: wait,
        },
        s => HerokuError::Rejected {
            status: s.as_u16(),
            id,
            message,
        },
    }
}

/// Object-safe JSON bodies, so `send` need not be generic.
mod erased {
    pub trait JsonBody {
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> JsonBody for T {
        fn to_json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

/// Cuts `text` to at most `max` bytes at a character boundary: Heroku's messages are
/// user-visible text in any language, and `String::truncate` panics inside a character.
fn clip(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_clipped_at_a_character_boundary() {
        // Multi-byte characters of 2, 3 and 4 bytes, shifted so that byte 300 falls
        // inside one of them for some shift: `String::truncate(300)` panicked there.
        for pad in 0..4 {
            let mut m = "x".repeat(pad) + &"é€😀".repeat(200);
            clip(&mut m, 300);
            assert!(m.len() <= 300 && m.len() >= 297, "{pad}: {}", m.len());
            assert!(m.starts_with(&"x".repeat(pad)));
        }
        let mut short = "déjà vu".to_owned();
        clip(&mut short, 300);
        assert_eq!(short, "déjà vu");
    }
}
