//! One Lambda "instance": a release `bootstrap` started as a child process with a
//! Lambda-like environment, its peak RSS read before it is stopped.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// CPU accounting of a process: time on a CPU, and time runnable but waiting for one
/// (what a busy machine adds to latency).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    pub on_cpu_ns: u64,
    pub waiting_ns: u64,
}

impl Cpu {
    /// `self - earlier`, in milliseconds: (on CPU, waiting).
    pub fn since(self, earlier: Cpu) -> (f64, f64) {
        (
            self.on_cpu_ns.saturating_sub(earlier.on_cpu_ns) as f64 / 1e6,
            self.waiting_ns.saturating_sub(earlier.waiting_ns) as f64 / 1e6,
        )
    }
}

/// A running bootstrap.
pub struct Instance {
    child: Option<Child>,
    /// Just before `spawn` (the "exec" the cold-start figures count from).
    pub started: Instant,
    /// When `spawn` returned: the new program image is in place by then.
    pub spawned: Instant,
    log_bytes: Arc<AtomicU64>,
}

impl Instance {
    /// Starts `bin` with exactly `env` (nothing inherited, as in Lambda). With
    /// `count_logs`, stdout and stderr go to pipes whose bytes are counted (a pipe, like
    /// Lambda's log capture); otherwise to /dev/null, or to the bench's own with
    /// `BENCH_LOGS` set.
    pub fn spawn(bin: &Path, env: &[(String, String)], count_logs: bool) -> std::io::Result<Self> {
        Self::spawn_with(bin, &[], env, count_logs)
    }

    /// [`Instance::spawn`] of `program` with `args` (an interpreter and its script).
    pub fn spawn_with(
        program: &Path,
        args: &[&Path],
        env: &[(String, String)],
        count_logs: bool,
    ) -> std::io::Result<Self> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        if count_logs {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else if std::env::var_os("BENCH_LOGS").is_some() {
            // For looking into a failing run: the bootstraps' logs on the bench's own.
            cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        } else {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        // No pre_exec hook: it would force fork() of this (large) process instead of
        // posix_spawn, and the cold-start clock starts here. Children that outlive us
        // exit on their own: their next poll of the Runtime API finds nobody.
        let started = Instant::now();
        let mut child = cmd.spawn()?;
        let spawned = Instant::now();
        let log_bytes = Arc::new(AtomicU64::new(0));
        if count_logs {
            let pipes: Vec<Box<dyn Read + Send>> = [
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
            ]
            .into_iter()
            .flatten()
            .collect();
            for mut pipe in pipes {
                let counter = log_bytes.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = pipe.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                    }
                });
            }
        }
        Ok(Instance {
            child: Some(child),
            started,
            spawned,
            log_bytes,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// Bytes written to stdout and stderr so far (0 unless counted).
    pub fn log_bytes(&self) -> u64 {
        self.log_bytes.load(Ordering::Relaxed)
    }

    /// Peak resident set (VmHWM) in KiB. Read from /proc rather than wait4's ru_maxrss:
    /// Linux folds the pre-exec address space (this process's, via vfork) into
    /// ru_maxrss, which would report the bench's size rather than the function's.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// CPU time and run-queue wait so far, summed over every thread, from each thread's
    /// /proc schedstat (nanosecond accounting, unlike the 10 ms ticks of /proc/stat).
    pub fn cpu(&self) -> Cpu {
        let mut total = Cpu::default();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return total;
        };
        for task in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            let mut fields = text
                .split_whitespace()
                .map(|f| f.parse::<u64>().unwrap_or(0));
            total.on_cpu_ns += fields.next().unwrap_or(0);
            total.waiting_ns += fields.next().unwrap_or(0);
        }
        total
    }

    /// Whether the process has exited (init failure, crash).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Reads the peak RSS, then kills and reaps the process.
    pub fn stop(mut self) -> Option<u64> {
        let peak = self.peak_rss_kib();
        self.kill();
        peak
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}
