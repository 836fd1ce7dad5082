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
use std::path::{Path, PathBuf};
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
    /// Ours and the straightforward handlers, alternated at the largest delay
    /// ([`compare`]): the Python one is what the issue compares our CPU per sync with.
    pub compared: BTreeMap<Handler, Compared>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub delays_ms: Vec<u64>,
    pub rounds: usize,
    pub per_round: usize,
    pub raw_per_round: usize,
    /// Record a `perf` profile of the warm process into this file (profiling aid).
    pub perf: Option<std::path::PathBuf>,
    /// Rounds of the side-by-side comparison after the warm-ups (0: not run).
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

    let mut f = Function::start(stack, "webhook", bin, &[], None).await?;
    f.warm_up(stack, probe, Some(&mut raw)).await?;

    // perf attached after warm-up, so the profile is the steady state alone.
    let perf = match &plan.perf {
        Some(path) => Some(
            std::process::Command::new("perf")
                .args(["record", "-F", "4999", "-g", "-o"])
                .arg(path)
                .args(["-p", &f.inst.pid().to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| format!("perf: {e}"))?,
        ),
        None => None,
    };
    let logs_before = f.inst.log_bytes();
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
        (f.inst.log_bytes() - logs_before) as f64 / invocations.max(1) as f64;
    if let Some(mut perf) = perf {
        // SIGINT: perf writes its file and exits.
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        unsafe { libc::kill(perf.id() as i32, libc::SIGINT) };
        let _ = perf.wait();
    }
    out.peak_rss_kib = f.inst.stop();
    Ok(out)
}

/// A handler in the side-by-side comparison: ours and two straightforward ones doing
/// the same sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Handler {
    /// Our webhook function's release bootstrap.
    Ours,
    /// `bench/python/bootstrap.py`: Python 3 and boto3, what the issue compares with.
    Python,
    /// `bench/rust-baseline`: the same handler in Rust on our runtime and SDK clients,
    /// with none of our code: what the calls themselves cost.
    Rust,
}

impl Handler {
    pub const ALL: [Handler; 3] = [Handler::Ours, Handler::Python, Handler::Rust];

    pub fn name(self) -> &'static str {
        match self {
            Handler::Ours => "ours",
            Handler::Python => "Python/boto3 baseline",
            Handler::Rust => "Rust/AWS SDK baseline",
        }
    }

    /// The program and arguments that start it, from the repository root.
    fn command(self, bins: &Path) -> Result<(PathBuf, Vec<PathBuf>), String> {
        let (program, args) = match self {
            Handler::Ours => (bins.join("webhook"), Vec::new()),
            Handler::Python => (
                PathBuf::from(".venv/bin/python"),
                vec![PathBuf::from("bench/python/bootstrap.py")],
            ),
            Handler::Rust => (bins.join("rust-baseline"), Vec::new()),
        };
        for p in std::iter::once(&program).chain(&args) {
            if !p.exists() {
                return Err(format!(
                    "the {} needs {} (make's venv; `cargo build --release -p webhook -p \
                     rust-baseline`); run the bench from the repository root",
                    self.name(),
                    p.display()
                ));
            }
        }
        Ok((program, args))
    }
}

/// Each handler's invocations in the comparison, and how many of its iterations left the
/// probe's env var behind its app's newest value.
#[derive(Debug, Default)]
pub struct Compared {
    pub series: BTreeMap<Kind, Series>,
    pub left_behind: usize,
}

/// Ours and the two baselines side by side: all three started and warmed up, then
/// `plan.baseline` rounds at `delay_ms` in which each handles one iteration (a rotation,
/// a deploy, a duplicate), the order turning every round, so that the machine's drift
/// and the caches each finds cold hit all three alike (measured one after the other,
/// the ratio moved by 30 % between runs). Each iteration is checked: the probe's env var
/// must be at its app's newest value after it, whoever handled it.
pub async fn compare(
    stack: &Stack,
    probe: &Linked,
    plan: &Plan,
    delay_ms: u64,
    bins: &Path,
) -> Result<BTreeMap<Handler, Compared>, String> {
    let mut fs = Vec::new();
    for h in Handler::ALL {
        let (program, args) = h.command(bins)?;
        let name = format!("{h:?}-compared").to_lowercase();
        let runtime = (h == Handler::Python).then_some("AWS_Lambda_python3.11");
        let args: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();
        let mut f = Function::start(stack, &name, &program, &args, runtime).await?;
        f.warm_up(stack, probe, None).await?;
        fs.push((h, f));
    }
    stack.set_delay(Duration::from_millis(delay_ms));
    let mut out: BTreeMap<Handler, Compared> = BTreeMap::new();
    for round in 0..plan.baseline {
        for k in 0..fs.len() {
            let (h, f) = &mut fs[(round + k) % 3];
            let samples = iteration(stack, f, probe, None).await?;
            let entry = out.entry(*h).or_default();
            for (kind, sample) in samples {
                entry.series.entry(kind).or_default().add(sample);
            }
            if !probe_current(stack, probe).await {
                entry.left_behind += 1;
            }
        }
    }
    stack.set_delay(Duration::ZERO);
    for (_, f) in fs {
        f.inst.stop();
    }
    Ok(out)
}

/// Is the probe's env var at its app's newest value?
pub async fn probe_current(stack: &Stack, probe: &Linked) -> bool {
    let want = stack
        .heroku
        .config_var(&probe.app, crate::stack::CONFIG_VAR);
    want.is_some() && stack.env_value(&probe.project).await == want
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
    f: &mut Function,
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

/// A warm process and its own Runtime API, with the polls seen so far.
struct Function {
    rt: RuntimeApi,
    inst: Instance,
    polls: usize,
}

impl Function {
    /// Starts `program` (with `args`: an interpreter's script) as function `name` against
    /// a Runtime API of its own (`execution_env`: another `AWS_EXECUTION_ENV` than a
    /// custom runtime's), and waits for its first poll.
    async fn start(
        stack: &Stack,
        name: &str,
        program: &Path,
        args: &[&Path],
        execution_env: Option<&str>,
    ) -> Result<Function, String> {
        let rt = RuntimeApi::start()
            .await
            .map_err(|e| format!("runtime API: {e}"))?;
        let mut env = stack.lambda_env(&rt, name);
        if let Some(exec) = execution_env {
            for (k, v) in &mut env {
                if k == "AWS_EXECUTION_ENV" {
                    *v = exec.into();
                }
            }
        }
        let inst = Instance::spawn_with(program, args, &env, true)
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        rt.wait_polls(1, Duration::from_secs(60)).await?;
        Ok(Function { rt, inst, polls: 1 })
    }

    /// Ten iterations at no delay: the cold reads (signing key, token), connections,
    /// allocator growth, before anything is measured.
    async fn warm_up(
        &mut self,
        stack: &Stack,
        probe: &Linked,
        mut raw: Option<&mut Raw>,
    ) -> Result<(), String> {
        stack.set_delay(Duration::ZERO);
        for _ in 0..10 {
            iteration(stack, self, probe, raw.as_deref_mut()).await?;
        }
        Ok(())
    }
}

async fn measure(stack: &Stack, f: &mut Function, held: &HeldDelivery) -> Result<Sample, String> {
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
