//! Cold starts: one fresh process per start, with its first event already queued, timed
//! from just before `spawn` to its first `GET /invocation/next` (init) and to its first
//! response. No injected delay: the figures are the functions' own start-up cost plus
//! the local stack's intrinsic latency for the first invocation's calls.

use crate::instance::{Cpu, Instance};
use crate::runtime::RuntimeApi;
use crate::stack::Stack;
use crate::stats::ms;
use axum::body::Bytes;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct ColdRun {
    pub function: String,
    /// What the first invocation was.
    pub first: String,
    /// `spawn()` itself (fork/exec as the OS does it).
    pub spawn: Vec<f64>,
    /// Exec to first `/next`.
    pub init: Vec<f64>,
    /// Exec to first response posted.
    pub first_response: Vec<f64>,
    /// First event received to first response posted.
    pub first_handler: Vec<f64>,
    /// CPU time (all threads) up to the first poll, and during the first invocation.
    pub init_cpu: Vec<f64>,
    pub first_cpu: Vec<f64>,
    pub peak_rss_kib: Vec<u64>,
    pub statuses: BTreeMap<u16, usize>,
    /// AWS calls per operation, summed over every start's first invocation.
    pub aws_calls: BTreeMap<String, usize>,
    pub heroku_calls: usize,
}

impl ColdRun {
    pub fn starts(&self) -> usize {
        self.init.len()
    }
}

/// Starts `bin` `n` times; `event` gives each start's first event.
pub async fn run(
    stack: &Stack,
    bin: &Path,
    function: &str,
    first: &str,
    n: usize,
    mut event: impl FnMut(usize) -> Result<Bytes, String>,
) -> Result<ColdRun, String> {
    let mut out = ColdRun {
        function: function.to_owned(),
        first: first.to_owned(),
        ..ColdRun::default()
    };
    stack.set_delay(Duration::ZERO);
    for i in 0..n {
        // A fresh emulator per start: nothing left over from the previous process.
        let rt = RuntimeApi::start()
            .await
            .map_err(|e| format!("runtime API: {e}"))?;
        let ev = event(i)?;
        stack.proxy.reset_calls();
        stack.heroku.reset_request_log();
        let mut inst = Instance::spawn(bin, &stack.lambda_env(&rt, function), false)
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        // The event is queued once the process polls, so its CPU time up to then is
        // init alone. Lambda would have the event waiting; the hand-off is a few µs
        // either way, and the first response is counted as init + queued → answered.
        if let Err(e) = rt.wait_polls(1, Duration::from_secs(30)).await {
            return Err(format!("{function}: {e} (exit: {:?})", inst.exited()));
        }
        let at_init = inst.cpu();
        let outcome = match rt.call(ev, Duration::from_secs(30)).await {
            Ok(o) => o,
            Err(e) => return Err(format!("{function}: {e} (exit: {:?})", inst.exited())),
        };
        // Idle again (polling) before reading: the post-response work counts too.
        rt.wait_polls(2, Duration::from_secs(30)).await?;
        let at_first = inst.cpu();
        let first_poll = *rt.polls().first().ok_or("a response without a poll")?;
        out.spawn.push(ms(inst.spawned - inst.started));
        let init = ms(first_poll - inst.started);
        out.init.push(init);
        out.first_response
            .push(init + ms(outcome.finished - outcome.enqueued));
        out.init_cpu.push(at_init.since(Cpu::default()).0);
        out.first_cpu.push(at_first.since(at_init).0);
        out.first_handler.push(ms(outcome.handler()));
        *out.statuses
            .entry(outcome.status().unwrap_or(0))
            .or_default() += 1;
        for (op, c) in stack.proxy.calls() {
            *out.aws_calls.entry(op).or_default() += c;
        }
        out.heroku_calls += stack.heroku.requests().len();
        if let Some(kib) = inst.stop() {
            out.peak_rss_kib.push(kib);
        }
    }
    Ok(out)
}
