//! One plain-text file shared with the real MSAL Python and msal-extensions
//! (`PersistedTokenCache(FilePersistence(path))` and its `CrossPlatLock`):
//! writing in turns and at the same time, neither side loses the other's
//! tokens, and each side respects the other's lock.
//!
//! Python comes from $MSAL_PYTHON, else the repository's .venv; the tests
//! fail when it cannot import msal and msal_extensions.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::idp::{self, Idp};
use common::{access_token_secrets, ack_of, msal_python, spawn_child};
use msal::TokenSource;
use msal::secret::RefreshTokenSecret;
use msal::storage::{CacheAccess, CacheAccessArgs, StorageErrorKind};
use msal_cache_file::{Encryption, FileCache};
use msal_test_support::child;

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/msal_ext_peer.py");

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn plain(path: &Path) -> FileCache {
    FileCache::builder(path)
        .encryption(Encryption::Plaintext)
        .lock_timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Runs the Python peer to completion and returns the tokens it acknowledged.
fn python_write(path: &Path, prefix: &str, count: usize, pause: f64) -> BTreeSet<String> {
    let out = Command::new(msal_python())
        .args([
            PEER,
            "write",
            &path.display().to_string(),
            prefix,
            &count.to_string(),
            &pause.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python writer failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    acks(&String::from_utf8_lossy(&out.stdout))
}

/// The access tokens MSAL Python finds in the file.
fn python_list(path: &Path) -> BTreeSet<String> {
    let out = Command::new(msal_python())
        .args([PEER, "list", &path.display().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python list failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<String>>(&out.stdout)
        .unwrap()
        .into_iter()
        .collect()
}

fn acks(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter_map(ack_of)
        .map(str::to_owned)
        .collect()
}

fn rust_app(path: &Path, user: usize) -> (Arc<Idp>, msal::PublicClientApplication) {
    let idp = Idp::new(&idp::uid(user));
    let app = idp::app_at(idp.clone(), Arc::new(plain(path)), unix_now());
    (idp, app)
}

async fn rust_write(app: &msal::PublicClientApplication, token: &str) {
    let r = app
        .acquire_token_by_refresh_token(
            &[idp::scope_for(token)],
            RefreshTokenSecret::new("rt-from-elsewhere"),
        )
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), token);
}

/// msal-rs finds Python's user and its token through the public API,
/// from the cache, without a request.
async fn rust_finds_silently(
    app: &msal::PublicClientApplication,
    idp: &Idp,
    py_prefix: &str,
    token: &str,
) {
    let accounts = app.accounts().await.unwrap();
    let account = accounts
        .iter()
        .find(|a| a.home_account_id() == format!("{py_prefix}-user.{}", idp::TENANT))
        .unwrap_or_else(|| panic!("Python's account {py_prefix}-user is not listed: {accounts:?}"));
    let posts = idp.token_posts.load(std::sync::atomic::Ordering::SeqCst);
    let r = app
        .acquire_token_silent(&[idp::scope_for(token)], account)
        .await
        .unwrap();
    assert_eq!(r.source(), TokenSource::Cache);
    assert_eq!(r.access_token().expose_secret(), token);
    assert_eq!(
        idp.token_posts.load(std::sync::atomic::Ordering::SeqCst),
        posts
    );
}

#[tokio::test]
async fn msal_python_and_msal_rs_take_turns_on_one_file_and_see_each_others_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msal_token_cache.json");
    let (idp, app) = rust_app(&path, 1);
    let mut rust_tokens = BTreeSet::new();
    let mut py_tokens = BTreeSet::new();
    for round in 0..4 {
        for n in 0..5 {
            let token = format!("rs{round}-{n}");
            rust_write(&app, &token).await;
            rust_tokens.insert(token);
        }
        let prefix = format!("py{round}");
        let written = python_write(&path, &prefix, 5, 0.0);
        assert_eq!(written.len(), 5);
        py_tokens.extend(written);

        let seen_by_python = python_list(&path);
        let lost: Vec<_> = rust_tokens.difference(&seen_by_python).collect();
        assert!(
            lost.is_empty(),
            "round {round}: MSAL Python does not see {lost:?}"
        );
        let on_disk = access_token_secrets(&std::fs::read(&path).unwrap());
        let lost: Vec<_> = py_tokens.difference(&on_disk).collect();
        assert!(
            lost.is_empty(),
            "round {round}: Python's tokens lost: {lost:?}"
        );
        rust_finds_silently(&app, &idp, &prefix, &format!("{prefix}-4")).await;
    }
    assert_eq!(
        python_list(&path),
        rust_tokens.union(&py_tokens).cloned().collect()
    );
}

/// A Rust writer process for the concurrent test: USER_N's tokens
/// `<PREFIX>-<n>`, with a pause between writes.
async fn rust_writer_child() {
    let path = PathBuf::from(child::var("CACHE_PATH"));
    let prefix = child::var("PREFIX");
    let count: usize = child::var("COUNT").parse().unwrap();
    let (_idp, app) = rust_app(&path, child::var("USER_N").parse().unwrap());
    for n in 0..count {
        let token = format!("{prefix}-{n}");
        rust_write(&app, &token).await;
        println!("ACK {token}");
        // msal-extensions polls its lock every 0.25 s and gives up after 5 s;
        // a writer that never pauses would starve it (as it would starve
        // another Python process). Apps write after sign-ins, not in loops.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_python_and_two_msal_rs_processes_write_at_the_same_time_and_nothing_is_lost() {
    let name = "msal_python_and_two_msal_rs_processes_write_at_the_same_time_and_nothing_is_lost";
    if child::is_child(name) {
        return rust_writer_child().await;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msal_token_cache.json");
    let rust: Vec<_> = (0..2)
        .map(|w| {
            spawn_child(
                name,
                &[
                    ("CACHE_PATH", path.display().to_string()),
                    ("PREFIX", format!("rs{w}")),
                    ("COUNT", "30".to_owned()),
                    ("USER_N", w.to_string()),
                ],
            )
        })
        .collect();
    let py_path = path.clone();
    let python = std::thread::spawn(move || python_write(&py_path, "py", 30, 0.05));
    let mut acked = BTreeSet::new();
    for c in rust {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "rust writer failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        acked.extend(acks(&String::from_utf8_lossy(&out.stdout)));
    }
    let py = python.join().unwrap();
    assert_eq!(py.len(), 30);
    assert_eq!(acked.len(), 60);
    acked.extend(py);

    let seen_by_python = python_list(&path);
    let lost: Vec<_> = acked.difference(&seen_by_python).collect();
    assert!(lost.is_empty(), "MSAL Python does not see {lost:?}");
    let seen_by_rust = access_token_secrets(&std::fs::read(&path).unwrap());
    let lost: Vec<_> = acked.difference(&seen_by_rust).collect();
    assert!(lost.is_empty(), "msal-rs does not see {lost:?}");
    let (idp, app) = rust_app(&path, 9);
    rust_finds_silently(&app, &idp, "py", "py-29").await;
}

#[tokio::test]
async fn msal_python_waits_for_our_lock_and_we_wait_for_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msal_token_cache.json");
    let cache = plain(&path);
    let args = CacheAccessArgs::new(None, false);

    // We hold the lock: a Python writer cannot write until we release it.
    cache.before_access(args).await.unwrap();
    let mut py = Command::new(msal_python())
        .args([PEER, "write", &path.display().to_string(), "py", "1", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Real time: Python polls its lock file every 0.25 s.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        py.try_wait().unwrap().is_none(),
        "Python finished while we held the lock"
    );
    assert!(!path.exists(), "Python wrote while we held the lock");
    cache.after_access(args, None).await.unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        acks(&String::from_utf8_lossy(&out.stdout)),
        ["py-0".to_owned()].into()
    );

    // Python holds its CrossPlatLock: we wait, time out, then get in.
    let mut holder = Command::new(msal_python())
        .args([PEER, "hold", &path.display().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "HELD");
    let impatient = FileCache::builder(&path)
        .encryption(Encryption::Plaintext)
        .lock_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = impatient.before_access(args).await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::LockTimeout);
    impatient.after_access(args, None).await.unwrap();
    holder.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(holder.wait().unwrap().success());
    let doc = cache
        .before_access(args)
        .await
        .unwrap()
        .expect("Python's write is handed over");
    cache.after_access(args, None).await.unwrap();
    assert_eq!(access_token_secrets(&doc), ["py-0".to_owned()].into());
}
