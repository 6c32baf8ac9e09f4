//! The known Entra cloud instances and their alias groups (spec §3.3), as
//! instance discovery publishes them and MSAL.NET and msal-common hard-code
//! them. A host in this table needs no discovery request.

/// One cloud's alias group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AliasGroup {
    /// Every host name of the cloud (lower case).
    pub aliases: &'static [&'static str],
    /// The host requests are sent to.
    pub preferred_network: &'static str,
    /// The host MSAL.NET and MSAL Node store tokens under.
    pub preferred_cache: &'static str,
}

/// The built-in alias groups.
pub const KNOWN_CLOUDS: &[AliasGroup] = &[
    AliasGroup {
        aliases: &[
            "login.microsoftonline.com",
            "login.windows.net",
            "login.microsoft.com",
            "sts.windows.net",
        ],
        preferred_network: "login.microsoftonline.com",
        preferred_cache: "login.windows.net",
    },
    AliasGroup {
        aliases: &["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
        preferred_network: "login.partner.microsoftonline.cn",
        preferred_cache: "login.partner.microsoftonline.cn",
    },
    AliasGroup {
        aliases: &["login.microsoftonline.de"],
        preferred_network: "login.microsoftonline.de",
        preferred_cache: "login.microsoftonline.de",
    },
    AliasGroup {
        aliases: &["login.microsoftonline.us", "login.usgovcloudapi.net"],
        preferred_network: "login.microsoftonline.us",
        preferred_cache: "login.microsoftonline.us",
    },
    AliasGroup {
        aliases: &["login-us.microsoftonline.com"],
        preferred_network: "login-us.microsoftonline.com",
        preferred_cache: "login-us.microsoftonline.com",
    },
    AliasGroup {
        aliases: &[
            "login.windows-ppe.net",
            "sts.windows-ppe.net",
            "login.microsoft-ppe.com",
        ],
        preferred_network: "login.windows-ppe.net",
        preferred_cache: "login.windows-ppe.net",
    },
    AliasGroup {
        aliases: &["login.sovcloud-identity.fr"],
        preferred_network: "login.sovcloud-identity.fr",
        preferred_cache: "login.sovcloud-identity.fr",
    },
    AliasGroup {
        aliases: &["login.sovcloud-identity.de"],
        preferred_network: "login.sovcloud-identity.de",
        preferred_cache: "login.sovcloud-identity.de",
    },
    AliasGroup {
        aliases: &["login.sovcloud-identity.sg"],
        preferred_network: "login.sovcloud-identity.sg",
        preferred_cache: "login.sovcloud-identity.sg",
    },
];

/// The known alias group of `host` (lower case), if any.
pub fn known_group(host: &str) -> Option<&'static AliasGroup> {
    KNOWN_CLOUDS.iter().find(|g| g.aliases.contains(&host))
}

/// Whether `host` is a well-known Entra host (no discovery needed).
pub fn is_known_host(host: &str) -> bool {
    known_group(host).is_some()
}

/// `host` first, then the other members of its known group.
pub fn environments_of(host: &str) -> Vec<String> {
    let mut envs = vec![host.to_owned()];
    if let Some(g) = known_group(host) {
        envs.extend(
            g.aliases
                .iter()
                .filter(|a| **a != host)
                .map(|a| (*a).to_owned()),
        );
    }
    envs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_cloud_aliases_start_with_the_configured_host() {
        assert_eq!(
            environments_of("login.windows.net"),
            vec![
                "login.windows.net",
                "login.microsoftonline.com",
                "login.microsoft.com",
                "sts.windows.net"
            ]
        );
        assert_eq!(environments_of("login.example"), vec!["login.example"]);
        assert_eq!(
            known_group("login.usgovcloudapi.net").map(|g| g.preferred_network),
            Some("login.microsoftonline.us")
        );
        assert!(!is_known_host("contoso.b2clogin.com"));
    }
}
