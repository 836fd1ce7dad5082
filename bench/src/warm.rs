//! Warm latency: one webhook process, kept warm, handed deliveries one at a time. Three
//! kinds per iteration — a rotation (syncs), a code deploy (nothing changed), and the
//! rotation's delivery again (a duplicate) — at each injected delay, in alternating
//! blocks so drift on this shared machine hits every delay alike. Between blocks the same
//! remote operations are timed bare (see `raw`), giving the stack's own per-call latency
//! in the same run.

use crate::instance::Instance;
use crate::raw::{Op, Raw};
use crate::runtime::RuntimeApi;
use crate::stack::{Linked, Stack, webhook_event};
use crate::stats::ms;
use fake_heroku::HeldDelivery;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Sync,
    Unchanged,
    Duplicate,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Sync, Kind::Unchanged, Kind::Duplicate];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Sync => "sync (value changed)",
            Kind::Unchanged => "nothing changed (code deploy)",
            Kind::Duplicate => "duplicate delivery",
        }
    }

    /// The remote calls the README says this path makes in a warm container.
    pub fn path(self) -> &'static [Op] {
        match self {
            Kind::Sync => &[
                Op::GetItem,
                Op::ConfigVars,
                Op::PutItem,
                Op::PutSecretValue,
                Op::PutItem,
                Op::PutEvents,
            ],
            Kind::Unchanged => &[Op::GetItem, Op::ConfigVars, Op::PutItem],
            Kind::Duplicate => &[Op::GetItem],
        }
    }
}

/// Every invocation of one kind at one delay.
#[derive(Debug, Default, Clone)]
pub struct Series {
    /// Event received to response posted (the function's own time).
    pub handler: Vec<f64>,
    /// Queued at the Runtime API to response posted (adds the `/next` hand-off).
    pub end_to_end: Vec<f64>,
    /// Remote calls per invocation (AWS + Heroku).
    pub calls: Vec<usize>,
    pub aws_by_op: BTreeMap<String, usize>,
    pub heroku: usize,
    pub bad_status: usize,
    /// The process's CPU time per invocation (all threads), and its time runnable but
    /// waiting for a CPU.
    pub cpu: Vec<f64>,
    pub waiting: Vec<f64>,
}

#[derive(Debug, Default)]
pub struct WarmRun {
    pub delays_ms: Vec<u64>,
    pub series: BTreeMap<(u64, Kind), Series>,
    /// Bare per-operation latency at each delay.
    pub raw: BTreeMap<(u64, Op), Vec<f64>>,
    pub peak_rss_kib: Option<u64>,
    pub log_bytes_per_invocation: f64,
    /// The Python/boto3 handler (`bench/python/bootstrap.py`) measured the same way, at
    /// the largest delay: what the issue compares our CPU time per sync with.
    pub baseline: BTreeMap<Kind, Series>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub delays_ms: Vec<u64>,
    pub rounds: usize,
    pub per_round: usize,
    pub raw_per_round: usize,
    /// Record a `perf` profile of the warm process into this file (profiling aid).
    pub perf: Option<std::path::PathBuf>,
    /// Iterations of the Python baseline after its warm-up (0: not run).
    pub baseline: usize,
}

pub async fn run(
    stack: &Stack,
    bin: &Path,
    probe: &Linked,
    plan: &Plan,
) -> Result<WarmRun, String> {
    let mut out = WarmRun {
        delays_ms: plan.delays_ms.clone(),
        ..WarmRun::default()
    };
    let key_id = stack
        .config
        .signing_key_id()
        .map_err(|e| e.to_string())?
        .to_owned();
    let mut raw = Raw::new(
        &stack.aws_https.url(),
        &stack.heroku_https.url(),
        &stack.pki.ca_pem,
        probe,
        &key_id,
    )?;
    raw.prepare().await?;

    let rt = RuntimeApi::start()
        .await
        .map_err(|e| format!("runtime API: {e}"))?;
    let inst = Instance::spawn(bin, &stack.lambda_env(&rt, "webhook"), true)
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    rt.wait_polls(1, Duration::from_secs(30)).await?;
    let mut f = Function {
        rt: &rt,
        inst: &inst,
        polls: 1,
    };

    // Warm-up: the cold reads (signing key, token), connections, allocator growth.
    stack.set_delay(Duration::ZERO);
    for _ in 0..10 {
        iteration(stack, &mut f, probe, Some(&mut raw)).await?;
    }

    // perf attached after warm-up, so the profile is the steady state alone.
    let perf = match &plan.perf {
        Some(path) => Some(
            std::process::Command::new("perf")
                .args(["record", "-F", "4999", "-g", "-o"])
                .arg(path)
                .args(["-p", &inst.pid().to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| format!("perf: {e}"))?,
        ),
        None => None,
    };
    let logs_before = inst.log_bytes();
    let mut invocations = 0usize;
    for round in 0..plan.rounds {
        let mut delays = plan.delays_ms.clone();
        if round % 2 == 1 {
            delays.reverse();
        }
        for &d in &delays {
            stack.set_delay(Duration::from_millis(d));
            for _ in 0..plan.raw_per_round {
                for op in Op::ALL {
                    let t = raw.time(op).await?;
                    out.raw.entry((d, op)).or_default().push(ms(t));
                }
            }
            for _ in 0..plan.per_round {
                for (kind, sample) in iteration(stack, &mut f, probe, Some(&mut raw)).await? {
                    out.series.entry((d, kind)).or_default().add(sample);
                    invocations += 1;
                }
            }
        }
    }
    stack.set_delay(Duration::ZERO);
    // Let the pipe readers catch up before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    out.log_bytes_per_invocation =
        (inst.log_bytes() - logs_before) as f64 / invocations.max(1) as f64;
    if let Some(mut perf) = perf {
        // SIGINT: perf writes its file and exits.
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        unsafe { libc::kill(perf.id() as i32, libc::SIGINT) };
        let _ = perf.wait();
    }
    out.peak_rss_kib = inst.stop();
    Ok(out)
}

/// The Python 3 / boto3 handler doing the same sync (`bench/python/bootstrap.py`, with the
/// repository's virtualenv), warmed up as ours is, then `plan.baseline` iterations at
/// `delay_ms`: its CPU time per invocation beside ours. A wrong answer fails the bench
/// as ours would (`verdict`).
pub async fn run_baseline(
    stack: &Stack,
    probe: &Linked,
    plan: &Plan,
    delay_ms: u64,
) -> Result<BTreeMap<Kind, Series>, String> {
    let python = Path::new(".venv/bin/python");
    let script = Path::new("bench/python/bootstrap.py");
    if !python.exists() || !script.exists() {
        return Err(
            "the Python baseline needs .venv/bin/python (make's venv) and \
                    bench/python/bootstrap.py; run the bench from the repository root"
                .into(),
        );
    }
    let rt = RuntimeApi::start()
        .await
        .map_err(|e| format!("runtime API: {e}"))?;
    let mut env = stack.lambda_env(&rt, "python-baseline");
    for (k, v) in &mut env {
        if k == "AWS_EXECUTION_ENV" {
            *v = "AWS_Lambda_python3.11".into();
        }
    }
    let inst = Instance::spawn_with(python, &[script], &env, true)
        .map_err(|e| format!("cannot start the Python baseline: {e}"))?;
    rt.wait_polls(1, Duration::from_secs(60)).await?;
    let mut f = Function {
        rt: &rt,
        inst: &inst,
        polls: 1,
    };
    stack.set_delay(Duration::ZERO);
    for _ in 0..10 {
        iteration(stack, &mut f, probe, None).await?;
    }
    stack.set_delay(Duration::from_millis(delay_ms));
    let mut out: BTreeMap<Kind, Series> = BTreeMap::new();
    for _ in 0..plan.baseline {
        for (kind, sample) in iteration(stack, &mut f, probe, None).await? {
            out.entry(kind).or_default().add(sample);
        }
    }
    stack.set_delay(Duration::ZERO);
    inst.stop();
    Ok(out)
}

/// One invocation as measured.
struct Sample {
    handler: f64,
    end_to_end: f64,
    aws: BTreeMap<String, usize>,
    heroku: usize,
    ok: bool,
    cpu: f64,
    waiting: f64,
}

impl Series {
    fn add(&mut self, s: Sample) {
        self.handler.push(s.handler);
        self.end_to_end.push(s.end_to_end);
        self.calls.push(s.aws.values().sum::<usize>() + s.heroku);
        for (op, c) in s.aws {
            *self.aws_by_op.entry(op).or_default() += c;
        }
        self.heroku += s.heroku;
        if !s.ok {
            self.bad_status += 1;
        }
        self.cpu.push(s.cpu);
        self.waiting.push(s.waiting);
    }
}

/// One rotation, one deploy, and the rotation's delivery again.
async fn iteration(
    stack: &Stack,
    f: &mut Function<'_>,
    probe: &Linked,
    raw: Option<&mut Raw>,
) -> Result<[(Kind, Sample); 3], String> {
    let rotation = stack.rotate(&probe.app)?;
    if let Some(raw) = raw {
        raw.version = rotation.version;
    }
    let sync = measure(stack, f, &rotation).await?;
    let deploy = stack.deploy(&probe.app)?;
    let unchanged = measure(stack, f, &deploy).await?;
    let duplicate = measure(stack, f, &rotation).await?;
    Ok([
        (Kind::Sync, sync),
        (Kind::Unchanged, unchanged),
        (Kind::Duplicate, duplicate),
    ])
}

/// The warm process and its Runtime API, with the polls seen so far.
struct Function<'a> {
    rt: &'a RuntimeApi,
    inst: &'a Instance,
    polls: usize,
}

async fn measure(
    stack: &Stack,
    f: &mut Function<'_>,
    held: &HeldDelivery,
) -> Result<Sample, String> {
    let event = webhook_event(held, &uuid::Uuid::new_v4().to_string());
    stack.proxy.reset_calls();
    stack.heroku.reset_request_log();
    let before = f.inst.cpu();
    let o = f.rt.call(event, Duration::from_secs(30)).await?;
    // Idle again (polling) before reading its CPU time: the post-response work counts.
    f.polls += 1;
    f.rt.wait_polls(f.polls, Duration::from_secs(30)).await?;
    let (cpu, waiting) = f.inst.cpu().since(before);
    Ok(Sample {
        cpu,
        waiting,
        handler: ms(o.handler()),
        end_to_end: ms(o.finished - o.enqueued),
        aws: stack.proxy.calls(),
        heroku: stack.heroku.requests().len(),
        ok: !o.error && o.status() == Some(204),
    })
}
