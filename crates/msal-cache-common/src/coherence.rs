//! L1 coherence across instances: an [`InvalidationListener`] of the backend
//! (Redis client-side caching or pub/sub, PostgreSQL `LISTEN`) hears that
//! another instance changed a partition, and its [`InvalidationSink`] drops
//! this instance's L1 copy of it.
//!
//! The rules a [`Layered`](crate::Layered) store follows with a listener:
//! - A partition read from the shared store is copied into L1 only while the
//!   listener is connected, and only if no invalidation of that partition
//!   (nor of everything) arrived while it was being read, so a read that
//!   raced a change on another instance never plants the old value in L1.
//! - When the listener loses its connection, L1 is emptied at once and,
//!   until the listener is connected again, holds only what this instance
//!   itself saves (the outage cushion for tokens it gets meanwhile); when
//!   the listener is back, L1 is emptied again. No instance therefore
//!   serves a partition another one changed for longer than its listener
//!   takes to reconnect.
//! - A save or removal by this instance also counts as an invalidation for
//!   reads in flight, so they cannot overwrite the newer L1 copy.
//!
//! Invalidation is asynchronous: another instance's L1 drops a partition a
//! moment (one message on an open connection) after the change, not at the
//! same time.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use msal::http::BoxFuture;
use msal::storage::{CacheStore, MemoryStore};
use tokio::sync::watch;

/// Number of invalidation counters a fill is checked against (partitions
/// hash onto them; a collision only costs a skipped L1 fill).
const BUCKETS: usize = 4096;

/// What a backend's invalidation listener does: connect, tell the sink it is
/// [`connected`](InvalidationSink::connected), forward what it hears
/// ([`invalidate`](InvalidationSink::invalidate),
/// [`invalidate_all`](InvalidationSink::invalidate_all)), tell it when the
/// connection is lost ([`disconnected`](InvalidationSink::disconnected)),
/// and connect again, until the store is dropped
/// ([`closed`](InvalidationSink::closed)).
pub trait InvalidationListener: Send + Sync + 'static {
    /// Runs the listener until `sink` closes. Spawned once, on the Tokio
    /// runtime of the store's first call.
    fn run(self: Box<Self>, sink: InvalidationSink) -> BoxFuture<'static, ()>;
}

/// The state of a store's invalidation listener, for health checks and
/// tests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidationStatus {
    /// Whether the listener is connected, so that partitions read from the
    /// shared store are kept in L1.
    pub connected: bool,
    /// How it listens (e.g. `"tracking"`, `"pubsub"`, `"listen"`), once it
    /// connected.
    pub mechanism: Option<&'static str>,
    /// Invalidation messages received (a message may name several partitions).
    pub received: u64,
    /// Times the connection was lost after being established.
    pub lost: u64,
    /// The name the listener's connections carry on the server (Redis
    /// `CLIENT SETNAME`, PostgreSQL `application_name`), for operators.
    pub connection_name: String,
}

pub(crate) struct Coherence {
    l1: MemoryStore,
    connected: AtomicBool,
    /// Bumped when L1 is emptied (connection lost or back, "everything changed").
    epoch: AtomicU64,
    buckets: Box<[AtomicU64]>,
    received: AtomicU64,
    lost: AtomicU64,
    mechanism: Mutex<Option<&'static str>>,
    connection_name: String,
}

/// Taken before a read of the shared store, checked before its result is
/// copied into L1.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FillTicket {
    connected: bool,
    epoch: u64,
    bucket: usize,
    count: u64,
}

fn bucket_of(partition: &str) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    partition.hash(&mut h);
    // The modulo keeps it below BUCKETS, so the cast cannot truncate.
    (h.finish() % BUCKETS as u64) as usize
}

impl Coherence {
    pub(crate) fn new(l1: MemoryStore, connection_name: String) -> Self {
        Self {
            l1,
            connected: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            received: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            mechanism: Mutex::new(None),
            connection_name,
        }
    }

    pub(crate) fn ticket(&self, partition: &str) -> FillTicket {
        let bucket = bucket_of(partition);
        // Epoch before the flag: a transition between the two reads changes
        // the epoch, which the check sees.
        let epoch = self.epoch.load(Ordering::Acquire);
        FillTicket {
            connected: self.connected.load(Ordering::Acquire),
            epoch,
            bucket,
            count: self.buckets[bucket].load(Ordering::Acquire),
        }
    }

    /// Whether a value read under `ticket` may go into L1: the listener was
    /// connected all along and nothing invalidated the partition meanwhile.
    pub(crate) fn may_fill(&self, ticket: FillTicket) -> bool {
        ticket.connected
            && self.connected.load(Ordering::Acquire)
            && self.epoch.load(Ordering::Acquire) == ticket.epoch
            && self.buckets[ticket.bucket].load(Ordering::Acquire) == ticket.count
    }

    /// A local save or removal: reads in flight must not fill L1 with what
    /// they found before it.
    pub(crate) fn local_change(&self, partition: &str) {
        self.buckets[bucket_of(partition)].fetch_add(1, Ordering::AcqRel);
    }

    fn empty_l1(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.l1.clear();
    }

    pub(crate) fn status(&self) -> InvalidationStatus {
        InvalidationStatus {
            connected: self.connected.load(Ordering::Acquire),
            mechanism: *self.mechanism.lock().unwrap_or_else(|p| p.into_inner()),
            received: self.received.load(Ordering::Acquire),
            lost: self.lost.load(Ordering::Acquire),
            connection_name: self.connection_name.clone(),
        }
    }
}

/// Where an [`InvalidationListener`] reports. Holds the store weakly: once
/// the store is dropped, every method returns `false` and
/// [`closed`](Self::closed) resolves, and the listener should return.
#[derive(Clone)]
pub struct InvalidationSink {
    coherence: Weak<Coherence>,
    shutdown: watch::Receiver<()>,
}

impl std::fmt::Debug for InvalidationSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvalidationSink")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl InvalidationSink {
    pub(crate) fn new(coherence: &Arc<Coherence>, shutdown: watch::Receiver<()>) -> Self {
        Self {
            coherence: Arc::downgrade(coherence),
            shutdown,
        }
    }

    /// Another instance changed or removed `partition`: drops the L1 copy.
    /// Returns `false` once the store is gone.
    pub async fn invalidate(&self, partition: &str) -> bool {
        self.invalidate_many(&[partition]).await
    }

    /// [`invalidate`](Self::invalidate) for each partition of one message.
    pub async fn invalidate_many<S: AsRef<str> + Sync>(&self, partitions: &[S]) -> bool {
        let Some(c) = self.coherence.upgrade() else {
            return false;
        };
        c.received.fetch_add(1, Ordering::AcqRel);
        for partition in partitions {
            let partition = partition.as_ref();
            c.local_change(partition);
            if let Err(e) = c.l1.remove(partition).await {
                // A MemoryStore does not fail; should one ever, drop everything.
                tracing::debug!(error = %e, "dropping an invalidated L1 entry failed; emptying L1");
                c.empty_l1();
            }
        }
        true
    }

    /// Everything may have changed (the server was flushed, a message could
    /// not be read): empties L1.
    pub fn invalidate_all(&self) -> bool {
        let Some(c) = self.coherence.upgrade() else {
            return false;
        };
        c.received.fetch_add(1, Ordering::AcqRel);
        c.empty_l1();
        true
    }

    /// The listener is connected and hears every change from now on, by
    /// `mechanism` (e.g. `"tracking"`): L1 is emptied (it may miss what
    /// changed while it was not) and fills again.
    pub fn connected(&self, mechanism: &'static str) -> bool {
        let Some(c) = self.coherence.upgrade() else {
            return false;
        };
        *c.mechanism.lock().unwrap_or_else(|p| p.into_inner()) = Some(mechanism);
        if !c.connected.load(Ordering::Acquire) {
            c.empty_l1();
            c.connected.store(true, Ordering::Release);
            tracing::info!(mechanism, "token cache L1 invalidation connected");
        }
        true
    }

    /// The listener lost its connection (or could not make one): L1 is
    /// emptied (when it was connected) and keeps only this instance's own
    /// saves until [`connected`](Self::connected). Calling it again while
    /// disconnected changes nothing.
    pub fn disconnected(&self) -> bool {
        let Some(c) = self.coherence.upgrade() else {
            return false;
        };
        if c.connected.swap(false, Ordering::AcqRel) {
            c.lost.fetch_add(1, Ordering::AcqRel);
            c.empty_l1();
            tracing::warn!(
                "token cache L1 invalidation connection lost; L1 emptied and not refilled from the shared store until it is back"
            );
        }
        true
    }

    /// Whether the store was dropped.
    pub fn is_closed(&self) -> bool {
        self.coherence.strong_count() == 0 || self.shutdown.has_changed().is_err()
    }

    /// Resolves when the store is dropped.
    pub async fn closed(&self) {
        let mut shutdown = self.shutdown.clone();
        // Nothing is ever sent: this returns when the sender (the store) drops.
        while shutdown.changed().await.is_ok() {}
    }

    /// Runs `future` unless the store is dropped first (`None` then).
    pub async fn until_closed<F: std::future::Future>(&self, future: F) -> Option<F::Output> {
        tokio::select! {
            out = future => Some(out),
            () = self.closed() => None,
        }
    }
}

/// A store's listener, spawned on the first call.
pub(crate) struct Listening {
    pub(crate) coherence: Arc<Coherence>,
    pending: Mutex<Option<Box<dyn InvalidationListener>>>,
    started: AtomicBool,
    /// Dropped with the store, which stops the listener.
    shutdown: watch::Sender<()>,
}

impl Listening {
    pub(crate) fn new(
        l1: MemoryStore,
        listener: Box<dyn InvalidationListener>,
        connection_name: String,
    ) -> Self {
        let (shutdown, _) = watch::channel(());
        Self {
            coherence: Arc::new(Coherence::new(l1, connection_name)),
            pending: Mutex::new(Some(listener)),
            started: AtomicBool::new(false),
            shutdown,
        }
    }

    /// Spawns the listener on the current runtime the first time this is
    /// called from one.
    pub(crate) fn start(&self) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let listener = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            match pending.take() {
                Some(listener) => listener,
                None => return,
            }
        };
        self.started.store(true, Ordering::Release);
        let sink = InvalidationSink::new(&self.coherence, self.shutdown.subscribe());
        runtime.spawn(listener.run(sink));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msal::storage::SaveHint;

    fn setup() -> (Arc<Coherence>, InvalidationSink, watch::Sender<()>) {
        let c = Arc::new(Coherence::new(MemoryStore::new(), "test".into()));
        let (tx, rx) = watch::channel(());
        let sink = InvalidationSink::new(&c, rx);
        (c, sink, tx)
    }

    #[tokio::test]
    async fn fills_need_a_connection_and_no_invalidation_in_between() {
        let (c, sink, _tx) = setup();
        let t = c.ticket("p");
        assert!(!c.may_fill(t), "not connected yet");
        assert!(sink.connected("test"));
        let t = c.ticket("p");
        assert!(c.may_fill(t));
        assert!(sink.invalidate("p").await);
        assert!(!c.may_fill(t), "invalidated while reading");
        let t = c.ticket("p");
        c.local_change("p");
        assert!(!c.may_fill(t), "saved locally while reading");
        let t = c.ticket("p");
        assert!(sink.invalidate_all());
        assert!(!c.may_fill(t), "everything invalidated while reading");
        let t = c.ticket("p");
        assert!(sink.disconnected());
        assert!(sink.connected("test"));
        assert!(!c.may_fill(t), "the connection dropped while reading");
        let status = c.status();
        assert_eq!((status.received, status.lost), (2, 1));
        assert_eq!(status.mechanism, Some("test"));
    }

    #[tokio::test]
    async fn invalidation_and_connection_changes_empty_l1() {
        let (c, sink, _tx) = setup();
        let l1 = c.l1.clone();
        let put = |k: &'static str| {
            let l1 = l1.clone();
            async move {
                l1.save(k, b"x".to_vec(), SaveHint::default())
                    .await
                    .unwrap();
            }
        };
        put("a").await;
        put("b").await;
        sink.connected("test");
        assert_eq!(l1.load("a").await.unwrap(), None, "emptied on connect");
        put("a").await;
        put("b").await;
        sink.invalidate("a").await;
        assert_eq!(l1.load("a").await.unwrap(), None);
        assert!(l1.load("b").await.unwrap().is_some());
        sink.disconnected();
        assert_eq!(l1.load("b").await.unwrap(), None, "emptied on loss");
        assert!(!c.status().connected);
    }

    #[tokio::test]
    async fn a_dropped_store_closes_the_sink() {
        let (c, sink, tx) = setup();
        assert!(!sink.is_closed());
        drop(tx);
        assert!(sink.is_closed());
        sink.closed().await;
        assert_eq!(sink.until_closed(std::future::pending::<()>()).await, None);
        drop(c);
        assert!(!sink.connected("test"));
        assert!(!sink.invalidate("p").await);
    }
}
