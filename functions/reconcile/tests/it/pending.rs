//! Grants left pending (docs/contract.md: the callback holds a grant pending until its
//! starter confirms; the reconciler revokes grants left pending): a pass after expiry
//! revokes the grant at Heroku with its own token and deletes its tokens; a grant that
//! became the connection is never revoked, only its leftover copy deleted.

use crate::*;
use fake_heroku::Fault;
use local::client::{Client, query};
use shared::pending::{CONFIRM_TTL_S, EXPIRY_MARGIN_S};

/// The OAuth round trip for `p1` as `c`, approved by `user`: the confirmation the
/// callback sent the browser back with.
async fn held(s: &Stack, c: &Client, user: &User) -> String {
    s.heroku.set_browser_user(user);
    let a = c
        .call("POST", "/projects/p1/integrations/heroku/authorize", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let at_heroku = c
        .http
        .get(a.json["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let cb = at_heroku.headers()["location"].to_str().unwrap().to_owned();
    let q = query(&c.call("GET", &cb, None).await.location.unwrap());
    assert_eq!(q["heroku"], "confirm", "{q:?}");
    q["confirmation"].clone()
}

async fn secret_exists(s: &Stack, name: &str) -> bool {
    s.secrets
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .is_ok()
}

fn revoked(s: &Stack, user: &User) -> Vec<bool> {
    s.heroku
        .authorizations(user)
        .iter()
        .map(|a| a.revoked)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_grant_never_confirmed_when_a_pass_runs_after_its_expiry_then_it_is_revoked_and_its_tokens_deleted()
 {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    let c = Client::new(&s, "user-1", "p1", &[]);
    let confirmation = held(&s, &c, &user).await;
    let hash = shared::pending::hash(&confirmation);
    let grant = s.svc.store.load_pending(&hash).await.unwrap().unwrap();
    let r = reconciler(&s, settings());

    // Before it expires, a pass leaves it alone: its starter may still confirm.
    pass(&r).await;
    assert_eq!(revoked(&s, &user), [false]);
    assert!(secret_exists(&s, &grant.token_secret).await);

    // Expired. Heroku failing the revocation leaves everything for the next pass.
    s.clock.advance(std::time::Duration::from_secs(
        (CONFIRM_TTL_S + EXPIRY_MARGIN_S + 1) as u64,
    ));
    let fault = s
        .heroku
        .inject(Fault::status("/oauth/authorizations", 503).method("DELETE"));
    pass(&r).await;
    assert_eq!(revoked(&s, &user), [false]);
    assert!(
        secret_exists(&s, &grant.token_secret).await,
        "kept to revoke with"
    );
    assert!(s.svc.store.load_pending(&hash).await.unwrap().is_some());

    s.heroku.clear_fault(fault);
    pass(&r).await;
    assert_eq!(revoked(&s, &user), [true], "revoked at Heroku");
    assert!(
        !secret_exists(&s, &grant.token_secret).await,
        "its tokens deleted"
    );
    assert!(s.svc.store.load_pending(&hash).await.unwrap().is_none());
    assert_eq!(
        s.heroku.request_count("DELETE", "/oauth/authorizations/"),
        2,
        "one failed attempt, one revocation, with the grant's own token"
    );

    // Done: the next pass has nothing of it, and the project never connected.
    assert_eq!(r.plan().await.unwrap().expired_grants, 0);
    reconcile::drain(&r).await.unwrap();
    let status = c.status("p1").await;
    assert_eq!(status["status"], "not_connected", "{status}");
    let a = c.confirm("p1", &confirmation).await;
    assert_eq!(a.status, 400, "{}", a.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_confirmed_grant_whose_pending_copy_was_left_then_a_pass_deletes_it_and_revokes_nothing()
 {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    let c = Client::new(&s, "user-1", "p1", &[]);
    let confirmation = held(&s, &c, &user).await;
    let hash = shared::pending::hash(&confirmation);
    let grant = s.svc.store.load_pending(&hash).await.unwrap().unwrap();

    // Secrets Manager refuses the deletion of the pending copy: the connect stands.
    s.proxy.fail("DeleteSecret", 500);
    let a = c.confirm("p1", &confirmation).await;
    s.proxy.clear();
    assert_eq!(a.status, 200, "{}", a.json);
    assert!(secret_exists(&s, &grant.token_secret).await);
    let again = c.confirm("p1", &confirmation).await;
    assert_eq!(again.status, 400, "still single use: {}", again.json);

    s.clock
        .advance(std::time::Duration::from_secs((EXPIRY_MARGIN_S + 1) as u64));
    pass(&reconciler(&s, settings())).await;
    assert!(
        !secret_exists(&s, &grant.token_secret).await,
        "the leftover copy deleted"
    );
    assert!(s.svc.store.load_pending(&hash).await.unwrap().is_none());
    assert_eq!(revoked(&s, &user), [false], "the connection's grant lives");
    assert_eq!(
        s.heroku.request_count("DELETE", "/oauth/authorizations/"),
        0
    );
    assert_eq!(c.status("p1").await["status"], "connected");
}
