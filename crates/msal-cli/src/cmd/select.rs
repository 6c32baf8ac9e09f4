//! Choosing the account a command works on.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use msal::Account;

use crate::error::{CliError, CliResult};

/// Whether `a` is the account the user named (user name or home account id,
/// case-insensitively).
pub(crate) fn matches(a: &Account, wanted: &str) -> bool {
    let wanted = wanted.trim();
    a.username().eq_ignore_ascii_case(wanted) || a.home_account_id().eq_ignore_ascii_case(wanted)
}

/// One entry per home account (an account signed in to several tenants is
/// listed once per tenant by the cache), the home tenant's entry first.
///
/// Linear: accounts are grouped through a hash map keyed by the lower-cased
/// home account id and environment, in first-seen order.
pub(crate) fn distinct(accounts: &[Account]) -> Vec<&Account> {
    let mut out: Vec<&Account> = Vec::with_capacity(accounts.len());
    let mut seen: HashMap<(String, String), usize> = HashMap::with_capacity(accounts.len());
    for a in accounts {
        let home = a.home_account_id().rsplit('.').next().unwrap_or("");
        let key = (
            a.home_account_id().to_ascii_lowercase(),
            a.environment().to_ascii_lowercase(),
        );
        match seen.entry(key) {
            Entry::Vacant(v) => {
                v.insert(out.len());
                out.push(a);
            }
            Entry::Occupied(o) => {
                if a.realm().eq_ignore_ascii_case(home) {
                    out[*o.get()] = a;
                }
            }
        }
    }
    out
}

/// How many user names an error message lists before "and N more".
const NAMES_SHOWN: usize = 10;

/// The user names of `accounts` for a message: the first [`NAMES_SHOWN`],
/// then how many more there are.
fn name_list(accounts: &[&Account]) -> String {
    let mut names = accounts
        .iter()
        .take(NAMES_SHOWN)
        .map(|a| a.username())
        .collect::<Vec<_>>()
        .join(", ");
    if accounts.len() > NAMES_SHOWN {
        names.push_str(&format!(" and {} more", accounts.len() - NAMES_SHOWN));
    }
    names
}

/// The one account `wanted` names, or the only one signed in.
///
/// # Errors
/// No account (or none matching): "sign in" (exit code 2) when
/// `missing_is_sign_in`, else exit code 1. Several accounts and no
/// `--account`: exit code 1, listing them.
pub(crate) fn select<'a>(
    accounts: &'a [Account],
    wanted: Option<&str>,
    missing_is_sign_in: bool,
) -> CliResult<&'a Account> {
    let all = distinct(accounts);
    let missing = |msg: String| {
        if missing_is_sign_in {
            CliError::sign_in_required(msg)
        } else {
            CliError::other(msg)
        }
    };
    let names = || name_list(&all);
    match wanted {
        Some(w) => all.iter().copied().find(|a| matches(a, w)).ok_or_else(|| {
            if all.is_empty() {
                missing(format!(
                    "{w} is not signed in (no account is); run `msal login`"
                ))
            } else {
                missing(format!(
                    "{w} is not signed in (signed in: {}); run `msal login`",
                    names()
                ))
            }
        }),
        None => match all.as_slice() {
            [] => Err(missing("no account is signed in; run `msal login`".into())),
            [one] => Ok(*one),
            _ => Err(CliError::other(format!(
                "several accounts are signed in ({}); choose one with --account",
                names()
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_ERROR, EXIT_SIGN_IN_REQUIRED};

    fn account(user: &str, hai: &str, realm: &str) -> Account {
        Account::new(hai, "login.microsoftonline.com")
            .with_realm(realm)
            .with_local_account_id("x")
            .with_username(user)
    }

    #[test]
    fn picks_by_name_or_id_or_the_only_one() {
        let list = vec![account("ada@contoso.com", "u1.t1", "t1")];
        assert_eq!(
            select(&list, None, true).unwrap().username(),
            "ada@contoso.com"
        );
        assert_eq!(
            select(&list, Some("ADA@contoso.com"), true)
                .unwrap()
                .home_account_id(),
            "u1.t1"
        );
        assert_eq!(
            select(&list, Some("U1.T1"), true).unwrap().username(),
            "ada@contoso.com"
        );
        let e = select(&list, Some("bob@contoso.com"), true).unwrap_err();
        assert_eq!(e.code, EXIT_SIGN_IN_REQUIRED);
        assert!(e.message.contains("ada@contoso.com"), "{}", e.message);
        assert_eq!(
            select(&list, Some("bob"), false).unwrap_err().code,
            EXIT_ERROR
        );
    }

    #[test]
    fn no_account_means_sign_in_and_several_need_a_choice() {
        assert_eq!(
            select(&[], None, true).unwrap_err().code,
            EXIT_SIGN_IN_REQUIRED
        );
        let two = vec![
            account("ada@c.com", "u1.t1", "t1"),
            account("bob@c.com", "u2.t1", "t1"),
        ];
        let e = select(&two, None, true).unwrap_err();
        assert_eq!(e.code, EXIT_ERROR);
        assert!(e.message.contains("ada@c.com, bob@c.com") && e.message.contains("--account"));
    }

    #[test]
    fn one_user_in_two_tenants_is_one_account_home_tenant_first() {
        let list = vec![
            account("ada@c.com", "u1.t1", "guest"),
            account("ada@c.com", "u1.t1", "t1"),
        ];
        let d = distinct(&list);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].realm(), "t1");
        assert_eq!(select(&list, None, true).unwrap().realm(), "t1");
    }

    #[test]
    fn several_tenants_keep_first_seen_order_and_case_folds() {
        let list = vec![
            account("bob@c.com", "u2.t1", "t1"),
            account("ada@c.com", "u1.t1", "guest"),
            account("BOB@c.com", "U2.T1", "other"),
            account("ada@c.com", "u1.t1", "t1"),
            account("cy@c.com", "u3.t1", "t1"),
        ];
        let d = distinct(&list);
        let users: Vec<_> = d.iter().map(|a| (a.username(), a.realm())).collect();
        assert_eq!(
            users,
            vec![("bob@c.com", "t1"), ("ada@c.com", "t1"), ("cy@c.com", "t1")]
        );
    }

    /// 100,000 accounts, each also signed in to a guest tenant: a quadratic
    /// step would not finish within the test run (10^10 comparisons).
    #[test]
    fn selection_on_100_000_accounts() {
        const N: usize = 100_000;
        let mut list = Vec::with_capacity(2 * N);
        for i in 0..N {
            let hai = format!("u{i}.t1");
            list.push(account(&format!("user{i:06}@c.com"), &hai, "guest"));
            list.push(account(&format!("user{i:06}@c.com"), &hai, "t1"));
        }
        let d = distinct(&list);
        assert_eq!(d.len(), N);
        assert!(d.iter().all(|a| a.realm() == "t1"));
        assert_eq!(d[N / 2].username(), format!("user{:06}@c.com", N / 2));
        let picked = select(&list, Some("USER077777@c.com"), true).unwrap();
        assert_eq!(picked.home_account_id(), "u77777.t1");
        assert_eq!(picked.realm(), "t1");
        let e = select(&list, None, true).unwrap_err();
        assert_eq!(e.code, EXIT_ERROR);
        assert!(
            e.message.contains("and 99990 more") && e.message.len() < 1000,
            "{}",
            e.message
        );
        let e = select(&list, Some("nobody@c.com"), false).unwrap_err();
        assert!(e.message.contains("and 99990 more"), "{}", e.message);
    }
}
