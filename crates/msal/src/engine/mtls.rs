//! mTLS proof-of-possession (certificate-bound) app tokens: the token
//! request goes over mutual TLS with the app's certificate to the
//! authority's mTLS token endpoint, and the token it gets is bound to that
//! certificate (`cnf.x5t#S256`, token type `mtls_pop`).

use std::sync::{Arc, OnceLock};

use url::Url;

use super::client::Engine;
use crate::authority::{AuthorityKind, OidcMetadata};
use crate::cache::TokenResponse;
use crate::credentials::Certificate;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::protocol::token::{self, TokenForm};
use crate::transport::Transport;
use crate::transport::throttle::Throttle;

/// The token type of certificate-bound tokens.
pub(crate) const MTLS_POP: &str = "mtls_pop";

/// The public cloud's mTLS host (`<region>.mtlsauth.microsoft.com` regionally).
const PUBLIC_MTLS_HOST: &str = "mtlsauth.microsoft.com";

/// What a certificate app needs for mTLS PoP requests.
pub(crate) struct Mtls {
    pub(crate) certificate: Certificate,
    /// The client given with `mtls_http_client`, else one built on first use.
    http: Option<Arc<dyn HttpClient>>,
    transport: OnceLock<Transport>,
}

impl Mtls {
    pub(crate) fn new(certificate: Certificate, http: Option<Arc<dyn HttpClient>>) -> Self {
        Self {
            certificate,
            http,
            transport: OnceLock::new(),
        }
    }
}

impl Engine {
    /// The certificate mTLS PoP requests present.
    ///
    /// # Errors
    /// [`Error::Config`] when the app's credential is not a certificate.
    pub(crate) fn mtls(&self) -> Result<&Mtls> {
        self.mtls.as_deref().ok_or_else(|| {
            Error::config(
                "mTLS proof of possession needs a certificate credential (ClientCredential::certificate)",
            )
        })
    }

    fn mtls_transport<'a>(&self, m: &'a Mtls) -> Result<&'a Transport> {
        if let Some(t) = m.transport.get() {
            return Ok(t);
        }
        let http = match &m.http {
            Some(h) => h.clone(),
            None => default_client(&m.certificate)?,
        };
        Ok(m.transport
            .get_or_init(|| Transport::new(http, self.clock.clone())))
    }

    /// Posts `form` (client credentials, `token_type=mtls_pop`) to the mTLS
    /// token endpoint over mutual TLS. No client assertion: the TLS client
    /// certificate authenticates the app.
    ///
    /// # Errors
    /// [`Error::Config`] when the authority has no mTLS endpoint; transport
    /// and service errors; [`Error::Protocol`] when the answer is not an
    /// `mtls_pop` token.
    pub(crate) async fn post_mtls_pop(
        &self,
        metadata: &OidcMetadata,
        form: TokenForm,
        throttle: Throttle,
        region: Option<&str>,
    ) -> Result<TokenResponse> {
        let m = self.mtls()?;
        let endpoint = mtls_endpoint(metadata, self.authority().kind(), region)?;
        let transport = self.mtls_transport(m)?;
        let response = transport
            .post_form(&endpoint, &form.pairs(), &[], throttle)
            .await?;
        let mut parsed = token::parse_response(&response, self.clock.now())?;
        let got = parsed.token_type.as_deref().unwrap_or("Bearer");
        if !got.eq_ignore_ascii_case(MTLS_POP) {
            return Err(Error::protocol(format!(
                "an mTLS proof-of-possession request was answered with a {got} token"
            )));
        }
        parsed.token_type = Some(MTLS_POP.to_owned());
        parsed.key_id = Some(m.certificate.thumbprint_sha256().to_owned());
        Ok(parsed)
    }
}

/// The authority's mTLS token endpoint: the one its metadata names
/// (`mtls_endpoint_aliases`), else for Entra's public cloud
/// `mtlsauth.microsoft.com` (or `<region>.mtlsauth.microsoft.com`) with the
/// token endpoint's path.
fn mtls_endpoint(
    metadata: &OidcMetadata,
    kind: AuthorityKind,
    region: Option<&str>,
) -> Result<Url> {
    if let Some(u) = &metadata.mtls_token_endpoint {
        return Ok(u.clone());
    }
    let global = &metadata.token_endpoint;
    let public = matches!(
        global.host_str(),
        Some("login.microsoftonline.com" | "login.microsoft.com" | "login.windows.net")
    );
    if kind != AuthorityKind::Entra || !public {
        return Err(Error::config(format!(
            "{} has no mTLS token endpoint (mtls_endpoint_aliases) for proof of possession",
            global.host_str().unwrap_or("the authority")
        )));
    }
    let host = match region {
        Some(r) => format!("{r}.{PUBLIC_MTLS_HOST}"),
        None => PUBLIC_MTLS_HOST.to_owned(),
    };
    let mut u = global.clone();
    u.set_host(Some(&host))
        .map_err(|e| Error::config(format!("bad mTLS host {host}: {e}")))?;
    Ok(u)
}

#[cfg(feature = "reqwest")]
fn default_client(cert: &Certificate) -> Result<Arc<dyn HttpClient>> {
    Ok(Arc::new(
        crate::transport::ReqwestHttpClient::builder()
            .client_certificate(cert.clone())
            .build()?,
    ))
}

#[cfg(not(feature = "reqwest"))]
fn default_client(_: &Certificate) -> Result<Arc<dyn HttpClient>> {
    Err(Error::config(
        "mTLS proof of possession needs msal's `reqwest` feature or an mtls_http_client",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(token: &str, mtls: Option<&str>) -> OidcMetadata {
        OidcMetadata {
            issuer: None,
            authorization_endpoint: None,
            token_endpoint: Url::parse(token).unwrap(),
            device_authorization_endpoint: None,
            end_session_endpoint: None,
            mtls_token_endpoint: mtls.map(|m| Url::parse(m).unwrap()),
        }
    }

    #[test]
    fn endpoints() {
        let t = "https://login.microsoftonline.com/t/oauth2/v2.0/token";
        let e =
            |m: &OidcMetadata, r| mtls_endpoint(m, AuthorityKind::Entra, r).map(|u| u.to_string());
        assert_eq!(
            e(&md(t, None), None).unwrap(),
            "https://mtlsauth.microsoft.com/t/oauth2/v2.0/token"
        );
        assert_eq!(
            e(&md(t, None), Some("westus2")).unwrap(),
            "https://westus2.mtlsauth.microsoft.com/t/oauth2/v2.0/token"
        );
        assert_eq!(
            e(
                &md(t, Some("https://127.0.0.1:9/t/oauth2/v2.0/token")),
                None
            )
            .unwrap(),
            "https://127.0.0.1:9/t/oauth2/v2.0/token"
        );
        let other = md("https://login.contoso.example/t/oauth2/v2.0/token", None);
        assert!(matches!(e(&other, None), Err(Error::Config(_))));
    }
}
