//! Authority resolution against FakeHttp: metadata once per process (and
//! single-flight), instance discovery for unknown hosts only, failures not
//! remembered, the realm and alias lists the cache is searched with.

mod public_support;

use std::sync::Arc;

use msal::Error;
use msal::authority::{Authority, AuthorityResolver};
use msal::clock::ManualClock;
use msal::transport::Transport;
use msal_test_support::{Expect, FakeHttp, Reply};
use public_support::*;

fn resolver(http: &Arc<FakeHttp>, authority: &str, discovery: bool) -> AuthorityResolver {
    let transport = Transport::new(http.clone(), Arc::new(ManualClock::at_unix(NOW)));
    AuthorityResolver::new(Authority::parse(authority).unwrap(), discovery, transport)
}

#[tokio::test]
async fn metadata_is_fetched_once_per_process_and_shared_by_concurrent_callers() {
    let http = FakeHttp::new();
    let tenant = unique_tenant();
    expect_metadata(&http, &tenant);
    let a = resolver(&http, &format!("{HOST}/{tenant}"), true);
    let b = resolver(&http, &format!("{HOST}/{}", tenant.to_uppercase()), true);
    let (x, y, z) = tokio::join!(a.metadata(), a.metadata(), b.metadata());
    let (x, y, z) = (x.unwrap(), y.unwrap(), z.unwrap());
    assert!(Arc::ptr_eq(&x, &y) && Arc::ptr_eq(&x, &z));
    assert_eq!(x.token_endpoint.as_str(), token_url(&tenant));
    assert_eq!(a.realm().await.unwrap(), tenant);
    // A third app built later in the process asks nobody.
    let c = resolver(&http, &format!("{HOST}/{tenant}/"), true);
    assert!(c.cached_metadata().is_some());
    c.metadata().await.unwrap();
    assert_eq!(http.request_count(), 1);
    http.assert_consumed();
}

#[tokio::test]
async fn a_failed_fetch_is_not_remembered() {
    let http = FakeHttp::new();
    let tenant = unique_tenant();
    http.expect(
        Expect::get(&metadata_url(&tenant)),
        Reply::json(
            404,
            r#"{"error":"invalid_tenant","error_description":"AADSTS90002"}"#,
        ),
    );
    expect_metadata(&http, &tenant);
    let r = resolver(&http, &format!("{HOST}/{tenant}"), true);
    let e = r.metadata().await.unwrap_err();
    assert!(
        matches!(&e, Error::Service(s) if s.error == "invalid_tenant"),
        "{e:?}"
    );
    r.metadata().await.unwrap();
    http.assert_consumed();
}

#[tokio::test]
async fn malformed_metadata_is_a_protocol_error() {
    let http = FakeHttp::new();
    let tenant = unique_tenant();
    http.expect(
        Expect::get(&metadata_url(&tenant)),
        Reply::json(200, r#"{"issuer":"x"}"#),
    );
    let e = resolver(&http, &format!("{HOST}/{tenant}"), true)
        .metadata()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
}

#[tokio::test]
async fn known_hosts_need_no_discovery_and_list_their_aliases() {
    let http = FakeHttp::new();
    let r = resolver(&http, "https://login.windows.net/common", true);
    assert_eq!(
        r.discovered_environments().await.unwrap(),
        vec![
            "login.windows.net",
            "login.microsoftonline.com",
            "login.microsoft.com",
            "sts.windows.net"
        ]
    );
    assert_eq!(http.request_count(), 0);
    // common: the home tenant matches too (spec §11).
    assert_eq!(r.lookup_realms(Some("TID-1")), vec!["common", "tid-1"]);
    let guid = resolver(&http, &format!("{HOST}/{}", unique_tenant()), true);
    assert_eq!(guid.lookup_realms(Some("tid-1")).len(), 1);
}

#[tokio::test]
async fn unknown_hosts_are_discovered_once_before_metadata() {
    let http = FakeHttp::new();
    let host = format!("login{}.contoso.example", unique_tenant().replace('-', ""));
    let discovery = format!(
        "https://login.microsoftonline.com/common/discovery/instance?api-version=1.1&authorization_endpoint=https%3A%2F%2F{host}%2Fcommon%2Foauth2%2Fv2.0%2Fauthorize"
    );
    http.expect(
        Expect::get(&discovery),
        Reply::json(200, &format!(r#"{{"tenant_discovery_endpoint":"x","metadata":[{{"preferred_network":"{host}","aliases":["{host}","alias.contoso.example"]}}]}}"#)),
    );
    http.expect(
        Expect::get(&format!(
            "https://{host}/common/v2.0/.well-known/openid-configuration"
        )),
        Reply::json(
            200,
            &format!(r#"{{"token_endpoint":"https://{host}/common/oauth2/v2.0/token"}}"#),
        ),
    );
    let r = resolver(&http, &format!("https://{host}/common"), true);
    assert_eq!(
        r.known_environments(),
        vec![host.clone()],
        "nothing known before discovery"
    );
    r.metadata().await.unwrap();
    r.metadata().await.unwrap();
    assert_eq!(
        r.known_environments(),
        vec![host.clone(), "alias.contoso.example".to_owned()]
    );
    http.assert_consumed();
}

#[tokio::test]
async fn invalid_instance_is_a_config_error_and_discovery_can_be_turned_off() {
    let http = FakeHttp::new();
    let host = format!("evil{}.example", unique_tenant().replace('-', ""));
    http.expect(
        Expect::get("https://login.microsoftonline.com/common/discovery/instance"),
        Reply::json(400, r#"{"error":"invalid_instance","error_description":"AADSTS50049: Unknown or invalid instance."}"#),
    );
    let e = resolver(&http, &format!("https://{host}/common"), true)
        .metadata()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Config(c) if c.message.contains("instance discovery")),
        "{e:?}"
    );
    http.assert_consumed();

    let http = FakeHttp::new();
    let host = format!("private{}.example", unique_tenant().replace('-', ""));
    http.expect(
        Expect::get(&format!(
            "https://{host}/t1/v2.0/.well-known/openid-configuration"
        )),
        Reply::json(
            200,
            &format!(r#"{{"token_endpoint":"https://{host}/t1/oauth2/v2.0/token"}}"#),
        ),
    );
    let r = resolver(&http, &format!("https://{host}/t1"), false);
    r.metadata().await.unwrap();
    assert_eq!(r.discovered_environments().await.unwrap(), vec![host]);
    http.assert_consumed();
}

#[tokio::test]
async fn b2c_and_adfs_skip_discovery_and_use_their_own_metadata_paths() {
    let http = FakeHttp::new();
    let n = unique_tenant().replace('-', "");
    let b2c = format!("https://fab{n}.b2clogin.com/fab.onmicrosoft.com/B2C_1_SignIn");
    http.expect(
        Expect::get(&format!("{b2c}/v2.0/.well-known/openid-configuration")),
        Reply::json(200, &format!(r#"{{"token_endpoint":"https://fab{n}.b2clogin.com/fab.onmicrosoft.com/b2c_1_signin/oauth2/v2.0/token"}}"#)),
    );
    let r = resolver(&http, &b2c, true);
    assert_eq!(r.realm().await.unwrap(), "fab.onmicrosoft.com");
    let adfs = format!("https://fs{n}.contoso.example/adfs");
    http.expect(
        Expect::get(&format!("{adfs}/.well-known/openid-configuration")),
        Reply::json(
            200,
            &format!(r#"{{"token_endpoint":"{adfs}/oauth2/token"}}"#),
        ),
    );
    let r = resolver(&http, &adfs, true);
    assert_eq!(r.realm().await.unwrap(), "adfs");
    assert_eq!(
        r.known_environments(),
        vec![format!("fs{n}.contoso.example")]
    );
    http.assert_consumed();
}

#[test]
fn builder_reports_the_first_problem() {
    use msal::PublicClientApplication;
    let http = FakeHttp::new();
    let e = PublicClientApplication::builder("  ")
        .http_client(http.clone())
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)));
    let e = PublicClientApplication::builder(CLIENT_ID)
        .authority("http://login.microsoftonline.com/common")
        .http_client(http.clone())
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, Error::Config(c) if c.message.contains("https")),
        "{e:?}"
    );
    let app = PublicClientApplication::builder(CLIENT_ID)
        .http_client(http.clone())
        .build()
        .unwrap();
    assert_eq!(
        app.authority().as_str(),
        "https://login.microsoftonline.com/common"
    );
    let cloned = app.clone();
    assert_eq!(cloned.client_id(), CLIENT_ID);
    assert!(!format!("{app:?}").is_empty());
}
