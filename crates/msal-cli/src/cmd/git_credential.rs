//! `msal git-credential get|store|erase`: git's credential helper protocol.
//!
//! git writes `key=value` lines (`protocol`, `host`, `path`, `username`,
//! `password`, ...) ending with a blank line on the helper's stdin. For the
//! hosts msal answers for (Azure DevOps: `dev.azure.com` and
//! `*.visualstudio.com` over HTTPS, and every `--host`), `get` answers with
//! the signed-in user's access token for Azure DevOps as the password; for
//! any other host it says nothing, so git asks its other helpers. `store`
//! has nothing to do (the tokens live in msal's cache). `erase`, which git
//! runs when the server refused the password, drops that access token from
//! the cache so the next `get` redeems the refresh token for a new one.

use std::io::{BufRead, IsTerminal};

use clap::{Args, ValueEnum};
use msal::storage::{CacheAccess, CacheAccessArgs};

use crate::cli::user_scopes;
use crate::cmd::login::device_code;
use crate::cmd::select::select;
use crate::context::Ctx;
use crate::error::{CliError, CliResult, EXIT_SIGN_IN_REQUIRED};
use crate::output::say;

mod cache_edit;

/// The scope of Azure DevOps, asked for when `--scopes` is not given.
pub(crate) const AZURE_DEVOPS_SCOPE: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";

/// What git asks the helper to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Action {
    /// Answer with a user name and password (the token).
    Get,
    /// git accepted the password (nothing to do).
    Store,
    /// The server refused the password: drop that token.
    Erase,
}

/// `msal git-credential`.
#[derive(Debug, Clone, Args)]
pub(crate) struct GitCredentialArgs {
    /// What git asks (git adds it as the last argument).
    #[arg(value_enum)]
    pub(crate) action: Action,
    /// Also answer for this host (`host` or `host:port` as git names it,
    /// any protocol); repeat for several [always: dev.azure.com and
    /// *.visualstudio.com over HTTPS].
    #[arg(long = "host", value_name = "HOST")]
    pub(crate) hosts: Vec<String>,
    /// The token's scope; repeat for several [default: Azure DevOps,
    /// 499b84ac-1321-427f-aa17-267ca6975798/.default].
    #[arg(long, value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// Which signed-in account (user name or home account id) when several are.
    #[arg(long, value_name = "USER")]
    pub(crate) account: Option<String>,
}

/// The attributes git sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) protocol: String,
    pub(crate) host: String,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<zeroize::Zeroizing<String>>,
}

/// Reads git's `key=value` lines up to a blank line or the end.
/// `url=` is split into protocol, host and user name, as git documents.
pub(crate) fn read_request(input: impl BufRead) -> std::io::Result<Request> {
    let mut r = Request::default();
    for line in input.lines() {
        let line = line?;
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "protocol" => r.protocol = value.to_owned(),
            "host" => r.host = value.to_owned(),
            "username" => r.username = Some(value.to_owned()),
            "password" => r.password = Some(zeroize::Zeroizing::new(value.to_owned())),
            "url" => {
                if let Ok(u) = url::Url::parse(value) {
                    r.protocol = u.scheme().to_owned();
                    r.host = match (u.host_str(), u.port()) {
                        (Some(h), Some(p)) => format!("{h}:{p}"),
                        (Some(h), None) => h.to_owned(),
                        _ => String::new(),
                    };
                    if !u.username().is_empty() {
                        r.username = Some(u.username().to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(r)
}

/// Whether msal answers for `r`: Azure DevOps over HTTPS, or a `--host`.
pub(crate) fn is_ours(r: &Request, extra_hosts: &[String]) -> bool {
    let host = r.host.to_ascii_lowercase();
    let bare = host.rsplit_once(':').map_or(host.as_str(), |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host.as_str()
        }
    });
    let devops = r.protocol.eq_ignore_ascii_case("https")
        && (bare == "dev.azure.com" || bare.ends_with(".visualstudio.com"));
    devops
        || extra_hosts.iter().any(|h| {
            let h = h.trim().to_ascii_lowercase();
            !h.is_empty() && (h == host || h == bare)
        })
}

/// Runs the helper on stdin.
pub(crate) async fn run(ctx: &Ctx, args: &GitCredentialArgs) -> CliResult {
    let request = read_request(std::io::stdin().lock())
        .map_err(|e| CliError::other(format!("cannot read git's request on stdin: {e}")))?;
    if args.action == Action::Store || !is_ours(&request, &args.hosts) {
        return Ok(());
    }
    let scopes = user_scopes(&args.scopes, &[AZURE_DEVOPS_SCOPE]);
    match args.action {
        Action::Get => get(ctx, args, &request, &scopes).await,
        Action::Erase => erase(ctx, &request).await,
        Action::Store => Ok(()),
    }
}

/// Answers with the token; signs in with a device code on a terminal when
/// git may prompt (`GIT_TERMINAL_PROMPT` is not `0`).
async fn get(
    ctx: &Ctx,
    args: &GitCredentialArgs,
    request: &Request,
    scopes: &[String],
) -> CliResult {
    let app = ctx.public_app()?;
    let accounts = app.accounts().await?;
    let wanted = match (&args.account, &ctx.g.azure) {
        (Some(a), _) => Some(a.as_str()),
        (None, Some(azure)) => azure.user()?,
        (None, None) => None,
    };
    let silent = match select(&accounts, wanted, true) {
        Ok(account) => match app.acquire_token_silent(scopes, account).await {
            Ok(r) => Ok(r),
            Err(e) if e.is_ui_required() => Err(CliError::from(e)),
            Err(e) => return Err(e.into()),
        },
        Err(e) if e.code == EXIT_SIGN_IN_REQUIRED => Err(e),
        Err(e) => return Err(e),
    };
    let result = match silent {
        Ok(r) => r,
        Err(why) => {
            let may_prompt = std::env::var("GIT_TERMINAL_PROMPT").map_or(true, |v| v != "0")
                && std::io::stderr().is_terminal();
            if !may_prompt {
                return Err(CliError::sign_in_required(format!(
                    "{} (for git: `{}`)",
                    crate::cmd::kube::reason(&why.message),
                    crate::cmd::kube::login_hint(&ctx.g, scopes)
                )));
            }
            device_code(&app, scopes, |info| eprintln!("{}", info.message)).await?
        }
    };
    let username = request
        .username
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| result.account().map(|a| a.username().to_owned()))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "msal".to_owned());
    let answer = zeroize::Zeroizing::new(format!(
        "username={}\npassword={}\npassword_expiry_utc={}\n",
        one_value(&username),
        result.access_token().expose_secret(),
        result.expires_on_unix()
    ));
    say!("{}", answer.trim_end());
    Ok(())
}

/// A value git can read back: no line break.
fn one_value(v: &str) -> String {
    v.replace(['\n', '\r', '\0'], "")
}

/// Drops the access token git was refused with from the cache file (under
/// its lock); nothing when git sent no password or the cache no longer
/// holds it.
async fn erase(ctx: &Ctx, request: &Request) -> CliResult {
    let Some(password) = request.password.as_ref().filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let cache = ctx.file_cache()?;
    let args = CacheAccessArgs::new(None, false).with_partitioned(true);
    let doc = cache
        .before_access(args)
        .await
        .map_err(|e| CliError::from(msal::Error::Storage(e)))?;
    let edited = doc
        .as_deref()
        .and_then(|d| cache_edit::without_access_token(d, password));
    let changed = edited.is_some();
    let write = cache
        .after_access(
            args.after(changed, None),
            edited.as_deref().map(|d| d.as_slice()),
        )
        .await;
    write.map_err(|e| CliError::from(msal::Error::Storage(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Request {
        read_request(text.as_bytes()).unwrap()
    }

    #[test]
    fn git_requests_are_read_up_to_the_blank_line() {
        let r = req(
            "protocol=https\nhost=dev.azure.com\npath=org/p/_git/r\nusername=org\n\nhost=evil\n",
        );
        assert_eq!(r.protocol, "https");
        assert_eq!(r.host, "dev.azure.com");
        assert_eq!(r.username.as_deref(), Some("org"));
        assert!(r.password.is_none());
        let r = req("url=https://org@contoso.visualstudio.com:8443/x\r\npassword=p=q\r\n");
        assert_eq!(r.host, "contoso.visualstudio.com:8443");
        assert_eq!(r.username.as_deref(), Some("org"));
        assert_eq!(r.password.as_deref().map(String::as_str), Some("p=q"));
    }

    #[test]
    fn msal_answers_for_azure_devops_over_https_and_the_given_hosts() {
        let none: &[String] = &[];
        assert!(is_ours(&req("protocol=https\nhost=dev.azure.com\n"), none));
        assert!(is_ours(
            &req("protocol=https\nhost=DEV.azure.com:443\n"),
            none
        ));
        assert!(is_ours(
            &req("protocol=https\nhost=contoso.visualstudio.com\n"),
            none
        ));
        assert!(
            !is_ours(&req("protocol=http\nhost=dev.azure.com\n"), none),
            "not over plain HTTP"
        );
        assert!(!is_ours(&req("protocol=https\nhost=github.com\n"), none));
        assert!(!is_ours(
            &req("protocol=https\nhost=visualstudio.com.evil.example\n"),
            none
        ));
        assert!(!is_ours(
            &req("protocol=https\nhost=evilvisualstudio.com\n"),
            none
        ));
        let extra = ["git.contoso.com".to_owned(), "127.0.0.1:8080".to_owned()];
        assert!(is_ours(
            &req("protocol=https\nhost=git.contoso.com:8443\n"),
            &extra
        ));
        assert!(is_ours(
            &req("protocol=http\nhost=127.0.0.1:8080\n"),
            &extra
        ));
        assert!(!is_ours(
            &req("protocol=http\nhost=127.0.0.1:8081\n"),
            &extra
        ));
    }
}
