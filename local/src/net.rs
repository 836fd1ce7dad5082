//! Listening sockets for local servers: loopback, TCP_NODELAY on every connection (else
//! Nagle plus delayed ACK stalls each keep-alive request by ~40 ms).

use axum::Router;
use axum::serve::ListenerExt;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A server running in the background; stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` (port 0 for any free port) with a clear error when the port is taken.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr}: {e} (is another process using the port?)"),
        )
    })
}

/// Serves `router` on `listener` in the background.
pub fn spawn(listener: TcpListener, router: Router) -> Running {
    let addr = listener
        .local_addr()
        .expect("bound listener has an address");
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "local server stopped");
        }
    });
    Running { addr, task }
}

/// A free loopback port (for child processes that must be told a port up front).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
