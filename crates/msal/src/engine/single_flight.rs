//! One flight per key: concurrent silent calls for the same account and
//! scopes share one execution (and so one network refresh), and all get its
//! outcome.
//!
//! The shared future keeps running as long as any caller awaits it, so a
//! caller that gives up does not cancel the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::Shared;

use super::result::AuthenticationResult;
use crate::error::{Error, Result};
use crate::http::{BoxFuture, TransportError};
use crate::storage::StorageError;

type Outcome = std::result::Result<AuthenticationResult, Arc<Error>>;
type Flight = Shared<BoxFuture<'static, Outcome>>;

/// A flight and how many callers await it.
struct Entry {
    flight: Flight,
    waiters: usize,
}

/// The flights in progress.
#[derive(Default)]
pub(crate) struct SingleFlight {
    flights: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for SingleFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleFlight").finish_non_exhaustive()
    }
}

/// One caller's seat on a flight. The flight leaves the map when it has
/// landed (later callers must start afresh) or when its last caller gave
/// up; a caller that gives up while others wait leaves it in place, so a
/// new caller joins it instead of starting a second refresh.
struct Landing<'a> {
    owner: &'a SingleFlight,
    key: String,
    flight: Flight,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut map = self.owner.flights.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = map.get_mut(&self.key) else {
            return;
        };
        if !entry.flight.ptr_eq(&self.flight) {
            return;
        }
        entry.waiters = entry.waiters.saturating_sub(1);
        if entry.waiters == 0 || self.flight.peek().is_some() {
            map.remove(&self.key);
        }
    }
}

impl SingleFlight {
    /// Joins the flight for `key`, or starts one with `start`.
    pub(crate) async fn run(
        &self,
        key: String,
        start: impl FnOnce() -> BoxFuture<'static, Result<AuthenticationResult>>,
    ) -> Result<AuthenticationResult> {
        let flight = {
            let mut map = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            match map.get_mut(&key) {
                Some(entry) => {
                    entry.waiters += 1;
                    entry.flight.clone()
                }
                None => {
                    let f: Flight = start().map(|r| r.map_err(Arc::new)).boxed().shared();
                    map.insert(
                        key.clone(),
                        Entry {
                            flight: f.clone(),
                            waiters: 1,
                        },
                    );
                    f
                }
            }
        };
        let landing = Landing {
            owner: self,
            key,
            flight: flight.clone(),
        };
        let outcome = flight.await;
        drop(landing);
        outcome.map_err(|e| Arc::try_unwrap(e).unwrap_or_else(|shared| copy_error(&shared)))
    }
}

/// A copy of an error for every caller of a shared flight (sources that
/// cannot be cloned are dropped; their text is in the message).
pub(crate) fn copy_error(e: &Error) -> Error {
    #[allow(unreachable_patterns)]
    match e {
        Error::UiRequired {
            reason,
            suberror,
            claims,
        } => Error::UiRequired {
            reason: *reason,
            suberror: suberror.clone(),
            claims: claims.clone(),
        },
        Error::Throttled { retry_after } => Error::Throttled {
            retry_after: *retry_after,
        },
        Error::Service(s) => Error::Service(s.clone()),
        Error::Transport(t) => Error::Transport(TransportError::new(t.kind, t.message.clone())),
        Error::Protocol(p) => Error::Protocol(p.clone()),
        Error::CacheFormat(c) => Error::CacheFormat(c.clone()),
        Error::Storage(s) => Error::Storage(StorageError::new(s.kind, s.message.clone())),
        Error::Config(c) => Error::Config(c.clone()),
        Error::Cancelled(m) => Error::Cancelled(m.clone()),
        other => Error::protocol(other.to_string()),
    }
}
