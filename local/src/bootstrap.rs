//! Idempotent creation of what SAM creates in AWS: the table (keys, the `reconcile` index
//! and TTL exactly as in `template.yaml`), the reconcile queue, the event bus of the
//! change events and the bootstrap secrets.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use secrecy::SecretString;
use shared::adapters::TableKeys;
use shared::ports::SecretVault;

/// Creates the table unless it exists.
pub async fn ensure_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), String> {
    if client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition")
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key schema")
    };
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(TableKeys::PK))
        .attribute_definitions(attr(TableKeys::SK))
        .key_schema(key(TableKeys::PK, KeyType::Hash))
        .key_schema(key(TableKeys::SK, KeyType::Range))
        .attribute_definitions(attr(TableKeys::RECON_PK))
        .attribute_definitions(attr(TableKeys::RECON_SK))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(TableKeys::RECONCILE_INDEX)
                .key_schema(key(TableKeys::RECON_PK, KeyType::Hash))
                .key_schema(key(TableKeys::RECON_SK, KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .expect("reconcile index"),
        )
        .send()
        .await;
    if let Err(e) = created {
        let exists = e
            .as_service_error()
            .is_some_and(|se| se.is_resource_in_use_exception());
        if !exists {
            return Err(format!("cannot create table {name}: {e:?}"));
        }
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TableKeys::TTL)
                .enabled(true)
                .build()
                .expect("ttl spec"),
        )
        .send()
        .await
        .map_err(|e| format!("cannot enable TTL on {name}: {e:?}"))?;
    Ok(())
}

/// Creates the EventBridge bus change events are published on unless it exists.
pub async fn ensure_event_bus(sdk: &aws_config::SdkConfig, name: &str) -> Result<(), String> {
    let client = aws_sdk_eventbridge::Client::new(sdk);
    if client.describe_event_bus().name(name).send().await.is_ok() {
        return Ok(());
    }
    match client.create_event_bus().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(format!(
            "cannot create event bus {name}: {}",
            aws_sdk_eventbridge::error::DisplayErrorContext(&e)
        )),
    }
}

/// Creates a secret with `value` unless one exists; returns the value now stored.
pub async fn ensure_secret(
    vault: &dyn SecretVault,
    name: &str,
    value: &str,
) -> Result<SecretString, String> {
    if let Some(existing) = vault.read(name).await.map_err(|e| e.to_string())? {
        return Ok(existing);
    }
    vault
        .write(name, &SecretString::from(value.to_owned()), None)
        .await
        .map_err(|e| e.to_string())?;
    Ok(SecretString::from(value.to_owned()))
}

/// Creates the reconciler's SQS queue unless it exists; returns its URL.
pub async fn ensure_queue(client: &aws_sdk_sqs::Client, name: &str) -> Result<String, String> {
    let out = client
        .create_queue()
        .queue_name(name)
        // As in template.yaml: longer than a worker's batch can take.
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "120",
        )
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot create queue {name}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            )
        })?;
    out.queue_url
        .ok_or_else(|| format!("SQS created {name} but sent no URL"))
}
