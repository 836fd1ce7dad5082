//! `moto_server` (PyPI `moto[server]`): a real HTTP emulator of DynamoDB and Secrets
//! Manager. Started as a child process on a free loopback port, or taken from
//! `AWS_ENDPOINT_URL` when that is set. Never skipped: a missing moto is a loud failure.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const INSTALL_HINT: &str = "moto_server was not found. Run `make test` (it installs moto into .venv), \
or `python3 -m venv .venv && .venv/bin/pip install 'moto[server]'`, \
or set MOTO_SERVER to its path, or AWS_ENDPOINT_URL to a running emulator.";

/// The workspace root (where `.venv` lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Where the `moto_server` executable is: `MOTO_SERVER`, `.venv/bin`, or `PATH`.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    })
}

/// A running moto, owned by this process.
pub struct Moto {
    pub url: String,
    child: Option<Child>,
}

impl Moto {
    /// Starts moto on `port` (0: any free port) and waits until it answers.
    pub fn start(port: u16) -> Result<Moto, String> {
        let binary = find_binary().ok_or_else(|| INSTALL_HINT.to_owned())?;
        let port = if port == 0 {
            crate::net::free_port()
        } else {
            port
        };
        let mut cmd = Command::new(&binary);
        // local/moto/sitecustomize.py: transactions back up the items they touch, not
        // the whole table once per item (moto's way, which made a transaction's time
        // grow with the table; DynamoDB's does not).
        cmd.env("PYTHONPATH", workspace_root().join("local/moto"));
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Dies with us, even if we are killed: no moto outlives its test run.
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}. {INSTALL_HINT}", binary.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let mut moto = Moto {
            url,
            child: Some(child),
        };
        moto.wait_ready(Duration::from_secs(60))?;
        Ok(moto)
    }

    /// An emulator someone else runs (`AWS_ENDPOINT_URL`).
    pub fn external(url: &str) -> Moto {
        Moto {
            url: url.trim_end_matches('/').to_owned(),
            child: None,
        }
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        let addr = self.url.trim_start_matches("http://").to_owned();
        while started.elapsed() < limit {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "moto_server exited early ({status}); is the port free?"
                ));
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "moto_server did not answer on {} within {limit:?}",
            self.url
        ))
    }

    /// One moto per test process: `AWS_ENDPOINT_URL` if set, else a child started on
    /// first use from a thread that lives as long as the process (the child's
    /// parent-death signal follows that thread).
    pub fn shared() -> &'static str {
        static URL: OnceLock<Result<String, String>> = OnceLock::new();
        let result = URL.get_or_init(|| {
            if let Ok(url) = std::env::var("AWS_ENDPOINT_URL")
                && !url.is_empty()
            {
                return Ok(url);
            }
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || match Moto::start(0) {
                Ok(moto) => {
                    let _ = tx.send(Ok(moto.url.clone()));
                    let _keep = moto;
                    loop {
                        std::thread::park();
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            });
            rx.recv().unwrap_or_else(|_| Err("moto thread died".into()))
        });
        match result {
            Ok(url) => url,
            Err(e) => panic!("{e}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
