//! The JWT authorizer's part, locally: HS256 tokens signed with `DEV_JWT_SECRET`, checked
//! for signature and `exp` (and `iss`/`aud` when configured), as API Gateway's JWT
//! authorizer checks the platform's tokens in AWS.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The documented default (README): fine for a laptop, never for anything shared.
pub const DEFAULT_DEV_JWT_SECRET: &str = "dev-jwt-secret-not-for-production";

#[derive(Clone)]
pub struct Authorizer {
    key: DecodingKey,
    validation: Validation,
}

impl Authorizer {
    pub fn new(secret: &str, issuer: Option<&str>, audience: Option<&str>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = issuer {
            validation.set_issuer(&[iss]);
        }
        Authorizer {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// The token's claims if it is valid now.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, String> {
        jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| e.to_string())
    }
}

/// Mints a token (the platform's job in production; the demo and tests do it locally).
pub fn mint(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// A project-scoped token for `sub` as the project's owner (`project_role: owner`, what
/// the platform mints for the user who owns the project), valid for `ttl`. Collaborators'
/// tokens: [`mint_with_claims`] with another `project_role`.
pub fn mint_for(
    secret: &str,
    sub: &str,
    project_id: &str,
    scopes: &[&str],
    ttl: Duration,
) -> String {
    let mut owner = Map::new();
    owner.insert("project_role".into(), json!("owner"));
    mint_with_claims(secret, sub, project_id, scopes, &owner, ttl)
}

/// [`mint_for`] with more claims, such as the platform's `project_role`
/// (docs/contract.md). A separate function so that every existing caller keeps its
/// token shape; an extra claim never replaces `sub`, `project_id`, `iat` or `exp`.
pub fn mint_with_claims(
    secret: &str,
    sub: &str,
    project_id: &str,
    scopes: &[&str],
    extra: &Map<String, Value>,
    ttl: Duration,
) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = extra.clone();
    claims.insert("sub".into(), json!(sub));
    claims.insert("project_id".into(), json!(project_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + ttl.as_secs() as i64));
    if !scopes.is_empty() {
        claims.insert("scope".into(), json!(scopes.join(" ")));
    }
    mint(secret, &Value::Object(claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_tokens_pass_and_expired_or_foreign_ones_do_not() {
        let a = Authorizer::new("s", None, None);
        let ok = mint_for(
            "s",
            "u1",
            "p1",
            &["integrations/admin"],
            Duration::from_secs(60),
        );
        let claims = a.verify(&ok).unwrap();
        assert_eq!(claims["sub"], "u1");
        assert_eq!(claims["scope"], "integrations/admin");

        let expired = mint("s", &json!({"sub": "u1", "exp": 1}));
        assert!(a.verify(&expired).is_err());
        let foreign = mint_for("other", "u1", "p1", &[], Duration::from_secs(60));
        assert!(a.verify(&foreign).is_err());
        let no_exp = mint("s", &json!({"sub": "u1"}));
        assert!(a.verify(&no_exp).is_err());
    }

    #[test]
    fn extra_claims_are_added_but_never_replace_the_identity() {
        let a = Authorizer::new("s", None, None);
        let mut extra = Map::new();
        extra.insert("project_role".into(), json!("owner"));
        extra.insert("sub".into(), json!("someone-else"));
        let t = mint_with_claims("s", "u1", "p1", &[], &extra, Duration::from_secs(60));
        let claims = a.verify(&t).unwrap();
        assert_eq!(claims["project_role"], "owner");
        assert_eq!(claims["sub"], "u1");
        assert_eq!(claims["project_id"], "p1");
        assert!(!claims.contains_key("scope"));
    }
}
