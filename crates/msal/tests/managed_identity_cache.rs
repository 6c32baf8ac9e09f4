//! Managed-identity tokens in the app-token cache: what is written (MSAL
//! Python's layout, checked against the real MSAL Python both ways), that
//! identities never share a token, and the persistence hooks.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use msal::Error;
use msal::TokenSource;
use msal::clock::{ManualClock, SystemClock};
use msal::http::BoxFuture;
use msal::managed_identity::{
    Environment, ManagedIdentity, ManagedIdentityApplication, UserAssignedId,
};
use msal::storage::{CacheAccess, CacheAccessArgs, MemoryStore, StorageError, StoreAccess};
use msal_test_support::{Canned, SeenRequest, TestServer};
use serde_json::Value;

const NOW: u64 = 1_700_000_000;
const VAULT: &str = "https://vault.azure.net";

/// One document for every partition, as a single shared cache file is.
#[derive(Default)]
struct OneDocument {
    doc: Mutex<Option<Vec<u8>>>,
    calls: Mutex<Vec<(String, bool, bool)>>,
}

impl OneDocument {
    fn json(&self) -> Value {
        let doc = self
            .doc
            .lock()
            .expect("lock")
            .clone()
            .expect("a saved document");
        serde_json::from_slice(&doc).expect("JSON")
    }
}

impl CacheAccess for OneDocument {
    fn before_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        let doc = self.doc.lock().expect("lock").clone();
        self.calls.lock().expect("lock").push((
            args.partition_key.unwrap_or("").to_owned(),
            args.is_app_cache,
            false,
        ));
        Box::pin(async move { Ok(doc) })
    }

    fn after_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        if let Some(d) = document {
            *self.doc.lock().expect("lock") = Some(d.to_vec());
        }
        self.calls.lock().expect("lock").push((
            args.partition_key.unwrap_or("").to_owned(),
            args.is_app_cache,
            args.has_state_changed,
        ));
        Box::pin(async { Ok(()) })
    }
}

/// An App Service endpoint whose token names the identity it was asked for.
/// `expires_on` is relative to `base` (seconds since the epoch).
async fn app_service(base: fn() -> u64) -> TestServer {
    TestServer::http(move |r: &SeenRequest| {
        let who = r
            .target
            .split('&')
            .find(|p| p.starts_with("client_id=") || p.starts_with("object_id="))
            .unwrap_or("system");
        Canned::json(
            200,
            &format!(
                r#"{{"access_token":"at-for-{who}","expires_on":"{}","token_type":"Bearer"}}"#,
                base() + 86400
            ),
        )
    })
    .await
}

fn fixed() -> u64 {
    NOW
}

fn real_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn env_for(server: &TestServer) -> Environment {
    Environment::from_vars([
        ("IDENTITY_ENDPOINT", format!("{}/msi/token", server.url())),
        ("IDENTITY_HEADER", "h".to_owned()),
    ])
    .arc_agent_path(None)
}

fn app(
    id: ManagedIdentity,
    server: &TestServer,
    access: Arc<dyn CacheAccess>,
) -> ManagedIdentityApplication {
    ManagedIdentityApplication::builder(id)
        .environment(env_for(server))
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .cache_access(access)
        .build()
        .expect("builds")
}

#[tokio::test]
async fn identities_never_share_a_token_in_one_cache() {
    let server = app_service(fixed).await;
    let shared = Arc::new(OneDocument::default());
    let system = app(ManagedIdentity::SystemAssigned, &server, shared.clone());
    let by_client = app(
        ManagedIdentity::UserAssigned(UserAssignedId::ClientId("cid-1".into())),
        &server,
        shared.clone(),
    );
    let by_object = app(
        ManagedIdentity::UserAssigned(UserAssignedId::ObjectId("oid-1".into())),
        &server,
        shared.clone(),
    );

    let t = system
        .acquire_token_for_resource(VAULT)
        .await
        .expect("system");
    assert_eq!(t.access_token().expose_secret(), "at-for-system");
    // The system-assigned token is in the shared document; the others must not take it.
    let t = by_client
        .acquire_token_for_resource(VAULT)
        .await
        .expect("by client id");
    assert_eq!(
        (t.access_token().expose_secret(), t.source()),
        ("at-for-client_id=cid-1", TokenSource::IdentityProvider)
    );
    let t = by_object
        .acquire_token_for_resource(VAULT)
        .await
        .expect("by object id");
    assert_eq!(
        (t.access_token().expose_secret(), t.source()),
        ("at-for-object_id=oid-1", TokenSource::IdentityProvider)
    );
    assert_eq!(server.requests().len(), 3);

    // Each now finds its own.
    for (a, want) in [
        (&system, "at-for-system"),
        (&by_client, "at-for-client_id=cid-1"),
        (&by_object, "at-for-object_id=oid-1"),
    ] {
        let t = a.acquire_token_for_resource(VAULT).await.expect("cached");
        assert_eq!(
            (t.access_token().expose_secret(), t.source()),
            (want, TokenSource::Cache)
        );
    }
    assert_eq!(server.requests().len(), 3);

    let doc = shared.json();
    let mut ids: Vec<Value> = doc["AccessToken"]
        .as_object()
        .expect("ATs")
        .values()
        .map(|e| e["client_id"].clone())
        .collect();
    ids.sort_by_key(|v| v.to_string());
    assert_eq!(
        ids,
        [Value::from("cid-1"), Value::from("oid-1"), Value::Null]
    );
}

#[tokio::test]
async fn the_entry_is_what_msal_python_writes() {
    let server = app_service(fixed).await;
    let shared = Arc::new(OneDocument::default());
    let a = app(ManagedIdentity::SystemAssigned, &server, shared.clone());
    assert_eq!(
        a.cache_partition_key(),
        "system_assigned_managed_identity_managed_identity_AppTokenCache"
    );
    a.acquire_token_for_resource("https://vault.azure.net/.default")
        .await
        .expect("token");
    let doc = shared.json();
    // The system-assigned identity has no client id: null, and an empty key segment.
    let key = "-localhost-accesstoken--managed_identity-https://vault.azure.net";
    let at = &doc["AccessToken"][key];
    assert_eq!(at["credential_type"], "AccessToken", "{doc:#}");
    assert_eq!(at["secret"], "at-for-system");
    assert_eq!(at["home_account_id"], Value::Null);
    assert_eq!(at["environment"], "localhost");
    assert_eq!(at["client_id"], Value::Null);
    assert_eq!(at["realm"], "managed_identity");
    assert_eq!(at["target"], VAULT);
    assert_eq!(at["token_type"], "Bearer");
    assert_eq!(at["cached_at"], NOW.to_string());
    assert_eq!(at["expires_on"], (NOW + 86400).to_string());
    assert_eq!(
        at["refresh_on"],
        (NOW + 43200).to_string(),
        "half of a lifetime over two hours"
    );
    let meta = &doc["AppMetadata"]["appmetadata-localhost-"];
    assert_eq!(
        (&meta["client_id"], &meta["environment"]),
        (&Value::Null, &Value::from("localhost")),
        "{doc:#}"
    );

    // The hooks were told the app-token partition, and the write was a change.
    let calls = shared.calls.lock().expect("lock").clone();
    assert!(
        calls
            .iter()
            .all(|(p, app_cache, _)| p == a.cache_partition_key() && *app_cache),
        "{calls:?}"
    );
    assert!(calls.iter().any(|(_, _, changed)| *changed));
}

#[tokio::test]
async fn a_store_keeps_tokens_for_the_next_process() {
    // The memory store expires entries on the real clock: real time here.
    let server = app_service(real_now).await;
    let access: Arc<dyn CacheAccess> = Arc::new(StoreAccess::new(MemoryStore::new()));
    let real = |access: Arc<dyn CacheAccess>| {
        ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
            .environment(env_for(&server))
            .cache_access(access)
            .build()
            .expect("builds")
    };
    real(access.clone())
        .acquire_token_for_resource(VAULT)
        .await
        .expect("token");
    // A new application (a restarted process) over the same store.
    let again = real(access)
        .acquire_token_for_resource(VAULT)
        .await
        .expect("cached");
    assert_eq!(again.source(), TokenSource::Cache);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_corrupt_stored_document_fails_before_any_request() {
    let server = app_service(fixed).await;
    let shared = Arc::new(OneDocument::default());
    *shared.doc.lock().expect("lock") = Some(b"{\"AccessToken\": [".to_vec());
    let a = app(ManagedIdentity::SystemAssigned, &server, shared.clone());
    let e = a
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("corrupt");
    assert!(matches!(e, Error::CacheFormat(_)), "{e:?}");
    assert_eq!(server.requests().len(), 0);
    assert_eq!(
        shared.doc.lock().expect("lock").as_deref(),
        Some(&b"{\"AccessToken\": ["[..]),
        "nothing overwritten"
    );
}

fn python() -> String {
    let py =
        std::env::var("MSAL_PYTHON").unwrap_or_else(|_| "/work/main/.venv/bin/python".to_owned());
    let ok = Command::new(&py)
        .args(["-c", "import msal, requests"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "MSAL Python is needed for this interop test: set MSAL_PYTHON to a python with msal (scripts/test.sh makes one), tried {py}"
    );
    py
}

/// Runs `script` with MSAL Python and `args`, returns its stdout.
async fn run_python(
    script: &'static str,
    envs: Vec<(&'static str, String)>,
    args: Vec<String>,
) -> String {
    let py = python();
    let out = tokio::task::spawn_blocking(move || {
        let mut c = Command::new(py);
        c.arg("-c").arg(script).args(args);
        for v in [
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "IDENTITY_SERVER_THUMBPRINT",
            "MSI_ENDPOINT",
            "MSI_SECRET",
            "IMDS_ENDPOINT",
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
        ] {
            c.env_remove(v);
        }
        c.envs(envs).output()
    })
    .await
    .expect("thread")
    .expect("python runs");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

const PY_READ: &str = r#"
import json, sys, msal, requests
cache = msal.SerializableTokenCache()
cache.deserialize(open(sys.argv[1]).read())
mi = msal.SystemAssignedManagedIdentity() if sys.argv[2] == "" else msal.UserAssignedManagedIdentity(client_id=sys.argv[2])
client = msal.ManagedIdentityClient(mi, http_client=requests.Session(), token_cache=cache)
r = client.acquire_token_for_client(resource=sys.argv[3])
print(json.dumps({"source": r.get("token_source"), "token": r.get("access_token")}))
"#;

const PY_WRITE: &str = r#"
import json, sys, msal, requests
cache = msal.SerializableTokenCache()
mi = msal.SystemAssignedManagedIdentity() if sys.argv[1] == "" else msal.UserAssignedManagedIdentity(client_id=sys.argv[1])
client = msal.ManagedIdentityClient(mi, http_client=requests.Session(), token_cache=cache)
r = client.acquire_token_for_client(resource=sys.argv[2])
assert r.get("token_source") == "identity_provider", r
print(cache.serialize())
"#;

#[tokio::test]
async fn msal_python_reads_what_msal_rs_wrote() {
    let server = app_service(real_now).await;
    let dir = tempfile::tempdir().expect("tempdir");
    for (id, py_id, want) in [
        (ManagedIdentity::SystemAssigned, "", "at-for-system"),
        (
            ManagedIdentity::UserAssigned(UserAssignedId::ClientId("cid-9".into())),
            "cid-9",
            "at-for-client_id=cid-9",
        ),
    ] {
        let shared = Arc::new(OneDocument::default());
        let a = ManagedIdentityApplication::builder(id)
            .environment(env_for(&server))
            .clock(Arc::new(SystemClock))
            .cache_access(shared.clone())
            .build()
            .expect("builds");
        a.acquire_token_for_resource(VAULT).await.expect("token");
        let file = dir.path().join(format!("cache-{py_id}.json"));
        std::fs::write(
            &file,
            shared.doc.lock().expect("lock").clone().expect("saved"),
        )
        .expect("write");
        // MSAL Python's endpoint points nowhere: only its cache can answer.
        let out = run_python(
            PY_READ,
            vec![
                ("IDENTITY_ENDPOINT", "http://127.0.0.1:9/none".to_owned()),
                ("IDENTITY_HEADER", "h".to_owned()),
            ],
            vec![
                file.display().to_string(),
                py_id.to_owned(),
                VAULT.to_owned(),
            ],
        )
        .await;
        let r: Value = serde_json::from_str(out.trim()).expect("JSON from python");
        assert_eq!(
            (r["source"].as_str(), r["token"].as_str()),
            (Some("cache"), Some(want)),
            "{out}"
        );
    }
}

#[tokio::test]
async fn msal_rs_reads_what_msal_python_wrote() {
    let server = app_service(real_now).await;
    for (id, py_id, want) in [
        (ManagedIdentity::SystemAssigned, "", "at-for-system"),
        (
            ManagedIdentity::UserAssigned(UserAssignedId::ClientId("cid-7".into())),
            "cid-7",
            "at-for-client_id=cid-7",
        ),
    ] {
        let doc = run_python(
            PY_WRITE,
            vec![
                ("IDENTITY_ENDPOINT", format!("{}/msi/token", server.url())),
                ("IDENTITY_HEADER", "h".to_owned()),
            ],
            vec![py_id.to_owned(), VAULT.to_owned()],
        )
        .await;
        let before = server.requests().len();
        let shared = Arc::new(OneDocument::default());
        *shared.doc.lock().expect("lock") = Some(doc.trim().as_bytes().to_vec());
        let a = ManagedIdentityApplication::builder(id)
            .environment(env_for(&server))
            .clock(Arc::new(SystemClock))
            .cache_access(shared)
            .build()
            .expect("builds");
        let t = a.acquire_token_for_resource(VAULT).await.expect("token");
        assert_eq!(
            (t.access_token().expose_secret(), t.source()),
            (want, TokenSource::Cache),
            "{doc}"
        );
        assert_eq!(server.requests().len(), before, "no request");
    }
}
