//! Captures everything logged while a future runs, for tests that check what logs hold.

use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A JSON subscriber at `filter` (e.g. `trace`) writing into the returned buffer. Use
/// with `tracing::subscriber::with_default` or `set_default` on a current-thread runtime.
pub fn capture(filter: &str) -> (Captured, impl tracing::Subscriber + Send + Sync) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(captured.clone())
        .finish();
    (captured, subscriber)
}

/// Installs a human-readable subscriber on stderr when `TEST_LOG` is set (e.g.
/// `TEST_LOG=info,shared=debug cargo test …`), for debugging a failing test.
pub fn init_from_env() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_test_writer()
            .try_init();
    }
}
