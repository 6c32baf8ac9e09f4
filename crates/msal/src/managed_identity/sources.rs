//! The wire shape of each source: endpoint, method, query, headers.
//!
//! Facts from MSAL Python (`msal/managed_identity.py`) and MSAL Go
//! (`apps/managedidentity`): api-versions, header names, and how each
//! source names a user-assigned identity.

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use url::Url;
use zeroize::Zeroizing;

use super::environment::{Environment, Source, vars};
use super::{ManagedIdentity, UserAssignedId};
use crate::error::Error;
use crate::http::HttpRequest;
use crate::transport::Direct;

/// The IMDS token endpoint's path, after the host.
pub(crate) const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
/// The IMDS host.
pub(crate) const IMDS_HOST: &str = "http://169.254.169.254";
/// The Arc agent's endpoint when `IDENTITY_ENDPOINT` is not set.
pub(crate) const ARC_DEFAULT_ENDPOINT: &str =
    "http://127.0.0.1:40342/metadata/identity/oauth2/token";

const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
const SERVICE_FABRIC_API_VERSION: &str = "2019-07-01-preview";
const ARC_API_VERSION: &str = "2020-06-01";
const AZURE_ML_API_VERSION: &str = "2017-09-01";

/// A source with its endpoint and secrets, read once when the app is built.
pub(crate) struct Resolved {
    pub(crate) source: Source,
    pub(crate) endpoint: Url,
    /// `IDENTITY_HEADER` (App Service, Service Fabric) or `MSI_SECRET` (Azure ML).
    secret: Option<Zeroizing<String>>,
    /// Azure ML's identity when a system-assigned one is asked for.
    default_client_id: Option<String>,
    /// Service Fabric: the SHA-1 thumbprint the endpoint's certificate must have.
    pub(crate) thumbprint: Option<[u8; 20]>,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("source", &self.source)
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

/// What varies between two requests of one app.
#[derive(Default)]
pub(crate) struct Extras<'a> {
    /// App Service and Service Fabric: the SHA-256 (lower-case hex) of the
    /// token a claims challenge rejected.
    pub(crate) token_sha256_to_refresh: Option<&'a str>,
    /// App Service and Service Fabric: the app's client capabilities (`xms_cc`).
    pub(crate) client_capabilities: &'a [String],
    /// Azure Arc: the key file's content, for the second request.
    pub(crate) arc_key: Option<&'a str>,
}

impl Extras<'_> {
    /// Token revocation's parameters (the sources that take them): the
    /// rejected token's hash and the client capabilities.
    fn append_revocation<T: url::form_urlencoded::Target>(
        &self,
        q: &mut url::form_urlencoded::Serializer<'_, T>,
    ) {
        if let Some(hash) = self.token_sha256_to_refresh {
            q.append_pair("token_sha256_to_refresh", hash);
        }
        if !self.client_capabilities.is_empty() {
            q.append_pair("xms_cc", &self.client_capabilities.join(","));
        }
    }
}

fn endpoint_var(env: &Environment, name: &str) -> Result<Url, Error> {
    let raw = env.var(name).unwrap_or_default();
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::config(format!("{name} is not a usable URL ({e}): {raw:?}")))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        _ => Err(Error::config(format!(
            "{name} must be an http:// or https:// URL with a host, not {raw:?}"
        ))),
    }
}

fn secret_var(env: &Environment, name: &str) -> Result<Zeroizing<String>, Error> {
    let value = Zeroizing::new(env.var(name).unwrap_or_default());
    // Checked here so a bad value fails at build time, naming the variable and never showing it.
    HeaderValue::from_str(value.trim()).map_err(|_| {
        Error::config(format!(
            "{name} holds characters that cannot go in an HTTP header"
        ))
    })?;
    Ok(value)
}

fn no_user_assigned(source: Source, identity: &ManagedIdentity, why: &str) -> Result<(), Error> {
    match identity {
        ManagedIdentity::SystemAssigned => Ok(()),
        ManagedIdentity::UserAssigned(_) => Err(Error::config(format!(
            "{source} does not support user-assigned managed identities{why}; use ManagedIdentity::SystemAssigned"
        ))),
    }
}

/// Parses `IDENTITY_SERVER_THUMBPRINT`: 40 hex digits, with or without `:` or spaces.
pub(crate) fn parse_thumbprint(raw: &str) -> Result<[u8; 20], Error> {
    let hex: Vec<char> = raw
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let bad = || {
        Error::config(
            "IDENTITY_SERVER_THUMBPRINT is not a SHA-1 certificate thumbprint (40 hex digits)",
        )
    };
    if hex.len() != 40 {
        return Err(bad());
    }
    let mut out = [0u8; 20];
    for (i, pair) in hex.chunks(2).enumerate() {
        let hi = pair[0].to_digit(16).ok_or_else(bad)?;
        let lo = pair[1].to_digit(16).ok_or_else(bad)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Ok(out)
}

/// Reads what `source` needs from `env`.
///
/// # Errors
/// [`Error::Config`] for an unusable endpoint or secret, a Service Fabric
/// endpoint that is not HTTPS or a bad thumbprint, or a user-assigned
/// identity where the source cannot serve one.
pub(crate) fn resolve(
    source: Source,
    env: &Environment,
    identity: &ManagedIdentity,
    imds_override: Option<&Url>,
) -> Result<Resolved, Error> {
    let mut r = Resolved {
        source,
        endpoint: Url::parse(IMDS_HOST).map_err(|e| Error::config(e.to_string()))?,
        secret: None,
        default_client_id: None,
        thumbprint: None,
    };
    match source {
        Source::AppService => {
            r.endpoint = endpoint_var(env, vars::IDENTITY_ENDPOINT)?;
            r.secret = Some(secret_var(env, vars::IDENTITY_HEADER)?);
        }
        Source::ServiceFabric => {
            no_user_assigned(
                source,
                identity,
                " (the cluster's configuration chooses the identity)",
            )?;
            r.endpoint = endpoint_var(env, vars::IDENTITY_ENDPOINT)?;
            if r.endpoint.scheme() != "https" {
                return Err(Error::config(
                    "Service Fabric's IDENTITY_ENDPOINT must be an https:// URL",
                ));
            }
            r.secret = Some(secret_var(env, vars::IDENTITY_HEADER)?);
            r.thumbprint = Some(parse_thumbprint(
                &env.var(vars::IDENTITY_SERVER_THUMBPRINT)
                    .unwrap_or_default(),
            )?);
        }
        Source::AzureMl => {
            if let ManagedIdentity::UserAssigned(
                UserAssignedId::ResourceId(_) | UserAssignedId::ObjectId(_),
            ) = identity
            {
                return Err(Error::config(
                    "Azure Machine Learning names a user-assigned managed identity by client id only; use UserAssignedId::ClientId",
                ));
            }
            r.endpoint = endpoint_var(env, vars::MSI_ENDPOINT)?;
            r.secret = Some(secret_var(env, vars::MSI_SECRET)?);
            r.default_client_id = env.var(vars::DEFAULT_IDENTITY_CLIENT_ID);
        }
        Source::CloudShell => {
            no_user_assigned(source, identity, "")?;
            r.endpoint = endpoint_var(env, vars::MSI_ENDPOINT)?;
        }
        Source::AzureArc => {
            no_user_assigned(source, identity, "")?;
            r.endpoint = match env.var(vars::IDENTITY_ENDPOINT) {
                Some(_) => endpoint_var(env, vars::IDENTITY_ENDPOINT)?,
                None => {
                    Url::parse(ARC_DEFAULT_ENDPOINT).map_err(|e| Error::config(e.to_string()))?
                }
            };
        }
        Source::Imds => {
            r.endpoint = match (
                imds_override,
                env.var(vars::AZURE_POD_IDENTITY_AUTHORITY_HOST),
            ) {
                (Some(url), _) => url.clone(),
                (None, Some(host)) => {
                    let url = format!("{}{IMDS_PATH}", host.trim().trim_end_matches('/'));
                    Url::parse(&url).map_err(|e| {
                        Error::config(format!(
                            "AZURE_POD_IDENTITY_AUTHORITY_HOST is not a usable URL ({e}): {host:?}"
                        ))
                    })?
                }
                (None, None) => Url::parse(&format!("{IMDS_HOST}{IMDS_PATH}"))
                    .map_err(|e| Error::config(e.to_string()))?,
            };
        }
    }
    Ok(r)
}

impl Resolved {
    /// The request for a token for `resource`.
    ///
    /// # Errors
    /// [`Error::Config`] if the request cannot be built (a header value the
    /// key file or identity makes invalid).
    pub(crate) fn request(
        &self,
        identity: &ManagedIdentity,
        resource: &str,
        extras: &Extras<'_>,
    ) -> Result<HttpRequest, Error> {
        let mut url = self.endpoint.clone();
        let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
        let mut body = Vec::new();
        let mut method = http::Method::GET;
        let header = |v: &str, what: &str| -> Result<HeaderValue, Error> {
            let mut value = HeaderValue::from_str(v.trim()).map_err(|_| {
                Error::config(format!(
                    "{what} holds characters that cannot go in an HTTP header"
                ))
            })?;
            value.set_sensitive(true);
            Ok(value)
        };
        let secret = self.secret.as_ref().map(|s| s.as_str()).unwrap_or("");
        let metadata = (
            HeaderName::from_static("metadata"),
            HeaderValue::from_static("true"),
        );
        {
            let mut q = url.query_pairs_mut();
            match self.source {
                Source::Imds => {
                    q.append_pair("api-version", IMDS_API_VERSION)
                        .append_pair("resource", resource);
                    if let ManagedIdentity::UserAssigned(id) = identity {
                        let name = match id {
                            UserAssignedId::ClientId(_) => "client_id",
                            UserAssignedId::ResourceId(_) => "msi_res_id",
                            UserAssignedId::ObjectId(_) => "object_id",
                        };
                        q.append_pair(name, id.value());
                    }
                    headers.push(metadata);
                    headers.push((
                        HeaderName::from_static("x-client-sku"),
                        HeaderValue::from_static(crate::transport::SKU),
                    ));
                    headers.push((
                        HeaderName::from_static("x-client-ver"),
                        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
                    ));
                    let id = uuid::Uuid::new_v4().to_string();
                    headers.push((
                        HeaderName::from_static("x-ms-client-request-id"),
                        header(&id, "the request id")?,
                    ));
                }
                Source::AppService => {
                    q.append_pair("api-version", APP_SERVICE_API_VERSION)
                        .append_pair("resource", resource);
                    if let ManagedIdentity::UserAssigned(id) = identity {
                        let name = match id {
                            UserAssignedId::ClientId(_) => "client_id",
                            // App Service spells the resource id differently from IMDS.
                            UserAssignedId::ResourceId(_) => "mi_res_id",
                            UserAssignedId::ObjectId(_) => "object_id",
                        };
                        q.append_pair(name, id.value());
                    }
                    extras.append_revocation(&mut q);
                    headers.push((
                        HeaderName::from_static("x-identity-header"),
                        header(secret, "IDENTITY_HEADER")?,
                    ));
                    headers.push(metadata);
                }
                Source::ServiceFabric => {
                    q.append_pair("api-version", SERVICE_FABRIC_API_VERSION)
                        .append_pair("resource", resource);
                    extras.append_revocation(&mut q);
                    headers.push((
                        HeaderName::from_static("secret"),
                        header(secret, "IDENTITY_HEADER")?,
                    ));
                    headers.push((ACCEPT, HeaderValue::from_static("application/json")));
                }
                Source::AzureMl => {
                    q.append_pair("api-version", AZURE_ML_API_VERSION)
                        .append_pair("resource", resource);
                    let client_id = match identity {
                        ManagedIdentity::UserAssigned(id) => Some(id.value()),
                        ManagedIdentity::SystemAssigned => self.default_client_id.as_deref(),
                    };
                    if let Some(id) = client_id {
                        // Azure ML's 2017 API spells it without the underscore.
                        q.append_pair("clientid", id);
                    }
                    headers.push((
                        HeaderName::from_static("secret"),
                        header(secret, "MSI_SECRET")?,
                    ));
                }
                Source::CloudShell => {
                    method = http::Method::POST;
                    body = serde_urlencoded::to_string([("resource", resource)])
                        .map_err(|e| Error::config(format!("cannot encode the resource: {e}")))?
                        .into_bytes();
                    headers.push(metadata);
                    headers.push((
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/x-www-form-urlencoded"),
                    ));
                }
                Source::AzureArc => {
                    q.append_pair("api-version", ARC_API_VERSION)
                        .append_pair("resource", resource);
                    headers.push(metadata);
                    if let Some(key) = extras.arc_key {
                        headers.push((
                            AUTHORIZATION,
                            header(&format!("Basic {}", key.trim()), "the Arc key file")?,
                        ));
                    }
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut request = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .body(body)
            .map_err(|e| Error::config(format!("cannot build the {} request: {e}", self.source)))?;
        for (name, value) in headers {
            request.headers_mut().insert(name, value);
        }
        // Identity endpoints are local agents: never through a proxy.
        request.extensions_mut().insert(Direct);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_vars(pairs.iter().map(|(k, v)| (*k, *v))).arc_agent_path(None)
    }

    fn ua(id: UserAssignedId) -> ManagedIdentity {
        ManagedIdentity::UserAssigned(id)
    }

    #[test]
    fn thumbprints_with_or_without_separators() {
        let t = parse_thumbprint("0A:1b:2C 3d4e5f60718293a4b5c6d7e8f900010205").expect("valid");
        assert_eq!(t[0], 0x0a);
        assert_eq!(t[19], 0x05);
        for bad in ["", "abc", &"g".repeat(40), &"a".repeat(42)] {
            assert!(
                matches!(parse_thumbprint(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn sources_refuse_what_they_cannot_serve() {
        let e = "https://127.0.0.1:1/t";
        let sf = env(&[
            ("IDENTITY_ENDPOINT", e),
            ("IDENTITY_HEADER", "h"),
            ("IDENTITY_SERVER_THUMBPRINT", &"a".repeat(40)),
        ]);
        let err = resolve(
            Source::ServiceFabric,
            &sf,
            &ua(UserAssignedId::ClientId("c".into())),
            None,
        )
        .expect_err("UA");
        assert!(
            err.to_string()
                .contains("Service Fabric does not support user-assigned"),
            "{err}"
        );
        let plain = env(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/t"),
            ("IDENTITY_HEADER", "h"),
            ("IDENTITY_SERVER_THUMBPRINT", &"a".repeat(40)),
        ]);
        let err = resolve(
            Source::ServiceFabric,
            &plain,
            &ManagedIdentity::SystemAssigned,
            None,
        )
        .expect_err("http");
        assert!(err.to_string().contains("https://"), "{err}");
        let arc = env(&[("IDENTITY_ENDPOINT", e), ("IMDS_ENDPOINT", e)]);
        assert!(
            resolve(
                Source::AzureArc,
                &arc,
                &ua(UserAssignedId::ObjectId("o".into())),
                None
            )
            .is_err()
        );
        let ml = env(&[("MSI_ENDPOINT", e), ("MSI_SECRET", "s")]);
        assert!(
            resolve(
                Source::AzureMl,
                &ml,
                &ua(UserAssignedId::ResourceId("r".into())),
                None
            )
            .is_err()
        );
        assert!(
            resolve(
                Source::AzureMl,
                &ml,
                &ua(UserAssignedId::ClientId("c".into())),
                None
            )
            .is_ok()
        );
        let bad = env(&[("IDENTITY_ENDPOINT", "not a url"), ("IDENTITY_HEADER", "h")]);
        let err = resolve(
            Source::AppService,
            &bad,
            &ManagedIdentity::SystemAssigned,
            None,
        )
        .expect_err("bad url");
        assert!(err.to_string().contains("IDENTITY_ENDPOINT"), "{err}");
        let newline = env(&[("IDENTITY_ENDPOINT", e), ("IDENTITY_HEADER", "s3cr\n3t")]);
        let err = resolve(
            Source::AppService,
            &newline,
            &ManagedIdentity::SystemAssigned,
            None,
        )
        .expect_err("bad header");
        assert!(
            err.to_string().contains("IDENTITY_HEADER") && !err.to_string().contains("s3cr"),
            "{err}"
        );
    }

    #[test]
    fn imds_host_from_the_environment_or_the_builder() {
        let r = resolve(
            Source::Imds,
            &env(&[]),
            &ManagedIdentity::SystemAssigned,
            None,
        )
        .expect("ok");
        assert_eq!(
            r.endpoint.as_str(),
            "http://169.254.169.254/metadata/identity/oauth2/token"
        );
        let r = resolve(
            Source::Imds,
            &env(&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://10.0.0.1:2579/")]),
            &ManagedIdentity::SystemAssigned,
            None,
        )
        .expect("ok");
        assert_eq!(
            r.endpoint.as_str(),
            "http://10.0.0.1:2579/metadata/identity/oauth2/token"
        );
        let over = Url::parse("http://127.0.0.1:9/x").expect("url");
        let r = resolve(
            Source::Imds,
            &env(&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://10.0.0.1")]),
            &ManagedIdentity::SystemAssigned,
            Some(&over),
        )
        .expect("ok");
        assert_eq!(r.endpoint, over);
    }

    #[test]
    fn requests_are_direct_and_name_the_identity_per_source() {
        let e = "http://127.0.0.1:1/msi/token?x=1";
        let app = resolve(
            Source::AppService,
            &env(&[("IDENTITY_ENDPOINT", e), ("IDENTITY_HEADER", "h")]),
            &ManagedIdentity::SystemAssigned,
            None,
        )
        .expect("ok");
        let id = ua(UserAssignedId::ResourceId("/subscriptions/s/rg/id".into()));
        let r = app
            .request(&id, "https://vault.azure.net", &Extras::default())
            .expect("request");
        assert!(r.extensions().get::<Direct>().is_some());
        assert_eq!(
            r.uri().to_string(),
            "http://127.0.0.1:1/msi/token?x=1&api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net&mi_res_id=%2Fsubscriptions%2Fs%2Frg%2Fid"
        );
        assert!(r.headers()["x-identity-header"].is_sensitive());
        let imds = resolve(Source::Imds, &env(&[]), &id, None).expect("ok");
        let r = imds.request(&id, "r", &Extras::default()).expect("request");
        assert!(
            r.uri().to_string().ends_with(
                "api-version=2018-02-01&resource=r&msi_res_id=%2Fsubscriptions%2Fs%2Frg%2Fid"
            ),
            "{}",
            r.uri()
        );
        let cs = resolve(
            Source::CloudShell,
            &env(&[("MSI_ENDPOINT", "http://localhost:50342/oauth2/token")]),
            &ManagedIdentity::SystemAssigned,
            None,
        )
        .expect("ok");
        let r = cs
            .request(
                &ManagedIdentity::SystemAssigned,
                "https://x y",
                &Extras::default(),
            )
            .expect("request");
        assert_eq!(
            (r.method().as_str(), r.body().as_slice()),
            ("POST", &b"resource=https%3A%2F%2Fx+y"[..])
        );
        assert_eq!(r.uri().to_string(), "http://localhost:50342/oauth2/token");
    }
}
