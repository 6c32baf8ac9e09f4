//! The real kubectl (`$KUBECTL`, else `kubectl` on PATH; scripts/test.sh
//! installs Debian's kubernetes-client when there is none) with a kubeconfig
//! whose user runs `msal kube-credential`, against a loopback API server
//! that accepts only emulator tokens for the AKS server application
//! (signature checked with the emulator's JWKS, audience, expiry).

mod support;

use std::path::Path;
use std::process::Command;

use msal_emulator::defaults;
use msal_emulator::managed_identity::Host;
use msal_test_support::{Canned, TestCa, TestServer};
use support::{
    AKS_APP_ID, Harness, Run, TokenCheck, claims, msal_command, run, run_device_code, tool_command,
    tools_config,
};

const AKS_SCOPE: &str = "6dae42f8-4368-4678-94ff-3960e28e3630/.default";
const VERSION: &str =
    r#"{"major":"1","minor":"30","gitVersion":"v1.30.0-msal-test","platform":"linux/amd64"}"#;
const UNAUTHORIZED: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;

fn kubectl() -> String {
    let k = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let ok = Command::new(&k)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "no kubectl at {k:?}: run scripts/test.sh (it installs kubernetes-client) or set KUBECTL"
    );
    k
}

/// The client's minor version (`Client Version: v1.32.4` → 32).
fn kubectl_minor(k: &str) -> u32 {
    let out = Command::new(k)
        .args(["version", "--client"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // "Client Version: v1.32.4..." (or the 1.20 struct dump: Minor:"20").
    let minor = text
        .split("v1.")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .or_else(|| {
            text.split("Minor:\"")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        })
        .and_then(|m| m.parse().ok());
    minor.unwrap_or_else(|| panic!("kubectl's version in {text:?}"))
}

/// An API server on 127.0.0.1 (HTTPS: kubectl runs exec plugins only for
/// TLS servers) that answers `/version` to a valid AKS token and 401 to
/// anything else.
async fn api_server(check: TokenCheck, ca: &TestCa) -> TestServer {
    TestServer::https(ca.server_config(&["127.0.0.1"]), move |r| {
        let token = r
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "));
        match token {
            Some(t) if check.accepts(t) && r.target == "/version" => Canned::json(200, VERSION),
            Some(t) if check.accepts(t) => Canned::json(404, "{}"),
            _ => Canned::json(401, UNAUTHORIZED),
        }
    })
    .await
}

/// A kubeconfig as `az aks get-credentials` writes it for an Entra ID
/// cluster (before kubelogin): cluster, context, and a user whose
/// auth-provider msal replaces.
fn write_kubeconfig(path: &Path, server: &str, ca: &TestCa) {
    use base64::Engine as _;
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca.pem());
    std::fs::write(
        path,
        format!(
            "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca_data}
    server: {server}
  name: dev-aks
contexts:
- context:
    cluster: dev-aks
    user: clusterUser_rg_dev-aks
  name: dev-aks
current-context: dev-aks
kind: Config
preferences: {{}}
users:
- name: clusterUser_rg_dev-aks
  user:
    auth-provider:
      config:
        apiserver-id: {AKS_APP_ID}
        client-id: 80faf920-1908-4b52-b5ef-a8e7bedfc67a
        environment: AzurePublicCloud
        tenant-id: {tenant}
      name: azure
",
            tenant = defaults::TENANT_ID
        ),
    )
    .unwrap();
}

/// `kubectl --kubeconfig FILE get --raw /version`, stdin not a terminal
/// (kubectl then tells the plugin the session is not interactive).
async fn get_version(k: &str, home: &Path, kubeconfig: &Path) -> Run {
    let mut c = tool_command(k, home);
    c.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", "--raw", "/version"]);
    run(c).await
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_gets_its_token_from_msal_and_the_second_call_asks_nobody() {
    let k = kubectl();
    let h = Harness::with(tools_config()).await;
    let ca = TestCa::new("fake API server CA");
    let api = api_server(TokenCheck::new(&h.emu, AKS_APP_ID).await, &ca).await;
    let kubeconfig = h.dir.path().join("kubeconfig");
    write_kubeconfig(&kubeconfig, &api.url(), &ca);
    let before = std::fs::read_to_string(&kubeconfig).unwrap();

    // msal writes the exec stanza for that user, and nothing else changes.
    let set = h
        .run(&[
            "kubeconfig",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--user",
            "clusterUser_rg_dev-aks",
            "--json",
        ])
        .await
        .json();
    assert_eq!(set["created_user"], false, "{set}");
    assert_eq!(set["removed"], serde_json::json!(["auth-provider"]));
    let after = std::fs::read_to_string(&kubeconfig).unwrap();
    let (b, a): (serde_json::Value, serde_json::Value) = (yaml(&before), yaml(&after));
    for key in [
        "clusters",
        "contexts",
        "current-context",
        "preferences",
        "kind",
    ] {
        assert_eq!(b[key], a[key], "{key} unchanged");
    }
    let exec = &a["users"][0]["user"]["exec"];
    assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1beta1");
    let args: Vec<&str> = exec["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(args.contains(&"kube-credential"), "{args:?}");
    assert!(
        args.contains(&defaults::CLI_APP_ID),
        "the same options: {args:?}"
    );

    // No one is signed in and kubectl runs msal without a terminal: one
    // line from the plugin (kubectl tries twice: one line each time), no
    // prompt, no token sent.
    let none = get_version(&k, h.dir.path(), &kubeconfig).await;
    assert_ne!(none.code, 0, "{none:#?}");
    let ours: Vec<&str> = none
        .stderr
        .lines()
        .filter(|l| l.starts_with("msal: "))
        .collect();
    assert!(
        !ours.is_empty() && ours.iter().all(|l| *l == ours[0]),
        "{none:#?}"
    );
    assert!(
        none.stderr.contains("exec: executable") && none.stderr.contains("exit code 2"),
        "{none:#?}"
    );
    assert!(
        ours[0].contains("kubectl needs a sign-in")
            && ours[0].contains("without a terminal")
            && ours[0].contains("(no account is signed in)")
            && ours[0].contains(&format!("login --device-code --scopes {AKS_SCOPE}")),
        "{}",
        ours[0]
    );
    assert!(
        !none.stderr.contains("enter the code"),
        "no device code prompt"
    );
    assert!(api.requests().is_empty(), "kubectl sent nothing");
    assert_eq!(
        h.admin().request_count(msal_emulator::Endpoint::DeviceCode),
        0
    );

    // Signed in (for Graph): the first kubectl call redeems the refresh
    // token for an AKS token...
    h.login(defaults::USER, &[]).await.ok();
    h.admin().reset_counters();
    let first = get_version(&k, h.dir.path(), &kubeconfig).await;
    assert!(first.ok().contains("v1.30.0-msal-test"), "{first:#?}");
    assert_eq!(h.admin().token_requests_with_grant("refresh_token"), 1);
    let seen = api.requests();
    let token = seen
        .last()
        .and_then(|r| r.header("authorization"))
        .and_then(|a| a.strip_prefix("Bearer "))
        .expect("a bearer token")
        .to_owned();
    let c = claims(&token);
    assert_eq!(c["aud"], AKS_APP_ID);
    assert_eq!(c["preferred_username"], defaults::USER);

    // ...and the second takes it from msal's cache: no request to the emulator.
    h.admin().reset_counters();
    let second = get_version(&k, h.dir.path(), &kubeconfig).await;
    assert!(second.ok().contains("gitVersion"), "{second:#?}");
    assert_eq!(h.admin().total_requests(), 0, "{:?}", h.admin().requests());

    // The API server does check: a Graph token of the same user is refused.
    let graph = h.run(&["token"]).await;
    let graph = graph.ok().trim().to_owned();
    let refused = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap()
        .get(format!("{}/version", api.url()))
        .bearer_auth(&graph)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);

    // kubectl 1.22 and later also speak v1: the same run through it.
    let minor = kubectl_minor(&k);
    if minor >= 22 {
        h.run(&[
            "kubeconfig",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--user",
            "clusterUser_rg_dev-aks",
            "--exec-api-version",
            "v1",
        ])
        .await
        .ok();
        h.admin().reset_counters();
        let v1 = get_version(&k, h.dir.path(), &kubeconfig).await;
        assert!(v1.ok().contains("gitVersion"), "{v1:#?}");
        assert_eq!(h.admin().total_requests(), 0);
    } else {
        eprintln!(
            "kubectl 1.{minor} has no client.authentication.k8s.io/v1: v1 is checked by \
             the_plugin_answers_v1_and_prompts_only_when_interactive, without kubectl"
        );
    }
}

fn yaml(text: &str) -> serde_json::Value {
    serde_norway::from_str(text).expect("YAML")
}

/// `msal kube-credential` with `KUBERNETES_EXEC_INFO` as kubectl sets it.
fn plugin(h: &Harness, version: &str, interactive: bool, args: &[&str]) -> Command {
    let mut c = h.msal();
    c.env(
        "KUBERNETES_EXEC_INFO",
        format!(
            r#"{{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/{version}","spec":{{"interactive":{interactive}}}}}"#
        ),
    )
    .arg("kube-credential")
    .args(args);
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plugin_answers_v1_and_prompts_only_when_interactive() {
    let h = Harness::with(tools_config()).await;
    let check = TokenCheck::new(&h.emu, AKS_APP_ID).await;

    // Not interactive: the one line, exit code 2, nothing on stdout.
    let r = run(plugin(&h, "v1", false, &[])).await;
    assert!(r.fails(2).contains("kubectl needs a sign-in"), "{r:#?}");
    assert!(r.stdout.is_empty());

    // Interactive: a device-code sign-in whose prompt is on stderr; the
    // ExecCredential alone on stdout.
    let r = run_device_code(plugin(&h, "v1", true, &[]), h.admin(), defaults::USER).await;
    let v: serde_json::Value = serde_json::from_str(r.ok()).expect("one JSON document");
    assert!(r.stderr.contains("enter the code"), "{r:#?}");
    assert_eq!(v["kind"], "ExecCredential");
    assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1");
    let token = v["status"]["token"].as_str().unwrap();
    assert!(check.accepts(token), "a valid AKS token");
    let exp = v["status"]["expirationTimestamp"].as_str().unwrap();
    assert!(exp.ends_with('Z') && exp.len() == 20, "{exp}");
    let exp_claim = claims(token)["exp"].as_i64().unwrap();
    assert!(
        exp.starts_with(&rfc3339_date(exp_claim)),
        "{exp} vs exp {exp_claim}"
    );

    // v1beta1, from the cache now, without a single request.
    h.admin().reset_counters();
    let v = run(plugin(&h, "v1beta1", false, &[])).await.json();
    assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1beta1");
    assert_eq!(v["status"]["token"], token);
    assert_eq!(h.admin().total_requests(), 0);

    // A version msal does not speak is one line.
    let r = run(plugin(&h, "v1alpha1", false, &[])).await;
    assert!(r.fails(1).contains("v1alpha1"), "{r:#?}");
}

/// `YYYY-MM-DD` of a Unix time (UTC).
fn rfc3339_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[tokio::test(flavor = "multi_thread")]
async fn service_principal_and_managed_identity_tokens_for_kubectl() {
    let h = Harness::with(tools_config()).await;
    let info = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;

    // A service principal (the emulator's daemon) for the web API.
    let mut sp = msal_command(h.dir.path());
    sp.arg("--authority")
        .arg(h.emu.authority(defaults::TENANT_ID))
        .args([
            "--client-id",
            defaults::DAEMON_APP_ID,
            "--plaintext",
            "--cache",
        ])
        .arg(h.cache())
        .env("DAEMON_SECRET_VAR", defaults::DAEMON_SECRET)
        .env("KUBERNETES_EXEC_INFO", info)
        .args([
            "kube-credential",
            "--client-secret-env",
            "DAEMON_SECRET_VAR",
            "--scopes",
            &format!("{}/.default", defaults::WEB_API_URI),
        ]);
    let v = run(sp).await.json();
    let token = v["status"]["token"].as_str().unwrap();
    assert_eq!(claims(token)["aud"], defaults::WEB_API_APP_ID);
    assert_eq!(claims(token)["azp"], defaults::DAEMON_APP_ID);
    assert!(!v.to_string().contains(defaults::DAEMON_SECRET));

    // The managed identity of an App Service the emulator plays.
    let vars = h
        .emu
        .managed_identity_env(Host::AppService)
        .await
        .expect("App Service variables");
    let mut mi = msal_command(h.dir.path());
    mi.envs(vars)
        .env("KUBERNETES_EXEC_INFO", info)
        .args(["--plaintext", "--cache"])
        .arg(h.cache())
        .args([
            "kube-credential",
            "--managed-identity",
            "--scopes",
            &format!("{}/.default", defaults::WEB_API_URI),
        ]);
    let v = run(mi).await.json();
    assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1");
    let token = v["status"]["token"].as_str().unwrap();
    assert!(!token.is_empty());
    assert!(v["status"]["expirationTimestamp"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_bakes_in_the_options_and_finds_the_file_of_kubeconfig() {
    let h = Harness::with(tools_config()).await;
    let one = h.dir.path().join("one.yaml");
    let two = h.dir.path().join("two.yaml");
    std::fs::write(&one, "apiVersion: v1\nkind: Config\nusers: []\n").unwrap();
    std::fs::write(
        &two,
        "apiVersion: v1\nkind: Config\nusers:\n- name: aks\n  user:\n    token: old\n",
    )
    .unwrap();
    let list = std::env::join_paths([&one, &two]).unwrap();
    let mut c = h.msal();
    c.env("KUBECONFIG", &list).args([
        "kubeconfig",
        "--user",
        "aks",
        "--account",
        defaults::USER,
        "--scopes",
        "openid",
        "api://x/.default",
        "--command",
        "msal",
    ]);
    let out = run(c).await;
    assert!(
        out.ok()
            .contains("Removed the user's other credentials: token"),
        "{out:#?}"
    );
    // The user was in the second file: that one changed, the first did not.
    assert_eq!(
        std::fs::read_to_string(&one).unwrap(),
        "apiVersion: v1\nkind: Config\nusers: []\n"
    );
    let v = yaml(&std::fs::read_to_string(&two).unwrap());
    let exec = &v["users"][0]["user"]["exec"];
    assert_eq!(exec["command"], "msal");
    let args: Vec<String> = exec["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let cache = h.cache().display().to_string();
    let authority = h.emu.authority("organizations");
    let expected: Vec<&str> = vec![
        "--authority",
        &authority,
        "--client-id",
        defaults::CLI_APP_ID,
        "--cache",
        &cache,
        "--plaintext",
        "kube-credential",
        "--scopes",
        "api://x/.default",
        "--account",
        defaults::USER,
    ];
    assert_eq!(args, expected, "openid is dropped, the rest kept in order");
    assert!(v["users"][0]["user"].get("token").is_none());

    // A user that is nowhere goes into KUBECONFIG's first file. A client id
    // from MSAL_CLIENT_ID (for sign-ins) does not become the identity.
    let mut c = msal_command(h.dir.path());
    c.env("KUBECONFIG", &list)
        .env("MSAL_CLIENT_ID", defaults::CLI_APP_ID)
        .args(["kubeconfig", "--user", "new-one", "--managed-identity"]);
    run(c).await.ok();
    let v = yaml(&std::fs::read_to_string(&one).unwrap());
    assert_eq!(v["users"][0]["name"], "new-one");
    let args = v["users"][0]["user"]["exec"]["args"].to_string();
    assert!(args.contains("--managed-identity"), "{args}");
    assert!(!args.contains(defaults::CLI_APP_ID), "{args}");

    // Typed on the command line, it names a user-assigned identity.
    let mut c = msal_command(h.dir.path());
    c.env("KUBECONFIG", &list).args([
        "--client-id",
        "11111111-2222-3333-4444-555555555555",
        "kubeconfig",
        "--user",
        "new-one",
        "--managed-identity",
    ]);
    run(c).await.ok();
    let v = yaml(&std::fs::read_to_string(&one).unwrap());
    let args = v["users"][0]["user"]["exec"]["args"].to_string();
    assert!(
        args.contains("11111111-2222-3333-4444-555555555555"),
        "{args}"
    );
}
