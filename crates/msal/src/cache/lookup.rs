//! Lookups: access, refresh and ID tokens, app metadata, accounts.
//!
//! Each lookup probes an index (a few hash probes) and then checks every
//! candidate field by field, with the same rules a full scan would apply.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use crate::secret::{AccessTokenSecret, IdTokenSecret, RefreshTokenSecret};

use super::index::{AtFields, Hai, IdtFields, app_key, at_key, idt_key, owner_key};
use super::model::{
    AccessTokenQuery, Account, AccountData, AppMetadata, CachedAccessToken, CachedIdToken,
    CachedRefreshToken, EntryHandle, RefreshTokenQuery, SharedToken,
};
use super::store::{Slot, Text};
use super::{EXPIRY_NONE, EXPIRY_UNKNOWN, TokenCache, scopes};

/// Authority types listed by `accounts()`: MSAL Python's two, plus the
/// one MSAL Node writes for other OIDC providers.
const LISTED_AUTHORITY_TYPES: [&str; 3] = ["MSSTS", "ADFS", "Generic"];

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn field<'a>(t: &'a Option<Text>, base: &'a str) -> Option<&'a str> {
    t.as_ref().map(|t| t.get(base))
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Whether an entry's owner is `want` (`None` = app token).
fn owner_is(hai: &Hai, base: &str, want: Option<&str>) -> bool {
    match (hai.owner(base), want) {
        (Some(None), None) => true,
        (Some(Some(h)), Some(w)) => eq(h, w),
        _ => false,
    }
}

/// An optional partition field: a query value must be matched, no query
/// value means the entry must have none.
fn partition_ok(entry: Option<&str>, query: Option<&str>) -> bool {
    match (non_empty(entry), non_empty(query)) {
        (None, None) => true,
        (Some(e), Some(q)) => eq(e, q),
        _ => false,
    }
}

/// An access-token query and its answer, owned (see
/// [`TokenCache::find_shared_token`]).
#[derive(Debug, Clone)]
pub(crate) struct QueryMemo {
    client_id: Box<str>,
    home_account_id: Option<Box<str>>,
    environments: Box<[Box<str>]>,
    realms: Box<[Box<str>]>,
    scopes: Box<[Box<str>]>,
    token_type: Option<Box<str>>,
    key_id: Option<Box<str>>,
    ext_cache_key: Option<Box<str>>,
    ext_cache_key_legacy: Option<Box<str>>,
    user_assertion_hash: Option<Box<str>>,
    /// When it was answered (a clock moved back may revive expired tokens).
    at: i64,
    found: Option<std::sync::Arc<SharedToken>>,
}

fn boxed(items: &[&str]) -> Box<[Box<str>]> {
    items.iter().map(|s| Box::from(*s)).collect()
}

fn same(owned: &[Box<str>], q: &[&str]) -> bool {
    owned.len() == q.len() && owned.iter().zip(q).all(|(a, b)| **a == **b)
}

impl QueryMemo {
    fn new(q: &AccessTokenQuery<'_>, at: i64, found: Option<std::sync::Arc<SharedToken>>) -> Self {
        Self {
            client_id: q.client_id.into(),
            home_account_id: q.home_account_id.map(Into::into),
            environments: boxed(q.environments),
            realms: boxed(q.realms),
            scopes: boxed(q.scopes),
            token_type: q.token_type.map(Into::into),
            key_id: q.key_id.map(Into::into),
            ext_cache_key: q.ext_cache_key.map(Into::into),
            ext_cache_key_legacy: q.ext_cache_key_legacy.map(Into::into),
            user_assertion_hash: q.user_assertion_hash.map(Into::into),
            at,
            found,
        }
    }

    /// Whether `q` is exactly the memoized query (byte for byte).
    fn answers(&self, q: &AccessTokenQuery<'_>) -> bool {
        *self.client_id == *q.client_id
            && self.home_account_id.as_deref() == q.home_account_id
            && same(&self.scopes, q.scopes)
            && same(&self.realms, q.realms)
            && same(&self.environments, q.environments)
            && self.token_type.as_deref() == q.token_type
            && self.key_id.as_deref() == q.key_id
            && self.ext_cache_key.as_deref() == q.ext_cache_key
            && self.ext_cache_key_legacy.as_deref() == q.ext_cache_key_legacy
            && self.user_assertion_hash.as_deref() == q.user_assertion_hash
    }
}

/// Whether an entry's key names the `atext` descriptor in its third slot
/// (`<hai>-<env>-atext-...`), whatever its fields say.
fn has_atext_key(slot: &Slot<AtFields>, src: &str, base: &str) -> bool {
    let hai_len = match slot.f.hai.owner(base) {
        Some(Some(h)) => h.len(),
        _ => 0,
    };
    let env_len = field(&slot.f.environment, base).map_or(0, str::len);
    let at = hai_len + 1 + env_len + 1;
    slot.key
        .get(src)
        .get(at..at + 6)
        .is_some_and(|d| d.eq_ignore_ascii_case("atext-"))
}

/// Whether `key` ends with `-<hash>` (ASCII case-insensitively).
fn key_ends_with_hash(key: &str, hash: &str) -> bool {
    key.len() > hash.len()
        && key
            .get(key.len() - hash.len() - 1..)
            .is_some_and(|t| t.as_bytes()[0] == b'-' && t[1..].eq_ignore_ascii_case(hash))
}

/// Extended keys (spec `extended-keys.md`): a query with parts matches only
/// an entry with the same parts, in either hash form (its `ext_cache_key`,
/// its `ext` parts, else its key's suffix); a query without parts matches
/// only entries that are not extended at all.
fn ext_ok(slot: &Slot<AtFields>, src: &str, extended_type: bool, q: &AccessTokenQuery<'_>) -> bool {
    let base = slot.body.base(src);
    let f = &slot.f;
    let stored = non_empty(field(&f.ext_cache_key, base));
    let (want, legacy) = (
        non_empty(q.ext_cache_key),
        non_empty(q.ext_cache_key_legacy),
    );
    if want.is_none() && legacy.is_none() {
        return stored.is_none()
            && f.ext_parts.is_none()
            && !extended_type
            && !has_atext_key(slot, src, base);
    }
    let either = |h: &str| want.is_some_and(|w| eq(h, w)) || legacy.is_some_and(|l| eq(h, l));
    if let Some(h) = stored {
        return either(h);
    }
    if let Some(p) = f.ext_parts.as_deref() {
        return want.is_some_and(|w| eq(p, w));
    }
    if extended_type || has_atext_key(slot, src, base) {
        let key = slot.key.get(src);
        return want.is_some_and(|w| key_ends_with_hash(key, w))
            || legacy.is_some_and(|l| key_ends_with_hash(key, l));
    }
    false
}

/// Whether an access token entry matches `q` (expiry aside).
pub(crate) fn at_matches(
    slot: &Slot<AtFields>,
    src: &str,
    q: &AccessTokenQuery<'_>,
    check_scopes: bool,
) -> bool {
    let base = slot.body.base(src);
    let f = &slot.f;
    let credential_type = field(&f.credential_type, base).unwrap_or("");
    let token_type = field(&f.token_type, base).unwrap_or("Bearer");
    let wanted_type = q.token_type.unwrap_or("Bearer");
    let extended_type = eq(credential_type, "atext");
    let type_ok = if eq(wanted_type, "Bearer") {
        (eq(credential_type, "AccessToken") || extended_type) && eq(token_type, "Bearer")
    } else {
        (eq(credential_type, "AccessToken")
            || extended_type
            || eq(credential_type, "AccessToken_With_AuthScheme"))
            && eq(token_type, wanted_type)
    };
    type_ok
        && f.secret.is_some()
        && f.expires_on.is_some()
        && owner_is(&f.hai, base, non_empty(q.home_account_id))
        // A null client id is a system-assigned managed identity's (MSAL Python), found by `""`.
        && eq(field(&f.client_id, base).unwrap_or(""), q.client_id)
        && field(&f.environment, base).is_some_and(|e| q.environments.iter().any(|w| eq(e, w)))
        && (q.realms.is_empty()
            || q.realms
                .iter()
                .any(|w| eq(field(&f.realm, base).unwrap_or(""), w)))
        && (!check_scopes || scopes::is_subset(q.scopes, field(&f.target, base).unwrap_or("")))
        && q.key_id
            .is_none_or(|k| field(&f.key_id, base).or(field(&f.key_id_alt, base)) == Some(k))
        && ext_ok(slot, src, extended_type, q)
        && partition_ok(
            field(&f.uah, base).or(field(&f.uah_alt, base)),
            q.user_assertion_hash,
        )
}

impl TokenCache {
    /// Candidate access token ids for `q`, from the index.
    #[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
    fn at_candidates(&self, q: &AccessTokenQuery<'_>) -> Vec<u32> {
        let owner = non_empty(q.home_account_id);
        let mut ids = Vec::new();
        for env in q.environments {
            if q.realms.is_empty() {
                ids.extend_from_slice(self.at.ix[1].get(owner_key(
                    &self.seed,
                    owner,
                    env,
                    q.client_id,
                )));
            }
            for realm in q.realms {
                ids.extend_from_slice(self.at.ix[0].get(at_key(
                    &self.seed,
                    owner,
                    env,
                    q.client_id,
                    realm,
                )));
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The unexpired (`expires_on > now`) entry matching `q` with the latest
    /// expiry. Probes the index without collecting candidates: a slot seen
    /// twice (two realms of one entry) cannot change the best one.
    fn best_access_token(&self, q: &AccessTokenQuery<'_>, now: i64) -> Option<&Slot<AtFields>> {
        let src = &*self.src;
        let owner = non_empty(q.home_account_id);
        let mut best: Option<(&Slot<AtFields>, i64)> = None;
        let mut consider = |ids: &[u32]| {
            for &id in ids {
                let Some(slot) = self.at.get(id) else {
                    continue;
                };
                let Some(exp) = slot.f.expires_on else {
                    continue;
                };
                if exp > now && best.is_none_or(|(_, b)| exp > b) && at_matches(slot, src, q, true)
                {
                    best = Some((slot, exp));
                }
            }
        };
        for env in q.environments {
            if q.realms.is_empty() {
                consider(self.at.ix[1].get(owner_key(&self.seed, owner, env, q.client_id)));
            }
            for realm in q.realms {
                consider(self.at.ix[0].get(at_key(&self.seed, owner, env, q.client_id, realm)));
            }
        }
        best.map(|(slot, _)| slot)
    }

    /// The unexpired access token matching `q` with the latest expiry, as
    /// results share it: decoded on the entry's first hit, then shared.
    ///
    /// The first query since the cache last changed is memoized with its
    /// answer: a partition serves one query over and over (a daemon's scopes
    /// in a tenant), and comparing the query with the memo touches far less
    /// memory than probing the index. The memo is exact: the query is
    /// compared field by field, and a token that expired since is dropped
    /// as the index would drop it (the best match can only expire, never be
    /// overtaken, while nothing changes).
    pub(crate) fn find_shared_token(
        &self,
        q: &AccessTokenQuery<'_>,
        now: i64,
    ) -> Option<std::sync::Arc<SharedToken>> {
        if let Some(memo) = self.hot.get()
            && now >= memo.at
            && memo.answers(q)
        {
            return memo.found.clone().filter(|t| t.expires_on > now);
        }
        let found = self.find_shared_token_in_index(q, now);
        let _ = self
            .hot
            .set(Box::new(QueryMemo::new(q, now, found.clone())));
        found
    }

    fn find_shared_token_in_index(
        &self,
        q: &AccessTokenQuery<'_>,
        now: i64,
    ) -> Option<std::sync::Arc<SharedToken>> {
        let slot = self.best_access_token(q, now)?;
        let src = &*self.src;
        Some(
            slot.f
                .shared
                .get_or_init(|| {
                    let base = slot.body.base(src);
                    let f = &slot.f;
                    std::sync::Arc::new(SharedToken {
                        secret: AccessTokenSecret::new(field(&f.secret, base).unwrap_or("")),
                        token_type: field(&f.token_type, base).unwrap_or("Bearer").into(),
                        expires_on: f.expires_on.unwrap_or(0),
                        refresh_on: f.refresh_on,
                        scopes: scopes::split(field(&f.target, base).unwrap_or(""))
                            .map(str::to_owned)
                            .collect(),
                        realm: field(&f.realm, base).map(Into::into),
                    })
                })
                .clone(),
        )
    }

    /// The unexpired (`expires_on > now`) access token matching `q` with the
    /// latest expiry. The caller applies its refresh buffer.
    #[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
    #[cfg_attr(feature = "test-internals", visibility::make(pub))]
    pub(crate) fn find_access_token(
        &self,
        q: &AccessTokenQuery<'_>,
        now: i64,
    ) -> Option<CachedAccessToken> {
        let src = &*self.src;
        let slot = self.best_access_token(q, now)?;
        let expires_on = slot.f.expires_on.unwrap_or(0);
        let base = slot.body.base(src);
        let f = &slot.f;
        Some(CachedAccessToken {
            secret: AccessTokenSecret::new(field(&f.secret, base).unwrap_or("")),
            token_type: field(&f.token_type, base).unwrap_or("Bearer").to_owned(),
            target: field(&f.target, base).unwrap_or("").to_owned(),
            expires_on,
            // MSAL.NET reads its legacy `ext_expires_on` when the field is
            // absent or 0 (spec §1.1); so do we.
            extended_expires_on: f
                .extended_expires_on
                .filter(|e| *e != 0)
                .or(f.ext_expires_on.filter(|e| *e != 0))
                .unwrap_or(expires_on),
            refresh_on: f.refresh_on,
            realm: field(&f.realm, base).unwrap_or("").to_owned(),
            environment: field(&f.environment, base).unwrap_or("").to_owned(),
            home_account_id: f.hai.owner(base).flatten().map(str::to_owned),
        })
    }

    /// Deletes the access tokens matching `q` (whatever their scopes) that
    /// expired before `now`, as MSAL Python does while it searches.
    #[cfg_attr(feature = "test-internals", visibility::make(pub))]
    pub(crate) fn remove_expired_access_tokens(&mut self, q: &AccessTokenQuery<'_>, now: i64) {
        let src = &*self.src;
        let expired: Vec<u32> = self
            .at_candidates(q)
            .into_iter()
            .filter(|&id| {
                self.at.get(id).is_some_and(|s| {
                    s.f.expires_on.is_some_and(|e| e < now) && at_matches(s, src, q, false)
                })
            })
            .collect();
        if expired.is_empty() {
            return;
        }
        for id in expired {
            self.remove_at(id);
        }
        self.at.compact(&self.src);
    }

    /// The refresh tokens of an account: newest `last_modification_time`
    /// first (then in the order of `q.environments`, then document order).
    #[cfg_attr(feature = "test-internals", visibility::make(pub))]
    pub(crate) fn find_refresh_tokens(&self, q: &RefreshTokenQuery<'_>) -> Vec<CachedRefreshToken> {
        let src = &*self.src;
        if q.home_account_id.is_empty() {
            return Vec::new();
        }
        let mut found: Vec<(i64, usize, u32)> = Vec::new();
        for (rank, env) in q.environments.iter().enumerate() {
            for &id in self.rt.ix[0].get(owner_key(&self.seed, Some(q.home_account_id), env, "")) {
                let Some(slot) = self.rt.get(id) else {
                    continue;
                };
                let base = slot.body.base(src);
                let f = &slot.f;
                let ok = field(&f.credential_type, base).is_some_and(|c| eq(c, "RefreshToken"))
                    && f.secret.is_some()
                    && owner_is(&f.hai, base, Some(q.home_account_id))
                    && field(&f.environment, base).is_some_and(|e| eq(e, env))
                    && q.client_id
                        .is_none_or(|c| field(&f.client_id, base).is_some_and(|x| eq(x, c)))
                    && q.family_id
                        .is_none_or(|fam| non_empty(field(&f.family_id, base)) == Some(fam))
                    && partition_ok(
                        field(&f.uah, base).or(field(&f.uah_alt, base)),
                        q.user_assertion_hash,
                    );
                if ok && !found.iter().any(|&(_, _, x)| x == id) {
                    found.push((f.last_modification_time.unwrap_or(i64::MIN), rank, id));
                }
            }
        }
        found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        found
            .into_iter()
            .filter_map(|(_, _, id)| {
                let slot = self.rt.get(id)?;
                let base = slot.body.base(src);
                let secret = field(&slot.f.secret, base)?;
                Some(CachedRefreshToken {
                    secret: RefreshTokenSecret::new(secret),
                    client_id: field(&slot.f.client_id, base).unwrap_or("").to_owned(),
                    family_id: non_empty(field(&slot.f.family_id, base)).map(str::to_owned),
                    handle: EntryHandle::new(slot.key.get(src).to_owned(), secret),
                })
            })
            .collect()
    }

    /// The ID token of an account for `client_id`, in `realm` if given, as
    /// results share it (read once per entry).
    pub(crate) fn find_shared_id_token(
        &self,
        home_account_id: &str,
        environments: &[&str],
        client_id: &str,
        realm: Option<&str>,
    ) -> Option<IdTokenSecret> {
        let slot = self.id_token_slot(home_account_id, environments, client_id, realm)?;
        let src = &*self.src;
        Some(
            slot.f
                .shared
                .get_or_init(|| {
                    IdTokenSecret::new(field(&slot.f.secret, slot.body.base(src)).unwrap_or(""))
                })
                .clone(),
        )
    }

    /// The ID token of an account for `client_id`, in `realm` if given (the
    /// first environment that has one wins).
    #[cfg_attr(feature = "test-internals", visibility::make(pub))]
    #[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
    pub(crate) fn find_id_token(
        &self,
        home_account_id: &str,
        environments: &[&str],
        client_id: &str,
        realm: Option<&str>,
    ) -> Option<CachedIdToken> {
        let slot = self.id_token_slot(home_account_id, environments, client_id, realm)?;
        let base = slot.body.base(&self.src);
        let f = &slot.f;
        Some(CachedIdToken {
            secret: IdTokenSecret::new(field(&f.secret, base).unwrap_or("")),
            realm: field(&f.realm, base).unwrap_or("").to_owned(),
            environment: field(&f.environment, base).unwrap_or("").to_owned(),
            client_id: field(&f.client_id, base).unwrap_or("").to_owned(),
        })
    }

    fn id_token_slot(
        &self,
        home_account_id: &str,
        environments: &[&str],
        client_id: &str,
        realm: Option<&str>,
    ) -> Option<&Slot<IdtFields>> {
        let src = &*self.src;
        for env in environments {
            for &id in self.idt.ix[0].get(idt_key(&self.seed, home_account_id, env, client_id)) {
                let Some(slot) = self.idt.get(id) else {
                    continue;
                };
                let base = slot.body.base(src);
                let f = &slot.f;
                let ok = field(&f.credential_type, base).is_some_and(|c| eq(c, "IdToken"))
                    && owner_is(&f.hai, base, Some(home_account_id))
                    && field(&f.environment, base).is_some_and(|e| eq(e, env))
                    && field(&f.client_id, base).is_some_and(|c| eq(c, client_id))
                    && realm.is_none_or(|r| eq(field(&f.realm, base).unwrap_or(""), r));
                if ok && f.secret.is_some() {
                    return Some(slot);
                }
            }
        }
        None
    }

    /// The AppMetadata of `client_id` (the first environment that has one).
    #[cfg_attr(feature = "test-internals", visibility::make(pub))]
    pub(crate) fn app_metadata(
        &self,
        environments: &[&str],
        client_id: &str,
    ) -> Option<AppMetadata> {
        let src = &*self.src;
        for env in environments {
            for &id in self.app.ix[0].get(app_key(&self.seed, env, client_id)) {
                let Some(slot) = self.app.get(id) else {
                    continue;
                };
                let base = slot.body.base(src);
                let f = &slot.f;
                let (Some(e), Some(c)) = (field(&f.environment, base), field(&f.client_id, base))
                else {
                    continue;
                };
                if eq(e, env) && eq(c, client_id) {
                    return Some(AppMetadata {
                        client_id: c.to_owned(),
                        environment: e.to_owned(),
                        family_id: non_empty(field(&f.family_id, base)).map(str::to_owned),
                    });
                }
            }
        }
        None
    }

    /// The signed-in accounts (spec 6.1): the Account entries of the first
    /// environment in `environments` that has any (the configured host
    /// first, then its aliases), of type MSSTS, ADFS or Generic, one per
    /// `home_account_id` (the last entry wins, at the first one's place).
    /// An empty `environments` lists every environment.
    pub fn accounts(&self, environments: &[&str]) -> Vec<Account> {
        if environments.is_empty() {
            return self.accounts_where(|_| true);
        }
        for env in environments {
            let found = self.accounts_where(|e| eq(e, env));
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }

    fn accounts_where(&self, env_ok: impl Fn(&str) -> bool) -> Vec<Account> {
        let src = &*self.src;
        let mut out: Vec<Account> = Vec::new();
        let mut seen: HashMap<&str, usize, _> = HashMap::with_hasher(self.seed);
        for (_, slot) in self.acc.iter() {
            let base = slot.body.base(src);
            let f = &slot.f;
            let (Some(Some(hai)), Some(env), Some(kind)) = (
                f.hai.owner(base),
                field(&f.environment, base),
                field(&f.authority_type, base),
            ) else {
                continue;
            };
            if !env_ok(env) || !LISTED_AUTHORITY_TYPES.contains(&kind) {
                continue;
            }
            let account: Account = f
                .shared
                .get_or_init(|| {
                    AccountData {
                        home_account_id: hai.to_owned(),
                        environment: env.to_owned(),
                        realm: field(&f.realm, base).unwrap_or("").to_owned(),
                        local_account_id: field(&f.local_account_id, base).unwrap_or("").to_owned(),
                        username: field(&f.username, base).unwrap_or("").to_owned(),
                        authority_type: kind.to_owned(),
                        account_source: field(&f.account_source, base).map(str::to_owned),
                        name: field(&f.name, base).map(str::to_owned),
                    }
                    .into()
                })
                .clone();
            match seen.get(hai) {
                Some(&i) => out[i] = account,
                None => {
                    seen.insert(hai, out.len());
                    out.push(account);
                }
            }
        }
        out
    }

    /// Whether the cache holds any refresh token.
    #[cfg_attr(feature = "test-internals", visibility::make(pub))]
    pub(crate) fn has_refresh_tokens(&self) -> bool {
        let src = &*self.src;
        self.rt.iter().any(|(_, s)| {
            s.f.secret.is_some()
                && field(&s.f.credential_type, s.body.base(src))
                    .is_some_and(|c| eq(c, "RefreshToken"))
        })
    }

    /// The latest `expires_on` of any access token (for a storage expiry hint).
    #[cfg_attr(feature = "test-internals", visibility::make(pub))]
    pub(crate) fn latest_access_token_expiry(&self) -> Option<i64> {
        let memo = self.max_expiry.load(Ordering::Relaxed);
        let value = if memo == EXPIRY_UNKNOWN {
            let max = self
                .at
                .iter()
                .filter_map(|(_, s)| s.f.expires_on)
                .max()
                .unwrap_or(EXPIRY_NONE);
            self.max_expiry
                .store(max.max(EXPIRY_NONE), Ordering::Relaxed);
            max
        } else {
            memo
        };
        (value > EXPIRY_NONE).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{AuthorityType, TokenResponse, TokenResponseRecord};

    const ENVS: [&str; 2] = ["login.microsoftonline.com", "login.windows.net"];

    fn add_app_token(c: &mut TokenCache, secret: &str, scope: &str, expires_in: i64, now: i64) {
        let scopes = vec![scope.to_owned()];
        c.add(&TokenResponseRecord {
            client_id: "app",
            environment: ENVS[0],
            realm: "tenant",
            authority_type: AuthorityType::Mssts,
            requested_scopes: &scopes,
            response: &TokenResponse {
                access_token: Some(AccessTokenSecret::new(secret)),
                expires_in: Some(expires_in),
                ..TokenResponse::default()
            },
            account_source: None,
            username_hint: None,
            user_assertion_hash: None,
            refresh_token_to_rotate: None,
            now,
        })
        .expect("added");
    }

    fn query<'a>(scopes: &'a [&'a str]) -> AccessTokenQuery<'a> {
        AccessTokenQuery {
            client_id: "app",
            environments: &ENVS,
            realms: &["tenant"],
            scopes,
            ..AccessTokenQuery::default()
        }
    }

    fn found(c: &TokenCache, scopes: &[&str], now: i64) -> Option<String> {
        c.find_shared_token(&query(scopes), now)
            .map(|t| t.secret.expose_secret().to_owned())
    }

    #[test]
    fn the_query_memo_answers_as_the_index_does_through_changes() {
        let mut c = TokenCache::new();
        add_app_token(&mut c, "a", "api://x/.default", 100, 1000);
        // First query answered from the index, then from the memo.
        assert_eq!(found(&c, &["api://x/.default"], 1010).as_deref(), Some("a"));
        assert!(c.hot.get().is_some());
        assert_eq!(found(&c, &["api://x/.default"], 1020).as_deref(), Some("a"));
        // Another query is not answered by the memo.
        assert_eq!(found(&c, &["api://y/.default"], 1020), None);
        assert_eq!(
            c.find_shared_token(
                &AccessTokenQuery {
                    client_id: "other",
                    ..query(&["api://x/.default"])
                },
                1020
            )
            .map(|_| ()),
            None
        );
        // The memoized token expires: gone, as the index would say.
        assert_eq!(found(&c, &["api://x/.default"], 1100), None);
        // A clock moved back is answered from the index again.
        assert_eq!(found(&c, &["api://x/.default"], 1001).as_deref(), Some("a"));
        // A change drops the memo: the new token wins.
        add_app_token(&mut c, "b", "api://x/.default", 3600, 1050);
        assert!(c.hot.get().is_none());
        assert_eq!(found(&c, &["api://x/.default"], 1060).as_deref(), Some("b"));
        // A removal too.
        c.remove_app_tokens("app", &ENVS);
        assert_eq!(found(&c, &["api://x/.default"], 1060), None);
    }
}
