//! Isolation, as a property: over random sequences of app-token, OBO,
//! auth-code, silent and remove calls for many users, tenants and
//! assertions (two app instances sharing one store, the clock moving so
//! tokens expire and refresh tokens are redeemed), no call ever returns a
//! token minted for another user, tenant, assertion or scope.
//!
//! The identity provider fake writes whom each token is for into the token
//! itself (`app|<tenant>|<scope>|n`, `obo|<assertion>|<scope>|n`,
//! `user|<uid>|<scope>|n`) and remembers whom each refresh token belongs
//! to, so a wrongly chosen cache entry or refresh token shows in the result.

mod confidential_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use confidential_support::*;
use msal::clock::ManualClock;
use msal::credentials::ClientCredential;
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError};
use msal::secret::{Assertion, AuthorizationCode, ClientSecret};
use msal::storage::{MemoryStore, StoreAccess};
use msal::{Account, ConfidentialClientApplication, Error};
use proptest::prelude::*;

const USERS: usize = 4;
const TENANTS: usize = 4;
const SCOPES: usize = 3;

/// Tenants of this process; user `u` lives in tenant `u % TENANTS`; the app's own is `[0]`.
static TENANT_IDS: LazyLock<Vec<String>> =
    LazyLock::new(|| (0..TENANTS).map(|_| unique_tenant()).collect());

fn uid(u: usize) -> String {
    format!("00000000-0000-4000-8000-0000000000{u:02x}")
}

fn home_of(u: usize) -> &'static str {
    &TENANT_IDS[u % TENANTS]
}

fn assertion_text(u: usize, k: usize) -> String {
    format!("asrt.{u}.{k}")
}

fn user_scope(j: usize) -> String {
    format!("api://r{j}/read")
}

fn app_scope(j: usize) -> String {
    format!("api://r{j}/.default")
}

/// The identity provider: mints tokens naming their owner.
#[derive(Default)]
struct Mint {
    n: AtomicUsize,
    /// refresh token -> owner (`obo|<assertion>` or `user|<uid>`).
    rts: Mutex<HashMap<String, String>>,
}

fn form_of(req: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.body())
        .into_owned()
        .collect()
}

impl Mint {
    fn user_response(&self, owner: &str, u: usize, scope: &str) -> String {
        let n = self.n.fetch_add(1, Ordering::SeqCst);
        let rt = format!("rt|{owner}|{n}");
        self.rts
            .lock()
            .unwrap()
            .insert(rt.clone(), owner.to_owned());
        serde_json::json!({
            "token_type": "Bearer",
            "scope": format!("{scope} openid profile"),
            "expires_in": 3600,
            "access_token": format!("{owner}|{scope}|{n}"),
            "refresh_token": rt,
            "id_token": id_token(&uid(u), &TENANT_IDS[0], None),
            "client_info": client_info(&uid(u), home_of(u)),
        })
        .to_string()
    }

    fn respond(&self, req: &HttpRequest) -> (u16, String) {
        let path = req.uri().path().to_owned();
        let tenant = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned();
        if path.ends_with("/openid-configuration") {
            return (200, metadata_json(&tenant));
        }
        let f = form_of(req);
        if f.get("client_secret").map(String::as_str) != Some(SECRET) {
            return (401, r#"{"error":"invalid_client"}"#.into());
        }
        let scope = f.get("scope").cloned().unwrap_or_default();
        let resource: String = scope
            .split(' ')
            .find(|s| !["openid", "profile", "offline_access"].contains(s))
            .unwrap_or("")
            .to_owned();
        let user_of_owner = |owner: &str| -> usize {
            // `obo|asrt.<u>.<k>` or `user|<uid>`
            let tail = owner.split('|').nth(1).unwrap_or("");
            match tail.strip_prefix("asrt.") {
                Some(rest) => rest.split('.').next().unwrap().parse().unwrap(),
                None => (0..USERS).find(|&u| uid(u) == tail).unwrap(),
            }
        };
        match f.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {
                let n = self.n.fetch_add(1, Ordering::SeqCst);
                (
                    200,
                    app_token_json(&format!("app|{tenant}|{scope}|{n}"), 3600),
                )
            }
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                let a = f.get("assertion").cloned().unwrap_or_default();
                let owner = format!("obo|{a}");
                (
                    200,
                    self.user_response(&owner, user_of_owner(&owner), &resource),
                )
            }
            Some("authorization_code") => {
                let u: usize = f["code"].trim_start_matches("code.").parse().unwrap();
                let owner = format!("user|{}", uid(u));
                (200, self.user_response(&owner, u, &resource))
            }
            Some("refresh_token") => {
                let owner = self.rts.lock().unwrap().get(&f["refresh_token"]).cloned();
                match owner {
                    Some(owner) => (
                        200,
                        self.user_response(&owner, user_of_owner(&owner), &resource),
                    ),
                    None => (400, r#"{"error":"invalid_grant"}"#.into()),
                }
            }
            _ => (400, r#"{"error":"unsupported_grant_type"}"#.into()),
        }
    }
}

impl HttpClient for Mint {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let (status, body) = self.respond(&request);
        Box::pin(std::future::ready(Ok(http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .unwrap())))
    }
}

#[derive(Debug, Clone)]
enum Op {
    AppToken {
        app: usize,
        tenant: usize,
        scope: usize,
        force: bool,
    },
    Obo {
        app: usize,
        user: usize,
        k: usize,
        scope: usize,
    },
    SignIn {
        app: usize,
        user: usize,
        scope: usize,
    },
    Silent {
        app: usize,
        user: usize,
        scope: usize,
    },
    Remove {
        app: usize,
        user: usize,
    },
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 0..TENANTS, 0..SCOPES, any::<bool>()).prop_map(
            |(app, tenant, scope, force)| Op::AppToken {
                app,
                tenant,
                scope,
                force
            }
        ),
        (0..2usize, 0..USERS, 0..3usize, 0..SCOPES).prop_map(|(app, user, k, scope)| Op::Obo {
            app,
            user,
            k,
            scope
        }),
        (0..2usize, 0..USERS, 0..SCOPES).prop_map(|(app, user, scope)| Op::SignIn {
            app,
            user,
            scope
        }),
        (0..2usize, 0..USERS, 0..SCOPES).prop_map(|(app, user, scope)| Op::Silent {
            app,
            user,
            scope
        }),
        (0..2usize, 0..USERS).prop_map(|(app, user)| Op::Remove { app, user }),
        (0..4000u64).prop_map(Op::Advance),
    ]
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let mint = Arc::new(Mint::default());
    let hooks = Arc::new(StoreAccess::new(
        MemoryStore::builder().clock(clock.clone()).build(),
    ));
    let apps: Vec<ConfidentialClientApplication> = (0..2)
        .map(|_| {
            ConfidentialClientApplication::builder(
                CLIENT_ID,
                ClientCredential::secret(ClientSecret::new(SECRET)),
            )
            .authority(format!("{HOST}/{}", TENANT_IDS[0]))
            .http_client(mint.clone())
            .clock(clock.clone())
            .cache_access(hooks.clone())
            .build()
            .unwrap()
        })
        .collect();
    let mut signed_in: HashMap<usize, Account> = HashMap::new();
    for op in ops {
        match op {
            Op::AppToken {
                app,
                tenant,
                scope,
                force,
            } => {
                let r = apps[app]
                    .acquire_token_for_client(&[app_scope(scope)])
                    .tenant(TENANT_IDS[tenant].as_str())
                    .force_refresh(force)
                    .await
                    .unwrap();
                let want = format!("app|{}|{}|", TENANT_IDS[tenant], app_scope(scope));
                prop_assert!(
                    r.access_token().expose_secret().starts_with(&want),
                    "{op:?}: {}",
                    r.access_token().expose_secret()
                );
            }
            Op::Obo {
                app,
                user,
                k,
                scope,
            } => {
                let a = assertion_text(user, k);
                let r = apps[app]
                    .acquire_token_on_behalf_of(&[user_scope(scope)], Assertion::new(a.clone()))
                    .await
                    .unwrap();
                let want = format!("obo|{a}|{}|", user_scope(scope));
                prop_assert!(
                    r.access_token().expose_secret().starts_with(&want),
                    "{op:?}: {}",
                    r.access_token().expose_secret()
                );
                let hai = format!("{}.{}", uid(user), home_of(user));
                prop_assert_eq!(
                    r.account().map(|x| x.home_account_id().to_owned()),
                    Some(hai)
                );
            }
            Op::SignIn { app, user, scope } => {
                let r = apps[app]
                    .acquire_token_by_authorization_code(
                        &[user_scope(scope)],
                        AuthorizationCode::new(format!("code.{user}")),
                        "https://app.example/cb",
                    )
                    .await
                    .unwrap();
                let want = format!("user|{}|{}|", uid(user), user_scope(scope));
                prop_assert!(r.access_token().expose_secret().starts_with(&want));
                signed_in.insert(user, r.account().unwrap().clone());
            }
            Op::Silent { app, user, scope } => {
                let Some(account) = signed_in.get(&user) else {
                    continue;
                };
                match apps[app]
                    .acquire_token_silent(&[user_scope(scope)], account)
                    .await
                {
                    Ok(r) => {
                        let t = r.access_token().expose_secret();
                        let want = format!("user|{}|{}|", uid(user), user_scope(scope));
                        prop_assert!(t.starts_with(&want), "{op:?}: {t}");
                        prop_assert_eq!(
                            &r.account().unwrap().home_account_id(),
                            &account.home_account_id()
                        );
                    }
                    Err(e) => prop_assert!(matches!(e, Error::UiRequired { .. }), "{op:?}: {e:?}"),
                }
            }
            Op::Remove { app, user } => {
                if let Some(account) = signed_in.remove(&user) {
                    apps[app].remove_account(&account).await.unwrap();
                    let after = apps[1 - app]
                        .acquire_token_silent(&[user_scope(0)], &account)
                        .await;
                    prop_assert!(matches!(after, Err(Error::UiRequired { .. })), "{after:?}");
                }
            }
            Op::Advance(s) => clock.advance(Duration::from_secs(s)),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_call_returns_a_token_of_another_user_tenant_assertion_or_scope(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(ops))?;
    }
}
