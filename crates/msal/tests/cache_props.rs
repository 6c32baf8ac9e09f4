//! Property tests of the token cache against independent oracles:
//! - loading any layout and saving gives exactly Python's `json.dumps(indent=4)`
//!   of the same data (unknown members, entries, fields and keys included);
//! - indexed lookups give what a plain scan of the entries gives;
//! - removing one account never touches another's entries;
//! - removing every account in a loop leaves no AT, RT, IdToken or Account.

use std::fmt::Write as _;

use msal::cache::{AccessTokenQuery, RefreshTokenQuery, TokenCache};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------
// An ordered JSON tree, written in a random layout and in Python's layout.

#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

/// Python's `json.dumps(obj, indent=4)` (ensure_ascii), written independently
/// of the library.
fn py_dumps(v: &J, level: usize, out: &mut String) {
    fn esc(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                ' '..='~' => out.push(c),
                _ => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        write!(out, "\\u{u:04x}").unwrap();
                    }
                }
            }
        }
        out.push('"');
    }
    let pad = |out: &mut String, l: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(l));
    };
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Int(i) => write!(out, "{i}").unwrap(),
        J::Str(s) => esc(s, out),
        J::Arr(a) if a.is_empty() => out.push_str("[]"),
        J::Obj(o) if o.is_empty() => out.push_str("{}"),
        J::Arr(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, level + 1);
                py_dumps(x, level + 1, out);
            }
            pad(out, level);
            out.push(']');
        }
        J::Obj(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, level + 1);
                esc(k, out);
                out.push_str(": ");
                py_dumps(x, level + 1, out);
            }
            pad(out, level);
            out.push('}');
        }
    }
}

fn rnd(salt: &mut u64, style: u64) -> u64 {
    *salt = salt
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*salt >> 33) ^ style
}

/// Any valid JSON layout of the same data: random whitespace, random
/// escapes, raw UTF-8 or `\u` escapes. `style` bits pick the variations.
fn any_layout(v: &J, style: u64, out: &mut String, salt: &mut u64) {
    fn esc(s: &str, r: u64, out: &mut String) {
        out.push('"');
        for (i, c) in s.chars().enumerate() {
            let pick = (r >> (i % 60)) & 3;
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' if pick == 1 => out.push_str("\\/"),
                c if (c as u32) < 0x20 => write!(out, "\\u{:04X}", c as u32).unwrap(),
                c if pick == 2 && (c as u32) < 0x10000 => {
                    write!(out, "\\u{:04X}", c as u32).unwrap()
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    let ws = |r: u64, out: &mut String| {
        for _ in 0..(r % 3) {
            out.push([' ', '\n', '\t', '\r'][((r >> 4) % 4) as usize]);
        }
    };
    match v {
        J::Null | J::Bool(_) | J::Int(_) => py_dumps(v, 0, out),
        J::Str(s) => esc(s, rnd(salt, style), out),
        J::Arr(a) => {
            out.push('[');
            ws(rnd(salt, style), out);
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    ws(rnd(salt, style), out);
                }
                any_layout(x, style, out, salt);
                ws(rnd(salt, style), out);
            }
            out.push(']');
        }
        J::Obj(o) => {
            out.push('{');
            ws(rnd(salt, style), out);
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    ws(rnd(salt, style), out);
                }
                esc(k, rnd(salt, style), out);
                ws(rnd(salt, style), out);
                out.push(':');
                ws(rnd(salt, style), out);
                any_layout(x, style, out, salt);
                ws(rnd(salt, style), out);
            }
            out.push('}');
        }
    }
}

fn leaf() -> impl Strategy<Value = J> {
    prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::Int),
        "[a-z/é\"\\\\\u{1F600}\n\u{7f} ]{0,12}".prop_map(J::Str),
    ]
}

fn value() -> impl Strategy<Value = J> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(J::Arr),
            prop::collection::btree_map("[a-zA-Z_é]{1,6}", inner, 0..4)
                .prop_map(|m| J::Obj(m.into_iter().collect())),
        ]
    })
}

fn entry() -> impl Strategy<Value = J> {
    let known = prop::sample::select(vec![
        "credential_type",
        "secret",
        "home_account_id",
        "environment",
        "client_id",
        "realm",
        "target",
        "expires_on",
        "family_id",
        "username",
        "authority_type",
    ]);
    prop_oneof![
        8 => prop::collection::vec((prop_oneof![known.prop_map(String::from), "[a-z]{1,8}"], value()), 0..8)
            .prop_map(|fields| {
                let mut seen = std::collections::HashSet::new();
                J::Obj(fields.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect())
            }),
        1 => value(),
    ]
}

fn document() -> impl Strategy<Value = J> {
    let section = prop::collection::vec(("[a-z0-9.-]{1,20}|[A-Z \u{e9}]{1,5}", entry()), 0..6)
        .prop_map(|es| {
            let mut seen = std::collections::HashSet::new();
            J::Obj(
                es.into_iter()
                    .filter(|(k, _)| seen.insert(k.clone()))
                    .collect(),
            )
        });
    let member = prop_oneof![
        3 => (prop::sample::select(vec!["AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"]).prop_map(String::from), section),
        1 => ("[A-Za-z]{1,8}", value()),
    ];
    prop::collection::vec(member, 0..7).prop_map(|ms| {
        let mut seen = std::collections::HashSet::new();
        J::Obj(
            ms.into_iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_layout_saves_as_python_would(doc in document(), style in any::<u64>()) {
        let mut input = String::new();
        let mut salt = style;
        any_layout(&doc, style, &mut input, &mut salt);
        let mut expected = String::new();
        py_dumps(&doc, 0, &mut expected);
        let cache = TokenCache::deserialize(input.as_bytes()).unwrap();
        let out = String::from_utf8(cache.serialize()).unwrap();
        prop_assert_eq!(&out, &expected, "input: {}", input);
        // Python's layout loads and saves unchanged.
        let again = TokenCache::deserialize(out.as_bytes()).unwrap();
        prop_assert_eq!(String::from_utf8(again.serialize()).unwrap(), expected);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = TokenCache::deserialize(&bytes);
    }

    #[test]
    fn truncated_documents_fail_cleanly(doc in document(), cut in any::<prop::sample::Index>()) {
        let mut text = String::new();
        py_dumps(&doc, 0, &mut text);
        let at = cut.index(text.len());
        if text.is_char_boundary(at) && at < text.len() && at > 0 {
            let e = TokenCache::deserialize(&text.as_bytes()[..at]);
            if let Err(e) = e {
                prop_assert!(e.line.is_some() && e.column.is_some());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Lookups against a plain scan.

const ENVS: [&str; 3] = [
    "login.microsoftonline.com",
    "login.windows.net",
    "Login.MicrosoftOnline.com",
];
const CLIENTS: [&str; 3] = ["c1", "c2", "C1"];
const USERS: [&str; 3] = ["u1.t1", "u2.t1", "U1.T1"];
const REALMS: [&str; 4] = ["t1", "T1", "common", "t2"];
const SCOPES: [&str; 4] = ["User.Read", "mail.read", "Files.Read", "openid"];
const NOW: i64 = 1_700_000_000;

fn pick<T: Clone + std::fmt::Debug + 'static>(v: &'static [T]) -> impl Strategy<Value = T> {
    prop::sample::select(v)
}

fn hai_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => pick(&USERS).prop_map(|u| Some(json!(u))),
        1 => Just(Some(Value::Null)),
        1 => Just(None),
        1 => Just(Some(json!(""))),
        1 => Just(Some(json!(7))),
    ]
}

fn expiry() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => (-50i64..50).prop_map(|d| Some(json!((NOW + d * 10).to_string()))),
        1 => (-50i64..50).prop_map(|d| Some(json!(NOW + d * 10))),
        1 => Just(Some(json!("soon"))),
        1 => Just(None),
    ]
}

fn opt_str(vals: &'static [&'static str]) -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![2 => Just(None), 1 => pick(vals).prop_map(Some)]
}

fn at_entry() -> impl Strategy<Value = Map<String, Value>> {
    (
        (hai_value(), pick(&ENVS), pick(&CLIENTS), opt_str(&REALMS), prop::sample::subsequence(SCOPES.to_vec(), 0..4)),
        (
            opt_str(&["Bearer", "bearer", "pop"]),
            prop_oneof![4 => Just("AccessToken"), 1 => Just("AccessToken_With_AuthScheme"), 1 => Just("ATExt")],
            expiry(),
            opt_str(&["h1"]),
            opt_str(&["x1"]),
            any::<bool>(),
        ),
    )
        .prop_map(|((hai, env, client, realm, scopes), (tt, ct, exp, ext, uah, node_uah))| {
            let mut m = Map::new();
            m.insert("credential_type".into(), json!(ct));
            if let Some(h) = hai {
                m.insert("home_account_id".into(), h);
            }
            m.insert("environment".into(), json!(env));
            m.insert("client_id".into(), json!(client));
            if let Some(r) = realm {
                m.insert("realm".into(), json!(r));
            }
            m.insert("target".into(), json!(scopes.join(" ")));
            if let Some(t) = tt {
                m.insert("token_type".into(), json!(t));
            }
            if let Some(e) = exp {
                m.insert("expires_on".into(), e);
            }
            if let Some(e) = ext {
                m.insert("ext_cache_key".into(), json!(e));
            }
            if let Some(u) = uah {
                m.insert(if node_uah { "userAssertionHash" } else { "user_assertion_hash" }.into(), json!(u));
            }
            m
        })
}

fn rt_entry() -> impl Strategy<Value = Map<String, Value>> {
    (
        hai_value(),
        pick(&ENVS),
        pick(&CLIENTS),
        opt_str(&["1", ""]),
        prop::option::of(0i64..5),
        opt_str(&["x1"]),
    )
        .prop_map(|(hai, env, client, fam, lmt, uah)| {
            let mut m = Map::new();
            m.insert("credential_type".into(), json!("RefreshToken"));
            if let Some(h) = hai {
                m.insert("home_account_id".into(), h);
            }
            m.insert("environment".into(), json!(env));
            m.insert("client_id".into(), json!(client));
            if let Some(f) = fam {
                m.insert("family_id".into(), json!(f));
            }
            if let Some(l) = lmt {
                m.insert("last_modification_time".into(), json!(l.to_string()));
            }
            if let Some(u) = uah {
                m.insert("user_assertion_hash".into(), json!(u));
            }
            m
        })
}

fn acc_entry() -> impl Strategy<Value = Map<String, Value>> {
    (
        hai_value(),
        pick(&ENVS),
        pick(&REALMS),
        opt_str(&["MSSTS", "ADFS", "MSA", "Generic"]),
    )
        .prop_map(|(hai, env, realm, kind)| {
            let mut m = Map::new();
            if let Some(h) = hai {
                m.insert("home_account_id".into(), h);
            }
            m.insert("environment".into(), json!(env));
            m.insert("realm".into(), json!(realm));
            m.insert("username".into(), json!(format!("{realm}@x")));
            if let Some(k) = kind {
                m.insert("authority_type".into(), json!(k));
            }
            m
        })
}

/// Sections with keys `k000`, `k001`, ... (so document order is key order)
/// and secrets naming the entry.
fn section(entries: Vec<Map<String, Value>>, prefix: &str) -> Map<String, Value> {
    entries
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            e.insert("secret".into(), json!(format!("{prefix}{i:03}")));
            (format!("k{i:03}"), Value::Object(e))
        })
        .collect()
}

fn eqi(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn s<'a>(e: &'a Value, k: &str) -> Option<&'a str> {
    e.get(k).and_then(Value::as_str)
}

fn int(e: &Value, k: &str) -> Option<i64> {
    match e.get(k)? {
        Value::String(x) => x.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn owner(e: &Value) -> Option<Option<&str>> {
    match e.get("home_account_id") {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(x)) if x.is_empty() => Some(None),
        Some(Value::String(x)) => Some(Some(x)),
        _ => None,
    }
}

fn partition(entry: Option<&str>, query: Option<&str>) -> bool {
    match (
        entry.filter(|x| !x.is_empty()),
        query.filter(|x| !x.is_empty()),
    ) {
        (None, None) => true,
        (Some(a), Some(b)) => eqi(a, b),
        _ => false,
    }
}

#[derive(Debug, Clone)]
struct AtQ {
    user: Option<&'static str>,
    client: &'static str,
    envs: Vec<&'static str>,
    realms: Vec<&'static str>,
    scopes: Vec<&'static str>,
    token_type: Option<&'static str>,
    ext: Option<&'static str>,
    uah: Option<&'static str>,
    now: i64,
}

fn at_query() -> impl Strategy<Value = AtQ> {
    (
        (
            prop::option::of(pick(&USERS)),
            pick(&CLIENTS),
            prop::sample::subsequence(ENVS.to_vec(), 1..3),
        ),
        (
            prop::sample::subsequence(REALMS.to_vec(), 0..3),
            prop::sample::subsequence(SCOPES.to_vec(), 0..3),
            opt_str(&["pop", "Bearer"]),
            opt_str(&["h1", "H1"]),
            opt_str(&["x1"]),
            -20i64..20,
        ),
    )
        .prop_map(
            |((user, client, envs), (realms, scopes, token_type, ext, uah, dt))| AtQ {
                user,
                client,
                envs,
                realms,
                scopes,
                token_type,
                ext,
                uah,
                now: NOW + dt * 10,
            },
        )
}

/// The spec's matching rules, applied to every entry in document order.
fn oracle_at(section: &Map<String, Value>, q: &AtQ) -> Option<String> {
    let mut best: Option<(i64, String)> = None;
    for e in section.values() {
        let ct = s(e, "credential_type").unwrap_or("");
        let tt = s(e, "token_type").unwrap_or("Bearer");
        let want = q.token_type.unwrap_or("Bearer");
        // `ATExt` (MSAL.NET's extended entry) is an access token too.
        let atext = eqi(ct, "ATExt");
        let type_ok = if eqi(want, "Bearer") {
            (eqi(ct, "AccessToken") || atext) && eqi(tt, "Bearer")
        } else {
            (eqi(ct, "AccessToken") || atext || eqi(ct, "AccessToken_With_AuthScheme"))
                && eqi(tt, want)
        };
        // Extended without a hash of its own: only a request whose hash ends
        // its key could match it, and these keys (`k000`) end with none.
        let ext = s(e, "ext_cache_key").filter(|x| !x.is_empty());
        let unmatchable = atext && ext.is_none();
        let Some(exp) = int(e, "expires_on") else {
            continue;
        };
        let target = s(e, "target").unwrap_or("");
        let ok = type_ok
            && exp > q.now
            && match (owner(e), q.user) {
                (Some(None), None) => true,
                (Some(Some(h)), Some(u)) => eqi(h, u),
                _ => false,
            }
            && s(e, "client_id").is_some_and(|c| eqi(c, q.client))
            && s(e, "environment").is_some_and(|x| q.envs.iter().any(|w| eqi(x, w)))
            && (q.realms.is_empty()
                || q.realms.iter().any(|w| eqi(s(e, "realm").unwrap_or(""), w)))
            && q.scopes
                .iter()
                .all(|w| target.split_whitespace().any(|t| eqi(t, w)))
            && !unmatchable
            && partition(ext, q.ext)
            && partition(
                s(e, "user_assertion_hash").or(s(e, "userAssertionHash")),
                q.uah,
            );
        if ok && best.as_ref().is_none_or(|(b, _)| exp > *b) {
            best = Some((exp, s(e, "secret").unwrap_or("").to_owned()));
        }
    }
    best.map(|(_, secret)| secret)
}

fn lib_at(cache: &TokenCache, q: &AtQ) -> Option<String> {
    let query = AccessTokenQuery {
        client_id: q.client,
        home_account_id: q.user,
        environments: &q.envs,
        realms: &q.realms,
        scopes: &q.scopes,
        token_type: q.token_type,
        key_id: None,
        ext_cache_key: q.ext,
        ext_cache_key_legacy: None,
        user_assertion_hash: q.uah,
    };
    cache
        .find_access_token(&query, q.now)
        .map(|t| t.secret.expose_secret().to_owned())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn indexed_lookups_equal_a_plain_scan(
        ats in prop::collection::vec(at_entry(), 0..40),
        rts in prop::collection::vec(rt_entry(), 0..20),
        accs in prop::collection::vec(acc_entry(), 0..12),
        queries in prop::collection::vec(at_query(), 1..12),
        rt_client in prop::option::of(pick(&CLIENTS)),
        rt_family in opt_str(&["1"]),
    ) {
        let (at, rt, acc) = (section(ats, "at"), section(rts, "rt"), section(accs, "acc"));
        let doc = json!({"AccessToken": at, "RefreshToken": rt, "Account": acc});
        let cache = TokenCache::deserialize(doc.to_string().as_bytes()).unwrap();
        // Queries aimed at each entry, so that hits are exercised as much as misses.
        let mut aimed = Vec::new();
        for e in at.values() {
            let (Some(Some(user)), Some(env), Some(client), Some(exp)) =
                (owner(e), s(e, "environment"), s(e, "client_id"), int(e, "expires_on")) else { continue };
            let find = |pool: &[&'static str], v: &str| pool.iter().copied().find(|p| *p == v);
            let (Some(user), Some(env), Some(client)) = (find(&USERS, user), find(&ENVS, env), find(&CLIENTS, client)) else { continue };
            aimed.push(AtQ {
                user: Some(user),
                client,
                envs: vec![env],
                realms: s(e, "realm").and_then(|r| find(&REALMS, r)).into_iter().collect(),
                scopes: SCOPES.iter().copied().filter(|x| s(e, "target").unwrap_or("").split(' ').any(|t| t == *x)).collect(),
                token_type: s(e, "token_type").and_then(|t| find(&["pop", "Bearer"], t)),
                ext: s(e, "ext_cache_key").and(Some("h1")),
                uah: s(e, "user_assertion_hash").or(s(e, "userAssertionHash")).and(Some("x1")),
                now: exp - 1,
            });
        }
        let mut hits = 0;
        for q in &aimed {
            let found = lib_at(&cache, q);
            hits += usize::from(found.is_some());
            prop_assert_eq!(found, oracle_at(&at, q), "aimed query {:?}", q);
        }
        let usable = at.values().filter(|e| s(e, "credential_type") == Some("AccessToken")
            && matches!(s(e, "token_type"), None | Some("Bearer") | Some("bearer"))
            && matches!(owner(e), Some(Some(_))) && int(e, "expires_on").is_some()).count();
        prop_assert!(hits >= usable.min(1), "no aimed query hit ({usable} usable entries)");
        for q in &queries {
            prop_assert_eq!(lib_at(&cache, q), oracle_at(&at, q), "query {:?}", q);
            // Refresh tokens: same set, same order.
            let Some(user) = q.user else { continue };
            let found: Vec<String> = cache
                .find_refresh_tokens(&RefreshTokenQuery {
                    home_account_id: user,
                    environments: &q.envs,
                    client_id: rt_client,
                    family_id: rt_family,
                    user_assertion_hash: q.uah,
                })
                .into_iter()
                .map(|r| r.secret.expose_secret().to_owned())
                .collect();
            let mut expected: Vec<(i64, usize, usize, String)> = rt
                .values()
                .enumerate()
                .filter_map(|(i, e)| {
                    let rank = q.envs.iter().position(|w| s(e, "environment").is_some_and(|x| eqi(x, w)))?;
                    let ok = matches!(owner(e), Some(Some(h)) if eqi(h, user))
                        && rt_client.is_none_or(|c| s(e, "client_id").is_some_and(|x| eqi(x, c)))
                        && rt_family.is_none_or(|f| s(e, "family_id").filter(|x| !x.is_empty()) == Some(f))
                        && partition(s(e, "user_assertion_hash"), q.uah);
                    ok.then(|| (int(e, "last_modification_time").unwrap_or(i64::MIN), rank, i, s(e, "secret").unwrap_or("").to_owned()))
                })
                .collect();
            expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            prop_assert_eq!(found, expected.into_iter().map(|x| x.3).collect::<Vec<_>>());
            // Accounts: first environment with any listed account, one per home account id.
            let listed: Vec<(String, String)> =
                cache.accounts(&q.envs).into_iter().map(|a| (a.home_account_id().to_owned(), a.realm().to_owned())).collect();
            let mut oracle: Vec<(String, String)> = Vec::new();
            for env in &q.envs {
                for e in acc.values() {
                    let (Some(Some(h)), Some(x), Some(k)) = (owner(e), s(e, "environment"), s(e, "authority_type")) else { continue };
                    if !eqi(x, env) || !["MSSTS", "ADFS", "Generic"].contains(&k) { continue; }
                    let realm = s(e, "realm").unwrap_or("").to_owned();
                    match oracle.iter_mut().find(|(oh, _)| oh == h) {
                        Some(slot) => slot.1 = realm,
                        None => oracle.push((h.to_owned(), realm)),
                    }
                }
                if !oracle.is_empty() { break; }
            }
            prop_assert_eq!(listed, oracle);
        }
    }
}

// ---------------------------------------------------------------------------
// Removal.

use msal_test_support::jwt::b64url_json as b64;

#[derive(Debug, Clone)]
struct SignIn {
    user: usize,
    client: usize,
    env: usize,
    realm: usize,
    foci: bool,
    scopes: Vec<&'static str>,
    foreign_copy: bool,
}

fn sign_in() -> impl Strategy<Value = SignIn> {
    (
        0usize..4,
        0usize..2,
        0usize..2,
        0usize..2,
        any::<bool>(),
        prop::sample::subsequence(SCOPES.to_vec(), 1..3),
        any::<bool>(),
    )
        .prop_map(
            |(user, client, env, realm, foci, scopes, foreign_copy)| SignIn {
                user,
                client,
                env,
                realm,
                foci,
                scopes,
                foreign_copy,
            },
        )
}

const R_ENVS: [&str; 2] = ["login.microsoftonline.com", "login.windows.net"];
const R_CLIENTS: [&str; 2] = ["c1", "c2"];

/// Builds a cache from sign-ins through `add`, then adds copies of some
/// entries under MSAL Node's key formats.
fn build(sign_ins: &[SignIn], only_client: Option<usize>) -> TokenCache {
    use msal::cache::{AuthorityType, TokenResponse, TokenResponseRecord};
    use msal::secret::{AccessTokenSecret, IdTokenSecret, RefreshTokenSecret};
    let mut cache = TokenCache::new();
    for (i, si) in sign_ins.iter().enumerate() {
        let client = R_CLIENTS[only_client.unwrap_or(si.client)];
        let uid = format!("user{}", si.user);
        let resp = TokenResponse {
            access_token: Some(AccessTokenSecret::new(format!("at{i}"))),
            expires_in: Some(if i % 3 == 0 { -10 } else { 3600 }),
            refresh_token: Some(RefreshTokenSecret::new(format!("rt{i}"))),
            scope: Some(si.scopes.join(" ")),
            foci: si.foci.then(|| "1".to_owned()),
            id_token: Some(IdTokenSecret::new(format!(
                "{}.{}.s",
                b64(&json!({})),
                b64(&json!({"oid": uid, "sub": uid}))
            ))),
            client_info: Some(b64(&json!({"uid": uid, "utid": "home"}))),
            ..TokenResponse::default()
        };
        cache
            .add(&TokenResponseRecord {
                client_id: client,
                environment: R_ENVS[si.env],
                realm: ["home", "other"][si.realm],
                authority_type: AuthorityType::Mssts,
                requested_scopes: &[],
                response: &resp,
                account_source: Some("authorization_code"),
                username_hint: None,
                user_assertion_hash: None,
                refresh_token_to_rotate: None,
                now: NOW,
            })
            .unwrap();
    }
    // Node-style copies: same fields, keys with trailing slots.
    let mut d: Value = serde_json::from_slice(&cache.serialize()).unwrap();
    for (i, si) in sign_ins.iter().enumerate() {
        if !si.foreign_copy {
            continue;
        }
        for section in ["AccessToken", "RefreshToken", "IdToken", "Account"] {
            let Some(m) = d.get_mut(section).and_then(Value::as_object_mut) else {
                continue;
            };
            let copies: Vec<(String, Value)> = m
                .iter()
                .filter(|(_, e)| e["home_account_id"] == json!(format!("user{}.home", si.user)))
                .map(|(k, e)| (format!("{k}-node-{i}-"), e.clone()))
                .collect();
            m.extend(copies);
        }
    }
    TokenCache::deserialize(d.to_string().as_bytes()).unwrap()
}

fn entries(cache: &TokenCache) -> Vec<(String, String, Value)> {
    let d: Value = serde_json::from_slice(&cache.serialize()).unwrap();
    let mut out = Vec::new();
    for section in [
        "AccessToken",
        "RefreshToken",
        "IdToken",
        "Account",
        "AppMetadata",
    ] {
        if let Some(m) = d.get(section).and_then(Value::as_object) {
            out.extend(
                m.iter()
                    .map(|(k, v)| (section.to_owned(), k.clone(), v.clone())),
            );
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn removing_one_account_never_touches_another(sign_ins in prop::collection::vec(sign_in(), 1..12), pick in any::<prop::sample::Index>(), by_client in 0usize..2) {
        let mut cache = build(&sign_ins, None);
        let accounts = cache.accounts(&[]);
        let victim = accounts[pick.index(accounts.len())].clone();
        let before = entries(&cache);
        cache.remove_account(&victim, R_CLIENTS[by_client]);
        let after = entries(&cache);
        let family = before.iter().any(|(s, _, e)| s == "AppMetadata" && e["client_id"] == R_CLIENTS[by_client]
            && e["environment"] == victim.environment() && e["family_id"] == "1");
        for (section, key, e) in &before {
            let mine = e["home_account_id"] == victim.home_account_id() && e["environment"] == victim.environment();
            let kept = after.iter().any(|(s, k, v)| s == section && k == key && v == e);
            let should_go = mine && match section.as_str() {
                "RefreshToken" => e["client_id"] == R_CLIENTS[by_client] || (family && e["family_id"] == "1"),
                "AppMetadata" => false,
                _ => true,
            };
            prop_assert_eq!(kept, !should_go, "{} {} {}", section, key, e);
        }
        prop_assert_eq!(after.len(), before.iter().filter(|(s, k, _)| after.iter().any(|(s2, k2, _)| s == s2 && k == k2)).count());
    }

    #[test]
    fn removing_every_account_in_a_loop_leaves_no_tokens(sign_ins in prop::collection::vec(sign_in(), 1..16), client in 0usize..2) {
        let mut cache = build(&sign_ins, Some(client));
        let mut rounds = 0;
        while let Some(account) = cache.accounts(&[]).first().cloned() {
            cache.remove_account(&account, R_CLIENTS[client]);
            rounds += 1;
            prop_assert!(rounds <= 64, "remove_account made no progress");
        }
        let [at, rt, idt, acc, _] = cache.entry_counts();
        prop_assert_eq!((at, rt, idt, acc), (0, 0, 0, 0));
        let d: Value = serde_json::from_slice(&cache.serialize()).unwrap();
        for section in ["AccessToken", "RefreshToken", "IdToken", "Account"] {
            prop_assert!(d.get(section).and_then(Value::as_object).is_none_or(|m| m.is_empty()));
        }
    }
}
