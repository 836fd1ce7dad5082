//! `GET /projects/{project_id}/integrations/heroku`: the integration and every link
//! with its sync status.

use crate::Ctx;
use lambda_http::{Body, Response};
use shared::http::{self, ApiError};
use shared::views::IntegrationView;

pub async fn get(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (caller, project) = http::project_caller(ctx.req, ctx.params)?;
    let store = &ctx.svc.store;
    let integration = store.load_integration(&project).await?;
    let links = shared::linking::project_links(ctx.svc, &project).await?;
    let mut view = IntegrationView::new(project.as_str(), integration.as_ref(), &links);
    // Every project member sees the status; the owner's Heroku email and the clean-up
    // details (app and authorization ids) are the connected owner's to see.
    let owner = integration.as_ref().and_then(|i| i.owner_sub.as_deref());
    if !caller.is_connected_owner(owner) {
        view.redact_for_member();
    }
    Ok(http::json(200, &view))
}
