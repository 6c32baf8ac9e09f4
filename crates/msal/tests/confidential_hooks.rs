//! The cache hooks of a confidential client: the partition key, the app
//! cache flag, `has_state_changed` and the suggested expiry of every call;
//! each saved partition holds only its own entries and loads alone (a new
//! app instance on the same store is served from it).

mod confidential_support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use confidential_support::*;
use msal::clock::ManualClock;
use msal::credentials::ClientCredential;
use msal::http::BoxFuture;
use msal::secret::{Assertion, AuthorizationCode, ClientSecret};
use msal::storage::{
    CacheAccess, CacheAccessArgs, CacheStore, MemoryStore, StorageError, StorageErrorKind,
    StoreAccess,
};
use msal::storage::{app_partition_key, user_assertion_hash};
use msal::{ConfidentialClientApplication, Error, TokenSource};
use msal_test_support::{Expect, FakeHttp, Reply};
use serde_json::Value;

const UID: &str = "00000000-0000-0000-0000-0000000000c3";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Every entry of every section of a stored document.
fn entries(doc: &Value) -> Vec<(&str, &Value)> {
    doc.as_object()
        .unwrap()
        .iter()
        .flat_map(|(section, m)| {
            m.as_object()
                .unwrap()
                .values()
                .map(move |e| (section.as_str(), e))
        })
        .collect()
}

#[tokio::test]
async fn client_credentials_hooks_carry_the_app_partition_and_the_token_expiry() {
    let s = setup();
    let key = app_partition_key(CLIENT_ID, &s.tenant);
    assert_eq!(key, format!("{CLIENT_ID}_{}_AppTokenCache", s.tenant));
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(200, &app_token_json("at-1", 3600)),
    );
    s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    let seen = s.hooks.seen();
    assert!(
        seen.iter()
            .all(|x| x.key.as_deref() == Some(key.as_str()) && x.is_app_cache),
        "{seen:?}"
    );
    // Lookup, look again inside the flight, write: only the write changed anything.
    let after = s.hooks.after();
    assert_eq!(
        after
            .iter()
            .map(|x| x.has_state_changed)
            .collect::<Vec<_>>(),
        [false, false, true]
    );
    let write = &after[2];
    assert_eq!(write.suggested_expiry, Some(at(NOW + 3600)));
    assert_eq!(counts(write.document.as_ref().unwrap())[..4], [1, 0, 0, 0]);
    assert!(after[..2].iter().all(|x| x.document.is_none()));

    // A hit: one access, nothing changed, nothing written.
    s.hooks.clear();
    s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    let seen = s.hooks.seen();
    assert_eq!(seen.len(), 2);
    assert!(!seen[1].has_state_changed && seen[1].document.is_none());

    // A second token in the partition: the expiry is the latest one.
    s.clock.advance(Duration::from_secs(100));
    s.http.expect(
        cc_post(&s.tenant, "api://other/.default"),
        Reply::json(200, &app_token_json("at-2", 7200)),
    );
    s.app
        .acquire_token_for_client(&["api://other/.default"])
        .await
        .unwrap();
    let last = s.hooks.after().pop().unwrap();
    assert_eq!(last.suggested_expiry, Some(at(NOW + 100 + 7200)));
    assert_eq!(counts(last.document.as_ref().unwrap())[0], 2);
    s.http.assert_consumed();
}

#[tokio::test]
async fn each_partition_document_holds_only_its_own_entries() {
    let s = setup();
    let t2 = unique_tenant();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(200, &app_token_json("at-home", 3600)),
    );
    expect_metadata(&s.http, &t2);
    s.http.expect(
        cc_post(&t2, GRAPH),
        Reply::json(200, &app_token_json("at-t2", 3600)),
    );
    s.http.expect(
        Expect::post(&token_url(&s.tenant)).form("assertion", "incoming-A"),
        Reply::json(
            200,
            &user_token_json("at-obo", "rt-obo", UID, &s.tenant, 3600),
        ),
    );
    s.http.expect(
        Expect::post(&token_url(&s.tenant)).form("grant_type", "authorization_code"),
        Reply::json(
            200,
            &user_token_json("at-user", "rt-user", UID, &s.tenant, 3600),
        ),
    );
    s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    s.app
        .acquire_token_for_client(&[GRAPH])
        .tenant(t2.as_str())
        .await
        .unwrap();
    let a = Assertion::new("incoming-A");
    s.app
        .acquire_token_on_behalf_of(&["User.Read"], a.clone())
        .await
        .unwrap();
    s.app
        .acquire_token_by_authorization_code(
            &["User.Read"],
            AuthorizationCode::new("code"),
            "https://app.example/cb",
        )
        .await
        .unwrap();
    s.http.assert_consumed();

    let hash = user_assertion_hash(&a);
    let hai = format!("{UID}.{}", s.tenant);
    let home = s
        .hooks
        .stored(&app_partition_key(CLIENT_ID, &s.tenant))
        .await
        .unwrap();
    let other = s
        .hooks
        .stored(&app_partition_key(CLIENT_ID, &t2))
        .await
        .unwrap();
    let obo = s.hooks.stored(&hash).await.unwrap();
    let user = s.hooks.stored(&hai).await.unwrap();
    for (doc, realm) in [(&home, s.tenant.as_str()), (&other, t2.as_str())] {
        let tokens: Vec<_> = entries(doc)
            .into_iter()
            .filter(|(sec, _)| *sec != "AppMetadata")
            .collect();
        assert_eq!(tokens.len(), 1, "{doc}");
        assert_eq!(tokens[0].0, "AccessToken");
        assert_eq!(tokens[0].1["realm"], realm);
        assert!(tokens[0].1["home_account_id"].is_null());
    }
    // OBO: every token carries the assertion's hash, and nothing of the web app's own sign-in.
    for (section, e) in entries(&obo) {
        if section == "AccessToken" || section == "RefreshToken" {
            assert_eq!(e["user_assertion_hash"], hash.as_str(), "{e}");
        }
        assert_ne!(e["secret"], "at-user");
        assert_ne!(e["secret"], "at-home");
    }
    assert_eq!(obo["AccessToken"].as_object().unwrap().len(), 1);
    // The signed-in user's partition: their tokens, without any assertion hash.
    let user_secrets: Vec<&Value> = entries(&user)
        .into_iter()
        .map(|(_, e)| &e["secret"])
        .collect();
    assert!(
        user_secrets.contains(&&Value::from("at-user"))
            && user_secrets.contains(&&Value::from("rt-user"))
    );
    assert!(!user_secrets.contains(&&Value::from("at-obo")));
    assert!(
        entries(&user)
            .iter()
            .all(|(_, e)| e.get("user_assertion_hash").is_none())
    );
    // Hooks saw the right keys and flags for the user flows; partitions with an RT have no expiry.
    let writes: Vec<Seen> = s
        .hooks
        .after()
        .into_iter()
        .filter(|x| x.has_state_changed)
        .collect();
    let obo_write = writes
        .iter()
        .find(|x| x.key.as_deref() == Some(hash.as_str()))
        .unwrap();
    let user_write = writes
        .iter()
        .find(|x| x.key.as_deref() == Some(hai.as_str()))
        .unwrap();
    for w in [obo_write, user_write] {
        assert!(!w.is_app_cache && w.suggested_expiry.is_none(), "{w:?}");
    }
}

#[tokio::test]
async fn a_new_instance_on_the_same_store_is_served_from_it_partition_by_partition() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(200, &app_token_json("at-1", 3600)),
    );
    s.http.expect(
        Expect::post(&token_url(&s.tenant)).form("assertion", "incoming-A"),
        Reply::json(
            200,
            &user_token_json("at-obo", "rt-obo", UID, &s.tenant, 3600),
        ),
    );
    s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    s.app
        .acquire_token_on_behalf_of(&["User.Read"], Assertion::new("incoming-A"))
        .await
        .unwrap();
    s.http.assert_consumed();

    // Another instance (another process in real life) shares only the store.
    let http2 = FakeHttp::new();
    let app2 = ConfidentialClientApplication::builder(
        CLIENT_ID,
        ClientCredential::secret(ClientSecret::new(SECRET)),
    )
    .authority(format!("{HOST}/{}", s.tenant))
    .http_client(http2.clone())
    .clock(s.clock.clone())
    .cache_access(s.hooks.clone())
    .build()
    .unwrap();
    let r = app2.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(
        (r.access_token().expose_secret(), r.source()),
        ("at-1", TokenSource::Cache)
    );
    let r = app2
        .acquire_token_on_behalf_of(&["User.Read"], Assertion::new("incoming-A"))
        .await
        .unwrap();
    assert_eq!(
        (r.access_token().expose_secret(), r.source()),
        ("at-obo", TokenSource::Cache)
    );
    assert_eq!(http2.request_count(), 0);
}

/// Hooks whose store holds one corrupt partition and fails writes on demand.
struct Broken {
    inner: Arc<Recording>,
    corrupt_key: String,
    fail_writes: std::sync::atomic::AtomicBool,
}

impl CacheAccess for Broken {
    fn before_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        if args.partition_key == Some(self.corrupt_key.as_str()) {
            return Box::pin(async { Ok(Some(b"{\"AccessToken\": [".to_vec())) });
        }
        self.inner.before_access(args)
    }

    fn after_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
        doc: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        if doc.is_some() && self.fail_writes.load(std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(async {
                Err(StorageError::new(
                    StorageErrorKind::Unavailable,
                    "store is down",
                ))
            });
        }
        self.inner.after_access(args, doc)
    }
}

#[tokio::test]
async fn a_corrupt_partition_fails_alone_and_a_failed_write_is_reported() {
    let good = unique_tenant();
    let bad = unique_tenant();
    let http = FakeHttp::new();
    let clock = Arc::new(msal::clock::ManualClock::at_unix(NOW));
    let hooks = Arc::new(Broken {
        inner: Recording::new(clock.clone()),
        corrupt_key: app_partition_key(CLIENT_ID, &bad),
        fail_writes: false.into(),
    });
    let app = ConfidentialClientApplication::builder(
        CLIENT_ID,
        ClientCredential::secret(ClientSecret::new(SECRET)),
    )
    .authority(format!("{HOST}/{good}"))
    .http_client(http.clone())
    .clock(clock)
    .cache_access(hooks.clone())
    .build()
    .unwrap();
    let e = app
        .acquire_token_for_client(&[GRAPH])
        .tenant(bad.as_str())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::CacheFormat(_)), "{e:?}");
    expect_metadata(&http, &good);
    http.expect(
        cc_post(&good, GRAPH),
        Reply::json(200, &app_token_json("at-1", 3600)),
    );
    app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    hooks
        .fail_writes
        .store(true, std::sync::atomic::Ordering::SeqCst);
    http.expect(
        cc_post(&good, GRAPH),
        Reply::json(200, &app_token_json("at-2", 3600)),
    );
    let e = app
        .acquire_token_for_client(&[GRAPH])
        .force_refresh(true)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Storage(s) if s.kind == StorageErrorKind::Unavailable),
        "{e:?}"
    );
    hooks
        .fail_writes
        .store(false, std::sync::atomic::Ordering::SeqCst);
    // The lost write left the stored partition as it was.
    let r = app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-1");
    http.assert_consumed();
}

#[tokio::test]
async fn silent_account_and_remove_use_the_users_partition() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&token_url(&s.tenant)).form("grant_type", "authorization_code"),
        Reply::json(
            200,
            &user_token_json("at-user", "rt-user", UID, &s.tenant, 3600),
        ),
    );
    let r = s
        .app
        .acquire_token_by_authorization_code(
            &["User.Read"],
            AuthorizationCode::new("code"),
            "https://app.example/cb",
        )
        .await
        .unwrap();
    let hai = format!("{UID}.{}", s.tenant);
    let write = s.hooks.after().pop().unwrap();
    assert_eq!(write.key.as_deref(), Some(hai.as_str()));
    assert!(write.has_state_changed && !write.is_app_cache && write.suggested_expiry.is_none());
    let account = r.account().unwrap().clone();

    s.hooks.clear();
    s.app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    s.app.account(&hai).await.unwrap().unwrap();
    s.app.remove_account(&account).await.unwrap();
    let seen = s.hooks.after();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen.iter()
            .all(|x| x.key.as_deref() == Some(hai.as_str()) && !x.is_app_cache)
    );
    assert_eq!(
        seen.iter().map(|x| x.has_state_changed).collect::<Vec<_>>(),
        [false, false, true]
    );
    let left = counts(seen[2].document.as_ref().unwrap());
    assert_eq!(
        left[..4],
        [0, 0, 0, 0],
        "the user's tokens and account are gone: {left:?}"
    );
    // An emptied partition is suggested to expire now: stores delete it.
    assert_eq!(seen[2].suggested_expiry, Some(UNIX_EPOCH));
    s.http.assert_consumed();
}

#[tokio::test]
async fn remove_account_deletes_the_emptied_partition_from_the_store() {
    let store = MemoryStore::builder()
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .build();
    let s = setup_with(ClientCredential::secret(ClientSecret::new(SECRET)), |b| {
        b.cache_access(Arc::new(StoreAccess::new(store.clone())))
    });
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&token_url(&s.tenant)).form("grant_type", "authorization_code"),
        Reply::json(
            200,
            &user_token_json("at-user", "rt-user", UID, &s.tenant, 3600),
        ),
    );
    let r = s
        .app
        .acquire_token_by_authorization_code(
            &["User.Read"],
            AuthorizationCode::new("code"),
            "https://app.example/cb",
        )
        .await
        .unwrap();
    let hai = format!("{UID}.{}", s.tenant);
    assert!(
        store.load(&hai).await.unwrap().is_some(),
        "the user's partition is saved"
    );
    s.app.remove_account(r.account().unwrap()).await.unwrap();
    assert!(
        store.load(&hai).await.unwrap().is_none(),
        "an emptied partition is deleted"
    );
    s.http.assert_consumed();
}
