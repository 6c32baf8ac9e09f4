//! A layered store with an invalidation listener the test drives: what
//! goes into L1 and when it is dropped.

use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::coherence::{InvalidationListener, InvalidationSink};

enum Event {
    Connected,
    Disconnected,
    Invalidate(&'static str),
    All,
}

/// Applies the events the test sends, acknowledging each once applied.
struct Scripted(mpsc::UnboundedReceiver<(Event, oneshot::Sender<()>)>);

impl InvalidationListener for Scripted {
    fn run(mut self: Box<Self>, sink: InvalidationSink) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            while let Some(Some((event, ack))) = sink.until_closed(self.0.recv()).await {
                match event {
                    Event::Connected => sink.connected("scripted"),
                    Event::Disconnected => sink.disconnected(),
                    Event::Invalidate(p) => sink.invalidate(p).await,
                    Event::All => sink.invalidate_all(),
                };
                let _ = ack.send(());
            }
        })
    }
}

struct Driver(mpsc::UnboundedSender<(Event, oneshot::Sender<()>)>);

impl Driver {
    async fn send(&self, event: Event) {
        let (tx, rx) = oneshot::channel();
        self.0.send((event, tx)).unwrap();
        rx.await.unwrap();
    }
}

fn coherent(fake: &Fake, clock: &Arc<ManualClock>) -> (Layered<Fake>, Driver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let store = Layered::with_listener(
        fake.clone(),
        LayerConfig::default().clock(clock.clone()).l1(l1(clock)),
        Box::new(Scripted(rx)),
        "msal-test".to_owned(),
    );
    (store, Driver(tx))
}

async fn in_l1(store: &Layered<Fake>, key: &str) -> bool {
    store.l1().unwrap().load(key).await.unwrap().is_some()
}

#[tokio::test]
async fn reads_fill_l1_only_while_connected_and_invalidations_drop_copies() {
    let (fake, clock) = (Fake::default(), clock());
    let (store, driver) = coherent(&fake, &clock);
    fake.put_raw("p", b"v1", None);
    fake.put_raw("q", b"q1", None);
    // The first call starts the listener; until it connects, L2 reads stay out of L1.
    assert_eq!(store.load("p").await.unwrap().as_deref(), Some(&b"v1"[..]));
    assert!(!in_l1(&store, "p").await);
    assert!(!store.invalidation_status().unwrap().connected);

    driver.send(Event::Connected).await;
    let status = store.invalidation_status().unwrap();
    assert!(status.connected);
    assert_eq!(status.mechanism, Some("scripted"));
    assert_eq!(status.connection_name, "msal-test");
    store.load("p").await.unwrap();
    store.load("q").await.unwrap();
    assert!(in_l1(&store, "p").await && in_l1(&store, "q").await);
    let calls = fake.calls();
    store.load("p").await.unwrap();
    assert_eq!(fake.calls(), calls, "an L1 hit");

    // Another instance changes p: only p's copy goes, and the next read sees the change.
    fake.put_raw("p", b"v2", None);
    driver.send(Event::Invalidate("p")).await;
    assert!(!in_l1(&store, "p").await);
    assert!(in_l1(&store, "q").await);
    assert_eq!(store.load("p").await.unwrap().as_deref(), Some(&b"v2"[..]));

    driver.send(Event::All).await;
    assert!(!in_l1(&store, "p").await && !in_l1(&store, "q").await);
    assert_eq!(store.invalidation_status().unwrap().received, 2);
}

#[tokio::test]
async fn a_lost_connection_empties_l1_which_then_keeps_only_own_saves_until_it_is_back() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (fake, clock) = (Fake::default(), clock());
    let (store, driver) = coherent(&fake, &clock);
    fake.put_raw("read", b"r", None);
    store.load("read").await.unwrap();
    driver.send(Event::Connected).await;
    store.load("read").await.unwrap();
    assert!(in_l1(&store, "read").await);

    driver.send(Event::Disconnected).await;
    assert!(!in_l1(&store, "read").await, "emptied at once");
    let status = store.invalidation_status().unwrap();
    assert!(!status.connected);
    assert_eq!(status.lost, 1);
    // Reads go to L2 and are not kept; this instance's own saves are.
    assert_eq!(
        store.load("read").await.unwrap().as_deref(),
        Some(&b"r"[..])
    );
    assert!(!in_l1(&store, "read").await);
    store
        .save("own", b"o".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(in_l1(&store, "own").await);
    // Repeated failures to reconnect do not drop own saves again.
    driver.send(Event::Disconnected).await;
    assert!(in_l1(&store, "own").await);
    assert_eq!(store.invalidation_status().unwrap().lost, 1);

    driver.send(Event::Connected).await;
    assert!(!in_l1(&store, "own").await, "emptied again when back");
    store.load("read").await.unwrap();
    assert!(in_l1(&store, "read").await, "fills again");
    let text = logs.contents();
    assert_eq!(
        text.matches("invalidation connection lost").count(),
        1,
        "{text}"
    );
    assert_eq!(text.matches("invalidation connected").count(), 2, "{text}");
}

#[tokio::test]
async fn a_read_that_raced_a_change_does_not_plant_the_old_value_in_l1() {
    let (fake, clock) = (Fake::default(), clock());
    let (store, driver) = coherent(&fake, &clock);
    store.load("warm-up").await.unwrap();
    driver.send(Event::Connected).await;
    fake.put_raw("p", b"old", None);
    let gate = Arc::new(tokio::sync::Notify::new());
    *fake.0.gate.lock().unwrap() = Some(gate.clone());
    // The read takes "old" from L2, then the change and its invalidation
    // arrive before the read returns.
    let read = tokio::spawn({
        let store = store.clone();
        async move { store.load("p").await.unwrap() }
    });
    while fake.calls() < 2 {
        tokio::task::yield_now().await;
    }
    fake.put_raw("p", b"new", None);
    driver.send(Event::Invalidate("p")).await;
    gate.notify_one();
    assert_eq!(read.await.unwrap().as_deref(), Some(&b"old"[..]));
    assert!(!in_l1(&store, "p").await, "the old value stayed out of L1");
    *fake.0.gate.lock().unwrap() = None;
    assert_eq!(store.load("p").await.unwrap().as_deref(), Some(&b"new"[..]));
    assert!(in_l1(&store, "p").await);

    // Same with a local save racing the read.
    store.remove("p").await.unwrap();
    fake.put_raw("p", b"old", None);
    *fake.0.gate.lock().unwrap() = Some(gate.clone());
    let calls = fake.calls();
    let read = tokio::spawn({
        let store = store.clone();
        async move { store.load("p").await.unwrap() }
    });
    while fake.calls() == calls {
        tokio::task::yield_now().await;
    }
    *fake.0.gate.lock().unwrap() = None;
    store
        .save("p", b"mine".to_vec(), SaveHint::default())
        .await
        .unwrap();
    gate.notify_one();
    read.await.unwrap();
    assert_eq!(
        store.l1().unwrap().load("p").await.unwrap().as_deref(),
        Some(&b"mine"[..])
    );
}

#[tokio::test]
async fn without_an_l1_the_listener_is_not_used_and_dropping_the_store_stops_it() {
    let (fake, clock) = (Fake::default(), clock());
    let (tx, rx) = mpsc::unbounded_channel();
    let plain = Layered::with_listener(
        fake.clone(),
        LayerConfig::default().clock(clock.clone()),
        Box::new(Scripted(rx)),
        "unused".to_owned(),
    );
    plain.load("p").await.unwrap();
    assert!(plain.invalidation_status().is_none());
    drop(tx);

    let (store, driver) = coherent(&fake, &clock);
    store.load("p").await.unwrap();
    driver.send(Event::Connected).await;
    drop(store);
    // The listener task ends: its receiver is dropped, so sending fails.
    for _ in 0..100 {
        if driver.0.is_closed() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the listener kept running after the store was dropped");
}
