//! The stack's own time per remote call: the operations the webhook path makes, sent as
//! bare HTTPS requests (no SDK, no signing, no parsing) over a warm keep-alive connection
//! through the same TLS front and proxy, and to the same fake Heroku, with the same
//! injected delay. Their sum is the fastest any client
//! could do the path on this stack: the "physical limit" including moto's own latency.

use crate::stack::{Linked, TABLE};
use std::time::{Duration, Instant};

/// The operations on the webhook path, in the README's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    GetItem,
    ConfigVars,
    PutItem,
    PutSecretValue,
    GetSecretValue,
    PutEvents,
}

impl Op {
    pub const ALL: [Op; 6] = [
        Op::GetItem,
        Op::ConfigVars,
        Op::PutItem,
        Op::PutSecretValue,
        Op::GetSecretValue,
        Op::PutEvents,
    ];

    /// Served by moto (through the proxy), not by the fake Heroku.
    pub fn is_aws(self) -> bool {
        !matches!(self, Op::ConfigVars)
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::GetItem => "DynamoDB GetItem",
            Op::ConfigVars => "Heroku GET config-vars",
            Op::PutItem => "DynamoDB PutItem (conditional)",
            Op::PutSecretValue => "Secrets Manager PutSecretValue",
            Op::GetSecretValue => "Secrets Manager GetSecretValue",
            Op::PutEvents => "EventBridge PutEvents",
        }
    }
}

/// What the raw calls need: a keep-alive client and the probe app's identifiers.
pub struct Raw {
    http: reqwest::Client,
    aws: String,
    heroku: String,
    probe: Linked,
    app_pk: String,
    signing_key_id: String,
    /// The probe app's item as moto returns it, re-put under another key by `PutItem`.
    item: Option<serde_json::Value>,
    /// A release of the probe app, whose config vars `ConfigVars` reads (as the function
    /// does: as of a release).
    pub version: u64,
}

const SCRATCH_SECRET: &str = "bench/scratch-env-var";

impl Raw {
    pub fn new(
        aws: &str,
        heroku: &str,
        ca_pem: &[u8],
        probe: &Linked,
        signing_key_id: &str,
    ) -> Result<Raw, String> {
        let ca = reqwest::Certificate::from_pem(ca_pem).map_err(|e| e.to_string())?;
        Ok(Raw {
            http: reqwest::Client::builder()
                .tcp_nodelay(true)
                .tls_certs_only([ca])
                .build()
                .map_err(|e| e.to_string())?,
            aws: aws.to_owned(),
            heroku: heroku.to_owned(),
            app_pk: format!("APP#{}", probe.app.id),
            probe: probe.clone(),
            signing_key_id: signing_key_id.to_owned(),
            item: None,
            version: 1,
        })
    }

    /// Creates the scratch secret `PutSecretValue` writes to (once).
    pub async fn prepare(&mut self) -> Result<(), String> {
        let body = serde_json::json!({
            "Name": SCRATCH_SECRET,
            "SecretString": "postgres://u:p@host:5432/db",
            "ClientRequestToken": uuid::Uuid::new_v4().to_string(),
        });
        self.aws_call("secretsmanager", "CreateSecret", &body)
            .await
            .map(|_| ())
    }

    async fn aws_call(
        &self,
        service: &str,
        target: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let (prefix, content_type) = match service {
            "dynamodb" => ("DynamoDB_20120810", "application/x-amz-json-1.0"),
            "events" => ("AWSEvents", "application/x-amz-json-1.1"),
            _ => ("secretsmanager", "application/x-amz-json-1.1"),
        };
        // moto routes on the credential scope's service; it does not check signatures.
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00"
        );
        let resp = self
            .http
            .post(format!("{}/", self.aws))
            .header("content-type", content_type)
            .header("x-amz-target", format!("{prefix}.{target}"))
            .header("x-amz-date", "20260101T000000Z")
            .header("authorization", auth)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| format!("{target}: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "{target}: {status} {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("{target}: {e}"))
    }

    /// One call of `op`, timed from send to the last byte of the answer.
    pub async fn time(&mut self, op: Op) -> Result<Duration, String> {
        let started = Instant::now();
        match op {
            Op::GetItem => {
                let out = self
                    .aws_call(
                        "dynamodb",
                        "GetItem",
                        &serde_json::json!({
                            "TableName": TABLE,
                            "Key": {"pk": {"S": self.app_pk}, "sk": {"S": "APP"}},
                            "ConsistentRead": true,
                        }),
                    )
                    .await?;
                let elapsed = started.elapsed();
                if let Some(item) = out.get("Item") {
                    self.item = Some(item.clone());
                }
                return Ok(elapsed);
            }
            Op::PutItem => {
                let mut item = match &self.item {
                    Some(i) => i.clone(),
                    None => return Err("PutItem before GetItem".into()),
                };
                item["pk"] = serde_json::json!({"S": "BENCH#scratch"});
                self.aws_call(
                    "dynamodb",
                    "PutItem",
                    &serde_json::json!({
                        "TableName": TABLE,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(lease_until_ms) OR lease_until_ms <= :now",
                        "ExpressionAttributeValues": {":now": {"N": i64::MAX.to_string()}},
                    }),
                )
                .await?;
            }
            Op::PutSecretValue => {
                self.aws_call(
                    "secretsmanager",
                    "PutSecretValue",
                    &serde_json::json!({
                        "SecretId": SCRATCH_SECRET,
                        "SecretString": format!("postgres://u:{}@host:5432/db", uuid::Uuid::new_v4().simple()),
                        "ClientRequestToken": uuid::Uuid::new_v4().to_string(),
                    }),
                )
                .await?;
            }
            Op::GetSecretValue => {
                self.aws_call(
                    "secretsmanager",
                    "GetSecretValue",
                    &serde_json::json!({"SecretId": self.signing_key_id}),
                )
                .await?;
            }
            Op::PutEvents => {
                // The change event a sync publishes (never a value), on the stack's bus.
                let detail = serde_json::json!({
                    "project_id": "bench-probe",
                    "env_var": "DATABASE_URL",
                    "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench",
                    "secret_version_id": uuid::Uuid::new_v4().to_string(),
                    "app_id": self.probe.app.id,
                    "release_version": self.version,
                    "synced_at": "2026-01-01T00:00:00Z",
                });
                self.aws_call(
                    "events",
                    "PutEvents",
                    &serde_json::json!({"Entries": [{
                        "Source": "heroku-db-url-sync",
                        "DetailType": "Env var synced",
                        "Detail": detail.to_string(),
                        "EventBusName": crate::stack::EVENT_BUS,
                    }]}),
                )
                .await?;
            }
            Op::ConfigVars => {
                let resp = self
                    .http
                    .get(format!(
                        "{}/apps/{}/releases/{}/config-vars",
                        self.heroku, self.probe.app.id, self.version
                    ))
                    .header("accept", "application/vnd.heroku+json; version=3")
                    .header("authorization", format!("Bearer {}", self.probe.token))
                    .send()
                    .await
                    .map_err(|e| format!("config-vars: {e}"))?;
                let status = resp.status();
                resp.bytes()
                    .await
                    .map_err(|e| format!("config-vars: {e}"))?;
                if !status.is_success() {
                    return Err(format!("config-vars: {status}"));
                }
            }
        }
        Ok(started.elapsed())
    }
}
