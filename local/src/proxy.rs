//! A fault-injecting HTTP proxy in front of moto: adds a fixed delay per call (benches),
//! fails chosen AWS operations with a status (tests), fails a seeded share of every call
//! — some before moto, some after moto applied them (soaks) — or black-holes every call so
//! the SDK times out as if the service were unreachable. Counts calls per operation,
//! refused conditional writes, and how many requests were at moto at once; records the
//! bodies of chosen operations moto applied, in the order it applied them.
//!
//! It also orders requests on their way to moto. moto_server handles requests on threads
//! and does not lock around a conditional write's check and put, so two racing conditional
//! `PutItem`s can both succeed — which DynamoDB never allows, and which the sync's lease
//! relies on. By default ([`Serialisation::All`]) the proxy forwards one request at a
//! time, which restores DynamoDB's atomicity for everything behind it, but also means no
//! two requests ever reach moto together: a race test then only exercises interleavings
//! of whole requests. [`Serialisation::CollidingWrites`] keeps exactly the ordering
//! DynamoDB guarantees — writes to one item (and Secrets Manager writes to one secret)
//! apply one after another — and nothing more: reads and writes to different items
//! overlap at moto. Serialising same-item writes loses no real concurrency, since DynamoDB
//! applies those one at a time too. The race tests run in both modes.

use crate::net::{self, Running};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use shared::adapters::TableKeys;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How requests are ordered on their way to moto (see the module comment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Serialisation {
    /// One request at moto at a time.
    #[default]
    All,
    /// Reads never wait; a write waits only for writes to the same item or secret. A
    /// write whose items the proxy cannot tell (table management, say) still goes alone.
    CollidingWrites,
}

#[derive(Clone, Debug, Default)]
struct Rules {
    delay: Duration,
    blackhole: bool,
    /// Operation (X-Amz-Target suffix, e.g. `PutSecretValue`) → status to answer.
    fail: BTreeMap<String, u16>,
    /// Operation → (calls of it still to let through, status for the ones after, how
    /// many): a failure at an exact point of a sequence of writes.
    fail_once: BTreeMap<String, (usize, u16, usize)>,
    flaky: Option<Flaky>,
    /// Operations whose applied requests are recorded (see [`FaultProxy::applied`]).
    record: BTreeSet<String>,
}

/// A flaky AWS: `share` of all calls fail, chosen by a sequence fixed by `seed` over the
/// calls in arrival order. Of those, `landed` (0..=1) reach moto first and only the answer
/// is lost — a call that timed out after succeeding, which the client cannot tell from
/// one that never arrived. Failures answer 500 `InternalFailure`, which the SDK retries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flaky {
    pub share: f64,
    pub landed: f64,
    pub seed: u64,
}

/// What the flaky rule did since the last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlakyCounts {
    /// Answered 500 without reaching moto.
    pub refused: usize,
    /// Applied at moto, then answered 500.
    pub landed: usize,
}

#[derive(Default)]
struct Inner {
    rules: Mutex<Rules>,
    /// Kept apart from the rules: `clear()` ends faults, not the ordering of a test.
    serialisation: Mutex<Serialisation>,
    calls: Mutex<BTreeMap<String, usize>>,
    /// Every call ever seen: the flaky rule's draw index.
    seq: std::sync::atomic::AtomicU64,
    flaky: Mutex<FlakyCounts>,
    applied: Mutex<Vec<(String, Bytes)>>,
    /// Answers that refused a conditional write (`ConditionalCheckFailed`, also inside a
    /// cancelled transaction): how a race test proves its writes really collided.
    condition_failures: AtomicUsize,
    at_moto: AtomicUsize,
    /// The most requests at moto at once since the last reset.
    max_at_moto: AtomicUsize,
    /// Shared by keyed writes, exclusive for everything in `All` mode and for writes the
    /// proxy cannot key.
    everything: Arc<tokio::sync::RwLock<()>>,
    /// One lock per item or secret a write touches.
    items: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A running proxy. Cloning shares it.
#[derive(Clone)]
pub struct FaultProxy {
    inner: Arc<Inner>,
    upstream: String,
    http: reqwest::Client,
    url: String,
    _server: Arc<Running>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The AWS JSON-protocol operation name, from `X-Amz-Target: DynamoDB_20120810.GetItem`.
fn operation(headers: &HeaderMap) -> String {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("other")
        .to_owned()
}

/// What a request may collide with at moto.
#[derive(Debug, PartialEq, Eq)]
enum Access {
    Read,
    /// A write to these items or secrets only.
    Items(BTreeSet<String>),
    /// A write the proxy cannot key.
    Unknown,
}

const READS: &[&str] = &[
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "TransactGetItems",
    "DescribeTable",
    "ListTables",
    "DescribeTimeToLive",
    "GetSecretValue",
    "BatchGetSecretValue",
    "DescribeSecret",
    "ListSecrets",
    "ListSecretVersionIds",
];

/// `table|pk|sk` of an item or key map; `None` if it has no key attributes.
fn item_key(table: &Value, item: &Value) -> Option<String> {
    let part = |name: &str| item.get(name).map(Value::to_string);
    Some(format!(
        "item|{}|{}|{}",
        table.as_str()?,
        part(TableKeys::PK)?,
        part(TableKeys::SK).unwrap_or_default()
    ))
}

fn access(op: &str, body: &[u8]) -> Access {
    if READS.contains(&op) {
        return Access::Read;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Access::Unknown;
    };
    let table = &v["TableName"];
    let keys: Option<BTreeSet<String>> = match op {
        "PutItem" => item_key(table, &v["Item"]).map(|k| [k].into()),
        "UpdateItem" | "DeleteItem" => item_key(table, &v["Key"]).map(|k| [k].into()),
        "TransactWriteItems" => v["TransactItems"].as_array().and_then(|items| {
            items
                .iter()
                .map(|t| {
                    let (kind, inner) = t.as_object()?.iter().next()?;
                    let key = if kind == "Put" {
                        &inner["Item"]
                    } else {
                        &inner["Key"]
                    };
                    item_key(&inner["TableName"], key)
                })
                .collect()
        }),
        // Secrets Manager names the secret as `SecretId` (or `Name` when creating). Our
        // code always uses names, never ARNs, so one secret has one key.
        _ => v
            .get("SecretId")
            .or_else(|| v.get("Name"))
            .and_then(Value::as_str)
            .map(|id| [format!("secret|{id}")].into()),
    };
    match keys {
        Some(k) if !k.is_empty() => Access::Items(k),
        _ => Access::Unknown,
    }
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> std::io::Result<FaultProxy> {
        let listener = net::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let inner = Arc::new(Inner::default());
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .map_err(std::io::Error::other)?;
        let state = ProxyState {
            inner: inner.clone(),
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: http.clone(),
        };
        let router = Router::new().fallback(forward).with_state(state);
        let running = net::spawn(listener, router);
        Ok(FaultProxy {
            url: running.url(),
            inner,
            upstream: upstream.to_owned(),
            http,
            _server: Arc::new(running),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    pub fn set_delay(&self, d: Duration) {
        lock(&self.inner.rules).delay = d;
    }

    /// While on, requests are held until the client gives up (an unreachable service).
    pub fn set_blackhole(&self, on: bool) {
        lock(&self.inner.rules).blackhole = on;
    }

    /// Answers `operation` with `status` (and an AWS-style error body) until cleared.
    pub fn fail(&self, operation: &str, status: u16) {
        lock(&self.inner.rules)
            .fail
            .insert(operation.to_owned(), status);
    }

    /// Lets `skip` more calls of `operation` through, answers the next `times` with
    /// `status` (the SDK retries an attempt: 2 makes one call fail), then lets every later
    /// one through again: "the second PutItem fails".
    pub fn fail_once_after(&self, operation: &str, skip: usize, status: u16, times: usize) {
        lock(&self.inner.rules)
            .fail_once
            .insert(operation.to_owned(), (skip, status, times));
    }

    /// Fails a seeded share of every call from now on (`None` ends it); see [`Flaky`].
    pub fn set_flaky(&self, flaky: Option<Flaky>) {
        lock(&self.inner.rules).flaky = flaky;
    }

    /// What the flaky rule did since the last reset.
    pub fn flaky_counts(&self) -> FlakyCounts {
        *lock(&self.inner.flaky)
    }

    /// Records the body of every `operation` call moto applies from now on (answered 2xx
    /// by moto, whatever the client was told), in the order moto applied them as long as
    /// the serialisation keeps writes to one item or secret apart.
    pub fn record(&self, operation: &str) {
        lock(&self.inner.rules).record.insert(operation.to_owned());
    }

    /// The recorded calls (operation, body) since the last reset, in order.
    pub fn applied(&self) -> Vec<(String, Bytes)> {
        lock(&self.inner.applied).clone()
    }

    /// Ends every fault and delay (the serialisation mode stays).
    pub fn clear(&self) {
        *lock(&self.inner.rules) = Rules::default();
    }

    /// How requests are ordered from now on (see the module comment).
    pub fn set_serialisation(&self, s: Serialisation) {
        *lock(&self.inner.serialisation) = s;
    }

    /// Calls seen per operation since the last reset.
    pub fn calls(&self) -> BTreeMap<String, usize> {
        lock(&self.inner.calls).clone()
    }

    pub fn total_calls(&self) -> usize {
        lock(&self.inner.calls).values().sum()
    }

    /// Conditional writes moto refused since the last reset.
    pub fn condition_failures(&self) -> usize {
        self.inner.condition_failures.load(Ordering::SeqCst)
    }

    /// The most requests that were at moto at the same time since the last reset.
    pub fn max_concurrent_at_moto(&self) -> usize {
        self.inner.max_at_moto.load(Ordering::SeqCst)
    }

    /// Resets the call counts, the refused writes and the concurrency high-water mark.
    pub fn reset_calls(&self) {
        lock(&self.inner.calls).clear();
        *lock(&self.inner.flaky) = FlakyCounts::default();
        lock(&self.inner.applied).clear();
        self.inner.condition_failures.store(0, Ordering::SeqCst);
        self.inner.max_at_moto.store(0, Ordering::SeqCst);
    }

    #[doc(hidden)]
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }
}

#[derive(Clone)]
struct ProxyState {
    inner: Arc<Inner>,
    upstream: String,
    http: reqwest::Client,
}

/// Whatever a request holds while at moto; dropping it lets the next ones in.
#[derive(Default)]
struct Admission {
    _alone: Option<tokio::sync::OwnedRwLockWriteGuard<()>>,
    _shared: Option<tokio::sync::OwnedRwLockReadGuard<()>>,
    _items: Vec<tokio::sync::OwnedMutexGuard<()>>,
}

impl Inner {
    async fn admit(&self, op: &str, body: &[u8]) -> Admission {
        let mode = *lock(&self.serialisation);
        let access = match mode {
            Serialisation::All => Access::Unknown,
            Serialisation::CollidingWrites => access(op, body),
        };
        match access {
            Access::Read => Admission::default(),
            Access::Unknown => Admission {
                _alone: Some(self.everything.clone().write_owned().await),
                ..Admission::default()
            },
            Access::Items(keys) => {
                let shared = self.everything.clone().read_owned().await;
                // Taken in sorted order (a BTreeSet): two writes sharing items cannot
                // deadlock.
                let locks: Vec<_> = {
                    let mut items = lock(&self.items);
                    keys.iter()
                        .map(|k| items.entry(k.clone()).or_default().clone())
                        .collect()
                };
                let mut held = Vec::with_capacity(locks.len());
                for l in locks {
                    held.push(l.lock_owned().await);
                }
                Admission {
                    _shared: Some(shared),
                    _items: held,
                    ..Admission::default()
                }
            }
        }
    }
}

async fn forward(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = operation(&headers);
    *lock(&state.inner.calls).entry(op.clone()).or_default() += 1;
    let once = {
        let mut rules = lock(&state.inner.rules);
        match rules.fail_once.get_mut(&op) {
            Some((0, status, times)) => {
                let status = *status;
                *times = times.saturating_sub(1);
                if *times == 0 {
                    rules.fail_once.remove(&op);
                }
                Some(status)
            }
            Some((skip, _, _)) => {
                *skip -= 1;
                None
            }
            None => None,
        }
    };
    let mut rules = lock(&state.inner.rules).clone();
    if let Some(status) = once {
        rules.fail.insert(op.clone(), status);
    }
    // Drawn for every call in arrival order, so a run replays from its seed as far as
    // arrival order does.
    let n = state.inner.seq.fetch_add(1, Ordering::SeqCst);
    let flaky = rules.flaky.and_then(|f| {
        let fails = fake_heroku::Rate {
            share: f.share,
            seed: f.seed,
        }
        .hits(n);
        let landed = fake_heroku::Rate {
            share: f.landed,
            seed: f.seed ^ 0x5DEE_CE66_D1CE_5EED,
        }
        .hits(n);
        fails.then_some(landed)
    });
    if rules.blackhole {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    if !rules.delay.is_zero() {
        tokio::time::sleep(rules.delay).await;
    }
    if flaky == Some(false) {
        lock(&state.inner.flaky).refused += 1;
        return injected(500);
    }
    if let Some(status) = rules.fail.get(&op) {
        return injected(*status);
    }
    let url = format!(
        "{}{}",
        state.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let admission = state.inner.admit(&op, &body).await;
    let recorded = rules.record.contains(&op).then(|| body.clone());
    let mut req = state.http.request(method, &url).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    let now = state.inner.at_moto.fetch_add(1, Ordering::SeqCst) + 1;
    state.inner.max_at_moto.fetch_max(now, Ordering::SeqCst);
    let answer = match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            Ok((status, headers, resp.bytes().await.unwrap_or_default()))
        }
        Err(e) => Err(e),
    };
    state.inner.at_moto.fetch_sub(1, Ordering::SeqCst);
    if let (Ok((status, _, _)), Some(body)) = (&answer, recorded)
        && status.is_success()
    {
        // Before the admission is dropped: the next write to this secret or item cannot
        // have been applied yet, so the log's order is moto's.
        lock(&state.inner.applied).push((op.clone(), body));
    }
    drop(admission);
    if flaky == Some(true) {
        lock(&state.inner.flaky).landed += 1;
        return injected(500);
    }
    match answer {
        Ok((status, headers, bytes)) => {
            if status == StatusCode::BAD_REQUEST
                && String::from_utf8_lossy(&bytes).contains("ConditionalCheckFailed")
            {
                state
                    .inner
                    .condition_failures
                    .fetch_add(1, Ordering::SeqCst);
            }
            let mut out = Response::new(axum::body::Body::from(bytes));
            *out.status_mut() = status;
            for (name, value) in &headers {
                if name != "transfer-encoding" && name != "content-length" && name != "connection" {
                    out.headers_mut().insert(name, value.clone());
                }
            }
            out
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
    }
}

/// An AWS JSON-protocol error answer, as a service under strain gives one.
fn injected(status: u16) -> Response {
    let code = match status {
        400 => "ThrottlingException",
        500 => "InternalFailure",
        _ => "ServiceUnavailable",
    };
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
        [("content-type", "application/x-amz-json-1.0")],
        format!(r#"{{"__type":"{code}","message":"injected by the fault proxy"}}"#),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_never_wait_and_writes_are_keyed_by_item_or_secret() {
        assert_eq!(access("GetItem", b"{}"), Access::Read);
        assert_eq!(access("GetSecretValue", b"{}"), Access::Read);
        let put = br#"{"TableName":"t","Item":{"pk":{"S":"APP#a"},"sk":{"S":"APP"},"x":{"N":"1"}},"ConditionExpression":"c"}"#;
        let key = r#"item|t|{"S":"APP#a"}|{"S":"APP"}"#.to_owned();
        assert_eq!(access("PutItem", put), Access::Items([key.clone()].into()));
        let tx = br#"{"TransactItems":[
            {"Put":{"TableName":"t","Item":{"pk":{"S":"APP#a"},"sk":{"S":"APP"}}}},
            {"Put":{"TableName":"t","Item":{"pk":{"S":"PROJECT#p"},"sk":{"S":"ENV#X"}}}}]}"#;
        let Access::Items(keys) = access("TransactWriteItems", tx) else {
            panic!("keyed")
        };
        assert!(keys.contains(&key) && keys.len() == 2, "{keys:?}");
        assert_eq!(
            access(
                "PutSecretValue",
                br#"{"SecretId":"s/1","SecretString":"v"}"#
            ),
            Access::Items(["secret|s/1".to_owned()].into())
        );
        assert_eq!(
            access("CreateSecret", br#"{"Name":"s/1"}"#),
            Access::Items(["secret|s/1".to_owned()].into())
        );
        assert_eq!(
            access("CreateTable", br#"{"TableName":"t"}"#),
            Access::Unknown
        );
        assert_eq!(access("PutItem", b"not json"), Access::Unknown);
    }
}
