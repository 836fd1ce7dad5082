//! Who may do what (docs/contract.md, "Who may do what"): the verified caller, and the
//! rule that the Heroku grant belongs to the user who connected it, and only they use it;
//! an `integrations/admin` caller may stop it. HTTP reads the caller and answers a
//! refusal (`http::caller`, `From<Denied> for ApiError`); this module only decides.

use crate::domain::{Integration, ProjectId};
use crate::ports::{IntegrationStore, StoreError};

/// The scope of a platform-level caller: transfers, key rotation, emergency stops.
pub const ADMIN_SCOPE: &str = "integrations/admin";

/// The `project_role` value of a project's owner.
pub const OWNER_ROLE: &str = "owner";

/// The verified caller, from the JWT authorizer's claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub sub: String,
    pub project_id: Option<String>,
    pub scopes: Vec<String>,
    /// The `project_role` claim: `owner`, or anything else for a collaborator.
    pub role: Option<String>,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The platform says this user owns the project (may start a connect).
    pub fn is_project_owner(&self) -> bool {
        self.role.as_deref() == Some(OWNER_ROLE)
    }

    /// A platform-level caller (`integrations/admin`): transfers and emergency stops.
    pub fn is_admin(&self) -> bool {
        self.has_scope(ADMIN_SCOPE)
    }

    /// The user who connected the project's Heroku account: the only one who uses the
    /// grant. `owner_sub` is the integration's.
    pub fn is_connected_owner(&self, owner_sub: Option<&str>) -> bool {
        owner_sub == Some(self.sub.as_str())
    }
}

/// Why the caller may not: HTTP answers `NotProjectOwner` with 403 `not_project_owner`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Denied {
    #[error("{0}")]
    NotProjectOwner(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

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
/// anyone else is refused.
pub async fn connected_owner(
    store: &dyn IntegrationStore,
    project: &ProjectId,
    caller: &Caller,
    also: Also,
) -> Result<Option<Integration>, Denied> {
    let integration = store.load_integration(project).await?;
    let owner = integration.as_ref().and_then(|i| i.owner_sub.as_deref());
    let allowed = owner.is_none()
        || caller.is_connected_owner(owner)
        || (also == Also::Admin && caller.is_admin());
    if allowed {
        Ok(integration)
    } else {
        Err(Denied::NotProjectOwner(
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
) -> Result<(), Denied> {
    if !caller.is_project_owner() {
        return Err(Denied::NotProjectOwner(
            "only the project's owner may connect Heroku",
        ));
    }
    connected_owner(store, project, caller, Also::Nobody)
        .await
        .map(drop)
}
