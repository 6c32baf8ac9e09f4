//! Federated managed identity paths (`fmi_path`) and claims the client
//! sends, on client credentials against msal-emulator: each becomes part of
//! the token's identity in the cache (an extended `atext` entry). And the
//! same with the real MSAL Python 1.39 (`acquire_token_for_client(...,
//! fmi_path=...)`, `$MSAL_PYTHON`, else /work/main/.venv/bin/python) on one
//! cache file, in both directions. Fails when no Python with msal is found.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::credentials::ClientCredential;
use msal::http::BoxFuture;
use msal::secret::ClientSecret;
use msal::storage::{CacheAccess, CacheAccessArgs, StorageError};
use msal::{ConfidentialClientApplication, TokenSource};
use msal_emulator::defaults::*;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Endpoint};
use serde_json::{Value, json};

const WEB_API_DEFAULT: &str = "api://msal-emulator-web-api/.default";
const CC: &str = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn token_requests(emu: &EmulatorHandle) -> u64 {
    emu.admin().request_count(Endpoint::Token)
}

/// The token and where it came from.
async fn get(
    app: &ConfidentialClientApplication,
    fmi_path: Option<&str>,
    client_claims: Option<&str>,
) -> (String, TokenSource) {
    let mut req = app.acquire_token_for_client(&[WEB_API_DEFAULT]);
    if let Some(p) = fmi_path {
        req = req.fmi_path(p);
    }
    if let Some(c) = client_claims {
        req = req.client_claims(c);
    }
    let r = req.await.unwrap();
    (r.access_token().expose_secret().to_owned(), r.source())
}

#[tokio::test]
async fn fmi_paths_and_client_claims_each_have_their_own_token() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let app = ConfidentialClientApplication::builder(
        DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(DAEMON_SECRET)),
    )
    .authority(emu.authority(TENANT_ID))
    .build()
    .unwrap();

    let (alpha, src) = get(&app, Some("Agents/Alpha"), None).await;
    assert_eq!(src, TokenSource::IdentityProvider);
    assert_eq!(claims(&alpha)["fmi_path"], "Agents/Alpha");
    // Right after it (the cache's query memo holds the FMI query): a plain
    // request does not get the FMI token.
    let (plain, src) = get(&app, None, None).await;
    assert_eq!(src, TokenSource::IdentityProvider);
    assert!(claims(&plain).get("fmi_path").is_none());
    let (beta, src) = get(&app, Some("Agents/Beta"), None).await;
    assert_eq!(src, TokenSource::IdentityProvider);
    assert_eq!(claims(&beta)["fmi_path"], "Agents/Beta");
    assert_eq!(token_requests(&emu), 3);
    for (path, want) in [
        (Some("Agents/Alpha"), &alpha),
        (None, &plain),
        (Some("Agents/Beta"), &beta),
    ] {
        assert_eq!(
            get(&app, path, None).await,
            (want.clone(), TokenSource::Cache),
            "{path:?}"
        );
    }
    assert_eq!(token_requests(&emu), 3);

    // Client claims: their own token, from the cache the second time; the
    // same claims with a path are yet another token.
    let (cc, src) = get(&app, None, Some(CC)).await;
    assert_eq!(src, TokenSource::IdentityProvider);
    assert_eq!(
        get(&app, None, Some(CC)).await,
        (cc.clone(), TokenSource::Cache)
    );
    assert_ne!(cc, plain);
    assert_eq!(
        get(&app, None, None).await,
        (plain.clone(), TokenSource::Cache)
    );
    let (both, src) = get(&app, Some("Agents/Alpha"), Some(CC)).await;
    assert_eq!(src, TokenSource::IdentityProvider);
    assert_ne!(both, alpha);
    assert_eq!(
        get(&app, Some("Agents/Alpha"), Some(CC)).await,
        (both, TokenSource::Cache)
    );
    assert_eq!(token_requests(&emu), 5);
    let forms = emu.admin().token_requests_with_grant("client_credentials");
    assert_eq!(forms, 5);
}

/// One cache file, loaded before and saved after every access (the format
/// MSAL Python's `SerializableTokenCache` reads and writes).
struct FileHook(PathBuf);

impl CacheAccess for FileHook {
    fn before_access<'a>(
        &'a self,
        _args: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        Box::pin(async move { Ok(std::fs::read(&self.0).ok()) })
    }

    fn after_access<'a>(
        &'a self,
        _args: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        if let Some(doc) = document {
            std::fs::write(&self.0, doc).unwrap();
        }
        Box::pin(async { Ok(()) })
    }
}

fn python() -> String {
    let py =
        std::env::var("MSAL_PYTHON").unwrap_or_else(|_| "/work/main/.venv/bin/python".to_string());
    let ok = Command::new(&py)
        .args(["-c", "import msal, requests"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "no python with msal at {py}: set MSAL_PYTHON");
    py
}

/// MSAL Python on the cache file: `mode` `write` acquires the FMI token
/// (then saves the file), `read` asks for it and then for a plain token.
const PY: &str = r#"
import json, sys
import msal, requests
cfg = json.loads(sys.argv[1])
cache = msal.SerializableTokenCache()
try:
    with open(cfg["cache"]) as f:
        cache.deserialize(f.read())
except FileNotFoundError:
    pass
session = requests.Session()
session.verify = cfg["ca"]
app = msal.ConfidentialClientApplication(
    cfg["client_id"], client_credential=cfg["secret"], authority=cfg["authority"],
    token_cache=cache, http_client=session, verify=cfg["ca"],
    instance_discovery=cfg["discovery"])
out = {"msal_version": msal.__version__}
fmi = app.acquire_token_for_client([cfg["scope"]], fmi_path=cfg["fmi_path"])
out["fmi"] = {k: fmi.get(k) for k in ("access_token", "token_source", "error_description")}
if cfg["mode"] == "read":
    plain = app.acquire_token_for_client([cfg["scope"]])
    out["plain"] = {k: plain.get(k) for k in ("access_token", "token_source")}
with open(cfg["cache"], "w") as f:
    f.write(cache.serialize())
print(json.dumps(out))
"#;

fn run_python(emu: &EmulatorHandle, ca: &Path, cache: &Path, mode: &str, path: &str) -> Value {
    let cfg = json!({
        "ca": ca, "cache": cache, "mode": mode, "fmi_path": path,
        "client_id": DAEMON_APP_ID, "secret": DAEMON_SECRET,
        "authority": emu.authority(TENANT_ID), "scope": WEB_API_DEFAULT,
        "discovery": format!("{}/common/discovery/instance", emu.base_url()),
    });
    let out = Command::new(python())
        .args(["-c", PY])
        .arg(cfg.to_string())
        .env("REQUESTS_CA_BUNDLE", ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "MSAL Python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rs_app(emu: &EmulatorHandle, cache: &Path) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(
        DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(DAEMON_SECRET)),
    )
    .authority(emu.authority(TENANT_ID))
    .add_root_certificate_pem(emu.ca_pem().unwrap().as_bytes())
    .cache_access(Arc::new(FileHook(cache.to_owned())))
    .build()
    .unwrap()
}

fn access_tokens(cache: &Path) -> serde_json::Map<String, Value> {
    let doc: Value = serde_json::from_slice(&std::fs::read(cache).unwrap()).unwrap();
    doc["AccessToken"].as_object().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn msal_python_and_msal_rs_find_each_others_fmi_tokens_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("emulator-ca.pem");
    let emu = Emulator::start(EmulatorConfig::default().with_tls(Some(ca.clone())))
        .await
        .unwrap();

    // MSAL Python writes an FMI token; msal-rs finds it with no request.
    let py_cache = dir.path().join("python-first.json");
    let w = run_python(&emu, &ca, &py_cache, "write", "Agents/FromPython");
    assert_eq!(w["fmi"]["token_source"], "identity_provider", "{w}");
    let py_token = w["fmi"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&py_token)["fmi_path"], "Agents/FromPython");
    let written = access_tokens(&py_cache);
    let (key, entry) = written.iter().next().unwrap();
    assert!(key.contains("-atext-"), "{key}");
    assert!(entry["ext_cache_key"].is_string(), "{entry}");
    let before = token_requests(&emu);
    let app = rs_app(&emu, &py_cache);
    assert_eq!(
        get(&app, Some("Agents/FromPython"), None).await,
        (py_token.clone(), TokenSource::Cache)
    );
    assert_eq!(token_requests(&emu), before, "no request");
    // A request without the path (or with another) does not get it.
    let (plain, src) = get(&app, None, None).await;
    assert_eq!(src, TokenSource::IdentityProvider);
    assert_ne!(plain, py_token);
    let (other, src) = get(&app, Some("Agents/Other"), None).await;
    assert_eq!(src, TokenSource::IdentityProvider);
    assert_ne!(other, py_token);
    // msal-rs kept MSAL Python's entry as it was.
    assert_eq!(access_tokens(&py_cache).get(key), Some(entry));

    // msal-rs writes an FMI token; MSAL Python finds it with no request,
    // and its plain request does not get it.
    let rs_cache = dir.path().join("rust-first.json");
    let app = rs_app(&emu, &rs_cache);
    let (rs_token, src) = get(&app, Some("Agents/FromRust"), None).await;
    assert_eq!(src, TokenSource::IdentityProvider);
    let before = token_requests(&emu);
    let r = run_python(&emu, &ca, &rs_cache, "read", "Agents/FromRust");
    assert_eq!(r["fmi"]["token_source"], "cache", "{r}");
    assert_eq!(r["fmi"]["access_token"], rs_token.as_str());
    assert_eq!(r["plain"]["token_source"], "identity_provider", "{r}");
    assert_ne!(r["plain"]["access_token"], rs_token.as_str());
    assert_eq!(token_requests(&emu), before + 1, "only the plain request");
}
