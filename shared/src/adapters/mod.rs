//! Adapters: the ports implemented for DynamoDB, Secrets Manager, and in memory.

mod dynamo;
mod memory;
mod secrets;

pub use dynamo::{DynamoStore, TableKeys, table_definition};
pub use memory::{MemoryStore, MemoryVault};
pub use secrets::{SecretsEnvSink, SecretsManagerVault};
