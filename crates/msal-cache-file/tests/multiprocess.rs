//! Several processes on one file: nobody's write is lost, and writers killed
//! at random moments never leave a file that does not load or lacks a write
//! they acknowledged.
//!
//! The writers are this test binary started again (see
//! `msal_test_support::child`): a test function runs as the parent normally
//! and as a writer when `MSAL_TEST_CHILD` names it. Writers go through the
//! public API: a `PublicClientApplication` with the file cache as its hooks
//! redeems a refresh token once per token (`acquire_token_by_refresh_token`)
//! against a small in-process identity provider.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::idp::{self, Idp};
use common::{access_token_secrets, ack_of, spawn_child};
use msal::TokenSource;
use msal::secret::RefreshTokenSecret;
use msal_cache_file::{CacheKey, Encryption, FileCache};
use msal_test_support::child;
use rand::Rng;

const WRITERS: usize = 8;
const TOKENS_EACH: usize = 200;

fn cache_from_env() -> FileCache {
    let path = PathBuf::from(child::var("CACHE_PATH"));
    let encryption = match std::env::var("CACHE_KEY") {
        Ok(k) => Encryption::Aes256Gcm(CacheKey::from_base64(&k).unwrap()),
        Err(_) => Encryption::Plaintext,
    };
    FileCache::builder(path)
        .encryption(encryption)
        .lock_timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The writer: signs user USER_N in COUNT times, each time for a scope that
/// yields a token named `<PREFIX>-<n>`, and prints `ACK <token>` once the
/// call (and so the cache write) completed.
async fn write_tokens() {
    let prefix = child::var("PREFIX");
    let count: usize = child::var("COUNT").parse().unwrap();
    let user: usize = child::var("USER_N").parse().unwrap();
    let app = idp::app(Idp::new(&idp::uid(user)), Arc::new(cache_from_env()));
    for n in 0..count {
        let token = format!("{prefix}-{n}");
        let result = app
            .acquire_token_by_refresh_token(
                &[idp::scope_for(&token)],
                RefreshTokenSecret::new("rt-from-elsewhere"),
            )
            .await
            .unwrap();
        assert_eq!(result.access_token().expose_secret(), token);
        println!("ACK {token}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_each_write_200_tokens_and_all_1600_are_there() {
    if child::is_child("eight_processes_each_write_200_tokens_and_all_1600_are_there") {
        return write_tokens().await;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.json");
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let envs = [
                ("CACHE_PATH", path.display().to_string()),
                ("PREFIX", format!("writer{w}")),
                ("COUNT", TOKENS_EACH.to_string()),
                ("USER_N", w.to_string()),
            ];
            tokio::spawn(async move {
                child::run(
                    "eight_processes_each_write_200_tokens_and_all_1600_are_there",
                    &envs,
                )
                .await;
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let doc = std::fs::read(&path).unwrap();
    let got = access_token_secrets(&doc);
    let want: BTreeSet<String> = (0..WRITERS)
        .flat_map(|w| (0..TOKENS_EACH).map(move |n| format!("writer{w}-{n}")))
        .collect();
    assert_eq!(got.len(), WRITERS * TOKENS_EACH);
    assert_eq!(got, want);
    assert!(!dir.path().join("shared.json.lockfile").exists());

    // Another app on the file finds every user, and their tokens silently.
    let reader = Idp::new(&idp::uid(99));
    let cache = FileCache::builder(&path)
        .encryption(Encryption::Plaintext)
        .build()
        .unwrap();
    let app = idp::app(reader.clone(), Arc::new(cache));
    let accounts = app.accounts().await.unwrap();
    assert_eq!(accounts.len(), WRITERS);
    let mut rng = rand::rng();
    for account in &accounts {
        let w = (0..WRITERS)
            .find(|w| account.home_account_id().starts_with(&idp::uid(*w)))
            .unwrap();
        let token = format!("writer{w}-{}", rng.random_range(0..TOKENS_EACH));
        let r = app
            .acquire_token_silent(&[idp::scope_for(&token)], account)
            .await
            .unwrap();
        assert_eq!(r.source(), TokenSource::Cache);
        assert_eq!(r.access_token().expose_secret(), token);
    }
    assert_eq!(reader.token_posts.load(Ordering::SeqCst), 0);
}

/// Runs `rounds` rounds of two writers on one file, each killed with SIGKILL
/// after a random number of acknowledged writes, and checks after every
/// round that the file loads and holds every acknowledged token.
fn kill_rounds(test: &str, rounds: usize, key: Option<CacheKey>) {
    let dir = tempfile::tempdir().unwrap();
    let mut path = dir.path().join("killed.json");
    let mut rng = rand::rng();
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut total_acked = 0;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for round in 0..rounds {
        // A new file every 10 rounds keeps documents (and debug-build JSON
        // work) small; within a file, stale locks and temporary files of
        // killed writers carry over from round to round.
        if round % 10 == 0 {
            path = dir.path().join(format!("killed-{round}.json"));
            total_acked += acked.len();
            acked.clear();
        }
        let mut children = Vec::new();
        for w in 0..2 {
            let mut envs = vec![
                ("CACHE_PATH", path.display().to_string()),
                ("PREFIX", format!("r{round}w{w}")),
                ("COUNT", "100000".to_owned()),
                ("USER_N", w.to_string()),
            ];
            if let Some(k) = &key {
                envs.push(("CACHE_KEY", k.expose_base64().to_string()));
            }
            let mut c = spawn_child(test, &envs);
            let stdout = BufReader::new(c.stdout.take().unwrap());
            // 0 kills the writer before or during its first write.
            let kill_after = rng.random_range(0..25usize);
            children.push((c, stdout, kill_after));
        }
        for (c, stdout, kill_after) in &mut children {
            let mut lines = stdout.lines();
            let mut seen = 0;
            while seen < *kill_after {
                match lines.next() {
                    Some(Ok(line)) => {
                        if let Some(t) = ack_of(&line) {
                            acked.insert(t.to_owned());
                            seen += 1;
                        }
                    }
                    _ => panic!("writer ended before it was killed"),
                }
            }
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
            // Acks printed before the kill count too.
            for line in lines.map_while(Result::ok) {
                if let Some(t) = ack_of(&line) {
                    acked.insert(t.to_owned());
                }
            }
        }
        // The file loads (possibly after taking over a dead writer's lock)
        // and nothing acknowledged is missing.
        let cache = FileCache::builder(&path)
            .encryption(
                key.clone()
                    .map(Encryption::Aes256Gcm)
                    .unwrap_or(Encryption::Plaintext),
            )
            .build()
            .unwrap();
        let doc = rt
            .block_on(cache.read_document())
            .unwrap_or_else(|e| panic!("round {round}: the file must load: {e}"));
        if let Some(d) = &doc {
            msal::cache::TokenCache::deserialize(d)
                .unwrap_or_else(|e| panic!("round {round}: msal cannot load it: {e}"));
        }
        let got = doc.map(|d| access_token_secrets(&d)).unwrap_or_default();
        let missing: Vec<_> = acked.difference(&got).collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged writes lost: {missing:?}"
        );
    }
    total_acked += acked.len();
    assert!(
        total_acked > rounds,
        "the writers must have written something ({total_acked})"
    );
}

#[test]
fn writers_killed_at_random_moments_50_times_lose_no_acknowledged_write() {
    let name = "writers_killed_at_random_moments_50_times_lose_no_acknowledged_write";
    if child::is_child(name) {
        return tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(write_tokens());
    }
    kill_rounds(name, 50, None);
}

#[test]
fn encrypted_writers_killed_at_random_moments_lose_no_acknowledged_write() {
    let name = "encrypted_writers_killed_at_random_moments_lose_no_acknowledged_write";
    if child::is_child(name) {
        return tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(write_tokens());
    }
    kill_rounds(name, 15, Some(CacheKey::generate()));
}
