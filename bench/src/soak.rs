//! The soak (issue 10): many rotations over a few apps while a seeded share of every
//! Heroku call and every AWS call fails — some AWS calls after moto applied them, as a
//! call that timed out after succeeding — with deliveries retried as Heroku's `sync`
//! level retries them (and some sent twice). Every secret is watched throughout: the fault
//! proxy records each `PutSecretValue` moto applied, in the order it applied them, so a
//! value moving back to an older release's is seen even if it is fixed a moment later.
//! The storm variant redelivers one to two seconds after a failure, and redelivers an
//! attempt not answered within 10 s while it still runs (Heroku's retries of a slow
//! endpoint): its calls must stay bounded.

use crate::instance::Instance;
use crate::runtime::RuntimeApi;
use crate::stack::{CONFIG_VAR, ENV_VAR, Linked, Stack, webhook_event};
use axum::body::Bytes;
use fake_heroku::{Fault, HeldDelivery};
use local::proxy::Flaky;
use serde_json::Value;
use shared::domain::AppId;
use shared::ports::AppStore;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Plan {
    pub apps: usize,
    pub rotations: usize,
    /// Lambda instances serving the deliveries.
    pub instances: usize,
    /// Share of Heroku API calls answered 503.
    pub heroku_fail: f64,
    /// Share of AWS calls that fail, and the share of those applied before failing.
    pub aws_fail: f64,
    pub aws_landed: f64,
    /// Share of deliveries Heroku sends twice (at-least-once).
    pub duplicated: f64,
    /// Pause between waves of rotations (one per app).
    pub wave_pause: Duration,
    pub seed: u64,
    /// How long the run may take to converge before it counts as never converging.
    pub deadline: Duration,
}

impl Plan {
    pub fn full() -> Plan {
        Plan {
            apps: 20,
            rotations: 1_000,
            instances: 20,
            heroku_fail: 0.2,
            aws_fail: 0.2,
            aws_landed: 0.25,
            duplicated: 0.1,
            wave_pause: Duration::from_secs(1),
            seed: 0x50A4,
            deadline: Duration::from_secs(600),
        }
    }

    pub fn quick() -> Plan {
        Plan {
            apps: 5,
            rotations: 60,
            instances: 4,
            wave_pause: Duration::from_millis(250),
            ..Plan::full()
        }
    }
}

/// How failed deliveries come back. Either way an attempt not answered within Heroku's
/// patience counts as failed and the delivery comes back while it still runs (it is
/// queued behind others, as behind a slow emulator): its cost counts when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redelivery {
    /// Not answered 2xx within 30 s: back after 250 ms, doubling to 8 s — Heroku's
    /// `sync` level, its hours scaled down to seconds.
    Backoff,
    /// Not answered 2xx within 10 s: back after 1 to 2 s, every time.
    Storm,
}

impl Redelivery {
    pub fn name(self) -> &'static str {
        match self {
            Redelivery::Backoff => "soak",
            Redelivery::Storm => "storm",
        }
    }

    fn patience(self) -> Duration {
        match self {
            Redelivery::Backoff => Duration::from_secs(30),
            Redelivery::Storm => Duration::from_secs(10),
        }
    }

    /// The pause before the `k`-th redelivery (from 1).
    fn pause(self, k: u32, jitter: f64) -> Duration {
        match self {
            Redelivery::Backoff => Duration::from_millis(250 << (k - 1).min(5)),
            Redelivery::Storm => Duration::from_millis(1_000 + (jitter * 1_000.0) as u64),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct SoakRun {
    pub variant: &'static str,
    pub apps: usize,
    pub rotations: usize,
    /// Distinct deliveries, and the ones sent twice.
    pub deliveries: usize,
    pub duplicates: usize,
    /// Every invocation, first tries and redeliveries.
    pub attempts: usize,
    pub redeliveries: usize,
    /// Answers by status ("error": the function failed), every attempt's in the end.
    pub answers: BTreeMap<String, usize>,
    /// Attempts Heroku gave up waiting for (answered later, counted in `answers` too).
    pub timed_out: usize,
    pub heroku_calls: usize,
    pub heroku_failed: usize,
    pub aws_calls: usize,
    pub aws_refused: usize,
    pub aws_landed: usize,
    pub secret_writes: usize,
    pub converged: usize,
    pub links_behind: usize,
    /// Applied writes that moved a secret to an older release's value than one it held.
    pub went_back: usize,
    pub went_back_examples: Vec<String>,
    /// Applied writes of a value that is no release's (must be none: the watcher is blind
    /// otherwise), and secrets whose last applied write is not what they hold.
    pub unknown_values: usize,
    pub watcher_mismatch: usize,
    /// Watched secrets with no applied write at all (every env var is rotated, so each
    /// must have some): the watcher would be blind to them.
    pub unwatched: usize,
    pub wall_s: f64,
    /// Set when the run could not finish (deliveries still failing at the deadline).
    pub error: Option<String>,
}

/// Deterministic draws for the bench's own choices (duplicates, jitter).
fn draw(seed: u64, n: u64) -> f64 {
    fake_heroku::Rate::uniform(seed, n)
}

/// The delivery's invocations until one answers 2xx, then every attempt still running;
/// returns (attempts, timed out, answers).
async fn deliver(
    rt: Arc<RuntimeApi>,
    event: Bytes,
    mode: Redelivery,
    deadline: Instant,
    jitter_seed: u64,
) -> Result<(usize, usize, Vec<String>), String> {
    let label = |o: &crate::runtime::Outcome| match (o.error, o.status()) {
        (true, _) => "error".to_owned(),
        (false, Some(s)) => s.to_string(),
        (false, None) => "?".to_owned(),
    };
    let mut answers = Vec::new();
    let mut running = tokio::task::JoinSet::new();
    let mut attempts = 0u32;
    let mut timed_out = 0;
    'delivery: loop {
        attempts += 1;
        running.spawn(rt.invoke(event.clone()));
        let patience = tokio::time::sleep(mode.patience());
        tokio::pin!(patience);
        // Wait for this attempt (or an earlier one still running) until patience ends.
        loop {
            tokio::select! {
                _ = &mut patience => {
                    timed_out += 1;
                    break;
                }
                Some(joined) = running.join_next() => {
                    let o = joined
                        .map_err(|e| e.to_string())?
                        .map_err(|_| "dropped by the emulator".to_owned())?;
                    answers.push(label(&o));
                    if !o.error && o.status().is_some_and(|s| (200..300).contains(&s)) {
                        break 'delivery;
                    }
                    if running.is_empty() {
                        break;
                    }
                }
            }
        }
        if Instant::now() > deadline {
            return Err(format!("still failing after {attempts} attempts"));
        }
        tokio::time::sleep(mode.pause(attempts, draw(jitter_seed, u64::from(attempts)))).await;
    }
    while let Some(joined) = running.join_next().await {
        if let Ok(Ok(o)) = joined {
            answers.push(label(&o));
        }
    }
    Ok((attempts as usize, timed_out, answers))
}

pub async fn run(
    stack: &Stack,
    bin: &Path,
    links: &[Linked],
    plan: &Plan,
    mode: Redelivery,
) -> Result<SoakRun, String> {
    let mut out = SoakRun {
        variant: mode.name(),
        apps: links.len(),
        ..SoakRun::default()
    };
    stack.set_delay(Duration::from_millis(5));
    let mut scale = Scale::default();
    let mut newest: HashMap<String, u64> = HashMap::new();
    for l in links {
        let v = stack
            .heroku
            .config_var(&l.app, CONFIG_VAR)
            .ok_or("a linked app has no DATABASE_URL")?;
        scale.add(&l.app.id, v);
        scale.secret_app.insert(
            stack.svc.names.env_var(&l.project, ENV_VAR),
            l.app.id.clone(),
        );
    }

    let rt = Arc::new(
        RuntimeApi::start()
            .await
            .map_err(|e| format!("runtime API: {e}"))?,
    );
    let env = stack.lambda_env(&rt, "webhook");
    let mut instances = Vec::with_capacity(plan.instances);
    for _ in 0..plan.instances {
        instances.push(
            Instance::spawn(bin, &env, false)
                .map_err(|e| format!("cannot start {}: {e}", bin.display()))?,
        );
    }
    rt.wait_polls(plan.instances, Duration::from_secs(60))
        .await?;

    stack.proxy.reset_calls();
    stack.proxy.record("PutSecretValue");
    stack.heroku.reset_request_log();
    stack.proxy.set_flaky(Some(Flaky {
        share: plan.aws_fail,
        landed: plan.aws_landed,
        seed: plan.seed,
    }));
    let fault = stack
        .heroku
        .inject(Fault::status("/", 503).rate(plan.heroku_fail, plan.seed));

    let started = Instant::now();
    let deadline = started + plan.deadline;
    let mut tasks = tokio::task::JoinSet::new();
    let mut n = 0u64;
    let mut rotated = 0;
    'waves: loop {
        for l in links {
            if rotated == plan.rotations {
                break 'waves;
            }
            rotated += 1;
            let held: HeldDelivery = stack.rotate(&l.app)?;
            newest.insert(l.app.id.clone(), held.version);
            let v = stack
                .heroku
                .config_var(&l.app, CONFIG_VAR)
                .ok_or("a rotated app has no DATABASE_URL")?;
            scale.add(&l.app.id, v);
            let event = webhook_event(&held, &format!("soak-{n}"));
            n += 1;
            let copies = if draw(plan.seed ^ 0xD0B1, n) < plan.duplicated {
                2
            } else {
                1
            };
            out.deliveries += 1;
            out.duplicates += copies - 1;
            for c in 0..copies {
                let rt = rt.clone();
                let event = event.clone();
                let jitter = plan.seed ^ n << 2 ^ c as u64;
                tasks.spawn(async move {
                    if c > 0 {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    deliver(rt, event, mode, deadline, jitter).await
                });
            }
        }
        tokio::time::sleep(plan.wave_pause).await;
    }
    out.rotations = rotated;
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| e.to_string())? {
            Ok((attempts, timed_out, answers)) => {
                out.attempts += attempts;
                out.timed_out += timed_out;
                for a in answers {
                    *out.answers.entry(a).or_default() += 1;
                }
            }
            Err(e) => {
                out.error.get_or_insert(e);
            }
        }
    }
    out.wall_s = started.elapsed().as_secs_f64();
    out.redeliveries = out.attempts - out.deliveries - out.duplicates;
    stack.proxy.set_flaky(None);
    stack.heroku.clear_fault(fault);
    stack.set_delay(Duration::ZERO);
    let counts = stack.proxy.flaky_counts();
    out.aws_calls = stack.proxy.total_calls();
    out.aws_refused = counts.refused;
    out.aws_landed = counts.landed;
    let requests = stack.heroku.requests();
    out.heroku_calls = requests.len();
    out.heroku_failed = requests.iter().filter(|r| r.status == 503).count();
    for inst in instances {
        inst.stop();
    }
    drop(rt);

    let watched = watch(&stack.proxy.applied(), &scale)?;
    out.secret_writes = watched.writes;
    out.went_back = watched.went_back;
    out.went_back_examples = watched.examples;
    out.unknown_values = watched.unknown;
    for l in links {
        let want = stack.heroku.config_var(&l.app, CONFIG_VAR);
        let have = stack.env_value(&l.project).await;
        if have.is_some() && have == want {
            out.converged += 1;
        }
        let secret = stack.svc.names.env_var(&l.project, ENV_VAR);
        match watched.last.get(&secret) {
            None => out.unwatched += 1,
            Some(last) if Some(last) != have.as_ref() => out.watcher_mismatch += 1,
            Some(_) => {}
        }
        let app_id = AppId::parse(&l.app.id).map_err(|e| e.to_string())?;
        let newest = newest.get(&l.app.id).copied();
        let record = stack
            .direct_store
            .load_app(&app_id)
            .await
            .map_err(|e| e.to_string())?;
        let at = record.and_then(|r| r.links.values().next().and_then(|k| k.last_release_version));
        if at < newest {
            out.links_behind += 1;
        }
    }
    Ok(out)
}

/// Every value each app's config var has held, numbered from the oldest, and each
/// watched secret's app: the scale the watcher reads writes on.
#[derive(Debug, Default)]
struct Scale {
    by_value: HashMap<String, (String, usize)>,
    held: HashMap<String, usize>,
    secret_app: HashMap<String, String>,
}

impl Scale {
    fn add(&mut self, app: &str, value: String) {
        let n = self.held.entry(app.to_owned()).or_default();
        self.by_value.insert(value, (app.to_owned(), *n));
        *n += 1;
    }
}

/// What the applied writes show, in moto's order.
#[derive(Debug, Default)]
struct Watched {
    writes: usize,
    /// Writes of an older value than one the secret already held.
    went_back: usize,
    examples: Vec<String>,
    /// Writes of a value that is not one of the secret's app's.
    unknown: usize,
    /// Each secret's last applied value.
    last: HashMap<String, String>,
}

fn watch(applied: &[(String, Bytes)], scale: &Scale) -> Result<Watched, String> {
    let mut w = Watched::default();
    let mut highest: HashMap<String, usize> = HashMap::new();
    for (_, body) in applied {
        let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let (Some(secret), Some(value)) = (v["SecretId"].as_str(), v["SecretString"].as_str())
        else {
            continue;
        };
        let Some(app) = scale.secret_app.get(secret) else {
            continue;
        };
        w.writes += 1;
        w.last.insert(secret.to_owned(), value.to_owned());
        let index = match scale.by_value.get(value) {
            Some((a, i)) if a == app => *i,
            _ => {
                w.unknown += 1;
                continue;
            }
        };
        match highest.get(secret) {
            Some(&top) if index < top => {
                w.went_back += 1;
                if w.examples.len() < 5 {
                    w.examples
                        .push(format!("{secret}: value #{index} written after #{top}"));
                }
            }
            _ => {
                highest.insert(secret.to_owned(), index);
            }
        }
    }
    Ok(w)
}

/// A rotation needs one config-vars read; 503s (a fifth, retried) and a token read on a
/// container's first use add to it. More means deliveries redo Heroku work another
/// delivery already did.
pub const HEROKU_CALLS_PER_ROTATION_MAX: f64 = 2.0;
/// A sync is six AWS calls; the SDK's retries of a fifth failing add a quarter; a
/// duplicate or a redelivery whose release is synced, or being synced by another
/// delivery, costs one read. Five syncs' worth per rotation means redeliveries redo work:
/// the storm that never converged (issue 10, item 14) grew without any bound.
pub const AWS_CALLS_PER_ROTATION_MAX: f64 = 30.0;

fn per(n: usize, d: usize) -> f64 {
    n as f64 / d.max(1) as f64
}

/// What makes the bench fail.
pub fn wrong(runs: &[SoakRun]) -> Vec<String> {
    let mut w = Vec::new();
    for r in runs {
        let v = r.variant;
        let heroku = per(r.heroku_calls, r.rotations);
        if heroku > HEROKU_CALLS_PER_ROTATION_MAX {
            w.push(format!(
                "{v}: {heroku:.2} Heroku calls per rotation (bound {HEROKU_CALLS_PER_ROTATION_MAX})"
            ));
        }
        let aws = per(r.aws_calls, r.rotations);
        if aws > AWS_CALLS_PER_ROTATION_MAX {
            w.push(format!(
                "{v}: {aws:.2} AWS calls per rotation (bound {AWS_CALLS_PER_ROTATION_MAX})"
            ));
        }
        if let Some(e) = &r.error {
            w.push(format!("{v}: a delivery never succeeded: {e}"));
        }
        if r.converged != r.apps {
            w.push(format!(
                "{v}: {} of {} env vars not at their newest value",
                r.apps - r.converged,
                r.apps
            ));
        }
        if r.links_behind > 0 {
            w.push(format!(
                "{v}: {} links behind their newest release",
                r.links_behind
            ));
        }
        if r.went_back > 0 {
            w.push(format!(
                "{v}: {} writes moved a secret back ({})",
                r.went_back,
                r.went_back_examples.join("; ")
            ));
        }
        if r.unknown_values > 0 || r.watcher_mismatch > 0 {
            w.push(format!(
                "{v}: the watcher lost track ({} unknown values, {} secrets whose last write is not their value)",
                r.unknown_values, r.watcher_mismatch
            ));
        }
        if r.unwatched > 0 {
            w.push(format!(
                "{v}: {} secrets had no write the watcher saw",
                r.unwatched
            ));
        }
    }
    w
}

pub fn render(s: &mut String, runs: &[SoakRun], plan: &Plan) {
    let _ = writeln!(s, "## 6. Soak: rotations under failing Heroku and AWS\n");
    if runs.is_empty() {
        let _ = writeln!(s, "Not run.\n");
        return;
    }
    let _ = writeln!(
        s,
        "{} rotations over {} apps (a wave rotates every app once, every {} ms) served by {} \
         webhook bootstraps, while {:.0} % of Heroku API calls answer 503 and {:.0} % of AWS \
         calls fail ({:.0} % of those after moto applied them: a call that timed out after \
         succeeding). {:.0} % of deliveries are sent twice. Faults are drawn from seeded \
         sequences (seed {:#x}). Every `PutSecretValue` moto applied is recorded in order, so \
         a secret moving back to an older release's value is seen even if a later write \
         fixes it. **soak**: a delivery answered other than 2xx (or not within 30 s) comes \
         back after 250 ms, doubling to 8 s (Heroku's `sync` retries, scaled down). \
         **storm**: a failed delivery comes back after 1–2 s, and an attempt not answered \
         within 10 s is redelivered while it still runs.\n",
        plan.rotations,
        plan.apps,
        plan.wave_pause.as_millis(),
        plan.instances,
        plan.heroku_fail * 100.0,
        plan.aws_fail * 100.0,
        plan.aws_landed * 100.0,
        plan.duplicated * 100.0,
        plan.seed,
    );
    let _ = writeln!(
        s,
        "| | {} |\n|---|{}",
        runs.iter()
            .map(|r| r.variant)
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(runs.len())
    );
    let row = |s: &mut String, name: &str, f: &dyn Fn(&SoakRun) -> String| {
        let _ = writeln!(
            s,
            "| {name} | {} |",
            runs.iter().map(f).collect::<Vec<_>>().join(" | ")
        );
    };
    row(s, "env vars converged", &|r| {
        format!("{} of {}", r.converged, r.apps)
    });
    row(s, "writes that moved a secret back", &|r| {
        r.went_back.to_string()
    });
    row(s, "links behind their newest release", &|r| {
        r.links_behind.to_string()
    });
    row(s, "rotations / deliveries (+ sent twice)", &|r| {
        format!("{} / {} (+{})", r.rotations, r.deliveries, r.duplicates)
    });
    row(s, "attempts (redeliveries)", &|r| {
        format!("{} ({})", r.attempts, r.redeliveries)
    });
    row(s, "answers", &|r| {
        r.answers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    row(s, "attempts Heroku stopped waiting for", &|r| {
        r.timed_out.to_string()
    });
    row(s, "Heroku calls (503 injected)", &|r| {
        format!("{} ({})", r.heroku_calls, r.heroku_failed)
    });
    row(s, "Heroku calls per rotation", &|r| {
        format!("{:.2}", per(r.heroku_calls, r.rotations))
    });
    row(s, "AWS calls (failed before / after moto)", &|r| {
        format!("{} ({} / {})", r.aws_calls, r.aws_refused, r.aws_landed)
    });
    row(s, "AWS calls per rotation / per attempt", &|r| {
        format!(
            "{:.2} / {:.2}",
            per(r.aws_calls, r.rotations),
            per(r.aws_calls, r.attempts)
        )
    });
    row(s, "secret writes applied", &|r| r.secret_writes.to_string());
    row(s, "wall time, s", &|r| format!("{:.1}", r.wall_s));
    let _ = writeln!(
        s,
        "\nThe run fails if an env var or link is not at its newest release at the end, a \
         write moved a secret back, the watcher lost track of a value, a delivery never \
         succeeded, or a run made more than {HEROKU_CALLS_PER_ROTATION_MAX} Heroku calls \
         or {AWS_CALLS_PER_ROTATION_MAX} AWS calls per rotation (a sync is one and six; a \
         redelivery whose release is synced or being synced costs one read): the calls must \
         not grow with the redeliveries.\n"
    );
}

pub fn summary(runs: &[SoakRun]) -> Option<String> {
    if runs.is_empty() {
        return None;
    }
    Some(
        runs.iter()
            .map(|r| {
                format!(
                    "{}: {} rotations, {} of {} env vars converged, {} values went back, {:.2} Heroku calls per rotation",
                    r.variant,
                    r.rotations,
                    r.converged,
                    r.apps,
                    r.went_back,
                    r.heroku_calls as f64 / r.rotations.max(1) as f64
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(secret: &str, value: &str) -> (String, Bytes) {
        let body = serde_json::json!({"SecretId": secret, "SecretString": value});
        ("PutSecretValue".to_owned(), Bytes::from(body.to_string()))
    }

    fn scale() -> Scale {
        let mut s = Scale::default();
        for v in ["a0", "a1", "a2"] {
            s.add("app-a", v.to_owned());
        }
        s.add("app-b", "b0".to_owned());
        s.secret_app.insert("sa".into(), "app-a".into());
        s.secret_app.insert("sb".into(), "app-b".into());
        s
    }

    #[test]
    fn a_secret_written_with_an_older_value_than_it_held_is_seen_even_if_fixed_later() {
        let log = [
            put("sa", "a0"),
            put("sa", "a2"),
            put("sa", "a1"),
            put("sa", "a2"),
            put("other", "x"),
        ];
        let w = watch(&log, &scale()).unwrap();
        assert_eq!((w.writes, w.went_back, w.unknown), (4, 1, 0));
        assert_eq!(w.last["sa"], "a2");
        assert!(
            w.examples[0].contains("#1 written after #2"),
            "{:?}",
            w.examples
        );
    }

    #[test]
    fn writes_in_order_or_repeated_are_fine_and_another_apps_value_is_unknown() {
        let log = [
            put("sa", "a1"),
            put("sa", "a1"),
            put("sa", "a2"),
            put("sb", "a2"),
        ];
        let w = watch(&log, &scale()).unwrap();
        assert_eq!((w.writes, w.went_back, w.unknown), (4, 0, 1));
    }

    #[test]
    fn storm_redelivers_every_one_to_two_seconds_and_backoff_doubles_to_eight() {
        assert_eq!(
            Redelivery::Backoff.pause(1, 0.5),
            Duration::from_millis(250)
        );
        assert_eq!(
            Redelivery::Backoff.pause(3, 0.5),
            Duration::from_millis(1_000)
        );
        assert_eq!(
            Redelivery::Backoff.pause(40, 0.5),
            Duration::from_millis(8_000)
        );
        assert_eq!(Redelivery::Storm.pause(9, 0.0), Duration::from_secs(1));
        assert!(Redelivery::Storm.pause(9, 0.999) < Duration::from_secs(2));
    }
}
