//! `acquire_token_silent` (spec §5.1, §5.3, §11): a cached access token,
//! else a refresh with the account's own or family refresh token.

use std::sync::Arc;

use super::cache_io::Partition;
use super::engine::{EXPIRY_BUFFER_SECS, Engine, Store};
use super::result::AuthenticationResult;
use crate::cache::{AccessTokenQuery, Account, CachedRefreshToken, RefreshTokenQuery};
use crate::error::{Error, Result, UiRequiredReason};
use crate::protocol::token::TokenForm;
use crate::protocol::{grant, scopes};

/// A silent call's parameters.
#[derive(Debug, Clone)]
pub(crate) struct SilentParams {
    /// The scopes asked for (undecorated, validated).
    pub(crate) scopes: Vec<String>,
    pub(crate) account: Account,
    pub(crate) force_refresh: bool,
    /// A claims challenge (skips the cached access token).
    pub(crate) claims: Option<String>,
}

impl SilentParams {
    /// The single-flight key: same account, scopes (any order or case),
    /// claims and force flag = same flight.
    fn flight_key(&self) -> String {
        let mut s: Vec<String> = self.scopes.iter().map(|x| x.to_lowercase()).collect();
        s.sort();
        s.dedup();
        format!(
            "{}\n{}\n{}\n{}\n{}",
            self.account.home_account_id,
            self.account.environment,
            s.join(" "),
            self.claims.as_deref().unwrap_or(""),
            self.force_refresh
        )
    }
}

/// Which RT list a candidate came from (spec §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Family,
    Own,
}

/// The home tenant in a `home_account_id` (`<uid>.<utid>`).
pub(crate) fn home_tenant(home_account_id: &str) -> Option<&str> {
    home_account_id
        .rsplit_once('.')
        .map(|(_, t)| t)
        .filter(|t| !t.is_empty())
}

/// Whether an error came from the server's answer (try the next candidate)
/// rather than from not reaching it (stop: the next one would fail too).
/// A 429 or 5xx is not an answer about this refresh token: the next
/// candidate would go to the same busy server, so stop there.
fn is_answer(e: &Error) -> bool {
    match e {
        Error::Service(_) => !e.is_retryable(),
        _ => matches!(e, Error::UiRequired { .. } | Error::Protocol(_)),
    }
}

impl Engine {
    /// `acquire_token_silent`, with concurrent identical calls sharing one flight.
    pub(crate) async fn acquire_silent(
        self: &Arc<Self>,
        params: SilentParams,
    ) -> Result<AuthenticationResult> {
        scopes::validate(&params.scopes)?;
        if params.scopes.is_empty() {
            // Any cached token would match an empty list: name the resource.
            return Err(Error::config(
                "acquire_token_silent needs at least one scope",
            ));
        }
        if params.account.home_account_id.is_empty() {
            return Err(Error::config("the account has no home_account_id"));
        }
        let engine = self.clone();
        let key = params.flight_key();
        self.flights
            .run(key, move || {
                Box::pin(async move { engine.silent_once(&params).await })
            })
            .await
    }

    async fn silent_once(&self, p: &SilentParams) -> Result<AuthenticationResult> {
        if self.authority().static_realm().is_none() {
            // Domain-name tenants and OIDC issuers: the realm is in the metadata.
            self.resolver.metadata().await?;
        }
        let hai = p.account.home_account_id.as_str();
        let mut envs = self.resolver.known_environments();
        let mut discovered = false;
        loop {
            match self.silent_in(p, &envs).await? {
                Some(done) => return done,
                // Nothing at all under these environments: discovery may know more aliases (step 3).
                None if !discovered => {
                    discovered = true;
                    let more = self.resolver.discovered_environments().await?;
                    if more == envs {
                        break;
                    }
                    envs = more;
                }
                None => break,
            }
        }
        tracing::debug!(
            account = self.pii(hai),
            "silent: no token in the cache for this account"
        );
        Err(Error::UiRequired {
            reason: UiRequiredReason::NoTokensFound,
            suberror: None,
            claims: None,
        })
    }

    /// Steps 1 and 2 under `envs`. `Ok(None)`: no AT and no RT found.
    async fn silent_in(
        &self,
        p: &SilentParams,
        envs: &[String],
    ) -> Result<Option<Result<AuthenticationResult>>> {
        let hai = p.account.home_account_id.as_str();
        let env_refs: Vec<&str> = envs.iter().map(String::as_str).collect();
        let realms = self
            .resolver
            .lookup_realms(home_tenant(hai).or(Some(p.account.realm.as_str())));
        let realm_refs: Vec<&str> = realms.iter().map(String::as_str).collect();
        let scope_refs: Vec<&str> = p.scopes.iter().map(String::as_str).collect();
        let partition = Partition::user(hai);
        let now = self.now();

        let mut fallback: Option<AuthenticationResult> = None;
        let skip_at = p.force_refresh || p.claims.is_some();
        let at_query = AccessTokenQuery {
            client_id: &self.client_id,
            home_account_id: Some(hai),
            environments: &env_refs,
            realms: &realm_refs,
            scopes: &scope_refs,
            token_type: None,
            key_id: None,
            ext_cache_key: None,
            user_assertion_hash: None,
        };
        let own = RefreshTokenQuery {
            home_account_id: hai,
            environments: &env_refs,
            client_id: Some(&self.client_id),
            family_id: None,
            user_assertion_hash: None,
        };
        let (found, candidates) = self
            .cache
            .access(partition, |c| {
                let mut found = None;
                if !skip_at {
                    c.remove_expired_access_tokens(&at_query, now);
                    if let Some(at) = c.find_access_token(&at_query, now) {
                        let id = c.find_id_token(hai, &env_refs, &self.client_id, Some(&at.realm));
                        found = Some((at, id));
                    }
                }
                // A token that will be returned as it is needs no refresh
                // candidates: skip that work on the hot path.
                let usable = found.as_ref().is_some_and(|(at, _)| {
                    at.expires_on.saturating_sub(now) >= EXPIRY_BUFFER_SECS
                        && at.refresh_on.is_none_or(|r| r > now)
                });
                if usable {
                    return Ok((found, Vec::new()));
                }
                let family = match c.app_metadata(&env_refs, &self.client_id) {
                    // Family status unknown: any family RT may work (Python, .NET).
                    None => Some("1".to_owned()),
                    Some(m) => m.family_id.filter(|f| !f.is_empty()),
                };
                let mut list: Vec<(Phase, CachedRefreshToken)> = Vec::new();
                if let Some(f) = &family {
                    let q = RefreshTokenQuery {
                        family_id: Some(f),
                        client_id: None,
                        ..own
                    };
                    list.extend(
                        c.find_refresh_tokens(&q)
                            .into_iter()
                            .map(|rt| (Phase::Family, rt)),
                    );
                }
                for rt in c.find_refresh_tokens(&own) {
                    if !list.iter().any(|(_, x)| x.handle == rt.handle) {
                        list.push((Phase::Own, rt));
                    }
                }
                Ok((found, list))
            })
            .await?;

        if let Some((at, id)) = found {
            if at.expires_on.saturating_sub(now) >= EXPIRY_BUFFER_SECS {
                let refresh_due = at.refresh_on.is_some_and(|r| r <= now);
                let result = self.cached_result(at, Some(p.account.clone()), id);
                if !refresh_due {
                    tracing::debug!(
                        account = self.pii(hai),
                        "silent: access token from the cache"
                    );
                    return Ok(Some(Ok(result)));
                }
                tracing::debug!(
                    "silent: refresh_on has passed; refreshing, with the cached token as fallback"
                );
                fallback = Some(result);
            }
        }
        if candidates.is_empty() {
            return Ok(fallback.map(Ok));
        }
        Ok(Some(self.redeem(p, candidates, fallback).await))
    }

    /// Tries the candidates in order (spec §5.3) and returns the first
    /// success, else the fallback token, else the most relevant error.
    async fn redeem(
        &self,
        p: &SilentParams,
        candidates: Vec<(Phase, CachedRefreshToken)>,
        fallback: Option<AuthenticationResult>,
    ) -> Result<AuthenticationResult> {
        let mut own_err = None;
        let mut family_err = None;
        let mut skip_family = false;
        for (phase, rt) in candidates {
            if phase == Phase::Family && skip_family {
                continue;
            }
            match self.refresh_with(p, &rt).await {
                Ok(r) => return Ok(r),
                Err(e) if !is_answer(&e) => {
                    // Not reached (or throttled): a still-valid token is better than nothing.
                    return match fallback {
                        Some(f) => Ok(f),
                        None => Err(e),
                    };
                }
                Err(e) => {
                    let mismatch = matches!(&e, Error::UiRequired { suberror: Some(s), .. } if s == "client_mismatch");
                    match phase {
                        Phase::Family => {
                            skip_family |= mismatch;
                            family_err = Some(e);
                        }
                        Phase::Own => own_err = Some(e),
                    }
                }
            }
        }
        if let Some(f) = fallback {
            return Ok(f);
        }
        Err(own_err.or(family_err).unwrap_or(Error::UiRequired {
            reason: UiRequiredReason::NoTokensFound,
            suberror: None,
            claims: None,
        }))
    }

    /// One refresh-token redemption at the configured authority.
    async fn refresh_with(
        &self,
        p: &SilentParams,
        rt: &CachedRefreshToken,
    ) -> Result<AuthenticationResult> {
        let metadata = self.resolver.metadata().await?;
        let decorated = scopes::decorate(&p.scopes)?;
        let scope = scopes::join(&decorated);
        let mut form = TokenForm::grant(grant::REFRESH_TOKEN, &self.client_id, &scope);
        form.set("refresh_token", rt.secret.expose_secret());
        let claims = self.claims_param(p.claims.as_deref())?;
        form.set_opt("claims", claims.as_deref());
        let hai = p.account.home_account_id.as_str();
        let mut headers = Vec::new();
        if let Some((uid, utid)) = hai.rsplit_once('.') {
            headers.push(("X-AnchorMailbox", format!("Oid:{uid}@{utid}")));
        }
        let throttle = self.throttle(
            &metadata,
            &[
                &scope,
                hai,
                rt.secret.expose_secret(),
                claims.as_deref().unwrap_or(""),
            ],
        );
        tracing::debug!(
            account = self.pii(hai),
            family = rt.family_id.is_some(),
            "silent: redeeming a refresh token"
        );
        let response = self.post_token(&metadata, form, throttle, &headers).await?;
        self.store(
            Partition::user(hai),
            Store {
                response: &response,
                metadata: &metadata,
                environment: self.authority().host(),
                requested_scopes: &decorated,
                account_source: None,
                username_hint: None,
                rotate: Some(&rt.handle),
                nonce: None,
                known_account: Some(&p.account),
                user_assertion_hash: None,
            },
        )
        .await
    }
}
