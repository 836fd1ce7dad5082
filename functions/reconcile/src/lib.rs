//! The reconcile function (docs/contract.md, "The promise, and what keeps it"). One
//! binary, two triggers: EventBridge Scheduler starts a pass (list what to visit, queue
//! it), and SQS hands queued batches to workers, which reconcile each app.

mod queue;
pub mod rotation;

pub use queue::{SqsQueue, drain};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde_json::Value;
use shared::optout;
use shared::pending::{self, Expired};
use shared::ports::{HerokuWebhooks, IntegrationStore, ReconcileIndex};
use shared::reconcile::fanout::{self, Planned, WorkMessage};
use shared::reconcile::{BatchOutcome, ReconcileSettings, Reconciler};
use shared::services::Services;
use std::sync::Arc;

/// Where the pass queues its batches: the SQS queue's URL (set by the stack).
pub const QUEUE_URL_VAR: &str = "RECONCILE_QUEUE_URL";

pub struct Reconcile {
    svc: Arc<Services>,
    queue: SqsQueue,
    settings: ReconcileSettings,
    /// For the signing key's rotation steps (this function is its rotation Lambda).
    secrets: Option<aws_sdk_secretsmanager::Client>,
}

impl Reconcile {
    pub fn new(svc: Arc<Services>, queue: SqsQueue, settings: ReconcileSettings) -> Self {
        Reconcile {
            svc,
            queue,
            settings,
            secrets: None,
        }
    }

    /// Also serve Secrets Manager's rotation of the signing key, with this client.
    pub fn with_rotation(mut self, secrets: aws_sdk_secretsmanager::Client) -> Self {
        self.secrets = Some(secrets);
        self
    }

    pub fn queue(&self) -> &SqsQueue {
        &self.queue
    }

    /// Any event: an SQS batch (it has `Records`) is work, a rotation step (`Step`) is
    /// Secrets Manager rotating the signing key, `{"kind": "reindex"}` backfills the
    /// reconcile index (once, after an upgrade); anything else starts a pass.
    pub async fn handle(&self, event: Value) -> Result<Value, String> {
        self.handle_until(event, None).await
    }

    /// [`Reconcile::handle`] within Lambda's `deadline`: a batch starts no app it could
    /// not finish, and leaves the rest for the next pass.
    pub async fn handle_until(
        &self,
        event: Value,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Value, String> {
        if event.get("Step").is_some() {
            let step: rotation::RotationEvent =
                serde_json::from_value(event).map_err(|e| format!("not a rotation event: {e}"))?;
            let client = self
                .secrets
                .as_ref()
                .ok_or("this instance does not serve the key's rotation")?;
            let id = self
                .svc
                .config
                .webhook_signing_key_id
                .as_deref()
                .ok_or("WEBHOOK_SIGNING_KEY_ID is not set")?;
            rotation::run(client, id, &step).await?;
            if step.step == "finishSecret" {
                // This container re-keys subscriptions: it must see the new key now.
                self.svc.signing_key.forget().await;
            }
            return Ok(serde_json::json!({"step": step.step}));
        }
        if event.get("kind").and_then(Value::as_str) == Some("reindex") {
            // Once after an upgrade: items written before the index existed get its keys.
            let done = self
                .svc
                .store
                .reindex(self.svc.clock.now_ms())
                .await
                .map_err(|e| e.to_string())?;
            return serde_json::to_value(done).map_err(|e| e.to_string());
        }
        if event.get("Records").is_some() {
            let batch: SqsEvent =
                serde_json::from_value(event).map_err(|e| format!("not an SQS event: {e}"))?;
            let response = self.work_until(batch, deadline).await;
            serde_json::to_value(response).map_err(|e| e.to_string())
        } else {
            let planned = self.plan().await?;
            Ok(serde_json::json!({
                "pass": planned.pass,
                "apps": planned.apps,
                "cleanups": planned.cleanups,
                "expired_grants": planned.expired_grants,
                "messages": planned.messages,
            }))
        }
    }

    /// Starts a pass: lists the apps and clean-ups and queues them.
    pub async fn plan(&self) -> Result<Planned, String> {
        fanout::plan_pass(
            self.svc.store.as_ref(),
            &self.queue,
            &self.settings,
            self.svc.clock.now(),
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// A worker's batch. A message is reported failed (SQS redelivers it, and after
    /// three receives moves it to the dead-letter queue) when it cannot be read or
    /// when every app in it failed transiently (an outage); single failures wait for
    /// the next pass instead, which costs less than redelivering the whole message.
    pub async fn work(&self, batch: SqsEvent) -> SqsBatchResponse {
        self.work_until(batch, None).await
    }

    /// One invocation's batch: one `Reconciler` for all its messages, so accounts are
    /// looked up and found out of budget once per invocation.
    pub async fn work_until(
        &self,
        batch: SqsEvent,
        deadline: Option<tokio::time::Instant>,
    ) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        let mut total = BatchOutcome::default();
        let svc = &self.svc;
        let reconciler = Reconciler::new(
            &svc.sync,
            svc.store.as_ref() as &dyn ReconcileIndex,
            svc.store.as_ref() as &dyn IntegrationStore,
            svc.heroku.as_ref() as &dyn HerokuWebhooks,
            svc.budget.as_ref(),
            &svc.signing_key,
            svc.webhook_url(None),
            ReconcileSettings {
                deadline,
                ..self.settings.clone()
            },
        );
        for record in batch.records {
            let id = record.message_id.clone().unwrap_or_default();
            let result = match record.body.as_deref().map(WorkMessage::parse) {
                Some(Ok(message)) => self.run(&reconciler, message, &mut total).await,
                Some(Err(e)) => Err(e),
                None => Err("empty message".to_owned()),
            };
            if let Err(e) = result {
                tracing::warn!(message_id = %id, error = %e, "reconcile message failed");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        self.svc.metrics.record(&Reconciler::metrics(&total));
        tracing::info!(
            apps = total.apps,
            links_checked = total.links_checked,
            links_behind = total.links_behind,
            links_written = total.links_written,
            subscriptions_repaired = total.subscriptions_repaired,
            apps_deferred = total.apps_deferred,
            heroku_calls = total.heroku_calls,
            "reconcile batch done"
        );
        response
    }

    async fn run(
        &self,
        reconciler: &Reconciler<'_>,
        message: WorkMessage,
        total: &mut BatchOutcome,
    ) -> Result<(), String> {
        match message {
            WorkMessage::Apps { pass, apps } => {
                let outcome = reconciler.run(pass, &apps).await;
                total.merge(&outcome);
                if outcome.apps > 0 && outcome.apps_transient == outcome.apps {
                    return Err(format!("all {} apps failed transiently", outcome.apps));
                }
                Ok(())
            }
            WorkMessage::Cleanup { projects } => {
                for project in &projects {
                    optout::run_cleanup(&self.svc, project).await;
                }
                Ok(())
            }
            // Grants left pending (docs/contract.md): revoked, tokens deleted. What fails
            // transiently stays listed for the next pass.
            WorkMessage::ExpiredGrants { grants } => {
                for grant in &grants {
                    if let Expired::Later(why) = pending::expire(&self.svc, grant).await {
                        tracing::warn!(reason = %why, "a pending grant's expiry postponed");
                    }
                }
                Ok(())
            }
        }
    }
}
