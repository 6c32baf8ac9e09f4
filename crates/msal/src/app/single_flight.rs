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

/// The flights in progress.
#[derive(Default)]
pub(crate) struct SingleFlight {
    flights: Mutex<HashMap<String, Flight>>,
}

impl std::fmt::Debug for SingleFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleFlight").finish_non_exhaustive()
    }
}

/// Removes a finished (or abandoned) flight from the map.
struct Landing<'a> {
    owner: &'a SingleFlight,
    key: String,
    flight: Flight,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut map = self.owner.flights.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&self.key).is_some_and(|f| f.ptr_eq(&self.flight)) {
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
            match map.get(&key) {
                Some(f) => f.clone(),
                None => {
                    let f: Flight = start().map(|r| r.map_err(Arc::new)).boxed().shared();
                    map.insert(key.clone(), f.clone());
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
