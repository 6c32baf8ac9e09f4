//! MSAL's retry policies for managed-identity endpoints, waiting on the
//! [`Clock`] so tests never sleep.
//!
//! - IMDS: 404 (identity not yet assigned), 408, 410 (IMDS updating), 429 and
//!   every 5xx, plus timeouts waiting for an answer. Up to 3 retries after
//!   1 s, 2 s and 4 s; when the first answer is a 410, up to 7 retries 10 s
//!   apart (IMDS asks for up to 70 s while it updates).
//! - Every other source: 404, 408, 429, 500, 503 and 504, plus timeouts. Up
//!   to 3 retries after the answer's `Retry-After` (at most
//!   [`MAX_RETRY_AFTER`]), else 1 s.
//!
//! Connection refusals, TLS and proxy failures and other 4xx are final. So is
//! a connect timeout to IMDS: off Azure nothing answers at 169.254.169.254
//! (packets to it are dropped, so connecting times out rather than being
//! refused), and retrying would hold the caller some 15 s for nothing. MSAL
//! Python retries no failure at all; MSAL .NET retries timeouts but not
//! connection failures, and a connect timeout is one of those. The error
//! then says that no managed identity endpoint is reachable.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::Error;
use crate::http::{HttpClient, HttpRequest, HttpResponse, TransportError, TransportErrorKind};

/// A `Retry-After` longer than this ends the retries instead of holding the caller.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Which retry rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryPolicy {
    /// The IMDS rules.
    Imds,
    /// The rules of every other source.
    Default,
}

impl RetryPolicy {
    fn retryable_status(self, status: u16) -> bool {
        match self {
            Self::Imds => matches!(status, 404 | 408 | 410 | 429 | 500..=599),
            Self::Default => matches!(status, 404 | 408 | 429 | 500 | 503 | 504),
        }
    }

    /// How long to wait before retry number `retry` (0-based), or `None` to
    /// stop. `first_status` is the status of the first answer, if it had one.
    pub(crate) fn delay(
        self,
        outcome: &Result<HttpResponse, TransportError>,
        first_status: Option<u16>,
        retry: u32,
        now: std::time::SystemTime,
    ) -> Option<Duration> {
        let status = match outcome {
            Ok(r) => Some(r.status().as_u16()),
            // Nothing listens there (not on Azure): waiting will not change that.
            Err(e) if self == Self::Imds && is_connect_timeout(e) => return None,
            // .NET retries timeouts only; a refused connection will not come back in a second.
            Err(e) if e.kind == TransportErrorKind::Timeout => None,
            Err(_) => return None,
        };
        if status.is_some_and(|s| !self.retryable_status(s)) {
            return None;
        }
        match self {
            Self::Imds => {
                let max = if first_status == Some(410) { 7 } else { 3 };
                if retry >= max {
                    return None;
                }
                if status == Some(410) {
                    return Some(Duration::from_secs(10));
                }
                let exp = if retry == 0 {
                    1000
                } else {
                    (2000u64 << (retry - 1).min(8)).min(4000)
                };
                Some(Duration::from_millis(exp))
            }
            Self::Default => {
                if retry >= 3 {
                    return None;
                }
                let asked = outcome
                    .as_ref()
                    .ok()
                    .and_then(|r| crate::transport::throttle::retry_after(r.headers(), now));
                match asked {
                    Some(w) if w > MAX_RETRY_AFTER => None,
                    Some(w) => Some(w),
                    None => Some(Duration::from_secs(1)),
                }
            }
        }
    }
}

/// Sends the request `make` builds, again after each wait `policy` allows,
/// and returns the last answer whatever its status.
///
/// # Errors
/// [`Error::Transport`] when the last attempt got no answer; whatever `make` returns.
pub(crate) async fn send(
    http: &Arc<dyn HttpClient>,
    clock: &Arc<dyn Clock>,
    policy: RetryPolicy,
    make: &(dyn Fn() -> Result<HttpRequest, Error> + Send + Sync),
) -> Result<HttpResponse, Error> {
    let mut first_status = None;
    let mut retry = 0u32;
    loop {
        let request = make()?;
        let host = request.uri().host().unwrap_or("").to_owned();
        let outcome = http.execute(request).await;
        let status = outcome.as_ref().ok().map(|r| r.status().as_u16());
        if retry == 0 {
            first_status = status;
        }
        match policy.delay(&outcome, first_status, retry, clock.now()) {
            Some(wait) => {
                tracing::debug!(
                    target: "msal::managed_identity", host, status, retry = retry + 1, wait_ms = wait.as_millis() as u64,
                    "retrying the managed identity request"
                );
                clock.sleep(wait).await;
                retry += 1;
            }
            None => {
                return outcome.map_err(|e| match policy {
                    RetryPolicy::Imds => Error::Transport(unreachable_imds(e, &host)),
                    RetryPolicy::Default => Error::Transport(e),
                });
            }
        }
    }
}

/// Whether `e` is a timeout before any connection was made: the reqwest
/// client's connect timeout, or an `io::Error` of kind `TimedOut` in the
/// source chain (how the OS and hyper report one, and how a custom
/// [`HttpClient`] can).
fn is_connect_timeout(e: &TransportError) -> bool {
    if e.kind != TransportErrorKind::Timeout {
        return false;
    }
    let mut next = e
        .source
        .as_deref()
        .map(|s| s as &(dyn std::error::Error + 'static));
    while let Some(err) = next {
        #[cfg(feature = "reqwest")]
        if err
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_connect)
        {
            return true;
        }
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// `e` saying what a failed connection to IMDS most likely means.
fn unreachable_imds(mut e: TransportError, host: &str) -> TransportError {
    if e.kind == TransportErrorKind::Connect || is_connect_timeout(&e) {
        e.message = format!(
            "no managed identity endpoint reachable (IMDS at {host}): not running on Azure? \
             Outside Azure, use another credential. ({})",
            e.message
        );
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn status(s: u16) -> Result<HttpResponse, TransportError> {
        Ok(http::Response::builder()
            .status(s)
            .body(Vec::new())
            .expect("valid"))
    }

    fn waits(policy: RetryPolicy, statuses: &[u16]) -> Vec<Option<u64>> {
        statuses
            .iter()
            .enumerate()
            .map(|(i, s)| {
                policy
                    .delay(
                        &status(*s),
                        statuses.first().copied(),
                        i as u32,
                        SystemTime::now(),
                    )
                    .map(|d| d.as_secs())
            })
            .collect()
    }

    #[test]
    fn imds_backs_off_exponentially_three_times() {
        assert_eq!(
            waits(RetryPolicy::Imds, &[500, 503, 429, 404]),
            vec![Some(1), Some(2), Some(4), None]
        );
        assert_eq!(waits(RetryPolicy::Imds, &[400]), vec![None]);
        assert_eq!(waits(RetryPolicy::Imds, &[200]), vec![None]);
        assert_eq!(waits(RetryPolicy::Imds, &[599]), vec![Some(1)]);
    }

    #[test]
    fn imds_gone_waits_ten_seconds_seven_times() {
        let w = waits(RetryPolicy::Imds, &[410; 8]);
        assert_eq!(w, [vec![Some(10); 7], vec![None]].concat());
    }

    #[test]
    fn other_sources_retry_fewer_statuses() {
        assert_eq!(
            waits(RetryPolicy::Default, &[500, 503, 504, 500]),
            vec![Some(1), Some(1), Some(1), None]
        );
        assert_eq!(waits(RetryPolicy::Default, &[410]), vec![None]);
        assert_eq!(waits(RetryPolicy::Default, &[502]), vec![None]);
        let r = Ok(http::Response::builder()
            .status(429)
            .header("retry-after", "7")
            .body(Vec::new())
            .expect("valid"));
        assert_eq!(
            RetryPolicy::Default.delay(&r, Some(429), 0, SystemTime::now()),
            Some(Duration::from_secs(7))
        );
        let r = Ok(http::Response::builder()
            .status(429)
            .header("retry-after", "600")
            .body(Vec::new())
            .expect("valid"));
        assert_eq!(
            RetryPolicy::Default.delay(&r, Some(429), 0, SystemTime::now()),
            None
        );
    }

    #[test]
    fn an_imds_connect_timeout_is_final_an_answer_timeout_is_not() {
        let connect = Err(
            TransportError::new(TransportErrorKind::Timeout, "connect timeout").with_source(
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting timed out"),
            ),
        );
        assert_eq!(
            RetryPolicy::Imds.delay(&connect, None, 0, SystemTime::now()),
            None
        );
        // Other sources are local agents that may be starting: retried.
        assert_eq!(
            RetryPolicy::Default.delay(&connect, None, 0, SystemTime::now()),
            Some(Duration::from_secs(1))
        );
        // A timeout with another cause (the answer is late) is retried.
        let late = Err(TransportError::new(TransportErrorKind::Timeout, "timeout")
            .with_source(std::io::Error::other("deadline")));
        assert_eq!(
            RetryPolicy::Imds.delay(&late, None, 0, SystemTime::now()),
            Some(Duration::from_secs(1))
        );
        let Err(e) = connect else { unreachable!() };
        let e = unreachable_imds(e, "169.254.169.254");
        assert!(
            e.message.starts_with(
                "no managed identity endpoint reachable (IMDS at 169.254.169.254): not running on Azure?"
            ),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("(connect timeout)"), "{}", e.message);
        let Err(e) = late else { unreachable!() };
        assert_eq!(unreachable_imds(e, "h").message, "timeout");
    }

    #[cfg(feature = "reqwest")]
    #[tokio::test]
    async fn reqwest_connect_errors_are_recognized() {
        // A refused connection is a reqwest connect error of the Connect kind:
        // `is_connect_timeout` must look through it but only say yes for timeouts.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let err = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .expect_err("nothing listens");
        assert!(err.is_connect());
        let refused = TransportError::new(TransportErrorKind::Connect, "refused").with_source(err);
        assert!(!is_connect_timeout(&refused));
        let mut as_timeout = refused;
        as_timeout.kind = TransportErrorKind::Timeout;
        assert!(
            is_connect_timeout(&as_timeout),
            "a reqwest connect error that timed out"
        );
    }

    #[test]
    fn timeouts_retry_refusals_do_not() {
        let timeout = Err(TransportError::new(TransportErrorKind::Timeout, "t"));
        assert_eq!(
            RetryPolicy::Imds.delay(&timeout, None, 0, SystemTime::now()),
            Some(Duration::from_secs(1))
        );
        let refused = Err(TransportError::new(TransportErrorKind::Connect, "c"));
        assert_eq!(
            RetryPolicy::Imds.delay(&refused, None, 0, SystemTime::now()),
            None
        );
    }
}
