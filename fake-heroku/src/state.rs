//! The fake's world: users, apps, add-ons, releases, webhooks and OAuth grants, behind one mutex.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::api::ApiError;
use crate::delivery::DeliveryJob;
use crate::faults::Faults;
use crate::types::{AuthorizeDecision, DeliveryInfo, DeliveryMode, HeldDelivery, RequestRecord};

/// Everything the server tasks and the handle share. The mutex is never held across `.await`.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// Where the handle's synchronous methods spawn delivery and provisioning tasks.
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) http: reqwest::Client,
}

impl Shared {
    pub(crate) fn new(rt: tokio::runtime::Handle) -> Arc<Shared> {
        // No proxy: deliveries go to local receivers and an HTTP(S)_PROXY in the environment
        // must not swallow them.
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(5))
            .build()
            .expect("building the webhook HTTP client");
        Arc::new(Shared {
            state: Mutex::new(State::default()),
            rt,
            http,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not wedge every later request: the data stays usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a mutation and queues the webhook deliveries it produced. Queuing under the same
    /// lock keeps each subscription's deliveries in release order.
    pub(crate) fn mutate<T>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut State) -> (T, Vec<DeliveryJob>),
    ) -> T {
        let mut st = self.lock();
        let (out, jobs) = f(&mut st);
        for job in jobs {
            self.enqueue(&mut st, job);
        }
        out
    }

    /// Heroku delivers to one subscription in order, later deliveries waiting while one is
    /// retried: one worker per subscription, fed by a channel.
    fn enqueue(self: &Arc<Self>, st: &mut State, job: DeliveryJob) {
        let webhook_id = job.webhook_id.clone();
        let job = match st.queues.get(&webhook_id) {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                // The worker is gone (its runtime ended): start another.
                Err(e) => e.0,
            },
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        self.rt
            .spawn(crate::delivery::worker(Arc::downgrade(self), rx));
        let _ = tx.send(job);
        st.queues.insert(webhook_id, tx);
    }
}

/// Knobs the tests turn.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) browser_user: Option<String>,
    pub(crate) decision: AuthorizeDecision,
    pub(crate) token_ttl: Duration,
    pub(crate) rotate_refresh: bool,
    pub(crate) provision_delay: Duration,
    pub(crate) delivery_mode: DeliveryMode,
    pub(crate) retry_schedule: Vec<Duration>,
    pub(crate) api_latency: Duration,
    pub(crate) rate_pool: u32,
    /// List authorizations without their token values (the schema allows `null`; a
    /// third-party client may well be shown none).
    pub(crate) hide_authorization_tokens: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            browser_user: None,
            decision: AuthorizeDecision::Approve,
            token_ttl: Duration::from_secs(8 * 3600),
            rotate_refresh: true,
            provision_delay: Duration::from_millis(200),
            delivery_mode: DeliveryMode::Auto,
            retry_schedule: [100, 300, 1000, 3000].map(Duration::from_millis).to_vec(),
            api_latency: Duration::ZERO,
            rate_pool: 4500,
            hide_authorization_tokens: false,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct UserRec {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) created_at: String,
}

/// Who a release is attributed to: a user, or an add-on provider such as heroku-postgresql.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Actor {
    pub(crate) id: String,
    pub(crate) email: String,
}

impl Actor {
    /// The actor of Heroku Postgres' own config changes (id as in Heroku's example delivery).
    pub(crate) fn heroku_postgresql() -> Actor {
        Actor {
            id: "f87b5e7e-4631-46cc-9912-9fcdbbb6c985".into(),
            email: "heroku-postgresql@addons.heroku.com".into(),
        }
    }
}

impl From<&UserRec> for Actor {
    fn from(u: &UserRec) -> Actor {
        Actor {
            id: u.id.clone(),
            email: u.email.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct AppRec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) owner_id: String,
    pub(crate) collaborators: Vec<String>,
    pub(crate) region: String,
    pub(crate) stack: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    /// The `https://<name>-<suffix>.herokuapp.com/` suffix Heroku adds to web URLs.
    pub(crate) web_suffix: String,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) releases: Vec<ReleaseRec>,
}

impl AppRec {
    /// The newest succeeded release is the current one; pending and failed ones never are.
    pub(crate) fn current_version(&self) -> Option<u64> {
        self.releases
            .iter()
            .rev()
            .find(|r| r.status == "succeeded")
            .map(|r| r.version)
    }

    pub(crate) fn release(&self, ident: &str) -> Option<&ReleaseRec> {
        match ident.parse::<u64>() {
            Ok(v) => self.releases.iter().find(|r| r.version == v),
            Err(_) => self.releases.iter().find(|r| r.id == ident),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ReleaseRec {
    pub(crate) id: String,
    pub(crate) version: u64,
    pub(crate) description: String,
    pub(crate) status: String,
    pub(crate) actor: Actor,
    pub(crate) created_at: String,
    /// The app's config as of this release, for `/releases/{id}/config-vars`.
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) addon_plan_names: Vec<String>,
    pub(crate) slug_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AddonRec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) app_id: String,
    pub(crate) plan: String,
    pub(crate) plan_id: String,
    pub(crate) state: String,
    pub(crate) url: String,
    pub(crate) provider_id: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

#[derive(Debug, Clone)]
pub(crate) struct AttachmentRec {
    pub(crate) id: String,
    /// e.g. `DATABASE`; the config var is `{name}_URL`.
    pub(crate) name: String,
    pub(crate) addon_id: String,
    pub(crate) app_id: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl AttachmentRec {
    pub(crate) fn config_var(&self) -> String {
        format!("{}_URL", self.name)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct WebhookRec {
    pub(crate) id: String,
    pub(crate) app_id: String,
    pub(crate) include: Vec<String>,
    pub(crate) level: String,
    pub(crate) url: String,
    pub(crate) secret: Option<String>,
    pub(crate) authorization: Option<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ClientRec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) secret: String,
    pub(crate) redirect_uri: String,
}

#[derive(Debug, Clone)]
pub(crate) struct AuthorizationRec {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) scope: Vec<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) access_token_id: String,
    pub(crate) access_token: String,
    pub(crate) refresh_token_id: String,
    pub(crate) refresh_token: String,
    pub(crate) revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessTokenRec {
    pub(crate) authorization_id: String,
    pub(crate) user_id: String,
    pub(crate) expires_at: Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshTokenRec {
    pub(crate) authorization_id: String,
    /// False once rotated away.
    pub(crate) valid: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeRec {
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) scope: Vec<String>,
    pub(crate) expires_at: Instant,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) settings: Settings,
    pub(crate) users: BTreeMap<String, UserRec>,
    pub(crate) apps: BTreeMap<String, AppRec>,
    pub(crate) addons: BTreeMap<String, AddonRec>,
    pub(crate) attachments: BTreeMap<String, AttachmentRec>,
    pub(crate) webhooks: BTreeMap<String, WebhookRec>,
    pub(crate) clients: BTreeMap<String, ClientRec>,
    pub(crate) authorizations: BTreeMap<String, AuthorizationRec>,
    pub(crate) codes: HashMap<String, CodeRec>,
    /// Every authorization code ever issued; `codes` forgets them once used.
    pub(crate) codes_issued: Vec<String>,
    pub(crate) access_tokens: HashMap<String, AccessTokenRec>,
    pub(crate) refresh_tokens: HashMap<String, RefreshTokenRec>,
    /// Remaining rate-limit tokens per user id; absent means a full pool.
    pub(crate) rate_remaining: HashMap<String, u32>,
    pub(crate) deliveries: Vec<DeliveryInfo>,
    pub(crate) held: Vec<HeldDelivery>,
    pub(crate) faults: Faults,
    pub(crate) requests: Vec<RequestRecord>,
    /// Per-subscription delivery queues (webhook id -> its worker).
    pub(crate) queues: HashMap<String, mpsc::UnboundedSender<DeliveryJob>>,
}

impl State {
    pub(crate) fn user(&self, id: &str) -> Option<&UserRec> {
        self.users.get(id)
    }

    pub(crate) fn user_by_ident(&self, ident: &str) -> Option<&UserRec> {
        self.users
            .get(ident)
            .or_else(|| self.users.values().find(|u| u.email == ident))
    }

    /// By id or name, as `{app}` in a path.
    pub(crate) fn app_by_ident(&self, ident: &str) -> Option<&AppRec> {
        self.apps
            .get(ident)
            .or_else(|| self.apps.values().find(|a| a.name == ident))
    }

    pub(crate) fn can_access(&self, user_id: &str, app: &AppRec) -> bool {
        app.owner_id == user_id || app.collaborators.iter().any(|c| c == user_id)
    }

    /// `{app}` as the caller may see it: unknown is 404, someone else's is 403.
    pub(crate) fn app_for(&self, user_id: &str, ident: &str) -> Result<&AppRec, ApiError> {
        let app = self
            .app_by_ident(ident)
            .ok_or_else(|| ApiError::not_found("app"))?;
        if self.can_access(user_id, app) {
            Ok(app)
        } else {
            Err(ApiError::forbidden(format!(
                "You do not have access to the app {}.",
                app.name
            )))
        }
    }

    pub(crate) fn accessible_apps(&self, user_id: &str) -> Vec<&AppRec> {
        self.apps
            .values()
            .filter(|a| self.can_access(user_id, a))
            .collect()
    }

    pub(crate) fn addon_by_ident(&self, ident: &str) -> Option<&AddonRec> {
        self.addons
            .get(ident)
            .or_else(|| self.addons.values().find(|a| a.name == ident))
    }

    pub(crate) fn attachments_of_app(&self, app_id: &str) -> Vec<&AttachmentRec> {
        self.attachments
            .values()
            .filter(|a| a.app_id == app_id)
            .collect()
    }

    pub(crate) fn attachments_of_addon(&self, addon_id: &str) -> Vec<&AttachmentRec> {
        self.attachments
            .values()
            .filter(|a| a.addon_id == addon_id)
            .collect()
    }

    /// Add-ons owned by, or attached to, an app the user can access (what `GET /addons` lists).
    pub(crate) fn visible_addons(&self, user_id: &str) -> Vec<&AddonRec> {
        self.addons
            .values()
            .filter(|addon| self.addon_visible(user_id, addon))
            .collect()
    }

    pub(crate) fn addon_visible(&self, user_id: &str, addon: &AddonRec) -> bool {
        let reachable = |app_id: &str| {
            self.apps
                .get(app_id)
                .is_some_and(|a| self.can_access(user_id, a))
        };
        reachable(&addon.app_id)
            || self
                .attachments_of_addon(&addon.id)
                .iter()
                .any(|att| reachable(&att.app_id))
    }

    /// Add-ons attached to an app, its own and other apps' (what `GET /apps/{app}/addons` lists).
    pub(crate) fn addons_of_app(&self, app_id: &str) -> Vec<&AddonRec> {
        let mut out: Vec<&AddonRec> = Vec::new();
        for att in self.attachments_of_app(app_id) {
            if let Some(addon) = self.addons.get(&att.addon_id)
                && !out.iter().any(|a| a.id == addon.id)
            {
                out.push(addon);
            }
        }
        for addon in self.addons.values().filter(|a| a.app_id == app_id) {
            if !out.iter().any(|a| a.id == addon.id) {
                out.push(addon);
            }
        }
        out
    }

    /// The user a bearer token stands for, if it is known, unexpired and not revoked.
    pub(crate) fn user_for_token(&self, token: &str) -> Option<&str> {
        let rec = self.access_tokens.get(token)?;
        if rec.expires_at <= Instant::now() {
            return None;
        }
        let auth = self.authorizations.get(&rec.authorization_id)?;
        if auth.revoked {
            return None;
        }
        Some(rec.user_id.as_str())
    }

    pub(crate) fn rate_remaining(&self, user_id: &str) -> u32 {
        self.rate_remaining
            .get(user_id)
            .copied()
            .unwrap_or(self.settings.rate_pool)
    }
}
