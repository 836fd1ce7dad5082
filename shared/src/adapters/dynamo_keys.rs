//! The table's keys and item encoding (the layout is in `dynamo`'s docs): key names and
//! formats, the reconcile index's partitions, attribute helpers, and which SDK errors are
//! transient.

use crate::domain::{AppId, EnvVarName, ProjectId};
use crate::ports::StoreError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Key attribute names, shared with `template.yaml` and the local bootstrap.
pub struct TableKeys;

impl TableKeys {
    pub const PK: &'static str = "pk";
    pub const SK: &'static str = "sk";
    pub const TTL: &'static str = "ttl";
    /// The sparse `reconcile` index (see the module docs).
    pub const RECONCILE_INDEX: &'static str = "reconcile";
    pub const RECON_PK: &'static str = "recon_pk";
    pub const RECON_SK: &'static str = "recon_sk";
}

/// The table's key schema, for tools that create it (dev stack, tests).
pub fn table_definition() -> (&'static str, &'static str, &'static str) {
    (TableKeys::PK, TableKeys::SK, TableKeys::TTL)
}

/// `recon_pk` of app records with an active link, and of integrations owing clean-up.
pub(crate) const RECON_APPS: &str = "APPS";
pub(crate) const RECON_CLEANUP: &str = "CLEANUP";
/// `recon_pk` of pending grants (docs/contract.md: grants left pending are revoked).
pub(crate) const RECON_PENDING: &str = "PENDING";

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn app_pk(app: &AppId) -> String {
    format!("APP#{app}")
}

pub(crate) fn project_pk(project: &ProjectId) -> String {
    format!("PROJECT#{project}")
}

/// Sort key of a project's integration item.
pub(crate) const INTEGRATION_SK: &str = "INTEGRATION";
/// Sort-key prefix of an app's link items (`LINK#{project_id}/{env_var}`).
pub(crate) const LINK_PREFIX: &str = "LINK#";
/// Sort-key prefix of a project's directory entries (`ENV#{env_var}`).
pub(crate) const ENV_PREFIX: &str = "ENV#";

pub(crate) fn env_sk(env: &EnvVarName) -> String {
    format!("{ENV_PREFIX}{env}")
}

/// Classifies SDK errors: throttling, 5xx, timeouts and network failures are transient.
pub(crate) fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(err: &SdkError<E>) -> StoreError {
    match err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown");
            let status = se.raw().status().as_u16();
            let message = format!("{code}: {}", se.err().message().unwrap_or(""));
            if status >= 500
                || matches!(
                    code,
                    "ThrottlingException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "TransactionConflictException"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                )
            {
                StoreError::Unavailable(message)
            } else {
                StoreError::Other(message)
            }
        }
        SdkError::TimeoutError(_) => StoreError::Unavailable("timed out".into()),
        SdkError::DispatchFailure(_) => StoreError::Unavailable("could not reach DynamoDB".into()),
        SdkError::ResponseError(_) => StoreError::Unavailable("unreadable response".into()),
        other => StoreError::Other(format!("{other:?}")),
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Other(format!("encode: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An item's size by DynamoDB's rules (attribute names plus values; numbers counted as
/// their digits, a close upper bound), for the 400 KB item limit.
pub fn item_size(item: &Item) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|x| 1 + value(x)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, x)| 1 + k.len() + value(x)).sum::<usize>()
            }
            AttributeValue::Ss(s) | AttributeValue::Ns(s) => s.iter().map(String::len).sum(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// A save's [`Guard`](crate::ports::Guard) as a DynamoDB condition on the app's header:
/// the one place it is written, for the header `Put` of an ordinary save and the fence
/// `Update` of a large one.
pub(crate) struct GuardCondition {
    pub expression: &'static str,
    /// Only what the expression uses: DynamoDB refuses unused names and values.
    pub names: Vec<(&'static str, &'static str)>,
    pub values: Vec<(&'static str, AttributeValue)>,
}

impl GuardCondition {
    pub(crate) fn of(guard: &crate::ports::Guard) -> Self {
        use crate::ports::Guard;
        match guard {
            Guard::New => GuardCondition {
                expression: "attribute_not_exists(pk)",
                names: vec![],
                values: vec![],
            },
            Guard::Unleased { generation, now_ms } => GuardCondition {
                expression: "#g = :g AND (attribute_not_exists(lease_until_ms) OR lease_until_ms <= :now)",
                names: vec![("#g", "generation")],
                values: vec![(":g", n(generation)), (":now", n(now_ms))],
            },
            Guard::LeaseHolder { owner, generation } => GuardCondition {
                expression: "lease_owner = :owner AND #g = :g",
                names: vec![("#g", "generation")],
                values: vec![(":owner", s(owner.clone())), (":g", n(generation))],
            },
        }
    }
}
