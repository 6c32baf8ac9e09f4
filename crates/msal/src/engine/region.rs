//! Regional token requests (ESTS-R) for client credentials: the region is
//! resolved once per application (named, `REGION_NAME`, or IMDS), the
//! request goes to the regional form of the token endpoint, and a request
//! that fails at the transport level is made again at the global endpoint.
//! Tokens are cached under the global environment either way.

use std::time::Duration;

use http::header::{ACCEPT, HeaderName, HeaderValue};
use serde::Deserialize;

use super::client::Engine;
use crate::authority::{OidcMetadata, Region, normalize_region, regional_token_endpoint};
use crate::cache::TokenResponse;
use crate::error::{Error, Result};
use crate::protocol::token::TokenForm;
use crate::transport::Direct;
use crate::transport::throttle::Throttle;

/// How long the IMDS probe may take: off Azure, nothing answers at all.
const IMDS_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
struct Compute {
    location: Option<String>,
}

impl Engine {
    /// The app's region, resolved on first use (`None`: the global endpoint).
    pub(crate) async fn region(&self) -> Option<&str> {
        let setting = self.region.as_ref()?;
        self.region_resolved
            .get_or_init(|| detect(self, setting))
            .await
            .as_deref()
    }

    /// Posts an app-token request: to the regional endpoint when the app
    /// has a region, again to the global one when that fails at the
    /// transport level (or the authority has no regional form).
    pub(crate) async fn post_app_token(
        &self,
        metadata: &OidcMetadata,
        form: TokenForm,
        throttle: Throttle,
    ) -> Result<TokenResponse> {
        let regional = match self.region().await {
            Some(r) if self.authority().kind() == crate::authority::AuthorityKind::Entra => {
                regional_token_endpoint(&metadata.token_endpoint, r)
            }
            _ => None,
        };
        if let Some(endpoint) = regional {
            match self
                .post_token_to(&endpoint, form.clone(), throttle.clone(), &[])
                .await
            {
                Err(Error::Transport(t)) => {
                    tracing::warn!(
                        target: "msal::region",
                        host = endpoint.host_str().unwrap_or(""),
                        error = %t,
                        "the regional token endpoint failed; asking the global one"
                    );
                }
                other => return other,
            }
        }
        self.post_token(metadata, form, throttle, &[]).await
    }
}

async fn detect(engine: &Engine, setting: &Region) -> Option<String> {
    let imds = match setting.without_request() {
        Ok(named) => return named,
        Err(url) => url,
    };
    let mut request = http::Request::get(imds.as_str()).body(Vec::new()).ok()?;
    request.headers_mut().insert(
        HeaderName::from_static("metadata"),
        HeaderValue::from_static("true"),
    );
    request
        .headers_mut()
        .insert(ACCEPT, HeaderValue::from_static("application/json"));
    // IMDS is on the host's link: never through a proxy.
    request.extensions_mut().insert(Direct);
    let answer = tokio::time::timeout(IMDS_TIMEOUT, engine.transport.http().execute(request)).await;
    let region = match answer {
        Ok(Ok(r)) if r.status().is_success() => serde_json::from_slice::<Compute>(r.body())
            .ok()
            .and_then(|c| c.location)
            .and_then(|l| normalize_region(&l)),
        _ => None,
    };
    match &region {
        Some(r) => tracing::debug!(target: "msal::region", region = %r, "region from IMDS"),
        None => tracing::info!(
            target: "msal::region",
            "no region detected (no REGION_NAME, IMDS gave none); using the global endpoint"
        ),
    }
    region
}
