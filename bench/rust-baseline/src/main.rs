//! The warm bench's second comparison (issue 9): a straightforward Rust handler making a
//! sync's calls, a line-for-line port of `bench/python/bootstrap.py`, so the bench can say
//! what the calls themselves cost in Rust with the AWS SDK, and so how much of our
//! webhook's CPU per sync is its own code (lease discipline, the plan, retries, logs,
//! metrics) rather than the calls.
//!
//! Per delivery: verify Heroku's HMAC signature, one consistent Query of the app's
//! partition, the release's config vars from Heroku, a lease (a transaction on the header
//! and the link items to write), the env var's secret, the commit (a transaction), one
//! change event; a delivery that changes no value saves the release in one transaction; a
//! duplicate is answered after the Query. No logs, no metrics, no retries beyond the
//! SDK's own: a floor to measure against, not a second product (it trusts the first page
//! of the Query, never waits out a lease, and answers 503 where ours would wait).
//!
//! It is the webhook's runtime minus its code: the same allocator, the same SDK
//! configuration (`shared::aws::from_env`) and clients, the same `lambda_runtime`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use aws_sdk_dynamodb::types::{AttributeValue as Av, TransactWriteItem, Update};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::OnceCell;

type Item = HashMap<String, Av>;

const LEASE_MS: i128 = 20_000;
const HISTORY_LEN: usize = 20;
const FREE: &str = "#g = :g AND (attribute_not_exists(lease_until_ms) OR lease_until_ms <= :now)";

struct Baseline {
    table: String,
    prefix: String,
    heroku: String,
    key_id: String,
    bus: String,
    ddb: aws_sdk_dynamodb::Client,
    sm: aws_sdk_secretsmanager::Client,
    events: aws_sdk_eventbridge::Client,
    https: reqwest::Client,
    key: OnceCell<Vec<u8>>,
    tokens: Mutex<HashMap<String, String>>,
}

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

fn answer(status: u16, body: Option<Value>) -> Value {
    match body {
        None => json!({ "statusCode": status }),
        Some(b) => json!({
            "statusCode": status,
            "headers": { "content-type": "application/json" },
            "body": b.to_string(),
        }),
    }
}

fn fingerprint(link_key: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"heroku-db-url-sync/v1\0");
    h.update(link_key.as_bytes());
    h.update(b"\0");
    h.update(value.as_bytes());
    hex::encode(h.finalize())
}

fn now_ms() -> i128 {
    OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000
}

fn now_rfc3339() -> Result<String, Error> {
    Ok(OffsetDateTime::now_utc().format(&Rfc3339)?)
}

fn s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn n(item: &Item, name: &str) -> Option<i128> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn num(v: impl ToString) -> Av {
    Av::N(v.to_string())
}

/// The header's conditional update: `SET {set}` (and `REMOVE {remove}`) on `condition`.
fn header_update(
    b: &Baseline,
    app: &str,
    set: &str,
    remove: Option<&str>,
    condition: &str,
    values: Vec<(&str, Av)>,
) -> Result<TransactWriteItem, Error> {
    let expr = match remove {
        Some(r) => format!("SET {set} REMOVE {r}"),
        None => format!("SET {set}"),
    };
    let mut u = Update::builder()
        .table_name(&b.table)
        .key("pk", Av::S(format!("APP#{app}")))
        .key("sk", Av::S("APP".into()))
        .update_expression(expr)
        .condition_expression(condition)
        .expression_attribute_names("#g", "generation");
    for (k, v) in values {
        u = u.expression_attribute_values(k, v);
    }
    Ok(TransactWriteItem::builder().update(u.build()?).build())
}

fn link_update(
    b: &Baseline,
    app: &str,
    link: &Item,
    expr: &str,
    values: Vec<(&str, Av)>,
) -> Result<TransactWriteItem, Error> {
    let mut u = Update::builder()
        .table_name(&b.table)
        .key("pk", Av::S(format!("APP#{app}")))
        .key("sk", link.get("sk").cloned().ok_or("link without sk")?)
        .update_expression(expr);
    for (k, v) in values {
        u = u.expression_attribute_values(k, v);
    }
    Ok(TransactWriteItem::builder().update(u.build()?).build())
}

/// The link's history with `entry` appended, as stored: one JSON string of the newest
/// [`HISTORY_LEN`] entries (an item an older version wrote holds a list: started afresh).
fn history_after(link: &Item, entry: &Value) -> Result<String, Error> {
    let mut history: Vec<Value> = match s(link, "history") {
        Some(text) => serde_json::from_str(text)?,
        None => Vec::new(),
    };
    history.push(entry.clone());
    let from = history.len().saturating_sub(HISTORY_LEN);
    Ok(serde_json::to_string(&history[from..])?)
}

impl Baseline {
    async fn signing_key(&self) -> Result<&[u8], Error> {
        let key = self
            .key
            .get_or_try_init(|| async {
                let out = self
                    .sm
                    .get_secret_value()
                    .secret_id(&self.key_id)
                    .send()
                    .await?;
                Ok::<_, Error>(out.secret_string().unwrap_or_default().as_bytes().to_vec())
            })
            .await?;
        Ok(key)
    }

    async fn heroku_token(&self, project: &str) -> Result<String, Error> {
        if let Some(t) = self.tokens.lock().expect("tokens").get(project) {
            return Ok(t.clone());
        }
        let raw = self
            .sm
            .get_secret_value()
            .secret_id(format!("{}/heroku-tokens/{project}", self.prefix))
            .send()
            .await?;
        let grant: Value = serde_json::from_str(raw.secret_string().unwrap_or_default())?;
        let token = grant["access_token"]
            .as_str()
            .ok_or("token without access_token")?
            .to_owned();
        self.tokens
            .lock()
            .expect("tokens")
            .insert(project.to_owned(), token.clone());
        Ok(token)
    }

    async fn config_vars(
        &self,
        project: &str,
        app: &str,
        version: u64,
    ) -> Result<HashMap<String, Option<String>>, Error> {
        let resp = self
            .https
            .get(format!(
                "{}/apps/{app}/releases/{version}/config-vars",
                self.heroku
            ))
            .bearer_auth(self.heroku_token(project).await?)
            .header("Accept", "application/vnd.heroku+json; version=3")
            .send()
            .await?;
        if resp.status() != 200 {
            return Err(format!("Heroku answered {}", resp.status()).into());
        }
        Ok(serde_json::from_slice(&resp.bytes().await?)?)
    }

    async fn handle(&self, event: Value) -> Result<Value, Error> {
        let raw = event["body"].as_str().unwrap_or("");
        let body = if event["isBase64Encoded"].as_bool() == Some(true) {
            STANDARD.decode(raw)?
        } else {
            raw.as_bytes().to_vec()
        };
        let given = event["headers"]
            .as_object()
            .and_then(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("heroku-webhook-hmac-sha256"))
            })
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("");
        let mut mac = Hmac::<Sha256>::new_from_slice(self.signing_key().await?)?;
        mac.update(&body);
        let given = STANDARD.decode(given).unwrap_or_default();
        if mac.verify_slice(&given).is_err() {
            let e = json!({"error": "unauthorized", "message": "bad signature"});
            return Ok(answer(401, Some(e)));
        }
        let delivery: Value = serde_json::from_slice(&body)?;
        let data = &delivery["data"];
        if delivery["resource"] != "release" || data["status"] != "succeeded" {
            return Ok(answer(204, None));
        }
        let app = data["app"]["id"].as_str().ok_or("no data.app.id")?;
        let version = data["version"].as_u64().ok_or("no data.version")?;

        let items = self
            .ddb
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", Av::S(format!("APP#{app}")))
            .send()
            .await?
            .items
            .unwrap_or_default();
        let header = items.iter().find(|i| s(i, "sk") == Some("APP"));
        let links: Vec<&Item> = items
            .iter()
            .filter(|i| {
                s(i, "sk").is_some_and(|sk| sk.starts_with("LINK#"))
                    && s(i, "status") == Some("active")
                    && n(i, "last_release_version").unwrap_or(0) < i128::from(version)
            })
            .collect();
        let Some(header) = header else {
            return Ok(answer(204, None));
        };
        if links.is_empty() {
            return Ok(answer(204, None));
        }
        let now = now_ms();
        if n(header, "lease_until_ms").unwrap_or(0) > now {
            let e = json!({"error": "unavailable", "message": "another sync is running"});
            return Ok(answer(503, Some(e)));
        }
        let generation = n(header, "generation").ok_or("header without generation")?;

        let mut changed: Vec<(&Item, String, String)> = Vec::new();
        let mut vars_by_project: HashMap<String, HashMap<String, Option<String>>> = HashMap::new();
        for link in &links {
            let project = s(link, "project_id").ok_or("link without project_id")?;
            if !vars_by_project.contains_key(project) {
                let vars = self.config_vars(project, app, version).await?;
                vars_by_project.insert(project.to_owned(), vars);
            }
            let config_var = s(link, "config_var").ok_or("link without config_var")?;
            let Some(Some(value)) = vars_by_project[project].get(config_var) else {
                continue;
            };
            let key = format!("{project}/{}", s(link, "env_var").unwrap_or(""));
            let fp = fingerprint(&key, value);
            if s(link, "fingerprint") != Some(fp.as_str()) {
                changed.push((link, value.clone(), fp));
            }
        }
        let synced = json!({"at": now_rfc3339()?, "kind": "synced", "release_version": version});

        if changed.is_empty() {
            // Nothing to write: record the release on the links, in one transaction.
            let mut txn = vec![header_update(
                self,
                app,
                "#g = :next",
                None,
                FREE,
                vec![
                    (":g", num(generation)),
                    (":now", num(now)),
                    (":next", num(generation + 1)),
                ],
            )?];
            for l in &links {
                txn.push(link_update(
                    self,
                    app,
                    l,
                    "SET last_release_version = :v",
                    vec![(":v", num(version))],
                )?);
            }
            self.ddb
                .transact_write_items()
                .set_transact_items(Some(txn))
                .send()
                .await?;
            return Ok(answer(204, None));
        }

        let owner = uuid::Uuid::new_v4().to_string();
        let mut lease = vec![header_update(
            self,
            app,
            "#g = :next, lease_owner = :o, lease_until_ms = :u",
            None,
            FREE,
            vec![
                (":g", num(generation)),
                (":now", num(now)),
                (":next", num(generation + 1)),
                (":o", Av::S(owner.clone())),
                (":u", num(now + LEASE_MS)),
            ],
        )?];
        for (l, _, _) in &changed {
            lease.push(link_update(
                self,
                app,
                l,
                "SET writing_version = :v",
                vec![(":v", num(version))],
            )?);
        }
        self.ddb
            .transact_write_items()
            .set_transact_items(Some(lease))
            .send()
            .await?;

        let mut versions = HashMap::new();
        for (l, value, _) in &changed {
            let name = format!(
                "{}/projects/{}/env/{}",
                self.prefix,
                s(l, "project_id").unwrap_or(""),
                s(l, "env_var").unwrap_or("")
            );
            let token = hex::encode(Sha256::digest(format!("{name}@{version}")));
            let out = self
                .sm
                .put_secret_value()
                .secret_id(&name)
                .secret_string(value)
                .client_request_token(token)
                .send()
                .await?;
            versions.insert(name, out.version_id().unwrap_or_default().to_owned());
        }

        let at = now_rfc3339()?;
        let mut commit = vec![header_update(
            self,
            app,
            "#g = :next",
            Some("lease_owner, lease_until_ms"),
            "#g = :g AND lease_owner = :o",
            vec![
                (":g", num(generation + 1)),
                (":o", Av::S(owner)),
                (":next", num(generation + 2)),
            ],
        )?];
        for (l, _, fp) in &changed {
            commit.push(link_update(
                self,
                app,
                l,
                "SET last_release_version = :v, fingerprint = :f, last_synced_at = :t, \
                 history = :h REMOVE writing_version",
                vec![
                    (":v", num(version)),
                    (":f", Av::S(fp.clone())),
                    (":t", Av::S(at.clone())),
                    (":h", Av::S(history_after(l, &synced)?)),
                ],
            )?);
        }
        self.ddb
            .transact_write_items()
            .set_transact_items(Some(commit))
            .send()
            .await?;

        let mut put = self.events.put_events();
        for (l, _, _) in &changed {
            let (project, env_var) = (
                s(l, "project_id").unwrap_or(""),
                s(l, "env_var").unwrap_or(""),
            );
            let name = format!("{}/projects/{project}/env/{env_var}", self.prefix);
            let detail = json!({
                "project_id": project,
                "env_var": env_var,
                "app_id": app,
                "release_version": version,
                "secret_version_id": versions.get(&name),
            });
            put = put.entries(
                PutEventsRequestEntry::builder()
                    .source("heroku-db-url-sync")
                    .detail_type("Env var synced")
                    .event_bus_name(&self.bus)
                    .detail(detail.to_string())
                    .build(),
            );
        }
        put.send().await?;
        Ok(answer(204, None))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let sdk = shared::aws::from_env().await;
    let baseline: &'static Baseline = Box::leak(Box::new(Baseline {
        table: env("TABLE_NAME")?,
        prefix: env("SECRET_PREFIX")?.trim_end_matches('/').to_owned(),
        heroku: env("HEROKU_API_URL")?.trim_end_matches('/').to_owned(),
        key_id: env("WEBHOOK_SIGNING_KEY_ID")?,
        bus: env("EVENT_BUS_NAME").unwrap_or_else(|_| "default".into()),
        ddb: aws_sdk_dynamodb::Client::new(&sdk),
        sm: aws_sdk_secretsmanager::Client::new(&sdk),
        events: aws_sdk_eventbridge::Client::new(&sdk),
        // Kept alive, as the SDK's own connections and our Heroku client are.
        https: reqwest::Client::builder().tcp_nodelay(true).build()?,
        key: OnceCell::new(),
        tokens: Mutex::new(HashMap::new()),
    }));
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        baseline.handle(ev.payload)
    }))
    .await
}
