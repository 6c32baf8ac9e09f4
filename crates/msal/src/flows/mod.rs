//! The flows, each one home: a request value to set options on and
//! `.await` (every request implements [`std::future::IntoFuture`]), and the
//! cache key and request it hands the engine.
//!
//! | flow | request | grant |
//! |---|---|---|
//! | silent | [`SilentRequest`] | cache, then `refresh_token` |
//! | interactive | [`InteractiveRequest`] | `authorization_code` + PKCE, loopback redirect |
//! | device code | [`DeviceCodeRequest`] | RFC 8628 |
//! | username/password (deprecated) | [`UsernamePasswordRequest`] | `password` |
//! | refresh token | [`RefreshTokenRequest`] | `refresh_token` (migration) |
//! | client credentials | [`ClientCredentialsRequest`] | cache, then `client_credentials` |
//! | on-behalf-of | [`OnBehalfOfRequest`] | cache, then `refresh_token` or jwt-bearer OBO |
//! | web-app sign-in | [`AuthorizationUrlRequest`], [`AuthorizationCodeRequest`] | `authorization_code` |
//!
//! Dropping a request's future cancels it; the interactive and device-code
//! requests also take a cancellation signal (`cancel_on`). Managed identity
//! has its home in [`crate::managed_identity`].

mod auth_code;
mod client_credentials;
mod device_code;
mod interactive;
mod loopback;
mod obo;
mod refresh_token;
mod silent;
mod username_password;

pub use auth_code::{AuthorizationCodeRequest, AuthorizationRequest, AuthorizationUrlRequest};
pub use client_credentials::ClientCredentialsRequest;
pub use device_code::DeviceCodeRequest;
pub use interactive::{DEFAULT_INTERACTIVE_TIMEOUT, InteractiveRequest};
pub use obo::{OnBehalfOfRequest, user_assertion_hash};
pub use refresh_token::RefreshTokenRequest;
pub use silent::SilentRequest;
pub use username_password::UsernamePasswordRequest;

use std::future::Future;

use crate::engine::{AuthenticationResult, Engine, Partition, Store};
use crate::error::{Error, Result};
use crate::http::BoxFuture;
use crate::protocol::scopes;
use crate::protocol::token::TokenForm;

/// A signal that cancels a flow when it completes.
pub(crate) type Cancel = Option<BoxFuture<'static, ()>>;

/// Runs `work` unless `cancel` completes first.
pub(crate) async fn cancellable<T>(
    work: impl Future<Output = Result<T>>,
    cancel: Cancel,
) -> Result<T> {
    match cancel {
        None => work.await,
        // Biased: a signal that is already complete wins over work that is also ready.
        Some(c) => tokio::select! {
            biased;
            () = c => Err(Error::Cancelled("the sign-in was cancelled by the caller".into())),
            r = work => r,
        },
    }
}

/// What a user grant (not silent) needs beyond the form.
pub(crate) struct UserGrant<'a> {
    pub(crate) decorated: &'a [String],
    pub(crate) account_source: &'a str,
    pub(crate) username_hint: Option<&'a str>,
    pub(crate) nonce: Option<&'a str>,
}

/// Sends a user grant's `form` to the token endpoint and writes the answer
/// through to the cache (no partition key: public-client sign-in).
pub(crate) async fn redeem_user_grant(
    engine: &Engine,
    form: TokenForm,
    g: UserGrant<'_>,
) -> Result<AuthenticationResult> {
    let metadata = engine.resolver.metadata().await?;
    let response = engine
        .post_token(
            &metadata,
            form,
            crate::transport::throttle::Throttle::None,
            &[],
        )
        .await?;
    engine
        .store(
            Partition::UNPARTITIONED,
            Store {
                response: &response,
                metadata: &metadata,
                environment: engine.authority().host(),
                requested_scopes: g.decorated,
                account_source: Some(g.account_source),
                username_hint: g.username_hint,
                rotate: None,
                nonce: g.nonce,
                known_account: None,
                user_assertion_hash: None,
            },
        )
        .await
}

/// Decorated scopes and their `scope` parameter.
pub(crate) fn decorated(requested: &[String]) -> Result<(Vec<String>, String)> {
    let d = scopes::decorate(requested)?;
    let joined = scopes::join(&d);
    Ok((d, joined))
}
