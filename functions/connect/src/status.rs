//! `GET /projects/{project_id}/integrations/heroku`: the integration and every link
//! with its sync status.

use crate::Ctx;
use lambda_http::{Body, Response};
use shared::http::{self, ApiError};
use shared::ports::IntegrationStore;
use shared::views::IntegrationView;

pub async fn get(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (_, project) = http::project_caller(ctx.req, ctx.params)?;
    let store = &ctx.svc.store;
    let integration = store.load_integration(&project).await?;
    let links = shared::linking::project_links(ctx.svc, &project).await?;
    Ok(http::json(
        200,
        &IntegrationView::new(project.as_str(), integration.as_ref(), &links),
    ))
}
