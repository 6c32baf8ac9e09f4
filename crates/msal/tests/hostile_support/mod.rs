//! A hostile identity provider of the tests' own: a raw HTTP/1.1 server
//! (msal-test-support's `TestServer`) that serves honest OpenID metadata and
//! then answers token requests with whatever a test scripts, plus an app
//! wired to it with short timeouts and cache hooks that keep the document.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use msal::PublicClientApplication;
use msal::clock::ManualClock;
use msal::http::BoxFuture;
use msal::storage::{CacheAccess, CacheAccessArgs, StorageError};
use msal::transport::ReqwestHttpClient;
pub use msal_test_support::jwt::{b64url as b64, client_info, unsigned_jwt as jwt};
use msal_test_support::{Canned, SeenRequest, TestServer};

pub const CLIENT_ID: &str = "11111111-2222-4333-8444-555555555555";
pub const TENANT: &str = "5f2c7a1e-3b9d-4c6a-8e4f-1a2b3c4d5e6f";
pub const UID: &str = "a0a0a0a0-1111-4222-8333-00000000ada1";
pub const NOW: u64 = 1_700_000_000;
/// The timeouts of the app's HTTP client (connect and whole request).
pub const TIMEOUT: Duration = Duration::from_millis(700);
/// The response size cap of the app's HTTP client.
pub const MAX_BODY: usize = 256 * 1024;
/// How long any hostile exchange may take before the test calls it a hang:
/// the client retries a timed-out request once, so two timeouts plus slack.
pub const HANG: Duration = Duration::from_secs(20);
pub const SCOPES: &[&str] = &["User.Read"];

/// A token reply from the scripted server.
pub fn reply(body: &str) -> Canned {
    Canned::json(200, body)
}

/// A hostile identity provider.
pub struct Idp {
    pub server: TestServer,
    pub base: String,
    script: Arc<Mutex<VecDeque<Canned>>>,
    unexpected: Arc<AtomicUsize>,
}

impl Idp {
    pub async fn start() -> Self {
        let base_cell: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
        let script: Arc<Mutex<VecDeque<Canned>>> = Arc::default();
        let unexpected = Arc::new(AtomicUsize::new(0));
        let (b, s, u) = (base_cell.clone(), script.clone(), unexpected.clone());
        let server = TestServer::http(move |req: &SeenRequest| {
            let base = b.get().cloned().unwrap_or_default();
            if req.method == "GET" && req.target.contains("/.well-known/openid-configuration") {
                return Canned::json(200, &metadata(&base));
            }
            if req.method == "POST"
                && let Some(c) = s.lock().unwrap().pop_front()
            {
                return c;
            }
            u.fetch_add(1, Ordering::SeqCst);
            Canned::json(
                404,
                r#"{"error":"invalid_request","error_description":"unscripted"}"#,
            )
        })
        .await;
        let base = server.url();
        base_cell.set(base.clone()).unwrap();
        Self {
            server,
            base,
            script,
            unexpected,
        }
    }

    /// Queues the answer to the next POST.
    pub fn then(&self, c: Canned) -> &Self {
        self.script.lock().unwrap().push_back(c);
        self
    }

    pub fn issuer(&self) -> String {
        format!("{}/{TENANT}/v2.0", self.base)
    }

    /// POSTs the server received (token and device code requests).
    pub fn posts(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count()
    }

    /// Whether a request came that nothing was scripted for.
    pub fn unexpected(&self) -> usize {
        self.unexpected.load(Ordering::SeqCst)
    }

    /// An ID token from this provider, for `CLIENT_ID`.
    pub fn id_token(&self) -> serde_json::Value {
        serde_json::json!({
            "aud": CLIENT_ID,
            "iss": self.issuer(),
            "tid": TENANT,
            "oid": UID,
            "sub": "pairwise-sub",
            "preferred_username": "ada@contoso.example",
            "name": "Ada",
            "iat": NOW,
            "exp": NOW + 3600,
        })
    }

    /// An honest token response with `id_token` claims.
    pub fn token_json_with(&self, at: &str, rt: &str, id_claims: &serde_json::Value) -> String {
        serde_json::json!({
            "token_type": "Bearer",
            "scope": "User.Read openid profile offline_access",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": at,
            "refresh_token": rt,
            "id_token": jwt(id_claims),
            "client_info": client_info(UID, TENANT),
        })
        .to_string()
    }

    pub fn token_json(&self, at: &str, rt: &str) -> String {
        self.token_json_with(at, rt, &self.id_token())
    }
}

fn metadata(base: &str) -> String {
    serde_json::json!({
        "issuer": format!("{base}/{TENANT}/v2.0"),
        "authorization_endpoint": format!("{base}/{TENANT}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{TENANT}/oauth2/v2.0/token"),
        "device_authorization_endpoint": format!("{base}/{TENANT}/oauth2/v2.0/devicecode"),
    })
    .to_string()
}

/// Cache hooks that keep the document and count the saves of a changed cache.
#[derive(Default)]
pub struct DocHooks {
    doc: Mutex<Option<Vec<u8>>>,
    saves: AtomicUsize,
}

impl DocHooks {
    /// The stored document and how many changed saves happened so far.
    pub fn snapshot(&self) -> (Vec<u8>, usize) {
        (
            self.doc.lock().unwrap().clone().unwrap_or_default(),
            self.saves.load(Ordering::SeqCst),
        )
    }
}

impl CacheAccess for DocHooks {
    fn before_access<'a>(
        &'a self,
        _: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        let doc = self.doc.lock().unwrap().clone();
        Box::pin(async move { Ok(doc) })
    }

    fn after_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        if let (true, Some(d)) = (args.has_state_changed, document) {
            *self.doc.lock().unwrap() = Some(d.to_vec());
            self.saves.fetch_add(1, Ordering::SeqCst);
        }
        Box::pin(async { Ok(()) })
    }
}

/// The real HTTP client with the short timeouts and cap of these tests.
pub fn http_client() -> Arc<ReqwestHttpClient> {
    Arc::new(
        ReqwestHttpClient::builder()
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .max_response_bytes(MAX_BODY)
            .build()
            .unwrap(),
    )
}

/// A public client app on `idp`, with `hooks` and a manual clock at `NOW`.
pub fn app(idp: &Idp, hooks: &Arc<DocHooks>, clock: &Arc<ManualClock>) -> PublicClientApplication {
    PublicClientApplication::builder(CLIENT_ID)
        .authority(format!("{}/{TENANT}", idp.base))
        .instance_discovery(false)
        .http_client(http_client())
        .clock(clock.clone())
        .cache_access(hooks.clone())
        .browser(|_: &url::Url| Err(msal::browser::BrowserError::new("no browser here")))
        .build()
        .unwrap()
}
