//! From msal's results to `azure_core`'s [`AccessToken`], and the checks
//! every credential makes on its arguments.
//!
//! Freshness is msal's: a cached token is handed out only while it has at
//! least five minutes left (msal's 300 s expiry buffer, applied by the
//! silent, client-credentials and managed-identity paths alike), which is
//! exactly the window in which the SDK's bearer policy asks again. A token
//! inside the window is refreshed, never handed out again.

use azure_core::credentials::{AccessToken, Secret};
use azure_core::time::OffsetDateTime;
use msal::Account;

use crate::error::Failure;

/// A token handed out from a cache has at least this many seconds left.
pub const MIN_LIFETIME_SECS: i64 = 300;

/// An `AccessToken` for `token`, expiring at `expires_on` (Unix seconds).
pub(crate) fn access_token(token: &str, expires_on: i64) -> Result<AccessToken, Failure> {
    let expires_on = OffsetDateTime::from_unix_timestamp(expires_on).map_err(|e| {
        Failure::failed(format!(
            "the token's expiry {expires_on} is out of range: {e}"
        ))
    })?;
    Ok(AccessToken::new(Secret::new(token.to_owned()), expires_on))
}

/// Unix seconds of `t` (0 before the epoch).
pub(crate) fn unix(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Scopes must be given (the SDK always gives `<resource>/.default`).
pub(crate) fn check_scopes(scopes: &[&str]) -> Result<(), Failure> {
    if scopes.is_empty() {
        return Err(Failure::failed("no scopes were given"));
    }
    if let Some(bad) = scopes.iter().find(|s| s.trim().is_empty()) {
        return Err(Failure::failed(format!(
            "an empty scope was given ({bad:?})"
        )));
    }
    Ok(())
}

/// The account to use among those signed in: the one named `wanted` (user
/// name or home account id, in any case), else the only one. An account
/// signed in to several tenants is listed once per tenant: it counts once,
/// as its home tenant's entry.
pub(crate) fn pick_account(accounts: &[Account], wanted: Option<&str>) -> Result<Account, String> {
    let mut distinct: Vec<&Account> = Vec::new();
    for a in accounts {
        let home = a.home_account_id().rsplit('.').next().unwrap_or("");
        match distinct.iter().position(|b| {
            b.home_account_id()
                .eq_ignore_ascii_case(a.home_account_id())
                && b.environment().eq_ignore_ascii_case(a.environment())
        }) {
            None => distinct.push(a),
            Some(i) if a.realm().eq_ignore_ascii_case(home) => distinct[i] = a,
            Some(_) => {}
        }
    }
    let names = || {
        distinct
            .iter()
            .map(|a| a.username())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match wanted.map(str::trim).filter(|w| !w.is_empty()) {
        Some(w) => distinct
            .iter()
            .find(|a| {
                a.username().eq_ignore_ascii_case(w) || a.home_account_id().eq_ignore_ascii_case(w)
            })
            .map(|a| (*a).clone())
            .ok_or_else(|| {
                if distinct.is_empty() {
                    format!("{w} is not signed in (no account is)")
                } else {
                    format!("{w} is not signed in (signed in: {})", names())
                }
            }),
        None => match distinct.as_slice() {
            [] => Err("no account is signed in".to_owned()),
            [one] => Ok((*one).clone()),
            _ => Err(format!(
                "several accounts are signed in ({}); choose one with AZURE_USERNAME or the builder's `username`",
                names()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(user: &str, hai: &str, realm: &str) -> Account {
        Account::new(hai, "login.microsoftonline.com")
            .with_realm(realm)
            .with_username(user)
            .with_local_account_id("x")
    }

    #[test]
    fn the_only_account_or_the_named_one() {
        let one = [account("ada@c.com", "u1.t1", "t1")];
        assert_eq!(pick_account(&one, None).unwrap().username(), "ada@c.com");
        assert_eq!(
            pick_account(&one, Some("ADA@c.com"))
                .unwrap()
                .home_account_id(),
            "u1.t1"
        );
        assert_eq!(
            pick_account(&one, Some("U1.T1")).unwrap().username(),
            "ada@c.com"
        );
        let e = pick_account(&one, Some("bob@c.com")).unwrap_err();
        assert!(e.contains("signed in: ada@c.com"), "{e}");
        assert_eq!(
            pick_account(&[], None).unwrap_err(),
            "no account is signed in"
        );
    }

    #[test]
    fn several_accounts_need_a_choice_and_a_guest_entry_is_not_a_second_account() {
        let guest = [
            account("ada@c.com", "u1.t1", "guest"),
            account("ada@c.com", "u1.t1", "t1"),
        ];
        assert_eq!(pick_account(&guest, None).unwrap().realm(), "t1");
        let two = [
            account("ada@c.com", "u1.t1", "t1"),
            account("bob@c.com", "u2.t1", "t1"),
        ];
        let e = pick_account(&two, None).unwrap_err();
        assert!(
            e.contains("ada@c.com, bob@c.com") && e.contains("AZURE_USERNAME"),
            "{e}"
        );
        assert_eq!(
            pick_account(&two, Some("bob@c.com"))
                .unwrap()
                .home_account_id(),
            "u2.t1"
        );
    }

    #[test]
    fn expiry_and_scopes() {
        let t = access_token("x", 1_700_000_000).unwrap();
        assert_eq!(t.expires_on.unix_timestamp(), 1_700_000_000);
        assert!(access_token("x", i64::MAX).is_err());
        assert!(check_scopes(&[]).is_err());
        assert!(check_scopes(&[" "]).is_err());
        assert!(check_scopes(&["https://vault.azure.net/.default"]).is_ok());
    }
}
