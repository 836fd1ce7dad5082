//! `GET /projects/{project_id}/integrations/heroku/databases`: every Heroku Postgres
//! database the connected account can reach, owned or attached. Two paged list calls
//! (`/addons` and `/addon-attachments`) whatever the number of apps.

use crate::Ctx;
use lambda_http::{Body, Response};
use shared::access::Also;
use shared::heroku::databases;
use shared::http::{self, ApiError};
use shared::linking::with_token;

pub async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (caller, project) = http::project_caller(ctx.req, ctx.params)?;
    let svc = ctx.svc;
    shared::access::connected_owner(svc.store.as_ref(), &project, &caller, Also::Nobody).await?;
    let (addons, attachments) =
        with_token(svc, &project, "the Heroku account", |token| async move {
            let (addons, attachments) =
                tokio::join!(svc.heroku.addons(&token), svc.heroku.attachments(&token));
            Ok((addons?, attachments?))
        })
        .await?;
    let list = databases(&addons, &attachments);
    Ok(http::json(200, &serde_json::json!({ "databases": list })))
}
