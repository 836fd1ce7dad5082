//! `make bench`: the release `bootstrap` of each function run as Lambda runs it — a
//! child process polling a Lambda Runtime API — against moto and the fake Heroku, each
//! with a fixed delay per call. Measures cold starts, warm latency against the physical
//! limit, bursts, memory and size, and writes BENCHMARKS.md.
//!
//! ```sh
//! cargo build --release -p webhook -p connect -p opt-out -p reconcile -p rust-baseline
//! cargo run -p bench -- [--out BENCHMARKS.md] [--bins target/release] [--quick]
//!     [--only cold,warm,burst] [--perf-warm FILE]
//! ```
//!
//! Exits non-zero when a correctness result is wrong (an env var or link not at its
//! newest release, a delivery lost, an unexpected answer): see `verdict`. A partial run
//! (`--only`, `--quick`) never overwrites BENCHMARKS.md or the README's figures.

mod burst;
mod cold;
mod instance;
mod machine;
mod many;
mod raw;
mod readme;
mod reconcile;
mod report;
mod runtime;
mod soak;
mod stack;
mod stats;
mod tls;
mod verdict;
mod warm;

use axum::body::Bytes;
use stack::{Stack, webhook_event};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub const FUNCTIONS: [&str; 4] = ["webhook", "connect", "opt-out", "reconcile"];
pub const PHASES: [&str; 6] = ["cold", "warm", "burst", "reconcile", "soak", "many"];

/// How much of everything to do; `--quick` is a smoke run of the same code.
#[derive(Clone, Debug)]
pub struct Plan {
    pub cold_starts: usize,
    pub warm: warm::Plan,
    pub burst_apps: usize,
    pub burst_rotations: usize,
    pub burst_concurrency: Vec<usize>,
    pub burst_delays_ms: Vec<u64>,
    pub reconcile: reconcile::Plan,
    pub soak: soak::Plan,
    pub many: many::Plan,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            cold_starts: 30,
            warm: warm::Plan {
                delays_ms: vec![0, 5],
                rounds: 10,
                per_round: 30,
                raw_per_round: 20,
                perf: None,
                baseline: 300,
            },
            burst_apps: 200,
            burst_rotations: 5,
            burst_concurrency: vec![1, 10, 50],
            burst_delays_ms: vec![5, 0],
            reconcile: reconcile::Plan::full(),
            soak: soak::Plan::full(),
            many: many::Plan::full(),
        }
    }

    /// The CI smoke run (`make bench-smoke`): seconds, not minutes, same code and checks.
    fn quick() -> Plan {
        Plan {
            cold_starts: 3,
            warm: warm::Plan {
                delays_ms: vec![0, 5],
                rounds: 2,
                per_round: 10,
                raw_per_round: 5,
                perf: None,
                baseline: 10,
            },
            burst_apps: 10,
            burst_rotations: 4,
            burst_concurrency: vec![1, 5],
            burst_delays_ms: vec![5],
            reconcile: reconcile::Plan::quick(),
            soak: soak::Plan::quick(),
            many: many::Plan::quick(),
        }
    }
}

struct Args {
    /// Where the report goes: BENCHMARKS.md for a full run; a partial run (`--only`,
    /// `--quick`) never overwrites it and writes under target/bench/ unless told.
    out: Option<PathBuf>,
    bins: PathBuf,
    quick: bool,
    command: String,
    /// Phases to run (profiling aid); all when empty.
    only: Vec<String>,
    perf_warm: Option<PathBuf>,
}

impl Args {
    fn runs(&self, phase: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == phase)
    }

    /// Not the published figures: some phases skipped, or the smoke sizes.
    fn partial(&self) -> bool {
        self.quick || PHASES.iter().any(|p| !self.runs(p))
    }

    fn out(&self, root: &Path) -> PathBuf {
        match (&self.out, self.partial()) {
            (Some(p), _) => p.clone(),
            (None, false) => root.join("BENCHMARKS.md"),
            (None, true) => root.join("target/bench/partial.md"),
        }
    }
}

fn args(root: &Path) -> Result<Args, String> {
    let mut a = Args {
        out: None,
        bins: root.join("target/release"),
        quick: false,
        command: "make bench".into(),
        only: Vec::new(),
        perf_warm: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => a.out = Some(it.next().ok_or("--out needs a path")?.into()),
            "--bins" => a.bins = it.next().ok_or("--bins needs a directory")?.into(),
            "--command" => a.command = it.next().ok_or("--command needs text")?,
            "--quick" => a.quick = true,
            "--only" => {
                a.only = it
                    .next()
                    .ok_or("--only needs phases: cold,warm,burst,reconcile,soak,many")?
                    .split(',')
                    .map(str::to_owned)
                    .collect();
            }
            "--perf-warm" => {
                a.perf_warm = Some(it.next().ok_or("--perf-warm needs a path")?.into())
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; use --out PATH, --bins DIR, --quick, --command TEXT, \
                     --only cold,warm,burst,reconcile,soak,many, --perf-warm FILE"
                ));
            }
        }
    }
    if let Some(p) = a.only.iter().find(|p| !PHASES.contains(&p.as_str())) {
        return Err(format!(
            "unknown phase {p} in --only; phases: {}",
            PHASES.join(",")
        ));
    }
    Ok(a)
}

fn say(what: &str) {
    eprintln!("bench: {what}");
}

/// The workspace: the current directory when it is one (`make bench` runs from there),
/// else where this crate was compiled. Not `local::moto::workspace_root()`: that is fixed
/// when `local` is compiled, and a target directory shared between worktrees can hand us
/// a `local` compiled in another one.
fn workspace_root() -> PathBuf {
    std::env::current_dir()
        .ok()
        .filter(|d| d.join("bench/Cargo.toml").exists())
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        })
}

fn main() -> ExitCode {
    let root = workspace_root();
    let moto = root.join(".venv/bin/moto_server");
    if std::env::var_os("MOTO_SERVER").is_none() && moto.exists() {
        // SAFETY: no other thread exists yet; the runtime is built below.
        unsafe { std::env::set_var("MOTO_SERVER", &moto) };
    }
    // Two workers: this process serves the proxy, the fake Heroku and the Runtime API.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run(root)),
        Err(e) => Err(format!("tokio runtime: {e}")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench: a correctness result is wrong (above): failing");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn sample_event(root: &Path, file: &str) -> Result<Bytes, String> {
    std::fs::read(root.join("events").join(file))
        .map(Bytes::from)
        .map_err(|e| format!("events/{file}: {e}"))
}

/// Runs the phases and writes the report; `Ok(false)` when a correctness result is wrong.
async fn run(root: PathBuf) -> Result<bool, String> {
    let args = args(&root)?;
    let mut plan = if args.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    plan.warm.perf = args.perf_warm.clone();
    let began = Instant::now();
    let mut machine = machine::Machine::now(&root);
    say(&format!("load at start: {}", machine.load_start));
    // Only the cold starts run connect and opt-out.
    let mut needed: Vec<&str> = if args.runs("cold") {
        FUNCTIONS.to_vec()
    } else {
        FUNCTIONS[..1].to_vec()
    };
    // The warm phase measures the Rust baseline beside ours.
    if args.runs("warm") {
        needed.push("rust-baseline");
    }
    for f in needed {
        let bin = args.bins.join(f);
        if !bin.exists() {
            return Err(format!(
                "{} is missing: run `cargo build --release -p webhook -p connect -p opt-out \
                 -p reconcile -p rust-baseline` first",
                bin.display()
            ));
        }
    }
    let artifacts = machine::artifacts(&root, &args.bins, &FUNCTIONS);

    say("starting moto, the fault proxy and the fake Heroku");
    let stack = Stack::start().await?;
    let probe = stack.link_new("bench-probe", "bench-probe").await?;
    stack.heroku.take_held();

    let bin = |f: &str| args.bins.join(f);
    let mut cold = Vec::new();
    if args.runs("cold") {
        say(&format!("cold starts: {} per function", plan.cold_starts));
        cold.push(
            cold::run(
                &stack,
                &bin("webhook"),
                "webhook",
                "a delivery that syncs",
                plan.cold_starts,
                |i| {
                    let held = stack.rotate(&probe.app)?;
                    Ok(webhook_event(&held, &format!("cold-{i}")))
                },
            )
            .await?,
        );
        let status = sample_event(&root, "connect/status.json")?;
        cold.push(
            cold::run(
                &stack,
                &bin("connect"),
                "connect",
                "`GET …/integrations/heroku` (events/connect/status.json)",
                plan.cold_starts,
                |_| Ok(status.clone()),
            )
            .await?,
        );
        let never = sample_event(&root, "opt-out/opt-out-never-linked.json")?;
        cold.push(
            cold::run(
                &stack,
                &bin("opt-out"),
                "opt-out",
                "`DELETE …/heroku-sync`, never linked (events/opt-out/opt-out-never-linked.json)",
                plan.cold_starts,
                |_| Ok(never.clone()),
            )
            .await?,
        );
    }

    let mut seen = verdict::Observed::default();
    if args.runs("cold") {
        seen.probe_current_after_cold = Some(warm::probe_current(&stack, &probe).await);
    }
    let mut warm = warm::WarmRun::default();
    if args.runs("warm") {
        say(&format!(
            "warm latency: {} per kind and delay",
            plan.warm.rounds * plan.warm.per_round
        ));
        warm = warm::run(&stack, &bin("webhook"), &probe, &plan.warm).await?;
        seen.probe_current_after_warm = Some(warm::probe_current(&stack, &probe).await);
        if plan.warm.baseline > 0 {
            say(&format!(
                "warm: ours beside the Python and Rust baselines, {} rounds",
                plan.warm.baseline
            ));
            let d = plan
                .warm
                .delays_ms
                .iter()
                .copied()
                .max()
                .unwrap_or_default();
            warm.compared = warm::compare(&stack, &probe, &plan.warm, d, &args.bins).await?;
        }
    }

    let mut links = Vec::new();
    let mut bursts = Vec::new();
    if args.runs("burst") {
        say(&format!("bursts: linking {} apps", plan.burst_apps));
        stack.set_delay(Duration::ZERO);
        for i in 0..plan.burst_apps {
            links.push(
                stack
                    .link_new(&format!("bench-p{i:03}"), &format!("bench-burst-{i:03}"))
                    .await?,
            );
        }
        stack.heroku.take_held();
        for &d in &plan.burst_delays_ms {
            for &c in &plan.burst_concurrency {
                say(&format!(
                    "burst: {} deliveries, concurrency {c}, delay {d} ms",
                    links.len() * plan.burst_rotations
                ));
                bursts.push(
                    burst::run(&stack, &bin("webhook"), &links, plan.burst_rotations, c, d).await?,
                );
            }
        }
    }
    let mut recon = None;
    if args.runs("reconcile") {
        say(&format!(
            "reconcile: {} accounts x {} apps x {} links, on a paused clock",
            plan.reconcile.accounts, plan.reconcile.apps_per_account, plan.reconcile.links_per_app
        ));
        recon = Some(reconcile::run(plan.reconcile.clone())?);
    }

    let mut soaks = Vec::new();
    if args.runs("soak") {
        let p = &plan.soak;
        say(&format!(
            "soak: linking {} apps for {} rotations under faults",
            p.apps, p.rotations
        ));
        stack.set_delay(Duration::ZERO);
        let mut soaked = Vec::with_capacity(p.apps);
        for i in 0..p.apps {
            soaked.push(
                stack
                    .link_new(&format!("bench-s{i:03}"), &format!("bench-soak-{i:03}"))
                    .await?,
            );
        }
        stack.heroku.take_held();
        for mode in [soak::Redelivery::Backoff, soak::Redelivery::Storm] {
            say(&format!("soak: {}", mode.name()));
            let r = soak::run(&stack, &bin("webhook"), &soaked, p, mode).await?;
            say(&format!(
                "soak: {}: {} of {} converged, {} went back, {} attempts, {:.0} s",
                r.variant, r.converged, r.apps, r.went_back, r.attempts, r.wall_s
            ));
            soaks.push(r);
        }
    }

    let mut many = None;
    if args.runs("many") {
        let p = &plan.many;
        say(&format!(
            "one app, many links: {} projects x {} env vars",
            p.projects, p.env_vars
        ));
        let r = many::run(&stack, &bin("webhook"), p).await?;
        say(&format!(
            "many links: {} of {} created in {:.0} s; delivery {:.0} ms; item {} bytes",
            r.created, r.wanted, r.create_s, r.delivery_ms, r.item_bytes
        ));
        many = Some(r);
    }

    machine.load_end = machine::load();
    let took = began.elapsed();
    let mut wrong = verdict::wrong_results(&cold, &warm, &bursts, links.len(), &seen);
    if let Some(r) = &recon {
        wrong.extend(reconcile::wrong(r));
    }
    wrong.extend(soak::wrong(&soaks));
    wrong.extend(many::wrong(many.as_ref()));
    let inputs = report::Inputs {
        command: &args.command,
        machine: &machine,
        plan: &plan,
        artifacts: &artifacts,
        cold: &cold,
        warm: &warm,
        bursts: &bursts,
        burst_apps: links.len(),
        reconcile: recon.as_ref(),
        soak: &soaks,
        many: many.as_ref(),
        took,
        notes: std::fs::read_to_string(root.join("bench/NOTES.md")).unwrap_or_default(),
        root: root.clone(),
        ran: PHASES.iter().copied().filter(|p| args.runs(p)).collect(),
        wrong: &wrong,
        partial: args.partial(),
        quick: args.quick,
    };
    let text = report::render(&inputs);
    let out = args.out(&root);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    if !args.partial() && args.out.is_none() {
        // The README quotes the published figures; it gets them from this run only.
        readme::update(&root.join("README.md"), &report::summary(&inputs))?;
        say("updated README.md's figures");
    }
    say(&format!(
        "wrote {} in {:.0} s; load at end: {}",
        out.display(),
        took.as_secs_f64(),
        machine.load_end
    ));
    eprint!(
        "{}",
        verdict::closing_summary(&wrong, &report::targets(&inputs))
    );
    Ok(wrong.is_empty())
}
