//! Helpers shared by the confidential-client tests: apps on unique tenants,
//! token responses, a recording `CacheAccess`, and `Idp`, an HTTP fake that
//! answers by the request (any order, any concurrency) and counts.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use msal::ConfidentialClientApplication;
use msal::cache::TokenCache;
use msal::clock::ManualClock;
use msal::credentials::ClientCredential;
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError};
use msal::secret::ClientSecret;
use msal::storage::{CacheAccess, CacheAccessArgs, MemoryStore, StorageError, StoreAccess};
pub use msal_test_support::jwt::{b64url as b64, client_info, unsigned_jwt};
use msal_test_support::{Expect, FakeHttp, Reply};

pub const CLIENT_ID: &str = "00000000-0000-0000-0000-0000000c0f1d";
pub const SECRET: &str = "the-client-secret";
pub const HOST: &str = "https://login.microsoftonline.com";
pub const NOW: u64 = 1_700_000_000;
pub const GRAPH: &str = "https://graph.microsoft.com/.default";

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A tenant id no other test in this process uses (the metadata cache is process-wide).
pub fn unique_tenant() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-0000-4000-8000-{n:012x}", std::process::id())
}

pub fn metadata_url(tenant: &str) -> String {
    format!("{HOST}/{tenant}/v2.0/.well-known/openid-configuration")
}

pub fn token_url(tenant: &str) -> String {
    format!("{HOST}/{tenant}/oauth2/v2.0/token")
}

pub fn metadata_json(tenant: &str) -> String {
    serde_json::json!({
        "issuer": format!("{HOST}/{tenant}/v2.0"),
        "authorization_endpoint": format!("{HOST}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": token_url(tenant),
    })
    .to_string()
}

pub fn expect_metadata(http: &FakeHttp, tenant: &str) {
    http.expect(
        Expect::get(&metadata_url(tenant)),
        Reply::json(200, &metadata_json(tenant)),
    );
}

/// An app-token response (no RT, no ID token, no scope: as Entra answers).
pub fn app_token_json(at: &str, expires_in: i64) -> String {
    serde_json::json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": at})
        .to_string()
}

/// An unsigned Entra-style ID token for this app.
pub fn id_token(uid: &str, tenant: &str, nonce: Option<&str>) -> String {
    let mut c = serde_json::json!({
        "aud": CLIENT_ID,
        "iss": format!("{HOST}/{tenant}/v2.0"),
        "tid": tenant,
        "oid": uid,
        "sub": format!("sub-{uid}"),
        "preferred_username": format!("{uid}@contoso.example"),
        "name": "A User",
    });
    if let Some(n) = nonce {
        c["nonce"] = serde_json::Value::String(n.to_owned());
    }
    unsigned_jwt(&c)
}

/// A user token response (AT, RT, ID token, client_info).
pub fn user_token_json(at: &str, rt: &str, uid: &str, tenant: &str, expires_in: i64) -> String {
    user_token_json_nonce(at, rt, uid, tenant, expires_in, None)
}

pub fn user_token_json_nonce(
    at: &str,
    rt: &str,
    uid: &str,
    tenant: &str,
    expires_in: i64,
    nonce: Option<&str>,
) -> String {
    serde_json::json!({
        "token_type": "Bearer",
        "scope": "User.Read https://downstream.example/Data.Read openid profile",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": at,
        "refresh_token": rt,
        "id_token": id_token(uid, tenant, nonce),
        "client_info": client_info(uid, tenant),
    })
    .to_string()
}

/// One `after_access` (or `before_access`) call as a hook saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub before: bool,
    pub key: Option<String>,
    pub is_app_cache: bool,
    pub has_state_changed: bool,
    pub suggested_expiry: Option<SystemTime>,
    pub document: Option<Vec<u8>>,
}

/// A `CacheAccess` that records every call and keeps partitions in a
/// [`MemoryStore`] (through [`StoreAccess`]).
pub struct Recording {
    pub inner: StoreAccess<MemoryStore>,
    pub seen: Mutex<Vec<Seen>>,
}

impl Recording {
    pub fn new(clock: Arc<ManualClock>) -> Arc<Self> {
        Arc::new(Self {
            inner: StoreAccess::new(MemoryStore::builder().clock(clock).build()),
            seen: Mutex::new(Vec::new()),
        })
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn after(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| !s.before).collect()
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }

    /// The stored document of `key`, parsed.
    pub async fn stored(&self, key: &str) -> Option<serde_json::Value> {
        use msal::storage::CacheStore;
        let bytes = self.inner.store().load(key).await.unwrap()?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }
}

impl CacheAccess for Recording {
    fn before_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        self.seen.lock().unwrap().push(Seen {
            before: true,
            key: args.partition_key.map(str::to_owned),
            is_app_cache: args.is_app_cache,
            has_state_changed: args.has_state_changed,
            suggested_expiry: args.suggested_expiry,
            document: None,
        });
        self.inner.before_access(args)
    }

    fn after_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.seen.lock().unwrap().push(Seen {
            before: false,
            key: args.partition_key.map(str::to_owned),
            is_app_cache: args.is_app_cache,
            has_state_changed: args.has_state_changed,
            suggested_expiry: args.suggested_expiry,
            document: document.map(<[u8]>::to_vec),
        });
        self.inner.after_access(args, document)
    }
}

pub struct Setup {
    pub http: Arc<FakeHttp>,
    pub clock: Arc<ManualClock>,
    pub tenant: String,
    pub hooks: Arc<Recording>,
    pub app: ConfidentialClientApplication,
}

/// A daemon with a client secret on a fresh tenant, FakeHttp, a ManualClock
/// at [`NOW`] and recording hooks.
pub fn setup() -> Setup {
    setup_with(ClientCredential::secret(ClientSecret::new(SECRET)), |b| b)
}

pub fn setup_with(
    credential: ClientCredential,
    configure: impl FnOnce(
        msal::ConfidentialClientApplicationBuilder,
    ) -> msal::ConfidentialClientApplicationBuilder,
) -> Setup {
    let http = FakeHttp::new();
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let tenant = unique_tenant();
    let hooks = Recording::new(clock.clone());
    let builder = ConfidentialClientApplication::builder(CLIENT_ID, credential)
        .authority(format!("{HOST}/{tenant}"))
        .http_client(http.clone())
        .clock(clock.clone())
        .cache_access(hooks.clone());
    let app = configure(builder).build().unwrap();
    Setup {
        http,
        clock,
        tenant,
        hooks,
        app,
    }
}

/// The client-credentials POST for `tenant` with the secret.
pub fn cc_post(tenant: &str, scope: &str) -> Expect {
    Expect::post(&token_url(tenant))
        .form("grant_type", "client_credentials")
        .form("client_id", CLIENT_ID)
        .form("scope", scope)
        .form("client_secret", SECRET)
        .no_form("client_assertion")
}

/// Entry counts of a stored document: [AT, RT, IdToken, Account, AppMetadata].
pub fn counts(doc: &[u8]) -> [usize; 5] {
    TokenCache::deserialize(doc).unwrap().entry_counts()
}

/// An identity provider fake that answers any tenant in any order: the
/// metadata GET and token POSTs (app tokens `at-<tenant>-<n>`), counting
/// requests per tenant. Yields once per request so concurrent callers
/// really overlap.
#[derive(Default)]
pub struct Idp {
    pub metadata: Mutex<HashMap<String, usize>>,
    pub tokens: Mutex<HashMap<String, usize>>,
    pub total: AtomicUsize,
}

impl Idp {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn token_requests(&self) -> usize {
        self.tokens.lock().unwrap().values().sum()
    }

    pub fn metadata_requests(&self) -> usize {
        self.metadata.lock().unwrap().values().sum()
    }

    fn respond(&self, req: &HttpRequest) -> HttpResponse {
        self.total.fetch_add(1, Ordering::SeqCst);
        let path = req.uri().path().to_owned();
        let tenant = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned();
        let (status, body) = if path.ends_with("/openid-configuration") {
            *self
                .metadata
                .lock()
                .unwrap()
                .entry(tenant.clone())
                .or_default() += 1;
            (200, metadata_json(&tenant))
        } else if path.ends_with("/oauth2/v2.0/token") {
            let form: HashMap<String, String> = url::form_urlencoded::parse(req.body())
                .into_owned()
                .collect();
            let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
                && form.get("client_secret").map(String::as_str) == Some(SECRET);
            if ok {
                let n = {
                    let mut t = self.tokens.lock().unwrap();
                    let e = t.entry(tenant.clone()).or_default();
                    *e += 1;
                    *e
                };
                (200, app_token_json(&format!("at-{tenant}-{n}"), 3599))
            } else {
                (401, r#"{"error":"invalid_client"}"#.to_owned())
            }
        } else {
            (404, "{}".to_owned())
        };
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .unwrap()
    }
}

impl HttpClient for Idp {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok(self.respond(&request))
        })
    }
}
