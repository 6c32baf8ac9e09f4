//! OpenID configuration and instance discovery, fetched once per process.
//!
//! Both caches are process-wide, as in MSAL.NET: every app in the process
//! that names the same authority (metadata) or host (discovery) shares one
//! answer. A failed fetch is not remembered, so the next call tries again.
//! Concurrent first calls make one request between them.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

use super::aliases;
use super::parse::{Authority, AuthorityKind};
use crate::error::{Error, Result};
use crate::transport::Transport;

/// The endpoints of an authority, from its OpenID configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OidcMetadata {
    /// The `issuer` (may hold the `{tenantid}` placeholder for multi-tenant Entra).
    pub issuer: Option<String>,
    /// Where the browser goes to sign in.
    pub authorization_endpoint: Option<Url>,
    /// Where codes, refresh tokens and credentials are redeemed.
    pub token_endpoint: Url,
    /// The device authorization endpoint, if the provider has one.
    pub device_authorization_endpoint: Option<Url>,
    /// The logout endpoint.
    pub end_session_endpoint: Option<Url>,
    /// The token endpoint for mutual-TLS clients
    /// (`mtls_endpoint_aliases.token_endpoint`, RFC 8705 §5).
    pub mtls_token_endpoint: Option<Url>,
}

impl OidcMetadata {
    /// The realm this authority's tokens are stored under: the first path
    /// segment of the token endpoint (spec §3.4, as MSAL Python).
    pub fn realm(&self) -> Option<String> {
        self.token_endpoint
            .path_segments()
            .and_then(|mut s| s.find(|p| !p.is_empty()))
            .map(|s| s.to_ascii_lowercase())
    }
}

#[derive(Deserialize)]
struct RawMetadata {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    device_authorization_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    #[serde(default)]
    mtls_endpoint_aliases: Option<RawMtlsAliases>,
}

#[derive(Deserialize)]
struct RawMtlsAliases {
    token_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct RawDiscovery {
    #[serde(default)]
    metadata: Vec<RawAliasGroup>,
}

#[derive(Deserialize)]
struct RawAliasGroup {
    #[serde(default)]
    aliases: Vec<String>,
}

type Slot<T> = Arc<OnceCell<Arc<T>>>;

static METADATA: LazyLock<Mutex<HashMap<String, Slot<OidcMetadata>>>> =
    LazyLock::new(Default::default);
static DISCOVERY: LazyLock<Mutex<HashMap<String, Slot<Vec<String>>>>> =
    LazyLock::new(Default::default);

fn slot<T>(map: &Mutex<HashMap<String, Slot<T>>>, key: &str) -> Slot<T> {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    m.entry(key.to_owned()).or_default().clone()
}

fn peek<T>(map: &Mutex<HashMap<String, Slot<T>>>, key: &str) -> Option<Arc<T>> {
    let m = map.lock().unwrap_or_else(|p| p.into_inner());
    m.get(key).and_then(|s| s.get().cloned())
}

/// Resolves an authority's endpoints, realm and environment aliases.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuthorityResolver {
    authority: Authority,
    instance_discovery: bool,
    transport: Transport,
    /// The environments and realms once they can no longer change, so that
    /// a cache hit takes no process-wide lock and builds no URL.
    settled: Arc<Settled>,
}

#[derive(Debug, Default)]
struct Settled {
    environments: std::sync::OnceLock<Arc<[String]>>,
    realms: std::sync::OnceLock<Arc<[String]>>,
}

impl AuthorityResolver {
    /// A resolver for `authority` sending its requests through `transport`.
    /// With `instance_discovery` off, no discovery request is ever made (the
    /// built-in alias table is still used: it costs no request).
    pub fn new(authority: Authority, instance_discovery: bool, transport: Transport) -> Self {
        Self {
            authority,
            instance_discovery,
            transport,
            settled: Arc::default(),
        }
    }

    /// The configured authority.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The transport requests go through.
    #[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Whether a discovery request applies: an Entra authority on a host that
    /// is not in the built-in table, with discovery on.
    fn needs_discovery(&self) -> bool {
        self.instance_discovery
            && self.authority.kind() == AuthorityKind::Entra
            && !aliases::is_known_host(self.authority.host())
    }

    /// The OpenID configuration of the configured authority (fetched once
    /// per process). For an Entra host outside the built-in table, instance
    /// discovery runs first and must accept the host.
    ///
    /// # Errors
    /// [`Error::Config`] when discovery rejects the host; [`Error::Protocol`]
    /// for a document without a usable token endpoint; transport errors.
    pub async fn metadata(&self) -> Result<Arc<OidcMetadata>> {
        self.metadata_of(&self.authority).await
    }

    /// The OpenID configuration of `authority` (the configured one or an alias).
    ///
    /// # Errors
    /// As [`AuthorityResolver::metadata`].
    pub async fn metadata_of(&self, authority: &Authority) -> Result<Arc<OidcMetadata>> {
        if self.needs_discovery() {
            self.discovered_environments().await?;
        }
        let url = authority.metadata_url();
        let cell = slot(&METADATA, &url);
        let got = cell
            .get_or_try_init(|| async {
                let parsed = Url::parse(&url)
                    .map_err(|e| Error::config(format!("bad metadata URL: {e}")))?;
                let raw: RawMetadata = self.transport.get_json(&parsed).await?;
                convert(raw, authority).map(Arc::new)
            })
            .await?;
        Ok(got.clone())
    }

    /// The metadata if this process already has it, without a request.
    pub fn cached_metadata(&self) -> Option<Arc<OidcMetadata>> {
        peek(&METADATA, &self.authority.metadata_url())
    }

    /// The realm known without a request: the static realm (spec §3.4) or the
    /// one from metadata this process already fetched.
    pub fn known_realm(&self) -> Option<String> {
        self.cached_metadata()
            .and_then(|m| m.realm())
            .or_else(|| self.authority.static_realm().map(str::to_owned))
    }

    /// The realm tokens are stored under: the token endpoint's tenant segment.
    ///
    /// # Errors
    /// As [`AuthorityResolver::metadata`], when a request is needed.
    pub async fn realm(&self) -> Result<String> {
        let m = self.metadata().await?;
        m.realm().ok_or_else(|| {
            Error::protocol("the token endpoint in the OpenID configuration has no tenant segment")
        })
    }

    /// The realms a cached token may be stored under for this authority and an
    /// account whose home tenant is `home_tenant` (spec §11): the authority's
    /// realm(s) (the token endpoint's tenant, and the configured tenant segment
    /// as .NET and Go store it), plus the home tenant when the authority is `common`,
    /// `organizations` or `consumers` (what MSAL.NET and Node store).
    #[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
    pub fn lookup_realms(&self, home_tenant: Option<&str>) -> Vec<String> {
        let mut realms = self.base_realms().to_vec();
        if self.authority.is_multi_tenant()
            && let Some(t) = home_tenant.map(str::to_ascii_lowercase)
                && !t.is_empty() && !realms.contains(&t) {
                    realms.push(t);
                }
        realms
    }

    /// [`known_environments`](Self::known_environments), shared: computed
    /// once the list is final (not an Entra host, a host of the built-in
    /// table, or discovery made).
    pub(crate) fn environments(&self) -> Arc<[String]> {
        if let Some(e) = self.settled.environments.get() {
            return e.clone();
        }
        let envs: Arc<[String]> = self.known_environments().into();
        let final_list = !matches!(
            self.authority.kind(),
            AuthorityKind::Entra | AuthorityKind::Ciam
        ) || aliases::is_known_host(self.authority.host())
            || peek(&DISCOVERY, &self.authority.origin()).is_some();
        if final_list {
            let _ = self.settled.environments.set(envs.clone());
        }
        envs
    }

    /// The realms of [`lookup_realms`](Self::lookup_realms) that do not
    /// depend on the account, shared once the metadata is known (or the
    /// realm is in the authority itself).
    pub(crate) fn base_realms(&self) -> Arc<[String]> {
        if let Some(r) = self.settled.realms.get() {
            return r.clone();
        }
        let metadata = self.cached_metadata();
        let mut realms: Vec<String> = Vec::new();
        let candidates = [
            self.authority.static_realm().map(str::to_owned),
            metadata.as_ref().and_then(|m| m.realm()),
            Some(self.authority.tenant().to_owned()),
        ];
        for r in candidates.into_iter().flatten() {
            if !r.is_empty() && !realms.contains(&r) {
                realms.push(r);
            }
        }
        let realms: Arc<[String]> = realms.into();
        // A realm in the authority itself is what the metadata would say.
        if metadata.is_some() || self.authority.static_realm().is_some() {
            let _ = self.settled.realms.set(realms.clone());
        }
        realms
    }

    /// The configured host first, then every alias known without a request
    /// (the built-in table, or discovery this process already made).
    pub fn known_environments(&self) -> Vec<String> {
        let host = self.authority.host();
        if self.authority.kind() != AuthorityKind::Entra
            && self.authority.kind() != AuthorityKind::Ciam
        {
            return vec![host.to_owned()];
        }
        if let Some(found) = peek(&DISCOVERY, &self.authority.origin()) {
            return found.as_ref().clone();
        }
        aliases::environments_of(host)
    }

    /// Like [`AuthorityResolver::known_environments`], making the discovery
    /// request when it applies and has not been made in this process.
    ///
    /// # Errors
    /// [`Error::Config`] when discovery rejects the host; transport errors.
    pub async fn discovered_environments(&self) -> Result<Vec<String>> {
        if !self.needs_discovery() {
            return Ok(self.known_environments());
        }
        let origin = self.authority.origin();
        let cell = slot(&DISCOVERY, &origin);
        let found = cell
            .get_or_try_init(|| async {
                let url = discovery_url(&self.authority)?;
                let raw: RawDiscovery = self.transport.get_json(&url).await.map_err(|e| match e {
                    Error::Service(s) if s.error == "invalid_instance" => Error::config(format!(
                        "instance discovery does not know the authority host {}: check the authority, or turn instance discovery off for a private deployment",
                        self.authority.host()
                    )),
                    other => other,
                })?;
                Ok::<_, Error>(Arc::new(aliases_from(raw, self.authority.host())))
            })
            .await?;
        Ok(found.as_ref().clone())
    }
}

/// Where a host outside the built-in table is vouched for: Microsoft's
/// global discovery endpoint, as MSAL Python and MSAL.NET do. Asking the
/// host itself would let any server vouch for itself. A loopback authority
/// (the emulator, a test identity provider) is a local deployment Microsoft
/// cannot know, so it answers for itself.
const GLOBAL_DISCOVERY_ORIGIN: &str = "https://login.microsoftonline.com";

fn discovery_url(authority: &Authority) -> Result<Url> {
    let origin = if is_loopback_host(authority.host()) {
        authority.origin()
    } else {
        GLOBAL_DISCOVERY_ORIGIN.to_owned()
    };
    let mut url = Url::parse(&format!("{origin}/common/discovery/instance"))
        .map_err(|e| Error::config(format!("bad discovery URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("api-version", "1.1")
        .append_pair(
            "authorization_endpoint",
            &format!("{}/oauth2/v2.0/authorize", authority.as_str()),
        );
    Ok(url)
}

fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The alias group holding `host`, `host` first; just `host` if none does.
fn aliases_from(raw: RawDiscovery, host: &str) -> Vec<String> {
    let mut out = vec![host.to_owned()];
    if let Some(group) = raw
        .metadata
        .into_iter()
        .find(|g| g.aliases.iter().any(|a| a.eq_ignore_ascii_case(host)))
    {
        for a in group.aliases {
            let a = a.to_ascii_lowercase();
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

fn endpoint(value: Option<String>, name: &str) -> Result<Option<Url>> {
    let Some(v) = value else { return Ok(None) };
    let url = Url::parse(&v).map_err(|e| {
        Error::protocol(format!(
            "the OpenID configuration's {name} is not a URL: {e}"
        ))
    })?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(Error::protocol(format!(
            "the OpenID configuration's {name} is not https"
        )));
    }
    Ok(Some(url))
}

/// An issuer in the form [`Authority::oidc`] keeps: lower-case scheme and
/// host, no trailing slash.
fn normalized_issuer(issuer: &str) -> Option<String> {
    let url = Url::parse(issuer).ok()?;
    let mut s = format!(
        "{}://{}",
        url.scheme(),
        url.host_str()?.to_ascii_lowercase()
    );
    if let Some(p) = url.port() {
        s.push_str(&format!(":{p}"));
    }
    s.push_str(url.path().trim_end_matches('/'));
    Some(s)
}

fn convert(raw: RawMetadata, authority: &Authority) -> Result<OidcMetadata> {
    if authority.kind() == AuthorityKind::Oidc {
        // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer
        // it was fetched for, or its tokens are not that issuer's.
        let Some(issuer) = raw.issuer.as_deref() else {
            return Err(Error::protocol(format!(
                "the OpenID configuration of {authority} has no issuer"
            )));
        };
        if normalized_issuer(issuer).as_deref() != Some(authority.as_str()) {
            return Err(Error::protocol(format!(
                "the OpenID configuration fetched for the issuer {authority} names another issuer ({issuer})"
            )));
        }
    }
    let token_endpoint = endpoint(raw.token_endpoint, "token_endpoint")?.ok_or_else(|| {
        Error::protocol(format!(
            "the OpenID configuration of {authority} has no token_endpoint"
        ))
    })?;
    let mut device = endpoint(
        raw.device_authorization_endpoint,
        "device_authorization_endpoint",
    )?;
    if device.is_none() && matches!(authority.kind(), AuthorityKind::Entra | AuthorityKind::Ciam) {
        // Entra's device endpoint sits beside its token endpoint (as MSAL Python assumes).
        let path = token_endpoint.path();
        if let Some(prefix) = path.strip_suffix("/token") {
            let mut u = token_endpoint.clone();
            u.set_path(&format!("{prefix}/devicecode"));
            device = Some(u);
        }
    }
    Ok(OidcMetadata {
        issuer: raw.issuer,
        authorization_endpoint: endpoint(raw.authorization_endpoint, "authorization_endpoint")?,
        token_endpoint,
        device_authorization_endpoint: device,
        end_session_endpoint: endpoint(raw.end_session_endpoint, "end_session_endpoint")?,
        mtls_token_endpoint: endpoint(
            raw.mtls_endpoint_aliases.and_then(|a| a.token_endpoint),
            "mtls_endpoint_aliases.token_endpoint",
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_hosts_are_vouched_for_by_microsoft_loopback_by_itself() {
        let a = Authority::parse("https://login.contoso.example/t1").unwrap();
        let u = discovery_url(&a).unwrap();
        assert_eq!(u.host_str(), Some("login.microsoftonline.com"));
        assert!(u.query_pairs().any(|(k, v)| k == "authorization_endpoint"
            && v == "https://login.contoso.example/t1/oauth2/v2.0/authorize"));
        for local in [
            "http://127.0.0.1:8400/t1",
            "http://localhost:1/t1",
            "http://[::1]:2/t1",
        ] {
            let a = Authority::parse(local).unwrap();
            let u = discovery_url(&a).unwrap();
            assert_eq!(u.origin(), Url::parse(local).unwrap().origin(), "{local}");
        }
    }

    #[test]
    fn realm_is_the_token_endpoint_tenant() {
        let a = Authority::parse("https://login.microsoftonline.com/contoso.com").unwrap();
        let m = convert(
            RawMetadata {
                issuer: Some("https://login.microsoftonline.com/t/v2.0".into()),
                authorization_endpoint: Some(
                    "https://login.microsoftonline.com/T/oauth2/v2.0/authorize".into(),
                ),
                token_endpoint: Some(
                    "https://login.microsoftonline.com/T/oauth2/v2.0/token".into(),
                ),
                device_authorization_endpoint: None,
                end_session_endpoint: None,
                mtls_endpoint_aliases: None,
            },
            &a,
        )
        .unwrap();
        assert_eq!(m.realm().as_deref(), Some("t"));
        assert_eq!(
            m.device_authorization_endpoint.unwrap().as_str(),
            "https://login.microsoftonline.com/T/oauth2/v2.0/devicecode"
        );
    }

    #[test]
    fn metadata_without_https_token_endpoint_is_a_protocol_error() {
        let a = Authority::parse("https://login.microsoftonline.com/common").unwrap();
        for te in [
            None,
            Some("http://evil.example/token".to_owned()),
            Some("not a url".to_owned()),
        ] {
            let raw = RawMetadata {
                issuer: None,
                authorization_endpoint: None,
                token_endpoint: te,
                device_authorization_endpoint: None,
                end_session_endpoint: None,
                mtls_endpoint_aliases: None,
            };
            assert!(matches!(convert(raw, &a), Err(Error::Protocol(_))));
        }
    }

    #[test]
    fn discovery_aliases_put_the_host_first() {
        let raw: RawDiscovery = serde_json::from_str(
            r#"{"metadata":[{"aliases":["a.example"]},{"preferred_network":"x","aliases":["Login.Example","alias.example"]}]}"#,
        )
        .unwrap();
        assert_eq!(
            aliases_from(raw, "alias.example"),
            vec!["alias.example", "login.example"]
        );
        let a = Authority::parse("https://login.example/common").unwrap();
        assert_eq!(
            discovery_url(&a).unwrap().as_str(),
            "https://login.microsoftonline.com/common/discovery/instance?api-version=1.1&authorization_endpoint=https%3A%2F%2Flogin.example%2Fcommon%2Foauth2%2Fv2.0%2Fauthorize"
        );
    }
}
