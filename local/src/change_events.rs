//! Watching a stack's change events the way a platform would: an EventBridge rule on the
//! stack's bus matching `Env var synced`, with an SQS queue as its target, all in moto.

use crate::fixture::Stack;
use aws_sdk_eventbridge::types::Target;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A queue receiving every `Env var synced` event published on a stack's bus from now on.
pub struct ChangeEvents {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Stack {
    /// Creates a rule on this stack's bus (the README's event pattern) sending matching
    /// events to a new queue. Events published before this call are not in it.
    pub async fn watch_change_events(&self) -> ChangeEvents {
        let bus = self
            .config
            .event_bus_name
            .clone()
            .expect("the stack has an event bus");
        let name = format!("changes-{}", uuid::Uuid::new_v4().simple());
        let queue_url = self
            .sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let queue_arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names("QueueArn".into())
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| a.get(&"QueueArn".into()).cloned())
            .expect("queue arn");
        let pattern = serde_json::json!({
            "source": [shared::adapters::EVENT_SOURCE],
            "detail-type": [shared::adapters::DETAIL_TYPE],
        });
        self.events
            .put_rule()
            .name(&name)
            .event_bus_name(&bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("put rule");
        self.events
            .put_targets()
            .rule(&name)
            .event_bus_name(&bus)
            .targets(
                Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("put targets");
        ChangeEvents {
            sqs: self.sqs.clone(),
            queue_url,
        }
    }
}

impl ChangeEvents {
    /// The events received (EventBridge's envelope, `detail` included) once `n` have
    /// arrived or `limit` has passed, oldest first.
    pub async fn receive(&self, n: usize, limit: Duration) -> Vec<Value> {
        let start = Instant::now();
        let mut events = Vec::new();
        while events.len() < n && start.elapsed() < limit {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            for m in out.messages.unwrap_or_default() {
                let body = m.body.as_deref().unwrap_or("null");
                events.push(serde_json::from_str(body).expect("an event as JSON"));
                if let Some(handle) = m.receipt_handle {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete message");
                }
            }
            if events.len() < n {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        events
    }
}
