//! The connect function: Heroku OAuth (authorize, callback and confirm), the integration's status,
//! the user's Heroku Postgres databases, linking an env var (with its first sync), a
//! resync of one link, and the trial database. Each route lives in its own module; this
//! one dispatches.

mod databases;
mod keys;
mod link;
mod oauth;
mod resync;
mod status;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::http::{self, ApiError, Function, RouteId};
use shared::services::Services;
use std::collections::HashMap;
use std::sync::Arc;

/// Request bodies of the management routes are tiny.
pub const MAX_BODY: usize = 16 * 1024;

pub struct Connect {
    svc: Arc<Services>,
}

/// What a route handler gets: the services, the request and its path parameters.
pub(crate) struct Ctx<'a> {
    pub svc: &'a Services,
    pub req: &'a Request,
    pub params: &'a HashMap<String, String>,
}

impl Ctx<'_> {
    /// The API's own base URL, as API Gateway saw the request (used when
    /// `PUBLIC_BASE_URL` is not configured).
    pub fn request_base(&self) -> Option<String> {
        match self.req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(c)) => c.domain_name.as_ref().map(|d| {
                let scheme = if d.starts_with("127.0.0.1") || d.starts_with("localhost") {
                    "http"
                } else {
                    "https"
                };
                format!("{scheme}://{d}")
            }),
            _ => None,
        }
    }
}

impl Connect {
    pub fn new(svc: Arc<Services>) -> Self {
        Connect { svc }
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let req = &req;
        http::serve(req, Function::Connect, |route, params| async move {
            let ctx = Ctx {
                svc: &self.svc,
                req,
                params: &params,
            };
            match route.id {
                RouteId::Authorize => oauth::authorize(&ctx).await,
                RouteId::Callback => Ok(oauth::callback(&ctx).await),
                RouteId::Confirm => oauth::confirm(&ctx).await,
                RouteId::Status => status::get(&ctx).await,
                RouteId::Databases => databases::list(&ctx).await,
                RouteId::Link => link::put(&ctx).await,
                RouteId::Resync => resync::post(&ctx).await,
                RouteId::TrialDatabase => link::trial(&ctx).await,
                RouteId::RotateSigningKey => keys::rotate(&ctx).await,
                // `serve` resolves only this function's routes; another's cannot arrive.
                _ => Err(ApiError::not_found("no such route")),
            }
        })
        .await
    }
}

impl shared::lambda::Handler for Connect {
    async fn handle(&self, req: Request) -> Response<Body> {
        Connect::handle(self, req).await
    }
}
