//! Secrets are types: every token, secret, assertion, password, code and
//! PKCE verifier type redacts itself in `Debug` and has neither `Display`
//! nor `Serialize` (so `format!("{}")`, `to_string()` and serde cannot leak
//! it); one-shot values are not `Clone`. Every public value that holds one
//! redacts it in its own `Debug` too.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]

use std::fmt::Display;
use std::marker::PhantomData;

use msal::cache::{AccessTokenQuery, TokenCache, TokenResponse, TokenResponseRecord};
use msal::credentials::{Certificate, ClientCredential};
use msal::secret::*;

/// Compile-time trait probes: an inherent constant exists only when the
/// bound holds, otherwise the blanket trait's `false` is found.
struct Probe<T>(PhantomData<T>);
trait NotDisplay {
    const DISPLAY: bool = false;
}
impl<T> NotDisplay for Probe<T> {}
impl<T: Display> Probe<T> {
    const DISPLAY: bool = true;
}
trait NotSerialize {
    const SERIALIZE: bool = false;
}
impl<T> NotSerialize for Probe<T> {}
impl<T: serde::Serialize> Probe<T> {
    const SERIALIZE: bool = true;
}
trait NotClone {
    const CLONE: bool = false;
}
impl<T> NotClone for Probe<T> {}
impl<T: Clone> Probe<T> {
    const CLONE: bool = true;
}
trait NotPartialEq {
    const EQ: bool = false;
}
impl<T> NotPartialEq for Probe<T> {}
impl<T: PartialEq> Probe<T> {
    const EQ: bool = true;
}

/// (name, Display?, Serialize?, Clone?, PartialEq?, Debug of a value holding "s3cr3t-value").
macro_rules! facts {
    ($($t:ident),*) => {
        vec![$((
            stringify!($t),
            Probe::<$t>::DISPLAY,
            Probe::<$t>::SERIALIZE,
            Probe::<$t>::CLONE,
            Probe::<$t>::EQ,
            format!("{:?}", $t::new("s3cr3t-value")),
        )),*]
    };
}

const MARK: &str = "s3cr3t";

fn assert_redacted(what: &str, shown: &str) {
    assert!(!shown.contains(MARK), "{what} shows a secret: {shown}");
}

#[test]
fn the_probes_tell_apart() {
    // The probes themselves: String is all four, a fn pointer none of Display/Serialize.
    const { assert!(Probe::<String>::DISPLAY && Probe::<String>::SERIALIZE) };
    const { assert!(Probe::<String>::CLONE && Probe::<String>::EQ) };
    const { assert!(!Probe::<fn()>::DISPLAY && !Probe::<fn()>::SERIALIZE) };
}

#[test]
fn secret_types_redact_and_cannot_be_displayed_or_serialized() {
    let all = facts!(
        AccessTokenSecret,
        RefreshTokenSecret,
        IdTokenSecret,
        ClientSecret,
        Assertion,
        Password,
        PkceVerifier,
        AuthorizationCode,
        DeviceCodeSecret
    );
    assert_eq!(all.len(), 9);
    for (name, display, serialize, clone, eq, debug) in all {
        assert!(!display, "{name} implements Display");
        assert!(!serialize, "{name} implements Serialize");
        assert!(!eq, "{name} has a (timing-unsafe) PartialEq; use ct_eq");
        assert_redacted(name, &debug);
        assert_eq!(debug, format!("{name}(<redacted>)"));
        let one_shot = matches!(
            name,
            "PkceVerifier" | "AuthorizationCode" | "DeviceCodeSecret"
        );
        assert_eq!(clone, !one_shot, "{name}: Clone");
    }
}

fn response() -> TokenResponse {
    TokenResponse {
        access_token: Some(AccessTokenSecret::new("s3cr3t-at")),
        refresh_token: Some(RefreshTokenSecret::new("s3cr3t-rt")),
        id_token: Some(IdTokenSecret::new(format!(
            "eyJhbGciOiJub25lIn0.{}.s3cr3t-sig",
            base64_url(r#"{"aud":"c","sub":"s","tid":"t","oid":"o"}"#)
        ))),
        expires_in: Some(3600),
        client_info: Some(base64_url(r#"{"uid":"u","utid":"t"}"#)),
        ..TokenResponse::default()
    }
}

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn values_holding_secrets_redact_them_in_debug() {
    let mut shown = Vec::<(&str, String)>::new();
    let resp = response();
    shown.push(("TokenResponse", format!("{resp:?}")));

    let mut cache = TokenCache::new();
    let scopes = vec!["User.Read".to_owned()];
    cache
        .add(&TokenResponseRecord {
            client_id: "c",
            environment: "login.microsoftonline.com",
            realm: "t",
            authority_type: msal::cache::AuthorityType::Mssts,
            requested_scopes: &scopes,
            response: &resp,
            account_source: Some("password"),
            username_hint: None,
            user_assertion_hash: None,
            refresh_token_to_rotate: None,
            now: 1_700_000_000,
        })
        .unwrap();
    let at = cache
        .find_access_token(
            &AccessTokenQuery {
                client_id: "c",
                home_account_id: Some("u.t"),
                environments: &["login.microsoftonline.com"],
                realms: &["t"],
                scopes: &["User.Read"],
                ..AccessTokenQuery::default()
            },
            1_700_000_001,
        )
        .expect("the stored access token");
    assert_eq!(at.secret.expose_secret(), "s3cr3t-at");
    shown.push(("CachedAccessToken", format!("{at:?}")));
    let rts = cache.find_refresh_tokens(&msal::cache::RefreshTokenQuery {
        home_account_id: "u.t",
        environments: &["login.microsoftonline.com"],
        ..Default::default()
    });
    assert_eq!(rts.len(), 1);
    shown.push(("CachedRefreshToken", format!("{rts:?}")));
    let idt = cache
        .find_id_token("u.t", &["login.microsoftonline.com"], "c", None)
        .expect("the stored ID token");
    shown.push(("CachedIdToken", format!("{idt:?}")));
    shown.push(("TokenCache", format!("{cache:?}")));

    let device = msal::protocol::device_code::parse(
        &http::Response::builder()
            .status(200)
            .body(
                br#"{"device_code":"s3cr3t-dc","user_code":"U","verification_uri":"https://v","expires_in":900}"#
                    .to_vec(),
            )
            .unwrap(),
        std::time::SystemTime::now(),
    )
    .unwrap();
    shown.push(("DeviceAuthorization", format!("{device:?}")));

    let parsed = msal::managed_identity::parse_token_response(
        br#"{"access_token":"s3cr3t-mi","expires_in":3600}"#,
        1_700_000_000,
    )
    .unwrap();
    shown.push(("ParsedToken", format!("{parsed:?}")));

    match msal::protocol::authorize::parse_redirect("code=s3cr3t-code&state=st") {
        r @ msal::protocol::authorize::Redirect::Code { .. } => {
            shown.push(("Redirect", format!("{r:?}")));
        }
        other => panic!("{other:?}"),
    }

    let mut form = msal::protocol::token::TokenForm::grant("password", "c", "s");
    form.set("password", "s3cr3t-pw")
        .set("client_secret", "s3cr3t-cs")
        .set("client_assertion", "s3cr3t-as")
        .set("code_verifier", "s3cr3t-pkce");
    shown.push(("TokenForm", format!("{form:?}")));

    let pkce = msal::pkce::Pkce::new();
    let verifier = pkce.verifier.expose_secret().to_owned();
    let pkce_shown = format!("{pkce:?}");
    assert!(!pkce_shown.contains(&verifier), "Pkce shows its verifier");

    shown.push((
        "ClientCredential::secret",
        format!(
            "{:?}",
            ClientCredential::secret(ClientSecret::new("s3cr3t-cs"))
        ),
    ));
    shown.push((
        "ClientCredential::assertion",
        format!(
            "{:?}",
            ClientCredential::assertion(Assertion::new("s3cr3t-as"))
        ),
    ));
    let key = include_str!("fixtures/confidential/app.key");
    let cert = Certificate::from_pem(key, include_str!("fixtures/confidential/app.pem")).unwrap();
    let cert_shown = format!("{:?}", ClientCredential::certificate(cert));
    for line in key.lines().filter(|l| l.len() > 20) {
        assert!(!cert_shown.contains(line), "the certificate's key is shown");
    }

    let builder = msal::ConfidentialClientApplication::builder(
        "11111111-2222-4333-8444-555555555555",
        ClientCredential::secret(ClientSecret::new("s3cr3t-cs")),
    );
    shown.push((
        "ConfidentialClientApplicationBuilder",
        format!("{builder:?}"),
    ));
    let app = builder
        .authority("https://login.microsoftonline.com/contoso.onmicrosoft.com")
        .build()
        .unwrap();
    shown.push(("ConfidentialClientApplication", format!("{app:?}")));
    shown.push((
        "OnBehalfOfRequest",
        format!(
            "{:?}",
            app.acquire_token_on_behalf_of(&["User.Read"], Assertion::new("s3cr3t-user-assertion"))
        ),
    ));
    shown.push((
        "AuthorizationCodeRequest",
        format!(
            "{:?}",
            app.acquire_token_by_authorization_code(
                &["User.Read"],
                AuthorizationCode::new("s3cr3t-code"),
                "http://localhost/cb"
            )
            .pkce_verifier(PkceVerifier::new("s3cr3t-pkce"))
        ),
    ));

    let public = msal::PublicClientApplication::builder("11111111-2222-4333-8444-555555555555")
        .build()
        .unwrap();
    shown.push((
        "UsernamePasswordRequest",
        format!(
            "{:?}",
            public.acquire_token_by_username_password(
                &["User.Read"],
                "user@example.com",
                Password::new("s3cr3t-pw")
            )
        ),
    ));
    shown.push((
        "RefreshTokenRequest",
        format!(
            "{:?}",
            public.acquire_token_by_refresh_token(
                &["User.Read"],
                RefreshTokenSecret::new("s3cr3t-rt")
            )
        ),
    ));

    let proxy =
        msal::transport::ProxyConfig::Url("http://alice:s3cr3t-proxy@proxy.corp:3128".into());
    shown.push(("ProxyConfig", format!("{proxy:?}")));
    shown.push((
        "ReqwestHttpClientBuilder",
        format!(
            "{:?}",
            msal::transport::ReqwestHttpClient::builder().proxy(proxy)
        ),
    ));

    let mi_env = msal::managed_identity::Environment::from_vars([
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token"),
        ("IDENTITY_HEADER", "s3cr3t-identity-header"),
    ]);
    shown.push(("Environment", format!("{mi_env:?}")));
    let mi = msal::managed_identity::ManagedIdentityApplication::builder(
        msal::managed_identity::ManagedIdentity::SystemAssigned,
    )
    .environment(mi_env);
    shown.push(("ManagedIdentityApplicationBuilder", format!("{mi:?}")));
    shown.push((
        "ManagedIdentityApplication",
        format!("{:?}", mi.build().unwrap()),
    ));

    for (what, s) in &shown {
        assert_redacted(what, s);
    }
    // Errors of a bad cache document name the place, not the content.
    let e = TokenCache::deserialize(br#"{"AccessToken": {"k": {"secret": "s3cr3t-x"}}, oops}"#)
        .unwrap_err();
    assert_redacted("CacheFormatError", &format!("{e} {e:?}"));
}
