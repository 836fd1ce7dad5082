//! A fake Heroku — Platform API, OAuth (id.heroku.com) and webhook delivery — for tests and
//! the local dev stack, in-process or as the `fake-heroku` binary.
//!
//! ```no_run
//! # async fn demo() {
//! let heroku = fake_heroku::FakeHeroku::start().await;
//! let user = heroku.create_user("dev@example.com");
//! let app = heroku.create_app(&user, "my-app");
//! let db = heroku.add_postgres(&app, "heroku-postgresql:essential-0");
//! assert_eq!(db.config_var, "DATABASE_URL");
//! # }
//! ```

mod api;
mod control;
mod delivery;
mod faults;
mod gate;
mod names;
mod oauth;
mod ops;
mod paging;
mod render;
mod state;
mod types;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use api::API_ROUTES;
pub use axum::http::Method;
pub use faults::{Fault, FaultId, Rate};
pub use types::{
    Addon, App, AuthorizationInfo, AuthorizeDecision, DeliveryInfo, DeliveryMode, HeldDelivery,
    Release, RequestRecord, Tokens, User, WebhookInfo,
};

use state::Shared;

/// Stops the server when the last handle goes.
#[derive(Debug)]
struct ServerTask(JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connections the server accepted, and how many of them have TCP_NODELAY on as the
/// kernel reports it, so a test can check the socket set-up instead of timing requests.
#[derive(Debug, Default)]
struct Connections {
    accepted: AtomicUsize,
    nodelay: AtomicUsize,
}

/// What [`FakeHeroku::connections`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionStats {
    pub accepted: usize,
    pub nodelay: usize,
}

/// A running fake Heroku. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct FakeHeroku {
    shared: Arc<Shared>,
    addr: SocketAddr,
    connections: Arc<Connections>,
    _server: Arc<ServerTask>,
}

impl std::fmt::Debug for FakeHeroku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHeroku")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The whole HTTP surface: API and OAuth behind the gate, `/_fake/` controls beside it.
fn router(shared: Arc<Shared>) -> Router {
    api::router()
        .merge(oauth::router())
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            gate::gate,
        ))
        .nest("/_fake", control::router())
        .with_state(shared)
}

impl FakeHeroku {
    /// Starts on 127.0.0.1 with a free port.
    pub async fn start() -> FakeHeroku {
        FakeHeroku::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("binding 127.0.0.1:0")
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<FakeHeroku> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(tokio::runtime::Handle::current());
        let app = router(Arc::clone(&shared));
        // TCP_NODELAY: without it a keep-alive client waits ~40 ms (delayed ACK) per request.
        let connections = Arc::new(Connections::default());
        let counted = Arc::clone(&connections);
        let listener = listener.tap_io(move |tcp| {
            let _ = tcp.set_nodelay(true);
            counted.accepted.fetch_add(1, Ordering::Relaxed);
            if tcp.nodelay().unwrap_or(false) {
                counted.nodelay.fetch_add(1, Ordering::Relaxed);
            }
        });
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "fake-heroku server stopped");
            }
        });
        tracing::debug!(%addr, "fake-heroku started");
        Ok(FakeHeroku {
            shared,
            addr,
            connections,
            _server: Arc::new(ServerTask(server)),
        })
    }

    /// Connections accepted so far (API, OAuth and controls alike).
    pub fn connections(&self) -> ConnectionStats {
        ConnectionStats {
            accepted: self.connections.accepted.load(Ordering::Relaxed),
            nodelay: self.connections.nodelay.load(Ordering::Relaxed),
        }
    }

    /// Base URL of both the Platform API and the OAuth endpoints, e.g. `http://127.0.0.1:5001`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    // ---- OAuth -------------------------------------------------------------------------

    pub fn register_client(&self, client_id: &str, client_secret: &str, redirect_uri: &str) {
        self.shared
            .lock()
            .register_client(client_id, client_secret, redirect_uri);
    }

    pub fn create_user(&self, email: &str) -> User {
        self.shared.op_create_user(email)
    }

    /// Creates an authorization of `client_id` by `user` directly, skipping the browser.
    /// Panics if the client was not registered.
    pub fn issue_tokens(&self, user: &User, client_id: &str) -> Tokens {
        self.shared
            .op_issue_tokens(&user.id, client_id)
            .unwrap_or_else(|e| panic!("issue_tokens: {}", e.message))
    }

    /// Who is "logged in" at `/oauth/authorize`; they answer per [`Self::set_authorize_decision`].
    pub fn set_browser_user(&self, user: &User) {
        self.shared.lock().settings.browser_user = Some(user.id.clone());
    }

    pub fn set_authorize_decision(&self, d: AuthorizeDecision) {
        self.shared.lock().settings.decision = d;
    }

    /// Whether `GET /oauth/authorizations` leaves the token values out (`null`), as the
    /// schema allows: code must find its authorization by client id, not by token.
    pub fn set_hide_authorization_tokens(&self, hide: bool) {
        self.shared.lock().settings.hide_authorization_tokens = hide;
    }

    /// Lifetime of access tokens issued from now on (default 8 hours).
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.shared.lock().settings.token_ttl = ttl;
    }

    /// Every access token of `user` issued so far expires now (the API answers 401).
    pub fn expire_access_tokens(&self, user: &User) {
        let now = Instant::now();
        let mut st = self.shared.lock();
        for t in st
            .access_tokens
            .values_mut()
            .filter(|t| t.user_id == user.id)
        {
            t.expires_at = now;
        }
    }

    /// Default true: a refresh returns a new refresh token and the old one stops working.
    pub fn set_rotate_refresh_tokens(&self, on: bool) {
        self.shared.lock().settings.rotate_refresh = on;
    }

    /// The user revokes every app's access in their Heroku account settings.
    pub fn revoke_all(&self, user: &User) {
        let mut st = self.shared.lock();
        let ids: Vec<String> = st
            .authorizations
            .values()
            .filter(|a| a.user_id == user.id)
            .map(|a| a.id.clone())
            .collect();
        for id in ids {
            st.revoke_authorization(&id);
        }
    }

    /// Every credential handed out so far: authorization codes, access and refresh tokens,
    /// used, expired, rotated away and revoked ones included (what a log-leak test must
    /// search for).
    pub fn issued_credentials(&self) -> Vec<String> {
        let st = self.shared.lock();
        st.codes_issued
            .iter()
            .chain(st.access_tokens.keys())
            .chain(st.refresh_tokens.keys())
            .cloned()
            .collect()
    }

    pub fn authorizations(&self, user: &User) -> Vec<AuthorizationInfo> {
        self.shared
            .lock()
            .authorizations
            .values()
            .filter(|a| a.user_id == user.id)
            .map(|a| AuthorizationInfo {
                id: a.id.clone(),
                client_id: a.client_id.clone(),
                user_id: a.user_id.clone(),
                scope: a.scope.clone(),
                revoked: a.revoked,
            })
            .collect()
    }

    // ---- Apps, add-ons, config, releases -------------------------------------------------

    /// Panics if the name is invalid or taken.
    pub fn create_app(&self, owner: &User, name: &str) -> App {
        self.shared
            .op_create_app(&owner.id, Some(name), None)
            .unwrap_or_else(|e| panic!("create_app({name}): {}", e.message))
    }

    /// Like [`FakeHeroku::create_app`] with a chosen id, so checked-in sample events
    /// (which name an app id) can point at it. Panics if the id is taken.
    pub fn create_app_with_id(&self, owner: &User, name: &str, id: &str) -> App {
        self.shared
            .op_create_app(&owner.id, Some(name), Some(id))
            .unwrap_or_else(|e| panic!("create_app_with_id({name}): {}", e.message))
    }

    pub fn add_collaborator(&self, app: &App, user: &User) {
        self.shared
            .op_add_collaborator(&app.id, &user.id)
            .unwrap_or_else(|e| panic!("add_collaborator: {}", e.message));
    }

    /// A provisioned database at once: `DATABASE_URL` (or `HEROKU_POSTGRESQL_<COLOR>_URL` when
    /// that is taken) set with a release, and its webhook deliveries.
    pub fn add_postgres(&self, app: &App, plan: &str) -> Addon {
        self.shared
            .op_add_postgres(&app.id, plan)
            .unwrap_or_else(|e| panic!("add_postgres: {}", e.message))
    }

    /// Attaches `addon` to `app` as `name`, setting `{name}_URL` there with a release.
    pub fn attach(&self, addon: &Addon, app: &App, name: &str) {
        self.shared
            .op_attach(&addon.id, &app.id, name)
            .unwrap_or_else(|e| panic!("attach: {}", e.message));
    }

    /// New credentials for every database `app` owns, on every app it is attached to; one
    /// release per affected app by heroku-postgresql. Returns the owning app's release.
    /// Panics if the app owns no provisioned database.
    pub fn rotate_credentials(&self, app: &App) -> Release {
        self.shared
            .op_rotate(&app.id)
            .unwrap_or_else(|e| panic!("rotate_credentials: {}", e.message))
    }

    /// Sets (`Some`) or removes (`None`) one config var, as the app owner, with a release.
    pub fn set_config_var(&self, app: &App, key: &str, value: Option<&str>) -> Release {
        self.shared
            .op_set_config(&app.id, &[(key.to_owned(), value.map(str::to_owned))])
            .unwrap_or_else(|e| panic!("set_config_var: {}", e.message))
    }

    /// A release that changes no config var (a code push).
    pub fn deploy(&self, app: &App) -> Release {
        self.create_release(app, "succeeded")
    }

    /// A code release with the given status ("succeeded", "pending", "failed", "expired");
    /// only succeeded ones become current.
    pub fn create_release(&self, app: &App, status: &str) -> Release {
        self.shared
            .op_release(&app.id, status)
            .unwrap_or_else(|e| panic!("create_release: {}", e.message))
    }

    pub fn config_var(&self, app: &App, key: &str) -> Option<String> {
        self.config_vars(app).remove(key)
    }

    pub fn config_vars(&self, app: &App) -> BTreeMap<String, String> {
        self.shared
            .op_config_vars(&app.id)
            .unwrap_or_else(|e| panic!("config_vars: {}", e.message))
    }

    /// How long `POST /apps/{app}/addons` stays "provisioning" (default 200 ms).
    pub fn set_provision_delay(&self, d: Duration) {
        self.shared.lock().settings.provision_delay = d;
    }

    // ---- Webhooks ------------------------------------------------------------------------

    pub fn webhooks(&self, app: &App) -> Vec<WebhookInfo> {
        self.shared
            .lock()
            .webhooks
            .values()
            .filter(|w| w.app_id == app.id)
            .map(|w| WebhookInfo {
                id: w.id.clone(),
                app_id: w.app_id.clone(),
                url: w.url.clone(),
                include: w.include.clone(),
                level: w.level.clone(),
                secret: w.secret.clone(),
                authorization: w.authorization.clone(),
            })
            .collect()
    }

    pub fn set_delivery_mode(&self, m: DeliveryMode) {
        self.shared.lock().settings.delivery_mode = m;
    }

    /// Takes the deliveries Hold mode queued, oldest first.
    pub fn take_held(&self) -> Vec<HeldDelivery> {
        std::mem::take(&mut self.shared.lock().held)
    }

    /// Delays between `sync` attempts: one retry after each (default 100 ms, 300 ms, 1 s, 3 s).
    pub fn set_retry_schedule(&self, delays: Vec<Duration>) {
        self.shared.lock().settings.retry_schedule = delays;
    }

    pub fn deliveries(&self) -> Vec<DeliveryInfo> {
        self.shared.lock().deliveries.clone()
    }

    /// Waits until every sent (not held) delivery has succeeded or run out of retries.
    pub async fn wait_deliveries_settled(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self
                .shared
                .lock()
                .deliveries
                .iter()
                .all(|d| d.held || d.done)
            {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    // ---- Faults, latency, rate limit, request log -------------------------------------

    pub fn inject(&self, f: Fault) -> FaultId {
        self.shared.lock().faults.add(f)
    }

    pub fn clear_fault(&self, id: FaultId) {
        self.shared.lock().faults.remove(id);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// A fixed delay before every API and OAuth request is answered.
    pub fn set_api_latency(&self, d: Duration) {
        self.shared.lock().settings.api_latency = d;
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    /// Requests so far with this method ("" or "*" for any) under this path prefix.
    pub fn request_count(&self, method: &str, path_prefix: &str) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| {
                (method.is_empty() || method == "*" || r.method.eq_ignore_ascii_case(method))
                    && r.path.starts_with(path_prefix)
            })
            .count()
    }

    pub fn reset_request_log(&self) {
        self.shared.lock().requests.clear();
    }

    /// Each user's pool of API requests (default 4500); this refills every pool to `pool`.
    /// Pools do not refill over time, so exhaustion tests are deterministic.
    pub fn set_rate_limit(&self, pool: u32) {
        let mut st = self.shared.lock();
        st.settings.rate_pool = pool;
        st.rate_remaining.clear();
    }
}
