//! Regional endpoints (ESTS-R) for confidential clients on Azure: the
//! region an app names or detects, and the regional form of a token endpoint.

use url::Url;

use crate::error::{Error, Result};
use crate::managed_identity::Environment;

/// The variable Azure hosts (App Service, Functions) set to their region.
pub const REGION_NAME_VAR: &str = "REGION_NAME";
/// Where IMDS is by default (a VM's link-local metadata service).
pub const DEFAULT_IMDS_ORIGIN: &str = "http://169.254.169.254";
/// The IMDS path and query that answer the VM's compute metadata (JSON
/// with `location`).
pub(crate) const IMDS_COMPUTE_PATH: &str =
    "/metadata/instance/compute?api-version=2021-01-01&format=json";

/// The public cloud's hosts, whose regional form is
/// `<region>.login.microsoft.com`.
const PUBLIC_CLOUD_HOSTS: [&str; 4] = [
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
];

/// Where an app's token requests for client credentials go: a named Azure
/// region, or one detected on the host.
///
/// ```
/// use msal::authority::Region;
/// let r = Region::named("West US 2").unwrap();
/// assert_eq!(r.name(), Some("westus2"));
/// ```
#[derive(Debug, Clone)]
pub struct Region {
    kind: RegionKind,
}

#[derive(Debug, Clone)]
enum RegionKind {
    Named(String),
    Detect { env: Environment, imds: Url },
}

impl Region {
    /// A region by name (`westus2`; spaces and case are ignored, so `West
    /// US 2` is the same).
    ///
    /// # Errors
    /// [`Error::Config`] for a name that is not a region's: letters and
    /// digits only, at most 40.
    pub fn named(name: &str) -> Result<Self> {
        normalize(name)
            .map(|n| Self {
                kind: RegionKind::Named(n),
            })
            .ok_or_else(|| Error::config(format!("{name:?} is not an Azure region name")))
    }

    /// The region of the host the app runs on: `REGION_NAME` from the
    /// process environment, else the VM's location from IMDS (asked once,
    /// with a two-second limit). When neither answers with a region name,
    /// requests go to the global endpoint.
    pub fn auto_detect() -> Self {
        Self {
            kind: RegionKind::Detect {
                env: Environment::process(),
                imds: default_imds(),
            },
        }
    }

    /// Like [`auto_detect`](Self::auto_detect), with the variables read from
    /// `env` and IMDS at `imds_origin` (scheme, host and port).
    ///
    /// # Errors
    /// [`Error::Config`] when `imds_origin` is not an http(s) URL.
    pub fn auto_detect_from(env: Environment, imds_origin: &str) -> Result<Self> {
        let imds = Url::parse(imds_origin)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                Error::config(format!("the IMDS origin {imds_origin:?} is not a URL"))
            })?;
        Ok(Self {
            kind: RegionKind::Detect { env, imds },
        })
    }

    /// The name, for a named region (`None` when it is detected).
    pub fn name(&self) -> Option<&str> {
        match &self.kind {
            RegionKind::Named(n) => Some(n),
            RegionKind::Detect { .. } => None,
        }
    }

    /// A name given by the app, or `REGION_NAME`; `None` means "ask IMDS"
    /// (at the returned URL) or no region.
    pub(crate) fn without_request(&self) -> std::result::Result<Option<String>, Url> {
        match &self.kind {
            RegionKind::Named(n) => Ok(Some(n.clone())),
            RegionKind::Detect { env, imds } => {
                if let Some(v) = env.var(REGION_NAME_VAR) {
                    match normalize(&v) {
                        Some(n) => return Ok(Some(n)),
                        None => tracing::warn!(
                            target: "msal::region",
                            "REGION_NAME is not a region name; asking IMDS"
                        ),
                    }
                }
                let mut url = imds.clone();
                let (path, query) = IMDS_COMPUTE_PATH
                    .split_once('?')
                    .unwrap_or((IMDS_COMPUTE_PATH, ""));
                url.set_path(path);
                url.set_query(Some(query));
                Err(url)
            }
        }
    }
}

fn default_imds() -> Url {
    // A constant that parses.
    Url::parse(DEFAULT_IMDS_ORIGIN).unwrap_or_else(|_| unreachable!("a valid URL"))
}

/// `name` without spaces, lower-cased, if it is a region name.
pub(crate) fn normalize(name: &str) -> Option<String> {
    let n: String = name
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let ok = !n.is_empty() && n.len() <= 40 && n.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(n)
}

/// The regional form of an Entra token endpoint: the public cloud's hosts
/// become `<region>.login.microsoft.com`, a national cloud's host `h`
/// becomes `<region>.h` (`usgovvirginia.login.microsoftonline.us`), port and
/// path kept, with `allowestsrnonmsi=true` (ESTS-R serves apps that are not
/// managed identities on request). `None` for a host that has no regional
/// form (an IP address, `localhost`).
pub(crate) fn regional_token_endpoint(global: &Url, region: &str) -> Option<Url> {
    let host = global.host_str()?.to_ascii_lowercase();
    if global.domain().is_none() || !host.contains('.') {
        return None;
    }
    let regional = if PUBLIC_CLOUD_HOSTS.contains(&host.as_str()) {
        format!("{region}.login.microsoft.com")
    } else {
        format!("{region}.{host}")
    };
    let mut url = global.clone();
    url.set_host(Some(&regional)).ok()?;
    url.query_pairs_mut()
        .append_pair("allowestsrnonmsi", "true");
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_and_validated() {
        assert_eq!(normalize("West US 2").as_deref(), Some("westus2"));
        assert_eq!(normalize("centraluseuap").as_deref(), Some("centraluseuap"));
        for bad in [
            "",
            "  ",
            "west-us",
            "westus2.evil.com",
            "a/b",
            &"x".repeat(41),
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
            assert!(Region::named(bad).is_err());
        }
    }

    #[test]
    fn regional_forms_of_each_cloud() {
        let e = |s: &str| Url::parse(s).unwrap();
        let r = |s: &str| regional_token_endpoint(&e(s), "westus2").map(|u| u.to_string());
        assert_eq!(
            r("https://login.microsoftonline.com/t/oauth2/v2.0/token").as_deref(),
            Some("https://westus2.login.microsoft.com/t/oauth2/v2.0/token?allowestsrnonmsi=true")
        );
        assert_eq!(
            r("https://login.windows.net/t/oauth2/v2.0/token").as_deref(),
            Some("https://westus2.login.microsoft.com/t/oauth2/v2.0/token?allowestsrnonmsi=true")
        );
        assert_eq!(
            r("https://login.microsoftonline.us/t/oauth2/v2.0/token").as_deref(),
            Some(
                "https://westus2.login.microsoftonline.us/t/oauth2/v2.0/token?allowestsrnonmsi=true"
            )
        );
        assert_eq!(
            r("https://login.chinacloudapi.cn:8443/t/oauth2/v2.0/token").as_deref(),
            Some(
                "https://westus2.login.chinacloudapi.cn:8443/t/oauth2/v2.0/token?allowestsrnonmsi=true"
            )
        );
        assert_eq!(r("http://127.0.0.1:8080/t/oauth2/v2.0/token"), None);
        assert_eq!(r("http://localhost:8080/t/oauth2/v2.0/token"), None);
    }

    #[test]
    fn detection_reads_region_name_first() {
        let env = Environment::from_vars([("REGION_NAME", "East US")]);
        let r = Region::auto_detect_from(env, "http://127.0.0.1:1").unwrap();
        assert_eq!(r.without_request().unwrap().as_deref(), Some("eastus"));
        let env = Environment::from_vars([("REGION_NAME", "not a/region")]);
        let r = Region::auto_detect_from(env, "http://127.0.0.1:1").unwrap();
        let url = r.without_request().unwrap_err();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/metadata/instance/compute?api-version=2021-01-01&format=json"
        );
        assert!(
            Region::auto_detect_from(
                Environment::from_vars(Vec::<(String, String)>::new()),
                "nope"
            )
            .is_err()
        );
    }
}
