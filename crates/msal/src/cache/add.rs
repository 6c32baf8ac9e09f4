//! Token response → entries, exactly as MSAL Python's `TokenCache.add`
//! writes them (spec sections 8 and 9): same fields, same order, same keys.

use serde_json::{Map, Value};

use crate::error::Error;

use super::document::{Top, fields_of};
use super::index::Fields;
use super::json::py::Json;
use super::model::{
    Account, AccountData, AuthorityType, EntryHandle, TokenResponseRecord, secret_digest,
};
use super::store::{Body, Section, Text};
use super::{TokenCache, client_info, keys, scopes};
use crate::protocol::id_token::IdTokenClaims;

fn str_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// Grants after which MSAL Python records `account_source`.
const ACCOUNT_SOURCES: [&str; 5] = [
    "broker",
    "authorization_code",
    "password",
    "urn:ietf:params:oauth:grant-type:device_code",
    "user_fic",
];

fn s(v: &str) -> Json {
    Json::str(v)
}

fn opt(v: Option<&str>) -> Json {
    v.map(Json::str).unwrap_or(Json::Null)
}

/// An empty client id is written as `null`: what MSAL Python writes for a
/// system-assigned managed identity, which has no client id.
fn client_id(v: &str) -> Json {
    opt(Some(v).filter(|v| !v.is_empty()))
}

/// Writes `members` as an entry under `key`, creating the section (at the
/// end of the document) on its first write, as Python's `setdefault` does.
fn put<F: Fields>(
    src: &str,
    order: &mut Vec<Top>,
    top: Top,
    section: &mut Section<F>,
    key: String,
    members: Vec<(&str, Json)>,
) {
    let obj = Json::Obj(
        members
            .into_iter()
            .map(|(k, v)| {
                let mut ek = String::new();
                super::json::py::escape_into(&mut ek, k);
                (ek, v)
            })
            .collect(),
    );
    let mut text = String::with_capacity(512);
    obj.write(&mut text, 2);
    let f = fields_of::<F>(&text);
    section.put(src, Text::Own(key.into()), Body::Own(text.into()), f);
    if !order.contains(&top) {
        order.push(top);
    }
}

impl TokenCache {
    /// Stores a successful token response: the access token, Account (for
    /// sign-in grants), ID token, refresh token (or rotates the one used)
    /// and the app's AppMetadata, each replacing what its key held.
    ///
    /// Returns the account the response belongs to, if it identifies one.
    ///
    /// # Errors
    /// [`Error::Protocol`] if `client_info` or the ID token cannot be
    /// decoded, or an ID token has no `sub` to identify a user without
    /// `client_info`. Nothing is written then.
    #[cfg_attr(feature = "test-internals", visibility::make(pub))]
    pub(crate) fn add(&mut self, rec: &TokenResponseRecord<'_>) -> Result<Option<Account>, Error> {
        let resp = rec.response;
        let env = rec.environment.to_lowercase();
        let env = env.as_str();
        let (realm, cid, now) = (rec.realm, rec.client_id, rec.now);

        let id_token = resp
            .id_token
            .as_ref()
            .map(|t| t.expose_secret())
            .filter(|t| !t.is_empty());
        let claims: Map<String, Value> = match id_token {
            Some(t) => IdTokenClaims::decode(t)?.into_map(),
            None => Map::new(),
        };
        let mut hai = None;
        if let Some(ci) = &resp.client_info {
            hai = client_info::decode(ci)?.home_account_id();
        }
        if hai.is_none() && !claims.is_empty() {
            // ADFS: no client_info, the ID token's subject identifies the user.
            let sub = str_claim(&claims, "sub")
                .ok_or_else(|| Error::protocol("id_token has no sub claim"))?;
            hai = Some(sub.to_owned());
        }
        let hai = hai.as_deref();

        let scope_list: Vec<&str> = match &resp.scope {
            Some(scope) => scopes::split(scope).collect(),
            None => rec.requested_scopes.iter().map(String::as_str).collect(),
        };
        let target = scopes::target(&scope_list);
        let src = std::mem::take(&mut self.src);

        if let Some(at) = resp
            .access_token
            .as_ref()
            .map(|t| t.expose_secret())
            .filter(|t| !t.is_empty())
        {
            let expires_in = resp.expires_in.unwrap_or(match resp.expires_on {
                Some(on) if on != 0 => on.saturating_sub(now),
                _ => 600,
            });
            let ext_expires_in = resp.ext_expires_in.unwrap_or(expires_in);
            // Another scheme than Bearer is keyed by it, unless an extended
            // key (`atext`) already sets the entry apart.
            let scheme = resp
                .token_type
                .as_deref()
                .filter(|t| keys::is_auth_scheme(Some(t)))
                .filter(|_| resp.ext_cache_key.as_deref().is_none_or(str::is_empty));
            let credential_type = if scheme.is_some() {
                keys::ACCESS_TOKEN_WITH_AUTH_SCHEME
            } else {
                "AccessToken"
            };
            let mut m = vec![
                ("credential_type", s(credential_type)),
                ("secret", s(at)),
                ("home_account_id", opt(hai)),
                ("environment", s(env)),
                ("client_id", client_id(cid)),
                ("target", s(&target)),
                ("realm", s(realm)),
                (
                    "token_type",
                    s(resp.token_type.as_deref().unwrap_or("Bearer")),
                ),
                ("cached_at", s(&now.to_string())),
                ("expires_on", s(&now.saturating_add(expires_in).to_string())),
                (
                    "extended_expires_on",
                    s(&now.saturating_add(ext_expires_in).to_string()),
                ),
            ];
            if let Some(kid) = &resp.key_id {
                m.push(("key_id", s(kid)));
            }
            let ext = resp.ext_cache_key.as_deref().filter(|e| !e.is_empty());
            if let Some(ext) = ext {
                m.push(("ext_cache_key", s(ext)));
            }
            if let Some(refresh_in) = resp.refresh_in {
                m.push(("refresh_on", s(&now.saturating_add(refresh_in).to_string())));
            }
            if let Some(h) = rec.user_assertion_hash {
                m.push(("user_assertion_hash", s(h)));
            }
            let key = match scheme {
                Some(t) => keys::access_token_with_auth_scheme(hai, env, cid, realm, &target, t),
                None => keys::access_token(hai, env, cid, realm, &target, ext),
            };
            put(
                &src,
                &mut self.order,
                Top::AccessToken,
                &mut self.at,
                key,
                m,
            );
            self.touched_access_tokens();
        }

        let account = hai.map(|hai| {
            let local = str_claim(&claims, "oid").or_else(|| str_claim(&claims, "sub"));
            // Python: claims.get("preferred_username", claims.get("upn")) or the ROPC name.
            let from_claims = if claims.contains_key("preferred_username") {
                str_claim(&claims, "preferred_username")
            } else {
                str_claim(&claims, "upn")
            };
            let username = [from_claims, rec.username_hint]
                .into_iter()
                .flatten()
                .find(|u| !u.is_empty())
                .unwrap_or("");
            let authority_type = if rec.authority_type == AuthorityType::Adfs || realm == "adfs" {
                "ADFS"
            } else {
                "MSSTS"
            };
            let source = rec.account_source.filter(|g| ACCOUNT_SOURCES.contains(g));
            (
                local,
                AccountData {
                    home_account_id: hai.to_owned(),
                    environment: env.to_owned(),
                    realm: realm.to_owned(),
                    local_account_id: local.unwrap_or("").to_owned(),
                    username: username.to_owned(),
                    authority_type: authority_type.to_owned(),
                    account_source: source.map(str::to_owned),
                    name: None,
                },
            )
        });
        if let (Some((local, a)), Some(_)) = (&account, rec.account_source) {
            let mut m = vec![
                ("home_account_id", s(&a.home_account_id)),
                ("environment", s(env)),
                ("realm", s(realm)),
                ("local_account_id", opt(*local)),
                ("username", s(&a.username)),
                ("authority_type", s(&a.authority_type)),
            ];
            if let Some(source) = &a.account_source {
                m.push(("account_source", s(source)));
            }
            let key = keys::account(hai, env, realm);
            put(&src, &mut self.order, Top::Account, &mut self.acc, key, m);
        }

        if let Some(idt) = id_token {
            let m = vec![
                ("credential_type", s("IdToken")),
                ("secret", s(idt)),
                ("home_account_id", opt(hai)),
                ("environment", s(env)),
                ("realm", s(realm)),
                ("client_id", s(cid)),
            ];
            let key = keys::id_token(hai, env, cid, realm);
            put(&src, &mut self.order, Top::IdToken, &mut self.idt, key, m);
        }

        if let Some(rt) = resp
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret())
            .filter(|t| !t.is_empty())
        {
            match rec.refresh_token_to_rotate {
                Some(handle) => self.rotate(&src, handle, rt, now),
                None => {
                    let mut m = vec![
                        ("credential_type", s("RefreshToken")),
                        ("secret", s(rt)),
                        ("home_account_id", opt(hai)),
                        ("environment", s(env)),
                        ("client_id", s(cid)),
                        ("target", s(&target)),
                        ("last_modification_time", s(&now.to_string())),
                    ];
                    if let Some(foci) = &resp.foci {
                        m.push(("family_id", s(foci)));
                    }
                    if let Some(h) = rec.user_assertion_hash {
                        m.push(("user_assertion_hash", s(h)));
                    }
                    let key = keys::refresh_token(hai, env, cid, Some(&target));
                    put(
                        &src,
                        &mut self.order,
                        Top::RefreshToken,
                        &mut self.rt,
                        key,
                        m,
                    );
                }
            }
        }

        let mut m = vec![("client_id", client_id(cid)), ("environment", s(env))];
        if let Some(foci) = &resp.foci {
            m.push(("family_id", s(foci)));
        }
        put(
            &src,
            &mut self.order,
            Top::AppMetadata,
            &mut self.app,
            keys::app_metadata(env, cid),
            m,
        );

        self.src = src;
        self.changed = true;
        Ok(account.map(|(_, a)| a.into()))
    }

    /// Rotates a refresh token in place: new `secret` and
    /// `last_modification_time`, same key, position and other fields. If
    /// another MSAL re-keyed it since it was read, the same token (same old
    /// secret) is rotated under its new key. A token gone altogether (a
    /// concurrent `remove_account`) stays removed.
    fn rotate(&mut self, src: &str, handle: &EntryHandle, secret: &str, now: i64) {
        let found = self.rt.find(src, &handle.key).or_else(|| {
            // Rare (a foreign re-key or a removal), so a scan is fine here.
            self.rt
                .iter()
                .find(|(_, slot)| {
                    slot.f.secret.as_ref().is_some_and(|t| {
                        secret_digest(t.get(slot.body.base(src))) == handle.secret_digest
                    })
                })
                .map(|(id, _)| id)
        });
        let Some(id) = found else {
            return;
        };
        let Some(slot) = self.rt.get(id) else { return };
        let Some(mut obj) = Json::parse(slot.body.text(src)) else {
            return;
        };
        if !matches!(obj, Json::Obj(_)) {
            return;
        }
        obj.set("secret", Json::str(secret));
        obj.set("last_modification_time", Json::str(&now.to_string()));
        let mut text = String::with_capacity(512);
        obj.write(&mut text, 2);
        let f = fields_of(&text);
        self.rt.replace(src, id, Body::Own(text.into()), f);
    }
}
