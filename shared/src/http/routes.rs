//! The HTTP API's route table (docs/contract.md): one entry per route, naming the function
//! that serves it, how it is protected and the [`RouteId`] its function dispatches on, so
//! a renamed path changes one line and a missing handler fails to compile.

use std::collections::HashMap;

/// The stack's Lambda functions; routes name the one that serves them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Webhook,
    Connect,
    OptOut,
    /// Serves no route: EventBridge Scheduler and SQS invoke it.
    Reconcile,
}

/// Every function of the stack (the template check compares it with `template.yaml`).
pub const FUNCTIONS: &[Function] = &[
    Function::Webhook,
    Function::Connect,
    Function::OptOut,
    Function::Reconcile,
];

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Webhook => "webhook",
            Function::Connect => "connect",
            Function::OptOut => "opt-out",
            Function::Reconcile => "reconcile",
        }
    }
}

/// How a route is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Heroku's HMAC signature, checked by the webhook function.
    Signature,
    /// The single-use OAuth `state`, checked by the callback.
    State,
    /// A JWT checked by API Gateway's authorizer; claims arrive in the request context.
    Jwt,
    /// A JWT that must also carry the `integrations/admin` scope.
    JwtAdmin,
}

/// What a route does: functions dispatch on this, never on the path text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteId {
    Webhook,
    Authorize,
    Callback,
    Confirm,
    Status,
    Databases,
    Link,
    Resync,
    TrialDatabase,
    OptOut,
    DeleteIntegration,
    Transfer,
    RotateSigningKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub id: RouteId,
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
    pub auth: Auth,
}

impl Route {
    /// API Gateway's route key, e.g. `POST /webhooks/heroku`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Matches a concrete path, returning the path parameters.
    pub fn matches(&self, method: &str, path: &str) -> Option<HashMap<String, String>> {
        if !self.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let mut params = HashMap::new();
        let mut want = self.path.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return Some(params),
                (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {
                    let decoded = percent_decode(g)?;
                    params.insert(w[1..w.len() - 1].to_owned(), decoded);
                }
                (Some(w), Some(g)) if w == g => {}
                _ => return None,
            }
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Every route of the HTTP API (docs/contract.md). The dev server, the template test and the
/// OpenAPI test all read this one table.
pub const ROUTES: &[Route] = &[
    Route {
        id: RouteId::Webhook,
        method: "POST",
        path: "/webhooks/heroku",
        function: Function::Webhook,
        auth: Auth::Signature,
    },
    Route {
        id: RouteId::Authorize,
        method: "POST",
        path: "/projects/{project_id}/integrations/heroku/authorize",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        id: RouteId::Callback,
        method: "GET",
        path: "/integrations/heroku/callback",
        function: Function::Connect,
        auth: Auth::State,
    },
    Route {
        id: RouteId::Confirm,
        method: "POST",
        path: "/projects/{project_id}/integrations/heroku/confirm",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        id: RouteId::Status,
        method: "GET",
        path: "/projects/{project_id}/integrations/heroku",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        id: RouteId::Databases,
        method: "GET",
        path: "/projects/{project_id}/integrations/heroku/databases",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        id: RouteId::Link,
        method: "PUT",
        path: "/projects/{project_id}/env-vars/{env_var}/heroku-sync",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        id: RouteId::Resync,
        method: "POST",
        path: "/projects/{project_id}/env-vars/{env_var}/heroku-sync/resync",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        id: RouteId::TrialDatabase,
        method: "POST",
        path: "/projects/{project_id}/integrations/heroku/trial-database",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        id: RouteId::OptOut,
        method: "DELETE",
        path: "/projects/{project_id}/env-vars/{env_var}/heroku-sync",
        function: Function::OptOut,
        auth: Auth::Jwt,
    },
    Route {
        id: RouteId::DeleteIntegration,
        method: "DELETE",
        path: "/projects/{project_id}/integrations/heroku",
        function: Function::OptOut,
        auth: Auth::Jwt,
    },
    Route {
        id: RouteId::Transfer,
        method: "POST",
        path: "/projects/{project_id}/ownership-transfers",
        function: Function::OptOut,
        auth: Auth::JwtAdmin,
    },
    Route {
        id: RouteId::RotateSigningKey,
        method: "POST",
        path: "/webhook-signing-key/rotations",
        function: Function::Connect,
        auth: Auth::JwtAdmin,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates_match_concrete_paths() {
        let r = ROUTES.iter().find(|r| r.method == "PUT").unwrap();
        let p = r
            .matches("PUT", "/projects/p1/env-vars/PG_URL/heroku-sync")
            .unwrap();
        assert_eq!(p["project_id"], "p1");
        assert_eq!(p["env_var"], "PG_URL");
        assert!(
            r.matches("GET", "/projects/p1/env-vars/PG_URL/heroku-sync")
                .is_none()
        );
        assert!(
            r.matches("PUT", "/projects//env-vars/PG_URL/heroku-sync")
                .is_none()
        );
        assert!(
            r.matches("PUT", "/projects/p1/env-vars/PG_URL/heroku-sync/x")
                .is_none()
        );
    }

    #[test]
    fn percent_encoded_segments_are_decoded() {
        let r = ROUTES.iter().find(|r| r.method == "PUT").unwrap();
        let p = r
            .matches("PUT", "/projects/p%2F1/env-vars/A%2BB/heroku-sync")
            .unwrap();
        assert_eq!(p["project_id"], "p/1");
        assert_eq!(p["env_var"], "A+B");
    }

    #[test]
    fn every_route_id_names_one_route() {
        let mut ids: Vec<String> = ROUTES.iter().map(|r| format!("{:?}", r.id)).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ROUTES.len());
    }

    #[test]
    fn every_route_is_unique() {
        let mut keys: Vec<String> = ROUTES.iter().map(Route::key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ROUTES.len());
    }
}
