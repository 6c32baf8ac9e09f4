//! Parsing and canonicalizing authority URLs.

use url::Url;

use crate::error::{Error, Result};

/// What kind of identity provider an authority is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthorityKind {
    /// Microsoft Entra ID (`login.microsoftonline.com` and the other clouds).
    Entra,
    /// Azure AD B2C (`*.b2clogin.com`, or a path with a `b2c_` policy).
    B2c,
    /// Active Directory Federation Services (`https://host/adfs`).
    Adfs,
    /// Microsoft Entra External ID for customers (`*.ciamlogin.com`).
    Ciam,
    /// Any other OpenID Connect provider, given by its issuer.
    Oidc,
}

impl AuthorityKind {
    /// The cache's `authority_type` for accounts from this kind of authority.
    pub fn authority_type(self) -> &'static str {
        match self {
            Self::Adfs => "ADFS",
            Self::Oidc => "Generic",
            _ => "MSSTS",
        }
    }
}

/// The national clouds of Microsoft Entra ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AzureCloud {
    /// The public cloud (`login.microsoftonline.com`).
    Public,
    /// Azure China, operated by 21Vianet (`login.partner.microsoftonline.cn`).
    China,
    /// Azure US Government (`login.microsoftonline.us`).
    UsGovernment,
    /// The legacy Azure Germany cloud (`login.microsoftonline.de`).
    Germany,
}

impl AzureCloud {
    /// The cloud's sign-in host.
    pub fn host(self) -> &'static str {
        match self {
            Self::Public => "login.microsoftonline.com",
            Self::China => "login.partner.microsoftonline.cn",
            Self::UsGovernment => "login.microsoftonline.us",
            Self::Germany => "login.microsoftonline.de",
        }
    }
}

/// A parsed, canonical authority.
///
/// Build one with [`Authority::parse`] (kind detected from the URL: B2C by
/// host or `b2c_` policy, ADFS by the `/adfs` path, CIAM by host, Entra
/// otherwise), [`Authority::entra`], or [`Authority::oidc`] for a generic
/// OpenID Connect issuer.
///
/// ```
/// use msal::authority::{Authority, AuthorityKind, AzureCloud};
/// let a = Authority::parse("https://Login.MicrosoftOnline.com/Contoso.onmicrosoft.com/").unwrap();
/// assert_eq!(a.kind(), AuthorityKind::Entra);
/// assert_eq!(a.host(), "login.microsoftonline.com");
/// assert_eq!(a.tenant(), "contoso.onmicrosoft.com");
/// assert_eq!(a.as_str(), "https://login.microsoftonline.com/contoso.onmicrosoft.com");
/// let b2c = Authority::parse("https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SignIn").unwrap();
/// assert_eq!(b2c.policy(), Some("B2C_1_SignIn"));
/// let gov = Authority::entra(AzureCloud::UsGovernment, "organizations").unwrap();
/// assert_eq!(gov.as_str(), "https://login.microsoftonline.us/organizations");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Authority {
    kind: AuthorityKind,
    /// `scheme://host[:port]` plus the canonical path, no trailing slash.
    url: String,
    /// Lower-case host name without port: the cache's `environment`.
    host: String,
    /// The tenant segment (lower case), `adfs` for ADFS; empty for OIDC.
    tenant: String,
    /// The B2C policy as written.
    policy: Option<String>,
}

/// Anything the builders accept as an authority: a URL string, a [`Url`] or
/// an [`Authority`].
pub trait IntoAuthority {
    /// Parses into an [`Authority`].
    ///
    /// # Errors
    /// [`Error::Config`] when the URL is not a usable authority.
    fn into_authority(self) -> Result<Authority>;
}

impl IntoAuthority for Authority {
    fn into_authority(self) -> Result<Authority> {
        Ok(self)
    }
}
impl IntoAuthority for &Authority {
    fn into_authority(self) -> Result<Authority> {
        Ok(self.clone())
    }
}
impl IntoAuthority for &str {
    fn into_authority(self) -> Result<Authority> {
        Authority::parse(self)
    }
}
impl IntoAuthority for String {
    fn into_authority(self) -> Result<Authority> {
        Authority::parse(&self)
    }
}
impl IntoAuthority for &String {
    fn into_authority(self) -> Result<Authority> {
        Authority::parse(self)
    }
}
impl IntoAuthority for Url {
    fn into_authority(self) -> Result<Authority> {
        Authority::parse(self.as_str())
    }
}

const B2C_HOST_SUFFIXES: &[&str] = &[
    ".b2clogin.com",
    ".b2clogin.cn",
    ".b2clogin.us",
    ".b2clogin.de",
];
const CIAM_HOST_SUFFIX: &str = ".ciamlogin.com";

impl Authority {
    /// Parses an authority URL and detects its kind.
    ///
    /// # Errors
    /// [`Error::Config`] for a URL that is not `https` (plain `http` is
    /// accepted for loopback hosts only, for tests and emulators), has a
    /// query, fragment or user info, lacks a tenant, is a B2C URL without
    /// its policy, or is a CIAM URL without a tenant in its path whose
    /// host's first label is not a tenant name.
    pub fn parse(input: &str) -> Result<Self> {
        let url = checked_url(input)?;
        let host = host_of(&url)?;
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        let is_b2c_host = B2C_HOST_SUFFIXES.iter().any(|s| host.ends_with(s));
        let policy_index = segments
            .iter()
            .position(|s| s.to_ascii_lowercase().starts_with("b2c_"));
        if is_b2c_host || policy_index.is_some() {
            return Self::b2c_from(&url, host, &segments, input);
        }
        if segments
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("adfs"))
        {
            // `https://fs/adfs/oauth2/token` is an endpoint, not the authority.
            check_tail(&segments, 1, input)?;
            return Ok(Self::make(
                AuthorityKind::Adfs,
                &url,
                host,
                "adfs".to_owned(),
                None,
            ));
        }
        if host.ends_with(CIAM_HOST_SUFFIX) {
            let tenant = match segments.first() {
                Some(t) => t.to_ascii_lowercase(),
                None => {
                    // The tenant is named by the host's first label and goes
                    // into the path as is: a label a tenant domain cannot
                    // have (a URL host may hold `` ` `` or `{`, which a path
                    // percent-encodes) would make a canonical URL that parses
                    // to another tenant.
                    let sub = host.split('.').next().unwrap_or_default();
                    if sub.is_empty()
                        || !sub.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    {
                        return Err(Error::config(format!(
                            "the CIAM authority {input:?} does not name a tenant: use https://<tenant>.ciamlogin.com/ with letters, digits and hyphens, or add the tenant to the path"
                        )));
                    }
                    format!("{sub}.onmicrosoft.com")
                }
            };
            check_tail(&segments, 1, input)?;
            return Ok(Self::make(AuthorityKind::Ciam, &url, host, tenant, None));
        }
        let Some(tenant) = segments.first() else {
            return Err(Error::config(format!(
                "the authority {input:?} has no tenant: use https://<host>/<tenant>, e.g. /common or /organizations"
            )));
        };
        check_tail(&segments, 1, input)?;
        Ok(Self::make(
            AuthorityKind::Entra,
            &url,
            host,
            tenant.to_ascii_lowercase(),
            None,
        ))
    }

    /// An Entra ID authority in `cloud` for `tenant` (a tenant id, a domain,
    /// `common`, `organizations` or `consumers`).
    ///
    /// # Errors
    /// [`Error::Config`] when `tenant` is empty or not a single path segment.
    pub fn entra(cloud: AzureCloud, tenant: &str) -> Result<Self> {
        if tenant.is_empty() || tenant.contains(['/', '?', '#']) {
            return Err(Error::config(format!("{tenant:?} is not a tenant")));
        }
        Self::parse(&format!("https://{}/{tenant}", cloud.host()))
    }

    /// A generic OpenID Connect authority: `issuer` is the provider's issuer
    /// URL; its metadata is read from `<issuer>/.well-known/openid-configuration`.
    /// No instance discovery or Entra-specific handling applies.
    ///
    /// # Errors
    /// [`Error::Config`] as [`Authority::parse`] (a tenant is not required).
    pub fn oidc(issuer: &str) -> Result<Self> {
        let url = checked_url(issuer)?;
        let host = host_of(&url)?;
        let mut base = origin(&url);
        base.push_str(url.path().trim_end_matches('/'));
        Ok(Self {
            kind: AuthorityKind::Oidc,
            url: base,
            host,
            tenant: String::new(),
            policy: None,
        })
    }

    fn b2c_from(url: &Url, host: String, segments: &[&str], input: &str) -> Result<Self> {
        // The legacy form https://host/tfp/<tenant>/<policy> has a `tfp` segment first.
        let rest = match segments.first() {
            Some(s) if s.eq_ignore_ascii_case("tfp") => &segments[1..],
            _ => segments,
        };
        match rest {
            [tenant, policy] => {
                let mut a = Self::make(
                    AuthorityKind::B2c,
                    url,
                    host,
                    tenant.to_ascii_lowercase(),
                    Some((*policy).to_owned()),
                );
                a.url = format!("{}/{}/{}", origin(url), a.tenant, policy);
                Ok(a)
            }
            [_] | [] => Err(Error::config(format!(
                "the B2C authority {input:?} needs its policy: https://<name>.b2clogin.com/<tenant>/<policy>"
            ))),
            _ => Err(Error::config(format!(
                "the B2C authority {input:?} has extra path segments; expected https://<host>/<tenant>/<policy>"
            ))),
        }
    }

    fn make(
        kind: AuthorityKind,
        url: &Url,
        host: String,
        tenant: String,
        policy: Option<String>,
    ) -> Self {
        let url = format!("{}/{tenant}", origin(url));
        Self {
            kind,
            url,
            host,
            tenant,
            policy,
        }
    }

    /// The kind of provider.
    pub fn kind(&self) -> AuthorityKind {
        self.kind
    }

    /// The canonical URL: `https://host[:port]/<tenant>[/<policy>]`, or the issuer.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The lower-case host name without port: the cache's `environment`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The tenant segment in lower case (`common`, a tenant id, a domain,
    /// `adfs`); empty for a generic OIDC authority.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The B2C policy, as written.
    pub fn policy(&self) -> Option<&str> {
        self.policy.as_deref()
    }

    /// Whether the tenant is one of the multi-tenant names (`common`,
    /// `organizations`, `consumers`), whose tokens a user's home tenant also
    /// answers for.
    pub fn is_multi_tenant(&self) -> bool {
        self.kind == AuthorityKind::Entra
            && matches!(
                self.tenant.as_str(),
                "common" | "organizations" | "consumers"
            )
    }

    /// The URL of the OpenID configuration document.
    pub fn metadata_url(&self) -> String {
        match self.kind {
            AuthorityKind::Adfs | AuthorityKind::Oidc => {
                format!("{}/.well-known/openid-configuration", self.url)
            }
            _ => format!("{}/v2.0/.well-known/openid-configuration", self.url),
        }
    }

    /// The realm known without any request (spec §3.4), if any: the tenant
    /// segment, except for Entra domain-name tenants and OIDC issuers, whose
    /// realm comes from the token endpoint in their metadata.
    pub fn static_realm(&self) -> Option<&str> {
        match self.kind {
            AuthorityKind::Entra => {
                let t = self.tenant.as_str();
                (matches!(t, "common" | "organizations" | "consumers")
                    || uuid::Uuid::parse_str(t).is_ok())
                .then_some(t)
            }
            AuthorityKind::Oidc => None,
            _ => Some(&self.tenant),
        }
    }

    /// The same authority on another host (an alias of the same cloud).
    pub fn with_host(&self, host: &str) -> Self {
        let mut a = self.clone();
        if let Ok(mut u) = Url::parse(&self.url)
            && u.set_host(Some(host)).is_ok()
        {
            a.url = u.as_str().trim_end_matches('/').to_owned();
            a.host = host.to_ascii_lowercase();
        }
        a
    }

    /// The origin (`scheme://host[:port]`).
    pub(crate) fn origin(&self) -> String {
        Url::parse(&self.url)
            .map(|u| origin(&u))
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

fn checked_url(input: &str) -> Result<Url> {
    let url = Url::parse(input.trim())
        .map_err(|e| Error::config(format!("the authority {input:?} is not a URL: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        other => {
            return Err(Error::config(format!(
                "the authority {input:?} uses {other}: authorities must be https (http only for a loopback host)"
            )));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(format!(
            "the authority {input:?} must not have a query or fragment"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(
            "an authority URL must not carry user credentials",
        ));
    }
    Ok(url)
}

fn host_of(url: &Url) -> Result<String> {
    url.host_str()
        .filter(|h| !h.is_empty())
        .map(|h| h.to_ascii_lowercase())
        .ok_or_else(|| Error::config("the authority has no host"))
}

/// Accepts a trailing `v2.0` after `used` segments; anything else is an error.
fn check_tail(segments: &[&str], used: usize, input: &str) -> Result<()> {
    match &segments[used.min(segments.len())..] {
        [] => Ok(()),
        [v] if v.eq_ignore_ascii_case("v2.0") => Ok(()),
        _ => Err(Error::config(format!(
            "the authority {input:?} has extra path segments; expected https://<host>/<tenant>"
        ))),
    }
}

fn origin(url: &Url) -> String {
    let mut s = format!(
        "{}://{}",
        url.scheme(),
        url.host_str().unwrap_or_default().to_ascii_lowercase()
    );
    if let Some(p) = url.port() {
        s.push_str(&format!(":{p}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_tenants_and_clouds() {
        for (input, tenant, realm) in [
            (
                "https://login.microsoftonline.com/common",
                "common",
                Some("common"),
            ),
            (
                "https://login.microsoftonline.com/Organizations/",
                "organizations",
                Some("organizations"),
            ),
            (
                "https://login.microsoftonline.com/consumers/v2.0",
                "consumers",
                Some("consumers"),
            ),
            (
                "https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000F1",
                "00000000-0000-0000-0000-0000000000f1",
                Some("00000000-0000-0000-0000-0000000000f1"),
            ),
            (
                "https://login.partner.microsoftonline.cn/contoso.cn",
                "contoso.cn",
                None,
            ),
        ] {
            let a = Authority::parse(input).unwrap();
            assert_eq!(a.kind(), AuthorityKind::Entra, "{input}");
            assert_eq!(a.tenant(), tenant, "{input}");
            assert_eq!(a.static_realm(), realm, "{input}");
        }
        let a = Authority::parse("https://login.microsoftonline.com/common").unwrap();
        assert!(a.is_multi_tenant());
        assert_eq!(
            a.metadata_url(),
            "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(
            Authority::entra(AzureCloud::China, "x").unwrap().host(),
            "login.partner.microsoftonline.cn"
        );
    }

    #[test]
    fn b2c_adfs_ciam_and_oidc() {
        let b = Authority::parse(
            "https://fabrikamb2c.b2clogin.com/tfp/fabrikamb2c.onmicrosoft.com/B2C_1_SignIn",
        )
        .unwrap();
        assert_eq!(b.kind(), AuthorityKind::B2c);
        assert_eq!(
            b.as_str(),
            "https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SignIn"
        );
        assert_eq!(b.static_realm(), Some("fabrikamb2c.onmicrosoft.com"));
        assert_eq!(
            b.metadata_url(),
            "https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SignIn/v2.0/.well-known/openid-configuration"
        );
        let custom =
            Authority::parse("https://login.contoso.com/contoso.onmicrosoft.com/b2c_1_susi")
                .unwrap();
        assert_eq!(custom.kind(), AuthorityKind::B2c);

        let adfs = Authority::parse("https://fs.contoso.com/ADFS/").unwrap();
        assert_eq!(adfs.kind(), AuthorityKind::Adfs);
        assert_eq!(adfs.static_realm(), Some("adfs"));
        assert_eq!(
            adfs.metadata_url(),
            "https://fs.contoso.com/adfs/.well-known/openid-configuration"
        );
        assert_eq!(adfs.kind().authority_type(), "ADFS");
        assert!(matches!(
            Authority::parse("https://fs.contoso.com/adfs/oauth2/token"),
            Err(Error::Config(_))
        ));

        let ciam = Authority::parse("https://contoso.ciamlogin.com/").unwrap();
        assert_eq!(ciam.kind(), AuthorityKind::Ciam);
        assert_eq!(ciam.tenant(), "contoso.onmicrosoft.com");
        assert_eq!(
            ciam.as_str(),
            "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"
        );

        let oidc = Authority::oidc("https://accounts.example.org/realms/x/").unwrap();
        assert_eq!(oidc.kind(), AuthorityKind::Oidc);
        assert_eq!(
            oidc.metadata_url(),
            "https://accounts.example.org/realms/x/.well-known/openid-configuration"
        );
        assert_eq!(oidc.static_realm(), None);
        assert_eq!(oidc.kind().authority_type(), "Generic");
    }

    #[test]
    fn bad_authorities_are_config_errors() {
        for bad in [
            "login.microsoftonline.com/common",
            "http://login.microsoftonline.com/common",
            "https://login.microsoftonline.com",
            "https://login.microsoftonline.com/common?x=1",
            "https://login.microsoftonline.com/common#f",
            "https://u:p@login.microsoftonline.com/common",
            "https://login.microsoftonline.com/common/oauth2/authorize",
            "https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com",
            "ftp://x/y",
        ] {
            let e = Authority::parse(bad).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad}: {e:?}");
            assert!(!e.to_string().contains("u:p"), "{e}");
        }
        assert!(Authority::entra(AzureCloud::Public, "a/b").is_err());
    }

    #[test]
    fn loopback_http_keeps_the_port_and_aliases_swap_the_host() {
        let a = Authority::parse("http://127.0.0.1:8443/Tenant").unwrap();
        assert_eq!(a.as_str(), "http://127.0.0.1:8443/tenant");
        assert_eq!(a.host(), "127.0.0.1");
        assert_eq!(a.origin(), "http://127.0.0.1:8443");
        let p = Authority::parse("https://login.microsoftonline.com/common").unwrap();
        let w = p.with_host("login.windows.net");
        assert_eq!(w.as_str(), "https://login.windows.net/common");
        assert_eq!(w.host(), "login.windows.net");
    }
}
