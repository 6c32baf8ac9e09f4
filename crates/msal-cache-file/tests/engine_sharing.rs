//! The file cache under msal's real engines: a confidential client's
//! partitioned cache on the file a public client signs in to, many silent
//! calls sharing one flight, calls cancelled while they hold the lock.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::access_token_secrets;
use common::idp::{self, Idp};
use msal::clock::ManualClock;
use msal::credentials::ClientCredential;
use msal::secret::{ClientSecret, RefreshTokenSecret};
use msal::{ConfidentialClientApplication, TokenSource};
use msal_cache_file::{Encryption, FileCache};
use serde_json::Value;

fn plain(path: &Path) -> FileCache {
    FileCache::builder(path)
        .encryption(Encryption::Plaintext)
        .build()
        .unwrap()
}

/// The file's document as JSON.
async fn file_json(path: &Path) -> Value {
    let doc = plain(path).read_document().await.unwrap().unwrap();
    serde_json::from_slice(&doc).unwrap()
}

fn section_len(doc: &Value, name: &str) -> usize {
    doc.get(name)
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len)
}

/// A public client on `path` signs user 1 in with a token named `token`.
async fn sign_in(idp: &Arc<Idp>, path: &Path, token: &str) -> msal::PublicClientApplication {
    let app = idp::app(idp.clone(), Arc::new(plain(path)));
    let r = app
        .acquire_token_by_refresh_token(
            &[idp::scope_for(token)],
            RefreshTokenSecret::new("rt-from-elsewhere"),
        )
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), token);
    app
}

#[tokio::test]
async fn an_app_token_on_the_shared_file_keeps_every_signed_in_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.json");
    let idp = Idp::new(&idp::uid(1));
    sign_in(&idp, &path, "user-at").await;
    let before = file_json(&path).await;
    assert_eq!(section_len(&before, "Account"), 1);
    assert_eq!(section_len(&before, "RefreshToken"), 1);

    let daemon = ConfidentialClientApplication::builder(
        idp::CLIENT_ID,
        ClientCredential::secret(ClientSecret::new("daemon-secret")),
    )
    .authority(format!("{}/{}", idp::HOST, idp::TENANT))
    .http_client(idp.clone())
    .clock(Arc::new(ManualClock::at_unix(idp::NOW)))
    .cache_access(Arc::new(plain(&path)))
    .build()
    .unwrap();
    let scope = format!("{}/.default", idp::scope_for("app-at"));
    let posts = idp.token_posts.load(std::sync::atomic::Ordering::SeqCst);
    let first = daemon.acquire_token_for_client(&[&scope]).await.unwrap();
    assert_eq!(first.source(), TokenSource::IdentityProvider);
    assert_eq!(first.access_token().expose_secret(), "app-at");
    let second = daemon.acquire_token_for_client(&[&scope]).await.unwrap();
    assert_eq!(second.source(), TokenSource::Cache, "from the file");
    assert_eq!(second.access_token().expose_secret(), "app-at");
    assert_eq!(
        idp.token_posts.load(std::sync::atomic::Ordering::SeqCst),
        posts + 1,
        "one request for both calls"
    );

    // The user and every one of their tokens are still there.
    let after = file_json(&path).await;
    for section in ["Account", "RefreshToken", "IdToken"] {
        assert_eq!(
            after.get(section),
            before.get(section),
            "{section} kept: {after}"
        );
    }
    let doc = serde_json::to_vec(&after).unwrap();
    let secrets = access_token_secrets(&doc);
    assert!(
        secrets.contains("user-at") && secrets.contains("app-at"),
        "{secrets:?}"
    );

    // A public client starting from the file signs the user in silently.
    let public = idp::app(idp.clone(), Arc::new(plain(&path)));
    let accounts = public.accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    let silent = public
        .acquire_token_silent(&[idp::scope_for("user-at")], &accounts[0])
        .await
        .unwrap();
    assert_eq!(silent.source(), TokenSource::Cache);
    assert_eq!(silent.access_token().expose_secret(), "user-at");
}

/// Concurrent identical silent calls share one flight, which tasks take
/// turns polling: the lock taken in one task's poll must be released in
/// another's, or the next access times out on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_silent_calls_on_one_app_succeed_and_are_saved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    // A slow refresh, so the flight is polled again from the other tasks.
    let idp = Idp::slow(&idp::uid(1), Duration::from_millis(20));
    let cache = FileCache::builder(&path)
        .encryption(Encryption::Plaintext)
        .lock_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let app = idp::app(idp.clone(), Arc::new(cache));
    app.acquire_token_by_refresh_token(
        &[idp::scope_for("first")],
        RefreshTokenSecret::new("rt-from-elsewhere"),
    )
    .await
    .unwrap();
    let account = app.accounts().await.unwrap().remove(0);
    for round in 0..5 {
        let token = format!("round-{round}");
        let posts = idp.token_posts.load(std::sync::atomic::Ordering::SeqCst);
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let (app, account, scope) = (app.clone(), account.clone(), idp::scope_for(&token));
                tokio::spawn(async move {
                    tokio::time::timeout(
                        Duration::from_secs(20),
                        app.acquire_token_silent(&[scope], &account),
                    )
                    .await
                })
            })
            .collect();
        for call in calls {
            let r = call
                .await
                .unwrap()
                .expect("no call hangs")
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(r.access_token().expose_secret(), token);
        }
        assert_eq!(
            idp.token_posts.load(std::sync::atomic::Ordering::SeqCst),
            posts + 1,
            "one refresh for the eight calls"
        );
        let doc = plain(&path).read_document().await.unwrap().unwrap();
        assert!(access_token_secrets(&doc).contains(&token), "round {round}");
    }
    assert!(!plain(&path).lock_path().exists(), "no lock left behind");
}

/// A call dropped by its caller's timeout while it holds the lock (its read
/// of the file is stuck: the only blocking thread is busy, so the read has
/// not even started) releases the lock as soon as that read ends, not after
/// max_hold. (A FIFO, which used to stand in for a stuck read, is refused
/// before it is opened.)
#[test]
fn a_call_cancelled_while_it_holds_the_lock_frees_it_for_other_processes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let idp = Idp::new(&idp::uid(1));
        let app = sign_in(&idp, &path, "user-at").await;
        let saved = std::fs::read(&path).unwrap();

        // Hold the only blocking thread until told.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let blocker = tokio::task::spawn_blocking(move || {
            let _ = started.send(());
            let _ = held.recv();
        });
        running.await.unwrap();
        let cancelled = tokio::time::timeout(Duration::from_millis(300), app.accounts()).await;
        assert!(cancelled.is_err(), "the read of the file waits");
        let lock_path = plain(&path).lock_path().to_owned();
        assert!(lock_path.exists(), "the stuck access holds the lock");

        // The read runs and ends; nobody awaits the access any more.
        release.send(()).unwrap();
        blocker.await.unwrap();

        // Another instance (as another process would) takes the lock well
        // within its timeout, far below the 30 s max_hold.
        let other = FileCache::builder(&path)
            .encryption(Encryption::Plaintext)
            .lock_timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        other.delete().await.expect("the lock is free");
        assert!(!path.exists());

        // The app itself is not stuck either.
        std::fs::write(&path, &saved).unwrap();
        let accounts = tokio::time::timeout(Duration::from_secs(3), app.accounts())
            .await
            .expect("the app's own next access is not blocked")
            .unwrap();
        assert_eq!(accounts.len(), 1);
    });
}

/// A lock timeout too long to add to the clock waits without panicking.
#[tokio::test]
async fn an_unbounded_lock_timeout_does_not_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let idp = Idp::new(&idp::uid(1));
    let cache = FileCache::builder(&path)
        .encryption(Encryption::Plaintext)
        .lock_timeout(Duration::MAX)
        .max_hold(Duration::MAX)
        .build()
        .unwrap();
    let app = idp::app(idp, Arc::new(cache));
    app.acquire_token_by_refresh_token(
        &[idp::scope_for("t")],
        RefreshTokenSecret::new("rt-from-elsewhere"),
    )
    .await
    .unwrap();
    assert_eq!(app.accounts().await.unwrap().len(), 1);
}

/// A file over the configured size is reported corrupt, never read whole
/// nor overwritten, and can be quarantined; a document over the size is not
/// written.
#[tokio::test]
async fn the_file_size_limit_applies_to_reads_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let small = |path: &Path| {
        FileCache::builder(path)
            .encryption(Encryption::Plaintext)
            .max_file_size(64)
            .build()
            .unwrap()
    };
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(100));
    std::fs::write(&path, &big).unwrap();
    let err = small(&path).read_document().await.unwrap_err();
    assert!(
        matches!(
            err,
            msal_cache_file::Error::Corrupt {
                reason: msal_cache_file::CorruptReason::TooLarge { limit: 64 },
                ..
            }
        ),
        "{err:?}"
    );
    let idp = Idp::new(&idp::uid(1));
    let app = idp::app(idp.clone(), Arc::new(small(&path)));
    assert!(app.accounts().await.is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), big, "untouched");
    assert!(small(&path).quarantine().await.unwrap().is_some());

    // A sign-in's document is larger than 64 bytes: refused, not written.
    let app = idp::app(idp, Arc::new(small(&path)));
    let refused = app
        .acquire_token_by_refresh_token(
            &[idp::scope_for("t")],
            RefreshTokenSecret::new("rt-from-elsewhere"),
        )
        .await;
    assert!(refused.is_err());
    assert!(!path.exists(), "nothing written");
}
