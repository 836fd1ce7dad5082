//! What ran the bench (machine, toolchain, moto) and the size of what would be deployed:
//! each release `bootstrap` and its zip.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Default, Clone)]
pub struct Machine {
    pub date: String,
    pub nproc: usize,
    pub cpu: String,
    pub memory: String,
    pub kernel: String,
    pub load_start: String,
    pub load_end: String,
    pub rustc: String,
    pub moto: String,
    /// The commit, and what the binaries' sources had on top of it.
    pub source: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// `1.23 0.98 0.77` (1, 5 and 15 minutes).
pub fn load() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Machine {
    pub fn now(root: &Path) -> Machine {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let memory = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
            .unwrap_or_default();
        let python = root.join(".venv/bin/python");
        let moto = output(
            &python.to_string_lossy(),
            &["-c", "import moto; print(moto.__version__)"],
        );
        Machine {
            date: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu,
            memory,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            load_start: load(),
            load_end: String::new(),
            rustc: output("rustc", &["--version"]),
            moto,
            source: source(root),
        }
    }
}

/// `abc1234`, plus the uncommitted files under the functions' sources if any (other
/// work in the same tree ends up in the binaries too).
fn source(root: &Path) -> String {
    let dir = root.to_string_lossy();
    let head = output("git", &["-C", &dir, "rev-parse", "--short", "HEAD"]);
    let dirty: Vec<String> = output(
        "git",
        &[
            "-C",
            &dir,
            "status",
            "--porcelain",
            "--",
            "shared",
            "functions",
            "Cargo.toml",
            "Cargo.lock",
        ],
    )
    .lines()
    // `XY path`: `output` trims the text, which eats the first line's leading blank
    // status column, so take what follows the first space run instead of a fixed 3.
    .filter_map(|l| {
        l.trim_start()
            .split_once(' ')
            .map(|(_, p)| p.trim().to_owned())
    })
    .collect();
    if dirty.is_empty() {
        head
    } else {
        format!("{head} + uncommitted changes in {}", dirty.join(", "))
    }
}

/// One deployable binary.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub function: String,
    pub arch: &'static str,
    pub path: PathBuf,
    pub bytes: u64,
    pub zip_bytes: Option<u64>,
    pub built: String,
}

/// The native release bootstraps in `bins`, and the arm64 ones `sam build` (the `make
/// build` target) left in `.aws-sam/build`, when present.
pub fn artifacts(root: &Path, bins: &Path, functions: &[&str]) -> Vec<Artifact> {
    let mut out = Vec::new();
    for f in functions {
        // `make build` runs `sam build`, which leaves each bootstrap in its function's
        // folder under .aws-sam/build (the logical id: webhook → WebhookFunction).
        let logical: String = f
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|h| h.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<String>()
            + "Function";
        let candidates = [
            ("x86_64", bins.join(f)),
            (
                "arm64",
                root.join(".aws-sam/build").join(logical).join("bootstrap"),
            ),
        ];
        for (arch, path) in candidates {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let built = meta
                .modified()
                .ok()
                .map(time::OffsetDateTime::from)
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            out.push(Artifact {
                function: (*f).to_owned(),
                arch,
                zip_bytes: zip_size(root, &path, f, arch),
                bytes: meta.len(),
                path,
                built,
            });
        }
    }
    out
}

/// The size of a Lambda deployment zip holding `bin` as `bootstrap` (deflate), made with
/// the `zip` CLI or, without it, Python's zipfile.
fn zip_size(root: &Path, bin: &Path, function: &str, arch: &str) -> Option<u64> {
    let dir = std::env::temp_dir().join(format!(
        "bench-zip-{}-{function}-{arch}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::copy(bin, dir.join("bootstrap")).ok()?;
    let zip = dir.join("function.zip");
    let made = Command::new("zip")
        .current_dir(&dir)
        .args(["-q", "-X", "function.zip", "bootstrap"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
        || Command::new(root.join(".venv/bin/python"))
            .current_dir(&dir)
            .args([
                "-c",
                "import zipfile; zipfile.ZipFile('function.zip', 'w', zipfile.ZIP_DEFLATED).write('bootstrap')",
            ])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    let size = made
        .then(|| std::fs::metadata(&zip).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_dir_all(&dir);
    size
}
