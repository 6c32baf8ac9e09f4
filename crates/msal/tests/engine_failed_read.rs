//! The engine's rule on failed reads, for every cached flow: when a save
//! failed (a change is still pending in memory) and the next read of the
//! store fails too, nothing is written over the stored document. Before the
//! one engine, managed identity kept its own cache and wrote the pending
//! change over a document it had not been able to read.
//!
//! Each flow runs against msal-emulator (real sockets and tokens) with hooks
//! whose reads and writes can be made to fail.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use msal::clock::ManualClock;
use msal::credentials::ClientCredential;
use msal::http::BoxFuture;
use msal::managed_identity::{Environment, ManagedIdentity, ManagedIdentityApplication};
use msal::secret::{Assertion, ClientSecret, Password};
use msal::storage::{CacheAccess, CacheAccessArgs, StorageError, StorageErrorKind};
use msal::{ConfidentialClientApplication, Error, PublicClientApplication};
use msal_emulator::defaults::*;
use msal_emulator::managed_identity::Host;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use msal_test_support::jwt::unix_now;

/// One stored document; reads and writes fail on demand; every write is counted.
#[derive(Default)]
struct Flaky {
    doc: Mutex<Option<Vec<u8>>>,
    fail_reads: AtomicBool,
    fail_writes: AtomicBool,
    saves: AtomicUsize,
    /// Documents offered by an `after_access` that followed a failed read.
    written_after_failed_read: AtomicUsize,
    last_read_failed: AtomicBool,
}

impl Flaky {
    fn stored(&self) -> Option<Vec<u8>> {
        self.doc.lock().unwrap().clone()
    }
}

impl CacheAccess for Flaky {
    fn before_access<'a>(
        &'a self,
        _: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        let fail = self.fail_reads.load(Ordering::SeqCst);
        self.last_read_failed.store(fail, Ordering::SeqCst);
        let doc = self.stored();
        Box::pin(async move {
            if fail {
                Err(StorageError::new(
                    StorageErrorKind::Unavailable,
                    "the store is down",
                ))
            } else {
                Ok(doc)
            }
        })
    }

    fn after_access<'a>(
        &'a self,
        _: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        let result = match document {
            Some(_) if self.last_read_failed.load(Ordering::SeqCst) => {
                self.written_after_failed_read
                    .fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Some(_) if self.fail_writes.load(Ordering::SeqCst) => Err(StorageError::new(
                StorageErrorKind::Unavailable,
                "the store is down",
            )),
            Some(d) => {
                *self.doc.lock().unwrap() = Some(d.to_vec());
                self.saves.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            None => Ok(()),
        };
        Box::pin(async move { result })
    }
}

async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default()).await.unwrap()
}

/// The scenario, with `call(force_refresh)` making one token call of the flow.
async fn store_survives_a_failed_read<F, Fut>(hooks: &Flaky, call: F)
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    call(false)
        .await
        .expect("the first token is fetched and saved");
    let saved = hooks.stored().expect("a saved document");
    let saves = hooks.saves.load(Ordering::SeqCst);

    // A new token whose save fails: the change stays pending.
    hooks.fail_writes.store(true, Ordering::SeqCst);
    let e = call(true).await.expect_err("the save failed");
    assert!(matches!(e, Error::Storage(_)), "{e:?}");
    hooks.fail_writes.store(false, Ordering::SeqCst);

    // Now the store cannot be read: the call fails, and the pending change
    // is not written over the document nobody could read.
    hooks.fail_reads.store(true, Ordering::SeqCst);
    let e = call(false).await.expect_err("the read failed");
    assert!(matches!(e, Error::Storage(_)), "{e:?}");
    hooks.fail_reads.store(false, Ordering::SeqCst);
    assert_eq!(
        hooks.written_after_failed_read.load(Ordering::SeqCst),
        0,
        "a document was offered for saving after a failed read"
    );
    assert_eq!(hooks.saves.load(Ordering::SeqCst), saves);
    assert_eq!(hooks.stored().as_deref(), Some(&saved[..]));

    // The store is back: the flow works from what is stored.
    call(false).await.expect("works again");
}

#[tokio::test]
async fn managed_identity() {
    let emu = emulator().await;
    let vars = emu.managed_identity_env(Host::AppService).await.unwrap();
    let hooks = Arc::new(Flaky::default());
    let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(Environment::from_vars(vars).arc_agent_path(None))
        .clock(Arc::new(ManualClock::at_unix(unix_now())))
        .cache_access(hooks.clone())
        .build()
        .unwrap();
    store_survives_a_failed_read(&hooks, |force| {
        let app = app.clone();
        async move {
            app.acquire_token_for_resource("https://vault.azure.net")
                .force_refresh(force)
                .await
                .map(drop)
        }
    })
    .await;
}

#[tokio::test]
async fn public_client_silent() {
    let emu = emulator().await;
    let hooks = Arc::new(Flaky::default());
    let app = PublicClientApplication::builder(CLI_APP_ID)
        .authority(emu.authority(TENANT_ID))
        .cache_access(hooks.clone())
        .build()
        .unwrap();
    let account = app
        .acquire_token_by_username_password(&["User.Read"], USER, Password::new(USER_PASSWORD))
        .await
        .unwrap()
        .account()
        .cloned()
        .unwrap();
    store_survives_a_failed_read(&hooks, |force| {
        let (app, account) = (app.clone(), account.clone());
        async move {
            app.acquire_token_silent(&["User.Read"], &account)
                .force_refresh(force)
                .await
                .map(drop)
        }
    })
    .await;
}

#[tokio::test]
async fn client_credentials() {
    let emu = emulator().await;
    let hooks = Arc::new(Flaky::default());
    let app = ConfidentialClientApplication::builder(
        DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(DAEMON_SECRET)),
    )
    .authority(emu.authority(TENANT_ID))
    .cache_access(hooks.clone())
    .build()
    .unwrap();
    store_survives_a_failed_read(&hooks, |force| {
        let app = app.clone();
        async move {
            app.acquire_token_for_client(&["api://msal-emulator-web-api/.default"])
                .force_refresh(force)
                .await
                .map(drop)
        }
    })
    .await;
}

#[tokio::test]
async fn on_behalf_of() {
    let emu = emulator().await;
    let cli = PublicClientApplication::builder(CLI_APP_ID)
        .authority(emu.authority(TENANT_ID))
        .build()
        .unwrap();
    let incoming = cli
        .acquire_token_by_username_password(
            &["api://msal-emulator-web-api/access_as_user"],
            USER,
            Password::new(USER_PASSWORD),
        )
        .await
        .unwrap()
        .access_token()
        .expose_secret()
        .to_owned();
    let hooks = Arc::new(Flaky::default());
    let api = ConfidentialClientApplication::builder(
        WEB_API_APP_ID,
        ClientCredential::secret(ClientSecret::new(WEB_API_SECRET)),
    )
    .authority(emu.authority(TENANT_ID))
    .cache_access(hooks.clone())
    .build()
    .unwrap();
    store_survives_a_failed_read(&hooks, |force| {
        let (api, incoming) = (api.clone(), incoming.clone());
        async move {
            api.acquire_token_on_behalf_of(&["User.Read"], Assertion::new(incoming))
                .force_refresh(force)
                .await
                .map(drop)
        }
    })
    .await;
}
