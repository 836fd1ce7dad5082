//! Ids, names, secrets and timestamps the fake invents, in Heroku's formats.

use time::OffsetDateTime;
use time::macros::format_description;

const ADJECTIVES: &[&str] = &[
    "fathomless",
    "shielded",
    "sheltered",
    "secure",
    "calm",
    "frozen",
    "polar",
    "quiet",
    "ancient",
    "rocky",
    "misty",
    "sleepy",
    "young",
    "stormy",
    "silent",
    "glacial",
    "aqueous",
    "radiant",
    "vast",
    "murmuring",
    "infinite",
    "limitless",
    "boiling",
    "peaceful",
    "intense",
    "serene",
];
const NOUNS: &[&str] = &[
    "ocean", "sands", "meadow", "plateau", "river", "harbor", "springs", "forest", "garden",
    "mountain", "island", "savannah", "dawn", "brook", "reef", "falls", "shore", "cove", "temple",
    "badlands", "headland", "citadel", "taiga", "lake",
];
/// The colours Heroku names extra Postgres databases with (`HEROKU_POSTGRESQL_<COLOR>_URL`).
pub(crate) const COLORS: &[&str] = &[
    "AMBER", "AQUA", "BLACK", "BLUE", "BRONZE", "BROWN", "CHARCOAL", "COBALT", "COPPER", "CRIMSON",
    "CYAN", "GOLD", "GRAY", "GREEN", "IVORY", "JADE", "LAVENDER", "MAROON", "MAUVE", "NAVY",
    "OLIVE", "ONYX", "ORANGE", "PINK", "PUCE", "PURPLE", "RED", "ROSE", "SILVER", "TEAL", "WHITE",
    "YELLOW",
];

pub(crate) fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// 32 random bits; uuid v4 is already our source of randomness, so no `rand` dependency.
pub(crate) fn random_u32() -> u32 {
    let b = uuid::Uuid::new_v4().into_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

pub(crate) fn random_hex(len: usize) -> String {
    let mut s = String::with_capacity(len + 32);
    while s.len() < len {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(len);
    s
}

fn pick<'a>(list: &[&'a str]) -> &'a str {
    list[random_u32() as usize % list.len()]
}

/// A Heroku-style generated app name, e.g. `fathomless-ocean-12345`.
pub(crate) fn app_name() -> String {
    format!(
        "{}-{}-{:05}",
        pick(ADJECTIVES),
        pick(NOUNS),
        random_u32() % 100_000
    )
}

/// A Heroku-style add-on name, e.g. `postgresql-rocky-12345`.
pub(crate) fn addon_name() -> String {
    format!(
        "postgresql-{}-{:05}",
        pick(ADJECTIVES),
        random_u32() % 100_000
    )
}

/// Heroku's OAuth tokens look like `HRKU-<uuid>` (the schema's example).
pub(crate) fn token() -> String {
    format!("HRKU-{}", uuid())
}

/// A fresh Heroku Postgres URL; each rotation produces a different user and password.
pub(crate) fn postgres_url() -> String {
    format!(
        "postgres://u{}:p{}@ec2-54-{}-{}-{}.compute-1.amazonaws.com:5432/d{}",
        random_hex(13),
        random_hex(64),
        random_u32() % 256,
        random_u32() % 256,
        random_u32() % 256,
        random_hex(14),
    )
}

/// Now as Heroku formats times: RFC 3339, UTC, whole seconds (`2016-10-26T22:50:29Z`).
pub(crate) fn now() -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_fit_herokus_patterns() {
        for _ in 0..200 {
            let n = app_name();
            assert!(n.len() <= 30 && n.len() >= 3, "{n}");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
        }
        assert!(now().ends_with('Z') && now().len() == 20);
    }
}
