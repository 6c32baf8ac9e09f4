//! Interop with the real MSAL Python (`$MSAL_PYTHON`, else the repository's
//! `.venv`, else `/work/main/.venv`): caches it writes load in msal-rs, and
//! caches msal-rs writes are used by it without any token request.
//! Scripts: `tests/interop/python/cache_*.py`. Fails (never skips) when no
//! Python with `msal` can be found.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use msal::cache::{
    AccessTokenQuery, AuthorityType, RefreshTokenQuery, TokenCache, TokenResponse,
    TokenResponseRecord,
};
use msal::secret::{AccessTokenSecret, IdTokenSecret, RefreshTokenSecret};
use serde_json::{Value, json};

const ENV: &str = "login.microsoftonline.com";
const TENANT: &str = "a1b2c3d4-0000-4000-8000-00000000e1d0";
const CLIENT_ID: &str = "5e1f0000-0000-4000-8000-00000000c11d";
const GRAPH: &str = "https://graph.microsoft.com/.default";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let candidates: Vec<PathBuf> = std::env::var_os("MSAL_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            repo_root().join(".venv/bin/python"),
            PathBuf::from("/work/main/.venv/bin/python"),
        ])
        .collect();
    for c in &candidates {
        let ok = Command::new(c)
            .args(["-c", "import msal"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return c.clone();
        }
    }
    panic!(
        "no Python with `msal` found (set MSAL_PYTHON; bash scripts/test.sh creates .venv); tried {candidates:?}"
    );
}

/// Runs a script of tests/interop/python and returns its JSON output.
fn run_script(name: &str, args: &[&str]) -> Value {
    let dir = repo_root().join("tests/interop/python");
    let out = Command::new(python())
        .arg(dir.join(name))
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name} printed no JSON ({e})"))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

use msal_test_support::jwt::b64url_json as b64;

fn user_query<'a>(hai: &'a str, scopes: &'a [&'a str]) -> AccessTokenQuery<'a> {
    AccessTokenQuery {
        client_id: CLIENT_ID,
        home_account_id: Some(hai),
        environments: &[ENV],
        realms: &[TENANT],
        scopes,
        ..AccessTokenQuery::default()
    }
}

fn app_query() -> AccessTokenQuery<'static> {
    AccessTokenQuery {
        client_id: CLIENT_ID,
        environments: &[ENV],
        realms: &[TENANT],
        scopes: &[GRAPH],
        ..AccessTokenQuery::default()
    }
}

fn record<'a>(
    resp: &'a TokenResponse,
    scopes: &'a [String],
    grant: Option<&'a str>,
    now: i64,
) -> TokenResponseRecord<'a> {
    TokenResponseRecord {
        client_id: CLIENT_ID,
        environment: ENV,
        realm: TENANT,
        authority_type: AuthorityType::Mssts,
        requested_scopes: scopes,
        response: resp,
        account_source: grant,
        username_hint: None,
        user_assertion_hash: None,
        refresh_token_to_rotate: None,
        now,
    }
}

/// The wire response as msal's protocol layer would hand it over.
fn response_from_json(v: &Value) -> TokenResponse {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let i = |k: &str| v.get(k).and_then(Value::as_i64);
    TokenResponse {
        access_token: s("access_token").map(AccessTokenSecret::new),
        token_type: s("token_type"),
        expires_in: i("expires_in"),
        ext_expires_in: i("ext_expires_in"),
        refresh_in: i("refresh_in"),
        refresh_token: s("refresh_token").map(RefreshTokenSecret::new),
        scope: s("scope"),
        foci: s("foci"),
        id_token: s("id_token").map(IdTokenSecret::new),
        client_info: s("client_info"),
        ..TokenResponse::default()
    }
}

#[test]
fn a_cache_msal_python_wrote_loads_and_msal_rs_finds_its_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("python.json");
    let t = now();
    let summary = run_script(
        "cache_python_writes.py",
        &[file.to_str().unwrap(), &t.to_string()],
    );
    let text = std::fs::read(&file).unwrap();
    let cache = TokenCache::deserialize(&text).unwrap();

    // Saving what Python wrote gives Python's bytes back.
    assert_eq!(
        String::from_utf8(cache.serialize()).unwrap(),
        String::from_utf8(text.clone()).unwrap()
    );

    let accounts = cache.accounts(&[ENV]);
    let names: Vec<&str> = accounts.iter().map(|a| a.username()).collect();
    assert_eq!(names, ["alice@contoso.example", "bob@contoso.example"]);
    assert_eq!(summary["accounts"], json!(names));
    for (i, a) in accounts.iter().enumerate() {
        let at = cache
            .find_access_token(
                &user_query(a.home_account_id(), &["user.read", "Mail.Read"]),
                t,
            )
            .unwrap();
        assert_eq!(at.secret.expose_secret(), format!("py-at-{i}"));
        let rts = cache.find_refresh_tokens(&RefreshTokenQuery {
            home_account_id: a.home_account_id(),
            environments: &[ENV],
            client_id: Some(CLIENT_ID),
            ..RefreshTokenQuery::default()
        });
        assert_eq!(
            rts.iter()
                .map(|r| r.secret.expose_secret())
                .collect::<Vec<_>>(),
            [format!("py-rt-{i}")]
        );
        let idt = cache
            .find_id_token(a.home_account_id(), &[ENV], CLIENT_ID, Some(TENANT))
            .unwrap();
        assert_eq!(
            idt.claims().unwrap().get_str("preferred_username"),
            Some(a.username())
        );
    }
    assert_eq!(
        cache
            .find_access_token(&app_query(), t)
            .unwrap()
            .secret
            .expose_secret(),
        "py-app-at"
    );
}

#[test]
fn msal_rs_writes_the_same_bytes_as_msal_python_for_the_same_responses() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("python.json");
    let t = now();
    let summary = run_script(
        "cache_python_writes.py",
        &[file.to_str().unwrap(), &t.to_string()],
    );
    let python_text = String::from_utf8(std::fs::read(&file).unwrap()).unwrap();
    let python_doc: Value = serde_json::from_str(&python_text).unwrap();
    // Python stamps entries with its own clock: replay each response at the
    // `cached_at` Python recorded for it.
    let cached_at = |secret: &str| -> i64 {
        let ats = python_doc["AccessToken"].as_object().unwrap();
        let at = ats.values().find(|e| e["secret"] == secret).unwrap();
        at["cached_at"].as_str().unwrap().parse().unwrap()
    };
    let mut cache = TokenCache::new();
    let user_scopes: Vec<String> = [
        "User.Read",
        "Mail.Read",
        "offline_access",
        "openid",
        "profile",
    ]
    .map(String::from)
    .to_vec();
    for r in summary["responses"].as_array().unwrap() {
        let resp = response_from_json(r);
        let at = r["access_token"].as_str().unwrap();
        cache
            .add(&record(
                &resp,
                &user_scopes,
                Some("authorization_code"),
                cached_at(at),
            ))
            .unwrap();
    }
    let app = response_from_json(&summary["app_response"]);
    cache
        .add(&record(
            &app,
            &[GRAPH.to_owned()],
            None,
            cached_at("py-app-at"),
        ))
        .unwrap();
    assert_eq!(String::from_utf8(cache.serialize()).unwrap(), python_text);
}

/// msal-rs signs alice and bob in and gets an app token, at `t`.
fn msal_rs_cache(t: i64) -> TokenCache {
    let mut cache = TokenCache::new();
    let scopes: Vec<String> = ["User.Read", "openid", "profile", "offline_access"]
        .map(String::from)
        .to_vec();
    for (i, (uid, name)) in [
        (
            "0a11ce00-0000-4000-8000-000000000001",
            "alice@contoso.example",
        ),
        (
            "0b0b0000-0000-4000-8000-000000000002",
            "bob@contoso.example",
        ),
    ]
    .iter()
    .enumerate()
    {
        let claims = json!({"oid": uid, "sub": format!("sub-{uid}"), "preferred_username": name, "tid": TENANT, "name": "Ünïcode Ñame"});
        let resp = TokenResponse {
            access_token: Some(AccessTokenSecret::new(format!("rs-at-{i}"))),
            token_type: Some("Bearer".into()),
            expires_in: Some(3600),
            ext_expires_in: Some(7200),
            refresh_token: Some(RefreshTokenSecret::new(format!("rs-rt-{i}"))),
            scope: Some("User.Read openid profile".into()),
            id_token: Some(IdTokenSecret::new(format!(
                "{}.{}.",
                b64(&json!({"alg": "none"})),
                b64(&claims)
            ))),
            client_info: Some(b64(&json!({"uid": uid, "utid": TENANT}))),
            ..TokenResponse::default()
        };
        cache
            .add(&record(&resp, &scopes, Some("authorization_code"), t))
            .unwrap();
    }
    let app = TokenResponse {
        access_token: Some(AccessTokenSecret::new("rs-app-at")),
        expires_in: Some(3600),
        ..TokenResponse::default()
    };
    cache
        .add(&record(&app, &[GRAPH.to_owned()], None, t))
        .unwrap();
    cache
}

#[test]
fn msal_python_uses_a_cache_msal_rs_wrote_without_any_request_and_honours_removal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rs.json");
    let t = now();
    let mut cache = msal_rs_cache(t);
    std::fs::write(&file, cache.serialize()).unwrap();

    let seen = run_script("cache_python_reads.py", &[file.to_str().unwrap()]);
    assert_eq!(
        seen["token_requests"],
        json!([]),
        "MSAL Python made a token request: {seen}"
    );
    let names: Vec<&str> = seen["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice@contoso.example", "bob@contoso.example"]);
    assert_eq!(
        seen["accounts"][0]["local_account_id"],
        "0a11ce00-0000-4000-8000-000000000001"
    );
    assert_eq!(seen["accounts"][0]["account_source"], "authorization_code");
    assert_eq!(
        seen["silent"]["alice@contoso.example"],
        json!({"access_token": "rs-at-0", "source": "cache"})
    );
    assert_eq!(
        seen["silent"]["bob@contoso.example"],
        json!({"access_token": "rs-at-1", "source": "cache"})
    );
    assert_eq!(
        (
            seen["app_token"].as_str(),
            seen["app_token_source"].as_str()
        ),
        (Some("rs-app-at"), Some("cache"))
    );

    // msal-rs signs alice out; MSAL Python no longer sees her, bob still works from the cache.
    let alice = cache
        .accounts(&[ENV])
        .into_iter()
        .find(|a| a.username().starts_with("alice"))
        .unwrap();
    cache.remove_account(&alice, CLIENT_ID);
    std::fs::write(&file, cache.serialize()).unwrap();
    let seen = run_script("cache_python_reads.py", &[file.to_str().unwrap()]);
    assert_eq!(seen["token_requests"], json!([]));
    let names: Vec<&str> = seen["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob@contoso.example"]);
    assert_eq!(
        seen["silent"]["bob@contoso.example"]["access_token"],
        "rs-at-1"
    );
    let text = String::from_utf8(std::fs::read(&file).unwrap()).unwrap();
    assert!(
        !text.contains(alice.home_account_id()),
        "an entry of alice is left"
    );
}
