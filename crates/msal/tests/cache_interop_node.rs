//! Interop with the real MSAL Node (`$MSAL_NODE_DIR`, else the repository's
//! `tests/interop/node`, else `/work/main/tests/interop/node`, holding
//! `node_modules/@azure/msal-node`): a cache MSAL Node wrote (environment
//! `login.windows.net`, its own key formats, realm = tid) loads in msal-rs, its
//! accounts and tokens are found, and removing them leaves nothing behind; and
//! a cache msal-rs wrote from scratch (its own token responses) is used by MSAL
//! Node with no token request, and honours msal-rs's removals.
//! Script: `tests/interop/node/cache_node.js`. Fails (never skips) when node
//! or MSAL Node is missing.

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
/// The public cloud's aliases, the configured host first (what the engine passes).
const ALIASES: [&str; 4] = [
    ENV,
    "login.windows.net",
    "login.microsoft.com",
    "sts.windows.net",
];
const TENANT: &str = "a1b2c3d4-0000-4000-8000-00000000e1d0";
const CLIENT_ID: &str = "5e1f0000-0000-4000-8000-00000000c11d";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn node_dir() -> PathBuf {
    let candidates: Vec<PathBuf> = std::env::var_os("MSAL_NODE_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            repo_root().join("tests/interop/node"),
            PathBuf::from("/work/main/tests/interop/node"),
        ])
        .collect();
    candidates
        .iter()
        .find(|d| d.join("node_modules/@azure/msal-node").is_dir())
        .cloned()
        .unwrap_or_else(|| panic!("MSAL Node not installed (set MSAL_NODE_DIR; bash scripts/test.sh installs it); tried {candidates:?}"))
}

fn run_node(args: &[&str]) -> Value {
    let script = repo_root().join("tests/interop/node/cache_node.js");
    let out = Command::new("node")
        .arg(script)
        .args(args)
        .env("MSAL_NODE_DIR", node_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(
        out.status.success(),
        "cache_node.js {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_cache_msal_node_wrote_loads_its_accounts_are_found_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node.json");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let summary = run_node(&["write", file.to_str().unwrap(), &now.to_string()]);
    assert_eq!(
        summary["accounts"],
        json!(["alice@contoso.example", "bob@contoso.example"])
    );
    let text = std::fs::read(&file).unwrap();
    let original: Value = serde_json::from_slice(&text).unwrap();
    let mut cache = TokenCache::deserialize(&text).unwrap();

    // Everything Node wrote survives a save (re-laid out as Python writes).
    let saved: Value = serde_json::from_slice(&cache.serialize()).unwrap();
    assert_eq!(saved, original);

    // Node stores under login.windows.net: found through the alias list.
    assert!(cache.accounts(&[ENV]).is_empty());
    let accounts = cache.accounts(&ALIASES);
    assert_eq!(
        accounts.iter().map(|a| a.username()).collect::<Vec<_>>(),
        ["alice@contoso.example", "bob@contoso.example"]
    );
    for (i, a) in accounts.iter().enumerate() {
        assert_eq!(a.environment(), "login.windows.net");
        assert_eq!(
            a.name(),
            Some(format!("User {}", a.local_account_id()).as_str())
        );
        // An app configured with /organizations accepts Node's tid realm.
        let q = AccessTokenQuery {
            client_id: CLIENT_ID,
            home_account_id: Some(a.home_account_id()),
            environments: &ALIASES,
            realms: &["organizations", TENANT],
            scopes: &["user.read", "mail.read"],
            ..AccessTokenQuery::default()
        };
        assert_eq!(
            cache
                .find_access_token(&q, now)
                .unwrap()
                .secret
                .expose_secret(),
            format!("node-at-{i}")
        );
        let rts = cache.find_refresh_tokens(&RefreshTokenQuery {
            home_account_id: a.home_account_id(),
            environments: &ALIASES,
            client_id: Some(CLIENT_ID),
            ..RefreshTokenQuery::default()
        });
        assert_eq!(
            rts.iter()
                .map(|r| r.secret.expose_secret())
                .collect::<Vec<_>>(),
            [format!("node-rt-{i}")]
        );
        assert!(
            cache
                .find_id_token(a.home_account_id(), &ALIASES, CLIENT_ID, Some(TENANT))
                .is_some()
        );
    }

    // Remove alice: MSAL Node reading msal-rs's file sees only bob, and gets
    // bob's token from the cache.
    cache.remove_account(&accounts[0], CLIENT_ID);
    std::fs::write(&file, cache.serialize()).unwrap();
    let seen = run_node(&["read", file.to_str().unwrap()]);
    assert_eq!(seen["accounts"].as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(seen["accounts"][0]["username"], "bob@contoso.example");
    assert_eq!(
        seen["silent"]["bob@contoso.example"],
        json!({"access_token": "node-at-1", "from_cache": true})
    );
    assert_eq!(seen["token_requests"], json!([]));

    // Remove bob too: no token, ID token or Account is left under Node's keys.
    cache.remove_account(&accounts[1], CLIENT_ID);
    let [at, rt, idt, acc, _] = cache.entry_counts();
    assert_eq!((at, rt, idt, acc), (0, 0, 0, 0));
    let left: Value = serde_json::from_slice(&cache.serialize()).unwrap();
    for section in ["AccessToken", "RefreshToken", "IdToken", "Account"] {
        assert_eq!(left[section], json!({}), "{section}");
    }
}

use msal_test_support::jwt::b64url_json as b64;

/// msal-rs signs alice and bob in through the authorization code grant (the
/// entries come from `TokenCache::add`, not from a file Node wrote).
fn msal_rs_cache(now: i64) -> TokenCache {
    let mut cache = TokenCache::new();
    let scopes: Vec<String> = [
        "User.Read",
        "Mail.Read",
        "openid",
        "profile",
        "offline_access",
    ]
    .map(String::from)
    .to_vec();
    let users = [
        (
            "0a11ce00-0000-4000-8000-000000000001",
            "alice@contoso.example",
        ),
        (
            "0b0b0000-0000-4000-8000-000000000002",
            "bob@contoso.example",
        ),
    ];
    for (i, (uid, name)) in users.iter().enumerate() {
        let claims = json!({
            "aud": CLIENT_ID, "iss": format!("https://{ENV}/{TENANT}/v2.0"),
            "iat": now, "nbf": now, "exp": now + 3600, "ver": "2.0",
            "oid": uid, "sub": format!("sub-{uid}"), "preferred_username": name,
            "tid": TENANT, "name": format!("Rust User {i}"),
        });
        let resp = TokenResponse {
            access_token: Some(AccessTokenSecret::new(format!("rs-at-{i}"))),
            token_type: Some("Bearer".into()),
            expires_in: Some(3600),
            ext_expires_in: Some(3600),
            refresh_token: Some(RefreshTokenSecret::new(format!("rs-rt-{i}"))),
            scope: Some("User.Read Mail.Read openid profile email".into()),
            id_token: Some(IdTokenSecret::new(format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims)
            ))),
            client_info: Some(b64(&json!({"uid": uid, "utid": TENANT}))),
            ..TokenResponse::default()
        };
        cache
            .add(&TokenResponseRecord {
                client_id: CLIENT_ID,
                environment: ENV,
                realm: TENANT,
                authority_type: AuthorityType::Mssts,
                requested_scopes: &scopes,
                response: &resp,
                account_source: Some("authorization_code"),
                username_hint: None,
                user_assertion_hash: None,
                refresh_token_to_rotate: None,
                now,
            })
            .unwrap();
    }
    cache
}

#[test]
fn msal_node_uses_a_cache_msal_rs_wrote_without_any_request_and_honours_removal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rs.json");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut cache = msal_rs_cache(now);
    std::fs::write(&file, cache.serialize()).unwrap();

    let seen = run_node(&["read", file.to_str().unwrap()]);
    let mut users: Vec<&str> = seen["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    users.sort_unstable();
    assert_eq!(
        users,
        ["alice@contoso.example", "bob@contoso.example"],
        "{seen}"
    );
    for (i, user) in ["alice@contoso.example", "bob@contoso.example"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            seen["silent"][user],
            json!({"access_token": format!("rs-at-{i}"), "from_cache": true}),
            "{seen}"
        );
    }
    assert_eq!(seen["token_requests"], json!([]));

    // msal-rs removes alice: Node no longer sees her, bob still comes from the cache.
    let alice = cache
        .accounts(&[ENV])
        .into_iter()
        .find(|a| a.username() == "alice@contoso.example")
        .unwrap();
    cache.remove_account(&alice, CLIENT_ID);
    std::fs::write(&file, cache.serialize()).unwrap();
    let seen = run_node(&["read", file.to_str().unwrap()]);
    assert_eq!(seen["accounts"].as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(seen["accounts"][0]["username"], "bob@contoso.example");
    assert_eq!(
        seen["silent"]["bob@contoso.example"],
        json!({"access_token": "rs-at-1", "from_cache": true})
    );
    assert_eq!(seen["token_requests"], json!([]));
}
