//! Which proxy, if any, a request goes through.
//!
//! By default msal does what curl and most tools do on a corporate network:
//! it reads `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (lower or
//! upper case, lower case first). Two kinds of address are never proxied, as
//! a proxy would break them:
//! - link-local addresses (`169.254.0.0/16`, `fe80::/10`): the managed-identity
//!   endpoint (IMDS at 169.254.169.254) must be reached directly;
//! - loopback (`127.0.0.0/8`, `::1`, `localhost`): the interactive flow's
//!   redirect listener and local emulators, unless
//!   [`ReqwestHttpClientBuilder::proxy_loopback`](super::ReqwestHttpClientBuilder::proxy_loopback) asks for it.
//!
//! A request can also ask to skip the proxy whatever its address: insert
//! [`Direct`] in its extensions. Managed-identity requests do, since their
//! endpoint (App Service, Service Fabric, Arc) is a local agent that no
//! corporate proxy can reach.
//!
//! Proxy URLs may carry credentials (`http://user:password@proxy:3128`); they
//! are sent to the proxy only, and shown nowhere: `Debug`, errors and logs
//! print the URL with `***` in their place.

use std::net::IpAddr;

use url::{Host, Url};

use crate::error::Error;

/// Marks a request (in its `http` extensions) that must never go through a
/// proxy, whatever the client's configuration:
/// `request.extensions_mut().insert(Direct);`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Direct;

/// Where requests go.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyConfig {
    /// From `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` and `NO_PROXY`, either
    /// case, read when the client is built. The default.
    #[default]
    FromEnvironment,
    /// Straight to the server, whatever the environment says.
    None,
    /// Every request through this proxy (`http://host:port`, optionally with
    /// `user:password@`), ignoring the environment. Credentials are redacted in `Debug`.
    Url(String),
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FromEnvironment => f.write_str("FromEnvironment"),
            Self::None => f.write_str("None"),
            Self::Url(u) => f.debug_tuple("Url").field(&redact(u)).finish(),
        }
    }
}

/// `raw` as it may be shown: user name and password replaced by `***`.
/// Something that does not parse as a URL is not shown at all.
pub fn redact(raw: &str) -> String {
    match parse_proxy_url(raw) {
        Ok(u) => shown(&u),
        Err(_) => "<unparseable proxy URL>".to_owned(),
    }
}

/// A parsed proxy URL as it may be shown.
pub(crate) fn shown(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("***");
        let _ = u.set_password(None);
    }
    u.set_query(None);
    u.set_fragment(None);
    let mut s = u.to_string();
    if u.path() == "/" && s.ends_with('/') {
        s.pop();
    }
    s
}

fn parse_proxy_url(raw: &str) -> Result<Url, url::ParseError> {
    let raw = raw.trim();
    if raw.contains("://") {
        Url::parse(raw)
    } else {
        Url::parse(&format!("http://{raw}"))
    }
}

/// The proxy decisions of one client, fixed when it is built. Public so
/// that an [`HttpClient`](crate::http::HttpClient) of your own can make the
/// same decisions as [`ReqwestHttpClient`](super::ReqwestHttpClient).
#[derive(Clone, Default)]
pub struct ProxyRules {
    http: Option<Url>,
    https: Option<Url>,
    no_proxy: Vec<NoProxyEntry>,
    proxy_loopback: bool,
}

impl std::fmt::Debug for ProxyRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyRules")
            .field("http", &self.http.as_ref().map(shown))
            .field("https", &self.https.as_ref().map(shown))
            .field("no_proxy_entries", &self.no_proxy.len())
            .field("proxy_loopback", &self.proxy_loopback)
            .finish()
    }
}

impl ProxyRules {
    /// Rules for `config`, reading the process environment.
    ///
    /// # Errors
    /// [`Error::Config`] for an unusable proxy URL, naming the variable
    /// (never the value, which may hold a password).
    pub fn from_process_env(config: &ProxyConfig, proxy_loopback: bool) -> Result<Self, Error> {
        Self::new(config, proxy_loopback, |name| std::env::var(name).ok())
    }

    /// Rules for `config`, reading variables through `env` (the process
    /// environment in production, a map in tests).
    ///
    /// # Errors
    /// As [`ProxyRules::from_process_env`].
    pub fn new(
        config: &ProxyConfig,
        proxy_loopback: bool,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let mut rules = Self {
            proxy_loopback,
            ..Self::default()
        };
        match config {
            ProxyConfig::None => {}
            ProxyConfig::Url(raw) => {
                let url = checked(raw, "the proxy URL")?;
                rules.http = Some(url.clone());
                rules.https = Some(url);
            }
            ProxyConfig::FromEnvironment => {
                let var = |name: &str| -> Option<(String, String)> {
                    [name.to_ascii_lowercase(), name.to_owned()]
                        .into_iter()
                        .find_map(|n| env(&n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)))
                };
                // Only the variable that applies is parsed: a SOCKS `ALL_PROXY`
                // set for git must not stop an app whose `HTTPS_PROXY` is fine.
                let all = var("ALL_PROXY");
                rules.https = var("HTTPS_PROXY")
                    .or_else(|| all.clone())
                    .map(|(n, v)| checked(&v, &n))
                    .transpose()?;
                // Plain http only ever reaches loopback (never proxied) or a
                // test authority, so an unusable value there is ignored, not fatal.
                rules.http = var("HTTP_PROXY")
                    .or(all)
                    .and_then(|(n, v)| match checked(&v, &n) {
                        Ok(url) => Some(url),
                        Err(e) => {
                            tracing::warn!("{e}; plain-http requests go direct");
                            None
                        }
                    });
                if let Some((_, list)) = var("NO_PROXY") {
                    rules.no_proxy = list
                        .split([',', ' '])
                        .filter_map(NoProxyEntry::parse)
                        .collect();
                }
            }
        }
        Ok(rules)
    }

    /// The proxy for `url`, or `None` to connect directly.
    pub fn proxy_for(&self, url: &Url) -> Option<&Url> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        let host = url.host()?;
        if is_link_local(&host) || (is_loopback(&host) && !self.proxy_loopback) {
            return None;
        }
        let port = url.port_or_known_default();
        if self.no_proxy.iter().any(|e| e.matches(&host, port)) {
            return None;
        }
        Some(proxy)
    }
}

/// Parses a proxy URL, naming `what` (a variable name, never the value, which
/// may hold a password) when it is unusable.
fn checked(raw: &str, what: &str) -> Result<Url, Error> {
    let url = parse_proxy_url(raw).map_err(|e| {
        Error::config(format!(
            "{what} is not a usable proxy URL ({e}); expected http://host:port"
        ))
    })?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(Error::config(format!(
            "{what} has no host; expected http://host:port"
        ))),
        other => Err(Error::config(format!(
            "{what} uses the scheme {other:?}, which msal does not support; use an http:// or https:// proxy"
        ))),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn is_link_local(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(_) => false,
        Host::Ipv4(ip) => ip.is_link_local(),
        Host::Ipv6(ip) => {
            (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local())
        }
    }
}

/// One `NO_PROXY` entry: `*`, a domain (matching itself and its subdomains,
/// with or without a leading `.` or `*.`), an IP, or a CIDR block; each
/// optionally with `:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum NoProxyEntry {
    Everything,
    Domain { suffix: String, port: Option<u16> },
    Ip { ip: IpAddr, port: Option<u16> },
    Cidr { network: IpAddr, prefix: u8 },
}

impl NoProxyEntry {
    fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        if raw == "*" {
            return Some(Self::Everything);
        }
        if let Some((net, prefix)) = raw.split_once('/') {
            let network: IpAddr = net.trim_matches(['[', ']']).parse().ok()?;
            let prefix: u8 = prefix.parse().ok()?;
            let max = if network.is_ipv4() { 32 } else { 128 };
            return (prefix <= max).then_some(Self::Cidr { network, prefix });
        }
        if let Ok(ip) = raw.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Some(Self::Ip { ip, port: None });
        }
        let (host, port) = split_port(raw);
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Some(Self::Ip { ip, port });
        }
        let suffix = host
            .trim_start_matches('*')
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        (!suffix.is_empty()).then_some(Self::Domain { suffix, port })
    }

    fn matches(&self, host: &Host<&str>, port: Option<u16>) -> bool {
        let port_ok = |p: &Option<u16>| p.is_none() || *p == port;
        match (self, host) {
            (Self::Everything, _) => true,
            (Self::Domain { suffix, port: p }, Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                port_ok(p) && (d == *suffix || d.ends_with(&format!(".{suffix}")))
            }
            (Self::Ip { ip, port: p }, Host::Ipv4(h)) => port_ok(p) && *ip == IpAddr::V4(*h),
            (Self::Ip { ip, port: p }, Host::Ipv6(h)) => port_ok(p) && *ip == IpAddr::V6(*h),
            (Self::Cidr { network, prefix }, Host::Ipv4(h)) => {
                in_block(*network, *prefix, IpAddr::V4(*h))
            }
            (Self::Cidr { network, prefix }, Host::Ipv6(h)) => {
                in_block(*network, *prefix, IpAddr::V6(*h))
            }
            _ => false,
        }
    }
}

fn split_port(raw: &str) -> (&str, Option<u16>) {
    match raw.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (raw, None),
        },
        _ => (raw, None),
    }
}

fn in_block(network: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn rules(vars: &[(&str, &str)]) -> ProxyRules {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyRules::new(&ProxyConfig::FromEnvironment, false, |k| {
            map.get(k).cloned()
        })
        .expect("valid rules")
    }

    fn via(r: &ProxyRules, url: &str) -> Option<String> {
        r.proxy_for(&Url::parse(url).expect("valid url")).map(shown)
    }

    #[test]
    fn environment_either_case_lower_first() {
        let r = rules(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
            ("HTTP_PROXY", "plain:3"),
        ]);
        assert_eq!(
            via(&r, "https://login.example/x").as_deref(),
            Some("http://lower:2")
        );
        assert_eq!(
            via(&r, "http://login.example/x").as_deref(),
            Some("http://plain:3")
        );
        let r = rules(&[("ALL_PROXY", "http://all:4")]);
        assert_eq!(
            via(&r, "https://login.example/").as_deref(),
            Some("http://all:4")
        );
        assert_eq!(via(&rules(&[]), "https://login.example/"), None);
        assert_eq!(
            via(&rules(&[("HTTPS_PROXY", "  ")]), "https://login.example/"),
            None
        );
    }

    #[test]
    fn no_proxy_forms() {
        let r = rules(&[
            ("HTTPS_PROXY", "http://p:1"),
            (
                "no_proxy",
                "contoso.com, .fabrikam.com,*.wingtip.io internal:8443 10.0.0.0/8 192.168.1.7 [fd00::1]",
            ),
        ]);
        for direct in [
            "https://contoso.com/",
            "https://login.contoso.com/",
            "https://a.fabrikam.com/",
            "https://x.wingtip.io/",
            "https://internal:8443/",
            "https://10.1.2.3/",
            "https://192.168.1.7/",
            "https://[fd00::1]/",
        ] {
            assert_eq!(via(&r, direct), None, "{direct}");
        }
        for proxied in [
            "https://notcontoso.com/",
            "https://internal/",
            "https://11.0.0.1/",
            "https://192.168.1.8/",
            "https://login.example/",
        ] {
            assert!(via(&r, proxied).is_some(), "{proxied}");
        }
        assert_eq!(
            via(
                &rules(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "*")]),
                "https://login.example/"
            ),
            None
        );
    }

    #[test]
    fn loopback_and_link_local_are_direct() {
        let r = rules(&[("HTTPS_PROXY", "http://p:1"), ("HTTP_PROXY", "http://p:1")]);
        for direct in [
            "http://127.0.0.1:8080/",
            "http://localhost/",
            "http://app.localhost/",
            "https://[::1]/",
            "http://169.254.169.254/metadata/identity/oauth2/token",
            "http://[fe80::1]/",
        ] {
            assert_eq!(via(&r, direct), None, "{direct}");
        }
        let r =
            ProxyRules::new(&ProxyConfig::Url("http://p:1".into()), true, |_| None).expect("valid");
        assert!(via(&r, "http://127.0.0.1:8080/").is_some(), "asked for");
        assert_eq!(via(&r, "http://169.254.169.254/metadata"), None, "never");
    }

    #[test]
    fn explicit_and_none_ignore_the_environment() {
        let env = |_: &str| Some("http://env:9".to_owned());
        let r = ProxyRules::new(&ProxyConfig::None, false, env).expect("valid");
        assert_eq!(via(&r, "https://login.example/"), None);
        let r = ProxyRules::new(
            &ProxyConfig::Url("http://u:pw@corp:8080".into()),
            false,
            env,
        )
        .expect("valid");
        assert_eq!(
            via(&r, "https://login.example/").as_deref(),
            Some("http://***@corp:8080")
        );
    }

    #[test]
    fn credentials_never_shown() {
        let c = ProxyConfig::Url("http://alice:s3cr3t@proxy.corp:3128".into());
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("alice"),
            "{shown}"
        );
        assert!(shown.contains("proxy.corp:3128"), "{shown}");
        assert_eq!(redact("not a url at all ::::"), "<unparseable proxy URL>");
        let r = ProxyRules::new(&c, false, |_| None).expect("valid");
        assert!(!format!("{r:?}").contains("s3cr3t"));
    }

    #[test]
    fn an_unusable_variable_that_does_not_apply_is_not_fatal() {
        // git users often have a SOCKS ALL_PROXY; HTTPS_PROXY wins for https.
        let vars = [
            ("ALL_PROXY", "socks5://bob:hunter2@p:1080"),
            ("HTTPS_PROXY", "http://corp:3128"),
        ];
        let r = rules(&vars);
        assert_eq!(
            via(&r, "https://login.example/").as_deref(),
            Some("http://corp:3128")
        );
        assert_eq!(via(&r, "http://test.example/"), None);
        // Without HTTPS_PROXY the SOCKS value is the one that applies: fatal.
        let e = ProxyRules::new(&ProxyConfig::FromEnvironment, false, |k| {
            (k == "ALL_PROXY").then(|| "socks5://p:1080".to_owned())
        })
        .expect_err("unsupported");
        assert!(e.to_string().contains("ALL_PROXY"), "{e}");
    }

    #[test]
    fn bad_proxy_urls_name_the_variable_not_the_value() {
        let e = ProxyRules::new(&ProxyConfig::FromEnvironment, false, |k| {
            (k == "HTTPS_PROXY").then(|| "socks5://bob:hunter2@p:1080".to_owned())
        })
        .expect_err("unsupported");
        let m = e.to_string();
        assert!(
            m.contains("HTTPS_PROXY") && m.contains("socks5") && !m.contains("hunter2"),
            "{m}"
        );
    }
}
