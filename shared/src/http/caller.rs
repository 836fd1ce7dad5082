//! The verified caller: the JWT authorizer's claims from the API Gateway request context,
//! checked against the project in the path.

use super::ApiError;
use crate::domain::ProjectId;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use std::collections::HashMap;

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
        self.has_scope(super::ADMIN_SCOPE)
    }

    /// The user who connected the project's Heroku account: the only one who uses the
    /// grant (docs/contract.md, "Who may do what"). `owner_sub` is the integration's.
    pub fn is_connected_owner(&self, owner_sub: Option<&str>) -> bool {
        owner_sub == Some(self.sub.as_str())
    }
}

/// The `project_role` value of a project's owner.
pub const OWNER_ROLE: &str = "owner";

/// Reads the caller from `requestContext.authorizer.jwt`. Functions never parse the
/// token: API Gateway verified it, and only verified claims reach us.
pub fn caller(req: &Request) -> Result<Caller, ApiError> {
    let jwt = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref())
        }
        _ => None,
    };
    let Some(jwt) = jwt else {
        return Err(ApiError::unauthorized("a bearer token is required"));
    };
    let sub = jwt
        .claims
        .get("sub")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the token has no sub claim"))?
        .clone();
    let mut scopes: Vec<String> = jwt.scopes.clone().unwrap_or_default();
    for claim in ["scope", "scp"] {
        if let Some(v) = jwt.claims.get(claim) {
            // API Gateway renders list claims as "[a b]"; plain OAuth scope is "a b".
            scopes.extend(
                v.trim_matches(|c| c == '[' || c == ']')
                    .split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    Ok(Caller {
        sub,
        project_id: jwt.claims.get("project_id").cloned(),
        scopes,
        role: jwt.claims.get("project_role").cloned(),
    })
}

/// The caller, checked against the project in the path: 401 without claims, 400 for an
/// invalid project id, 403 when the token is for another project.
pub fn project_caller(
    req: &Request,
    params: &HashMap<String, String>,
) -> Result<(Caller, ProjectId), ApiError> {
    let caller = caller(req)?;
    let raw = params
        .get("project_id")
        .map(String::as_str)
        .unwrap_or_default();
    let project = ProjectId::parse(raw).map_err(ApiError::from)?;
    if caller.project_id.as_deref() != Some(project.as_str()) {
        return Err(ApiError::forbidden(
            "the token is not valid for this project",
        ));
    }
    Ok((caller, project))
}
