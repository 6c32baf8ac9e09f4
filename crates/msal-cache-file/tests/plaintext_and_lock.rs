//! The plain-text path, the hooks' protocol, the lock, and damaged files.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use common::{MiniEngine, access_token_secrets, insert_access_token};
use msal::clock::ManualClock;
use msal::storage::{CacheAccess, CacheAccessArgs, CacheStore, SaveHint, StorageErrorKind};
use msal_cache_file::{CorruptReason, Encryption, Error, FileCache, file_cache_error};

fn plain(path: &std::path::Path) -> FileCache {
    FileCache::builder(path)
        .encryption(Encryption::Plaintext)
        .build()
        .unwrap()
}

fn corrupt_reason(e: &msal::storage::StorageError) -> CorruptReason {
    assert_eq!(e.kind, StorageErrorKind::Corrupt, "{e}");
    match file_cache_error(e) {
        Some(Error::Corrupt { reason, .. }) => *reason,
        other => panic!("not a Corrupt error: {other:?}"),
    }
}

#[tokio::test]
async fn a_second_instance_sees_the_first_ones_writes_and_unchanged_files_are_not_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msal_token_cache.json");
    let mut a = MiniEngine::new(plain(&path));
    let mut b = MiniEngine::new(plain(&path));

    a.add_token("token-a1").await.unwrap();
    b.add_token("token-b1").await.unwrap();
    a.add_token("token-a2").await.unwrap();
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(
        access_token_secrets(&on_disk),
        ["token-a1", "token-a2", "token-b1"]
            .map(String::from)
            .into()
    );
    // Exactly the JSON the engine handed over: no header, no wrapping.
    assert_eq!(on_disk, serde_json::to_vec(&a.doc).unwrap());

    // Nothing changed since a's own write: no document handed over.
    let args = CacheAccessArgs::new(None, false);
    assert!(a.cache.before_access(args).await.unwrap().is_none());
    a.cache.after_access(args, None).await.unwrap();
    // b is behind by one write: it gets the whole document.
    let doc = b
        .cache
        .before_access(args)
        .await
        .unwrap()
        .expect("b must reload");
    b.cache.after_access(args, None).await.unwrap();
    assert_eq!(access_token_secrets(&doc).len(), 3);
}

#[tokio::test]
async fn each_partition_is_resynced_after_another_partition_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let cache = plain(&dir.path().join("c.json"));
    let a = CacheAccessArgs::new(Some("uid-a.tid"), false);
    let b = CacheAccessArgs::new(Some("uid-b.tid"), false);
    // No file yet: every partition starts from an empty document.
    assert_eq!(
        cache.before_access(a).await.unwrap().as_deref(),
        Some(&b"{}"[..])
    );
    cache
        .after_access(a.after(true, None), Some(br#"{"AccessToken":{}}"#))
        .await
        .unwrap();
    let got = cache.before_access(b).await.unwrap();
    assert_eq!(
        got.as_deref(),
        Some(&br#"{"AccessToken":{}}"#[..]),
        "b has never seen the file"
    );
    cache
        .after_access(b.after(true, None), Some(br#"{"Account":{}}"#))
        .await
        .unwrap();
    let got = cache.before_access(a).await.unwrap();
    assert_eq!(
        got.as_deref(),
        Some(&br#"{"Account":{}}"#[..]),
        "a is behind b's write"
    );
    cache.after_access(a, None).await.unwrap();
    assert!(cache.before_access(a).await.unwrap().is_none());
    cache.after_access(a, None).await.unwrap();
}

#[tokio::test]
async fn file_is_0600_in_a_new_0700_directory_and_no_temporary_file_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/dir/cache.json");
    let mut e = MiniEngine::new(plain(&path));
    e.add_token("t").await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&dir.path().join("new")), 0o700);
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("cache.json")],
        "lock file removed, no temporary file"
    );
    // After the rename the mtime is set ahead, so msal-extensions (which
    // compares it with the time of its last read) reloads.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert!(mtime > std::time::SystemTime::now());
}

#[tokio::test]
async fn the_lock_is_held_from_before_to_after_access_and_other_processes_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let holder = plain(&path);
    let args = CacheAccessArgs::new(None, false);
    holder.before_access(args).await.unwrap();
    let lock = std::fs::read_to_string(holder.lock_path()).unwrap();
    let argv0 = std::env::args().next().unwrap();
    assert_eq!(
        lock,
        format!("{} {argv0}", std::process::id()),
        "msal-extensions' lock content"
    );

    // Another instance (as another process would) waits, then gives up; the
    // manual clock makes the 5 s pass without sleeping.
    let clock = Arc::new(ManualClock::at_unix(1_700_000_000));
    let waiter = FileCache::builder(&path)
        .encryption(Encryption::Plaintext)
        .clock(clock.clone())
        .build()
        .unwrap();
    let err = waiter.before_access(args).await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::LockTimeout);
    match file_cache_error(&err) {
        Some(Error::LockTimeout {
            waited, holder_pid, ..
        }) => {
            assert!(*waited >= Duration::from_secs(5), "{waited:?}");
            assert_eq!(*holder_pid, Some(std::process::id()));
        }
        other => panic!("{other:?}"),
    }
    // The failed access's after_access releases nothing of the holder's.
    waiter.after_access(args, None).await.unwrap();
    assert!(holder.lock_path().exists());

    holder
        .after_access(args.after(true, None), Some(b"{}"))
        .await
        .unwrap();
    assert!(!holder.lock_path().exists(), "released and removed");
    assert!(waiter.before_access(args).await.unwrap().is_some());
    waiter.after_access(args, None).await.unwrap();
}

#[tokio::test]
async fn a_lock_file_left_by_a_dead_process_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    std::fs::write(
        dir.path().join("c.json.lockfile"),
        format!("{dead_pid} /usr/bin/python3"),
    )
    .unwrap();
    // A temporary file that crashed writer left behind is cleaned up.
    std::fs::write(dir.path().join(".c.json.tmp-1-0000"), b"{half").unwrap();

    let mut e = MiniEngine::new(plain(&path));
    e.add_token("t").await.unwrap();
    assert!(!dir.path().join("c.json.lockfile").exists());
    assert!(!dir.path().join(".c.json.tmp-1-0000").exists());
}

#[tokio::test]
async fn a_lock_file_of_a_live_process_without_flock_is_respected() {
    // msal-extensions without portalocker holds the lock by the file alone.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let mut live = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    std::fs::write(
        dir.path().join("c.json.lockfile"),
        format!("{} python", live.id()),
    )
    .unwrap();
    let clock = Arc::new(ManualClock::at_unix(1_700_000_000));
    let cache = FileCache::builder(&path)
        .encryption(Encryption::Plaintext)
        .clock(clock)
        .build()
        .unwrap();
    let err = cache
        .before_access(CacheAccessArgs::new(None, false))
        .await
        .unwrap_err();
    live.kill().unwrap();
    live.wait().unwrap();
    assert_eq!(err.kind, StorageErrorKind::LockTimeout);
    // Once that process is gone, its lock file is stale.
    let mut e = MiniEngine::new(plain(&path));
    e.add_token("t").await.unwrap();
}

#[tokio::test]
async fn a_lock_file_without_a_pid_is_waited_for_while_young_and_taken_over_when_old() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let lockfile = dir.path().join("c.json.lockfile");
    std::fs::write(&lockfile, b"").unwrap();
    let clock = Arc::new(ManualClock::at_unix(1_700_000_000));
    let cache = FileCache::builder(&path)
        .encryption(Encryption::Plaintext)
        .clock(clock)
        .build()
        .unwrap();
    let err = cache
        .before_access(CacheAccessArgs::new(None, false))
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::LockTimeout);
    let old = std::time::SystemTime::now() - Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(&lockfile)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let mut e = MiniEngine::new(plain(&path));
    e.add_token("t").await.unwrap();
}

#[tokio::test]
async fn the_lock_is_released_when_the_write_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let cache = plain(&path);
    let args = CacheAccessArgs::new(None, false);
    cache.before_access(args).await.unwrap();
    // Make the write impossible: a directory now stands where the file goes.
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("x"), b"x").unwrap();
    let err = cache
        .after_access(args.after(true, None), Some(b"{}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Io, "{err}");
    assert!(
        !cache.lock_path().exists(),
        "the lock must be released after a failed write"
    );
    std::fs::remove_dir_all(&path).unwrap();
    let mut e = MiniEngine::new(cache);
    e.add_token("t").await.unwrap();
}

#[tokio::test]
async fn a_corrupt_file_is_reported_never_overwritten_and_can_be_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let mut good = serde_json::json!({});
    insert_access_token(&mut good, "precious");
    let full = serde_json::to_vec_pretty(&good).unwrap();
    let truncated = &full[..full.len() / 2];
    std::fs::write(&path, truncated).unwrap();

    let cache = plain(&path);
    let mut e = MiniEngine::new(cache.clone());
    let err = e.add_token("new").await.unwrap_err();
    assert_eq!(corrupt_reason(&err), CorruptReason::Truncated);
    assert!(
        err.message.contains(&path.display().to_string()),
        "the error names the file: {err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        truncated,
        "never overwritten"
    );
    assert!(!cache.lock_path().exists(), "the lock is released");

    // An unpaired after_access with a document must not write either.
    let args = CacheAccessArgs::new(None, false);
    let err = cache
        .after_access(args.after(true, None), Some(b"{}"))
        .await
        .unwrap_err();
    assert_eq!(corrupt_reason(&err), CorruptReason::Truncated);
    assert_eq!(std::fs::read(&path).unwrap(), truncated);

    // Garbage that is not JSON at all.
    std::fs::write(&path, b"\x00\x01binary").unwrap();
    assert_eq!(
        corrupt_reason(&e.add_token("new").await.unwrap_err()),
        CorruptReason::NotJson
    );

    let moved = cache.quarantine().await.unwrap().expect("moved aside");
    assert!(
        moved
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("c.json.corrupt-")
    );
    assert_eq!(std::fs::read(&moved).unwrap(), b"\x00\x01binary");
    e.add_token("fresh").await.unwrap();
    assert_eq!(
        access_token_secrets(&std::fs::read(&path).unwrap()),
        ["fresh".to_owned()].into()
    );
}

#[tokio::test]
async fn an_empty_file_reads_as_an_empty_cache_like_msal_python() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(&path, b"").unwrap();
    let mut e = MiniEngine::new(plain(&path));
    e.add_token("t").await.unwrap();
    assert_eq!(
        access_token_secrets(&std::fs::read(&path).unwrap()).len(),
        1
    );
}

#[tokio::test]
async fn an_unpaired_after_access_never_overwrites_a_newer_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let mut a = MiniEngine::new(plain(&path));
    a.add_token("a1").await.unwrap();
    let mut b = MiniEngine::new(plain(&path));
    b.add_token("b1").await.unwrap();
    // a writes without before_access: the file moved on since a synced.
    let args = CacheAccessArgs::new(None, false);
    let err = a
        .cache
        .after_access(args.after(true, None), Some(b"{}"))
        .await
        .unwrap_err();
    assert!(
        matches!(file_cache_error(&err), Some(Error::Conflict { .. })),
        "{err}"
    );
    assert_eq!(
        access_token_secrets(&std::fs::read(&path).unwrap()).len(),
        2
    );
}

#[tokio::test]
async fn concurrent_tasks_of_one_process_serialise_on_the_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let cache = plain(&dir.path().join("c.json"));
    let mut tasks = Vec::new();
    for t in 0..4 {
        let mut e = MiniEngine::new(cache.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                e.add_token(&format!("task{t}-{i}")).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let doc = cache.read_document().await.unwrap().unwrap();
    assert_eq!(access_token_secrets(&doc).len(), 100);
}

#[tokio::test]
async fn a_lock_abandoned_by_a_dropped_access_is_taken_back_after_max_hold() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at_unix(1_700_000_000));
    let cache = FileCache::builder(dir.path().join("c.json"))
        .encryption(Encryption::Plaintext)
        .clock(clock.clone())
        .lock_timeout(Duration::from_secs(60))
        .max_hold(Duration::from_secs(30))
        .build()
        .unwrap();
    // An access whose after_access never comes (its task ended).
    let c = cache.clone();
    tokio::spawn(async move {
        c.before_access(CacheAccessArgs::new(None, false))
            .await
            .unwrap()
    })
    .await
    .unwrap();
    assert!(cache.lock_path().exists());
    let mut e = MiniEngine::new(cache.clone());
    e.add_token("t").await.unwrap();
    assert!(!cache.lock_path().exists());
}

#[tokio::test]
async fn the_store_interface_loads_saves_and_removes_the_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let cache = plain(&dir.path().join("c.json"));
    assert!(cache.load("any").await.unwrap().is_none());
    cache
        .save("p1", br#"{"Account":{}}"#.to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        cache.load("p2").await.unwrap().unwrap(),
        br#"{"Account":{}}"#
    );
    cache.remove("p1").await.unwrap();
    assert!(cache.load("p1").await.unwrap().is_none());
    assert!(!cache.path().exists());
}

#[test]
fn the_builder_rejects_unusable_settings() {
    assert!(matches!(
        FileCache::builder("/").build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        FileCache::builder("c.json")
            .lock_timeout(Duration::ZERO)
            .build(),
        Err(Error::Config(_))
    ));
    let c = FileCache::builder("rel/c.json").build().unwrap();
    assert!(c.path().is_absolute());
    assert!(c.lock_path().ends_with("rel/c.json.lockfile"));
}
