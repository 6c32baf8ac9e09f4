//! What the global options mean for a command, settled before it runs:
//! `--output az` only where it applies, `--azure-cli`'s profile, and an
//! authority with no tenant that turns out to be an OpenID Connect issuer.

use msal::Authority;
use serde_json::Value;
use url::Url;

use crate::cli::{Command, GlobalOpts, OutputFormat};
use crate::context::Ctx;
use crate::error::{CliError, CliResult};

/// `g` as `command` uses it.
///
/// # Errors
/// `--output az` with a command that prints no token; an unreadable Azure
/// CLI profile; an authority with no tenant that is no OpenID Connect issuer.
pub(crate) async fn globals(mut g: GlobalOpts, command: &Command) -> CliResult<GlobalOpts> {
    if g.output == OutputFormat::Az && !matches!(command, Command::Token(_) | Command::AppToken(_))
    {
        return Err(CliError::other(
            "--output az is what `az account get-access-token` prints: use it with `msal token` or `msal app-token`",
        ));
    }
    if g.azure_cli {
        crate::cmd::azure_cli::apply(&mut g)?;
    }
    if uses_authority(command) {
        detect_oidc(&mut g).await?;
    }
    Ok(g)
}

/// Whether `command` signs in through `--authority`.
fn uses_authority(command: &Command) -> bool {
    match command {
        Command::Login(_)
        | Command::Token(_)
        | Command::Accounts(_)
        | Command::Logout(_)
        | Command::GitCredential(_) => true,
        Command::AppToken(a) => !a.managed_identity && !a.workload_identity,
        Command::KubeCredential(a) => a.id.signs_in_through_authority(),
        Command::Kubeconfig(a) => a.id.signs_in_through_authority(),
        Command::Cache(_) | Command::Quickstart(_) | Command::Completion(_) | Command::Man(_) => {
            false
        }
    }
}

/// An authority with no tenant segment (`https://issuer.example`) is no
/// Entra authority; when `<authority>/.well-known/openid-configuration`
/// answers with an issuer and a token endpoint it is taken as a generic
/// OpenID Connect issuer, as if `--oidc` had been given. Otherwise the
/// error says both ways out: a tenant, or `--oidc`.
async fn detect_oidc(g: &mut GlobalOpts) -> CliResult {
    if g.oidc || Authority::parse(&g.authority).is_ok() {
        return Ok(());
    }
    let Some(url) = tenantless(&g.authority) else {
        // Not a URL, or another shape: the library's own error says what is wrong.
        return Ok(());
    };
    let config_url = format!(
        "{}/.well-known/openid-configuration",
        url.as_str().trim_end_matches('/')
    );
    match probe(&Ctx::new(g.clone()), &config_url).await {
        Ok(()) => {
            g.oidc = true;
            Ok(())
        }
        Err(why) => Err(CliError::other(format!(
            "the authority {} has no tenant: use https://<host>/<tenant> (e.g. /organizations, /common \
             or a tenant id), or pass --oidc for a generic OpenID Connect issuer ({config_url}: {why})",
            g.authority
        ))),
    }
}

/// `authority` as a URL when it is an http(s) URL with an empty path.
pub(crate) fn tenantless(authority: &str) -> Option<Url> {
    let url = Url::parse(authority.trim()).ok()?;
    let web = matches!(url.scheme(), "https" | "http");
    let empty_path = url
        .path_segments()
        .is_none_or(|mut s| s.all(|p| p.is_empty()));
    (web && empty_path && url.host().is_some() && url.query().is_none()).then_some(url)
}

/// Whether `config_url` serves an OpenID configuration: 200 with a JSON
/// object naming an issuer and a token endpoint. The reason when not.
async fn probe(ctx: &Ctx, config_url: &str) -> Result<(), String> {
    let client = ctx.http_client().map_err(|e| e.message)?;
    let request = http::Request::get(config_url)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| format!("bad URL ({e})"))?;
    let response = client
        .execute(request)
        .await
        .map_err(|e| format!("no answer ({})", e.message))?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status().as_u16()));
    }
    is_openid_configuration(response.body())
        .then_some(())
        .ok_or_else(|| "not an OpenID configuration".to_owned())
}

/// Whether `body` is a JSON object with string `issuer` and `token_endpoint`.
pub(crate) fn is_openid_configuration(body: &[u8]) -> bool {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    ["issuer", "token_endpoint"].iter().all(|k| {
        doc.get(*k)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_web_url_without_a_path_is_a_candidate() {
        assert!(tenantless("https://accounts.example.com").is_some());
        assert!(tenantless("https://accounts.example.com/").is_some());
        assert!(tenantless("http://127.0.0.1:8080").is_some());
        assert!(tenantless("https://login.microsoftonline.com/organizations").is_none());
        assert!(tenantless("https://issuer.example/realms/x").is_none());
        assert!(tenantless("not a url").is_none());
        assert!(tenantless("file:///etc").is_none());
        assert!(tenantless("https://issuer.example/?x=1").is_none());
    }

    #[test]
    fn an_openid_configuration_names_an_issuer_and_a_token_endpoint() {
        assert!(is_openid_configuration(
            br#"{"issuer":"https://i","token_endpoint":"https://i/token","x":1}"#
        ));
        assert!(!is_openid_configuration(br#"{"issuer":"https://i"}"#));
        assert!(!is_openid_configuration(
            br#"{"issuer":"","token_endpoint":"https://i/token"}"#
        ));
        assert!(!is_openid_configuration(b"<html>"));
        assert!(!is_openid_configuration(br#"["issuer","token_endpoint"]"#));
    }
}
