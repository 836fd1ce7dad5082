//! Adapters: the ports implemented for DynamoDB, Secrets Manager, and in memory.

mod dynamo;
mod dynamo_apps;
mod dynamo_fence;
mod dynamo_keys;
mod dynamo_pending;
mod dynamo_reconcile;
mod events;
mod memory;
mod memory_reconcile;
mod secrets;

pub use dynamo::{ChunkPause, DynamoStore};
pub use dynamo_fence::FENCE_MS;
pub use dynamo_keys::{TableKeys, item_size, table_definition};
pub use events::{DETAIL_TYPE, EVENT_SOURCE, EventBridgePublisher, MemoryEvents, NoEvents};
pub use memory::{MemoryStore, MemoryVault};
pub use memory_reconcile::{MemoryBudget, MemoryQueue};
pub use secrets::{SecretsEnvSink, SecretsManagerVault};
