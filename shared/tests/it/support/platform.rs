//! A Heroku in memory for the use-case tests: one account with apps (each with a Postgres
//! add-on setting `DATABASE_URL`, and its releases), webhooks, OAuth grants and their
//! authorizations. It implements every Heroku port, so linking, opt-out, disconnect and
//! transfer run on it without HTTP. The fake Heroku server (`fake-heroku`) is the one the
//! function tests use; this one is for fast tests of the use cases alone.

use super::lock;
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use shared::heroku::{
    AccessToken, Account, Addon, App, Attachment, Authorization, ClientRef, ConfigVars,
    HerokuError, NamedRef, Release, ServiceRef, TokenGrant, TokenRef, Webhook, WebhookRequest,
};
use shared::ports::{HerokuApi, HerokuOAuth, HerokuPlatform, HerokuWebhooks};
use std::collections::BTreeMap;
use std::sync::Mutex;

pub const ACCOUNT_ID: &str = "0b0c0f3e-1111-4aaa-8bbb-000000000001";
pub const OAUTH_CLIENT_ID: &str = "test-client";

#[derive(Clone, Debug)]
pub struct HApp {
    pub id: String,
    pub name: String,
    /// Release version → config vars.
    pub releases: BTreeMap<u64, BTreeMap<String, String>>,
    pub webhooks: Vec<Webhook>,
}

#[derive(Clone, Debug)]
struct Grant {
    authorization_id: String,
    refresh: String,
    access: Vec<String>,
    revoked: bool,
}

#[derive(Default)]
struct State {
    apps: BTreeMap<String, HApp>,
    grants: Vec<Grant>,
    issued: usize,
    /// Access tokens answered with 401 though their grant stands (expired early).
    stale: Vec<String>,
    calls: Vec<String>,
}

#[derive(Default)]
pub struct MemoryHeroku {
    state: Mutex<State>,
}

impl MemoryHeroku {
    /// Adds an app with a Postgres add-on; release 1 sets `DATABASE_URL` to `url`.
    pub fn add_app(&self, name: &str, url: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let vars = BTreeMap::from([("DATABASE_URL".to_owned(), url.to_owned())]);
        let app = HApp {
            id: id.clone(),
            name: name.to_owned(),
            releases: BTreeMap::from([(1, vars)]),
            webhooks: Vec::new(),
        };
        lock(&self.state).apps.insert(id.clone(), app);
        id
    }

    /// A credential rotation: a new release with `DATABASE_URL` set to `url`.
    pub fn rotate(&self, app_id: &str, url: &str) -> u64 {
        let mut s = lock(&self.state);
        let app = s.apps.get_mut(app_id).expect("app");
        let (&v, vars) = app.releases.last_key_value().expect("a release");
        let mut vars = vars.clone();
        vars.insert("DATABASE_URL".into(), url.into());
        app.releases.insert(v + 1, vars);
        v + 1
    }

    pub fn stored_app(&self, app_id: &str) -> HApp {
        lock(&self.state).apps[app_id].clone()
    }

    /// A grant approved at the consent screen: what the token endpoint hands over.
    pub fn approve(&self) -> TokenGrant {
        let mut s = lock(&self.state);
        s.issued += 1;
        let n = s.issued;
        let grant = Grant {
            authorization_id: format!("auth-{n}"),
            refresh: format!("refresh-{n}"),
            access: vec![format!("access-{n}")],
            revoked: false,
        };
        s.grants.push(grant);
        TokenGrant {
            access_token: SecretString::from(format!("access-{n}")),
            refresh_token: Some(SecretString::from(format!("refresh-{n}"))),
            expires_in: Some(28_800),
            user_id: Some(ACCOUNT_ID.into()),
        }
    }

    /// Every access token issued so far answers 401 from now on (expired early); the
    /// grants stand, so a refresh gets a working one.
    pub fn expire_access_tokens(&self) {
        let mut s = lock(&self.state);
        let all: Vec<String> = s.grants.iter().flat_map(|g| g.access.clone()).collect();
        s.stale.extend(all);
    }

    /// Authorizations not revoked.
    pub fn live_authorizations(&self) -> Vec<String> {
        lock(&self.state)
            .grants
            .iter()
            .filter(|g| !g.revoked)
            .map(|g| g.authorization_id.clone())
            .collect()
    }

    /// The calls made, as `"{name} {detail}"`.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    /// Records a call and checks its token: 401 unless a live grant issued it.
    fn enter(&self, call: String, token: &AccessToken) -> Result<(), HerokuError> {
        let mut s = lock(&self.state);
        s.calls.push(call);
        let t = token.expose();
        let live = s
            .grants
            .iter()
            .any(|g| !g.revoked && g.access.iter().any(|a| a == t));
        if !live || s.stale.iter().any(|a| a == t) {
            return Err(HerokuError::Unauthorized);
        }
        Ok(())
    }

    fn find<'a>(s: &'a mut State, app: &str) -> Result<&'a mut HApp, HerokuError> {
        s.apps
            .values_mut()
            .find(|a| a.id == app || a.name == app)
            .ok_or_else(|| HerokuError::NotFound(format!("app {app}")))
    }

    fn with_app<T>(&self, app: &str, f: impl FnOnce(&mut HApp) -> T) -> Result<T, HerokuError> {
        Ok(f(Self::find(&mut lock(&self.state), app)?))
    }
}

fn addon_of(app: &HApp) -> Addon {
    Addon {
        id: format!("addon-{}", app.id),
        name: format!("postgresql-{}", app.name),
        addon_service: Some(ServiceRef {
            id: None,
            name: Some("heroku-postgresql".into()),
        }),
        plan: Some(ServiceRef {
            id: None,
            name: Some("heroku-postgresql:essential-0".into()),
        }),
        app: NamedRef {
            id: app.id.clone(),
            name: Some(app.name.clone()),
        },
        config_vars: vec!["DATABASE_URL".into()],
        state: Some("provisioned".into()),
    }
}

#[async_trait]
impl HerokuApi for MemoryHeroku {
    async fn config_vars(
        &self,
        token: &AccessToken,
        app: &str,
        release: Option<u64>,
    ) -> Result<ConfigVars, HerokuError> {
        self.enter(format!("config_vars {app}"), token)?;
        let vars = self.with_app(app, |a| match release {
            Some(v) => a.releases.get(&v).cloned(),
            None => a.releases.last_key_value().map(|(_, vars)| vars.clone()),
        })?;
        let vars = vars.ok_or_else(|| HerokuError::NotFound("release".into()))?;
        Ok(vars.into_iter().collect::<ConfigVars>())
    }

    async fn newest_release(
        &self,
        token: &AccessToken,
        app: &str,
    ) -> Result<Option<Release>, HerokuError> {
        self.enter(format!("newest_release {app}"), token)?;
        self.with_app(app, |a| {
            a.releases.keys().next_back().map(|&version| Release {
                id: None,
                version,
                status: Some("succeeded".into()),
                created_at: None,
            })
        })
    }
}

#[async_trait]
impl HerokuWebhooks for MemoryHeroku {
    async fn webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
    ) -> Result<Option<Webhook>, HerokuError> {
        self.enter(format!("webhook {app}"), token)?;
        self.with_app(app, |a| {
            a.webhooks.iter().find(|w| w.id == webhook_id).cloned()
        })
    }

    async fn list_webhooks(
        &self,
        token: &AccessToken,
        app: &str,
    ) -> Result<Vec<Webhook>, HerokuError> {
        self.enter(format!("list_webhooks {app}"), token)?;
        self.with_app(app, |a| a.webhooks.clone())
    }

    async fn create_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError> {
        self.enter(format!("create_webhook {app}"), token)?;
        let hook = Webhook {
            id: uuid::Uuid::new_v4().to_string(),
            url: request.url.to_owned(),
            include: request.include.iter().map(|s| (*s).to_owned()).collect(),
            level: Some(request.level.to_owned()),
        };
        self.with_app(app, |a| {
            if a.webhooks.iter().any(|w| w.url == hook.url) {
                return Err(HerokuError::Rejected {
                    status: 422,
                    id: "invalid_params".into(),
                    message: "url has already been taken".into(),
                });
            }
            a.webhooks.push(hook.clone());
            Ok(hook)
        })?
    }

    async fn update_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError> {
        self.enter(format!("update_webhook {app}"), token)?;
        self.with_app(app, |a| {
            let w = a
                .webhooks
                .iter_mut()
                .find(|w| w.id == webhook_id)
                .ok_or_else(|| HerokuError::NotFound("webhook".into()))?;
            // Heroku's PATCH replaces what it is given: ours always gives all three.
            w.url = request.url.to_owned();
            w.include = request.include.iter().map(|s| (*s).to_owned()).collect();
            w.level = Some(request.level.to_owned());
            Ok(w.clone())
        })?
    }

    async fn delete_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
    ) -> Result<(), HerokuError> {
        self.enter(format!("delete_webhook {app}"), token)?;
        self.with_app(app, |a| a.webhooks.retain(|w| w.id != webhook_id))
    }
}

#[async_trait]
impl HerokuOAuth for MemoryHeroku {
    async fn exchange_code(
        &self,
        _code: &str,
        _client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError> {
        Ok(self.approve())
    }

    async fn refresh(
        &self,
        refresh_token: &SecretString,
        _client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError> {
        let mut s = lock(&self.state);
        s.calls.push("refresh".into());
        // A refused refresh issues nothing (token numbers count what was issued).
        let Some(at) = s
            .grants
            .iter()
            .position(|g| !g.revoked && g.refresh == refresh_token.expose_secret())
        else {
            return Err(HerokuError::Unauthorized);
        };
        s.issued += 1;
        let access = format!("access-{}", s.issued);
        let grant = &mut s.grants[at];
        grant.access.push(access.clone());
        Ok(TokenGrant {
            access_token: SecretString::from(access),
            refresh_token: Some(SecretString::from(grant.refresh.clone())),
            expires_in: Some(28_800),
            user_id: Some(ACCOUNT_ID.into()),
        })
    }
}

#[async_trait]
impl HerokuPlatform for MemoryHeroku {
    async fn account(&self, token: &AccessToken) -> Result<Account, HerokuError> {
        self.enter("account".into(), token)?;
        Ok(Account {
            id: ACCOUNT_ID.into(),
            email: Some("owner@example.com".into()),
        })
    }

    async fn app(&self, token: &AccessToken, app: &str) -> Result<App, HerokuError> {
        self.enter(format!("app {app}"), token)?;
        self.with_app(app, |a| App {
            id: a.id.clone(),
            name: a.name.clone(),
        })
    }

    async fn addons(&self, token: &AccessToken) -> Result<Vec<Addon>, HerokuError> {
        self.enter("addons".into(), token)?;
        Ok(lock(&self.state).apps.values().map(addon_of).collect())
    }

    async fn attachments(&self, token: &AccessToken) -> Result<Vec<Attachment>, HerokuError> {
        self.enter("attachments".into(), token)?;
        Ok(Vec::new())
    }

    async fn create_app(
        &self,
        token: &AccessToken,
        name: Option<&str>,
    ) -> Result<App, HerokuError> {
        self.enter("create_app".into(), token)?;
        let name = name.map_or_else(
            || format!("app-{}", uuid::Uuid::new_v4().simple()),
            str::to_owned,
        );
        let id = self.add_app(&name, "");
        lock(&self.state)
            .apps
            .get_mut(&id)
            .expect("app")
            .releases
            .clear();
        Ok(App { id, name })
    }

    async fn create_addon(
        &self,
        token: &AccessToken,
        app: &str,
        _plan: &str,
    ) -> Result<Addon, HerokuError> {
        self.enter(format!("create_addon {app}"), token)?;
        self.with_app(app, |a| addon_of(a))
    }

    async fn authorizations(&self, token: &AccessToken) -> Result<Vec<Authorization>, HerokuError> {
        self.enter("authorizations".into(), token)?;
        Ok(lock(&self.state)
            .grants
            .iter()
            .filter(|g| !g.revoked)
            .map(|g| Authorization {
                id: g.authorization_id.clone(),
                access_token: Some(TokenRef {
                    id: None,
                    token: g.access.last().cloned(),
                }),
                client: Some(ClientRef {
                    id: Some(OAUTH_CLIENT_ID.into()),
                }),
                created_at: None,
            })
            .collect())
    }

    async fn delete_authorization(&self, token: &AccessToken, id: &str) -> Result<(), HerokuError> {
        self.enter(format!("delete_authorization {id}"), token)?;
        let mut s = lock(&self.state);
        if let Some(g) = s.grants.iter_mut().find(|g| g.authorization_id == id) {
            g.revoked = true;
        }
        Ok(())
    }
}
