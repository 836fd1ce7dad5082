//! One app, many links (issue 9): projects × env vars linked to one app's `DATABASE_URL`
//! through the linking code the connect function runs, until all are made, one fails, or
//! the creation budget runs out; then one rotation's delivery handled by the release
//! webhook bootstrap with 50 ms per Heroku call, the app's DynamoDB item size, and one
//! project's status (the route's code, in process, through the fault proxy).

use crate::instance::Instance;
use crate::runtime::RuntimeApi;
use crate::stack::{CONFIG_VAR, Stack, webhook_event};
use crate::stats::ms;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::domain::{ConfigVarName, EnvVarName, ProjectId};
use shared::linking::{self, LinkRequest};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Plan {
    pub projects: usize,
    pub env_vars: usize,
    /// Linking stops when this has passed (on one item per app, each link rewrote the
    /// whole growing item, so the time grew with the square of the links).
    pub create_budget: Duration,
    pub heroku_ms: u64,
}

impl Plan {
    pub fn full() -> Plan {
        Plan {
            projects: 10,
            env_vars: 100,
            // Each link reads the app's partition (the linking code's own reads), and
            // moto sorts the whole table on every Query before filtering on the key: a
            // thousand links take minutes here, more the more the table holds (337 s,
            // then 458 s at c344a8d on a busier machine), so the budget is generous
            // (bench/NOTES.md). Running out reports links missing, never a wrong result.
            create_budget: Duration::from_secs(900),
            heroku_ms: 50,
        }
    }

    pub fn quick() -> Plan {
        Plan {
            projects: 3,
            env_vars: 10,
            create_budget: Duration::from_secs(60),
            ..Plan::full()
        }
    }

    fn wanted(&self) -> usize {
        self.projects * self.env_vars
    }
}

#[derive(Clone, Debug, Default)]
pub struct ManyRun {
    pub wanted: usize,
    pub created: usize,
    /// Why linking stopped early: an error, or the budget.
    pub stopped: Option<String>,
    pub create_s: f64,
    /// The largest item of the app's partition, as DynamoDB counts it (names and
    /// values), bytes; and how many items the partition holds.
    pub item_bytes: usize,
    pub items: usize,
    /// Links tried again after a 503 (the emulator timed out a call).
    pub retried: usize,
    pub delivery_ms: f64,
    pub delivery_status: Option<u16>,
    pub delivery_aws: BTreeMap<String, usize>,
    pub delivery_heroku: usize,
    /// Created links whose env var holds the rotated value afterwards.
    pub written: usize,
    pub status_links: usize,
    pub status_ms: f64,
    pub status_calls: usize,
}

pub async fn run(stack: &Stack, bin: &Path, plan: &Plan) -> Result<ManyRun, String> {
    let mut out = ManyRun {
        wanted: plan.wanted(),
        ..ManyRun::default()
    };
    stack.set_delay(Duration::ZERO);
    let app = stack.heroku.create_app(&stack.user, "bench-many");
    stack
        .heroku
        .add_postgres(&app, "heroku-postgresql:essential-0");
    let started = Instant::now();
    let mut projects = Vec::new();
    'projects: for p in 0..plan.projects {
        let project = ProjectId::parse(format!("bench-m{p:02}")).map_err(|e| e.to_string())?;
        stack.connect(&project).await?;
        projects.push(project.clone());
        for e in 0..plan.env_vars {
            if started.elapsed() > plan.create_budget {
                out.stopped = Some(format!(
                    "the {} s budget ran out",
                    plan.create_budget.as_secs()
                ));
                break 'projects;
            }
            let req = LinkRequest {
                project: project.clone(),
                env_var: EnvVarName::parse(format!("DB_URL_{e:03}")).map_err(|e| e.to_string())?,
                app: app.id.clone(),
                config_var: ConfigVarName::parse(CONFIG_VAR).map_err(|e| e.to_string())?,
                sub: "bench-user".into(),
                allow_missing: false,
                request_base: None,
            };
            // The route answers 503 with Retry-After when a store call failed; a client
            // tries again, and so does the bench, a few times (counted in the report).
            let mut tries = 0;
            let result = loop {
                match linking::link(&stack.svc, &req).await {
                    Err(linking::LinkError::Unavailable(_)) if tries < 3 => {
                        tries += 1;
                        out.retried += 1;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    other => break other,
                }
            };
            if let Err(err) = result {
                out.stopped = Some(format!("link {} failed: {err}", out.created + 1));
                break 'projects;
            }
            out.created += 1;
        }
    }
    out.create_s = started.elapsed().as_secs_f64();
    stack.heroku.take_held();

    // One rotation, handled by one warm webhook instance.
    let rt = Arc::new(
        RuntimeApi::start()
            .await
            .map_err(|e| format!("runtime API: {e}"))?,
    );
    let env = stack.lambda_env(&rt, "webhook");
    let instance = Instance::spawn(bin, &env, false)
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    rt.wait_polls(1, Duration::from_secs(60)).await?;
    let held = stack.rotate(&app)?;
    stack
        .heroku
        .set_api_latency(Duration::from_millis(plan.heroku_ms));
    stack.proxy.reset_calls();
    stack.heroku.reset_request_log();
    let o = rt
        .call(webhook_event(&held, "many-0"), Duration::from_secs(120))
        .await?;
    out.delivery_ms = ms(o.handler());
    out.delivery_status = o.status();
    out.delivery_aws = stack.proxy.calls();
    out.delivery_heroku = stack.heroku.requests().len();
    stack.set_delay(Duration::ZERO);
    instance.stop();
    drop(rt);

    let want = stack.heroku.config_var(&app, CONFIG_VAR);
    for (p, project) in projects.iter().enumerate() {
        let last = if p + 1 == projects.len() {
            out.created - p * plan.env_vars
        } else {
            plan.env_vars
        };
        for e in 0..last {
            let name = stack.svc.names.env_var(project, &format!("DB_URL_{e:03}"));
            if stack.read_secret(&name).await == want {
                out.written += 1;
            }
        }
    }

    // Every item of the app's partition, after the delivery added a history line to each.
    let mut pages = stack
        .direct_dynamo
        .query()
        .table_name(crate::stack::TABLE)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("APP#{}", app.id)))
        .consistent_read(true)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| format!("reading the app's items: {e}"))?;
        out.items += 1;
        out.item_bytes = out.item_bytes.max(shared::adapters::item_size(&item));
    }

    // A project's status: the route's own code, through the proxy.
    if let Some(project) = projects.first() {
        stack.set_delay(Duration::from_millis(5));
        stack.proxy.reset_calls();
        let t = Instant::now();
        let status = linking::project_status(stack.svc.store.as_ref(), project)
            .await
            .map_err(|e| format!("status: {e}"))?;
        out.status_ms = ms(t.elapsed());
        out.status_calls = stack.proxy.total_calls();
        out.status_links = status.links.len();
        if status.integration.is_none() {
            return Err("status: the project's integration was not read".into());
        }
        stack.set_delay(Duration::ZERO);
    }
    Ok(out)
}

/// Wrong results (the bench fails on them); the sizes are targets, judged in `render`.
pub fn wrong(r: Option<&ManyRun>) -> Vec<String> {
    let Some(r) = r else { return Vec::new() };
    let mut w = Vec::new();
    if r.delivery_status.is_none_or(|s| !(200..300).contains(&s)) {
        w.push(format!(
            "many links: the delivery answered {:?}",
            r.delivery_status
        ));
    }
    if r.written != r.created {
        w.push(format!(
            "many links: {} of {} env vars hold the rotated value",
            r.written, r.created
        ));
    }
    w
}

pub const ITEM_TARGET_BYTES: usize = 64 * 1024;

pub fn render(s: &mut String, r: Option<&ManyRun>, plan: &Plan) {
    let _ = writeln!(s, "## 7. One app, many links\n");
    let Some(r) = r else {
        let _ = writeln!(s, "Not run.\n");
        return;
    };
    let calls: usize = r.delivery_aws.values().sum();
    let _ = writeln!(
        s,
        "{} projects × {} env vars linked to one app's `DATABASE_URL` through the linking \
         code the connect function runs (each link writes the env var and joins the app's \
         subscription), until all are made, one fails, or {} s pass. Then one rotation's \
         delivery to a warm release webhook bootstrap with {} ms per Heroku call, the largest \
         item of the app's DynamoDB partition after it (sized by DynamoDB's rules), and the \
         first project's status (the status route's code, in process, 5 ms per AWS call).\n",
        plan.projects,
        plan.env_vars,
        plan.create_budget.as_secs(),
        plan.heroku_ms
    );
    let verdict = |ok: bool| if ok { "met" } else { "**MISSED**" };
    let _ = writeln!(s, "| | figure | target |\n|---|---|---|");
    let _ = writeln!(
        s,
        "| links created | {} of {} in {:.0} s ({} tried again after a 503){} | all: {} |",
        r.created,
        r.wanted,
        r.create_s,
        r.retried,
        r.stopped
            .as_ref()
            .map(|w| format!(" (stopped: {w})"))
            .unwrap_or_default(),
        verdict(r.created == r.wanted)
    );
    let _ = writeln!(
        s,
        "| largest item of the app's partition | {:.1} KiB (of {} items) | ≤ 64 KiB: {} |",
        r.item_bytes as f64 / 1024.0,
        r.items,
        verdict(r.item_bytes <= ITEM_TARGET_BYTES)
    );
    let _ = writeln!(
        s,
        "| one rotation's delivery | {:.0} ms, answered {}, {} of {} env vars written; {} AWS calls ({}), {} Heroku | within 15 s: {} |",
        r.delivery_ms,
        r.delivery_status
            .map_or("nothing".into(), |s| s.to_string()),
        r.written,
        r.created,
        calls,
        r.delivery_aws
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        r.delivery_heroku,
        verdict(r.delivery_ms < 15_000.0)
    );
    let _ = writeln!(
        s,
        "| status of a project with {} links | {:.1} ms, {} AWS calls | one call: {} |\n",
        r.status_links,
        r.status_ms,
        r.status_calls,
        verdict(r.status_calls <= 1)
    );
    let _ = writeln!(
        s,
        "An app record is a header item plus one item per link in the app's partition \
         (`shared/src/adapters/dynamo_apps.rs`): the webhook reads it with one Query (a page \
         per MB), a save writes the header and the links it changed, in one transaction up to \
         98 links and fenced transactions of 100 above. A project's status reads its \
         partition (integration and directory, one Query), then on each of its apps two Queries \
         at once, the header and check mark (`APP` to `CHECK`) and only the project's own \
         link items (`begins_with LINK#{{project}}/`): three calls in two round trips for a \
         project on one app, all strongly consistent, and an app shared by many projects is \
         not read whole for one project's status. One call would need the links' status \
         copied into the project's partition by every sync, or an index read that can be \
         stale (a link shown active after its opt-out answered, against docs/contract.md's \
         \"status never claims more than is true\").\n"
    );
}
