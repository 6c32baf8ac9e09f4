//! End to end against msal-emulator over real HTTP: every public-client
//! flow, the seed scenario with the emulator's counters, FOCI between two
//! apps sharing a cache, and each injectable fault mapped to a typed error
//! or a recovery. The interactive sign-in runs in real headless Chromium
//! (public_emulator_chromium.rs).
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]
#![cfg(feature = "reqwest")]

mod public_support;

use std::sync::Arc;
use std::time::Duration;

use msal::clock::ManualClock;
use msal::error::UiRequiredReason;
use msal::secret::Password;
use msal::{Error, PublicClientApplication, TokenSource};
use msal_emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Endpoint, Fault, InteractionRequired, defaults,
};
use public_support::RecordingHooks;

const SCOPES: &[&str] = &["User.Read"];

async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default()).await.unwrap()
}

fn app_on(
    emu: &EmulatorHandle,
    client_id: &str,
    hooks: Option<Arc<RecordingHooks>>,
) -> PublicClientApplication {
    let mut b = PublicClientApplication::builder(client_id)
        .authority(emu.authority(defaults::TENANT_ID))
        .clock(Arc::new(ManualClock::at_unix(now())));
    if let Some(h) = hooks {
        b = b.cache_access(h);
    }
    b.build().unwrap()
}

use msal_test_support::jwt::unix_now as now;

async fn ropc(
    app: &PublicClientApplication,
    user: &str,
    password: &str,
) -> msal::AuthenticationResult {
    app.acquire_token_by_username_password(SCOPES, user, Password::new(password))
        .await
        .unwrap()
}

#[tokio::test]
async fn username_password_then_silent_from_cache_then_refresh() {
    let emu = emulator().await;
    let app = app_on(&emu, defaults::CLI_APP_ID, None);
    let r = ropc(&app, defaults::USER, defaults::USER_PASSWORD).await;
    let account = r.account().unwrap().clone();
    assert_eq!(account.username(), defaults::USER);
    assert_eq!(
        account.home_account_id(),
        format!("{}.{}", defaults::USER_OBJECT_ID, defaults::TENANT_ID)
    );
    assert_eq!(account.environment(), "127.0.0.1");
    assert_eq!(r.tenant_id(), Some(defaults::TENANT_ID));
    let cached = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(cached.source(), TokenSource::Cache);
    assert_eq!(
        cached.access_token().expose_secret(),
        r.access_token().expose_secret()
    );
    let refreshed = app
        .acquire_token_silent(SCOPES, &account)
        .force_refresh(true)
        .await
        .unwrap();
    assert_eq!(refreshed.source(), TokenSource::IdentityProvider);
    assert_ne!(
        refreshed.access_token().expose_secret(),
        r.access_token().expose_secret()
    );
    let admin = emu.admin();
    assert_eq!(admin.token_requests_with_grant("password"), 1);
    assert_eq!(admin.token_requests_with_grant("refresh_token"), 1);
    assert_eq!(admin.request_count(Endpoint::OpenidConfiguration), 1);
    assert_eq!(admin.request_count(Endpoint::InstanceDiscovery), 1);
}

#[tokio::test]
async fn device_code_approved_by_the_user() {
    let emu = emulator().await;
    let app = app_on(&emu, defaults::CLI_APP_ID, None);
    let admin = emu.admin();
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let s2 = seen.clone();
    let r = app
        .acquire_token_with_device_code(SCOPES, move |info| {
            *s2.lock().unwrap() = info.user_code.clone();
            // The user signs in on another device.
            admin
                .approve_device_code(&info.user_code, defaults::SECOND_USER)
                .unwrap();
        })
        .await
        .unwrap();
    assert_eq!(r.account().unwrap().username(), defaults::SECOND_USER);
    assert_eq!(
        r.account().unwrap().account_source(),
        Some("urn:ietf:params:oauth:grant-type:device_code")
    );
    assert_eq!(seen.lock().unwrap().len(), 9);
    assert_eq!(
        emu.admin()
            .token_requests_with_grant("urn:ietf:params:oauth:grant-type:device_code"),
        1
    );
}

#[tokio::test]
async fn device_code_pending_then_denied() {
    let emu = emulator().await;
    let app = app_on(&emu, defaults::CLI_APP_ID, None);
    let admin = emu.admin();
    let e = app
        .acquire_token_with_device_code(SCOPES, move |info| {
            admin.deny_device_code(&info.user_code).unwrap()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Cancelled(m) if m.contains("declined")),
        "{e:?}"
    );
}

#[tokio::test]
async fn refresh_token_migration_then_silent() {
    let emu = emulator().await;
    // Another library signed Ada in (here: another cache); we only have its refresh token.
    let hooks = Arc::new(RecordingHooks::default());
    let other_doc: serde_json::Value = {
        let h = Arc::new(RecordingHooks::default());
        let o = app_on(&emu, defaults::CLI_APP_ID, Some(h.clone()));
        ropc(&o, defaults::USER, defaults::USER_PASSWORD).await;
        serde_json::from_str(&h.doc_text()).unwrap()
    };
    let rt = other_doc["RefreshToken"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let app = app_on(&emu, defaults::CLI_APP_ID, Some(hooks.clone()));
    let r = app
        .acquire_token_by_refresh_token(SCOPES, msal::secret::RefreshTokenSecret::new(rt))
        .await
        .unwrap();
    let accounts = app.accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].username(), defaults::USER);
    let s = app
        .acquire_token_silent(SCOPES, &accounts[0])
        .await
        .unwrap();
    assert_eq!(s.source(), TokenSource::Cache);
    assert_eq!(
        s.access_token().expose_secret(),
        r.access_token().expose_secret()
    );
}

/// The seed: build the app, accounts(), remove_account() until none is left,
/// then acquire_token_silent is UiRequired; the counters show what went out.
#[tokio::test]
async fn seed_scenario_with_counters() {
    let emu = emulator().await;
    let hooks = Arc::new(RecordingHooks::default());
    let signer = app_on(&emu, defaults::CLI_APP_ID, Some(hooks.clone()));
    ropc(&signer, defaults::USER, defaults::USER_PASSWORD).await;
    ropc(
        &signer,
        defaults::SECOND_USER,
        defaults::SECOND_USER_PASSWORD,
    )
    .await;
    let admin = emu.admin();
    admin.reset_counters();

    // A new app (another process would build the same) on the same cache.
    let app = app_on(&emu, defaults::CLI_APP_ID, Some(hooks.clone()));
    let first = app.accounts().await.unwrap();
    assert_eq!(first.len(), 2, "{first:?}");
    let ada = first
        .iter()
        .find(|a| a.username() == defaults::USER)
        .unwrap()
        .clone();
    let mut removed = Vec::new();
    loop {
        let accounts = app.accounts().await.unwrap();
        let Some(a) = accounts.into_iter().next() else {
            break;
        };
        app.remove_account(&a).await.unwrap();
        removed.push(a.username().to_owned());
        assert!(removed.len() <= 2);
    }
    removed.sort();
    assert_eq!(
        removed,
        vec![defaults::USER.to_owned(), defaults::SECOND_USER.to_owned()]
    );
    let e = app.acquire_token_silent(SCOPES, &ada).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::UiRequired {
                reason: UiRequiredReason::NoTokensFound,
                ..
            }
        ),
        "{e:?}"
    );
    // Listing, removing and the silent call needed nothing from the identity provider:
    // only the instance discovery of the emulator's unknown host (the alias step of
    // the silent call, once per process per host, already made by the sign-in app).
    let counters = admin.counters();
    assert_eq!(
        admin.total_requests(),
        0,
        "requests after the sign-ins: {counters:?}"
    );
    assert!(
        !hooks.doc_text().contains("\"secret\""),
        "no token left in the saved cache"
    );
}

#[tokio::test]
async fn foci_two_apps_of_a_family_share_a_sign_in() {
    let emu = emulator().await;
    let hooks = Arc::new(RecordingHooks::default());
    let cli = app_on(&emu, defaults::CLI_APP_ID, Some(hooks.clone()));
    ropc(&cli, defaults::USER, defaults::USER_PASSWORD).await;
    let family = app_on(&emu, defaults::FAMILY_APP_ID, Some(hooks.clone()));
    let account = family.accounts().await.unwrap().remove(0);
    let r = family.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(r.source(), TokenSource::IdentityProvider);
    let reqs = emu.admin().requests();
    let redeemed = reqs
        .iter()
        .filter(|r| r.grant_type.as_deref() == Some("refresh_token"))
        .count();
    assert_eq!(redeemed, 1);
    // An app outside the family cannot use the family RT: client_mismatch, then no own RT.
    let desktop = app_on(&emu, defaults::DESKTOP_APP_ID, Some(hooks.clone()));
    let e = desktop
        .acquire_token_silent(SCOPES, &account)
        .await
        .unwrap_err();
    assert!(e.is_ui_required(), "{e:?}");
}

#[tokio::test]
async fn admin_driven_failures_are_ui_required() {
    let emu = emulator().await;
    let app = app_on(&emu, defaults::CLI_APP_ID, None);
    let account = ropc(&app, defaults::USER, defaults::USER_PASSWORD)
        .await
        .account()
        .unwrap()
        .clone();
    emu.admin()
        .require_interaction(InteractionRequired::mfa(defaults::USER));
    let e = app
        .acquire_token_silent(SCOPES, &account)
        .force_refresh(true)
        .await
        .unwrap_err();
    match &e {
        Error::UiRequired {
            reason,
            suberror,
            claims,
        } => {
            assert_eq!(*reason, UiRequiredReason::InteractionRequired);
            assert_eq!(suberror.as_deref(), Some("basic_action"));
            assert_eq!(
                claims.as_deref(),
                Some(msal_emulator::DEFAULT_CLAIMS_CHALLENGE)
            );
        }
        other => panic!("{other:?}"),
    }
    emu.admin().clear_interaction_required();
    let app = app_on(&emu, defaults::CLI_APP_ID, None);
    let account = ropc(&app, defaults::SECOND_USER, defaults::SECOND_USER_PASSWORD)
        .await
        .account()
        .unwrap()
        .clone();
    assert!(
        emu.admin()
            .revoke_refresh_tokens(defaults::SECOND_USER)
            .unwrap()
            >= 1
    );
    let e = app
        .acquire_token_silent(SCOPES, &account)
        .force_refresh(true)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::UiRequired {
                reason: UiRequiredReason::InvalidGrant,
                ..
            }
        ),
        "{e:?}"
    );
    let e = app
        .acquire_token_by_username_password(SCOPES, defaults::USER, Password::new("wrong"))
        .await
        .unwrap_err();
    assert!(
        e.is_ui_required() || matches!(e, Error::Service(_)),
        "{e:?}"
    );
}

#[tokio::test]
async fn every_fault_is_a_typed_error_or_a_recovery() {
    let emu = emulator().await;
    let admin = emu.admin();
    let clock = Arc::new(ManualClock::at_unix(now()));
    let app = PublicClientApplication::builder(defaults::CLI_APP_ID)
        .authority(emu.authority(defaults::TENANT_ID))
        .clock(clock.clone())
        .build()
        .unwrap();
    let account = ropc(&app, defaults::USER, defaults::USER_PASSWORD)
        .await
        .account()
        .unwrap()
        .clone();
    let refresh = || {
        app.acquire_token_silent(SCOPES, &account)
            .force_refresh(true)
    };

    // 503 with a short Retry-After: retried once, recovers.
    admin.inject_fault(
        Endpoint::Token,
        Fault::ServiceUnavailable {
            retry_after_secs: Some(1),
        },
        1,
    );
    refresh().await.unwrap();
    // 500 twice: retried once, then a service error.
    admin.inject_fault(Endpoint::Token, Fault::InternalServerError, 2);
    let e = refresh().await.unwrap_err();
    assert!(
        matches!(&e, Error::Service(s) if s.status == Some(500)),
        "{e:?}"
    );
    assert!(e.is_retryable());
    // The same request is then throttled for a minute without reaching the server.
    let before = admin.request_count(Endpoint::Token);
    let e = refresh().await.unwrap_err();
    assert!(
        matches!(e, Error::Throttled { retry_after } if retry_after <= Duration::from_secs(60)),
        "{e:?}"
    );
    assert_eq!(admin.request_count(Endpoint::Token), before);
    clock.advance(Duration::from_secs(61));
    // Malformed JSON on success.
    admin.inject_fault(Endpoint::Token, Fault::MalformedJson, 1);
    let e = refresh().await.unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    refresh().await.unwrap();
    // A body larger than the cap.
    admin.inject_fault(
        Endpoint::Token,
        Fault::LargeBody {
            bytes: 9 * 1024 * 1024,
        },
        1,
    );
    let e = refresh().await.unwrap_err();
    assert!(
        matches!(&e, Error::Transport(t) if t.kind == msal::http::TransportErrorKind::BodyTooLarge),
        "{e:?}"
    );
    // A scripted invalid_grant.
    admin.inject_fault(
        Endpoint::Token,
        Fault::Status {
            status: 400,
            retry_after_secs: None,
            error: Some("invalid_grant".into()),
        },
        1,
    );
    let e = refresh().await.unwrap_err();
    assert!(e.is_ui_required(), "{e:?}");
    // 429 with Retry-After: a service error the caller may retry later, then throttled without a request.
    admin.inject_fault(
        Endpoint::Token,
        Fault::TooManyRequests {
            retry_after_secs: 30,
        },
        1,
    );
    let other_scopes = &["Mail.Read"];
    let e = app
        .acquire_token_silent(other_scopes, &account)
        .await
        .unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)), "{e:?}");
    let before = admin.request_count(Endpoint::Token);
    let e = app
        .acquire_token_silent(other_scopes, &account)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Throttled { .. }), "{e:?}");
    assert_eq!(
        admin.request_count(Endpoint::Token),
        before,
        "throttled calls send nothing"
    );
    // Metadata faults surface on the first request of a new authority.
    let fresh = PublicClientApplication::builder(defaults::CLI_APP_ID)
        .authority(emu.authority(defaults::SECOND_TENANT_ID))
        .build()
        .unwrap();
    admin.inject_fault(Endpoint::OpenidConfiguration, Fault::MalformedJson, 1);
    let e = fresh
        .acquire_token_by_username_password(
            SCOPES,
            defaults::FABRIKAM_USER,
            Password::new(defaults::FABRIKAM_USER_PASSWORD),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    // ... and the next call recovers (failures are not remembered).
    fresh
        .acquire_token_by_username_password(
            SCOPES,
            defaults::FABRIKAM_USER,
            Password::new(defaults::FABRIKAM_USER_PASSWORD),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_slow_identity_provider_is_a_timeout() {
    let emu = emulator().await;
    let http = msal::transport::ReqwestHttpClient::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let app = PublicClientApplication::builder(defaults::CLI_APP_ID)
        .authority(emu.authority(defaults::TENANT_ID))
        .http_client(Arc::new(http))
        .build()
        .unwrap();
    emu.admin()
        .inject_fault(Endpoint::Token, Fault::Delay { millis: 1500 }, 2);
    let e = app
        .acquire_token_by_username_password(
            SCOPES,
            defaults::USER,
            Password::new(defaults::USER_PASSWORD),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Transport(t) if t.kind == msal::http::TransportErrorKind::Timeout),
        "{e:?}"
    );
}

#[tokio::test]
async fn aliases_a_token_stored_via_localhost_is_found_via_127_0_0_1() {
    let emu = emulator().await;
    let hooks = Arc::new(RecordingHooks::default());
    let via_alias = PublicClientApplication::builder(defaults::CLI_APP_ID)
        .authority(emu.alias_authority(defaults::TENANT_ID))
        .cache_access(hooks.clone())
        .build()
        .unwrap();
    let r = ropc(&via_alias, defaults::USER, defaults::USER_PASSWORD).await;
    assert_eq!(r.account().unwrap().environment(), "localhost");
    let app = app_on(&emu, defaults::CLI_APP_ID, Some(hooks.clone()));
    let accounts = app.accounts().await.unwrap();
    assert_eq!(
        accounts.len(),
        1,
        "an alias's accounts are listed once discovery knows the alias"
    );
    let s = app
        .acquire_token_silent(SCOPES, &accounts[0])
        .await
        .unwrap();
    assert_eq!(s.source(), TokenSource::Cache);
}

/// Every token the emulator issued in a session (access, refresh, ID) is
/// absent from the TRACE log (reqwest's and hyper's included) and from Debug.
#[tokio::test]
async fn no_issued_token_in_trace_logs_or_debug_output() {
    let logs = msal_test_support::LogCapture::new();
    let _guard = logs.set_default();
    let emu = emulator().await;
    let hooks = Arc::new(RecordingHooks::default());
    let app = app_on(&emu, defaults::CLI_APP_ID, Some(hooks.clone()));
    let mut debug = String::new();
    let mut tokens = Vec::new();
    let first = ropc(&app, defaults::USER, defaults::USER_PASSWORD).await;
    let account = first.account().unwrap().clone();
    let second = app
        .acquire_token_silent(SCOPES, &account)
        .force_refresh(true)
        .await
        .unwrap();
    let admin = emu.admin();
    let third = app
        .acquire_token_with_device_code(SCOPES, move |i| {
            admin
                .approve_device_code(&i.user_code, defaults::USER)
                .unwrap();
        })
        .await
        .unwrap();
    for r in [&first, &second, &third] {
        debug.push_str(&format!("{r:?}"));
        tokens.push(r.access_token().expose_secret().to_owned());
        tokens.push(r.id_token().unwrap().expose_secret().to_owned());
    }
    let doc: serde_json::Value = serde_json::from_str(&hooks.doc_text()).unwrap();
    for section in ["AccessToken", "RefreshToken", "IdToken"] {
        for e in doc[section].as_object().unwrap().values() {
            tokens.push(e["secret"].as_str().unwrap().to_owned());
        }
    }
    tokens.push(defaults::USER_PASSWORD.to_owned());
    debug.push_str(&format!("{app:?}{:?}", app.accounts().await.unwrap()));
    let log = logs.contents();
    assert!(log.contains("http response"), "the capture works");
    assert!(tokens.len() >= 9);
    for t in &tokens {
        assert!(t.len() > 8);
        assert!(!log.contains(t.as_str()), "a token is in the log");
        assert!(!debug.contains(t.as_str()), "a token is in Debug output");
        // JWTs: not even their signature or payload parts.
        for part in t.split('.').filter(|p| p.len() > 16) {
            assert!(!log.contains(part), "part of a token is in the log");
        }
    }
}

/// The emulator as a generic OpenID Connect provider (by its issuer URL):
/// sign-in, silent from the cache, refresh, and sign-out, with the realm and
/// environment taken from the issuer; an issuer that is not the one in the
/// discovery document is refused before any token request.
#[tokio::test]
async fn a_generic_oidc_issuer_signs_in_silently_refreshes_and_signs_out() {
    let emu = emulator().await;
    let issuer = format!("{}/{}/v2.0", emu.base_url(), defaults::TENANT_ID);
    let clock = Arc::new(ManualClock::at_unix(now()));
    let app = PublicClientApplication::builder(defaults::CLI_APP_ID)
        .oidc_authority(&format!("{issuer}/"))
        .clock(clock.clone())
        .build()
        .unwrap();
    let r = ropc(&app, defaults::USER, defaults::USER_PASSWORD).await;
    let account = r.account().unwrap().clone();
    assert_eq!(account.username(), defaults::USER);
    let before = emu.admin().request_count(Endpoint::Token);
    let cached = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(cached.source(), TokenSource::Cache);
    assert_eq!(emu.admin().request_count(Endpoint::Token), before);
    clock.advance(Duration::from_secs(2 * 3600));
    let refreshed = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(refreshed.source(), TokenSource::IdentityProvider);
    app.remove_account(&account).await.unwrap();
    assert!(app.accounts().await.unwrap().is_empty());

    // Another issuer on the same server: its document names the real one.
    let wrong = format!(
        "{}/{}/v2.0",
        emu.base_url(),
        defaults::TENANT_ID.to_uppercase()
    );
    let before = emu.admin().request_count(Endpoint::Token);
    let app = PublicClientApplication::builder(defaults::CLI_APP_ID)
        .oidc_authority(&wrong)
        .build()
        .unwrap();
    let e = app
        .acquire_token_by_username_password(
            SCOPES,
            defaults::USER,
            Password::new(defaults::USER_PASSWORD),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Protocol(p) if p.message.contains("another issuer")),
        "{e:?}"
    );
    assert_eq!(emu.admin().request_count(Endpoint::Token), before);
}
