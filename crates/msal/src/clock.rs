//! The time seam: token expiry, Retry-After and device-code polling all ask a
//! [`Clock`], so tests move time by hand instead of sleeping.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http::BoxFuture;

/// A source of the current time and of sleeps.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
    /// Waits for `duration` (of this clock's time).
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()>;

    /// The current time as whole Unix seconds (the cache's unit).
    fn unix_now(&self) -> i64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// The real wall clock and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that only moves when told to. `sleep` advances it and returns at
/// once, so code that polls or backs off runs instantly in tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
    /// `now` in whole Unix seconds, kept beside it so that the cache's reads
    /// of the time (several per token hit) take no lock that tasks on other
    /// threads would contend for.
    unix: AtomicI64,
}

fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl ManualClock {
    /// A clock standing at `secs` Unix seconds.
    pub fn at_unix(secs: u64) -> Self {
        let now = UNIX_EPOCH + Duration::from_secs(secs);
        Self {
            now: Mutex::new(now),
            unix: AtomicI64::new(unix_secs(now)),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
        self.unix.store(unix_secs(*now), Ordering::Release);
    }

    /// Sets the clock.
    pub fn set(&self, to: SystemTime) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now = to;
        self.unix.store(unix_secs(to), Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        self.advance(duration);
        Box::pin(std::future::ready(()))
    }
    fn unix_now(&self) -> i64 {
        self.unix.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_moves_only_when_told() {
        let c = ManualClock::at_unix(1_700_000_000);
        assert_eq!(c.unix_now(), 1_700_000_000);
        c.sleep(Duration::from_secs(5)).await;
        assert_eq!(c.unix_now(), 1_700_000_005);
        c.advance(Duration::from_secs(10));
        assert_eq!(c.unix_now(), 1_700_000_015);
        c.set(UNIX_EPOCH + Duration::from_secs(42));
        assert_eq!(c.unix_now(), 42);
        c.set(UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(
            c.unix_now(),
            0,
            "before 1970 reads as 0, as the default method does"
        );
    }
}
