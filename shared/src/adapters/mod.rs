//! Adapters: the ports implemented for DynamoDB, Secrets Manager, and in memory.

mod dynamo;
mod dynamo_reconcile;
mod memory;
mod memory_reconcile;
mod secrets;

pub use dynamo::{DynamoStore, TableKeys, table_definition};
pub use memory::{MemoryStore, MemoryVault};
pub use memory_reconcile::{MemoryBudget, MemoryQueue};
pub use secrets::{SecretsEnvSink, SecretsManagerVault};
