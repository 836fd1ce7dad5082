//! Fingerprints of synced values: how we tell "changed" from "unchanged" without ever
//! storing a database URL outside Secrets Manager.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// SHA-256 over a domain-separated, link-scoped input, hex encoded. Scoping by link means
/// two links holding the same URL have different fingerprints, so a fingerprint tells
/// nothing across links; the URL's own password makes guessing the input hopeless.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of(link_key: &str, value: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"heroku-db-url-sync/v1\0");
        h.update(link_key.as_bytes());
        h.update(b"\0");
        h.update(value.as_bytes());
        Fingerprint(hex::encode(h.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_the_documented_hash_so_stored_ones_stay_comparable() {
        // Stored fingerprints outlive deploys: a changed derivation would make every link
        // look changed and rewrite every env var once. Pinned to a value computed outside
        // this code: python3 -c "import hashlib; print(hashlib.sha256(
        //   b'heroku-db-url-sync/v1\\x00p1/PG_DATABASE_URL\\x00'
        //   b'postgres://u:secret@db.example.com:5432/d1').hexdigest())"
        let url = "postgres://u:secret@db.example.com:5432/d1";
        let f = Fingerprint::of("p1/PG_DATABASE_URL", url);
        assert_eq!(
            f.as_str(),
            "7e732004e0d0a068a9dc9782855f839ab516dffb2f21f4721430f58423af542b"
        );
    }

    #[test]
    fn fingerprint_depends_on_link_and_value_and_hides_value() {
        let a = Fingerprint::of("p/A", "postgres://u:secret@h/db");
        // Link-scoped: the same URL on two links gives two unrelated fingerprints.
        assert_ne!(a, Fingerprint::of("p/B", "postgres://u:secret@h/db"));
        assert_ne!(a, Fingerprint::of("q/A", "postgres://u:secret@h/db"));
        assert_ne!(a, Fingerprint::of("p/A", "postgres://u:other@h/db"));
        assert!(!a.as_str().contains("secret"));
        assert_eq!(a.as_str().len(), 64);
    }
}
