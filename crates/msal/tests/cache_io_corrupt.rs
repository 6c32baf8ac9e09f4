//! The engine's side of the cache hooks: no write follows a read that
//! failed (even with a change still pending from an earlier failed save),
//! and the hooks are told whether the engine keeps a cache in memory.

use std::sync::{Arc, Mutex};

use msal::cache::TokenCache;
use msal::credentials::ClientCredential;
use msal::http::BoxFuture;
use msal::secret::ClientSecret;
use msal::storage::{CacheAccess, CacheAccessArgs, StorageError, StorageErrorKind};
use msal::{ConfidentialClientApplication, PublicClientApplication};
use msal_test_support::FakeHttp;

const CLIENT_ID: &str = "00000000-0000-0000-0000-00000000c1d0";
const TENANT: &str = "00000000-0000-0000-0000-0000000000f1";
const CORRUPT: &[u8] = b"{\"AccessToken\": [";

/// What `before_access` hands over, one step per access.
#[derive(Debug, Clone, Copy)]
enum Load {
    /// Keep the in-memory cache.
    Keep,
    /// A document that does not parse.
    Corrupt,
    /// The store fails.
    Fails,
}

/// One `after_access` call as the hooks saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Saved {
    changed: bool,
    document: Option<Vec<u8>>,
}

/// Hooks that follow a script of loads, fail the first save, and record
/// every `after_access` and every `partitioned` flag.
struct Scripted {
    loads: Mutex<Vec<Load>>,
    saves: Mutex<Vec<Saved>>,
    partitioned: Mutex<Vec<bool>>,
    fail_next_save: Mutex<bool>,
}

impl Scripted {
    fn new(loads: &[Load]) -> Arc<Self> {
        Arc::new(Self {
            loads: Mutex::new(loads.iter().rev().copied().collect()),
            saves: Mutex::default(),
            partitioned: Mutex::default(),
            fail_next_save: Mutex::new(true),
        })
    }

    fn saves(&self) -> Vec<Saved> {
        self.saves.lock().unwrap().clone()
    }
}

impl CacheAccess for Scripted {
    fn before_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        self.partitioned.lock().unwrap().push(args.partitioned);
        let load = self.loads.lock().unwrap().pop().unwrap_or(Load::Keep);
        Box::pin(async move {
            match load {
                Load::Keep => Ok(None),
                Load::Corrupt => Ok(Some(CORRUPT.to_vec())),
                Load::Fails => Err(StorageError::new(StorageErrorKind::Io, "disk gone")),
            }
        })
    }

    fn after_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.saves.lock().unwrap().push(Saved {
            changed: args.has_state_changed,
            document: document.map(<[u8]>::to_vec),
        });
        let fail = document.is_some() && std::mem::take(&mut *self.fail_next_save.lock().unwrap());
        Box::pin(async move {
            if fail {
                Err(StorageError::new(
                    StorageErrorKind::Unavailable,
                    "store is down",
                ))
            } else {
                Ok(())
            }
        })
    }
}

fn seeded_app(hooks: Arc<Scripted>) -> PublicClientApplication {
    let doc = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cache/spec_9_1.json"
    ))
    .unwrap();
    PublicClientApplication::builder(CLIENT_ID)
        .authority(format!("https://login.microsoftonline.com/{TENANT}"))
        .http_client(FakeHttp::new())
        .token_cache(TokenCache::deserialize(&doc).unwrap())
        .cache_access(hooks)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_pending_change_is_never_written_over_a_document_that_failed_to_load() {
    let hooks = Scripted::new(&[
        Load::Keep,    // list the account
        Load::Keep,    // remove it: the save fails, the change stays pending
        Load::Corrupt, // the stored document no longer parses
        Load::Fails,   // the store is unreachable
        Load::Keep,    // the store reads again: the pending change is saved
    ]);
    let app = seeded_app(hooks.clone());
    let accounts = app.accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    let removal = app.remove_account(&accounts[0]).await;
    assert!(
        matches!(removal, Err(msal::Error::Storage(_))),
        "{removal:?}"
    );
    let pending = hooks.saves()[1].clone();
    assert!(pending.changed && pending.document.is_some(), "{pending:?}");

    assert!(
        app.accounts().await.is_err(),
        "a corrupt document fails the call"
    );
    assert!(
        app.accounts().await.is_err(),
        "a failing store fails the call"
    );
    let saves = hooks.saves();
    for failed_load in &saves[2..4] {
        assert_eq!(
            failed_load,
            &Saved {
                changed: false,
                document: None
            },
            "nothing may be written after a failed read"
        );
    }

    // Once the store reads again, the change still pending is saved.
    assert!(app.accounts().await.unwrap().is_empty());
    let saves = hooks.saves();
    assert_eq!(saves.len(), 5);
    assert!(saves[4].changed);
    assert_eq!(saves[4].document, pending.document);
}

#[tokio::test]
async fn the_hooks_are_told_whether_the_engine_keeps_a_cache_in_memory() {
    let public_hooks = Scripted::new(&[]);
    let public = seeded_app(public_hooks.clone());
    public.accounts().await.unwrap();
    assert_eq!(*public_hooks.partitioned.lock().unwrap(), vec![false]);

    let confidential_hooks = Scripted::new(&[]);
    let confidential = ConfidentialClientApplication::builder(
        CLIENT_ID,
        ClientCredential::secret(ClientSecret::new("s")),
    )
    .authority(format!("https://login.microsoftonline.com/{TENANT}"))
    .http_client(FakeHttp::new())
    .cache_access(confidential_hooks.clone())
    .build()
    .unwrap();
    confidential.accounts().await.unwrap();
    confidential.account("uid.utid").await.unwrap();
    assert_eq!(
        *confidential_hooks.partitioned.lock().unwrap(),
        vec![true, true]
    );
}
