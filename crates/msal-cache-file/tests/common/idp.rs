//! A tiny identity provider behind msal's `HttpClient` seam, for writers that
//! go through the public API: it serves OIDC metadata and answers every
//! refresh-token grant with a fresh access token named after the requested
//! `api://tok/<name>` scope, for the user `uid`; a client-credentials grant
//! for `api://tok/<name>/.default` gets an app token named `<name>`.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::PublicClientApplication;
use msal::clock::ManualClock;
use msal::http::{
    BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError, TransportErrorKind,
};
use msal::storage::CacheAccess;

pub const CLIENT_ID: &str = "00000000-0000-0000-0000-00000000f11e";
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const HOST: &str = "https://login.microsoftonline.com";
pub const NOW: u64 = 1_700_000_000;
/// Scopes of this form make tokens named `<name>`.
pub const SCOPE_PREFIX: &str = "api://tok/";

pub fn scope_for(token: &str) -> String {
    format!("{SCOPE_PREFIX}{token}")
}

/// A GUID-shaped object id for user `n`.
pub fn uid(n: usize) -> String {
    format!("{:08x}-0000-4000-8000-{n:012x}", 0x1000_0000 + n)
}

pub struct Idp {
    uid: String,
    pub token_posts: AtomicUsize,
    /// How long each token response takes.
    delay: Duration,
}

impl Idp {
    pub fn new(uid: &str) -> Arc<Self> {
        Self::slow(uid, Duration::ZERO)
    }

    /// An identity provider whose token responses take `delay`.
    pub fn slow(uid: &str, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            uid: uid.to_owned(),
            token_posts: AtomicUsize::new(0),
            delay,
        })
    }

    fn token_response(&self, form: &str) -> Option<String> {
        let field = |name: &str| {
            url::form_urlencoded::parse(form.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let scope = field("scope")?;
        let token = scope
            .split(' ')
            .find_map(|s| s.strip_prefix(SCOPE_PREFIX))?
            .to_owned();
        if field("grant_type").as_deref() == Some("client_credentials") {
            let name = token.strip_suffix("/.default").unwrap_or(&token);
            return Some(
                serde_json::json!({
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "ext_expires_in": 3600,
                    "access_token": name,
                })
                .to_string(),
            );
        }
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let claims = serde_json::json!({
            "aud": CLIENT_ID,
            "iss": format!("{HOST}/{TENANT}/v2.0"),
            "tid": TENANT,
            "oid": self.uid,
            "sub": format!("sub-{}", self.uid),
            "preferred_username": format!("{}@contoso.example", self.uid),
            "name": "Test User",
        });
        let id_token = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&claims.to_string())
        );
        Some(
            serde_json::json!({
                "token_type": "Bearer",
                "scope": format!("{SCOPE_PREFIX}{token} openid profile offline_access"),
                "expires_in": 3600,
                "ext_expires_in": 3600,
                "access_token": token,
                "refresh_token": format!("rt-{}", self.uid),
                "id_token": id_token,
                "client_info": b64(&format!(r#"{{"uid":"{}","utid":"{TENANT}"}}"#, self.uid)),
            })
            .to_string(),
        )
    }
}

fn reply(status: u16, body: String) -> HttpResponse {
    let mut r = http::Response::new(body.into_bytes());
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    r
}

impl HttpClient for Idp {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let url = request.uri().to_string();
        let result = if request.method() == http::Method::GET
            && url.ends_with("/.well-known/openid-configuration")
        {
            Ok(reply(
                200,
                serde_json::json!({
                    "issuer": format!("{HOST}/{TENANT}/v2.0"),
                    "authorization_endpoint": format!("{HOST}/{TENANT}/oauth2/v2.0/authorize"),
                    "token_endpoint": format!("{HOST}/{TENANT}/oauth2/v2.0/token"),
                    "device_authorization_endpoint": format!("{HOST}/{TENANT}/oauth2/v2.0/devicecode"),
                })
                .to_string(),
            ))
        } else if request.method() == http::Method::POST && url.ends_with("/oauth2/v2.0/token") {
            self.token_posts.fetch_add(1, Ordering::SeqCst);
            let form = String::from_utf8_lossy(request.body()).into_owned();
            match self.token_response(&form) {
                Some(body) => Ok(reply(200, body)),
                None => Ok(reply(400, r#"{"error":"invalid_scope"}"#.to_owned())),
            }
        } else {
            Err(TransportError::new(
                TransportErrorKind::Other,
                format!("unexpected request to {url}"),
            ))
        };
        let delay = self.delay;
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            result
        })
    }
}

/// A public client app whose clock stands at [`NOW`] and whose cache goes
/// through `hooks`.
pub fn app(idp: Arc<Idp>, hooks: Arc<dyn CacheAccess>) -> PublicClientApplication {
    app_at(idp, hooks, NOW)
}

/// The same, with the clock at `now` (Unix seconds).
pub fn app_at(idp: Arc<Idp>, hooks: Arc<dyn CacheAccess>, now: u64) -> PublicClientApplication {
    PublicClientApplication::builder(CLIENT_ID)
        .authority(format!("{HOST}/{TENANT}"))
        .http_client(idp)
        .clock(Arc::new(ManualClock::at_unix(now)))
        .cache_access(hooks)
        .build()
        .unwrap()
}
