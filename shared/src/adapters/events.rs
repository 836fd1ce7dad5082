//! Change events (docs/contract.md, "Change events"): an EventBridge publisher for AWS and
//! the local stack (moto), an in-memory one for domain tests, and none at all for a
//! function that never syncs.

use crate::ports::{EnvVarSynced, EventPublisher, PublishError};
use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The events' `source`, fixed by the contract: rules match on it.
pub const EVENT_SOURCE: &str = "heroku-db-url-sync";
/// The events' `detail-type`, fixed by the contract.
pub const DETAIL_TYPE: &str = "Env var synced";

/// PutEvents takes at most this many entries per call.
const BATCH: usize = 10;

/// Publishes to one event bus with PutEvents. The SDK retries a call that failed as a
/// whole (throttling, 5xx, no answer) within its operation timeout; entries EventBridge
/// refused one by one in an answered call are sent once more, then counted as failed.
#[derive(Clone, Debug)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

impl EventBridgePublisher {
    /// `bus`: the bus's name, or its ARN for a bus in another account.
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        EventBridgePublisher {
            client,
            bus: bus.into(),
        }
    }

    fn entry(&self, event: &EnvVarSynced) -> Result<PutEventsRequestEntry, String> {
        let detail = serde_json::to_string(event).map_err(|e| e.to_string())?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(DETAIL_TYPE)
            // The secret is the resource the event is about: rules can match on it.
            .resources(&event.secret_arn)
            .detail(detail)
            .build())
    }

    /// Sends one batch; returns the entries still not accepted and why.
    async fn send(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> (Vec<PutEventsRequestEntry>, Option<String>) {
        match self
            .client
            .put_events()
            .set_entries(Some(entries.clone()))
            .send()
            .await
        {
            Ok(out) if out.failed_entry_count() == 0 => (vec![], None),
            Ok(out) => {
                let results = out.entries();
                if results.len() != entries.len() {
                    return (entries, Some("unreadable PutEvents answer".into()));
                }
                let mut why = None;
                let left = entries
                    .into_iter()
                    .zip(results)
                    .filter(|(_, r)| r.error_code().is_some())
                    .map(|(e, r)| {
                        why.get_or_insert_with(|| r.error_code().unwrap_or("Unknown").to_owned());
                        e
                    })
                    .collect();
                (left, why)
            }
            // The code only: AWS's message can name the function's role and account.
            Err(e) => (entries, Some(error_code(&e))),
        }
    }
}

fn error_code<E: ProvideErrorMetadata>(e: &SdkError<E>) -> String {
    match e {
        SdkError::ServiceError(se) => se.err().code().unwrap_or("Unknown").to_owned(),
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(_) => "could not reach EventBridge".into(),
        SdkError::ResponseError(_) => "unreadable response".into(),
        _ => "request could not be built".into(),
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[EnvVarSynced]) -> Result<(), PublishError> {
        let mut failed = 0;
        let mut reason = None;
        for chunk in events.chunks(BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for event in chunk {
                match self.entry(event) {
                    Ok(e) => entries.push(e),
                    Err(why) => {
                        failed += 1;
                        reason.get_or_insert(why);
                    }
                }
            }
            let (mut left, mut why) = self.send(entries).await;
            if !left.is_empty() && why.as_deref().is_some_and(entry_level) {
                // Entries refused one by one (throttled, an internal failure): once more.
                (left, why) = self.send(left).await;
            }
            failed += left.len();
            if !left.is_empty() {
                reason = reason.or(why);
            }
        }
        match failed {
            0 => Ok(()),
            n => Err(PublishError {
                failed: n,
                reason: reason.unwrap_or_else(|| "Unknown".into()),
            }),
        }
    }
}

/// Per-entry failures worth a second try; a call that failed as a whole has been retried
/// by the SDK already.
fn entry_level(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException" | "InternalFailure" | "InternalException"
    )
}

/// Keeps what would have been published, for tests; can be told to fail.
#[derive(Debug, Default)]
pub struct MemoryEvents {
    published: Mutex<Vec<EnvVarSynced>>,
    /// When set, every publish fails (nothing is kept).
    pub down: AtomicBool,
}

impl MemoryEvents {
    /// Every event published so far, oldest first.
    pub fn published(&self) -> Vec<EnvVarSynced> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl EventPublisher for MemoryEvents {
    async fn publish(&self, events: &[EnvVarSynced]) -> Result<(), PublishError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(PublishError {
                failed: events.len(),
                reason: "injected outage".into(),
            });
        }
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(events);
        Ok(())
    }
}

/// For a function configured without `EVENT_BUS_NAME` (the opt-out function, which never
/// writes an env var): should a write ever happen there, its events fail loudly.
#[derive(Debug, Default)]
pub struct NoEvents;

#[async_trait]
impl EventPublisher for NoEvents {
    async fn publish(&self, events: &[EnvVarSynced]) -> Result<(), PublishError> {
        Err(PublishError {
            failed: events.len(),
            reason: "EVENT_BUS_NAME is not set for this function".into(),
        })
    }
}
