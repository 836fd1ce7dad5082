//! Changes to the world that Heroku itself would make: apps, add-ons, config, releases.
//!
//! Every change that makes a release returns the webhook deliveries it owes; the caller starts
//! them after releasing the lock (see `Shared::mutate`).

use std::collections::BTreeMap;

use crate::api::ApiError;
use crate::delivery::{self, DeliveryJob};
use crate::names;
use crate::state::{Actor, AddonRec, AppRec, AttachmentRec, ReleaseRec, State, UserRec};

/// `^[a-z][a-z0-9-]{1,28}[a-z0-9]$`, the schema's pattern for app names.
pub(crate) fn valid_app_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=30).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// Config var names are `^\w+$` in the schema.
pub(crate) fn valid_config_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_')
}

impl State {
    pub(crate) fn create_user(&mut self, email: &str) -> UserRec {
        let user = UserRec {
            id: names::uuid(),
            email: email.to_owned(),
            created_at: names::now(),
        };
        self.users.insert(user.id.clone(), user.clone());
        user
    }

    /// A new app with Heroku's first two releases (v1 "Initial release", v2 "Enable Logplex").
    pub(crate) fn create_app(
        &mut self,
        owner_id: &str,
        name: Option<&str>,
        region: Option<&str>,
        stack: Option<&str>,
        id: Option<&str>,
    ) -> Result<AppRec, ApiError> {
        let owner = self
            .user(owner_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("user"))?;
        let name = match name {
            Some(n) => {
                if !valid_app_name(n) {
                    return Err(ApiError::invalid_params(
                        "Name must start with a letter, end with a letter or digit and can only contain lowercase letters, digits, and dashes.",
                    ));
                }
                if self.app_by_ident(n).is_some() {
                    return Err(ApiError::invalid_params("Name is already taken"));
                }
                n.to_owned()
            }
            None => loop {
                let n = names::app_name();
                if self.app_by_ident(&n).is_none() {
                    break n;
                }
            },
        };
        let region = match region.unwrap_or("us") {
            r @ ("us" | "eu") => r.to_owned(),
            other => {
                return Err(ApiError::invalid_params(format!(
                    "Couldn't find that region: {other}."
                )));
            }
        };
        let stack = stack.unwrap_or("heroku-24").to_owned();
        let now = names::now();
        if id.is_some_and(|id| self.apps.contains_key(id)) {
            return Err(ApiError::invalid_params("App id is already taken"));
        }
        let app = AppRec {
            id: id.map_or_else(names::uuid, str::to_owned),
            name,
            owner_id: owner.id.clone(),
            collaborators: Vec::new(),
            region,
            stack,
            created_at: now.clone(),
            updated_at: now,
            web_suffix: names::random_hex(12),
            config: BTreeMap::new(),
            releases: Vec::new(),
        };
        let id = app.id.clone();
        self.apps.insert(id.clone(), app);
        let actor = Actor::from(&owner);
        // A new app has no webhooks yet, so these owe no deliveries.
        self.make_release(&id, "Initial release", "succeeded", &actor, None);
        self.make_release(&id, "Enable Logplex", "succeeded", &actor, None);
        Ok(self.apps[&id].clone())
    }

    pub(crate) fn add_collaborator(&mut self, app_id: &str, user_id: &str) {
        if let Some(app) = self.apps.get_mut(app_id)
            && app.owner_id != user_id
            && !app.collaborators.iter().any(|c| c == user_id)
        {
            app.collaborators.push(user_id.to_owned());
        }
    }

    /// The attachment name a new database gets: DATABASE first, then a free colour.
    fn next_attachment_name(&self, app_id: &str) -> String {
        let app = &self.apps[app_id];
        let taken: Vec<String> = self
            .attachments_of_app(app_id)
            .iter()
            .map(|a| a.name.clone())
            .collect();
        let free = |n: &str| {
            !taken.iter().any(|t| t == n) && !app.config.contains_key(&format!("{n}_URL"))
        };
        if free("DATABASE") {
            return "DATABASE".to_owned();
        }
        names::COLORS
            .iter()
            .map(|c| format!("HEROKU_POSTGRESQL_{c}"))
            .find(|n| free(n))
            .unwrap_or_else(|| format!("HEROKU_POSTGRESQL_{}", names::random_hex(6).to_uppercase()))
    }

    /// A heroku-postgresql add-on on `app_id`, provisioned now or left "provisioning".
    pub(crate) fn create_postgres(
        &mut self,
        app_id: &str,
        plan: &str,
        attachment_name: Option<&str>,
        addon_name: Option<&str>,
        actor: &Actor,
        provision_now: bool,
    ) -> Result<(AddonRec, Vec<DeliveryJob>), ApiError> {
        let plan = match plan.split_once(':') {
            None if plan == "heroku-postgresql" => "heroku-postgresql:essential-0".to_owned(),
            Some(("heroku-postgresql", p)) if !p.is_empty() => plan.to_owned(),
            _ => {
                return Err(ApiError::invalid_params(format!(
                    "Couldn't find either the add-on service or the add-on plan of \"{plan}\"."
                )));
            }
        };
        if !self.apps.contains_key(app_id) {
            return Err(ApiError::not_found("app"));
        }
        let name = match addon_name {
            Some(n) if self.addon_by_ident(n).is_some() => {
                return Err(ApiError::invalid_params(format!(
                    "Name {n} is already taken"
                )));
            }
            Some(n) => n.to_owned(),
            None => loop {
                let n = names::addon_name();
                if self.addon_by_ident(&n).is_none() {
                    break n;
                }
            },
        };
        let attachment = match attachment_name {
            Some(a) => {
                let a = a.to_ascii_uppercase();
                if !valid_config_key(&a) {
                    return Err(ApiError::invalid_params("Attachment name is invalid"));
                }
                if self.attachments_of_app(app_id).iter().any(|x| x.name == a) {
                    return Err(ApiError::invalid_params(format!(
                        "Attachment name {a} is already taken"
                    )));
                }
                a
            }
            None => self.next_attachment_name(app_id),
        };
        let now = names::now();
        let addon = AddonRec {
            id: names::uuid(),
            name,
            app_id: app_id.to_owned(),
            plan,
            plan_id: names::uuid(),
            state: "provisioning".to_owned(),
            url: names::postgres_url(),
            provider_id: format!("resource{}@heroku.com", names::random_u32()),
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        self.addons.insert(addon.id.clone(), addon.clone());
        let att_id = names::uuid();
        self.attachments.insert(
            att_id.clone(),
            AttachmentRec {
                id: att_id,
                name: attachment,
                addon_id: addon.id.clone(),
                app_id: app_id.to_owned(),
                created_at: now.clone(),
                updated_at: now,
            },
        );
        let jobs = if provision_now {
            self.provision(&addon.id, actor)
        } else {
            Vec::new()
        };
        Ok((self.addons[&addon.id].clone(), jobs))
    }

    /// Finishes provisioning: the URL lands in every attachment's app config, with a release.
    pub(crate) fn provision(&mut self, addon_id: &str, actor: &Actor) -> Vec<DeliveryJob> {
        let Some(addon) = self.addons.get_mut(addon_id) else {
            return Vec::new();
        };
        if addon.state != "provisioning" {
            return Vec::new();
        }
        addon.state = "provisioned".to_owned();
        addon.updated_at = names::now();
        let (url, addon_name) = (addon.url.clone(), addon.name.clone());
        let mut jobs = Vec::new();
        let atts: Vec<AttachmentRec> = self
            .attachments_of_addon(addon_id)
            .into_iter()
            .cloned()
            .collect();
        for att in atts {
            if let Some(app) = self.apps.get_mut(&att.app_id) {
                app.config.insert(att.config_var(), url.clone());
            }
            let desc = format!("Attach {} (@ref:{addon_name})", att.name);
            jobs.extend(
                self.make_release(&att.app_id, &desc, "succeeded", actor, None)
                    .1,
            );
        }
        jobs
    }

    /// Attaches an add-on to another app as `name` (config var `{name}_URL`).
    pub(crate) fn attach(
        &mut self,
        addon_id: &str,
        app_id: &str,
        name: &str,
        actor: &Actor,
    ) -> Result<Vec<DeliveryJob>, ApiError> {
        let name = name.to_ascii_uppercase();
        let addon = self
            .addons
            .get(addon_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("add-on"))?;
        if !self.apps.contains_key(app_id) {
            return Err(ApiError::not_found("app"));
        }
        if !valid_config_key(&name)
            || self
                .attachments_of_app(app_id)
                .iter()
                .any(|a| a.name == name)
        {
            return Err(ApiError::invalid_params(format!(
                "Attachment name {name} is invalid or taken"
            )));
        }
        let now = names::now();
        let id = names::uuid();
        let att = AttachmentRec {
            id: id.clone(),
            name: name.clone(),
            addon_id: addon_id.to_owned(),
            app_id: app_id.to_owned(),
            created_at: now.clone(),
            updated_at: now,
        };
        let var = att.config_var();
        self.attachments.insert(id, att);
        if addon.state != "provisioned" {
            return Ok(Vec::new());
        }
        if let Some(app) = self.apps.get_mut(app_id) {
            app.config.insert(var, addon.url.clone());
        }
        let desc = format!("Attach {name} (@ref:{})", addon.name);
        Ok(self.make_release(app_id, &desc, "succeeded", actor, None).1)
    }

    /// `heroku pg:credentials:rotate` for every database the app owns: new URLs everywhere they
    /// are attached, one release per affected app by heroku-postgresql.
    pub(crate) fn rotate(&mut self, app_id: &str) -> (Option<ReleaseRec>, Vec<DeliveryJob>) {
        let owned: Vec<String> = self
            .addons
            .values()
            .filter(|a| a.app_id == app_id && a.state == "provisioned")
            .map(|a| a.id.clone())
            .collect();
        // app id -> attachment names changed there, in order
        let mut changed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for addon_id in &owned {
            let url = names::postgres_url();
            if let Some(addon) = self.addons.get_mut(addon_id) {
                addon.url = url.clone();
                addon.updated_at = names::now();
            }
            let atts: Vec<AttachmentRec> = self
                .attachments_of_addon(addon_id)
                .into_iter()
                .cloned()
                .collect();
            for att in atts {
                if let Some(app) = self.apps.get_mut(&att.app_id) {
                    app.config.insert(att.config_var(), url.clone());
                    changed
                        .entry(att.app_id.clone())
                        .or_default()
                        .push(att.name.clone());
                }
            }
        }
        let actor = Actor::heroku_postgresql();
        let mut own_release = None;
        let mut jobs = Vec::new();
        // The owning app first, so its release (and delivery) comes before its attachments'.
        let mut order: Vec<String> = changed.keys().filter(|k| *k == app_id).cloned().collect();
        order.extend(changed.keys().filter(|k| *k != app_id).cloned());
        for app in order {
            let desc = format!("Update {} by heroku-postgresql", changed[&app].join(", "));
            let (rel, j) = self.make_release(&app, &desc, "succeeded", &actor, None);
            jobs.extend(j);
            if app == app_id {
                own_release = Some(rel);
            }
        }
        (own_release, jobs)
    }

    /// Sets (`Some`) or removes (`None`) config vars with one release; no release if nothing changed.
    pub(crate) fn set_config(
        &mut self,
        app_id: &str,
        changes: &[(String, Option<String>)],
        actor: &Actor,
        always_release: bool,
    ) -> (Option<ReleaseRec>, Vec<DeliveryJob>) {
        let Some(app) = self.apps.get_mut(app_id) else {
            return (None, Vec::new());
        };
        let (mut set, mut removed) = (Vec::new(), Vec::new());
        for (k, v) in changes {
            match v {
                Some(v) => {
                    if app.config.get(k) != Some(v) {
                        app.config.insert(k.clone(), v.clone());
                        set.push(k.clone());
                    }
                }
                None => {
                    if app.config.remove(k).is_some() {
                        removed.push(k.clone());
                    }
                }
            }
        }
        if set.is_empty() && removed.is_empty() && !always_release {
            return (None, Vec::new());
        }
        let plural = |n: usize| if n == 1 { "config var" } else { "config vars" };
        let mut parts = Vec::new();
        if !set.is_empty() {
            parts.push(format!("Set {} {}", set.join(", "), plural(set.len())));
        }
        if !removed.is_empty() {
            parts.push(format!(
                "Remove {} {}",
                removed.join(", "),
                plural(removed.len())
            ));
        }
        if parts.is_empty() {
            parts.push("Set config vars".to_owned());
        }
        let (rel, jobs) = self.make_release(app_id, &parts.join(", "), "succeeded", actor, None);
        (Some(rel), jobs)
    }

    /// A new release of the app as it is now; `api:release` subscribers are owed a delivery.
    pub(crate) fn make_release(
        &mut self,
        app_id: &str,
        description: &str,
        status: &str,
        actor: &Actor,
        slug_id: Option<String>,
    ) -> (ReleaseRec, Vec<DeliveryJob>) {
        let addon_plan_names: Vec<String> = self
            .addons_of_app(app_id)
            .iter()
            .map(|a| a.plan.clone())
            .collect();
        let Some(app) = self.apps.get_mut(app_id) else {
            panic!("make_release on unknown app {app_id}");
        };
        let now = names::now();
        let rel = ReleaseRec {
            id: names::uuid(),
            version: app.releases.last().map_or(1, |r| r.version + 1),
            description: description.to_owned(),
            status: status.to_owned(),
            actor: actor.clone(),
            created_at: now.clone(),
            config: app.config.clone(),
            addon_plan_names,
            slug_id,
        };
        app.releases.push(rel.clone());
        app.updated_at = now;
        let jobs = delivery::jobs_for_release(self, app_id, &rel);
        (rel, jobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_follow_the_schema_pattern() {
        assert!(valid_app_name("fathomless-ocean-12345"));
        assert!(valid_app_name("abc"));
        assert!(!valid_app_name("ab"));
        assert!(!valid_app_name("Abc"));
        assert!(!valid_app_name("abc-"));
        assert!(!valid_app_name("1abc"));
        assert!(!valid_app_name(&"a".repeat(31)));
    }
}
