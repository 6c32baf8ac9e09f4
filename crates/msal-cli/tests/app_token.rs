//! `msal app-token`: tokens for applications.

mod support;

use msal_emulator::managed_identity::{Host, Identity, SYSTEM_ASSIGNED, USER_ASSIGNED};
use msal_emulator::{ClientCertificate, defaults};
use msal_test_support::{Canned, TestServer};
use support::{Harness, msal_command, run};

const VAULT: &str = "https://vault.azure.net";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An App Service identity endpoint answering with `token`.
async fn app_service(token: &'static str) -> TestServer {
    let expires = now() + 3600;
    TestServer::http(move |r| {
        if r.header("x-identity-header") != Some("id-header-s3cret") {
            return Canned::json(401, r#"{"message":"no header"}"#);
        }
        Canned::json(
            200,
            &format!(r#"{{"access_token":"{token}","expires_on":"{expires}","token_type":"Bearer","resource":"{VAULT}"}}"#),
        )
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_identity_system_and_user_assigned() {
    let server = app_service("mi-access-token-value").await;
    let home = tempfile::tempdir().unwrap();
    let with_env = |args: &[&str]| {
        let mut c = msal_command(home.path());
        c.env("IDENTITY_ENDPOINT", format!("{}/msi/token", server.url()))
            .env("IDENTITY_HEADER", "id-header-s3cret")
            // Identity endpoints are never proxied, whatever the environment says.
            .env("HTTPS_PROXY", "http://127.0.0.1:1")
            .env("HTTP_PROXY", "http://127.0.0.1:1")
            .args(["app-token", "--managed-identity"])
            .args(args);
        c
    };

    let plain = run(with_env(&["--scopes", &format!("{VAULT}/.default")])).await;
    assert_eq!(plain.ok().trim(), "mi-access-token-value");
    assert!(!plain.stderr.contains("id-header-s3cret"));

    let json = run(with_env(&[
        "--scopes",
        VAULT,
        "--json",
        "--client-id",
        "11111111-2222-3333-4444-555555555555",
    ]))
    .await
    .json();
    assert_eq!(json["access_token"], "mi-access-token-value");
    assert_eq!(json["resource"], VAULT);
    assert_eq!(json["from_cache"], false);
    assert!(json["expires_on"].as_i64().unwrap() > now());

    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0]
            .target
            .contains("resource=https%3A%2F%2Fvault.azure.net"),
        "{}",
        seen[0].target
    );
    assert!(
        !seen[0].target.contains("client_id"),
        "system-assigned: {}",
        seen[0].target
    );
    assert!(
        seen[1]
            .target
            .contains("client_id=11111111-2222-3333-4444-555555555555"),
        "{}",
        seen[1].target
    );

    let two = run(with_env(&["--scopes", VAULT, "https://storage.azure.com"])).await;
    assert!(two.fails(1).contains("one resource"));
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_identity_errors_are_one_line() {
    let server = TestServer::http(|_| {
        Canned::json(
            400,
            r#"{"error":"invalid_resource","error_description":"AADSTS500011: no such resource"}"#,
        )
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let mut c = msal_command(home.path());
    c.env("IDENTITY_ENDPOINT", format!("{}/msi/token", server.url()))
        .env("IDENTITY_HEADER", "h")
        .args([
            "app-token",
            "--managed-identity",
            "--scopes",
            "https://nope.example",
        ]);
    let r = run(c).await;
    let line = r.fails(1);
    assert!(line.contains("AADSTS500011"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_from_a_variable_and_the_cache_file() {
    let h = support::Harness::start().await;
    let daemon = |args: &[&str]| h.daemon_app_token(args);
    let scope = format!("{}/.default", defaults::WEB_API_URI);
    let first = run(daemon(&[
        "--scopes",
        &scope,
        "--client-secret-env",
        "DAEMON_SECRET_VAR",
        "--json",
    ]))
    .await;
    let v = first.json();
    assert_eq!(v["from_cache"], false);
    assert!(v["account"].is_null(), "an app token has no account");
    let at = v["access_token"].as_str().unwrap().to_owned();
    for out in [&first.stdout, &first.stderr] {
        assert!(
            !out.contains(defaults::DAEMON_SECRET),
            "the client secret is never printed"
        );
    }

    // The next process finds it in the cache file: no request.
    h.admin().reset_counters();
    let again = run(daemon(&[
        "--scopes",
        &scope,
        "--client-secret-env",
        "DAEMON_SECRET_VAR",
    ]))
    .await;
    assert_eq!(again.ok().trim(), at);
    assert_eq!(h.admin().total_requests(), 0);
    let inspect = h.run(&["cache", "inspect", "--json"]).await.json();
    assert_eq!(inspect["accounts"]["(app)"]["access_tokens"], 1);

    // A wrong secret, a missing variable: one line each, no secret shown.
    let mut c = msal_command(h.dir.path());
    c.arg("--authority")
        .arg(h.emu.authority(defaults::SECOND_TENANT_ID))
        .args([
            "--client-id",
            defaults::DAEMON_APP_ID,
            "--plaintext",
            "--cache",
        ])
        .arg(h.dir.path().join("other.json"))
        .env("DAEMON_SECRET_VAR", "not-the-secret")
        .args([
            "app-token",
            "--scopes",
            &scope,
            "--client-secret-env",
            "DAEMON_SECRET_VAR",
        ]);
    let r = run(c).await;
    let line = r.fails(1);
    assert!(line.contains("invalid_client"), "{line}");
    assert!(!line.contains("not-the-secret"));
    let missing = run(daemon(&[
        "--scopes",
        &scope,
        "--client-secret-env",
        "NO_SUCH_VAR",
    ]))
    .await;
    assert!(missing.fails(1).contains("NO_SUCH_VAR"));
    let no_client = run({
        let mut c = msal_command(h.dir.path());
        c.env("DAEMON_SECRET_VAR", defaults::DAEMON_SECRET).args([
            "app-token",
            "--scopes",
            &scope,
            "--client-secret-env",
            "DAEMON_SECRET_VAR",
            "--plaintext",
        ]);
        c
    })
    .await;
    assert!(no_client.fails(1).contains("--client-id"));
}

#[tokio::test(flavor = "multi_thread")]
async fn fmi_path_tokens_are_their_own_in_the_cache_file() {
    let h = support::Harness::start().await;
    let scope = format!("{}/.default", defaults::WEB_API_URI);
    let token = |extra: &'static [&'static str]| {
        let mut args = vec![
            "--scopes",
            scope.as_str(),
            "--client-secret-env",
            "DAEMON_SECRET_VAR",
            "--json",
        ];
        args.extend_from_slice(extra);
        run(h.daemon_app_token(&args))
    };
    let fmi = token(&["--fmi-path", "Agents/Cli"]).await.json();
    assert_eq!(fmi["from_cache"], false);
    let at = fmi["access_token"].as_str().unwrap().to_owned();
    let payload = at.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["fmi_path"], "Agents/Cli");
    // Without the path: another token, from the identity provider.
    let plain = token(&[]).await.json();
    assert_eq!(plain["from_cache"], false);
    assert_ne!(plain["access_token"], at.as_str());
    // The next processes find each in the file.
    h.admin().reset_counters();
    let again = token(&["--fmi-path", "Agents/Cli"]).await.json();
    assert_eq!(
        (again["from_cache"].clone(), again["access_token"].clone()),
        (true.into(), at.clone().into())
    );
    assert_eq!(
        token(&[]).await.json()["access_token"],
        plain["access_token"]
    );
    assert_eq!(h.admin().total_requests(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_credential() {
    let h = support::Harness::start().await;
    let cert = ClientCertificate::generate("msal-cli test daemon").unwrap();
    h.admin()
        .register_certificate(defaults::DAEMON_APP_ID, &cert.cert_pem)
        .unwrap();
    let cert_file = h.dir.path().join("daemon.crt");
    let key_file = h.dir.path().join("daemon.key");
    std::fs::write(&cert_file, &cert.cert_pem).unwrap();
    std::fs::write(&key_file, &cert.key_pem).unwrap();
    let scope = format!("{}/.default", defaults::WEB_API_URI);
    let mut c = msal_command(h.dir.path());
    c.arg("--authority")
        .arg(h.emu.authority(defaults::TENANT_ID))
        .args([
            "--client-id",
            defaults::DAEMON_APP_ID,
            "--plaintext",
            "--cache",
        ])
        .arg(h.cache())
        .args(["app-token", "--scopes", &scope, "--certificate"])
        .arg(&cert_file)
        .arg("--key")
        .arg(&key_file)
        .arg("--json");
    let r = run(c).await;
    let v = r.json();
    assert_eq!(v["from_cache"], false);
    assert_eq!(h.admin().token_requests_with_grant("client_credentials"), 1);
    assert!(!r.stdout.contains("PRIVATE KEY") && !r.stderr.contains("PRIVATE KEY"));

    // Not a key: said plainly, nothing of the file shown.
    let mut bad = msal_command(h.dir.path());
    bad.arg("--authority")
        .arg(h.emu.authority(defaults::TENANT_ID))
        .args([
            "--client-id",
            defaults::DAEMON_APP_ID,
            "--plaintext",
            "--cache",
        ])
        .arg(h.cache())
        .args(["app-token", "--scopes", &scope, "--certificate"])
        .arg(&cert_file);
    let line = run(bad).await.fails(1).to_owned();
    assert!(line.contains("private key"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_identity_reads_the_azure_variables() {
    let home = tempfile::tempdir().unwrap();
    let mut c = msal_command(home.path());
    c.env("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555")
        .args([
            "--plaintext",
            "app-token",
            "--workload-identity",
            "--scopes",
            "https://vault.azure.net/.default",
        ]);
    let r = run(c).await;
    let line = r.fails(1);
    assert!(
        line.contains("AZURE_FEDERATED_TOKEN_FILE") && line.contains("AZURE_TENANT_ID"),
        "{line}"
    );
}

/// The claims of a JWT (base64url, no padding), decoded by hand: the test
/// needs no base64 crate for this.
fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in payload.bytes() {
        let v = alphabet.iter().position(|a| *a == c).expect("base64url") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    serde_json::from_slice(&out).expect("JSON claims")
}

/// `msal app-token --managed-identity --json` on the emulated `host`, with
/// the harness's plain cache file, plus `args`.
async fn mi(h: &Harness, host: Host, env: &[(&str, &str)], args: &[&str]) -> support::Run {
    let vars = h.emu.managed_identity_env(host).await.expect("variables");
    let mut c = msal_command(h.dir.path());
    c.envs(vars)
        .envs(env.iter().copied())
        // Identity endpoints are never proxied, whatever the environment says.
        .env("HTTPS_PROXY", "http://127.0.0.1:1")
        .env("HTTP_PROXY", "http://127.0.0.1:1")
        .args(["--plaintext", "--cache"])
        .arg(h.cache())
        .args([
            "app-token",
            "--managed-identity",
            "--scopes",
            VAULT,
            "--json",
        ])
        .args(args);
    run(c).await
}

/// The token is `who`'s, fetched (not cached); the next run is served from
/// the cache file without a request.
async fn fetched_then_cached(h: &Harness, host: Host, args: &[&str], who: Identity) {
    let before = h.admin().managed_identity_requests();
    let first = mi(h, host, &[], args).await.json();
    assert_eq!(first["from_cache"], false, "{args:?}");
    let c = claims(first["access_token"].as_str().unwrap());
    assert_eq!(
        (c["aud"].as_str(), c["oid"].as_str(), c["appid"].as_str()),
        (Some(VAULT), Some(who.object_id), Some(who.client_id)),
        "{args:?}: {c}"
    );
    assert_eq!(
        h.admin().managed_identity_requests(),
        before + 1,
        "{args:?}"
    );
    let again = mi(h, host, &[], args).await.json();
    assert_eq!(again["from_cache"], true, "{args:?}");
    assert_eq!(again["access_token"], first["access_token"]);
    assert_eq!(
        h.admin().managed_identity_requests(),
        before + 1,
        "{args:?}: no request for the cached token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_identity_on_the_emulated_vm_by_each_kind_of_id_and_cached() {
    let h = Harness::start().await;
    let [first, second] = USER_ASSIGNED;
    for (args, who) in [
        (&[][..], SYSTEM_ASSIGNED),
        (&["--client-id", first.client_id], first),
        (&["--resource-id", second.resource_id], second),
        (&["--object-id", first.object_id], first),
    ] {
        fetched_then_cached(&h, Host::Imds, args, who).await;
    }
    // Four identities, four entries where MSAL Python keeps them.
    let inspect = h.run(&["cache", "inspect", "--json"]).await.json();
    assert_eq!(
        inspect["environments"]["localhost"]["access_tokens"], 4,
        "{inspect}"
    );
    assert_eq!(
        inspect["accounts"]["(app)"]["access_tokens"], 4,
        "{inspect}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_identity_on_the_emulated_app_service() {
    let h = Harness::start().await;
    fetched_then_cached(&h, Host::AppService, &[], SYSTEM_ASSIGNED).await;
    let second = USER_ASSIGNED[1];
    fetched_then_cached(
        &h,
        Host::AppService,
        &["--resource-id", second.resource_id],
        second,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn msal_client_id_from_the_environment_does_not_name_a_managed_identity() {
    let h = Harness::start().await;
    // Exported for `msal login`: not an identity the host has.
    let login_app = [("MSAL_CLIENT_ID", defaults::CLI_APP_ID)];
    let v = mi(&h, Host::Imds, &login_app, &[]).await.json();
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["oid"].as_str(), Some(SYSTEM_ASSIGNED.object_id), "{c}");
    // Typed on the command line, it does (and wins over the variable).
    let first = USER_ASSIGNED[0];
    let v = mi(
        &h,
        Host::Imds,
        &login_app,
        &["--client-id", first.client_id],
    )
    .await
    .json();
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["oid"].as_str(), Some(first.object_id), "{c}");
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_identity_takes_one_id_at_most() {
    let h = Harness::start().await;
    let [first, second] = USER_ASSIGNED;
    for args in [
        &[
            "--client-id",
            first.client_id,
            "--resource-id",
            second.resource_id,
        ][..],
        &[
            "--client-id",
            first.client_id,
            "--object-id",
            second.object_id,
        ],
    ] {
        let r = mi(&h, Host::Imds, &[], args).await;
        let line = r.fails(1);
        assert!(
            line.contains("--client-id, --resource-id and --object-id")
                && line.contains("only one"),
            "{args:?}: {line}"
        );
    }
    let r = mi(
        &h,
        Host::Imds,
        &[],
        &[
            "--resource-id",
            second.resource_id,
            "--object-id",
            second.object_id,
        ],
    )
    .await;
    assert!(r.fails(1).contains("cannot be used with"), "{r:#?}");
    assert_eq!(
        h.admin().managed_identity_requests(),
        0,
        "nothing was asked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn region_flag_is_validated_and_a_loopback_authority_stays_global() {
    let h = support::Harness::start().await;
    let scope = format!("{}/.default", defaults::WEB_API_URI);
    let bad = run(h.daemon_app_token(&[
        "--scopes",
        &scope,
        "--client-secret-env",
        "DAEMON_SECRET_VAR",
        "--region",
        "westus2.evil.example",
    ]))
    .await;
    let line = bad.fails(1);
    assert!(line.contains("not an Azure region name"), "{line}");
    assert_eq!(h.admin().total_requests(), 0, "refused before any request");

    // A loopback authority has no regional form: the global endpoint serves
    // the request, named or detected (REGION_NAME) alike.
    for (region, env) in [("West US 2", None), ("auto", Some("westus2"))] {
        let mut c = h.daemon_app_token(&[
            "--scopes",
            &scope,
            "--client-secret-env",
            "DAEMON_SECRET_VAR",
            "--region",
            region,
            "--json",
        ]);
        if let Some(v) = env {
            c.env("REGION_NAME", v);
        }
        let v = run(c).await.json();
        assert!(v["access_token"].as_str().is_some(), "{v}");
    }
    let hosts: Vec<String> = h
        .admin()
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == msal_emulator::Endpoint::Token)
        .map(|r| r.host)
        .collect();
    assert_eq!(hosts.len(), 1, "the second run is served from the cache");
    assert!(hosts[0].starts_with("127.0.0.1:"), "{hosts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_pop_token_with_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("emulator-ca.pem");
    let emu =
        msal_emulator::Emulator::start(support::config().with_tls(Some(ca.clone())).with_mtls())
            .await
            .unwrap();
    let cert = ClientCertificate::generate("msal-cli mtls daemon").unwrap();
    emu.admin()
        .register_certificate(defaults::DAEMON_APP_ID, &cert.cert_pem)
        .unwrap();
    let cert_file = dir.path().join("daemon.crt");
    let key_file = dir.path().join("daemon.key");
    std::fs::write(&cert_file, &cert.cert_pem).unwrap();
    std::fs::write(&key_file, &cert.key_pem).unwrap();
    let scope = format!("{}/.default", defaults::WEB_API_URI);
    let cmd = |mtls: bool| {
        let mut c = msal_command(dir.path());
        c.arg("--authority")
            .arg(emu.authority(defaults::TENANT_ID))
            .arg("--ca-file")
            .arg(&ca)
            .args([
                "--client-id",
                defaults::DAEMON_APP_ID,
                "--plaintext",
                "--cache",
            ])
            .arg(dir.path().join("cache.json"))
            .args(["app-token", "--scopes", &scope, "--certificate"])
            .arg(&cert_file)
            .arg("--key")
            .arg(&key_file)
            .arg("--json");
        if mtls {
            c.arg("--mtls-pop");
        }
        c
    };
    let v = run(cmd(true)).await.json();
    assert_eq!(v["token_type"], "mtls_pop", "{v}");
    assert_eq!(v["from_cache"], false);
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["cnf"]["x5t#S256"], cert.x5t_s256.as_str(), "{c}");
    assert_eq!(emu.admin().mtls_token_requests(), 1);

    // The next run finds it in the cache file; a Bearer run does not.
    let again = run(cmd(true)).await.json();
    assert_eq!(again["from_cache"], true);
    assert_eq!(again["access_token"], v["access_token"]);
    let bearer = run(cmd(false)).await.json();
    assert_eq!(bearer["from_cache"], false);
    assert_eq!(bearer["token_type"], "Bearer");
    assert_eq!(emu.admin().mtls_token_requests(), 1);

    // --mtls-pop needs a certificate.
    let mut c = msal_command(dir.path());
    c.env("S", "x").args([
        "--client-id",
        defaults::DAEMON_APP_ID,
        "app-token",
        "--scopes",
        &scope,
        "--client-secret-env",
        "S",
        "--mtls-pop",
    ]);
    let r = run(c).await;
    assert_ne!(r.code, 0, "{r:#?}");
    assert!(r.stderr.contains("--mtls-pop"), "{r:#?}");
    assert!(r.stderr.contains("--certificate"), "{r:#?}");
    assert_eq!(emu.admin().mtls_token_requests(), 1);
}
