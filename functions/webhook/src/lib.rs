//! The webhook function: verifies Heroku's signed `api:release` deliveries and runs the
//! sync core for the app. Remote calls on the path that writes: one DynamoDB read, one
//! Heroku read, one DynamoDB write to take the lease, one Secrets Manager write per changed
//! env var, one DynamoDB write to commit (plus one Secrets Manager read of the signing key
//! and one of the project's token per cold container).

pub mod envelope;
pub mod signature;

use envelope::Delivery;
use lambda_http::{Body, Request, Response};
use shared::domain::AppId;
use shared::http::{self, ApiError, Function};
use shared::metrics::SyncMetrics;
use shared::services::Services;
use shared::sync::{SyncError, SyncRequest, Target};
use std::sync::Arc;

/// Deliveries are a few KiB; anything past this is not from Heroku.
pub const MAX_BODY: usize = 256 * 1024;

/// The webhook function's state, built once per container.
pub struct Webhook {
    svc: Arc<Services>,
}

impl Webhook {
    pub fn new(svc: Arc<Services>) -> Self {
        Webhook { svc }
    }

    pub fn services(&self) -> &Services {
        &self.svc
    }

    /// Handles one API Gateway request. Never fails: every outcome is an HTTP answer.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        http::serve(&req, Function::Webhook, |_, _| self.deliver(&req)).await
    }

    /// One delivery: verify, parse, ignore or sync.
    async fn deliver(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let body: &[u8] = req.body().as_ref();
        if body.len() > MAX_BODY {
            return Err(ApiError::too_large("delivery body too large"));
        }
        let Some(sig) = req
            .headers()
            .get(signature::HEADER)
            .and_then(|v| v.to_str().ok())
        else {
            tracing::warn!("delivery without a signature");
            return Err(ApiError::unauthorized(
                "missing Heroku-Webhook-Hmac-SHA256 header",
            ));
        };
        // Verify before parsing anything: an unsigned body is never read. The current
        // key, else the previous one (a rotation's overlap), else a re-read.
        let verified = self
            .svc
            .signing_key
            .verify(|key| signature::verify(key, body, sig))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "webhook signing key unavailable");
                ApiError::unavailable("signing key unavailable", 5)
            })?;
        if !verified {
            tracing::warn!("delivery with a bad signature");
            return Err(ApiError::unauthorized("signature does not match"));
        }

        let delivery = match Delivery::parse(body) {
            Ok(d) => d,
            Err(e) => return Ok(self.unusable(&e.to_string())),
        };
        let span = tracing::Span::current();
        if let Some(id) = &delivery.delivery_id {
            span.record("delivery_id", id.as_str());
        }
        let Some(release) = delivery.release.as_ref() else {
            tracing::info!(
                resource = delivery.resource.as_deref().unwrap_or(""),
                "ignored: not a release"
            );
            return Ok(http::no_content());
        };
        if release.status.as_deref() != Some("succeeded") {
            tracing::info!(
                status = release.status.as_deref().unwrap_or(""),
                "ignored: release not succeeded"
            );
            return Ok(http::no_content());
        }
        let (Some(app_id), Some(version)) = (release.app_id.as_deref(), release.version) else {
            return Ok(self.unusable("release without data.app.id or data.version"));
        };
        let app_id = match AppId::parse(app_id) {
            Ok(a) => a,
            Err(e) => return Ok(self.unusable(&format!("data.app.id: {e}"))),
        };
        span.record("app_id", app_id.as_str());
        span.record("version", version);

        let request = SyncRequest {
            app_id,
            target: Target::Release(version),
            only: None,
            released_at: release.created_at,
            delivery_id: delivery.delivery_id.clone(),
            repair: None,
        };
        match self.svc.sync.sync(&request).await {
            Ok(report) => {
                tracing::info!(
                    written = report.written.len(),
                    unchanged = report.unchanged.len(),
                    waiting = report.waiting.len(),
                    failed = report.failed.len(),
                    "delivery handled"
                );
                Ok(http::no_content())
            }
            Err(SyncError::Transient {
                reason,
                retry_after,
            }) => {
                tracing::warn!(reason = %reason, "transient failure; Heroku will redeliver");
                Err(ApiError::unavailable(
                    "an upstream service is unavailable; retry later",
                    retry_after.as_secs(),
                ))
            }
            Err(SyncError::Internal(reason)) => {
                tracing::error!(reason = %reason, "sync failed");
                Err(ApiError::internal("internal error"))
            }
        }
    }
}

impl Webhook {
    /// A delivery signed with our key (so from Heroku) that we can never act on: 202, a
    /// warning and a `DeliveriesUnusable` count. A 4xx would make Heroku redeliver it for
    /// 72 hours, and it would never get better (docs/contract.md, "Webhook semantics").
    fn unusable(&self, why: &str) -> Response<Body> {
        tracing::warn!(reason = why, "ignored: a signed delivery we can never use");
        self.svc.metrics.record(&SyncMetrics {
            deliveries_unusable: 1,
            ..SyncMetrics::default()
        });
        Response::builder()
            .status(202)
            .body(Body::Empty)
            .unwrap_or_default()
    }
}

impl shared::lambda::Handler for Webhook {
    async fn handle(&self, req: Request) -> Response<Body> {
        Webhook::handle(self, req).await
    }
}
