//! `GET /projects/{project_id}/integrations/heroku`: the integration and every link
//! with its sync status.

use crate::Ctx;
use lambda_http::{Body, Response};
use shared::domain::LinkKey;
use shared::http::{self, ApiError};
use shared::ports::{AppStore, IntegrationStore};
use shared::views::IntegrationView;

pub async fn get(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (_, project) = http::project_caller(ctx.req, ctx.params)?;
    let store = &ctx.svc.store;
    let integration = store.load_integration(&project).await?;
    let mut links = Vec::new();
    for entry in store.directory(&project).await? {
        let key = LinkKey::new(&entry.project_id, &entry.env_var);
        if let Some(link) = store
            .load_app(&entry.app_id)
            .await?
            .and_then(|mut r| r.links.remove(&key))
        {
            links.push(link);
        }
    }
    Ok(http::json(
        200,
        &IntegrationView::new(project.as_str(), integration.as_ref(), &links),
    ))
}
