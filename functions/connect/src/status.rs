//! `GET /projects/{project_id}/integrations/heroku`: the integration and every link
//! with its sync status.

use crate::Ctx;
use lambda_http::{Body, Response};
use shared::http::{self, ApiError};
use shared::views::IntegrationView;

pub async fn get(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (caller, project) = http::project_caller(ctx.req, ctx.params)?;
    let status = shared::linking::project_status(ctx.svc.store.as_ref(), &project).await?;
    let integration = status.integration.as_ref();
    let mut view = IntegrationView::new(project.as_str(), integration, &status.links);
    // Every project member sees the status; the owner's Heroku email and the clean-up
    // details (app and authorization ids) are the connected owner's to see.
    let owner = integration.and_then(|i| i.owner_sub.as_deref());
    if !caller.is_connected_owner(owner) {
        view.redact_for_member();
    }
    Ok(http::json(200, &view))
}
