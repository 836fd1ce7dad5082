//! The verified caller: the JWT authorizer's claims from the API Gateway request context,
//! checked against the project in the path.

use super::ApiError;
use crate::access::Caller;
use crate::domain::ProjectId;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use std::collections::HashMap;

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
