//! Cached-or-fetch: the one path every cached flow takes.
//!
//! 1. Unless the caller skips the cache (force refresh, claims challenge),
//!    read the flow's partition. A token with more than
//!    [`EXPIRY_BUFFER_SECS`] left whose `refresh_on` has not passed is
//!    returned at once: no lock is held against other hits, no flight is
//!    joined, nothing is written.
//! 2. Otherwise join the flight of the flow's key, or start it. The flight
//!    looks once more (a flight that just landed may have cached the token),
//!    then fetches. When the fetch fails and step 1 found a token that is
//!    only due for refresh, that token is returned instead of the error.

use std::future::Future;
use std::sync::Arc;

use super::cache_io::{CacheIo, Partition};
use super::result::AuthenticationResult;
use super::single_flight::SingleFlight;
use crate::cache::TokenCache;
use crate::error::Result;

/// How long before its expiry a cached access token stops being handed out
/// (spec §5.1 step 1.3; also what the Azure SDK's bearer policy expects).
pub(crate) const EXPIRY_BUFFER_SECS: i64 = 300;

/// A cached token, by what it is good for now.
#[derive(Debug)]
pub(crate) enum Found {
    /// Usable as it is.
    Fresh(AuthenticationResult),
    /// Still valid, but its `refresh_on` has passed: refresh, and fall back
    /// to it if that fails.
    Due(AuthenticationResult),
}

/// Sorts a cached token found at `now`: `None` when it is within the expiry
/// buffer (or expired), else fresh or due.
pub(crate) fn classify(found: Option<AuthenticationResult>, now: i64) -> Option<Found> {
    let r = found?;
    if r.expires_on_secs().saturating_sub(now) < EXPIRY_BUFFER_SECS {
        return None;
    }
    Some(if r.refresh_on_secs().is_some_and(|at| at <= now) {
        Found::Due(r)
    } else {
        Found::Fresh(r)
    })
}

/// One token request as the engine runs it: where its token is cached, how
/// to recognise it, and how to get a new one.
pub(crate) trait TokenFlow: Send + Sync + 'static {
    /// The application's cache.
    fn cache(&self) -> &CacheIo;
    /// The application's flights.
    fn flights(&self) -> &SingleFlight;
    /// Now, in Unix seconds (the application's clock).
    fn now(&self) -> i64;
    /// The partition the token lives in.
    fn partition(&self) -> Partition<'_>;
    /// Whether the cached token must not be returned (force refresh, claims).
    fn skip_cache(&self) -> bool;
    /// Calls with the same key share one flight.
    fn flight_key(&self) -> String;
    /// The cached token for this request, if any (read only; the engine
    /// applies the expiry buffer and `refresh_on`).
    fn find(&self, cache: &TokenCache, now: i64) -> Option<AuthenticationResult>;
    /// Gets a new token and writes it through to the cache.
    fn fetch(&self) -> impl Future<Output = Result<AuthenticationResult>> + Send + '_;
}

/// Reads the flow's partition once.
async fn look<F: TokenFlow>(flow: &F) -> Result<Option<Found>> {
    let now = flow.now();
    let found = flow
        .cache()
        .read(flow.partition(), |c| flow.find(c, now))
        .await?;
    Ok(classify(found, now))
}

/// Serves `flow` from the cache, or fetches once for every concurrent caller.
///
/// # Errors
/// The cache's and hooks' errors, and the fetch's (unless a token due for
/// refresh is still valid).
pub(crate) async fn acquire<F: TokenFlow>(flow: F) -> Result<AuthenticationResult> {
    let mut fallback = None;
    if !flow.skip_cache() {
        match look(&flow).await? {
            Some(Found::Fresh(r)) => return Ok(r),
            Some(Found::Due(r)) => fallback = Some(r),
            None => {}
        }
    }
    // Only a miss needs the flow beyond this call (the flight may outlive it).
    let flow = Arc::new(flow);
    let key = flow.flight_key();
    let pilot = flow.clone();
    flow.flights()
        .run(key, move || {
            Box::pin(async move { fly(&*pilot, fallback).await })
        })
        .await
}

/// The flight: look again, then fetch; a still-valid token wins over an error.
async fn fly<F: TokenFlow>(
    flow: &F,
    fallback: Option<AuthenticationResult>,
) -> Result<AuthenticationResult> {
    if !flow.skip_cache()
        && fallback.is_none()
        && let Some(Found::Fresh(r)) = look(flow).await?
    {
        return Ok(r);
    }
    match flow.fetch().await {
        Ok(r) => Ok(r),
        Err(e) => match fallback {
            Some(cached) => {
                tracing::debug!(error = %e, "refresh failed; the cached token is still valid");
                Ok(cached)
            }
            None => Err(e),
        },
    }
}
