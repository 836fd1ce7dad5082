//! A link: one project env var kept equal to one Heroku app config var.

use super::{AppId, ConfigVarName, EnvVarName, Fingerprint, ProjectId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How many history entries a link keeps (newest last); older ones fall off.
pub const HISTORY_LEN: usize = 20;
/// A history line's detail is clipped to this many bytes (at a character boundary)...
pub const DETAIL_MAX_BYTES: usize = 256;
/// ...and a link's details together stay within this, the oldest lines dropped first: a
/// link's stored size is bounded in bytes, not only in entries, whatever errors it met.
pub const HISTORY_DETAIL_BYTES: usize = 2_048;

/// `{project_id}/{env_var}`: unambiguous, since neither part may contain '/'.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LinkKey(String);

impl LinkKey {
    pub fn new(project: &ProjectId, env_var: &EnvVarName) -> Self {
        LinkKey(format!("{project}/{env_var}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// What every key of `project`'s links begins with, and no other key does.
    pub fn project_prefix(project: &ProjectId) -> String {
        format!("{project}/")
    }
}

impl fmt::Display for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// Deliveries update the env var.
    Active,
    /// The owner stopped this one sync; the env var keeps its last value.
    OptedOut,
    /// The integration was deleted or the project changed owner.
    Disconnected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    Linked,
    Synced,
    Waiting,
    Error,
    OptedOut,
    Disconnected,
}

/// One line of a link's history. Never holds a value, only what happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub kind: HistoryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A repair the reconciler made: what and when (shown in the status view).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Repair {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub what: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Link {
    pub project_id: ProjectId,
    pub env_var: EnvVarName,
    pub app_id: AppId,
    pub app_name: String,
    pub config_var: ConfigVarName,
    pub status: LinkStatus,
    /// Fingerprint of the value last written to the env var secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// Newest Heroku release this link has been checked against. Deliveries for this
    /// version or older change nothing: that is both de-duplication and ordering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_release_version: Option<u64>,
    /// A write of this release's value was started under a lease and not yet committed:
    /// it may have landed. Until a commit clears it, no older release is written (the
    /// secret may already hold this one), and the stored fingerprint is not trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writing_version: Option<u64>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_synced_at: Option<Timestamp>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_checked_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When a webhook delivery last reached this link's sync: with `last_checked_at`, it
    /// tells an owner whether deliveries still arrive or only the reconciler keeps it.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_delivery_at: Option<Timestamp>,
    /// The last thing the reconciler repaired for this link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_repair: Option<Repair>,
    #[serde(with = "time::serde::rfc3339")]
    pub linked_at: Timestamp,
    /// The `sub` of the user who linked it.
    pub linked_by: String,
    #[serde(default, with = "history_text")]
    pub history: Vec<HistoryEntry>,
}

/// A link's history as it is stored: one JSON string. Stored as a list of maps, twenty
/// of them per link, it was the largest part of decoding an app's partition and of
/// encoding the links a save writes, twice per sync (bench/NOTES.md). Items written as a
/// list before read as before.
mod history_text {
    use super::HistoryEntry;
    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(history: &[HistoryEntry], s: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(history).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<HistoryEntry>, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Vec<HistoryEntry>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a link's history: JSON text, or a list of entries")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                serde_json::from_str(text).map_err(E::custom)
            }
            // A NULL attribute (nothing of ours writes one): no history.
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(entry) = seq.next_element()? {
                    out.push(entry);
                }
                Ok(out)
            }
        }
        d.deserialize_any(Text)
    }
}

impl Link {
    /// A digest of every field, so a store can tell which links a save changed. Stable
    /// within a process (a fixed-key hasher), which is as long as a loaded record lives.
    pub fn digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }

    pub fn key(&self) -> LinkKey {
        LinkKey::new(&self.project_id, &self.env_var)
    }

    pub fn is_active(&self) -> bool {
        self.status == LinkStatus::Active
    }

    /// Whether a succeeded release `version` could still change this link.
    pub fn wants(&self, version: u64) -> bool {
        self.is_active()
            && self.last_release_version.unwrap_or(0) < version
            && self.writing_version.is_none_or(|w| w <= version)
    }

    /// Appends to the history, dropping the oldest entries past [`HISTORY_LEN`] or past
    /// [`HISTORY_DETAIL_BYTES`] of details.
    pub fn record(&mut self, mut entry: HistoryEntry) {
        if let Some(detail) = &mut entry.detail {
            clip(detail);
        }
        self.history.push(entry);
        let excess = self.history.len().saturating_sub(HISTORY_LEN);
        self.history.drain(..excess);
        let detail_bytes = |h: &[HistoryEntry]| -> usize {
            h.iter()
                .filter_map(|e| e.detail.as_ref())
                .map(String::len)
                .sum()
        };
        while detail_bytes(&self.history) > HISTORY_DETAIL_BYTES {
            self.history.remove(0);
        }
    }
}

/// Clips an error or history detail to [`DETAIL_MAX_BYTES`] at a character boundary,
/// marking the cut with an ellipsis.
pub fn clip(text: &mut String) {
    if text.len() > DETAIL_MAX_BYTES {
        let mut cut = DETAIL_MAX_BYTES - '…'.len_utf8();
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        Link {
            project_id: ProjectId::parse("p1").unwrap(),
            env_var: EnvVarName::parse("PG_DATABASE_URL").unwrap(),
            app_id: AppId::parse("44dc9c7a-771c-4a9e-bfe9-a8dbc1c55f4d").unwrap(),
            app_name: "app".into(),
            config_var: ConfigVarName::parse("DATABASE_URL").unwrap(),
            status: LinkStatus::Active,
            fingerprint: None,
            last_release_version: Some(5),
            writing_version: None,
            last_synced_at: None,
            last_checked_at: None,
            last_delivery_at: None,
            last_repair: None,
            last_error: None,
            linked_at: Timestamp::UNIX_EPOCH,
            linked_by: "u1".into(),
            history: vec![],
        }
    }

    #[test]
    fn the_history_is_stored_as_text_and_read_as_text_a_list_or_nothing() {
        let mut l = link();
        l.record(HistoryEntry {
            at: Timestamp::UNIX_EPOCH,
            kind: HistoryKind::Synced,
            release_version: Some(5),
            detail: None,
        });
        let mut stored = serde_json::to_value(&l).unwrap();
        assert!(stored["history"].is_string(), "one string: {stored}");
        assert_eq!(serde_json::from_value::<Link>(stored.clone()).unwrap(), l);

        // As versions before stored it, a list of entries; and a null or nothing.
        stored["history"] = serde_json::to_value(&l.history).unwrap();
        assert!(stored["history"].is_array());
        assert_eq!(serde_json::from_value::<Link>(stored.clone()).unwrap(), l);
        let empty = Link {
            history: vec![],
            ..l
        };
        stored["history"] = serde_json::Value::Null;
        assert_eq!(
            serde_json::from_value::<Link>(stored.clone()).unwrap(),
            empty
        );
        stored.as_object_mut().unwrap().remove("history");
        assert_eq!(serde_json::from_value::<Link>(stored).unwrap(), empty);
    }

    #[test]
    fn only_active_links_want_newer_releases() {
        let mut l = link();
        assert!(l.wants(6));
        assert!(!l.wants(5));
        assert!(!l.wants(4));
        l.status = LinkStatus::OptedOut;
        assert!(!l.wants(6));
    }

    #[test]
    fn history_is_bounded_and_keeps_the_newest() {
        let mut l = link();
        for v in 0..(HISTORY_LEN as u64 + 5) {
            l.record(HistoryEntry {
                at: Timestamp::UNIX_EPOCH,
                kind: HistoryKind::Synced,
                release_version: Some(v),
                detail: None,
            });
        }
        assert_eq!(l.history.len(), HISTORY_LEN);
        assert_eq!(
            l.history.last().unwrap().release_version,
            Some(HISTORY_LEN as u64 + 4)
        );
    }

    #[test]
    fn history_details_are_clipped_at_a_character_boundary_and_bounded_together() {
        let mut l = link();
        for v in 0..HISTORY_LEN as u64 {
            l.record(HistoryEntry {
                at: Timestamp::UNIX_EPOCH,
                kind: HistoryKind::Error,
                release_version: Some(v),
                detail: Some("é".repeat(5_000)),
            });
        }
        let details: Vec<&String> = l.history.iter().filter_map(|e| e.detail.as_ref()).collect();
        assert!(
            details
                .iter()
                .all(|d| d.len() <= DETAIL_MAX_BYTES && d.ends_with('…'))
        );
        let total: usize = details.iter().map(|d| d.len()).sum();
        assert!(total <= HISTORY_DETAIL_BYTES, "{total} bytes of details");
        assert!(l.history.len() >= HISTORY_DETAIL_BYTES / DETAIL_MAX_BYTES);
        assert_eq!(
            l.history.last().unwrap().release_version,
            Some(HISTORY_LEN as u64 - 1),
            "the newest line is kept"
        );
    }

    #[test]
    fn a_long_error_is_clipped_on_the_link_as_in_its_history() {
        let mut l = link();
        crate::domain::plan::note_error(&mut l, &"é".repeat(5_000), Timestamp::UNIX_EPOCH, None);
        let shown = l.last_error.as_deref().unwrap();
        assert!(shown.len() <= DETAIL_MAX_BYTES && shown.ends_with('…'));
        assert_eq!(l.history.last().unwrap().detail.as_deref(), Some(shown));
    }

    #[test]
    fn key_joins_project_and_env_var() {
        assert_eq!(link().key().as_str(), "p1/PG_DATABASE_URL");
    }
}
