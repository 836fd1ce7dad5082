//! Bursts: every linked app rotated several times, the deliveries shuffled (so many
//! arrive after a newer one), all queued at once and served by N bootstrap processes
//! polling one Runtime API, as N Lambda instances would. A delivery answered 5xx is
//! queued again after a pause, as Heroku redelivers `sync` webhooks. At the end every
//! env var must hold its app's newest `DATABASE_URL`.

use crate::instance::{Cpu, Instance};
use crate::runtime::RuntimeApi;
use crate::stack::{CONFIG_VAR, Linked, Stack, webhook_event};
use crate::stats::ms;
use shared::domain::AppId;
use shared::ports::AppStore;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct BurstRun {
    pub delay_ms: u64,
    pub concurrency: usize,
    pub deliveries: usize,
    pub wall: f64,
    /// Event received to response posted, per delivery (the last attempt).
    pub handler: Vec<f64>,
    /// Queued to answered 2xx, redeliveries included.
    pub end_to_end: Vec<f64>,
    pub redeliveries: usize,
    /// Deliveries that would sync if handled one by one in queue order.
    pub syncs_in_order: usize,
    pub aws_by_op: BTreeMap<String, usize>,
    pub heroku: usize,
    /// Env vars not equal to their app's newest value, and links not at its newest release.
    pub wrong_values: usize,
    pub behind: usize,
    pub peak_rss_kib: Vec<u64>,
    /// CPU time and run-queue wait of every instance together during the burst, ms.
    pub cpu_ms: f64,
    pub waiting_ms: f64,
}

/// A small deterministic shuffle (xorshift64*), so every run sees the same order.
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut x = seed.max(1);
    for i in (1..v.len()).rev() {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        v.swap(i, (r % (i as u64 + 1)) as usize);
    }
}

pub async fn run(
    stack: &Stack,
    bin: &Path,
    links: &[Linked],
    rotations: usize,
    concurrency: usize,
    delay_ms: u64,
) -> Result<BurstRun, String> {
    stack.set_delay(Duration::ZERO);
    let mut held = Vec::with_capacity(links.len() * rotations);
    for _ in 0..rotations {
        for l in links {
            held.push(stack.rotate(&l.app)?);
        }
    }
    shuffle(
        &mut held,
        0x9E37_79B9 ^ (concurrency as u64) << 8 ^ delay_ms,
    );
    // Deliveries that are the newest seen so far for their app, in queue order: what a
    // single sequential handler would sync; every other one is stale (one read).
    let mut newest: HashMap<&str, u64> = HashMap::new();
    let mut syncs_in_order = 0;
    for h in &held {
        let seen = newest.entry(h.app_id.as_str()).or_default();
        if h.version > *seen {
            *seen = h.version;
            syncs_in_order += 1;
        }
    }

    let rt = Arc::new(
        RuntimeApi::start()
            .await
            .map_err(|e| format!("runtime API: {e}"))?,
    );
    let env = stack.lambda_env(&rt, "webhook");
    let mut instances = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        instances.push(
            Instance::spawn(bin, &env, false)
                .map_err(|e| format!("cannot start {}: {e}", bin.display()))?,
        );
    }
    // Initialised and polling: the burst measures handling, not process start-up
    // (each instance's first delivery still pays its cold reads).
    rt.wait_polls(concurrency, Duration::from_secs(60)).await?;
    stack.set_delay(Duration::from_millis(delay_ms));
    stack.proxy.reset_calls();
    stack.heroku.reset_request_log();
    let cpu_before: Vec<Cpu> = instances.iter().map(Instance::cpu).collect();

    // Queued here, in order, before any task runs: the queue is exactly the shuffled
    // order (tasks spawned to enqueue would start in whatever order the scheduler picks).
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, h) in held.iter().enumerate() {
        let rt = rt.clone();
        let event = webhook_event(h, &format!("burst-{i}"));
        let queued = Instant::now();
        let first = rt.invoke(event.clone());
        tasks.spawn(async move {
            let mut pending = first;
            let mut redeliveries = 0;
            loop {
                let o = tokio::time::timeout(Duration::from_secs(120), pending)
                    .await
                    .map_err(|_| format!("delivery {i}: no answer within 120 s"))?
                    .map_err(|_| format!("delivery {i}: dropped by the emulator"))?;
                let status = o.status().unwrap_or(0);
                if !o.error && (200..300).contains(&status) {
                    return Ok::<_, String>((o, queued, redeliveries));
                }
                redeliveries += 1;
                if redeliveries > 20 {
                    return Err(format!("delivery {i} kept failing ({status})"));
                }
                // Heroku redelivers a failed `sync` delivery after a pause.
                tokio::time::sleep(Duration::from_millis(100)).await;
                pending = rt.invoke(event.clone());
            }
        });
    }
    let mut out = BurstRun {
        delay_ms,
        concurrency,
        deliveries: held.len(),
        syncs_in_order,
        ..BurstRun::default()
    };
    let mut last = started;
    while let Some(joined) = tasks.join_next().await {
        let (o, queued, redeliveries) = joined.map_err(|e| e.to_string())??;
        out.handler.push(ms(o.handler()));
        out.end_to_end.push(ms(o.finished - queued));
        out.redeliveries += redeliveries;
        last = last.max(o.finished);
    }
    out.wall = ms(last - started);
    for (inst, before) in instances.iter().zip(cpu_before) {
        let (cpu, waiting) = inst.cpu().since(before);
        out.cpu_ms += cpu;
        out.waiting_ms += waiting;
    }
    out.aws_by_op = stack.proxy.calls();
    out.heroku = stack.heroku.requests().len();
    stack.set_delay(Duration::ZERO);

    for inst in instances {
        if let Some(kib) = inst.stop() {
            out.peak_rss_kib.push(kib);
        }
    }
    drop(rt);

    for l in links {
        let want = stack.heroku.config_var(&l.app, CONFIG_VAR);
        if stack.env_value(&l.project).await != want {
            out.wrong_values += 1;
        }
        let newest = newest.get(l.app.id.as_str()).copied().unwrap_or_default();
        let app_id = AppId::parse(&l.app.id).map_err(|e| e.to_string())?;
        let record = stack
            .direct_store
            .load_app(&app_id)
            .await
            .map_err(|e| e.to_string())?;
        let at = record
            .and_then(|r| r.links.values().next().and_then(|k| k.last_release_version))
            .unwrap_or_default();
        if at < newest {
            out.behind += 1;
        }
    }
    Ok(out)
}
