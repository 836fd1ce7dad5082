//! Who may do what (docs/contract.md): the Heroku grant belongs to the user who connected
//! it, and only they use it; an `integrations/admin` caller may stop it.

use super::{ApiError, Caller};
use crate::domain::{Integration, ProjectId};
use crate::ports::IntegrationStore;

/// What the caller may also do besides being the connected owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Also {
    /// Nothing: only the connected owner (databases, link, resync, trial database).
    Nobody,
    /// A platform admin too (opt out, delete: an emergency stop).
    Admin,
}

/// The project's integration, if the caller may use it: the connected owner (same `sub`
/// as the one who connected, whatever their role now), or an admin where `also` allows.
/// A project with no integration yet passes (the use case then says "connect first");
/// anyone else gets 403 `not_project_owner`.
pub async fn connected_owner(
    store: &dyn IntegrationStore,
    project: &ProjectId,
    caller: &Caller,
    also: Also,
) -> Result<Option<Integration>, ApiError> {
    let integration = store.load_integration(project).await?;
    let owner = integration.as_ref().and_then(|i| i.owner_sub.as_deref());
    let allowed = owner.is_none()
        || caller.is_connected_owner(owner)
        || (also == Also::Admin && caller.is_admin());
    if allowed {
        Ok(integration)
    } else {
        Err(ApiError::not_project_owner(
            "only the user who connected Heroku to this project may do this; ask them, or \
             ask the platform to transfer the project",
        ))
    }
}

/// A connect may be started by the project's owner (`project_role: owner`) only, and
/// once someone is pinned as the connected owner, only by them (a transfer re-pins).
pub async fn may_connect(
    store: &dyn IntegrationStore,
    project: &ProjectId,
    caller: &Caller,
) -> Result<(), ApiError> {
    if !caller.is_project_owner() {
        return Err(ApiError::not_project_owner(
            "only the project's owner may connect Heroku",
        ));
    }
    connected_owner(store, project, caller, Also::Nobody)
        .await
        .map(drop)
}
