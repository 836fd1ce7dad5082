//! Heroku access tokens: refreshed once when expired, refreshes serialised across
//! containers (several `TokenManager`s over one store and vault), rotated refresh tokens
//! never lost, and rejected or failed refreshes reported as what they are.

use crate::support::*;
use shared::clock::Clock;
use shared::domain::IntegrationStatus;
use shared::heroku::{AccessToken, HerokuError};
use shared::ports::{IntegrationStore, Saved};
use shared::tokens::{StoredTokens, TokenError, TokenManager};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const P: &str = "p1";

fn tokens(expires_at: Option<i64>) -> StoredTokens {
    StoredTokens {
        access_token: "at-old".into(),
        refresh_token: Some("rt-old".into()),
        expires_at,
        authorization_id: Some("auth-1".into()),
        heroku_user_id: Some("heroku-user-1".into()),
    }
}

impl World {
    fn now_s(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    fn refreshes(&self) -> usize {
        self.heroku.refresh_calls.load(Ordering::SeqCst)
    }

    async fn integration(&self) -> shared::domain::Integration {
        self.store
            .load_integration(&project(P))
            .await
            .expect("load")
            .expect("integration")
    }

    async fn stored(&self) -> StoredTokens {
        self.tokens
            .load(&project(P))
            .await
            .expect("load")
            .expect("stored tokens")
    }
}

#[tokio::test]
async fn given_expired_access_token_when_asked_then_refreshed_exactly_once_and_reused() {
    let w = World::new();
    w.connect_with(P, tokens(Some(w.now_s() - 10))).await;

    let t = w.tokens.access_token(&project(P)).await.expect("token");

    assert_eq!(t.expose(), "at-fresh-1");
    assert_eq!(w.refreshes(), 1);
    for _ in 0..3 {
        let again = w.tokens.access_token(&project(P)).await.expect("token");
        assert_eq!(again.expose(), "at-fresh-1");
    }
    assert_eq!(
        w.refreshes(),
        1,
        "the fresh token is reused, not refreshed again"
    );
    let stored = w.stored().await;
    assert_eq!(stored.access_token, "at-fresh-1");
    assert_eq!(
        stored.refresh_token.as_deref(),
        Some("rt-fresh-1"),
        "rotated one stored"
    );
    assert_eq!(stored.expires_at, Some(w.now_s() + 28_800));
    assert_eq!(
        stored.authorization_id.as_deref(),
        Some("auth-1"),
        "kept for revocation"
    );
    let i = w.integration().await;
    assert_eq!(i.refresh_owner, None, "refresh lease released");
    assert_eq!(i.refresh_until_ms, None);
    assert_eq!(i.status, IntegrationStatus::Connected);

    // A second container reads the refreshed token from the vault; no refresh of its own.
    let other = w.another_token_manager();
    let t = other.access_token(&project(P)).await.expect("token");
    assert_eq!(t.expose(), "at-fresh-1");
    assert_eq!(w.refreshes(), 1);
}

#[tokio::test]
async fn given_token_expiring_within_a_minute_then_refreshed_before_it_dies_and_not_earlier() {
    let w = World::new();
    w.connect_with(P, tokens(Some(w.now_s() + 120))).await;
    let t = w.tokens.access_token(&project(P)).await.expect("token");
    assert_eq!(t.expose(), "at-old", "two minutes left: still good");
    assert_eq!(w.refreshes(), 0);

    w.clock.advance(Duration::from_secs(90));
    let t = w.tokens.access_token(&project(P)).await.expect("token");
    assert_eq!(
        t.expose(),
        "at-fresh-1",
        "30 s left: refreshed, also from the cache"
    );
    assert_eq!(w.refreshes(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_containers_refreshing_concurrently_then_one_token_endpoint_call_and_all_get_the_fresh_token()
 {
    let mut contended = 0;
    for round in 0..15u64 {
        let w = World::new();
        w.connect_with(P, tokens(Some(w.now_s() - 10))).await;
        *lock(&w.heroku.refresh_delay) = Duration::from_millis(20 + 10 * (round % 4));
        let (loads, conflicts) = (count(&w.store.integration_loads), count(&w.store.conflicts));
        let containers: Vec<Arc<TokenManager>> = (0..(2 + round % 3))
            .map(|_| Arc::new(w.another_token_manager()))
            .collect();
        let barrier = Arc::new(tokio::sync::Barrier::new(containers.len()));
        let tasks: Vec<_> = containers
            .iter()
            .enumerate()
            .map(|(i, tm)| {
                let tm = tm.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    // Some containers find the token expired, others got a 401 with it.
                    if i % 2 == 0 {
                        tm.access_token(&project(P)).await
                    } else {
                        tm.refresh(&project(P), &AccessToken::new("at-old")).await
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        for t in tasks {
            got.push(
                t.await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}"))
                    .expose()
                    .to_owned(),
            );
        }

        // A container that reads the integration found the token still stale; more than
        // one doing so (or a lost lease write) means they raced for the refresh.
        if count(&w.store.integration_loads) - loads > 1 || count(&w.store.conflicts) > conflicts {
            contended += 1;
        }
        assert_eq!(
            w.refreshes(),
            1,
            "round {round}: one call to the token endpoint"
        );
        assert!(
            got.iter().all(|t| t == "at-fresh-1"),
            "round {round}: {got:?}"
        );
        let stored = w.stored().await;
        assert_eq!(stored.access_token, "at-fresh-1", "round {round}");
        let rt = stored.refresh_token.expect("refresh token kept");
        assert_eq!(
            rt, "rt-fresh-1",
            "round {round}: the rotated refresh token is stored"
        );
        assert!(
            lock(&w.heroku.refresh_tokens).contains(&rt),
            "round {round}: and Heroku still accepts it"
        );
        let i = w.integration().await;
        assert_eq!(i.refresh_owner, None, "round {round}");
        assert_eq!(i.status, IntegrationStatus::Connected, "round {round}");
    }
    // The barrier and the slow token endpoint only make overlap likely; this proves some
    // round really had containers contend for one refresh.
    assert!(
        contended > 0,
        "no round had two containers meet: the test exercised no race"
    );
}

#[tokio::test]
async fn given_401_on_a_token_another_container_already_replaced_then_no_refresh() {
    let w = World::new();
    let mut t = tokens(Some(w.now_s() + 3600));
    t.access_token = "at-new".into();
    w.connect_with(P, t).await;

    let got = w
        .tokens
        .refresh(&project(P), &AccessToken::new("at-old"))
        .await
        .expect("token");

    assert_eq!(got.expose(), "at-new");
    assert_eq!(w.refreshes(), 0);
}

#[tokio::test]
async fn given_refresh_rejected_then_revoked_and_integration_needs_reconnect() {
    let w = World::new();
    w.connect_with(P, tokens(Some(w.now_s() - 10))).await;
    lock(&w.heroku.refresh_tokens).clear(); // the user revoked the authorization

    let err = w.tokens.access_token(&project(P)).await.unwrap_err();

    assert!(matches!(err, TokenError::Revoked(_)), "{err:?}");
    let i = w.integration().await;
    assert_eq!(i.status, IntegrationStatus::NeedsReconnect);
    assert!(
        i.last_error.as_deref().unwrap().contains("reconnect"),
        "{i:?}"
    );
    assert_eq!(i.refresh_owner, None, "refresh lease released");
    assert_eq!(i.refresh_until_ms, None);

    // Known revoked: later calls do not hammer the token endpoint.
    let err = w
        .another_token_manager()
        .access_token(&project(P))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::Revoked(_)), "{err:?}");
    assert_eq!(w.refreshes(), 1);
}

#[tokio::test]
async fn given_no_refresh_token_stored_then_revoked_without_calling_heroku() {
    let w = World::new();
    let mut t = tokens(Some(w.now_s() - 10));
    t.refresh_token = None;
    w.connect_with(P, t).await;

    let err = w.tokens.access_token(&project(P)).await.unwrap_err();

    assert!(matches!(err, TokenError::Revoked(_)), "{err:?}");
    assert_eq!(w.refreshes(), 0);
    assert_eq!(
        w.integration().await.status,
        IntegrationStatus::NeedsReconnect
    );
}

// Paused clock: refresh back-offs run in virtual time, so "at once" below is exact.
#[tokio::test(start_paused = true)]
async fn given_transient_refresh_failure_then_transient_lease_released_and_next_try_refreshes() {
    for e in [
        HerokuError::Unavailable {
            reason: "503".into(),
            retry_after: None,
        },
        HerokuError::RateLimited { retry_after: None },
    ] {
        let w = World::new();
        w.connect_with(P, tokens(Some(w.now_s() - 10))).await;
        lock(&w.heroku.refresh_errors).push_back(e.clone());

        let err = w.tokens.access_token(&project(P)).await.unwrap_err();

        assert!(matches!(err, TokenError::Transient(_)), "{e:?}: {err:?}");
        let i = w.integration().await;
        assert_eq!(i.refresh_owner, None, "{e:?}: lease released");
        assert_eq!(i.refresh_until_ms, None);
        assert_eq!(
            i.status,
            IntegrationStatus::Connected,
            "{e:?}: not a revocation"
        );
        let stored = w.stored().await;
        assert_eq!(
            stored.refresh_token.as_deref(),
            Some("rt-old"),
            "nothing lost"
        );

        // At once, not after a lease timeout: no back-off sleep at all.
        let started = tokio::time::Instant::now();
        let t = w.tokens.access_token(&project(P)).await.expect("retry");
        assert_eq!(t.expose(), "at-fresh-1");
        assert_eq!(started.elapsed(), Duration::ZERO, "{e:?}: waited");
        assert_eq!(w.refreshes(), 2);
    }
}

#[tokio::test]
async fn given_heroku_not_rotating_refresh_tokens_then_the_previous_one_is_kept() {
    let w = World::new();
    w.heroku.rotate_refresh.store(false, Ordering::SeqCst);
    w.connect_with(P, tokens(Some(w.now_s() - 10))).await;

    w.tokens.access_token(&project(P)).await.expect("token");

    let stored = w.stored().await;
    assert_eq!(stored.access_token, "at-fresh-1");
    assert_eq!(stored.refresh_token.as_deref(), Some("rt-old"));
}

async fn hold_refresh_lease(w: &World, until_ms: i64) {
    let mut i = w.integration().await;
    let expected = i.generation;
    i.refresh_owner = Some("other-container".into());
    i.refresh_until_ms = Some(until_ms);
    let saved = w
        .store
        .save_integration(&i, Some(expected))
        .await
        .expect("save");
    assert!(matches!(saved, Saved::Ok { .. }));
}

#[tokio::test(start_paused = true)]
async fn given_refresh_lease_of_a_dead_container_when_it_expires_then_refresh_proceeds() {
    let w = World::new();
    w.connect_with(P, tokens(Some(w.now_s() - 10))).await;
    hold_refresh_lease(&w, w.clock.now_ms() + 15_000).await;
    let loads = count(&w.store.integration_loads);

    let tm = Arc::new(w.another_token_manager());
    let task = tokio::spawn({
        let tm = tm.clone();
        async move { tm.access_token(&project(P)).await }
    });
    // Waiting, not merely started: it found the lease taken and looked again.
    until(
        Duration::from_secs(4),
        "the refresh lease is polled",
        || count(&w.store.integration_loads) >= loads + 2,
    )
    .await;
    assert!(
        !task.is_finished(),
        "waits for the other container's refresh"
    );
    assert_eq!(w.refreshes(), 0);
    w.clock.advance(Duration::from_secs(16));

    let t = task.await.unwrap().expect("takes over");
    assert_eq!(t.expose(), "at-fresh-1");
    assert_eq!(w.refreshes(), 1);
    assert_eq!(w.integration().await.refresh_owner, None);
}

#[tokio::test(start_paused = true)]
async fn given_refresh_lease_held_throughout_then_transient_after_the_wait() {
    let w = World::new();
    w.connect_with(P, tokens(Some(w.now_s() - 10))).await;
    hold_refresh_lease(&w, w.clock.now_ms() + 15_000).await;
    let loads = count(&w.store.integration_loads);

    let started = tokio::time::Instant::now();
    let err = w.tokens.access_token(&project(P)).await.unwrap_err();

    assert!(matches!(err, TokenError::Transient(_)), "{err:?}");
    // Virtual time: the whole refresh wait (5 s) of back-off sleeps, without taking 5 s.
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        count(&w.store.integration_loads) - loads > 2,
        "kept looking at the lease while waiting"
    );
    assert_eq!(w.refreshes(), 0);
    assert_eq!(
        w.integration().await.refresh_owner.as_deref(),
        Some("other-container"),
        "another container's lease is not touched"
    );
}

#[tokio::test]
async fn given_no_connection_then_not_connected() {
    let w = World::new();
    let err = w.tokens.access_token(&project(P)).await.unwrap_err();
    assert!(matches!(err, TokenError::NotConnected), "{err:?}");
    assert_eq!(w.refreshes(), 0);
}

#[tokio::test]
async fn given_token_secret_unreadable_then_internal_not_revoked() {
    let w = World::new();
    w.connect(P).await;
    w.vault
        .insert(&w.names.heroku_tokens(&project(P)), "not json");
    let err = w.tokens.access_token(&project(P)).await.unwrap_err();
    assert!(matches!(err, TokenError::Internal(_)), "{err:?}");
    assert!(
        !format!("{err:?}").contains("not json"),
        "no secret in the error"
    );
}

/// Issue 10, item 5. Heroku refusing *our OAuth client* (`invalid_client`: the operator
/// rotated the client secret, or a wrong id or `HEROKU_ID_URL`) used to mark every
/// integration that refreshed `needs_reconnect` for good. It is the operator's to fix:
/// the integration shows it, stays connected, and the next refresh after the fix works.
#[tokio::test]
async fn given_our_oauth_client_refused_then_not_needs_reconnect_and_refresh_works_once_fixed() {
    for refusal in [
        HerokuError::Unauthorized,
        HerokuError::Rejected {
            status: 400,
            id: "invalid_client".into(),
            message: "Invalid OAuth client credentials.".into(),
        },
    ] {
        let w = World::new();
        w.connect_with(P, tokens(Some(w.now_s() - 10))).await;
        lock(&w.heroku.refresh_errors).push_back(refusal.clone());

        let err = w.tokens.access_token(&project(P)).await.unwrap_err();

        assert!(
            matches!(err, TokenError::ClientRejected(_)),
            "{refusal:?}: {err:?}"
        );
        let i = w.integration().await;
        assert_ne!(i.status, IntegrationStatus::NeedsReconnect, "{refusal:?}");
        assert!(
            i.last_error
                .as_deref()
                .is_some_and(|m| m.contains("OAuth client")),
            "{i:?}"
        );
        assert_eq!(i.refresh_owner, None, "refresh lease released");

        // The operator fixed it: the same grant refreshes, and the error clears.
        let got = w.tokens.access_token(&project(P)).await.expect("refreshed");
        assert!(got.expose().starts_with("at-fresh-"), "{}", got.expose());
        assert_eq!(w.integration().await.last_error, None);
    }
}

/// Issue 10, item 6. A reconnect (perhaps with another Heroku account) or a transfer in
/// another container replaces the stored tokens; a warm container used to keep its cached
/// copy for its whole life. Now it re-reads them once its copy is older than
/// TOKEN_CACHE_MAX_AGE.
#[tokio::test]
async fn given_tokens_replaced_elsewhere_then_a_warm_container_uses_them_within_the_max_age() {
    let w = World::new();
    w.connect(P).await;
    let first = w.tokens.access_token(&project(P)).await.expect("token");
    assert_eq!(first.expose(), format!("at-{P}"));

    // Another container stores the tokens of a new connection.
    let other = w.another_token_manager();
    let mut reconnected = tokens(None);
    reconnected.access_token = "at-reconnected".into();
    other.store(&project(P), &reconnected).await.expect("store");

    let cached = w.tokens.access_token(&project(P)).await.expect("token");
    assert_eq!(
        cached.expose(),
        format!("at-{P}"),
        "still within the max age"
    );
    w.clock
        .advance(shared::tokens::TOKEN_CACHE_MAX_AGE + Duration::from_secs(1));
    let now = w.tokens.access_token(&project(P)).await.expect("token");
    assert_eq!(now.expose(), "at-reconnected");
}

/// Issue 10, item 7: a refresh of the old grant racing a reconnect must not write the old
/// grant's refreshed tokens over the new grant's.
#[tokio::test(start_paused = true)]
async fn given_a_refresh_racing_a_reconnect_then_the_new_grants_tokens_stay() {
    let w = Arc::new(World::new());
    w.connect_with(P, tokens(Some(w.now_s() - 10))).await;
    // Heroku takes a while to answer the old grant's refresh.
    *lock(&w.heroku.refresh_delay) = Duration::from_millis(500);
    let refresher = {
        let w = w.clone();
        tokio::spawn(async move { w.tokens.access_token(&project(P)).await })
    };
    // The refresh holds its lease and waits on Heroku; the owner reconnects meanwhile.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = StoredTokens {
        access_token: "at-new-grant".into(),
        refresh_token: Some("rt-new-grant".into()),
        expires_at: Some(w.now_s() + 28_800),
        authorization_id: Some("auth-2".into()),
        heroku_user_id: Some("heroku-user-1".into()),
    };
    let other = w.another_token_manager();
    other
        .store_replacing(&project(P), &fresh)
        .await
        .expect("stored after the refresh");
    refresher.await.unwrap().expect("the refresh finished");

    let stored = w.stored().await;
    assert_eq!(stored.access_token, "at-new-grant");
    assert_eq!(stored.authorization_id.as_deref(), Some("auth-2"));
}
