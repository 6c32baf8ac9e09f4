//! What `msal cache inspect` reports about a cache document: counts only.
//!
//! The document is read as plain JSON rather than through the token cache so
//! that entries written by any MSAL (and entries the cache would skip) are
//! counted too. No `secret` field, key or unknown member's value is ever
//! copied into the report: only counts, identifiers of accounts,
//! environments and clients, and the names of unknown top-level members.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// The five sections of the unified cache format, in document order.
pub(crate) const SECTIONS: [&str; 5] = [
    "AccessToken",
    "RefreshToken",
    "IdToken",
    "Account",
    "AppMetadata",
];

/// Counts of one document.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Report {
    /// Entries per section (all five, zero when absent).
    pub(crate) sections: BTreeMap<String, usize>,
    /// Per home account id; app tokens (no account) under `"(app)"`.
    pub(crate) accounts: BTreeMap<String, AccountCounts>,
    /// Per environment (host).
    pub(crate) environments: BTreeMap<String, Counts>,
    /// Per client id.
    pub(crate) clients: BTreeMap<String, Counts>,
    /// Access tokens whose `expires_on` has passed.
    pub(crate) expired_access_tokens: usize,
    /// Entries that are not objects or lack a readable `expires_on` (kept in
    /// the file, skipped by lookups).
    pub(crate) unreadable_entries: usize,
    /// Top-level members other than the five sections (names only).
    pub(crate) other_members: Vec<String>,
}

/// Credentials of one account (or of the app).
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct AccountCounts {
    /// User names of its Account entries.
    pub(crate) usernames: Vec<String>,
    /// Tenants it has Account entries in.
    pub(crate) realms: Vec<String>,
    /// Access tokens.
    pub(crate) access_tokens: usize,
    /// Of which expired.
    pub(crate) expired_access_tokens: usize,
    /// Refresh tokens.
    pub(crate) refresh_tokens: usize,
    /// ID tokens.
    pub(crate) id_tokens: usize,
}

/// Entries of one environment or client.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Access tokens.
    pub(crate) access_tokens: usize,
    /// Refresh tokens.
    pub(crate) refresh_tokens: usize,
    /// ID tokens.
    pub(crate) id_tokens: usize,
    /// Account entries.
    pub(crate) accounts: usize,
    /// App metadata entries.
    pub(crate) app_metadata: usize,
}

/// Why a document could not be inspected.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotACache(pub(crate) String);

/// The label used for tokens that belong to no account.
pub(crate) const APP_BUCKET: &str = "(app)";

/// Counts what `doc` holds, `now` deciding what is expired.
pub(crate) fn inspect(doc: &[u8], now: i64) -> Result<Report, NotACache> {
    let root: Value = serde_json::from_slice(doc).map_err(|e| {
        // serde_json's message names line and column, never the content.
        NotACache(format!("not JSON ({e})"))
    })?;
    let Value::Object(root) = root else {
        return Err(NotACache("the document is not a JSON object".into()));
    };
    let mut r = Report::default();
    for name in SECTIONS {
        r.sections.insert(name.to_owned(), 0);
    }
    for (name, value) in &root {
        if !SECTIONS.contains(&name.as_str()) {
            r.other_members.push(name.clone());
            continue;
        }
        let Value::Object(entries) = value else {
            r.unreadable_entries += 1;
            continue;
        };
        r.sections.insert(name.clone(), entries.len());
        for entry in entries.values() {
            match entry {
                Value::Object(e) => r.count(name, e, now),
                _ => r.unreadable_entries += 1,
            }
        }
    }
    for a in r.accounts.values_mut() {
        a.usernames.sort();
        a.usernames.dedup();
        a.realms.sort();
        a.realms.dedup();
    }
    Ok(r)
}

fn text<'a>(e: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    e.get(field).and_then(Value::as_str)
}

/// A Unix time written as a string (every MSAL) or a number (tolerated).
fn unix(e: &Map<String, Value>, field: &str) -> Option<i64> {
    match e.get(field)? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

impl Report {
    fn count(&mut self, section: &str, e: &Map<String, Value>, now: i64) {
        let env = text(e, "environment").unwrap_or("").to_ascii_lowercase();
        let client = text(e, "client_id").unwrap_or("").to_ascii_lowercase();
        let hai = text(e, "home_account_id")
            .filter(|h| !h.is_empty())
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| APP_BUCKET.to_owned());
        let by_env = self.environments.entry(env).or_default();
        match section {
            "AccessToken" => {
                by_env.access_tokens += 1;
                self.clients.entry(client).or_default().access_tokens += 1;
                let acc = self.accounts.entry(hai).or_default();
                acc.access_tokens += 1;
                match unix(e, "expires_on") {
                    Some(exp) if exp <= now => {
                        acc.expired_access_tokens += 1;
                        self.expired_access_tokens += 1;
                    }
                    Some(_) => {}
                    None => self.unreadable_entries += 1,
                }
            }
            "RefreshToken" => {
                by_env.refresh_tokens += 1;
                self.clients.entry(client).or_default().refresh_tokens += 1;
                self.accounts.entry(hai).or_default().refresh_tokens += 1;
            }
            "IdToken" => {
                by_env.id_tokens += 1;
                self.clients.entry(client).or_default().id_tokens += 1;
                self.accounts.entry(hai).or_default().id_tokens += 1;
            }
            "Account" => {
                by_env.accounts += 1;
                let acc = self.accounts.entry(hai).or_default();
                if let Some(u) = text(e, "username").filter(|u| !u.is_empty()) {
                    acc.usernames.push(u.to_owned());
                }
                if let Some(realm) = text(e, "realm") {
                    acc.realms.push(realm.to_ascii_lowercase());
                }
            }
            _ => {
                by_env.app_metadata += 1;
                self.clients.entry(client).or_default().app_metadata += 1;
            }
        }
    }

    /// Whether nothing at all is cached.
    pub(crate) fn is_empty(&self) -> bool {
        self.sections.values().all(|n| *n == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
        "AccessToken": {
            "k1": {"credential_type": "AccessToken", "secret": "AT-SECRET-1", "home_account_id": "uid.utid",
                   "environment": "login.microsoftonline.com", "client_id": "c1", "realm": "utid",
                   "target": "User.Read", "expires_on": "2000", "cached_at": "1000"},
            "k2": {"credential_type": "AccessToken", "secret": "AT-SECRET-2", "home_account_id": "uid.utid",
                   "environment": "login.windows.net", "client_id": "c1", "realm": "utid",
                   "target": "Mail.Read", "expires_on": 500},
            "k3": {"credential_type": "AccessToken", "secret": "APP-SECRET", "home_account_id": null,
                   "environment": "login.microsoftonline.com", "client_id": "daemon", "realm": "utid",
                   "target": "api://x/.default", "expires_on": "9999"},
            "k4": {"credential_type": "AccessToken", "secret": "S", "home_account_id": "",
                   "environment": "login.microsoftonline.com", "client_id": "daemon", "realm": "utid"}
        },
        "RefreshToken": {
            "r1": {"credential_type": "RefreshToken", "secret": "RT-SECRET", "home_account_id": "UID.UTID",
                   "environment": "login.microsoftonline.com", "client_id": "c1", "family_id": "1"}
        },
        "IdToken": {"i1": {"credential_type": "IdToken", "secret": "ID-SECRET", "home_account_id": "uid.utid",
                   "environment": "login.microsoftonline.com", "client_id": "c1", "realm": "utid"}},
        "Account": {
            "a1": {"home_account_id": "uid.utid", "environment": "login.microsoftonline.com", "realm": "utid",
                   "username": "ada@contoso.com", "authority_type": "MSSTS", "local_account_id": "uid"},
            "a2": {"home_account_id": "uid.utid", "environment": "login.microsoftonline.com", "realm": "guest",
                   "username": "ada@contoso.com", "authority_type": "MSSTS", "local_account_id": "uid2"}
        },
        "AppMetadata": {"m1": {"client_id": "c1", "environment": "login.microsoftonline.com", "family_id": "1"},
                        "m2": 42},
        "x-unknown": {"secret": "UNKNOWN-SECRET"}
    }"#;

    #[test]
    fn counts_sections_accounts_environments_and_expiry() {
        let r = inspect(DOC.as_bytes(), 1000).unwrap();
        assert_eq!(r.sections["AccessToken"], 4);
        assert_eq!(r.sections["RefreshToken"], 1);
        assert_eq!(r.sections["IdToken"], 1);
        assert_eq!(r.sections["Account"], 2);
        assert_eq!(r.sections["AppMetadata"], 2);
        assert_eq!(r.expired_access_tokens, 1, "only k2 (500 <= 1000)");
        assert_eq!(
            r.unreadable_entries, 2,
            "k4 without expires_on, m2 not an object"
        );
        assert_eq!(r.other_members, ["x-unknown"]);

        let ada = &r.accounts["uid.utid"];
        assert_eq!(ada.usernames, ["ada@contoso.com"]);
        assert_eq!(ada.realms, ["guest", "utid"]);
        assert_eq!((ada.access_tokens, ada.expired_access_tokens), (2, 1));
        assert_eq!(
            (ada.refresh_tokens, ada.id_tokens),
            (1, 1),
            "home account ids compare case-insensitively"
        );
        let app = &r.accounts[APP_BUCKET];
        assert_eq!(
            app.access_tokens, 2,
            "null and empty home_account_id are app tokens"
        );

        let public = &r.environments["login.microsoftonline.com"];
        assert_eq!(
            (
                public.access_tokens,
                public.refresh_tokens,
                public.id_tokens,
                public.accounts,
                public.app_metadata
            ),
            (3, 1, 1, 2, 1)
        );
        assert_eq!(r.environments["login.windows.net"].access_tokens, 1);
        assert_eq!(r.clients["daemon"].access_tokens, 2);
        assert_eq!(r.clients["c1"].app_metadata, 1);
    }

    #[test]
    fn no_secret_reaches_the_report() {
        let r = inspect(DOC.as_bytes(), 1000).unwrap();
        let shown = format!("{r:?} {}", serde_json::to_string(&r).unwrap());
        for secret in [
            "AT-SECRET-1",
            "AT-SECRET-2",
            "APP-SECRET",
            "RT-SECRET",
            "ID-SECRET",
            "UNKNOWN-SECRET",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn empty_and_bad_documents() {
        let r = inspect(b"{}", 0).unwrap();
        assert!(r.is_empty());
        assert_eq!(r.sections.len(), 5);
        assert!(
            inspect(b"[1]", 0)
                .unwrap_err()
                .0
                .contains("not a JSON object")
        );
        let e = inspect(b"{\"AccessToken\": {\"k\": {\"secret\": \"TRUNC", 0).unwrap_err();
        assert!(e.0.starts_with("not JSON"), "{e:?}");
        assert!(!e.0.contains("TRUNC"), "the content is not echoed");
    }
}
