//! Heroku Postgres databases as an account sees them: every (app, Postgres add-on) pair,
//! owned or attached, with the config vars the add-on sets on that app. The database list
//! shows it, and linking allows only those config vars (docs/contract.md: add-on
//! credentials only, never an arbitrary config var such as an API key).

use super::{Addon, Attachment};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AppRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AddonRef {
    pub id: String,
    pub name: String,
    pub plan: Option<String>,
}

/// One database as reachable from one app, with the config vars it sets there.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Database {
    pub app: AppRef,
    pub addon: AddonRef,
    pub config_vars: Vec<String>,
    /// True when the app only has it attached (another app owns the add-on).
    pub attached: bool,
}

/// Joins add-ons and attachments: every (app, Postgres add-on) pair, sorted by app name.
pub fn databases(addons: &[Addon], attachments: &[Attachment]) -> Vec<Database> {
    let postgres: HashMap<&str, &Addon> = addons
        .iter()
        .filter(|a| a.is_postgres())
        .map(|a| (a.id.as_str(), a))
        .collect();
    // (app name, app id, addon id) -> config vars
    let mut found: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    for addon in postgres.values() {
        let key = (
            addon.app.name.clone().unwrap_or_default(),
            addon.app.id.clone(),
            addon.id.clone(),
        );
        found
            .entry(key)
            .or_default()
            .extend(addon.config_vars.iter().cloned());
    }
    for att in attachments {
        if !postgres.contains_key(att.addon.id.as_str()) {
            continue;
        }
        let key = (
            att.app.name.clone().unwrap_or_default(),
            att.app.id.clone(),
            att.addon.id.clone(),
        );
        found
            .entry(key)
            .or_default()
            .insert(format!("{}_URL", att.name));
    }
    found
        .into_iter()
        .map(|((app_name, app_id, addon_id), vars)| {
            let addon = postgres[addon_id.as_str()];
            Database {
                attached: addon.app.id != app_id,
                app: AppRef {
                    id: app_id,
                    name: app_name,
                },
                addon: AddonRef {
                    id: addon.id.clone(),
                    name: addon.name.clone(),
                    plan: addon.plan.as_ref().and_then(|p| p.name.clone()),
                },
                config_vars: vars.into_iter().collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addon(id: &str, app: (&str, &str), service: &str, vars: &[&str]) -> Addon {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": format!("{service}-{id}"),
            "addon_service": {"name": service}, "plan": {"name": format!("{service}:essential-0")},
            "app": {"id": app.0, "name": app.1}, "config_vars": vars, "state": "provisioned"
        }))
        .unwrap()
    }

    fn attachment(name: &str, addon: &str, app: (&str, &str)) -> Attachment {
        serde_json::from_value(serde_json::json!({
            "id": format!("att-{name}-{addon}"), "name": name,
            "addon": {"id": addon, "name": "x", "app": {"id": "owner", "name": "owner"}},
            "app": {"id": app.0, "name": app.1}
        }))
        .unwrap()
    }

    #[test]
    fn owned_and_attached_databases_are_listed_and_other_addons_are_not() {
        let addons = vec![
            addon(
                "pg1",
                ("a1", "alpha"),
                "heroku-postgresql",
                &["DATABASE_URL"],
            ),
            addon("redis", ("a1", "alpha"), "heroku-redis", &["REDIS_URL"]),
        ];
        let attachments = vec![
            attachment("DATABASE", "pg1", ("a1", "alpha")),
            attachment("HEROKU_POSTGRESQL_RED", "pg1", ("a1", "alpha")),
            attachment("SHARED_DB", "pg1", ("a2", "beta")),
            attachment("REDIS", "redis", ("a1", "alpha")),
        ];
        let list = databases(&addons, &attachments);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].app.name, "alpha");
        assert!(!list[0].attached);
        assert_eq!(
            list[0].config_vars,
            vec!["DATABASE_URL", "HEROKU_POSTGRESQL_RED_URL"]
        );
        assert_eq!(list[1].app.name, "beta");
        assert!(list[1].attached);
        assert_eq!(list[1].config_vars, vec!["SHARED_DB_URL"]);
        assert_eq!(
            list[1].addon.plan.as_deref(),
            Some("heroku-postgresql:essential-0")
        );
    }
}
