//! Cache behaviour: lookups, rotation, removal, tolerance of other MSALs' entries.

use msal::cache::{
    AccessTokenQuery, Account, AuthorityType, RefreshTokenQuery, TokenCache, TokenResponse,
    TokenResponseRecord,
};
use msal::secret::{AccessTokenSecret, IdTokenSecret, RefreshTokenSecret};
use serde_json::{Value, json};

const CID: &str = "11111111-1111-1111-1111-111111111111";
const OTHER_CID: &str = "22222222-2222-2222-2222-222222222222";
const ENV: &str = "login.microsoftonline.com";
const TID: &str = "tenant-1";
const NOW: i64 = 1_700_000_000;

use msal_test_support::jwt::b64url_json as b64;

fn id_token(claims: Value) -> String {
    format!("{}.{}.sig", b64(&json!({"alg": "none"})), b64(&claims))
}

fn hai(uid: &str) -> String {
    format!("{uid}.{TID}")
}

/// A sign-in response for user `uid`.
fn sign_in(uid: &str, at: &str, rt: &str, foci: bool) -> TokenResponse {
    TokenResponse {
        access_token: Some(AccessTokenSecret::new(at)),
        expires_in: Some(3600),
        refresh_token: Some(RefreshTokenSecret::new(rt)),
        scope: Some("User.Read openid profile".into()),
        foci: foci.then(|| "1".to_owned()),
        id_token: Some(IdTokenSecret::new(id_token(
            json!({"oid": uid, "sub": format!("sub-{uid}"), "preferred_username": format!("{uid}@example.com"), "tid": TID}),
        ))),
        client_info: Some(b64(&json!({"uid": uid, "utid": TID}))),
        ..TokenResponse::default()
    }
}

fn add(cache: &mut TokenCache, cid: &str, resp: &TokenResponse, now: i64) -> Option<Account> {
    cache
        .add(&TokenResponseRecord {
            client_id: cid,
            environment: ENV,
            realm: TID,
            authority_type: AuthorityType::Mssts,
            requested_scopes: &[],
            response: resp,
            account_source: Some("authorization_code"),
            username_hint: None,
            user_assertion_hash: None,
            refresh_token_to_rotate: None,
            now,
        })
        .unwrap()
}

fn at_query<'a>(hai: &'a str, scopes: &'a [&'a str]) -> AccessTokenQuery<'a> {
    AccessTokenQuery {
        client_id: CID,
        home_account_id: Some(hai),
        environments: &[ENV],
        realms: &[TID],
        scopes,
        ..AccessTokenQuery::default()
    }
}

fn doc(cache: &TokenCache) -> Value {
    serde_json::from_slice(&cache.serialize()).unwrap()
}

#[test]
fn finds_the_right_users_token_case_insensitively() {
    let mut cache = TokenCache::new();
    add(
        &mut cache,
        CID,
        &sign_in("alice", "at-a", "rt-a", false),
        NOW,
    );
    add(&mut cache, CID, &sign_in("bob", "at-b", "rt-b", false), NOW);
    let (a, b) = (hai("alice"), hai("bob"));
    assert_eq!(
        cache
            .find_access_token(&at_query(&a, &["user.read"]), NOW)
            .unwrap()
            .secret
            .expose_secret(),
        "at-a"
    );
    assert_eq!(
        cache
            .find_access_token(&at_query(&b, &["USER.READ", "openid"]), NOW)
            .unwrap()
            .secret
            .expose_secret(),
        "at-b"
    );
    assert!(
        cache
            .find_access_token(&at_query(&a, &["Mail.Read"]), NOW)
            .is_none()
    );
    let mut q = at_query(&a, &[]);
    q.client_id = OTHER_CID;
    assert!(cache.find_access_token(&q, NOW).is_none());
    let mut q = at_query(&a, &[]);
    q.realms = &["other-tenant"];
    assert!(cache.find_access_token(&q, NOW).is_none());
    q.realms = &["common", TID];
    assert!(cache.find_access_token(&q, NOW).is_some());
    let accounts = cache.accounts(&[ENV]);
    assert_eq!(
        accounts.iter().map(|a| a.username()).collect::<Vec<_>>(),
        ["alice@example.com", "bob@example.com"]
    );
}

#[test]
fn latest_expiry_wins_and_expired_tokens_can_be_purged() {
    let mut cache = TokenCache::new();
    let mut short = sign_in("alice", "at-short", "rt", false);
    short.scope = Some("User.Read".into());
    short.expires_in = Some(100);
    add(&mut cache, CID, &short, NOW);
    add(
        &mut cache,
        CID,
        &sign_in("alice", "at-long", "rt", false),
        NOW,
    );
    let a = hai("alice");
    assert_eq!(
        cache
            .find_access_token(&at_query(&a, &["User.Read"]), NOW)
            .unwrap()
            .secret
            .expose_secret(),
        "at-long"
    );
    assert_eq!(cache.latest_access_token_expiry(), Some(NOW + 3600));
    cache.mark_unchanged();
    cache.remove_expired_access_tokens(&at_query(&a, &[]), NOW + 200);
    assert!(cache.has_state_changed());
    assert_eq!(doc(&cache)["AccessToken"].as_object().unwrap().len(), 1);
    cache.remove_expired_access_tokens(&at_query(&a, &[]), NOW + 4000);
    assert_eq!(doc(&cache)["AccessToken"], json!({}));
    assert_eq!(cache.latest_access_token_expiry(), None);
}

#[test]
fn refresh_token_rotates_in_place_under_its_stored_key() {
    // A refresh token stored by another library under its own key format.
    let a = hai("alice");
    let input = json!({
        "RefreshToken": {
            "foreign-key-1": {"credential_type": "RefreshToken", "secret": "old", "home_account_id": a,
                "environment": ENV, "client_id": CID, "extra": {"keep": true}},
            "second": {"credential_type": "RefreshToken", "secret": "x", "home_account_id": "someone.else",
                "environment": ENV, "client_id": CID}
        }
    });
    let mut cache = TokenCache::deserialize(input.to_string().as_bytes()).unwrap();
    let rts = cache.find_refresh_tokens(&RefreshTokenQuery {
        home_account_id: &a,
        environments: &[ENV],
        client_id: Some(CID),
        ..RefreshTokenQuery::default()
    });
    assert_eq!(rts.len(), 1);
    let resp = TokenResponse {
        access_token: Some(AccessTokenSecret::new("new-at")),
        refresh_token: Some(RefreshTokenSecret::new("new-rt")),
        client_info: Some(b64(&json!({"uid": "alice", "utid": TID}))),
        ..TokenResponse::default()
    };
    cache
        .add(&TokenResponseRecord {
            client_id: CID,
            environment: ENV,
            realm: TID,
            authority_type: AuthorityType::Mssts,
            requested_scopes: &["User.Read".into()],
            response: &resp,
            account_source: None,
            username_hint: None,
            user_assertion_hash: None,
            refresh_token_to_rotate: Some(&rts[0].handle),
            now: NOW + 5,
        })
        .unwrap();
    let d = doc(&cache);
    let rt = d["RefreshToken"].as_object().unwrap();
    assert_eq!(
        rt.keys().collect::<Vec<_>>(),
        ["foreign-key-1", "second"],
        "same key, same place, no new RT"
    );
    assert_eq!(rt["foreign-key-1"]["secret"], "new-rt");
    assert_eq!(rt["foreign-key-1"]["last_modification_time"], "1700000005");
    assert_eq!(rt["foreign-key-1"]["extra"], json!({"keep": true}));
    assert!(
        d.get("Account").is_none(),
        "a silent refresh writes no Account"
    );
    assert_eq!(d["AccessToken"].as_object().unwrap().len(), 1);
}

#[test]
fn a_refresh_token_re_keyed_by_another_msal_meanwhile_is_still_rotated() {
    let a = hai("alice");
    let rt = |key: &str, secret: &str| {
        json!({ "RefreshToken": { key: {"credential_type": "RefreshToken", "secret": secret,
            "home_account_id": a, "environment": ENV, "client_id": CID} } })
    };
    let before =
        TokenCache::deserialize(rt("python-style-key", "old").to_string().as_bytes()).unwrap();
    let handle = before.find_refresh_tokens(&RefreshTokenQuery {
        home_account_id: &a,
        environments: &[ENV],
        client_id: Some(CID),
        ..RefreshTokenQuery::default()
    })[0]
        .handle
        .clone();
    let resp = TokenResponse {
        access_token: Some(AccessTokenSecret::new("new-at")),
        refresh_token: Some(RefreshTokenSecret::new("new-rt")),
        client_info: Some(b64(&json!({"uid": "alice", "utid": TID}))),
        ..TokenResponse::default()
    };
    let record = |h| TokenResponseRecord {
        client_id: CID,
        environment: ENV,
        realm: TID,
        authority_type: AuthorityType::Mssts,
        requested_scopes: &[],
        response: &resp,
        account_source: None,
        username_hint: None,
        user_assertion_hash: None,
        refresh_token_to_rotate: Some(h),
        now: NOW + 5,
    };
    // Meanwhile MSAL.NET saved the file and the same token moved to its own key.
    let mut cache =
        TokenCache::deserialize(rt("DOTNET-STYLE-KEY", "old").to_string().as_bytes()).unwrap();
    cache.add(&record(&handle)).unwrap();
    let d = doc(&cache);
    let rts = d["RefreshToken"].as_object().unwrap();
    assert_eq!(rts.keys().collect::<Vec<_>>(), ["DOTNET-STYLE-KEY"]);
    assert_eq!(
        rts["DOTNET-STYLE-KEY"]["secret"], "new-rt",
        "the rotation was lost"
    );

    // Removed meanwhile (or already rotated by another process): stays gone.
    let mut cache =
        TokenCache::deserialize(rt("other", "someone-elses").to_string().as_bytes()).unwrap();
    cache.add(&record(&handle)).unwrap();
    let d = doc(&cache);
    let rts = d["RefreshToken"].as_object().unwrap();
    assert_eq!(rts.len(), 1);
    assert_eq!(rts["other"]["secret"], "someone-elses");
}

#[test]
fn remove_account_follows_python_and_also_removes_foreign_keyed_entries() {
    let mut cache = TokenCache::new();
    add(
        &mut cache,
        CID,
        &sign_in("alice", "at-a", "rt-a", false),
        NOW,
    );
    add(
        &mut cache,
        OTHER_CID,
        &sign_in("alice", "at-a2", "rt-a2", false),
        NOW,
    );
    add(&mut cache, CID, &sign_in("bob", "at-b", "rt-b", false), NOW);
    let a = hai("alice");
    // Leftovers another MSAL would have written for alice, under its keys.
    let mut d = doc(&cache);
    d["AccessToken"]["node-style-at-key-"] = json!({"credential_type": "AccessToken", "secret": "n",
        "home_account_id": a, "environment": ENV, "client_id": CID, "realm": TID, "target": "x",
        "cached_at": "1", "expires_on": "9999999999"});
    d["RefreshToken"]["node-style-rt---"] = json!({"credential_type": "RefreshToken", "secret": "n",
        "home_account_id": a, "environment": ENV, "client_id": CID});
    let mut cache = TokenCache::deserialize(d.to_string().as_bytes()).unwrap();
    let alice = cache
        .accounts(&[ENV])
        .into_iter()
        .find(|x| x.home_account_id() == a)
        .unwrap();
    cache.remove_account(&alice, CID);
    let d = doc(&cache);
    let owners = |section: &str| -> Vec<(String, String)> {
        d[section]
            .as_object()
            .unwrap()
            .values()
            .map(|e| {
                (
                    e["home_account_id"].as_str().unwrap().to_owned(),
                    e["client_id"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    // Every AT and IdToken of alice (any app) gone; the other app's RT stays.
    assert!(owners("AccessToken").iter().all(|(h, _)| h != &a));
    assert!(owners("IdToken").iter().all(|(h, _)| h != &a));
    assert_eq!(
        owners("RefreshToken")
            .iter()
            .filter(|(h, _)| h == &a)
            .collect::<Vec<_>>(),
        [&(a.clone(), OTHER_CID.to_owned())]
    );
    assert!(owners("Account").iter().all(|(h, _)| h != &a));
    assert_eq!(cache.accounts(&[ENV]).len(), 1);
    // Bob untouched.
    assert_eq!(
        owners("AccessToken")
            .iter()
            .filter(|(h, _)| h == &hai("bob"))
            .count(),
        1
    );
    assert_eq!(
        owners("RefreshToken")
            .iter()
            .filter(|(h, _)| h == &hai("bob"))
            .count(),
        1
    );
    assert_eq!(
        d["AppMetadata"].as_object().unwrap().len(),
        2,
        "AppMetadata is never removed"
    );
}

#[test]
fn family_refresh_tokens_are_found_and_removed_with_the_family() {
    let mut cache = TokenCache::new();
    add(
        &mut cache,
        OTHER_CID,
        &sign_in("alice", "at", "frt", true),
        NOW,
    );
    let a = hai("alice");
    let q = RefreshTokenQuery {
        home_account_id: &a,
        environments: &[ENV],
        family_id: Some("1"),
        ..Default::default()
    };
    let frts = cache.find_refresh_tokens(&q);
    assert_eq!(
        (
            frts.len(),
            frts[0].client_id.as_str(),
            frts[0].family_id.as_deref()
        ),
        (1, OTHER_CID, Some("1"))
    );
    // CID joins the family (its own sign-in had foci), then signs alice out: the FRT goes too.
    add(
        &mut cache,
        CID,
        &sign_in("alice", "at2", "frt2", true),
        NOW + 10,
    );
    let newest = cache.find_refresh_tokens(&q);
    assert_eq!(
        newest
            .iter()
            .map(|r| r.secret.expose_secret())
            .collect::<Vec<_>>(),
        ["frt2", "frt"]
    );
    let alice = cache.accounts(&[ENV]).remove(0);
    cache.remove_account(&alice, CID);
    assert!(
        cache
            .find_refresh_tokens(&RefreshTokenQuery {
                home_account_id: &a,
                environments: &[ENV],
                ..Default::default()
            })
            .is_empty()
    );
}

#[test]
fn odd_entries_are_kept_and_skipped() {
    let a = hai("alice");
    let input = json!({
        "AccessToken": {
            "not-an-object": "hello",
            "numbers": {"credential_type": "AccessToken", "secret": "num", "home_account_id": a, "environment": ENV,
                "client_id": CID, "realm": TID, "target": "User.Read", "expires_on": 9_999_999_999_i64, "cached_at": 1},
            "bad-expiry": {"credential_type": "AccessToken", "secret": "bad", "home_account_id": a, "environment": ENV,
                "client_id": CID, "realm": TID, "target": "User.Read", "expires_on": "soon"},
            "pop": {"credential_type": "AccessToken_With_AuthScheme", "secret": "pop", "home_account_id": a,
                "environment": ENV, "client_id": CID, "realm": TID, "target": "User.Read", "token_type": "pop",
                "expires_on": "9999999999"},
            "app-node": {"credential_type": "AccessToken", "secret": "app", "home_account_id": "", "environment": ENV,
                "client_id": CID, "realm": TID, "target": "api/.default", "expires_on": "9999999999"}
        },
        "RefreshToken": {"fam-null": {"credential_type": "RefreshToken", "secret": "r", "home_account_id": a,
            "environment": ENV, "client_id": CID, "family_id": null, "ext": {"a": 1}}},
        "Account": {"no-type": {"home_account_id": a, "environment": ENV, "realm": TID}}
    });
    let text = input.to_string();
    let cache = TokenCache::deserialize(text.as_bytes()).unwrap();
    let found = cache
        .find_access_token(&at_query(&a, &["user.read"]), NOW)
        .unwrap();
    assert_eq!(found.secret.expose_secret(), "num");
    let mut pop = at_query(&a, &["user.read"]);
    pop.token_type = Some("pop");
    assert_eq!(
        cache
            .find_access_token(&pop, NOW)
            .unwrap()
            .secret
            .expose_secret(),
        "pop"
    );
    let app = AccessTokenQuery {
        client_id: CID,
        environments: &[ENV],
        realms: &[TID],
        scopes: &["api/.default"],
        ..AccessTokenQuery::default()
    };
    assert_eq!(
        cache
            .find_access_token(&app, NOW)
            .unwrap()
            .secret
            .expose_secret(),
        "app"
    );
    let rts = cache.find_refresh_tokens(&RefreshTokenQuery {
        home_account_id: &a,
        environments: &[ENV],
        ..Default::default()
    });
    assert_eq!((rts.len(), rts[0].family_id.clone()), (1, None));
    assert!(
        cache.accounts(&[ENV]).is_empty(),
        "an Account without authority_type is not listed"
    );
    // Everything survives a save, meaning for meaning.
    let back: Value = serde_json::from_slice(&cache.serialize()).unwrap();
    assert_eq!(back, input);
}

#[test]
fn accounts_fall_back_to_aliases_and_deduplicate() {
    let a = hai("alice");
    let acct = |env: &str, realm: &str, user: &str| {
        json!({"home_account_id": a, "environment": env, "realm": realm, "local_account_id": "alice",
            "username": user, "authority_type": "MSSTS"})
    };
    let input = json!({"Account": {
        "k1": acct("login.windows.net", "t1", "first"),
        "k2": acct("login.windows.net", "t2", "second"),
        "k3": {"home_account_id": "x.y", "environment": "login.windows.net", "realm": "t", "authority_type": "MSA"}
    }});
    let cache = TokenCache::deserialize(input.to_string().as_bytes()).unwrap();
    let found = cache.accounts(&[ENV, "login.windows.net"]);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].realm(), found[0].username()), ("t2", "second"));
    assert_eq!(found[0].environment(), "login.windows.net");
    assert!(cache.accounts(&[ENV]).is_empty());
    assert_eq!(cache.accounts(&[]).len(), 1);
}

#[test]
fn remove_every_account_in_a_loop_leaves_no_tokens() {
    let mut cache = TokenCache::new();
    for i in 0..50 {
        add(
            &mut cache,
            CID,
            &sign_in(
                &format!("user{i}"),
                &format!("at{i}"),
                &format!("rt{i}"),
                i % 3 == 0,
            ),
            NOW,
        );
    }
    let text = cache.serialize();
    let mut cache = TokenCache::deserialize(&text).unwrap();
    let mut rounds = 0;
    loop {
        let accounts = cache.accounts(&[ENV]);
        let Some(first) = accounts.first() else { break };
        cache.remove_account(first, CID);
        rounds += 1;
        assert!(rounds <= 50);
    }
    let [at, rt, idt, acc, app] = cache.entry_counts();
    assert_eq!((at, rt, idt, acc, app), (0, 0, 0, 0, 1));
}

fn record_for<'a>(resp: &'a TokenResponse, scopes: &'a [String]) -> TokenResponseRecord<'a> {
    TokenResponseRecord {
        client_id: CID,
        environment: ENV,
        realm: TID,
        authority_type: AuthorityType::Mssts,
        requested_scopes: scopes,
        response: resp,
        account_source: Some("password"),
        username_hint: None,
        user_assertion_hash: None,
        refresh_token_to_rotate: None,
        now: NOW,
    }
}

#[test]
fn adfs_sign_in_uses_sub_and_the_ropc_username() {
    let mut cache = TokenCache::new();
    let resp = TokenResponse {
        access_token: Some(AccessTokenSecret::new("at")),
        refresh_token: Some(RefreshTokenSecret::new("rt")),
        id_token: Some(IdTokenSecret::new(id_token(
            json!({"sub": "adfs-sub", "upn": ""}),
        ))),
        ..TokenResponse::default()
    };
    let scopes = vec!["openid".to_owned()];
    let mut rec = record_for(&resp, &scopes);
    rec.realm = "adfs";
    rec.environment = "ADFS.Contoso.Example";
    rec.authority_type = AuthorityType::Adfs;
    rec.username_hint = Some("CONTOSO\\alice");
    let account = cache.add(&rec).unwrap().unwrap();
    assert_eq!(account.home_account_id(), "adfs-sub");
    assert_eq!(
        (account.username(), account.authority_type()),
        ("CONTOSO\\alice", "ADFS")
    );
    assert_eq!(account.account_source(), Some("password"));
    assert_eq!(account.environment(), "adfs.contoso.example");
    let d = doc(&cache);
    let acc = d["Account"].as_object().unwrap();
    assert_eq!(
        acc.keys().collect::<Vec<_>>(),
        ["adfs-sub-adfs.contoso.example-adfs"]
    );
    assert_eq!(
        acc["adfs-sub-adfs.contoso.example-adfs"]["local_account_id"],
        "adfs-sub"
    );
    assert_eq!(
        d["AccessToken"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["target"],
        "openid"
    );
}

#[test]
fn generic_authorities_are_written_as_mssts_and_other_grants_record_no_source() {
    let mut cache = TokenCache::new();
    let mut resp = sign_in("alice", "at", "rt", false);
    resp.client_info = None;
    let scopes = vec![];
    let mut rec = record_for(&resp, &scopes);
    rec.authority_type = AuthorityType::Generic;
    rec.account_source = Some("urn:ietf:params:oauth:grant-type:jwt-bearer");
    let account = cache.add(&rec).unwrap().unwrap();
    assert_eq!(account.home_account_id(), "sub-alice");
    assert_eq!(account.authority_type(), "MSSTS");
    assert_eq!(account.account_source(), None);
    let d = doc(&cache);
    let entry = d["Account"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert!(entry.get("account_source").is_none());
    assert_eq!(cache.accounts(&[ENV]), vec![account]);
}

#[test]
fn bad_responses_are_errors_and_write_nothing() {
    let mut cache = TokenCache::new();
    let scopes = vec![];
    let mut resp = sign_in("alice", "at", "rt", false);
    resp.client_info = Some("%%%".into());
    assert!(matches!(
        cache.add(&record_for(&resp, &scopes)),
        Err(msal::Error::Protocol(_))
    ));
    let mut resp = sign_in("alice", "at", "rt", false);
    resp.id_token = Some(IdTokenSecret::new("not-a-jwt"));
    assert!(cache.add(&record_for(&resp, &scopes)).is_err());
    let mut resp = sign_in("alice", "at", "rt", false);
    resp.client_info = None;
    resp.id_token = Some(IdTokenSecret::new(id_token(json!({"oid": "x"}))));
    assert!(cache.add(&record_for(&resp, &scopes)).is_err());
    assert_eq!(cache.serialize(), b"{}");
    assert!(!cache.has_state_changed());
}

#[test]
fn key_bound_and_partitioned_tokens() {
    let mut cache = TokenCache::new();
    let mut resp = sign_in("alice", "pop-at", "rt", false);
    resp.token_type = Some("pop".into());
    resp.key_id = Some("kid-1".into());
    resp.ext_cache_key = Some("ExtHash".into());
    resp.expires_on = Some(NOW + 100);
    resp.expires_in = None;
    let scopes = vec![];
    let mut rec = record_for(&resp, &scopes);
    rec.user_assertion_hash = Some("uah");
    cache.add(&rec).unwrap();
    let d = doc(&cache);
    let (key, at) = d["AccessToken"].as_object().unwrap().iter().next().unwrap();
    assert!(
        key.ends_with(
            "-atext-11111111-1111-1111-1111-111111111111-tenant-1-user.read openid profile-exthash"
        ),
        "{key}"
    );
    assert_eq!(at["expires_on"], (NOW + 100).to_string());
    assert_eq!(
        (at["key_id"].as_str(), at["ext_cache_key"].as_str()),
        (Some("kid-1"), Some("ExtHash"))
    );
    assert_eq!(at["user_assertion_hash"], "uah");
    let a = hai("alice");
    let mut q = at_query(&a, &["User.Read"]);
    assert!(
        cache.find_access_token(&q, NOW).is_none(),
        "a Bearer query never gets a pop token"
    );
    q.token_type = Some("POP");
    assert!(
        cache.find_access_token(&q, NOW).is_none(),
        "needs the extra key and the partition"
    );
    q.ext_cache_key = Some("exthash");
    q.user_assertion_hash = Some("uah");
    assert_eq!(
        cache
            .find_access_token(&q, NOW)
            .unwrap()
            .secret
            .expose_secret(),
        "pop-at"
    );
    q.key_id = Some("kid-2");
    assert!(cache.find_access_token(&q, NOW).is_none());
    q.key_id = Some("kid-1");
    assert!(cache.find_access_token(&q, NOW).is_some());
    let rts = cache.find_refresh_tokens(&RefreshTokenQuery {
        home_account_id: &a,
        environments: &[ENV],
        ..Default::default()
    });
    assert!(rts.is_empty(), "an OBO-partitioned RT needs its hash");
    let rts = cache.find_refresh_tokens(&RefreshTokenQuery {
        home_account_id: &a,
        environments: &[ENV],
        user_assertion_hash: Some("UAH"),
        ..Default::default()
    });
    assert_eq!(rts.len(), 1);
}

#[test]
fn app_tokens_default_expiry_and_removal() {
    let mut cache = TokenCache::new();
    let resp = TokenResponse {
        access_token: Some(AccessTokenSecret::new("app")),
        ..TokenResponse::default()
    };
    let scopes = vec!["api://x/.default".to_owned()];
    let mut rec = record_for(&resp, &scopes);
    rec.account_source = None;
    assert!(cache.add(&rec).unwrap().is_none());
    let q = AccessTokenQuery {
        client_id: CID,
        environments: &[ENV],
        realms: &[],
        scopes: &["API://X/.default"],
        ..Default::default()
    };
    let at = cache.find_access_token(&q, NOW).unwrap();
    assert_eq!(
        (at.expires_on, at.extended_expires_on, at.home_account_id),
        (NOW + 600, NOW + 600, None)
    );
    assert!(!cache.has_refresh_tokens());
    cache.remove_app_tokens("other-client", &[ENV]);
    assert!(cache.find_access_token(&q, NOW).is_some());
    cache.remove_app_tokens(CID, &["login.windows.net", ENV]);
    assert!(cache.find_access_token(&q, NOW).is_none());
    assert_eq!(doc(&cache)["AppMetadata"].as_object().unwrap().len(), 1);
}

#[test]
fn owned_input_loads_like_borrowed_input() {
    let mut cache = TokenCache::new();
    add(&mut cache, CID, &sign_in("alice", "at", "rt", true), NOW);
    let text = cache.serialize();
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(&text);
    let owned = TokenCache::deserialize_owned(with_bom).unwrap();
    assert_eq!(owned.serialize(), text);
    assert!(owned.has_refresh_tokens());
    assert_eq!(
        owned
            .app_metadata(&["login.windows.net", ENV], CID)
            .unwrap()
            .family_id
            .as_deref(),
        Some("1")
    );
    assert!(TokenCache::deserialize_owned(b"{\"a\": \"\xff\"}".to_vec()).is_err());
    assert!(format!("{owned:?}").contains("access_tokens: 1"));
    assert!(!format!("{owned:?}").contains("alice"));
}

/// Spec §10.6: the key-binding field is read under each MSAL's name
/// (`key_id` Python/Node, `kid` .NET, `keyid` Go) when a query asks for a
/// key; §11: `extended_expires_on` missing or 0 falls back to .NET's
/// `ext_expires_on`.
#[test]
fn every_msals_key_binding_field_and_dotnets_ext_expires_on_are_read() {
    let a = hai("alice");
    for field in ["key_id", "kid", "keyid"] {
        let input = json!({ "AccessToken": { "k": {
            "credential_type": "AccessToken", "secret": "bound-at", "home_account_id": a,
            "environment": ENV, "client_id": CID, "realm": TID, "target": "User.Read",
            "cached_at": NOW.to_string(), "expires_on": (NOW + 3600).to_string(),
            field: "kid-1" } } });
        let cache = TokenCache::deserialize(input.to_string().as_bytes()).unwrap();
        let mut q = at_query(&a, &["User.Read"]);
        q.key_id = Some("kid-2");
        assert!(
            cache.find_access_token(&q, NOW).is_none(),
            "{field}: a token bound to another key was returned"
        );
        q.key_id = Some("kid-1");
        assert!(cache.find_access_token(&q, NOW).is_some(), "{field}");
    }
    for ext in [json!(null), json!("0")] {
        let mut at = json!({
            "credential_type": "AccessToken", "secret": "dotnet-at", "home_account_id": a,
            "environment": ENV, "client_id": CID, "realm": TID, "target": "User.Read",
            "cached_at": NOW.to_string(), "expires_on": (NOW + 3600).to_string(),
            "ext_expires_on": (NOW + 7200).to_string() });
        if !ext.is_null() {
            at["extended_expires_on"] = ext.clone();
        }
        let input = json!({ "AccessToken": { "k": at } });
        let cache = TokenCache::deserialize(input.to_string().as_bytes()).unwrap();
        let found = cache
            .find_access_token(&at_query(&a, &["User.Read"]), NOW)
            .unwrap_or_else(|| panic!("extended_expires_on = {ext}"));
        assert_eq!(
            found.extended_expires_on,
            NOW + 7200,
            "extended_expires_on = {ext}"
        );
    }
}
