//! [`DeviceCodeRequest`]: the device authorization grant (RFC 8628).

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use super::{Cancel, UserGrant, cancellable, decorated};
use crate::engine::{AuthenticationResult, Engine, Partition, Store};
use crate::error::{Error, Result};
use crate::http::{BoxFuture, TransportErrorKind};
use crate::protocol::device_code::{self, DeviceCodeInfo};
use crate::protocol::token::{self, TokenForm};
use crate::protocol::{errors, grant};
use crate::transport::service_error;
use crate::transport::throttle::Throttle;

/// How much `slow_down` adds to the polling interval (RFC 8628 §3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

type Show = Box<dyn FnOnce(&DeviceCodeInfo) + Send>;

/// A device-code sign-in; `.await` it.
///
/// The callback gets the user code and the URL to show; msal then polls the
/// token endpoint every `interval` (longer after `slow_down`) on the app's
/// clock until the user signs in, declines, or the code expires.
///
/// ```no_run
/// # async fn run(app: msal::PublicClientApplication) -> msal::Result<()> {
/// let token = app
///     .acquire_token_with_device_code(&["User.Read"], |info| eprintln!("{}", info.message))
///     .await?;
/// # let _ = token; Ok(()) }
/// ```
#[must_use = "a request does nothing until awaited"]
pub struct DeviceCodeRequest {
    engine: Arc<Engine>,
    scopes: Vec<String>,
    show: Show,
    claims: Option<String>,
    cancel: Cancel,
}

impl std::fmt::Debug for DeviceCodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodeRequest")
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl DeviceCodeRequest {
    pub(crate) fn new(engine: Arc<Engine>, scopes: Vec<String>, show: Show) -> Self {
        Self {
            engine,
            scopes,
            show,
            claims: None,
            cancel: None,
        }
    }

    /// A claims challenge to satisfy.
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        self.claims = Some(claims.into());
        self
    }

    /// Stops polling with [`Error::Cancelled`] when `signal` completes.
    pub fn cancel_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.cancel = Some(Box::pin(signal));
        self
    }

    async fn run(self) -> Result<AuthenticationResult> {
        let engine = self.engine;
        let (decorated, scope) = decorated(&self.scopes)?;
        let claims = engine.claims_param(self.claims.as_deref())?;
        let metadata = engine.resolver.metadata().await?;
        let endpoint = metadata
            .device_authorization_endpoint
            .clone()
            .ok_or_else(|| {
                Error::config(format!(
                    "{} has no device authorization endpoint",
                    engine.authority()
                ))
            })?;
        let mut form = TokenForm::new();
        form.set("client_id", &engine.client_id)
            .set("scope", &scope)
            .set_opt("claims", claims.as_deref());
        let response = engine
            .transport
            .post_form(&endpoint, &form.pairs(), &[], Throttle::None)
            .await?;
        let auth = device_code::parse(&response, engine.clock.now())?;
        (self.show)(&auth.info);

        let started = engine.clock.now();
        let mut interval = auth.info.interval;
        let mut failures = 0u32;
        loop {
            // Never wait past the code's expiry, whatever interval the server asked for.
            let waited = engine
                .clock
                .now()
                .duration_since(started)
                .unwrap_or_default();
            let left = auth.info.expires_in.saturating_sub(waited);
            engine.clock.sleep(interval.min(left)).await;
            // A clock may finish its sleep at once (tests, a paused runtime): yield so
            // that a cancellation signal is always seen before the next poll.
            tokio::task::yield_now().await;
            let waited = engine
                .clock
                .now()
                .duration_since(started)
                .unwrap_or_default();
            if waited >= auth.info.expires_in {
                return Err(expired());
            }
            let mut poll = TokenForm::grant(grant::DEVICE_CODE, &engine.client_id, &scope);
            poll.set("device_code", auth.device_code.expose_secret());
            poll.set_opt("claims", claims.as_deref());
            let response = match engine
                .transport
                .post_form(&metadata.token_endpoint, &poll.pairs(), &[], Throttle::None)
                .await
            {
                Ok(r) => r,
                // The user may be half-way through signing in: a network blip
                // in a 15-minute wait is worth riding out, a few times.
                Err(Error::Transport(t))
                    if t.kind == TransportErrorKind::Connect && failures < MAX_POLL_FAILURES =>
                {
                    failures += 1;
                    tracing::debug!(failures, error = %t, "device code: poll failed; polling on");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let status = response.status().as_u16();
            if (status == 429 || status >= 500) && failures < MAX_POLL_FAILURES {
                failures += 1;
                tracing::debug!(status, failures, "device code: server busy; polling on");
                continue;
            }
            failures = 0;
            // Some providers send OAuth errors (even authorization_pending) with a 200.
            if let Some(e) = service_error(&response, engine.clock.now()) {
                match e.error.as_str() {
                    "authorization_pending" => continue,
                    "slow_down" => {
                        interval = interval.saturating_add(SLOW_DOWN_STEP);
                        tracing::debug!(
                            interval_secs = interval.as_secs(),
                            "device code: slow_down"
                        );
                        continue;
                    }
                    "expired_token" | "code_expired" => return Err(expired()),
                    "access_denied" | "authorization_declined" => {
                        return Err(Error::Cancelled(
                            "the user declined the device-code sign-in".into(),
                        ));
                    }
                    _ => return Err(errors::from_service(e)),
                }
            }
            let parsed = token::parse_response(&response, engine.clock.now())?;
            let g = UserGrant {
                decorated: &decorated,
                account_source: grant::DEVICE_CODE,
                username_hint: None,
                nonce: None,
            };
            return engine
                .store(
                    Partition::UNPARTITIONED,
                    Store {
                        response: &parsed,
                        metadata: &metadata,
                        environment: engine.authority().host(),
                        requested_scopes: g.decorated,
                        account_source: Some(g.account_source),
                        username_hint: None,
                        rotate: None,
                        nonce: None,
                        known_account: None,
                        user_assertion_hash: None,
                    },
                )
                .await;
        }
    }
}

/// Consecutive failed polls (no connection, 429, 5xx) ridden out before
/// the flow gives up.
const MAX_POLL_FAILURES: u32 = 5;

fn expired() -> Error {
    Error::Cancelled("the device code expired before the user signed in".into())
}

impl IntoFuture for DeviceCodeRequest {
    type Output = Result<AuthenticationResult>;
    type IntoFuture = BoxFuture<'static, Result<AuthenticationResult>>;

    fn into_future(mut self) -> Self::IntoFuture {
        let cancel = self.cancel.take();
        Box::pin(async move { cancellable(self.run(), cancel).await })
    }
}
