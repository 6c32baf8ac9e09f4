//! [`Health`]: remembers whether a shared store is reachable, so that an
//! outage is logged once (warn) and its end once (info), not on every call,
//! and so that a dead server is probed at most once per retry interval
//! instead of making every call wait for it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use msal::storage::StorageError;

use crate::time::saturating_add;

/// Reachability of one backend. Times come from the caller (msal's clock).
#[derive(Debug)]
pub struct Health {
    backend: &'static str,
    retry_interval: Duration,
    down: AtomicBool,
    /// While down: when the next call may try the backend again.
    next_probe: Mutex<SystemTime>,
}

impl Health {
    /// Tracks `backend` (a short name for logs, e.g. `"redis"`); while it is
    /// down, one call per `retry_interval` tries it again.
    pub fn new(backend: &'static str, retry_interval: Duration) -> Self {
        Self {
            backend,
            retry_interval,
            down: AtomicBool::new(false),
            next_probe: Mutex::new(SystemTime::UNIX_EPOCH),
        }
    }

    /// Whether the backend is believed reachable.
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Acquire)
    }

    /// Whether a call at `now` should use the backend. Always while it is up;
    /// while it is down, only the first call after each retry interval (that
    /// call is the probe).
    pub fn should_try(&self, now: SystemTime) -> bool {
        if self.is_up() {
            return true;
        }
        let mut next = self.next_probe.lock().unwrap_or_else(|p| p.into_inner());
        if now >= *next {
            *next = saturating_add(now, self.retry_interval);
            true
        } else {
            false
        }
    }

    /// Records a failed call. Logs at warn only when this starts an outage.
    pub fn failed(&self, now: SystemTime, error: &StorageError) {
        *self.next_probe.lock().unwrap_or_else(|p| p.into_inner()) =
            saturating_add(now, self.retry_interval);
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                backend = self.backend,
                error = %error,
                retry_interval_ms = u64::try_from(self.retry_interval.as_millis()).unwrap_or(u64::MAX),
                "token cache store unavailable; going on with the in-memory cache and the identity provider"
            );
        } else {
            tracing::debug!(backend = self.backend, error = %error, "token cache store still unavailable");
        }
    }

    /// Records a successful call. Logs at info only when this ends an outage.
    pub fn succeeded(&self) {
        if !self.is_up() && self.down.swap(false, Ordering::AcqRel) {
            tracing::info!(backend = self.backend, "token cache store available again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msal::storage::StorageErrorKind;
    use msal_test_support::LogCapture;

    #[test]
    fn an_outage_is_logged_once_each_way_and_probed_once_per_interval() {
        let logs = LogCapture::new();
        let _guard = logs.set_default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let h = Health::new("redis", Duration::from_secs(5));
        assert!(h.is_up() && h.should_try(t0));
        h.succeeded();
        let err = StorageError::new(StorageErrorKind::Unavailable, "connection refused");
        for i in 0..10 {
            h.failed(t0 + Duration::from_millis(i), &err);
        }
        assert!(!h.is_up());
        assert!(
            !h.should_try(t0 + Duration::from_secs(4)),
            "inside the retry interval"
        );
        assert!(h.should_try(t0 + Duration::from_secs(6)), "the probe");
        assert!(
            !h.should_try(t0 + Duration::from_secs(6)),
            "only one probe per interval"
        );
        h.succeeded();
        h.succeeded();
        assert!(h.is_up() && h.should_try(t0 + Duration::from_secs(6)));
        let text = logs.contents();
        assert_eq!(
            text.matches("token cache store unavailable").count(),
            1,
            "{text}"
        );
        assert_eq!(
            text.matches("token cache store available again").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("WARN") && text.contains("INFO") && text.contains("connection refused"),
            "{text}"
        );
        // A second outage is logged again.
        h.failed(t0 + Duration::from_secs(7), &err);
        assert_eq!(
            logs.contents()
                .matches("token cache store unavailable")
                .count(),
            2
        );
    }

    #[test]
    fn a_retry_interval_of_duration_max_never_overflows() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let h = Health::new("redis", Duration::MAX);
        let err = StorageError::new(StorageErrorKind::Unavailable, "down");
        h.failed(t0, &err);
        assert!(!h.is_up());
        assert!(
            !h.should_try(t0 + Duration::from_secs(100 * 365 * 24 * 3600)),
            "no probe for a century"
        );
        // A probe only comes from a call made at the far end of time.
        let end = saturating_add(t0, Duration::MAX);
        assert!(h.should_try(end));
    }
}
