//! The work queue on SQS, and `drain`: what Lambda's SQS event source mapping does,
//! for the local stack and tests (receive, invoke the worker, delete what succeeded).

use crate::Reconcile;
use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use shared::ports::{StoreError, WorkQueue};

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

#[async_trait]
impl WorkQueue for SqsQueue {
    /// One SendMessageBatch call (at most 10 bodies); a partial failure fails the send,
    /// and the scheduler's next pass lists everything again.
    async fn send(&self, bodies: &[String]) -> Result<(), StoreError> {
        if bodies.is_empty() {
            return Ok(());
        }
        let mut req = self.client.send_message_batch().queue_url(&self.url);
        for (i, body) in bodies.iter().enumerate() {
            req = req.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?,
            );
        }
        let out = req.send().await.map_err(|e| {
            StoreError::Unavailable(format!(
                "SQS: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            ))
        })?;
        if !out.failed().is_empty() {
            return Err(StoreError::Unavailable(format!(
                "SQS refused {} of {} messages",
                out.failed().len(),
                bodies.len()
            )));
        }
        Ok(())
    }
}

/// Receives and works messages until the queue answers empty; returns how many
/// messages were worked. Failed ones stay on the queue (invisible for its visibility
/// timeout), as with Lambda.
pub async fn drain(reconcile: &Reconcile) -> Result<usize, String> {
    let queue = reconcile.queue();
    let mut worked = 0;
    loop {
        let out = queue
            .client
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "SQS receive: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(worked);
        }
        let mut event = SqsEvent::default();
        for m in &messages {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            event.records.push(record);
        }
        let response = reconcile.work(event).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in &messages {
            if failed.contains(&m.message_id.as_deref().unwrap_or_default()) {
                continue;
            }
            if let Some(handle) = &m.receipt_handle {
                queue
                    .client
                    .delete_message()
                    .queue_url(&queue.url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "SQS delete: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(&e)
                        )
                    })?;
            }
        }
        worked += messages.len();
    }
}
