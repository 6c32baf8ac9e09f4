//! The built-in directory, served when no configuration is given. The ids,
//! names and secrets are fixed so tests and the quick start can name them.
//!
//! | What | Id / name | Credential |
//! |---|---|---|
//! | Tenant Contoso | [`TENANT_ID`], [`TENANT_DOMAIN`] | |
//! | Tenant Fabrikam | [`SECOND_TENANT_ID`], [`SECOND_TENANT_DOMAIN`] | |
//! | Personal accounts | [`CONSUMERS_TENANT_ID`] (`/consumers`) | |
//! | User Ada (Contoso, guest in Fabrikam) | [`USER`] | [`USER_PASSWORD`] |
//! | User Bob (Contoso) | [`SECOND_USER`] | [`SECOND_USER_PASSWORD`] |
//! | User Grace (Fabrikam) | [`FABRIKAM_USER`] | [`FABRIKAM_USER_PASSWORD`] |
//! | User Alan (personal account) | [`CONSUMER_USER`] | [`CONSUMER_USER_PASSWORD`] |
//! | Public CLI app, family `1` | [`CLI_APP_ID`] | none; redirect `http://localhost` |
//! | Public app in family `1` | [`FAMILY_APP_ID`] | none |
//! | Public desktop app, no pre-consent | [`DESKTOP_APP_ID`] | none |
//! | Daemon (client credentials) | [`DAEMON_APP_ID`] | [`DAEMON_SECRET`] |
//! | Web app (auth code, confidential) | [`WEB_APP_ID`] | [`WEB_APP_SECRET`]; redirect `http://localhost/callback` |
//! | Web API (scopes, app roles, OBO) | [`WEB_API_APP_ID`], [`WEB_API_URI`] | [`WEB_API_SECRET`] |
//! | Microsoft Graph look-alike | [`GRAPH_APP_ID`], [`GRAPH_URI`] | |

use std::collections::BTreeMap;

use crate::config::{ApiConfig, AppConfig, EmulatorConfig, TenantConfig, UserConfig};

/// Contoso's tenant id.
pub const TENANT_ID: &str = "5f2c7a1e-3b9d-4c6a-8e4f-1a2b3c4d5e6f";
/// Contoso's domain name.
pub const TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";
/// Fabrikam's tenant id (Ada is a guest there).
pub const SECOND_TENANT_ID: &str = "9c1b5e7a-2d4f-4a8b-b6c3-7e8f9a0b1c2d";
/// Fabrikam's domain name.
pub const SECOND_TENANT_DOMAIN: &str = "fabrikam.onmicrosoft.com";
/// The personal-accounts tenant, as in Entra.
pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The demo user, in Contoso.
pub const USER: &str = "ada@contoso.onmicrosoft.com";
/// The demo user's password.
pub const USER_PASSWORD: &str = "Ada-Passw0rd!";
/// The demo user's object id in Contoso.
pub const USER_OBJECT_ID: &str = "a0a0a0a0-1111-4222-8333-00000000ada1";
/// The demo user's display name.
pub const USER_DISPLAY_NAME: &str = "Ada Lovelace";
/// A second Contoso user (multi-account tests).
pub const SECOND_USER: &str = "bob@contoso.onmicrosoft.com";
/// Bob's password.
pub const SECOND_USER_PASSWORD: &str = "Bob-Passw0rd!";
/// Bob's object id.
pub const SECOND_USER_OBJECT_ID: &str = "b0b0b0b0-1111-4222-8333-00000000b0b1";
/// A Fabrikam user.
pub const FABRIKAM_USER: &str = "grace@fabrikam.onmicrosoft.com";
/// Grace's password.
pub const FABRIKAM_USER_PASSWORD: &str = "Grace-Passw0rd!";
/// A personal (MSA-style) account, in the consumers tenant.
pub const CONSUMER_USER: &str = "alan@outlook.com";
/// Alan's password.
pub const CONSUMER_USER_PASSWORD: &str = "Alan-Passw0rd!";

/// A public client (CLI), member of family `1`, pre-consented to Graph
/// `User.Read` and the web API's `access_as_user`.
pub const CLI_APP_ID: &str = "c11c11c1-0000-4000-8000-00000000c11a";
/// Another public client in family `1` (FOCI tests).
pub const FAMILY_APP_ID: &str = "fa3117a9-0000-4000-8000-00000000fa31";
/// A public client outside any family with no pre-consent: the sign-in
/// page asks for consent.
pub const DESKTOP_APP_ID: &str = "de5c7009-0000-4000-8000-00000000de5c";
/// A daemon (confidential) with application permissions `Data.Read.All` on
/// the web API and `User.Read.All` on Graph.
pub const DAEMON_APP_ID: &str = "dae30000-0000-4000-8000-00000000dae3";
/// The daemon's client secret.
pub const DAEMON_SECRET: &str = "daemon-secret-value";
/// A confidential web app (auth code with a secret).
pub const WEB_APP_ID: &str = "3eb0a990-0000-4000-8000-000000003eb0";
/// The web app's client secret.
pub const WEB_APP_SECRET: &str = "web-app-secret-value";
/// The web API's app id (the `aud` of its tokens); also a confidential
/// client for the on-behalf-of grant.
pub const WEB_API_APP_ID: &str = "a9100000-0000-4000-8000-00000000a910";
/// The web API's identifier URI.
pub const WEB_API_URI: &str = "api://msal-emulator-web-api";
/// The web API's client secret (for on-behalf-of).
pub const WEB_API_SECRET: &str = "web-api-secret-value";
/// Microsoft Graph's app id.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Microsoft Graph's identifier URI.
pub const GRAPH_URI: &str = "https://graph.microsoft.com";

fn perms(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

/// The built-in directory (see the module docs).
pub fn default_config() -> EmulatorConfig {
    let mut c = EmulatorConfig::empty();
    let mut contoso = TenantConfig::new(TENANT_ID, TENANT_DOMAIN);
    contoso.name = "Contoso".into();
    let mut fabrikam = TenantConfig::new(SECOND_TENANT_ID, SECOND_TENANT_DOMAIN);
    fabrikam.name = "Fabrikam".into();
    let mut consumers = TenantConfig::new(CONSUMERS_TENANT_ID, "live.com");
    consumers.name = "Microsoft Accounts".into();
    consumers.consumers = true;
    c.tenants = vec![contoso, fabrikam, consumers];

    let mut ada = UserConfig::new(USER, USER_PASSWORD, USER_DISPLAY_NAME, TENANT_ID);
    ada.object_id = Some(USER_OBJECT_ID.into());
    ada.guest_tenants = vec![SECOND_TENANT_ID.into()];
    ada.email = Some(USER.into());
    let mut bob = UserConfig::new(SECOND_USER, SECOND_USER_PASSWORD, "Bob Builder", TENANT_ID);
    bob.object_id = Some(SECOND_USER_OBJECT_ID.into());
    let grace = UserConfig::new(
        FABRIKAM_USER,
        FABRIKAM_USER_PASSWORD,
        "Grace Hopper",
        SECOND_TENANT_ID,
    );
    let alan = UserConfig::new(
        CONSUMER_USER,
        CONSUMER_USER_PASSWORD,
        "Alan Turing",
        CONSUMERS_TENANT_ID,
    );
    c.users = vec![ada, bob, grace, alan];

    let user_perms = perms(&[
        (GRAPH_URI, &["User.Read"]),
        (WEB_API_URI, &["access_as_user"]),
    ]);
    let mut cli = AppConfig::public(CLI_APP_ID, "msal-rs CLI (emulated)");
    cli.redirect_uris = vec!["http://localhost".into()];
    cli.family_id = Some("1".into());
    cli.delegated_permissions = user_perms.clone();
    let mut family = AppConfig::public(FAMILY_APP_ID, "Family companion app");
    family.redirect_uris = vec!["http://localhost".into()];
    family.family_id = Some("1".into());
    family.delegated_permissions = user_perms.clone();
    let mut desktop = AppConfig::public(DESKTOP_APP_ID, "Desktop app");
    desktop.redirect_uris = vec!["http://localhost".into(), "http://127.0.0.1".into()];
    let mut daemon = AppConfig::confidential(DAEMON_APP_ID, "Daemon", DAEMON_SECRET);
    daemon.application_permissions = perms(&[
        (WEB_API_URI, &["Data.Read.All"]),
        (GRAPH_URI, &["User.Read.All"]),
    ]);
    let mut web = AppConfig::confidential(WEB_APP_ID, "Web app", WEB_APP_SECRET);
    web.redirect_uris = vec!["http://localhost/callback".into()];
    web.delegated_permissions = user_perms;
    let mut web_api = AppConfig::confidential(WEB_API_APP_ID, "Web API", WEB_API_SECRET);
    web_api.delegated_permissions = perms(&[(GRAPH_URI, &["User.Read", "Mail.Read"])]);
    c.apps = vec![cli, family, desktop, daemon, web, web_api];

    c.apis = vec![
        ApiConfig {
            app_id: GRAPH_APP_ID.into(),
            name: "Microsoft Graph".into(),
            identifier_uris: vec![GRAPH_URI.into(), "https://graph.microsoft.com/".into()],
            scopes: vec!["User.Read".into(), "Mail.Read".into(), "Files.Read".into()],
            app_roles: vec!["User.Read.All".into()],
            default_resource: true,
        },
        ApiConfig {
            app_id: WEB_API_APP_ID.into(),
            name: "Web API".into(),
            identifier_uris: vec![WEB_API_URI.into()],
            scopes: vec!["access_as_user".into(), "Data.Read".into()],
            app_roles: vec!["Data.Read.All".into(), "Data.Write.All".into()],
            default_resource: false,
        },
    ];
    c
}
