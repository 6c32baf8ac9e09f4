//! Helpers shared by the public-client and silent tests: fake ID tokens,
//! token responses, metadata documents and unique tenants.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]
#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod chromium;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use msal::PublicClientApplication;
use msal::clock::ManualClock;
pub use msal_test_support::jwt::{b64url as b64, client_info, unsigned_jwt as jwt};
use msal_test_support::{Expect, FakeHttp, Reply};

pub const CLIENT_ID: &str = "00000000-0000-0000-0000-00000000c1d0";
pub const UID: &str = "00000000-0000-0000-0000-00000000a11c";
pub const NOW: u64 = 1_700_000_000;
pub const HOST: &str = "https://login.microsoftonline.com";

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A tenant id no other test in this process uses (the metadata cache is process-wide).
pub fn unique_tenant() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-0000-4000-8000-{n:012x}", std::process::id())
}

/// An Entra-style ID token for `tenant`.
pub fn id_token(tenant: &str, nonce: Option<&str>) -> String {
    let mut c = serde_json::json!({
        "aud": CLIENT_ID,
        "iss": format!("{HOST}/{tenant}/v2.0"),
        "tid": tenant,
        "oid": UID,
        "sub": "pairwise-sub",
        "preferred_username": "ada@contoso.example",
        "name": "Ada",
    });
    if let Some(n) = nonce {
        c["nonce"] = serde_json::Value::String(n.to_owned());
    }
    jwt(&c)
}

/// A user token response.
pub fn token_json(
    at: &str,
    rt: &str,
    tenant: &str,
    expires_in: i64,
    nonce: Option<&str>,
) -> String {
    serde_json::json!({
        "token_type": "Bearer",
        "scope": "User.Read openid profile offline_access",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": at,
        "refresh_token": rt,
        "id_token": id_token(tenant, nonce),
        "client_info": client_info(UID, tenant),
    })
    .to_string()
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
        "device_authorization_endpoint": format!("{HOST}/{tenant}/oauth2/v2.0/devicecode"),
    })
    .to_string()
}

/// Queues the metadata GET for `tenant`.
pub fn expect_metadata(http: &FakeHttp, tenant: &str) {
    http.expect(
        Expect::get(&metadata_url(tenant)),
        Reply::json(200, &metadata_json(tenant)),
    );
}

pub struct Setup {
    pub http: Arc<FakeHttp>,
    pub clock: Arc<ManualClock>,
    pub tenant: String,
    pub app: PublicClientApplication,
}

/// An app on a fresh tenant with FakeHttp and a ManualClock at [`NOW`].
pub fn setup() -> Setup {
    let http = FakeHttp::new();
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let tenant = unique_tenant();
    let app = PublicClientApplication::builder(CLIENT_ID)
        .authority(format!("{HOST}/{tenant}"))
        .http_client(http.clone())
        .clock(clock.clone())
        .browser(|_: &url::Url| Err(msal::browser::BrowserError::new("no browser in tests")))
        .build()
        .unwrap();
    Setup {
        http,
        clock,
        tenant,
        app,
    }
}

/// GETs `url` (an http://localhost or 127.0.0.1 URL) with a raw socket and
/// returns the whole response.
pub async fn raw_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let u = url::Url::parse(url).unwrap();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", u.port().unwrap()))
        .await
        .unwrap();
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    s.write_all(
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// The value of query parameter `name` in `url`.
pub fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Signs in with username/password (one token POST; metadata expected too
/// when `with_metadata`) and returns the result and the cached account.
pub async fn sign_in(
    s: &Setup,
    with_metadata: bool,
    body: &str,
) -> (msal::AuthenticationResult, msal::Account) {
    if with_metadata {
        expect_metadata(&s.http, &s.tenant);
    }
    s.http.expect(
        Expect::post(&token_url(&s.tenant))
            .form("grant_type", "password")
            .form("username", "ada@contoso.example"),
        Reply::json(200, body),
    );
    let r = s
        .app
        .acquire_token_by_username_password(
            &["User.Read"],
            "ada@contoso.example",
            msal::secret::Password::new("SECRET-PASSWORD"),
        )
        .await
        .unwrap();
    let accounts = s.app.accounts().await.unwrap();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    (r, accounts.into_iter().next().unwrap())
}

/// The refresh-token POST silent calls make.
pub fn refresh_post(tenant: &str, rt: &str) -> Expect {
    Expect::post(&token_url(tenant))
        .form("grant_type", "refresh_token")
        .form("refresh_token", rt)
        .form("client_id", CLIENT_ID)
        .form("client_info", "1")
        .form("scope", "User.Read offline_access openid profile")
}

/// ("before" | "after", partition key, has_state_changed, document given)
pub type HookCall = (&'static str, Option<String>, bool, bool);

/// Cache hooks that keep the document and record every call.
#[derive(Default)]
pub struct RecordingHooks {
    pub doc: Mutex<Option<Vec<u8>>>,
    /// ("before" | "after", partition key, has_state_changed, document given)
    pub calls: Mutex<Vec<HookCall>>,
    pub fail_before: std::sync::atomic::AtomicBool,
    pub fail_after: std::sync::atomic::AtomicBool,
}

use std::sync::Mutex;

impl RecordingHooks {
    pub fn with_doc(doc: &str) -> Arc<Self> {
        let h = Arc::new(Self::default());
        *h.doc.lock().unwrap() = Some(doc.as_bytes().to_vec());
        h
    }
    pub fn calls(&self) -> Vec<HookCall> {
        self.calls.lock().unwrap().clone()
    }
    pub fn doc_text(&self) -> String {
        String::from_utf8(self.doc.lock().unwrap().clone().unwrap_or_default()).unwrap()
    }
}

impl msal::storage::CacheAccess for RecordingHooks {
    fn before_access<'a>(
        &'a self,
        args: msal::storage::CacheAccessArgs<'a>,
    ) -> msal::http::BoxFuture<'a, Result<Option<Vec<u8>>, msal::storage::StorageError>> {
        self.calls.lock().unwrap().push((
            "before",
            args.partition_key.map(str::to_owned),
            false,
            false,
        ));
        let fail = self.fail_before.load(Ordering::SeqCst);
        let doc = self.doc.lock().unwrap().clone();
        Box::pin(async move {
            if fail {
                return Err(msal::storage::StorageError::new(
                    msal::storage::StorageErrorKind::Unavailable,
                    "store down",
                ));
            }
            Ok(doc)
        })
    }

    fn after_access<'a>(
        &'a self,
        args: msal::storage::CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> msal::http::BoxFuture<'a, Result<(), msal::storage::StorageError>> {
        self.calls.lock().unwrap().push((
            "after",
            args.partition_key.map(str::to_owned),
            args.has_state_changed,
            document.is_some(),
        ));
        let fail = self.fail_after.load(Ordering::SeqCst);
        if !fail && let Some(d) = document {
            *self.doc.lock().unwrap() = Some(d.to_vec());
        }
        Box::pin(async move {
            if fail {
                return Err(msal::storage::StorageError::new(
                    msal::storage::StorageErrorKind::Io,
                    "disk full",
                ));
            }
            Ok(())
        })
    }
}

/// Like [`setup`] with cache hooks.
pub fn setup_with_hooks(hooks: Arc<RecordingHooks>, authority: Option<&str>) -> Setup {
    let http = FakeHttp::new();
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let tenant = unique_tenant();
    let app = PublicClientApplication::builder(CLIENT_ID)
        .authority(
            authority
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{HOST}/{tenant}")),
        )
        .http_client(http.clone())
        .clock(clock.clone())
        .cache_access(hooks)
        .build()
        .unwrap();
    Setup {
        http,
        clock,
        tenant,
        app,
    }
}
