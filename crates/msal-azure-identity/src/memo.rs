//! The last token handed out per scope set, handed out again without
//! going through msal's cache while nothing could have changed it.
//!
//! msal's cache remains the source of truth: a memoized token is used only
//! while it has at least [`MIN_LIFETIME_SECS`] left, msal would not yet
//! refresh it ahead of time (`refresh_on`), and, for a token read from a
//! shared cache file, the file is exactly as it was before the read that
//! produced the token (the same size, times and inode, and not written so
//! recently that a change could hide behind coarse timestamps). This is
//! the optimistic read msal-extensions does for MSAL Python: one `stat`
//! instead of the file lock and a read, so a signed-out user, another
//! account or a token refreshed by another process is seen at once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use azure_core::credentials::AccessToken;
use msal::clock::Clock;

use crate::token::MIN_LIFETIME_SECS;

/// More scope sets than this: start over (a bound, not a policy).
const MAX_ENTRIES: usize = 1024;

/// A file written less than this long before we looked may change again
/// without its size or times changing (file system timestamp ticks).
const RACY: Duration = Duration::from_secs(2);

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    ino: u64,
    #[cfg(unix)]
    ctime: (i64, i64),
}

impl Stamp {
    /// The file's stamp, when it exists and was not written so recently
    /// that a change could hide behind it.
    pub(crate) fn settled(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        let modified = meta.modified().ok();
        let now = SystemTime::now();
        // A modification time in the future (msal-cache-file sets it a
        // second ahead) or within the racy window: not settled.
        let recent = |t: SystemTime| now.duration_since(t).map_or(true, |age| age < RACY);
        if modified.is_none_or(recent) {
            return None;
        }
        #[cfg(unix)]
        let (ino, ctime) = {
            use std::os::unix::fs::MetadataExt;
            let changed = SystemTime::UNIX_EPOCH
                + Duration::new(
                    meta.ctime().max(0) as u64,
                    meta.ctime_nsec().clamp(0, 999_999_999) as u32,
                );
            if recent(changed) {
                return None;
            }
            (meta.ino(), (meta.ctime(), meta.ctime_nsec()))
        };
        Some(Self {
            len: meta.len(),
            modified,
            #[cfg(unix)]
            ino,
            #[cfg(unix)]
            ctime,
        })
    }
}

struct Entry {
    token: AccessToken,
    refresh_on: Option<i64>,
    stamp: Option<Stamp>,
}

/// Tokens handed out, per scope set.
pub(crate) struct Memo {
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Memo {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The key of a scope set, as given.
    pub(crate) fn key(scopes: &[&str]) -> String {
        scopes.join("\n")
    }

    /// The memoized token for `key`, if it may still be handed out; `stamp`
    /// is the file's stamp now (`None` for tokens that do not come from a
    /// shared file, or a file that is not settled, which never matches).
    pub(crate) fn get(
        &self,
        key: &str,
        stamp: Option<Stamp>,
        from_file: bool,
    ) -> Option<AccessToken> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let e = entries.get(key)?;
        if from_file && (stamp.is_none() || e.stamp != stamp) {
            return None;
        }
        let now = self.clock.unix_now();
        let fresh = e.token.expires_on.unix_timestamp().saturating_sub(now) >= MIN_LIFETIME_SECS;
        let due = e.refresh_on.is_some_and(|r| r <= now);
        (fresh && !due).then(|| e.token.clone())
    }

    /// Remembers the token msal handed out for `key`; `stamp` is the file's
    /// stamp taken before msal read it.
    pub(crate) fn put(
        &self,
        key: String,
        token: &AccessToken,
        refresh_on: Option<i64>,
        stamp: Option<Stamp>,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                token: token.clone(),
                refresh_on,
                stamp,
            },
        );
    }

    /// Forgets every token (the account changed).
    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::credentials::Secret;
    use azure_core::time::OffsetDateTime;
    use msal::clock::ManualClock;

    fn token(expires: i64) -> AccessToken {
        AccessToken::new(
            Secret::new("t"),
            OffsetDateTime::from_unix_timestamp(expires).unwrap(),
        )
    }

    #[test]
    fn five_minutes_left_and_refresh_on_decide() {
        let clock = Arc::new(ManualClock::at_unix(1_000_000));
        let memo = Memo::new(clock.clone());
        memo.put("a".into(), &token(1_000_000 + 600), None, None);
        assert!(memo.get("a", None, false).is_some());
        assert!(memo.get("b", None, false).is_none());
        clock.advance(Duration::from_secs(299));
        assert!(memo.get("a", None, false).is_some(), "301 s left");
        clock.advance(Duration::from_secs(2));
        assert!(memo.get("a", None, false).is_none(), "299 s left");
        memo.put(
            "r".into(),
            &token(1_000_000 + 9000),
            Some(1_000_000 + 300),
            None,
        );
        assert!(memo.get("r", None, false).is_none(), "past refresh_on");
    }

    #[test]
    fn a_token_from_a_file_needs_the_same_settled_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache.json");
        std::fs::write(&file, "{}").unwrap();
        assert_eq!(Stamp::settled(&file), None, "just written");
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        // ctime moved with set_modified: still racy on Unix.
        if cfg!(unix) {
            assert_eq!(Stamp::settled(&file), None);
        }
        assert_eq!(Stamp::settled(&dir.path().join("missing")), None);
        let clock = Arc::new(ManualClock::at_unix(1_000_000));
        let memo = Memo::new(clock);
        // A stamp the test cannot wait for: build two different ones by hand.
        let a = Stamp {
            len: 1,
            modified: Some(old),
            #[cfg(unix)]
            ino: 1,
            #[cfg(unix)]
            ctime: (1, 0),
        };
        let b = Stamp { len: 2, ..a };
        memo.put("k".into(), &token(1_000_000 + 3600), None, Some(a));
        assert!(memo.get("k", Some(a), true).is_some());
        assert!(memo.get("k", Some(b), true).is_none(), "the file changed");
        assert!(memo.get("k", None, true).is_none(), "not settled");
        memo.clear();
        assert!(memo.get("k", Some(a), true).is_none());
    }
}
