//! One contract for the shared token stores, run on every backend: single
//! Redis, Redis Cluster, PostgreSQL direct and PostgreSQL through PgBouncer.
//! A backend crate implements [`Backend`] in its tests and expands
//! [`store_contract_tests!`](crate::store_contract_tests) once per backend.
//!
//! The checks: save, load, replace and remove; L1 read-through with the
//! stored lifetime and write-through; encryption in the store and
//! unreadable values as misses; concurrent tasks on many partitions; and
//! L1 coherence across two instances (separate connections and L1s): a
//! write or removal on one drops the other's L1 copy, also after the
//! other's invalidation connection was cut and came back, and a user signed
//! out on one instance gets no token from the other's L1.

use std::sync::Arc;
use std::time::{Duration, Instant};

use msal::clock::{Clock, ManualClock};
use msal::http::BoxFuture;
use msal::storage::{CacheStore, MemoryStore, SaveHint};

use crate::FakeHttp;
use crate::confidential::{confidential_app, sign_in_user, unique_tenant};

/// How a check wants its store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Setup {
    /// msal's clock for the store (and its L1).
    pub clock: Arc<ManualClock>,
    /// Whether to put an L1 in front.
    pub l1: bool,
    /// Whether the L1 hears other instances' changes (on by default in the
    /// stores; off for the control instance of a check).
    pub invalidation: bool,
    /// The encryption key, if any.
    pub encryption_key: Option<[u8; 32]>,
}

impl Setup {
    /// A store with no L1 and no encryption on `clock`.
    pub fn plain(clock: &Arc<ManualClock>) -> Self {
        Self {
            clock: clock.clone(),
            l1: false,
            invalidation: true,
            encryption_key: None,
        }
    }

    /// With an L1 (invalidation on).
    pub fn with_l1(mut self) -> Self {
        self.l1 = true;
        self
    }

    /// With invalidation off.
    pub fn without_invalidation(mut self) -> Self {
        self.invalidation = false;
        self
    }

    /// With values encrypted by `key`.
    pub fn encrypted(mut self, key: [u8; 32]) -> Self {
        self.encryption_key = Some(key);
        self
    }

    /// The L1 a store of this setup should use.
    pub fn memory_store(&self) -> MemoryStore {
        MemoryStore::builder().clock(self.clock.clone()).build()
    }
}

/// A shared store under test.
pub trait Backend: Send + Sync + 'static {
    /// The store type.
    type Store: CacheStore + Clone;
    /// A namespace of one check (a key prefix, a schema), cleaned up when
    /// dropped; stores built in one namespace share their data.
    type Namespace: Send + Sync;

    /// A fresh namespace.
    fn namespace(&self) -> BoxFuture<'_, Self::Namespace>;
    /// A new store instance (its own connections and L1) in `ns`.
    fn store(&self, ns: &Self::Namespace, setup: &Setup) -> Self::Store;
    /// What the shared store holds for `partition`, read behind the store's back.
    fn stored<'a>(
        &'a self,
        ns: &'a Self::Namespace,
        partition: &'a str,
    ) -> BoxFuture<'a, Option<Vec<u8>>>;
    /// Writes `value` for `partition` behind the store's back (no expiry).
    fn put_stored<'a>(
        &'a self,
        ns: &'a Self::Namespace,
        partition: &'a str,
        value: &'a [u8],
    ) -> BoxFuture<'a, ()>;
    /// The store's L1.
    fn l1(store: &Self::Store) -> Option<MemoryStore>;
    /// Whether its invalidation listener is connected, and how many times
    /// it lost its connection (`None` without one).
    fn invalidation(store: &Self::Store) -> Option<(bool, u64)>;
    /// Cuts the store's invalidation connection(s) on the server side
    /// (`CLIENT KILL`, `pg_terminate_backend`).
    fn cut_invalidation<'a>(&'a self, store: &'a Self::Store) -> BoxFuture<'a, ()>;
}

/// How long a check waits for something that happens in the background
/// (an invalidation arriving, a listener reconnecting) before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Waits (polling every millisecond, at most [`PATIENCE`]) until `check`
/// holds; panics with `what` otherwise. Returns how long it took.
pub async fn eventually<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if check().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("not within {PATIENCE:?}: {what}");
}

async fn in_l1<B: Backend>(store: &B::Store, partition: &str) -> Option<Vec<u8>> {
    let l1 = B::l1(store).expect("a store with an L1");
    l1.load(partition).await.expect("L1 does not fail")
}

/// Loads `partition` through `store` until its L1 keeps the copy (a read
/// that overlaps the invalidation of an earlier write is, rightly, not
/// kept); returns the document.
pub async fn read_into_l1<B: Backend>(store: &B::Store, partition: &str) -> Vec<u8> {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        let doc = store.load(partition).await.unwrap();
        if in_l1::<B>(store, partition).await.is_some() {
            return doc.expect("the partition exists");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("not within {PATIENCE:?}: a read of {partition} is kept in L1");
}

/// Waits until `store`'s invalidation listener is connected.
pub async fn connected<B: Backend>(store: &B::Store) {
    // Any call starts the listener.
    let _ = store.load("contract-start").await;
    eventually("the invalidation listener connects", || async {
        B::invalidation(store).is_some_and(|(up, _)| up)
    })
    .await;
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_unix(1_700_000_000))
}

/// Save, load, replace, remove; a missing partition is a miss.
pub async fn round_trip<B: Backend>(backend: &B) {
    let ns = backend.namespace().await;
    let clock = clock();
    let store = backend.store(&ns, &Setup::plain(&clock));
    assert_eq!(store.load("cid_tid_AppTokenCache").await.unwrap(), None);
    let hint = SaveHint::expiring_at(Some(clock.now() + Duration::from_secs(3_600)));
    store
        .save("cid_tid_AppTokenCache", b"{\"v\":1}".to_vec(), hint)
        .await
        .unwrap();
    assert_eq!(
        backend
            .stored(&ns, "cid_tid_AppTokenCache")
            .await
            .as_deref(),
        Some(&b"{\"v\":1}"[..])
    );
    assert_eq!(
        store
            .load("cid_tid_AppTokenCache")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"{\"v\":1}"[..])
    );
    store
        .save(
            "cid_tid_AppTokenCache",
            b"{\"v\":2}".to_vec(),
            SaveHint::default(),
        )
        .await
        .unwrap();
    let other = backend.store(&ns, &Setup::plain(&clock));
    assert_eq!(
        other
            .load("cid_tid_AppTokenCache")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"{\"v\":2}"[..]),
        "another instance reads the replacement"
    );
    // A partition key with characters a key layout might trip on.
    let odd = "uid.utid-{x}}:ü";
    store
        .save(odd, b"odd".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(other.load(odd).await.unwrap().as_deref(), Some(&b"odd"[..]));
    store.remove("cid_tid_AppTokenCache").await.unwrap();
    assert_eq!(backend.stored(&ns, "cid_tid_AppTokenCache").await, None);
    assert_eq!(other.load("cid_tid_AppTokenCache").await.unwrap(), None);
    // Saving with an expiry already past removes the partition.
    store
        .save(
            odd,
            b"gone".to_vec(),
            SaveHint::expiring_at(Some(clock.now())),
        )
        .await
        .unwrap();
    assert_eq!(backend.stored(&ns, odd).await, None);
}

/// L1 reads through with the stored lifetime, then serves hits alone;
/// saves and removals write through.
pub async fn l1_reads_and_writes_through<B: Backend>(backend: &B) {
    let ns = backend.namespace().await;
    let clock = clock();
    let plain = backend.store(&ns, &Setup::plain(&clock));
    let layered = backend.store(&ns, &Setup::plain(&clock).with_l1());
    connected::<B>(&layered).await;
    let hint = SaveHint::expiring_at(Some(clock.now() + Duration::from_secs(120)));
    plain.save("p", b"stored".to_vec(), hint).await.unwrap();
    assert_eq!(read_into_l1::<B>(&layered, "p").await, b"stored");
    assert_eq!(
        in_l1::<B>(&layered, "p").await.as_deref(),
        Some(&b"stored"[..])
    );
    // The L1 copy carries the stored lifetime (about 120 s on msal's clock).
    clock.advance(Duration::from_secs(115));
    assert!(in_l1::<B>(&layered, "p").await.is_some());
    clock.advance(Duration::from_secs(10));
    assert_eq!(in_l1::<B>(&layered, "p").await, None, "expired in L1");

    // Write-through. (The L1 copy of a save may be dropped again a moment
    // later by the store's own change coming back as an invalidation, as
    // Redis tracking reports every writer's changes: it is not asserted.)
    layered
        .save("q", b"both".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        backend.stored(&ns, "q").await.as_deref(),
        Some(&b"both"[..])
    );
    assert_eq!(
        layered.load("q").await.unwrap().as_deref(),
        Some(&b"both"[..])
    );
    layered.remove("q").await.unwrap();
    assert_eq!(backend.stored(&ns, "q").await, None);
    assert_eq!(in_l1::<B>(&layered, "q").await, None);
}

/// Values are ciphertext in the store; a value no configured key opens is
/// a miss and is deleted.
pub async fn encrypted_values_and_unreadable_ones<B: Backend>(backend: &B) {
    let ns = backend.namespace().await;
    let clock = clock();
    let key = [7u8; 32];
    let store = backend.store(&ns, &Setup::plain(&clock).encrypted(key));
    let doc = br#"{"AccessToken":{"x":{"secret":"eyJ-top-secret"}}}"#.to_vec();
    store
        .save("uid.utid", doc.clone(), SaveHint::default())
        .await
        .unwrap();
    let raw = backend.stored(&ns, "uid.utid").await.unwrap();
    assert!(
        !raw.windows(10).any(|w| w == b"top-secret"),
        "ciphertext only"
    );
    let again = backend.store(&ns, &Setup::plain(&clock).encrypted(key));
    assert_eq!(again.load("uid.utid").await.unwrap(), Some(doc));
    let wrong = backend.store(&ns, &Setup::plain(&clock).encrypted([8u8; 32]));
    assert_eq!(wrong.load("uid.utid").await.unwrap(), None, "a miss");
    assert_eq!(backend.stored(&ns, "uid.utid").await, None, "deleted");
    backend.put_stored(&ns, "junk", b"\x01not sealed").await;
    assert_eq!(store.load("junk").await.unwrap(), None);
    assert_eq!(backend.stored(&ns, "junk").await, None);
}

/// Fifty tasks, ten rounds each, on fifty partitions of one store with an L1.
pub async fn many_tasks_on_many_partitions<B: Backend>(backend: &B) {
    let ns = backend.namespace().await;
    let clock = clock();
    let store = backend.store(&ns, &Setup::plain(&clock).with_l1());
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0..10 {
                    let partition = format!("cid_tenant{i}_AppTokenCache");
                    let doc = format!("{{\"tenant\":{i},\"round\":{round}}}").into_bytes();
                    store
                        .save(&partition, doc.clone(), SaveHint::default())
                        .await
                        .unwrap();
                    assert_eq!(store.load(&partition).await.unwrap(), Some(doc));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for i in 0..50 {
        assert_eq!(
            backend
                .stored(&ns, &format!("cid_tenant{i}_AppTokenCache"))
                .await
                .unwrap(),
            format!("{{\"tenant\":{i},\"round\":9}}").into_bytes()
        );
    }
}

/// A write and a removal on instance A drop instance B's L1 copy; B then
/// reads what A left. An instance without invalidation keeps its stale copy
/// (the gap invalidation closes).
pub async fn another_instances_changes_drop_the_l1_copy<B: Backend>(backend: &B) {
    let ns = backend.namespace().await;
    let clock = clock();
    let a = backend.store(&ns, &Setup::plain(&clock).with_l1());
    let b = backend.store(&ns, &Setup::plain(&clock).with_l1());
    let stale = backend.store(&ns, &Setup::plain(&clock).with_l1().without_invalidation());
    connected::<B>(&a).await;
    connected::<B>(&b).await;
    a.save("p", b"v1".to_vec(), SaveHint::default())
        .await
        .unwrap();
    for store in [&b, &stale] {
        assert_eq!(read_into_l1::<B>(store, "p").await, b"v1", "held in L1");
    }

    a.save("p", b"v2".to_vec(), SaveHint::default())
        .await
        .unwrap();
    eventually("B's L1 drops p after A's write", || async {
        in_l1::<B>(&b, "p").await.as_deref() != Some(&b"v1"[..])
    })
    .await;
    assert_eq!(b.load("p").await.unwrap().as_deref(), Some(&b"v2"[..]));

    a.remove("p").await.unwrap();
    eventually("B's L1 drops p after A's removal", || async {
        in_l1::<B>(&b, "p").await.is_none()
    })
    .await;
    assert_eq!(b.load("p").await.unwrap(), None);
    assert_eq!(
        stale.load("p").await.unwrap().as_deref(),
        Some(&b"v1"[..]),
        "without invalidation the old copy stays"
    );
}

/// B's invalidation connection is cut on the server: B's L1 is emptied,
/// keeps no copy read from the store while the listener is away, and once
/// it is back a removal on A drops B's copy again.
pub async fn invalidation_survives_a_cut_connection<B: Backend>(backend: &B) {
    let ns = backend.namespace().await;
    let clock = clock();
    let a = backend.store(&ns, &Setup::plain(&clock).with_l1());
    let b = backend.store(&ns, &Setup::plain(&clock).with_l1());
    connected::<B>(&a).await;
    connected::<B>(&b).await;
    a.save("p", b"v1".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(read_into_l1::<B>(&b, "p").await, b"v1");
    let lost_before = B::invalidation(&b).map_or(0, |(_, lost)| lost);

    backend.cut_invalidation(&b).await;
    eventually("B notices its invalidation connection is gone", || async {
        B::invalidation(&b).is_some_and(|(_, lost)| lost > lost_before)
    })
    .await;
    assert_eq!(
        in_l1::<B>(&b, "p").await,
        None,
        "emptied when the connection went"
    );
    eventually("B's listener reconnects", || async {
        B::invalidation(&b).is_some_and(|(up, _)| up)
    })
    .await;
    assert_eq!(
        read_into_l1::<B>(&b, "p").await,
        b"v1",
        "fills again once back"
    );

    a.remove("p").await.unwrap();
    eventually("B's L1 drops p after A's removal", || async {
        in_l1::<B>(&b, "p").await.is_none()
    })
    .await;
    assert_eq!(b.load("p").await.unwrap(), None);
}

/// Web app on two instances: a user signs in on A; B reads the user's
/// partition into its L1 and serves a silent token from it; the user signs
/// out on A; B's next silent call returns no token (user interaction
/// required). A third instance without invalidation still hands out the
/// signed-out user's token from its L1.
pub async fn a_signed_out_user_gets_no_token_from_another_instances_l1<B: Backend>(backend: &B) {
    let ns = backend.namespace().await;
    let clock = clock();
    let tenant = unique_tenant();
    let uid = "00000000-0000-0000-0000-0000000000a1";
    let stores = [
        backend.store(&ns, &Setup::plain(&clock).with_l1()),
        backend.store(&ns, &Setup::plain(&clock).with_l1()),
        backend.store(&ns, &Setup::plain(&clock).with_l1().without_invalidation()),
    ];
    for store in &stores[..2] {
        connected::<B>(store).await;
    }
    let idps: Vec<Arc<FakeHttp>> = (0..3).map(|_| FakeHttp::new()).collect();
    let apps: Vec<_> = stores
        .iter()
        .zip(&idps)
        .map(|(store, idp)| confidential_app(store.clone(), idp, &clock, &tenant))
        .collect();
    let (a, b, stale) = (&apps[0], &apps[1], &apps[2]);

    let account = sign_in_user(a, &idps[0], &tenant, uid, "at-of-the-user", true).await;
    let partition = account.home_account_id().to_owned();
    for store in &stores[1..] {
        read_into_l1::<B>(store, &partition).await;
    }
    for app in [b, stale] {
        let found = app
            .account(&partition)
            .await
            .unwrap()
            .expect("the account in its partition");
        let hit = app
            .acquire_token_silent(&["User.Read"], &found)
            .await
            .unwrap();
        assert_eq!(hit.access_token().expose_secret(), "at-of-the-user");
        assert_eq!(hit.source(), msal::TokenSource::Cache);
    }
    assert!(
        in_l1::<B>(&stores[1], &partition).await.is_some(),
        "B holds the user in L1"
    );

    a.remove_account(&account).await.unwrap();
    eventually("B's L1 drops the signed-out user's partition", || async {
        in_l1::<B>(&stores[1], &partition)
            .await
            .is_none_or(|doc| !doc.windows(14).any(|w| w == b"at-of-the-user"))
    })
    .await;
    let err = b
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .expect_err("no token for a signed-out user");
    assert!(err.is_ui_required(), "{err:?}");
    let from_stale = stale
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .expect("without invalidation the old L1 copy still answers");
    assert_eq!(from_stale.access_token().expose_secret(), "at-of-the-user");
    for idp in &idps {
        idp.assert_consumed();
    }
}

/// Expands to one `#[tokio::test]` per contract check for the backend
/// `$backend` (an expression building a [`Backend`]).
#[macro_export]
macro_rules! store_contract_tests {
    ($backend:expr) => {
        $crate::store_contract_tests!(@each $backend;
            round_trip,
            l1_reads_and_writes_through,
            encrypted_values_and_unreadable_ones,
            many_tasks_on_many_partitions,
            another_instances_changes_drop_the_l1_copy,
            invalidation_survives_a_cut_connection,
            a_signed_out_user_gets_no_token_from_another_instances_l1
        );
    };
    (@each $backend:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::store_contract::$check(&$backend).await;
            }
        )*
    };
}
