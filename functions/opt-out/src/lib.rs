//! The opt-out function: stop one env var's sync, delete the Heroku integration, or
//! disconnect a project whose ownership changed. None of them touches an env var's
//! value: its secret keeps the last synced URL (this function has no permission on it).

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::access::{Also, connected_owner};
use shared::domain::{EnvVarName, ProjectId};
use shared::http::{self, ADMIN_SCOPE, ApiError, Function, RouteId};
use shared::optout;
use shared::services::Services;
use std::collections::HashMap;
use std::sync::Arc;

pub const MAX_BODY: usize = 16 * 1024;

pub struct OptOut {
    svc: Arc<Services>,
}

#[derive(Deserialize)]
struct TransferBody {
    new_owner: String,
}

impl OptOut {
    pub fn new(svc: Arc<Services>) -> Self {
        OptOut { svc }
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let req = &req;
        http::serve(req, Function::OptOut, |route, params| async move {
            match route.id {
                RouteId::OptOut => self.opt_out(req, &params).await,
                RouteId::DeleteIntegration => self.delete_integration(req, &params).await,
                RouteId::Transfer => self.transfer(req, &params).await,
                // `serve` resolves only this function's routes; another's cannot arrive.
                _ => Err(ApiError::not_found("no such route")),
            }
        })
        .await
    }

    async fn opt_out(
        &self,
        req: &Request,
        params: &HashMap<String, String>,
    ) -> Result<Response<Body>, ApiError> {
        let (caller, project) = http::project_caller(req, params)?;
        let env_var = EnvVarName::parse(params.get("env_var").cloned().unwrap_or_default())?;
        connected_owner(self.svc.store.as_ref(), &project, &caller, Also::Admin).await?;
        match optout::opt_out(&self.svc, &project, &env_var).await? {
            Some(_) => Ok(http::no_content()),
            None => Err(ApiError::not_found(format!(
                "{env_var} is not synced from Heroku"
            ))),
        }
    }

    async fn delete_integration(
        &self,
        req: &Request,
        params: &HashMap<String, String>,
    ) -> Result<Response<Body>, ApiError> {
        let (caller, project) = http::project_caller(req, params)?;
        connected_owner(self.svc.store.as_ref(), &project, &caller, Also::Admin).await?;
        optout::disconnect(&self.svc, &project, None).await?;
        Ok(http::no_content())
    }

    /// A platform call: the admin scope is required (API Gateway checks it too); a token
    /// that names a project must name this one.
    async fn transfer(
        &self,
        req: &Request,
        params: &HashMap<String, String>,
    ) -> Result<Response<Body>, ApiError> {
        let caller = http::caller(req)?;
        if !caller.has_scope(ADMIN_SCOPE) {
            return Err(ApiError::forbidden(format!(
                "the {ADMIN_SCOPE} scope is required"
            )));
        }
        let project = ProjectId::parse(params.get("project_id").cloned().unwrap_or_default())?;
        if caller
            .project_id
            .as_deref()
            .is_some_and(|p| p != project.as_str())
        {
            return Err(ApiError::forbidden(
                "the token is not valid for this project",
            ));
        }
        let body: TransferBody = http::json_body(req, MAX_BODY)?;
        let new_owner = body.new_owner.trim();
        if new_owner.is_empty() || new_owner.len() > 256 {
            return Err(ApiError::bad_request(
                "new_owner: must be the new owner's user id (1 to 256 characters)",
            ));
        }
        optout::disconnect(&self.svc, &project, Some(new_owner)).await?;
        Ok(http::no_content())
    }
}

impl shared::lambda::Handler for OptOut {
    async fn handle(&self, req: Request) -> Response<Body> {
        OptOut::handle(self, req).await
    }
}
