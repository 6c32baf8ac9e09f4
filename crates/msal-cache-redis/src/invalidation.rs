//! The L1 invalidation listener on Redis.
//!
//! - Tracking (preferred): one RESP3 connection per master (one server: the
//!   server) with `CLIENT TRACKING ON BCAST PREFIX <key prefix>`. The server
//!   then pushes `invalidate` with the names of the keys under the prefix
//!   that anyone changed, deleted, or that expired or were evicted, and a
//!   null for a flush. Masters only: a write lands on its slot's master,
//!   and after a failover the promoted replica is a master the listener
//!   connects to (emptying L1 meanwhile).
//! - Pub/sub (fallback where the server refuses RESP3 or `CLIENT TRACKING`,
//!   e.g. by ACL): a subscription to the channel named like the key prefix,
//!   on which every store in this mode publishes the partitions it writes.
//!   On a cluster, classic pub/sub reaches every node, so one connection is
//!   enough.
//!
//! A session ends at the first sign of trouble (a connection drops, a
//! heartbeat `PING` gets no answer, the cluster's set of masters changes);
//! the sink is then told the listener is disconnected, and a new session
//! starts after a short backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use msal::http::BoxFuture;
use msal_cache_common::{InvalidationListener, InvalidationSink};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use crate::Invalidation;
use crate::backend::{KeyLayout, partition_of};
use crate::cluster::{at_node, masters_of, node_name};

/// How long a connection attempt or a command of the listener may take.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How often a quiet session checks its connections (and a cluster's masters).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Backoff between failed sessions.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub(crate) struct RedisListener {
    /// One server: its address; a cluster: the seeds.
    pub(crate) seeds: Vec<ConnectionInfo>,
    pub(crate) cluster: bool,
    pub(crate) prefix: String,
    pub(crate) layout: KeyLayout,
    pub(crate) mode: Invalidation,
    /// Set when the store falls back to pub/sub, so that its writes publish.
    pub(crate) publish: Arc<AtomicBool>,
    pub(crate) name: String,
}

/// Why a session ended.
enum End {
    /// The server refuses what this mode needs (RESP3, `CLIENT TRACKING`,
    /// `SUBSCRIBE`): waiting will not help.
    Unsupported(String),
    /// A connection failed or dropped: try again.
    Lost(String),
}

fn lost(what: &str, e: impl std::fmt::Display) -> End {
    End::Lost(format!("{what}: {e}"))
}

/// Whether a failure to set tracking up means the server will never allow
/// it (rather than that it is unreachable now).
fn refused(e: &redis::RedisError) -> bool {
    !(e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.kind() == redis::ErrorKind::AuthenticationFailed
        || e.code()
            .is_some_and(|c| ["LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN"].contains(&c)))
}

async fn within<T>(
    what: &str,
    future: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, End> {
    match tokio::time::timeout(TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) if refused(&e) => Err(End::Unsupported(format!("{what}: {e}"))),
        Ok(Err(e)) => Err(lost(what, e)),
        Err(_) => Err(End::Lost(format!("{what}: no answer within {TIMEOUT:?}"))),
    }
}

impl InvalidationListener for RedisListener {
    fn run(self: Box<Self>, sink: InvalidationSink) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.run_until_closed(sink).await })
    }
}

impl RedisListener {
    async fn run_until_closed(self, sink: InvalidationSink) {
        let mut mode = self.mode;
        if mode == Invalidation::PubSub {
            self.publish.store(true, Ordering::Release);
        }
        let mut backoff = MIN_BACKOFF;
        let mut warned = false;
        loop {
            let mut connected = false;
            let session = match mode {
                Invalidation::Off => return,
                Invalidation::PubSub => {
                    Box::pin(self.pubsub_session(&sink, &mut connected)) as BoxFuture<'_, End>
                }
                _ => Box::pin(self.tracking_session(&sink, &mut connected)),
            };
            let Some(end) = sink.until_closed(session).await else {
                return;
            };
            if !sink.disconnected() {
                return;
            }
            match end {
                End::Unsupported(why) if mode == Invalidation::Auto => {
                    tracing::info!(
                        reason = %why,
                        "Redis client-side caching is not available; L1 invalidation falls back to pub/sub on the key prefix"
                    );
                    mode = Invalidation::PubSub;
                    self.publish.store(true, Ordering::Release);
                    continue;
                }
                End::Unsupported(why) if !warned => {
                    warned = true;
                    tracing::warn!(
                        reason = %why,
                        "Redis refuses what L1 invalidation needs; L1 keeps only this instance's own saves"
                    );
                }
                End::Unsupported(why) | End::Lost(why) => {
                    tracing::debug!(reason = %why, "token cache invalidation session ended");
                }
            }
            // A session that got connected was a loss, not a failure to
            // connect: try again soon.
            if connected {
                backoff = MIN_BACKOFF;
            }
            if sink
                .until_closed(tokio::time::sleep(backoff))
                .await
                .is_none()
            {
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn resp3(info: &ConnectionInfo) -> ConnectionInfo {
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        info.clone().set_redis_settings(settings)
    }

    /// A RESP3 connection to `info` whose pushes go to `pushes`, tagged with
    /// `node`.
    async fn connect(
        &self,
        info: &ConnectionInfo,
        node: usize,
        pushes: &mpsc::UnboundedSender<(usize, PushInfo)>,
    ) -> Result<MultiplexedConnection, End> {
        let client = redis::Client::open(Self::resp3(info)).map_err(|e| lost("client", e))?;
        let tx = pushes.clone();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_push_sender(move |push: PushInfo| {
                tx.send((node, push)).map_err(|_| redis::aio::SendError)
            });
        let mut conn = within(
            "connecting",
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await?;
        // Naming the connection is a courtesy to operators: a refusal is fine.
        match within(
            "CLIENT SETNAME",
            redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(&self.name)
                .query_async::<()>(&mut conn),
        )
        .await
        {
            Ok(()) | Err(End::Unsupported(_)) => {}
            Err(end) => return Err(end),
        }
        Ok(conn)
    }

    /// The masters to track: the server itself, or the cluster's masters
    /// as one of the seeds reports them.
    async fn masters(
        &self,
        pushes: &mpsc::UnboundedSender<(usize, PushInfo)>,
    ) -> Result<Vec<ConnectionInfo>, End> {
        if !self.cluster {
            return Ok(self.seeds.clone());
        }
        let mut last = End::Lost("no seed nodes".to_owned());
        for seed in &self.seeds {
            let mut conn = match self.connect(seed, usize::MAX, pushes).await {
                Ok(conn) => conn,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match self.masters_from(&mut conn, seed).await {
                Ok(masters) if !masters.is_empty() => return Ok(masters),
                Ok(_) => last = End::Lost("CLUSTER SLOTS named no master".to_owned()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn masters_from(
        &self,
        conn: &mut MultiplexedConnection,
        asked: &ConnectionInfo,
    ) -> Result<Vec<ConnectionInfo>, End> {
        let reply: Value = within(
            "CLUSTER SLOTS",
            redis::cmd("CLUSTER").arg("SLOTS").query_async(conn),
        )
        .await?;
        let asked_host = match asked.addr() {
            redis::ConnectionAddr::Tcp(host, _) | redis::ConnectionAddr::TcpTls { host, .. } => {
                host.clone()
            }
            _ => String::new(),
        };
        let mut masters = Vec::new();
        for (host, port) in masters_of(&reply, &asked_host) {
            masters.push(at_node(asked, &host, port));
        }
        Ok(masters)
    }

    async fn tracking_session(&self, sink: &InvalidationSink, connected: &mut bool) -> End {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let masters = match self.masters(&tx).await {
            Ok(masters) => masters,
            Err(end) => return end,
        };
        let mut conns = Vec::with_capacity(masters.len());
        for (node, info) in masters.iter().enumerate() {
            let mut conn = match self.connect(info, node, &tx).await {
                Ok(conn) => conn,
                Err(end) => return end,
            };
            let tracking = within(
                "CLIENT TRACKING",
                redis::cmd("CLIENT")
                    .arg("TRACKING")
                    .arg("ON")
                    .arg("BCAST")
                    .arg("PREFIX")
                    .arg(&self.prefix)
                    .query_async::<()>(&mut conn),
            )
            .await;
            if let Err(end) = tracking {
                return end;
            }
            conns.push(conn);
        }
        let names: Vec<String> = masters.iter().map(node_name).collect();
        tracing::debug!(masters = ?names, "tracking token cache keys for L1 invalidation");
        sink.connected("tracking");
        *connected = true;
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                push = rx.recv() => {
                    let Some((node, push)) = push else {
                        return End::Lost("push channel closed".to_owned());
                    };
                    match push.kind {
                        PushKind::Invalidate => self.invalidate(sink, &push.data).await,
                        PushKind::Disconnection if node < conns.len() => {
                            return End::Lost(format!("connection to {} dropped", names[node]));
                        }
                        _ => {}
                    }
                }
                _ = heartbeat.tick() => {
                    for (node, conn) in conns.iter_mut().enumerate() {
                        let ping = redis::cmd("PING");
                        if let Err(end) = within("PING", ping.query_async::<()>(conn)).await {
                            return match end {
                                End::Lost(why) | End::Unsupported(why) => {
                                    End::Lost(format!("{}: {why}", names[node]))
                                }
                            };
                        }
                    }
                    if self.cluster {
                        // A failover or a new node changes who takes writes.
                        let now = match self.masters_from(&mut conns[0], &masters[0]).await {
                            Ok(now) => now,
                            Err(end) => return end,
                        };
                        let mut now: Vec<String> = now.iter().map(node_name).collect();
                        now.sort();
                        let mut was = names.clone();
                        was.sort();
                        if now != was {
                            return End::Lost(format!("the cluster's masters changed from {was:?} to {now:?}"));
                        }
                    }
                }
            }
        }
    }

    /// Applies one `invalidate` push: the key names, or null for "all".
    async fn invalidate(&self, sink: &InvalidationSink, data: &[Value]) {
        let mut keys: Vec<String> = Vec::new();
        for value in data {
            match value {
                Value::Array(items) | Value::Set(items) => {
                    keys.extend(items.iter().filter_map(|item| match item {
                        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
                        Value::SimpleString(s) => Some(s.clone()),
                        _ => None,
                    }));
                }
                Value::Nil => {
                    sink.invalidate_all();
                    return;
                }
                _ => {}
            }
        }
        let mut partitions: Vec<&str> = Vec::with_capacity(keys.len());
        for key in &keys {
            if let Some(partition) = partition_of(&self.prefix, self.layout, key) {
                partitions.push(partition);
            }
        }
        sink.invalidate_many(&partitions).await;
    }

    async fn pubsub_session(&self, sink: &InvalidationSink, connected: &mut bool) -> End {
        let mut last = End::Lost("no nodes".to_owned());
        for seed in &self.seeds {
            last = self.subscribe_on(seed, sink, connected).await;
            if *connected || matches!(last, End::Unsupported(_)) {
                break;
            }
        }
        last
    }

    /// Subscribes on `info` and forwards until the connection fails.
    async fn subscribe_on(
        &self,
        info: &ConnectionInfo,
        sink: &InvalidationSink,
        connected: &mut bool,
    ) -> End {
        let client = match redis::Client::open(info.clone()) {
            Ok(client) => client,
            Err(e) => return lost("client", e),
        };
        let pubsub = match within("connecting", client.get_async_pubsub()).await {
            Ok(pubsub) => pubsub,
            Err(End::Unsupported(why)) => return End::Lost(why),
            Err(end) => return end,
        };
        let (mut control, mut messages) = pubsub.split();
        if let Err(end) = within("SUBSCRIBE", control.subscribe(&self.prefix)).await {
            return end;
        }
        sink.connected("pubsub");
        *connected = true;
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else {
                        return End::Lost(format!("subscription on {} dropped", node_name(info)));
                    };
                    match message.get_payload::<String>() {
                        Ok(partition) => {
                            sink.invalidate(&partition).await;
                        }
                        // Not a partition of ours: drop everything, to be safe.
                        Err(_) => {
                            sink.invalidate_all();
                        }
                    }
                }
                _ = heartbeat.tick() => {
                    if let Err(end) = within("PING", control.ping::<Value>()).await {
                        return match end {
                            End::Lost(why) | End::Unsupported(why) => End::Lost(why),
                        };
                    }
                }
            }
        }
    }
}

/// Builds the listener's connection name (`CLIENT SETNAME`): unique per store.
pub(crate) fn connection_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("msal-l1-{:016x}", h.finish())
}
