use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use msal::clock::ManualClock;
use msal_test_support::LogCapture;

use super::*;

const T0: u64 = 1_700_000_000;

/// An in-process L2 that can be switched off or made to hang.
#[derive(Clone, Default)]
struct Fake(Arc<FakeState>);

#[derive(Default)]
struct FakeState {
    map: Mutex<HashMap<String, Stored>>,
    down: AtomicBool,
    hang: AtomicBool,
    refuse: Mutex<Option<StorageErrorKind>>,
    calls: AtomicUsize,
    /// When set, a get reads the value at once and answers only when notified.
    gate: Mutex<Option<Arc<tokio::sync::Notify>>>,
}

impl Fake {
    fn calls(&self) -> usize {
        self.0.calls.load(Ordering::SeqCst)
    }
    fn raw(&self, key: &str) -> Option<Stored> {
        self.0.map.lock().unwrap().get(key).cloned()
    }
    fn put_raw(&self, key: &str, value: &[u8], expires_at: Option<SystemTime>) {
        self.0.map.lock().unwrap().insert(
            key.to_owned(),
            Stored {
                value: value.to_vec(),
                expires_at,
            },
        );
    }
    fn set_down(&self, down: bool) {
        self.0.down.store(down, Ordering::SeqCst);
    }
    fn enter(&self) -> BoxFuture<'static, Result<(), StorageError>> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        let down = self.0.down.load(Ordering::SeqCst);
        let hang = self.0.hang.load(Ordering::SeqCst);
        let refuse = *self.0.refuse.lock().unwrap();
        Box::pin(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            if down {
                Err(StorageError::new(
                    StorageErrorKind::Unavailable,
                    "connection refused",
                ))
            } else if let Some(kind) = refuse {
                Err(StorageError::new(kind, "refused"))
            } else {
                Ok(())
            }
        })
    }
}

impl RemoteBackend for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn get(
        &self,
        key: &str,
        _now: SystemTime,
    ) -> BoxFuture<'_, Result<Option<Stored>, StorageError>> {
        let key = key.to_owned();
        let enter = self.enter();
        let gate = self.0.gate.lock().unwrap().clone();
        Box::pin(async move {
            enter.await?;
            let value = self.raw(&key);
            if let Some(gate) = gate {
                gate.notified().await;
            }
            Ok(value)
        })
    }
    fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Option<SystemTime>,
        _now: SystemTime,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let key = key.to_owned();
        let enter = self.enter();
        Box::pin(async move {
            enter.await?;
            self.put_raw(&key, &value, expires_at);
            Ok(())
        })
    }
    fn delete(&self, key: &str) -> BoxFuture<'_, Result<(), StorageError>> {
        let key = key.to_owned();
        let enter = self.enter();
        Box::pin(async move {
            enter.await?;
            self.0.map.lock().unwrap().remove(&key);
            Ok(())
        })
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_unix(T0))
}

fn l1(clock: &Arc<ManualClock>) -> MemoryStore {
    MemoryStore::builder().clock(clock.clone()).build()
}

fn layered(
    fake: &Fake,
    clock: &Arc<ManualClock>,
    with_l1: bool,
    key: Option<[u8; 32]>,
) -> Layered<Fake> {
    let mut config = LayerConfig::default()
        .clock(clock.clone())
        .retry_interval(Duration::from_secs(5));
    if with_l1 {
        config = config.l1(l1(clock));
    }
    if let Some(key) = key {
        config = config.encryption_key(EncryptionKey::from_bytes(key));
    }
    Layered::new(fake.clone(), config)
}

#[tokio::test]
async fn reads_through_l1_with_the_l2_lifetime_and_writes_through_both() {
    let (fake, clock) = (Fake::default(), clock());
    let store = layered(&fake, &clock, true, None);
    let expires = clock.now() + Duration::from_secs(60);
    fake.put_raw("p", b"from-l2", Some(expires));
    assert_eq!(
        store.load("p").await.unwrap().as_deref(),
        Some(&b"from-l2"[..])
    );
    assert_eq!(
        store.load("p").await.unwrap().as_deref(),
        Some(&b"from-l2"[..])
    );
    assert_eq!(fake.calls(), 1, "the second load is an L1 hit");
    // The L1 copy expires with the L2 value.
    clock.advance(Duration::from_secs(60));
    assert_eq!(store.l1().unwrap().load("p").await.unwrap(), None);

    store
        .save(
            "q",
            b"doc".to_vec(),
            SaveHint::expiring_at(Some(expires + Duration::from_secs(60))),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.raw("q").unwrap(),
        Stored {
            value: b"doc".to_vec(),
            expires_at: Some(expires + Duration::from_secs(60))
        }
    );
    assert_eq!(
        store.l1().unwrap().load("q").await.unwrap().as_deref(),
        Some(&b"doc"[..])
    );
    store.remove("q").await.unwrap();
    assert_eq!(fake.raw("q"), None);
    assert_eq!(store.load("q").await.unwrap(), None);
}

#[tokio::test]
async fn without_l1_every_load_goes_to_l2_and_expired_values_are_misses() {
    let (fake, clock) = (Fake::default(), clock());
    let store = layered(&fake, &clock, false, None);
    fake.put_raw("p", b"v", Some(clock.now()));
    assert_eq!(
        store.load("p").await.unwrap(),
        None,
        "expires_at == now is expired"
    );
    fake.put_raw("p", b"v", None);
    store.load("p").await.unwrap();
    store.load("p").await.unwrap();
    assert_eq!(fake.calls(), 3);
}

#[tokio::test]
async fn saving_an_expired_partition_removes_it_everywhere() {
    let (fake, clock) = (Fake::default(), clock());
    let store = layered(&fake, &clock, true, None);
    store
        .save("p", b"doc".to_vec(), SaveHint::default())
        .await
        .unwrap();
    store
        .save(
            "p",
            b"doc2".to_vec(),
            SaveHint::expiring_at(Some(clock.now())),
        )
        .await
        .unwrap();
    assert_eq!(fake.raw("p"), None);
    assert_eq!(store.load("p").await.unwrap(), None);
}

#[tokio::test]
async fn l2_values_are_encrypted_and_undecryptable_ones_are_discarded_as_misses() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (fake, clock) = (Fake::default(), clock());
    let store = layered(&fake, &clock, true, Some([1; 32]));
    let doc = br#"{"AccessToken":{"k":{"secret":"at-secret"}}}"#.to_vec();
    store
        .save("user-a", doc.clone(), SaveHint::default())
        .await
        .unwrap();
    let raw = fake.raw("user-a").unwrap().value;
    assert!(
        !raw.windows(9).any(|w| w == b"at-secret"),
        "L2 holds ciphertext"
    );
    assert_eq!(
        store.l1().unwrap().load("user-a").await.unwrap(),
        Some(doc.clone()),
        "L1 holds plaintext"
    );

    let fresh = layered(&fake, &clock, false, Some([1; 32]));
    assert_eq!(fresh.load("user-a").await.unwrap(), Some(doc.clone()));
    let wrong = layered(&fake, &clock, true, Some([2; 32]));
    assert_eq!(
        wrong.load("user-a").await.unwrap(),
        None,
        "a miss, so the engine asks the identity provider"
    );
    assert_eq!(fake.raw("user-a"), None, "and the value is gone from L2");
    assert_eq!(
        wrong.l1().unwrap().load("user-a").await.unwrap(),
        None,
        "nothing undecryptable reaches L1"
    );
    assert!(wrong.is_available(), "a bad value is not an outage");
    // The next save replaces it, readable again.
    wrong
        .save("user-a", doc.clone(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        layered(&fake, &clock, false, Some([2; 32]))
            .load("user-a")
            .await
            .unwrap(),
        Some(doc.clone())
    );

    // A partition pasted under another key does not open there.
    fake.put_raw("user-b", &raw, None);
    assert_eq!(fresh.load("user-b").await.unwrap(), None);
    assert_eq!(fake.raw("user-b"), None);
    let mut tampered = raw.clone();
    *tampered.last_mut().unwrap() ^= 1;
    fake.put_raw("user-c", &tampered, None);
    assert_eq!(fresh.load("user-c").await.unwrap(), None);
    assert_eq!(fake.raw("user-c"), None);
    // A plaintext value where ciphertext is expected.
    fake.put_raw("user-d", &doc, None);
    assert_eq!(fresh.load("user-d").await.unwrap(), None);
    assert_eq!(fake.raw("user-d"), None);

    let text = logs.contents();
    assert_eq!(
        text.matches("discarding an unreadable token cache value")
            .count(),
        4,
        "{text}"
    );
    assert!(
        text.contains("WARN") && text.contains("partition_hash"),
        "{text}"
    );
    assert!(
        !text.contains("user-") && !text.contains("at-secret"),
        "no partition key (personal data) and no value in logs: {text}"
    );
    assert!(
        text.contains(&partition_hash("user-b")),
        "the same key always gives the same hash: {text}"
    );
}

#[tokio::test]
async fn previous_keys_read_old_values_and_saves_reseal_with_the_primary() {
    let (fake, clock) = (Fake::default(), clock());
    let old = layered(&fake, &clock, false, Some([1; 32]));
    old.save("p", b"sealed-with-old".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let rotated = Layered::new(
        fake.clone(),
        LayerConfig::default()
            .clock(clock.clone())
            .encryption_key(EncryptionKey::from_bytes([2; 32]))
            .previous_encryption_key(EncryptionKey::from_bytes([9; 32]))
            .previous_encryption_key(EncryptionKey::from_bytes([1; 32])),
    );
    assert_eq!(
        rotated.load("p").await.unwrap().as_deref(),
        Some(&b"sealed-with-old"[..])
    );
    assert!(fake.raw("p").is_some(), "a readable value is kept");
    rotated
        .save("p", b"sealed-with-new".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let new_only = layered(&fake, &clock, false, Some([2; 32]));
    assert_eq!(
        new_only.load("p").await.unwrap().as_deref(),
        Some(&b"sealed-with-new"[..]),
        "new values are sealed with the primary key alone"
    );
    // Previous keys without a primary do nothing: values are stored as given.
    let plain = Layered::new(
        fake.clone(),
        LayerConfig::default()
            .clock(clock.clone())
            .previous_encryption_key(EncryptionKey::from_bytes([1; 32])),
    );
    plain
        .save("q", b"plain".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(fake.raw("q").unwrap().value, b"plain");
}

#[tokio::test]
async fn an_outage_goes_on_with_l1_logs_once_probes_sparingly_and_recovers() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (fake, clock) = (Fake::default(), clock());
    let store = layered(&fake, &clock, true, None);
    store
        .save("kept", b"before".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(store.is_available());

    fake.set_down(true);
    let calls_before = fake.calls();
    for i in 0..20 {
        store
            .save(&format!("p{i}"), b"during".to_vec(), SaveHint::default())
            .await
            .unwrap();
        assert_eq!(
            store.load(&format!("p{i}")).await.unwrap().as_deref(),
            Some(&b"during"[..]),
            "served by L1"
        );
        assert_eq!(
            store.load("missing").await.unwrap(),
            None,
            "a miss: the engine asks the identity provider"
        );
    }
    store.remove("kept").await.unwrap();
    assert!(!store.is_available());
    assert_eq!(
        fake.calls() - calls_before,
        1,
        "one failed call, then no probe inside the retry interval"
    );
    assert_eq!(
        logs.contents().matches("unavailable; going on").count(),
        1,
        "{}",
        logs.contents()
    );

    clock.advance(Duration::from_secs(5));
    assert_eq!(store.load("missing").await.unwrap(), None);
    assert_eq!(
        fake.calls() - calls_before,
        2,
        "one probe after the interval"
    );

    fake.set_down(false);
    assert_eq!(store.load("missing").await.unwrap(), None);
    assert_eq!(
        fake.calls() - calls_before,
        2,
        "still inside the new interval"
    );
    clock.advance(Duration::from_secs(5));
    fake.put_raw("missing", b"back", None);
    assert_eq!(
        store.load("missing").await.unwrap().as_deref(),
        Some(&b"back"[..])
    );
    assert!(store.is_available());
    store
        .save("after", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(fake.raw("after").is_some(), "writes reach L2 again");
    let text = logs.contents();
    assert_eq!(text.matches("unavailable; going on").count(), 1, "{text}");
    assert_eq!(text.matches("available again").count(), 1, "{text}");
    assert!(
        !text.contains("during") && !text.contains("p1"),
        "no documents or keys in logs: {text}"
    );
}

#[tokio::test]
async fn fail_closed_reports_the_outage_but_still_updates_l1() {
    let (fake, clock) = (Fake::default(), clock());
    let store = Layered::new(
        fake.clone(),
        LayerConfig::default()
            .clock(clock.clone())
            .l1(l1(&clock))
            .fail_open(false)
            .retry_interval(Duration::ZERO),
    );
    fake.set_down(true);
    let err = store
        .save("p", b"doc".to_vec(), SaveHint::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Unavailable);
    assert_eq!(store.load("p").await.unwrap().as_deref(), Some(&b"doc"[..]));
    assert_eq!(
        store.load("q").await.unwrap_err().kind,
        StorageErrorKind::Unavailable
    );
    assert_eq!(
        store.remove("p").await.unwrap_err().kind,
        StorageErrorKind::Unavailable
    );
    assert_eq!(store.l1().unwrap().load("p").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_l2_times_out_into_a_miss() {
    let (fake, clock) = (Fake::default(), clock());
    let store = Layered::new(
        fake.clone(),
        LayerConfig::default()
            .clock(clock.clone())
            .operation_timeout(Duration::from_millis(300)),
    );
    fake.0.hang.store(true, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    assert_eq!(store.load("p").await.unwrap(), None);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(300),
        "paused tokio time: exactly the timeout"
    );
    assert!(!store.is_available());
    store
        .save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        fake.calls(),
        1,
        "the save did not wait on the dead server again"
    );
}

#[test]
fn futures_are_send_and_debug_hides_values() {
    fn is_send<T: Send>(_: &T) {}
    let store = layered(&Fake::default(), &clock(), true, Some([3; 32]));
    is_send(&store.load("p"));
    is_send(&store.save("p", Vec::new(), SaveHint::default()));
    is_send(&store.remove("p"));
    let shown = format!(
        "{store:?} {:?} {:?}",
        LayerConfig::default().encryption_key(EncryptionKey::from_bytes([3; 32])),
        Stored {
            value: b"secret".to_vec(),
            expires_at: None
        }
    );
    assert!(
        !shown.contains("secret\"") && !shown.contains("3, 3"),
        "{shown}"
    );
    assert!(
        shown.contains("encryption: \"set\"") || shown.contains("encryption: set"),
        "{shown}"
    );
}

#[tokio::test]
async fn refusals_are_errors_even_when_failing_open_and_not_an_outage() {
    let (fake, manual) = (Fake::default(), clock());
    let store = layered(&fake, &manual, true, None);
    *fake.0.refuse.lock().unwrap() = Some(StorageErrorKind::Other);
    assert_eq!(
        store.load("p").await.unwrap_err().kind,
        StorageErrorKind::Other
    );
    let err = store
        .save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Other);
    assert_eq!(
        store.remove("p").await.unwrap_err().kind,
        StorageErrorKind::Other
    );
    assert!(store.is_available(), "the server answered");
    assert_eq!(fake.calls(), 3, "no call was skipped");

    for kind in [StorageErrorKind::Io, StorageErrorKind::Unavailable] {
        let (fake, clock) = (Fake::default(), clock());
        let store = layered(&fake, &clock, false, None);
        *fake.0.refuse.lock().unwrap() = Some(kind);
        assert_eq!(
            store.load("p").await.unwrap(),
            None,
            "{kind:?} is an outage, ridden out"
        );
        assert!(!store.is_available());
    }
}

#[tokio::test]
async fn a_value_the_backend_reports_corrupt_is_deleted_and_a_miss() {
    let (fake, clock) = (Fake::default(), clock());
    let store = layered(&fake, &clock, true, None);
    fake.put_raw("p", b"whatever", None);
    *fake.0.refuse.lock().unwrap() = Some(StorageErrorKind::Corrupt);
    assert_eq!(store.load("p").await.unwrap(), None);
    assert_eq!(fake.calls(), 2, "the read, then a best-effort delete");
    assert!(store.is_available());
    // Here the delete was refused too; nothing is returned, the next read retries it.
    assert!(fake.raw("p").is_some());
    *fake.0.refuse.lock().unwrap() = None;
    store
        .save("p", b"fresh".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(fake.raw("p").unwrap().value, b"fresh");
}

#[tokio::test]
async fn contention_is_a_miss_for_that_call_but_not_an_outage() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (fake, clock) = (Fake::default(), clock());
    let store = layered(&fake, &clock, false, None);
    fake.put_raw("p", b"v", None);
    *fake.0.refuse.lock().unwrap() = Some(StorageErrorKind::LockTimeout);
    for _ in 0..5 {
        assert_eq!(store.load("p").await.unwrap(), None, "ridden out as a miss");
        store
            .save("q", b"x".to_vec(), SaveHint::default())
            .await
            .unwrap();
    }
    assert!(store.is_available(), "a busy server is not down");
    assert_eq!(fake.calls(), 10, "every call still tried the server");
    *fake.0.refuse.lock().unwrap() = None;
    assert_eq!(store.load("p").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert!(
        !logs.contents().contains("unavailable"),
        "{}",
        logs.contents()
    );

    let closed = Layered::new(
        fake.clone(),
        LayerConfig::default().clock(clock.clone()).fail_open(false),
    );
    *fake.0.refuse.lock().unwrap() = Some(StorageErrorKind::LockTimeout);
    assert_eq!(
        closed.load("p").await.unwrap_err().kind,
        StorageErrorKind::LockTimeout,
        "failing closed reports it"
    );
    assert!(closed.is_available());
}

#[tokio::test]
async fn huge_settings_and_expiries_neither_panic_nor_fail() {
    let (fake, clock) = (Fake::default(), clock());
    let store = Layered::new(
        fake.clone(),
        LayerConfig::default()
            .clock(clock.clone())
            .l1(l1(&clock))
            .retry_interval(Duration::MAX)
            .operation_timeout(Duration::MAX),
    );
    // An expiry centuries away is capped at MAX_TTL from now.
    let far = crate::time::saturating_add(clock.now(), Duration::MAX);
    store
        .save("p", b"x".to_vec(), SaveHint::expiring_at(Some(far)))
        .await
        .unwrap();
    assert_eq!(
        fake.raw("p").unwrap().expires_at,
        Some(clock.now() + crate::time::MAX_TTL)
    );
    assert_eq!(store.load("p").await.unwrap().as_deref(), Some(&b"x"[..]));
    // An outage with a retry interval of Duration::MAX: no panic, no probe.
    fake.set_down(true);
    assert_eq!(store.load("q").await.unwrap(), None);
    assert!(!store.is_available());
    let calls = fake.calls();
    clock.advance(Duration::from_secs(100 * 365 * 24 * 3600));
    assert_eq!(store.load("q").await.unwrap(), None);
    assert_eq!(fake.calls(), calls, "never probed again");
}

mod listener;
