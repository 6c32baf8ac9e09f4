//! Time arithmetic that cannot panic or overflow, for settings a caller may
//! set to anything (`Duration::MAX` included) and expiries read from a
//! server.

use std::time::{Duration, SystemTime};

/// The longest lifetime a store gives a value: ten years. A longer one means
/// "no expiry" in practice, and servers reject absurd ones (Redis refuses an
/// expiry past `i64` milliseconds, PostgreSQL a timestamp past year 294276),
/// which would make every save fail.
pub const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// `ttl`, at most [`MAX_TTL`].
pub fn clamp_ttl(ttl: Duration) -> Duration {
    ttl.min(MAX_TTL)
}

/// `at + by`, or the latest time it can represent on the way there (never a
/// panic). Used for "next probe" and "next purge" instants, where a
/// saturated far-future time means "not again in this process' lifetime".
pub fn saturating_add(at: SystemTime, by: Duration) -> SystemTime {
    if let Some(t) = at.checked_add(by) {
        return t;
    }
    // Walk down from `by` until the sum fits; at most ~64 halvings.
    let mut step = by;
    let mut t = at;
    while !step.is_zero() {
        if let Some(next) = t.checked_add(step) {
            t = next;
        } else {
            step /= 2;
        }
    }
    t
}

/// `expires_at`, no later than `now + MAX_TTL`.
pub fn clamp_expiry(expires_at: SystemTime, now: SystemTime) -> SystemTime {
    expires_at.min(saturating_add(now, MAX_TTL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let far = saturating_add(now, Duration::MAX);
        assert!(far > now + Duration::from_secs(1_000_000 * 365 * 24 * 3600));
        assert!(
            far.checked_add(Duration::from_secs(1)).is_none(),
            "the latest representable second: {far:?}"
        );
        assert_eq!(
            saturating_add(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(saturating_add(now, Duration::ZERO), now);
        assert_eq!(clamp_ttl(Duration::MAX), MAX_TTL);
        assert_eq!(clamp_ttl(Duration::from_secs(30)), Duration::from_secs(30));
        assert_eq!(clamp_expiry(far, now), now + MAX_TTL);
        let soon = now + Duration::from_secs(60);
        assert_eq!(clamp_expiry(soon, now), soon);
    }
}
