//! [`TcpProxy`]: a TCP forwarder on 127.0.0.1 in front of a real server
//! (Redis, PostgreSQL) that a test can cut, stall and restore, to show what a
//! client does when its server goes away mid-run and comes back, without
//! touching the machine's shared server.
//!
//! ```no_run
//! # async fn demo() {
//! use msal_test_support::tcp_proxy::TcpProxy;
//! let proxy = TcpProxy::start("127.0.0.1:6379").await;
//! let url = format!("redis://{}", proxy.addr());
//! proxy.cut();      // open connections close, new ones are closed at once
//! proxy.restore();  // forwarding again
//! proxy.stall();    // connections stay open but nothing gets through
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Cut,
    Stall,
}

struct State {
    mode: watch::Sender<Mode>,
    accepted: AtomicUsize,
    /// Tasks of open connections; aborting one closes its sockets.
    links: Mutex<Vec<AbortHandle>>,
}

impl State {
    fn close_all(&self) {
        for link in self
            .links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            link.abort();
        }
    }

    fn track(&self, task: AbortHandle) {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links.retain(|l| !l.is_finished());
        links.push(task);
    }
}

/// A cuttable TCP forwarder. Dropping it closes everything.
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: AbortHandle,
}

impl std::fmt::Debug for TcpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.state.close_all();
    }
}

/// Copies one direction, holding bytes back while the proxy is stalled.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while *mode.borrow_and_update() == Mode::Stall {
            if mode.changed().await.is_err() {
                return;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl TcpProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards each connection to
    /// `upstream` (`host:port`).
    pub async fn start(upstream: impl Into<String>) -> Self {
        let upstream = upstream.into();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the TCP proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State {
            mode: watch::Sender::new(Mode::Forward),
            accepted: AtomicUsize::new(0),
            links: Mutex::new(Vec::new()),
        });
        let accept_state = state.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                accept_state.accepted.fetch_add(1, Ordering::SeqCst);
                if *accept_state.mode.borrow() == Mode::Cut {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let mode = accept_state.mode.subscribe();
                let task = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    // Either side closing ends the link (and drops both sockets).
                    tokio::select! {
                        () = pump(client_read, server_write, mode.clone()) => {}
                        () = pump(server_read, client_write, mode) => {}
                    }
                });
                accept_state.track(task.abort_handle());
            }
        });
        Self {
            addr,
            state,
            accept: accept.abort_handle(),
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server "goes away": open connections are closed, and new ones are
    /// accepted and closed at once (what a client sees of a restarting server).
    pub fn cut(&self) {
        self.state.mode.send_replace(Mode::Cut);
        self.state.close_all();
    }

    /// The server hangs: connections stay open (new ones are accepted) but no
    /// byte gets through either way (what a client sees of a blackholed host).
    pub fn stall(&self) {
        self.state.mode.send_replace(Mode::Stall);
    }

    /// The server is back: forwarding again. Connections from before are
    /// closed, so no request held during a stall is delivered late.
    pub fn restore(&self) {
        self.state.close_all();
        self.state.mode.send_replace(Mode::Forward);
    }

    /// How many connections the proxy has accepted so far.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }
}
