//! A confidential client on a cache store, with a scripted identity
//! provider: what the storage backends' tests share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use msal::ConfidentialClientApplication;
use msal::clock::ManualClock;
use msal::credentials::ClientCredential;
use msal::secret::ClientSecret;
use msal::storage::{CacheStore, StoreAccess};

use crate::{Expect, FakeHttp, Reply};

/// The client id of [`confidential_app`].
pub const CLIENT_ID: &str = "00000000-0000-0000-0000-0000000ca5e5";
/// The identity provider's origin.
pub const HOST: &str = "https://login.microsoftonline.com";
/// An app-token scope.
pub const GRAPH: &str = "https://graph.microsoft.com/.default";

/// A tenant id no other test uses (authority metadata is cached
/// process-wide, and parallel test processes share stores).
pub fn unique_tenant() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mixed = (u64::from(std::process::id()) << 32 | u64::from(nanos)) ^ (n << 20);
    format!("7e4a0000-0000-4000-8000-{:012x}", mixed & 0xffff_ffff_ffff)
}

/// Queues the two requests of a first client-credentials call for `tenant`:
/// its metadata, then a token request answered with `access_token`, valid
/// for an hour.
pub fn expect_client_credentials(idp: &FakeHttp, tenant: &str, access_token: &str) {
    idp.expect(
        Expect::get(&format!("{HOST}/{tenant}/v2.0/.well-known/openid-configuration")),
        Reply::json(
            200,
            &format!(
                r#"{{"issuer":"{HOST}/{tenant}/v2.0","authorization_endpoint":"{HOST}/{tenant}/oauth2/v2.0/authorize","token_endpoint":"{HOST}/{tenant}/oauth2/v2.0/token"}}"#
            ),
        ),
    );
    expect_token(idp, tenant, access_token);
}

/// Queues one client-credentials token request for `tenant`.
pub fn expect_token(idp: &FakeHttp, tenant: &str, access_token: &str) {
    idp.expect(
        Expect::post(&format!("{HOST}/{tenant}/oauth2/v2.0/token"))
            .form("grant_type", "client_credentials"),
        Reply::json(
            200,
            &format!(
                r#"{{"token_type":"Bearer","expires_in":3600,"ext_expires_in":3600,"access_token":"{access_token}"}}"#
            ),
        ),
    );
}

/// A confidential client of `tenant` whose token cache is `store`.
///
/// # Panics
/// If the app cannot be built (a test setup error).
pub fn confidential_app<S: CacheStore>(
    store: S,
    idp: &Arc<FakeHttp>,
    clock: &Arc<ManualClock>,
    tenant: &str,
) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(
        CLIENT_ID,
        ClientCredential::secret(ClientSecret::new("the-client-secret")),
    )
    .authority(format!("{HOST}/{tenant}"))
    .http_client(idp.clone())
    .clock(clock.clone())
    .cache_access(Arc::new(StoreAccess::new(store)))
    .build()
    .expect("a valid confidential client")
}

/// The redirect URI of [`sign_in_user`].
pub const REDIRECT_URI: &str = "https://app.example/callback";

/// A user-token response for `uid` in `tenant`: access token, refresh
/// token, an unsigned ID token for [`CLIENT_ID`] and `client_info`, valid
/// for an hour.
pub fn user_token_json(access_token: &str, refresh_token: &str, uid: &str, tenant: &str) -> String {
    let id_token = crate::jwt::unsigned_jwt(&serde_json::json!({
        "aud": CLIENT_ID,
        "iss": format!("{HOST}/{tenant}/v2.0"),
        "tid": tenant,
        "oid": uid,
        "sub": format!("sub-{uid}"),
        "preferred_username": format!("{uid}@contoso.example"),
        "name": "A User",
    }));
    serde_json::json!({
        "token_type": "Bearer",
        "scope": "User.Read openid profile offline_access",
        "expires_in": 3600,
        "ext_expires_in": 3600,
        "access_token": access_token,
        "refresh_token": refresh_token,
        "id_token": id_token,
        "client_info": crate::jwt::client_info(uid, tenant),
    })
    .to_string()
}

/// Signs user `uid` in to `app` (a web app redeeming an authorization code
/// on [`REDIRECT_URI`]), the identity provider answering with
/// `access_token` for `User.Read`; expects the tenant's metadata first
/// when `first_call`. Returns the account, whose partition
/// (`home_account_id` = `<uid>.<tenant>`) now holds the tokens.
///
/// # Panics
/// If the sign-in fails (a test setup error).
pub async fn sign_in_user(
    app: &ConfidentialClientApplication,
    idp: &FakeHttp,
    tenant: &str,
    uid: &str,
    access_token: &str,
    first_call: bool,
) -> msal::Account {
    if first_call {
        idp.expect(
            Expect::get(&format!("{HOST}/{tenant}/v2.0/.well-known/openid-configuration")),
            Reply::json(
                200,
                &format!(
                    r#"{{"issuer":"{HOST}/{tenant}/v2.0","authorization_endpoint":"{HOST}/{tenant}/oauth2/v2.0/authorize","token_endpoint":"{HOST}/{tenant}/oauth2/v2.0/token"}}"#
                ),
            ),
        );
    }
    idp.expect(
        Expect::post(&format!("{HOST}/{tenant}/oauth2/v2.0/token"))
            .form("grant_type", "authorization_code"),
        Reply::json(
            200,
            &user_token_json(access_token, &format!("rt-of-{uid}"), uid, tenant),
        ),
    );
    let result = app
        .acquire_token_by_authorization_code(
            &["User.Read"],
            msal::secret::AuthorizationCode::new("the-code"),
            REDIRECT_URI,
        )
        .await
        .expect("the scripted sign-in succeeds");
    result
        .account()
        .cloned()
        .expect("a user token has an account")
}

/// An identity provider for any number of tenants and any concurrency:
/// answers every tenant's metadata and client-credentials token requests
/// (an access token `at-<tenant>-<n>`, valid for an hour), and counts the
/// token requests. For load and failover tests; [`FakeHttp`] scripts exact
/// exchanges.
#[derive(Debug, Default)]
pub struct AnyTenantIdp {
    tokens: AtomicU64,
}

impl AnyTenantIdp {
    /// A new one, shared.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Token requests answered so far.
    pub fn token_requests(&self) -> u64 {
        self.tokens.load(Ordering::Relaxed)
    }
}

impl msal::http::HttpClient for AnyTenantIdp {
    fn execute(
        &self,
        request: msal::http::HttpRequest,
    ) -> msal::http::BoxFuture<'_, Result<msal::http::HttpResponse, msal::http::TransportError>>
    {
        let path = request.uri().path().to_owned();
        let tenant = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned();
        let body = if path.ends_with("/openid-configuration") {
            format!(
                r#"{{"issuer":"{HOST}/{tenant}/v2.0","authorization_endpoint":"{HOST}/{tenant}/oauth2/v2.0/authorize","token_endpoint":"{HOST}/{tenant}/oauth2/v2.0/token"}}"#
            )
        } else {
            let n = self.tokens.fetch_add(1, Ordering::Relaxed);
            format!(
                r#"{{"token_type":"Bearer","expires_in":3600,"ext_expires_in":3600,"access_token":"at-{tenant}-{n}"}}"#
            )
        };
        let response = http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .map_err(|e| {
                msal::http::TransportError::new(
                    msal::http::TransportErrorKind::Other,
                    e.to_string(),
                )
            });
        Box::pin(async move { response })
    }
}

/// A confidential client of tenant `tenant` whose token cache is `store`
/// and whose identity provider is `idp` (any HTTP client); request other
/// tenants with `.tenant(..)`.
///
/// # Panics
/// If the app cannot be built (a test setup error).
pub fn confidential_app_with<S: CacheStore>(
    store: S,
    idp: Arc<dyn msal::http::HttpClient>,
    clock: &Arc<ManualClock>,
    tenant: &str,
) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(
        CLIENT_ID,
        ClientCredential::secret(ClientSecret::new("the-client-secret")),
    )
    .authority(format!("{HOST}/{tenant}"))
    .http_client(idp)
    .clock(clock.clone())
    .cache_access(Arc::new(StoreAccess::new(store)))
    .build()
    .expect("a valid confidential client")
}
