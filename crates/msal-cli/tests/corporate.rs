//! Issue 12 end to end: the CLI with its default authority
//! (`https://login.microsoftonline.com/organizations`) and client id behind a
//! TLS-inspecting corporate proxy, trusting the company's root through
//! `SSL_CERT_FILE` or `--ca-file`.
//!
//! The proxy answers for `login.microsoftonline.com` with a certificate from
//! a "corporate" root and relays to the emulator (HTTPS with its own CA); the
//! CLI never learns the emulator's address, so every request it makes has to
//! go through the proxy.

mod support;

use std::path::PathBuf;
use std::process::Command;

use msal_emulator::{AppConfig, EmulatorHandle, Endpoint, defaults};
use msal_test_support::{Intercept, ProxyBehaviour, TestCa, TestProxy};
use support::{msal_command, run, run_device_code};

const HOST: &str = "login.microsoftonline.com";
/// The CLI's default client id, registered in the emulator as a public app.
const DEFAULT_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

struct Corp {
    emu: EmulatorHandle,
    proxy: TestProxy,
    root: PathBuf,
    dir: tempfile::TempDir,
}

async fn corporate_network(behaviour: ProxyBehaviour) -> Corp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config().with_tls(Some(dir.path().join("emulator-ca.pem")));
    config.server.extra_hosts.push(HOST.into());
    let mut cli = AppConfig::public(DEFAULT_CLIENT_ID, "Azure CLI");
    cli.redirect_uris.push("http://localhost".into());
    cli.delegated_permissions
        .insert(defaults::GRAPH_URI.into(), vec!["User.Read".into()]);
    config.apps.push(cli);
    let emu = msal_emulator::Emulator::start(config).await.unwrap();
    let corp = TestCa::new("Contoso Corporate Root");
    let root = corp.write_pem(dir.path(), "corporate-root.pem");
    let intercept = Intercept::tls(HOST, &corp, emu.addr(), &emu.ca_pem().unwrap(), "localhost");
    let proxy = TestProxy::start(ProxyBehaviour {
        intercept: vec![intercept],
        ..behaviour
    })
    .await;
    Corp {
        emu,
        proxy,
        root,
        dir,
    }
}

impl Corp {
    /// `msal` with only the cache set: default authority and client id.
    fn msal(&self) -> Command {
        let mut c = msal_command(self.dir.path());
        c.arg("--plaintext")
            .arg("--cache")
            .arg(self.dir.path().join("cache.json"));
        c
    }

    /// Sign in, a silent token (cache, then refreshed) and sign out, each
    /// command set up by `setup`.
    async fn sign_in_loop(&self, setup: impl Fn(&mut Command)) {
        let mut login = self.msal();
        setup(&mut login);
        login.args(["login", "--device-code"]);
        let r = run_device_code(login, self.emu.admin(), defaults::USER).await;
        assert!(
            r.ok().contains("Signed in as ada@contoso.onmicrosoft.com"),
            "{r:#?}"
        );
        assert!(
            r.stderr
                .contains("https://login.microsoftonline.com/devicelogin"),
            "{r:#?}"
        );

        let mut token = self.msal();
        setup(&mut token);
        token.args(["token", "--json"]);
        let t = run(token).await.json();
        assert_eq!(t["from_cache"], true);
        assert_eq!(t["account"]["environment"], HOST);

        let mut fresh = self.msal();
        setup(&mut fresh);
        fresh.args(["token", "--json", "--force-refresh"]);
        assert_eq!(run(fresh).await.json()["from_cache"], false);

        let mut logout = self.msal();
        setup(&mut logout);
        logout.args(["logout", "--all"]);
        let out = run(logout).await;
        assert!(
            out.ok()
                .contains("https://login.microsoftonline.com/organizations/oauth2/v2.0/logout"),
            "{out:#?}"
        );
        self.assert_everything_went_through_the_proxy();
    }

    fn assert_everything_went_through_the_proxy(&self) {
        let seen = self.proxy.seen();
        assert!(!seen.is_empty());
        for s in &seen {
            assert_eq!(
                (s.method.as_str(), s.target.as_str()),
                ("CONNECT", "login.microsoftonline.com:443")
            );
        }
        let requests = self.emu.admin().requests();
        for ep in [
            Endpoint::OpenidConfiguration,
            Endpoint::DeviceCode,
            Endpoint::Token,
        ] {
            assert!(
                requests.iter().any(|r| r.endpoint == ep),
                "{ep:?} in {requests:?}"
            );
        }
        for r in &requests {
            assert_eq!(
                r.host, HOST,
                "a request reached the emulator without the proxy: {r:?}"
            );
        }
        assert_eq!(
            self.emu.admin().token_requests_with_grant("refresh_token"),
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_the_proxy_trusting_the_root_through_ssl_cert_file() {
    let corp = corporate_network(ProxyBehaviour::default()).await;
    let (proxy, root) = (corp.proxy.url(), corp.root.clone());
    corp.sign_in_loop(|c| {
        c.env("HTTPS_PROXY", &proxy).env("SSL_CERT_FILE", &root);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_the_proxy_trusting_the_root_through_ca_file() {
    let corp = corporate_network(ProxyBehaviour::default()).await;
    let (proxy, root) = (corp.proxy.url(), corp.root.clone());
    corp.sign_in_loop(|c| {
        c.arg("--proxy").arg(&proxy).arg("--ca-file").arg(&root);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_root_the_error_names_the_issuer_and_the_fix() {
    let corp = corporate_network(ProxyBehaviour::default()).await;
    let mut c = corp.msal();
    c.env("HTTPS_PROXY", corp.proxy.url())
        .args(["login", "--device-code"]);
    let r = run(c).await;
    let line = r.fails(1);
    assert!(
        line.contains("login.microsoftonline.com") && line.contains("is not trusted"),
        "{line}"
    );
    assert!(
        line.contains("Contoso Corporate Root"),
        "the issuer is named: {line}"
    );
    assert!(
        line.contains("SSL_CERT_FILE") && line.contains("--ca-file"),
        "{line}"
    );
    assert_eq!(corp.emu.admin().total_requests(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_that_wants_credentials() {
    let corp = corporate_network(ProxyBehaviour {
        require_credentials: Some(("alice".into(), "pr0xy-s3cret".into())),
        ..Default::default()
    })
    .await;
    let port = corp.proxy.port();
    // Without credentials: a 407, said plainly.
    let mut c = corp.msal();
    c.arg("--proxy")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--ca-file")
        .arg(&corp.root)
        .args(["login", "--device-code"]);
    let r = run(c).await;
    let line = r.fails(1);
    assert!(
        line.contains("407") && line.contains("wants credentials"),
        "{line}"
    );

    // With them in the URL: signed in, and the password is never shown.
    let mut c = corp.msal();
    c.env(
        "HTTPS_PROXY",
        format!("http://alice:pr0xy-s3cret@127.0.0.1:{port}"),
    )
    .arg("--ca-file")
    .arg(&corp.root)
    .env("RUST_LOG", "trace")
    .args(["login", "--device-code"]);
    let r = run_device_code(c, corp.emu.admin(), defaults::USER).await;
    assert!(r.ok().contains("Signed in as"), "{r:#?}");
    assert!(!r.stdout.contains("pr0xy-s3cret") && !r.stderr.contains("pr0xy-s3cret"));
    let secrets = support::secrets_in(&corp.dir.path().join("cache.json"));
    assert_eq!(secrets.len(), 3);
    for s in &secrets {
        assert!(!r.stderr.contains(s.as_str()), "a token in the TRACE log");
    }
}
