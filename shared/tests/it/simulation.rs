//! Deterministic simulation of the sync's promises: the real `SyncContext` over the
//! in-memory adapters, with seeded faults and seeded interleavings of deliveries
//! (duplicated, reordered, retried as Heroku's `sync` level does), rotations, lease expiry
//! and writes that time out whether or not they landed. One current-thread runtime on a
//! paused clock per schedule, so a schedule is a pure function of its seed: a failure
//! prints the seed, and `SIM_SEED=<seed> cargo test --test it simulation` replays it.
//!
//! Invariants (docs/contract.md, "The promise, and what keeps it"):
//! - I1: at quiescence every active link's secret holds its config var as of the app's
//!   newest release (every value here is distinct per release), and the link says so;
//! - I2: checked after every step, a secret never moves to an older release's value;
//! - I3: at quiescence, a link shown at release v holds v's value;
//! - I4: checked after every step, nothing is written to a link's secret after its
//!   opt-out has answered (until it is linked again);
//! - I5: at quiescence every project's stored refresh token is one Heroku still honours,
//!   from its newest connection, and the project is not asked to reconnect.
//!
//! Opt-outs and re-links are played the way `optout::stop_link` and `linking` change the
//! record (the same guard, the same fields); a re-link syncs to the newest release as PUT
//! link does, and at quiescence every active link gets the reconciler's catch-up.
//! Deliveries run in two containers (each its own token cache), and a container may die
//! at whatever call it is in (its sync dropped there, the delivery never answered). Heroku stops accepting a
//! project's access token now and then (the syncs refresh it, racing each other), its
//! token endpoint fails, and projects reconnect with a new grant the way connecting
//! stores one (`TokenManager::store_replacing`, then the integration), racing refreshes
//! of the old grant.

use crate::support::*;
use async_trait::async_trait;
use secrecy::SecretString;
use shared::clock::Clock;
use shared::domain::IntegrationStatus;
use shared::domain::{AppId, AppRecord, EnvVarName, ProjectId, Timestamp};
use shared::heroku::HerokuError;
use shared::ports::IntegrationStore;
use shared::ports::{
    AppStore, DirectoryEntry, EnvVarSink, Guard, ProjectItems, Saved, StoreError, VaultError,
};
use shared::sync::{SyncContext, SyncError, SyncRequest, Target};
use shared::tokens::{StoredTokens, TokenManager};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// xorshift64*: small, fast, and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max + 1))
    }
}

type SharedRng = Arc<Mutex<Rng>>;

/// The sync's clock follows tokio's (paused, virtual) clock, so lease deadlines and the
/// sync's own waits agree.
struct TokioClock {
    start: Timestamp,
    origin: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.start + self.origin.elapsed()
    }
}

/// Secrets Manager with faults: a write may fail with an answer (nothing written), time
/// out without landing, time out and land anyway, or land after a pause shorter than the
/// client's timeout (the abandoned request the lease must outlive).
struct ChaosSink {
    inner: shared::adapters::SecretsEnvSink,
    rng: SharedRng,
    on: Arc<AtomicBool>,
}

#[async_trait]
impl EnvVarSink for ChaosSink {
    async fn write_env_var(
        &self,
        project: &ProjectId,
        env_var: &EnvVarName,
        value: &SecretString,
        token: &str,
    ) -> Result<shared::ports::SecretVersion, VaultError> {
        let (fault, pause) = {
            let mut r = lock(&self.rng);
            let fault = if self.on.load(Ordering::SeqCst) {
                r.below(10)
            } else {
                9
            };
            (fault, r.millis(3_000))
        };
        match fault {
            0 => Err(VaultError::Unavailable("injected 503".into())),
            1 => Err(VaultError::InDoubt("injected timeout, not landed".into())),
            2 => {
                // The request landed, the answer was lost.
                self.inner
                    .write_env_var(project, env_var, value, token)
                    .await?;
                Err(VaultError::InDoubt("injected timeout, landed".into()))
            }
            3 => {
                // Lands later, after the caller gave up (within the client's timeout,
                // which write_margin exceeds).
                let inner = shared::adapters::SecretsEnvSink::clone(&self.inner);
                let (p, e, v, t) = (
                    project.clone(),
                    env_var.clone(),
                    value.clone(),
                    token.to_owned(),
                );
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    let _ = inner.write_env_var(&p, &e, &v, &t).await;
                });
                Err(VaultError::InDoubt("injected timeout, lands later".into()))
            }
            _ => {
                tokio::time::sleep(pause / 10).await;
                self.inner
                    .write_env_var(project, env_var, value, token)
                    .await
            }
        }
    }
}

/// DynamoDB with faults: a conditional save may fail before applying, or apply and then
/// fail (a timeout after succeeding); reads may be slow.
struct ChaosStore {
    inner: Arc<shared::adapters::MemoryStore>,
    rng: SharedRng,
    on: Arc<AtomicBool>,
}

impl ChaosStore {
    fn fault(&self) -> (u64, Duration) {
        let mut r = lock(&self.rng);
        let f = if self.on.load(Ordering::SeqCst) {
            r.below(12)
        } else {
            11
        };
        (f, r.millis(200))
    }
}

#[async_trait]
impl AppStore for ChaosStore {
    async fn load_app(&self, app: &AppId) -> Result<Option<AppRecord>, StoreError> {
        let (f, pause) = self.fault();
        tokio::time::sleep(pause).await;
        if f == 0 {
            return Err(StoreError::Unavailable("injected read failure".into()));
        }
        self.inner.load_app(app).await
    }

    async fn load_project_links(
        &self,
        app: &AppId,
        project: &shared::domain::ProjectId,
    ) -> Result<shared::ports::LinksOnApp, StoreError> {
        self.inner.load_project_links(app, project).await
    }

    async fn load_link(
        &self,
        app: &AppId,
        key: &shared::domain::LinkKey,
    ) -> Result<Option<shared::domain::Link>, StoreError> {
        self.inner.load_link(app, key).await
    }

    async fn save_app(&self, record: &AppRecord, guard: Guard) -> Result<Saved, StoreError> {
        let (f, pause) = self.fault();
        tokio::time::sleep(pause).await;
        match f {
            0 => Err(StoreError::Unavailable("injected write failure".into())),
            1 => {
                self.inner.save_app(record, guard).await?;
                Err(StoreError::Unavailable(
                    "injected timeout after the write".into(),
                ))
            }
            _ => self.inner.save_app(record, guard).await,
        }
    }

    async fn save_app_with_entry(
        &self,
        record: &AppRecord,
        guard: Guard,
        entry: &DirectoryEntry,
        replacing: Option<&DirectoryEntry>,
    ) -> Result<Saved, StoreError> {
        self.inner
            .save_app_with_entry(record, guard, entry, replacing)
            .await
    }

    async fn directory_entry(
        &self,
        project: &ProjectId,
        env_var: &EnvVarName,
    ) -> Result<Option<DirectoryEntry>, StoreError> {
        self.inner.directory_entry(project, env_var).await
    }

    async fn directory(&self, project: &ProjectId) -> Result<Vec<DirectoryEntry>, StoreError> {
        self.inner.directory(project).await
    }

    async fn load_project(&self, project: &ProjectId) -> Result<ProjectItems, StoreError> {
        self.inner.load_project(project).await
    }
}

/// The release a synced value belongs to (every release has its own URL: `url(n)`).
fn release_of(value: &str) -> u64 {
    value
        .strip_prefix("postgres://u")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a simulated value: {value}"))
}

const LINKS: [(&str, &str); 3] = [("p1", "DB_URL"), ("p2", "DB_URL"), ("p3", "OTHER_URL")];
const PROJECTS: [&str; 3] = ["p1", "p2", "p3"];

/// One token event, or none: Heroku stops accepting a project's access token (it expired
/// early, say: the next syncs get a 401 and refresh, racing each other), its token
/// endpoint fails once, or a project reconnects with a new grant stored the way
/// connecting stores it while deliveries may be refreshing the old one.
async fn token_event(
    trng: &mut Rng,
    w: &World,
    containers: &[Arc<SyncContext>; 2],
    connections: &mut std::collections::BTreeMap<&'static str, String>,
    grants: &mut u64,
) -> Result<(), String> {
    let p = PROJECTS[trng.below(PROJECTS.len() as u64) as usize];
    match trng.below(10) {
        0..=3 => {
            if let Ok(Some(t)) = containers[0].tokens.load(&project(p)).await
                && let Some(accepted) = lock(&w.heroku.accepted_tokens).as_mut()
            {
                accepted.remove(&t.access_token);
            }
        }
        4..=5 => {
            lock(&w.heroku.refresh_errors).push_back(HerokuError::Unavailable {
                reason: "injected 503".into(),
                retry_after: None,
            });
        }
        6..=7 => {
            *grants += 1;
            let (access, refresh) = (format!("at-re-{grants}"), format!("rt-re-{grants}"));
            if let Some(accepted) = lock(&w.heroku.accepted_tokens).as_mut() {
                accepted.insert(access.clone());
            }
            lock(&w.heroku.refresh_tokens).insert(refresh.clone());
            let tokens = StoredTokens {
                access_token: access,
                refresh_token: Some(refresh.clone()),
                expires_at: None,
                authorization_id: Some(format!("auth-re-{grants}")),
                heroku_user_id: Some("heroku-user-1".into()),
            };
            reconnect(&containers[trng.below(2) as usize], w, p, &tokens).await?;
            connections.insert(p, refresh);
        }
        _ => {}
    }
    Ok(())
}

/// A reconnect as connecting does it: the new grant's tokens under the refresh lease,
/// then the integration connected with the lease released. The user retries an error.
async fn reconnect(
    ctx: &SyncContext,
    w: &World,
    p: &str,
    tokens: &StoredTokens,
) -> Result<(), String> {
    let project = project(p);
    let mut last = String::new();
    for _ in 0..10 {
        match ctx.tokens.store_replacing(&project, tokens).await {
            Ok(()) => {
                last.clear();
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    if !last.is_empty() {
        return Err(format!("a reconnect of {p} never succeeded: {last}"));
    }
    for _ in 0..20 {
        let mut integration = w
            .store
            .load_integration(&project)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no integration")?;
        let expected = integration.generation;
        integration.status = IntegrationStatus::Connected;
        integration.authorization_id = tokens.authorization_id.clone();
        integration.last_error = None;
        integration.refresh_owner = None;
        integration.refresh_until_ms = None;
        if let Saved::Ok { .. } = w
            .store
            .save_integration(&integration, Some(expected))
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(());
        }
    }
    Err(format!("the integration of {p} kept changing"))
}

/// The link's status as stored (the truth, whatever a faulty answer said).
async fn is_active(w: &World, key: &shared::domain::LinkKey) -> bool {
    w.store
        .load_app(&w.app)
        .await
        .ok()
        .flatten()
        .is_some_and(|r| r.links[key].is_active())
}

/// Changes one link's status the way an opt-out (`to_active: false`) or a re-link
/// (`true`) does: under `Guard::Unleased`, waiting out a sync's lease for up to 8 s.
/// `Ok(true)` when this call changed it (the request answered 2xx).
async fn set_active(
    store: &dyn AppStore,
    clock: &dyn Clock,
    app: &AppId,
    key: &shared::domain::LinkKey,
    to_active: bool,
) -> Result<bool, String> {
    let started = tokio::time::Instant::now();
    loop {
        let mut record = store
            .load_app(app)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no record")?;
        let link = record.links.get_mut(key).ok_or("no link")?;
        if link.is_active() == to_active {
            return Ok(false);
        }
        if to_active {
            // As linking re-enables: what was synced before is forgotten, but kept as the
            // floor no older release may be written under.
            link.status = shared::domain::LinkStatus::Active;
            link.fingerprint = None;
            link.writing_version = link.writing_version.max(link.last_release_version);
            link.last_release_version = None;
            link.last_error = None;
        } else {
            link.status = shared::domain::LinkStatus::OptedOut;
        }
        let guard = Guard::Unleased {
            generation: record.generation,
            now_ms: clock.now_ms(),
        };
        record.set_lease(None);
        match store
            .save_app(&record, guard)
            .await
            .map_err(|e| e.to_string())?
        {
            Saved::Ok { .. } => return Ok(true),
            Saved::Conflict if started.elapsed() < Duration::from_secs(8) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Saved::Conflict => return Err("a sync kept the lease".into()),
        }
    }
}

/// One schedule. `Err` says which invariant broke, and where.
async fn schedule(seed: u64, extras: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let chaos = Arc::new(Mutex::new(Rng::new(seed ^ 0xC4A05)));
    let on = Arc::new(AtomicBool::new(true));
    let w = World::new();
    let mut links = Vec::new();
    for (p, e) in LINKS {
        w.connect(p).await;
        links.push(w.link(p, e, "DATABASE_URL"));
    }
    let keys: Vec<_> = links.iter().map(|l| l.key()).collect();
    w.save_links(links).await;
    let store = Arc::new(ChaosStore {
        inner: w.store.clone(),
        rng: chaos.clone(),
        on: on.clone(),
    });
    let clock: Arc<dyn Clock> = Arc::new(TokioClock {
        start: start_time(),
        origin: tokio::time::Instant::now(),
    });
    // Each container has its own token cache over the same vault, store and Heroku.
    let container = || {
        let tokens = TokenManager::new(
            w.vault.clone(),
            w.store.clone(),
            w.heroku.clone(),
            clock.clone(),
            w.names.clone(),
            Some(CLIENT_SECRET_ID.to_owned()),
        );
        Arc::new(SyncContext {
            apps: store.clone(),
            env: Arc::new(ChaosSink {
                inner: shared::adapters::SecretsEnvSink::new(w.vault.clone(), w.names.clone()),
                rng: chaos.clone(),
                on: on.clone(),
            }),
            clock: clock.clone(),
            tokens: Arc::new(tokens),
            ..w.ctx()
        })
    };
    let ctx = container();
    let containers = [ctx.clone(), container()];
    // Heroku accepts only the tokens it issued and has not expired.
    *lock(&w.heroku.accepted_tokens) = Some(PROJECTS.iter().map(|p| format!("at-{p}")).collect());
    // Each project's newest connection, by its grant's refresh token.
    let mut connections: std::collections::BTreeMap<&'static str, String> =
        PROJECTS.iter().map(|p| (*p, format!("rt-{p}"))).collect();
    let mut grants = 0;
    // Token events draw from their own sequence, so the schedules without them (the
    // named replays below) stay what they were when they failed.
    let mut trng = Rng::new(seed ^ 0x70C3_E115);
    // Crashes too: each kind of event added later keeps the earlier named replays.
    let mut crng = Rng::new(seed ^ 0xC7A5_11ED);
    // A refresh takes a while at Heroku: the window a reconnect can race it in.
    *lock(&w.heroku.refresh_delay) = trng.millis(1_500);

    let mut newest = 1;
    w.heroku.release(1, &[("DATABASE_URL", &url(1))]);
    // Deliveries Heroku still owes us: (release, delivery id). A 2xx removes one.
    let mut owed: Vec<(u64, String)> = vec![(1, "d1".into())];
    let mut running = tokio::task::JoinSet::new();
    let answered = Arc::new(Mutex::new(Vec::<(u64, String, Result<(), String>)>::new()));

    // Opted-out links: how many values their secret had when the opt-out answered.
    let stopped: Mutex<std::collections::BTreeMap<usize, usize>> = Mutex::default();
    let history_len = |i: usize| {
        let (p, e) = LINKS[i];
        w.vault.history(&w.names.env_var(&project(p), e)).len()
    };
    let check_i4 = |step: &str| -> Result<(), String> {
        for (&i, &len) in lock(&stopped).iter() {
            if history_len(i) != len {
                return Err(format!(
                    "I4: {:?} was written after its opt-out answered, at {step}",
                    LINKS[i]
                ));
            }
        }
        Ok(())
    };
    let check_i2 = |step: &str| -> Result<(), String> {
        for (p, e) in LINKS {
            let history = w.vault.history(&w.names.env_var(&project(p), e));
            for pair in history.windows(2) {
                let (a, b) = (release_of(&pair[0]), release_of(&pair[1]));
                if b < a {
                    return Err(format!(
                        "I2: {p}/{e} moved back from release {a} to {b} at {step}: {:?}",
                        history.iter().map(|v| release_of(v)).collect::<Vec<_>>()
                    ));
                }
            }
        }
        Ok(())
    };

    for step in 0..60 {
        match rng.below(100) {
            0..=24 => {
                newest += 1;
                w.heroku.release(newest, &[("DATABASE_URL", &url(newest))]);
                owed.push((newest, format!("d{newest}")));
            }
            25..=74 if !owed.is_empty() => {
                // Any owed delivery, in any order; sometimes twice at once.
                let i = rng.below(owed.len() as u64) as usize;
                let (v, id) = owed[i].clone();
                let copies = if rng.chance(20) { 2 } else { 1 };
                if copies == 1 || rng.chance(50) {
                    owed.swap_remove(i);
                }
                for _ in 0..copies {
                    let ctx = containers[trng.below(2) as usize].clone();
                    let (answered, id, app) = (answered.clone(), id.clone(), w.app.clone());
                    let start = rng.millis(2_000);
                    // The container dies at whatever call it is in (killed, timed out):
                    // the sync's future is dropped there and the delivery never answered.
                    let crash = (extras && crng.chance(10)).then(|| crng.millis(3_000));
                    running.spawn(async move {
                        tokio::time::sleep(start).await;
                        let req = SyncRequest {
                            app_id: app.clone(),
                            target: Target::Release(v),
                            only: None,
                            released_at: None,
                            delivery_id: Some(id.clone()),
                            repair: None,
                        };
                        let synced = match crash {
                            Some(after) => tokio::time::timeout(after, ctx.sync(&req)).await,
                            None => Ok(ctx.sync(&req).await),
                        };
                        let r = match synced {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err(SyncError::Transient { reason, .. })) => Err(reason),
                            Ok(Err(SyncError::Internal(m))) => Err(format!("INTERNAL: {m}")),
                            Err(_) => Err("the container died".into()),
                        };
                        lock(&answered).push((v, id, r));
                    });
                }
            }
            75..=79 => {
                // An opt-out of one link; the request waits out a lease, may fail.
                let i = rng.below(LINKS.len() as u64) as usize;
                let clock = ctx.clock.clone();
                // The client retries an error (a write may have landed while its answer
                // was lost); the retry's 2xx is the answer I4 counts from.
                for _ in 0..5 {
                    if set_active(store.as_ref(), clock.as_ref(), &w.app, &keys[i], false)
                        .await
                        .is_ok()
                    {
                        break;
                    }
                }
                if !is_active(&w, &keys[i]).await {
                    lock(&stopped).entry(i).or_insert_with(|| history_len(i));
                }
            }
            80..=82 if !lock(&stopped).is_empty() => {
                // A re-link of an opted-out one, then its first sync (as PUT link does).
                let i = *lock(&stopped).keys().next().unwrap();
                let clock = ctx.clock.clone();
                for _ in 0..5 {
                    if set_active(store.as_ref(), clock.as_ref(), &w.app, &keys[i], true)
                        .await
                        .is_ok()
                    {
                        break;
                    }
                }
                if is_active(&w, &keys[i]).await {
                    lock(&stopped).remove(&i);
                    let req = SyncRequest {
                        app_id: w.app.clone(),
                        target: Target::Newest,
                        only: Some(keys[i].clone()),
                        released_at: None,
                        delivery_id: None,
                        repair: None,
                    };
                    // A transient failure here is the reconciler's to finish.
                    let _ = ctx.sync(&req).await;
                }
            }
            83..=88 => {
                if rng.chance(50) {
                    w.heroku.fail_next(HerokuError::Unavailable {
                        reason: "injected 503".into(),
                        retry_after: None,
                    });
                }
            }
            _ => {
                if extras {
                    token_event(&mut trng, &w, &containers, &mut connections, &mut grants).await?;
                }
                tokio::time::sleep(rng.millis(30_000)).await
            }
        }
        // Heroku redelivers what was not answered 2xx.
        for (v, id, r) in lock(&answered).drain(..) {
            match r {
                Ok(()) => {}
                Err(m) if m.starts_with("INTERNAL") => {
                    return Err(format!("step {step}: release {v}: {m}"));
                }
                Err(_) => {
                    if !owed.iter().any(|(_, d)| *d == id) {
                        owed.push((v, id));
                    }
                }
            }
        }
        tokio::task::yield_now().await;
        check_i2(&format!("step {step}"))?;
        check_i4(&format!("step {step}"))?;
    }

    // Quiescence: no more faults, every owed delivery retried until answered 2xx, with
    // pauses long enough for any lease to run out.
    on.store(false, Ordering::SeqCst);
    lock(&w.heroku.api_errors).clear();
    while running.join_next().await.is_some() {}
    for round in 0.. {
        for (v, id, r) in lock(&answered).drain(..) {
            if r.is_err() && !owed.iter().any(|(_, d)| *d == id) {
                owed.push((v, id));
            }
        }
        if owed.is_empty() {
            break;
        }
        if round > 40 {
            return Err(format!("never quiesced: still owed {owed:?}"));
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        for (v, id) in std::mem::take(&mut owed) {
            let req = SyncRequest {
                app_id: w.app.clone(),
                target: Target::Release(v),
                only: None,
                released_at: None,
                delivery_id: Some(id.clone()),
                repair: None,
            };
            let r = ctx.sync(&req).await.map(drop).map_err(|e| e.to_string());
            lock(&answered).push((v, id, r));
        }
    }
    // The reconciler's catch-up: every active link to the newest release.
    for key in &keys {
        for _ in 0..10 {
            let req = SyncRequest {
                app_id: w.app.clone(),
                target: Target::Newest,
                only: Some(key.clone()),
                released_at: None,
                delivery_id: None,
                repair: None,
            };
            if ctx.sync(&req).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    check_i2("quiescence")?;
    check_i4("quiescence")?;

    for p in PROJECTS {
        let stored = ctx
            .tokens
            .load(&project(p))
            .await
            .map_err(|e| e.to_string())?
            .ok_or(format!("I5: {p} has no tokens"))?;
        let refresh = stored
            .refresh_token
            .ok_or(format!("I5: {p} has no refresh token"))?;
        if !lock(&w.heroku.refresh_tokens).contains(&refresh) {
            return Err(format!("I5: {p}'s stored refresh token {refresh} is spent"));
        }
        let root = w.heroku.root_of(&refresh);
        if root != connections[p] {
            return Err(format!(
                "I5: {p} holds the grant of connection {root}, its newest is {}",
                connections[p]
            ));
        }
        let integration = w
            .store
            .load_integration(&project(p))
            .await
            .map_err(|e| e.to_string())?
            .ok_or(format!("I5: {p} has no integration"))?;
        if integration.status != IntegrationStatus::Connected {
            return Err(format!("I5: {p} is {:?}", integration.status));
        }
    }

    let record = w.record().await;
    for (i, ((p, e), key)) in LINKS.iter().zip(&keys).enumerate() {
        if lock(&stopped).contains_key(&i) {
            continue;
        }
        let value = w.env(p, e);
        let link = &record.links[key];
        if value.as_deref() != Some(url(newest).as_str()) {
            return Err(format!(
                "I1: {key} holds release {:?}, the newest is {newest}",
                value.as_deref().map(release_of)
            ));
        }
        if link.last_release_version != Some(newest) || link.last_error.is_some() {
            return Err(format!(
                "I3: {key} says release {:?} (error {:?}), its secret holds {newest}",
                link.last_release_version, link.last_error
            ));
        }
    }
    Ok(())
}

fn run(seed: u64, extras: bool) -> Result<(), String> {
    if std::env::var("SIM_TRACE").is_ok() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(schedule(seed, extras))
}

#[test]
fn sync_invariants_hold_on_every_seeded_schedule() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("SIM_SCHEDULES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(2_000);
            (0..n).collect()
        }
    };
    let mut failures = Vec::new();
    for seed in &seeds {
        if let Err(e) = run(*seed, true) {
            failures.push(format!("seed {seed}: {e}"));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} schedules broke an invariant; replay one with SIM_SEED=<seed>:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}

/// The first schedules that broke I2 (a write landed, its commit failed, and a late older
/// delivery was written over it once the lease ran out), fixed by the write-ahead
/// `writing_version`; and seed 87 (opt-out, re-link whose first sync failed, then a late
/// older delivery written over the value synced before the opt-out), fixed by keeping
/// that release as the re-link's floor. Kept by name so they replay on every run.
#[test]
fn schedules_that_moved_a_secret_back_before_the_write_ahead_now_hold() {
    for seed in [2, 3, 5, 6, 7, 87] {
        if let Err(e) = run(seed, false) {
            panic!("seed {seed}: {e}");
        }
    }
}

/// Schedules where a reconnect raced a refresh of the old grant and, with the new tokens
/// stored without the refresh lease (`TokenManager::store` instead of `store_replacing`),
/// the refreshed old grant was written over them (I5). Kept by name; a change to the
/// sync's calls reshapes every schedule, so after one, check these still fail with
/// `store` and pick new ones if not (last picked with concurrent fetches and writes).
#[test]
fn schedules_where_a_refresh_overwrote_a_reconnect_now_hold() {
    for seed in [4, 341, 1243, 1852, 1943] {
        if let Err(e) = run(seed, true) {
            panic!("seed {seed}: {e}");
        }
    }
}
