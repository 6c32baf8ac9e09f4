//! Removal: `remove_account` (spec 6.2) and app tokens.
//!
//! Entries are deleted by the key they are stored under, so entries another
//! MSAL wrote under its own key format go too, and so does whatever sits
//! under the key MSAL Python would compute for them (what Python deletes).

use super::index::{AccFields, AtFields, Fields, IdtFields, RtFields, owner_key};
use super::keys;
use super::model::Account;
use super::store::{Section, Slot, Text};
use super::{TokenCache, index::Hai};

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn field<'a>(t: &'a Option<Text>, base: &'a str) -> &'a str {
    t.as_ref().map(|t| t.get(base)).unwrap_or("")
}

fn hai_text<'a>(hai: &'a Hai, base: &'a str) -> Option<&'a str> {
    match hai {
        Hai::Str(t) => Some(t.get(base)),
        _ => None,
    }
}

/// The key MSAL Python would store an entry under, from its fields.
trait PythonKey {
    fn python_key(&self, base: &str) -> String;
}

impl PythonKey for AtFields {
    fn python_key(&self, base: &str) -> String {
        let ext = self.ext_cache_key.as_ref().map(|t| t.get(base));
        let token_type = self.token_type.as_ref().map(|t| t.get(base));
        if keys::is_auth_scheme(token_type)
            && ext.is_none_or(str::is_empty)
            && field(&self.credential_type, base)
                .eq_ignore_ascii_case(keys::ACCESS_TOKEN_WITH_AUTH_SCHEME)
        {
            return keys::access_token_with_auth_scheme(
                hai_text(&self.hai, base),
                field(&self.environment, base),
                field(&self.client_id, base),
                field(&self.realm, base),
                field(&self.target, base),
                token_type.unwrap_or(""),
            );
        }
        keys::access_token(
            hai_text(&self.hai, base),
            field(&self.environment, base),
            field(&self.client_id, base),
            field(&self.realm, base),
            field(&self.target, base),
            ext,
        )
    }
}

impl PythonKey for RtFields {
    fn python_key(&self, base: &str) -> String {
        let target = self.target.as_ref().map(|t| t.get(base));
        keys::refresh_token(
            hai_text(&self.hai, base),
            field(&self.environment, base),
            field(&self.client_id, base),
            target,
        )
    }
}

impl PythonKey for IdtFields {
    fn python_key(&self, base: &str) -> String {
        keys::id_token(
            hai_text(&self.hai, base),
            field(&self.environment, base),
            field(&self.client_id, base),
            field(&self.realm, base),
        )
    }
}

impl PythonKey for AccFields {
    fn python_key(&self, base: &str) -> String {
        keys::account(
            hai_text(&self.hai, base),
            field(&self.environment, base),
            field(&self.realm, base),
        )
    }
}

/// Removes entry `id` and whatever is stored under its Python key.
fn remove_both<F: Fields + PythonKey>(section: &mut Section<F>, src: &str, id: u32) -> bool {
    let Some(slot) = section.get(id) else {
        return false;
    };
    let python_key = slot.f.python_key(slot.body.base(src));
    let removed = section.remove(src, id);
    if let Some(other) = section.find(src, &python_key) {
        section.remove(src, other);
    }
    removed
}

fn owned_by<F>(
    section: &Section<F>,
    src: &str,
    ids: &[u32],
    hai_env: impl Fn(&F) -> (&Hai, &Option<Text>),
    extra: impl Fn(&Slot<F>, &str) -> bool,
    hai: &str,
    env: &str,
) -> Vec<u32>
where
    F: Fields,
{
    ids.iter()
        .copied()
        .filter(|&id| {
            section.get(id).is_some_and(|slot| {
                let base = slot.body.base(src);
                let (h, e) = hai_env(&slot.f);
                h.owner(base).flatten().is_some_and(|h| eq(h, hai))
                    && eq(field(e, base), env)
                    && extra(slot, base)
            })
        })
        .collect()
}

impl TokenCache {
    pub(super) fn remove_at(&mut self, id: u32) -> bool {
        let removed = remove_both(&mut self.at, &self.src, id);
        if removed {
            self.changed = true;
            self.touched_access_tokens();
        }
        removed
    }

    /// Signs an account out of this app and forgets it (spec 6.2), in the
    /// account's environment only:
    /// - its refresh tokens received by `client_id`, or by the app's family
    ///   when this app's AppMetadata there says it is in one;
    /// - its access tokens and ID tokens of every app and tenant;
    /// - its Account entries of every tenant.
    ///
    /// Other apps' refresh tokens stay (their single sign-on keeps working);
    /// AppMetadata is never removed.
    #[cfg_attr(feature = "test-internals", visibility::make(pub))]
    pub(crate) fn remove_account(&mut self, account: &Account, client_id: &str) {
        let (hai, env) = (account.home_account_id(), account.environment());
        if hai.is_empty() {
            return;
        }
        let family = self
            .app_metadata(&[env], client_id)
            .and_then(|m| m.family_id);
        let h = owner_key(&self.seed, Some(hai), env, "");
        let src = &*self.src;
        let rt_ids = owned_by(
            &self.rt,
            src,
            self.rt.ix[0].get(h),
            |f| (&f.hai, &f.environment),
            |slot, base| {
                eq(field(&slot.f.client_id, base), client_id)
                    || family
                        .as_deref()
                        .is_some_and(|fam| field(&slot.f.family_id, base) == fam)
            },
            hai,
            env,
        );
        let at_ids = owned_by(
            &self.at,
            src,
            self.at.ix[1].get(h),
            |f| (&f.hai, &f.environment),
            |_, _| true,
            hai,
            env,
        );
        let idt_ids = owned_by(
            &self.idt,
            src,
            self.idt.ix[1].get(h),
            |f| (&f.hai, &f.environment),
            |_, _| true,
            hai,
            env,
        );
        let acc_ids = owned_by(
            &self.acc,
            src,
            self.acc.ix[0].get(h),
            |f| (&f.hai, &f.environment),
            |_, _| true,
            hai,
            env,
        );
        let mut any = false;
        for id in rt_ids {
            any |= remove_both(&mut self.rt, &self.src, id);
        }
        for id in idt_ids {
            any |= remove_both(&mut self.idt, &self.src, id);
        }
        for id in acc_ids {
            any |= remove_both(&mut self.acc, &self.src, id);
        }
        let mut any_at = false;
        for id in at_ids {
            any_at |= self.remove_at(id);
        }
        if any || any_at {
            self.changed = true;
        }
        self.rt.compact(&self.src);
        self.at.compact(&self.src);
        self.idt.compact(&self.src);
        self.acc.compact(&self.src);
    }

    /// Deletes the app tokens (no `home_account_id`) of `client_id` in these
    /// environments, any tenant (MSAL Python's `remove_tokens_for_client`).
    #[cfg_attr(feature = "test-internals", visibility::make(pub))]
    #[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
    pub(crate) fn remove_app_tokens(&mut self, client_id: &str, environments: &[&str]) {
        let src = &*self.src;
        let mut ids = Vec::new();
        for env in environments {
            for &id in self.at.ix[1].get(owner_key(&self.seed, None, env, client_id)) {
                let Some(slot) = self.at.get(id) else {
                    continue;
                };
                let base = slot.body.base(src);
                if slot.f.hai.owner(base) == Some(None)
                    && eq(field(&slot.f.client_id, base), client_id)
                    && eq(field(&slot.f.environment, base), env)
                {
                    ids.push(id);
                }
            }
        }
        for id in ids {
            self.remove_at(id);
        }
        self.at.compact(&self.src);
    }
}
