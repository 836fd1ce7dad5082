//! A small Lambda Runtime API emulator: the four routes a custom runtime calls
//! (`/invocation/next`, `/invocation/{id}/response`, `/invocation/{id}/error`,
//! `/init/error`), a FIFO of events shared by every process polling it (each process is
//! one "Lambda instance"), and a timestamp at every step.
//!
//! One emulator serves one phase: dropping it closes the queue, so a `/next` still held
//! by a killed process ends instead of swallowing the next phase's first event.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use local::net::{self, Running};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// What became of one invocation, with the emulator's clock at each step.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Handed to [`RuntimeApi::invoke`].
    pub enqueued: Instant,
    /// Returned by a `/next` (the function has the event).
    pub handed: Instant,
    /// The function posted its response (or error).
    pub finished: Instant,
    /// Posted to `/error` rather than `/response`.
    pub error: bool,
    pub body: Bytes,
}

impl Outcome {
    /// The function's own time: event received to response posted (what Lambda bills).
    pub fn handler(&self) -> Duration {
        self.finished - self.handed
    }

    /// The HTTP status inside an API Gateway (payload 2.0) response.
    pub fn status(&self) -> Option<u16> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("statusCode")?.as_u64().map(|s| s as u16)
    }
}

struct Queued {
    id: String,
    event: Bytes,
    enqueued: Instant,
    done: oneshot::Sender<Outcome>,
}

struct InFlight {
    enqueued: Instant,
    handed: Instant,
    done: oneshot::Sender<Outcome>,
}

struct Shared {
    // A tokio mutex: the poller that holds it waits for the next event while the others
    // queue behind it, which is the FIFO hand-out Lambda gives concurrent instances.
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    inflight: Mutex<HashMap<String, InFlight>>,
    polls: Mutex<Vec<Instant>>,
    poll_count: watch::Sender<usize>,
    init_errors: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running emulator. Stops (and closes its queue) when dropped.
pub struct RuntimeApi {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Queued>,
    polled: watch::Receiver<usize>,
    seq: AtomicU64,
    server: Running,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let listener = net::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (poll_count, polled) = watch::channel(0);
        let shared = Arc::new(Shared {
            rx: tokio::sync::Mutex::new(rx),
            inflight: Mutex::new(HashMap::new()),
            polls: Mutex::new(Vec::new()),
            poll_count,
            init_errors: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(|s, p, b| finish(s, p, b, false)),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(|s, p, b| finish(s, p, b, true)),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        // local::net::spawn sets TCP_NODELAY on every accepted socket.
        let server = net::spawn(listener, router);
        Ok(RuntimeApi {
            shared,
            tx,
            polled,
            seq: AtomicU64::new(0),
            server,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.server.addr.to_string()
    }

    /// Queues an event; the receiver yields once a function has answered it.
    pub fn invoke(&self, event: Bytes) -> oneshot::Receiver<Outcome> {
        let (done, rx) = oneshot::channel();
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("bench-{n:08}-{}", uuid::Uuid::new_v4().simple());
        let _ = self.tx.send(Queued {
            id,
            event,
            enqueued: Instant::now(),
            done,
        });
        rx
    }

    /// Queues an event and waits for its answer.
    pub async fn call(&self, event: Bytes, limit: Duration) -> Result<Outcome, String> {
        let rx = self.invoke(event);
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(o)) => Ok(o),
            Ok(Err(_)) => Err("the emulator dropped the invocation".into()),
            Err(_) => Err(format!(
                "no answer within {limit:?}; init errors: {:?}",
                self.init_errors()
            )),
        }
    }

    /// When each `/next` arrived, oldest first.
    pub fn polls(&self) -> Vec<Instant> {
        lock(&self.shared.polls).clone()
    }

    /// Waits until `/next` has been called at least `n` times in all.
    pub async fn wait_polls(&self, n: usize, limit: Duration) -> Result<(), String> {
        let mut rx = self.polled.clone();
        match tokio::time::timeout(limit, rx.wait_for(|c| *c >= n)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(format!(
                "only {} of {n} polls within {limit:?}; init errors: {:?}",
                *self.polled.borrow(),
                self.init_errors()
            )),
        }
    }

    pub fn init_errors(&self) -> Vec<String> {
        lock(&self.shared.init_errors).clone()
    }
}

fn epoch_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    let arrived = Instant::now();
    lock(&s.polls).push(arrived);
    s.poll_count.send_modify(|c| *c += 1);
    // Cancel-safe: a poller that goes away while waiting takes nothing with it.
    let queued = { s.rx.lock().await.recv().await };
    let Some(q) = queued else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let handed = Instant::now();
    lock(&s.inflight).insert(
        q.id.clone(),
        InFlight {
            enqueued: q.enqueued,
            handed,
            done: q.done,
        },
    );
    let deadline = epoch_ms() + 15_000;
    let mut resp = Response::new(Body::from(q.event));
    let h = resp.headers_mut();
    let value = |v: String| HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("lambda-runtime-aws-request-id", value(q.id.clone()));
    h.insert("lambda-runtime-deadline-ms", value(deadline.to_string()));
    h.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:000000000000:function:bench"),
    );
    h.insert(
        "lambda-runtime-trace-id",
        value(format!(
            "Root=1-{:08x}-{};Parent={};Sampled=0",
            (deadline / 1000) as u32,
            &q.id[q.id.len() - 24..],
            &q.id[q.id.len() - 16..]
        )),
    );
    resp
}

async fn finish(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
    error: bool,
) -> StatusCode {
    let finished = Instant::now();
    let Some(f) = lock(&s.inflight).remove(&id) else {
        return StatusCode::NOT_FOUND;
    };
    let _ = f.done.send(Outcome {
        enqueued: f.enqueued,
        handed: f.handed,
        finished,
        error,
        body,
    });
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    lock(&s.init_errors).push(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}
