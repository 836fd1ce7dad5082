//! The sample events in `events/reconcile/` (what `cargo lambda invoke --data-file` sends)
//! through the function's handler against the local stack.

use crate::*;

fn sample(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/reconcile")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_event_plans_a_pass_of_every_app_with_an_active_link() {
    let w = world().await;
    let r = reconciler(&w.stack, settings());

    let answer = r.handle(sample("pass.json")).await.expect("planned");

    assert_eq!(answer["apps"], 1, "{answer}");
    assert_eq!(answer["messages"], 1, "{answer}");
    assert_eq!(reconcile::drain(&r).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_batch_reports_only_the_unreadable_message_as_failed() {
    let w = world().await;
    let r = reconciler(&w.stack, settings());

    let answer = r.handle(sample("batch.json")).await.expect("worked");

    // The first message names an app nobody links (nothing to do, not a failure); the
    // second is not ours: only it goes back to the queue (and, three times failed, to
    // the dead-letter queue).
    let failures = answer["batchItemFailures"]
        .as_array()
        .expect("the partial-batch answer");
    assert_eq!(failures.len(), 1, "{answer}");
    assert_eq!(
        failures[0]["itemIdentifier"],
        "9b1d3c0e-5f0a-4c35-9d4e-1f2a3b4c5d6e"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reindex_lists_apps_saved_before_the_index_existed() {
    let w = world().await;
    let r = reconciler(&w.stack, settings());
    // As an item written by the previous version looks: no index keys.
    w.stack
        .dynamo
        .update_item()
        .table_name(&w.stack.config.table_name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("APP#{}", w.app.id)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("APP".into()),
        )
        .update_expression("REMOVE recon_pk, recon_sk")
        .send()
        .await
        .unwrap();
    assert_eq!(r.plan().await.unwrap().apps, 0, "invisible to the pass");

    let done = r
        .handle(serde_json::json!({"kind": "reindex"}))
        .await
        .unwrap();

    assert_eq!(done["apps"], 1, "{done}");
    assert_eq!(r.plan().await.unwrap().apps, 1, "listed again");
    reconcile::drain(&r).await.unwrap();
}
