//! kubectl's exec credential plugin (`msal kube-credential`) and the
//! kubeconfig stanza that runs it (`msal kubeconfig`).
//!
//! kubectl runs the plugin with `KUBERNETES_EXEC_INFO` holding an
//! `ExecCredential` that names the API version it wants
//! (`client.authentication.k8s.io/v1` or `v1beta1`) and whether the session
//! is interactive; the plugin prints an `ExecCredential` with the token and
//! its `expirationTimestamp` on stdout. Prompts go to stderr, and never when
//! kubectl says the session is not interactive.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::json;

use crate::cli::{DEFAULT_AUTHORITY, GlobalOpts, user_scopes};
use crate::cmd::app_token;
use crate::cmd::login::device_code;
use crate::cmd::select::select;
use crate::context::Ctx;
use crate::error::{CliError, CliResult, EXIT_SIGN_IN_REQUIRED};
use crate::output::{Out, rfc3339, say};

mod kubeconfig_file;

/// The scope of the AKS server application (Entra ID integration), asked for
/// when `--scopes` is not given.
pub(crate) const AKS_SCOPE: &str = "6dae42f8-4368-4678-94ff-3960e28e3630/.default";

/// The exec credential API versions the plugin speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExecApiVersion {
    /// `client.authentication.k8s.io/v1beta1` (kubectl 1.11 and later).
    #[value(name = "v1beta1")]
    V1beta1,
    /// `client.authentication.k8s.io/v1` (kubectl 1.22 and later).
    #[value(name = "v1")]
    V1,
}

impl ExecApiVersion {
    /// The `apiVersion` string.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::V1beta1 => "client.authentication.k8s.io/v1beta1",
            Self::V1 => "client.authentication.k8s.io/v1",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::V1beta1, Self::V1]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Who the token is for: the signed-in user (the default), or an
/// application with one of the `app-token` credentials.
#[derive(Debug, Clone, Args)]
pub(crate) struct IdentityArgs {
    /// Scopes, separated by spaces or commas, or repeated [default: the AKS
    /// server application's, 6dae42f8-4368-4678-94ff-3960e28e3630/.default].
    #[arg(long, num_args = 1.., value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// Which signed-in account (user name or home account id) when several are.
    #[arg(long, value_name = "USER")]
    pub(crate) account: Option<String>,
    /// A service principal with a client secret: the name of the environment
    /// variable that holds it (kubectl passes its environment on).
    #[arg(long, value_name = "VAR", group = "app_credential")]
    pub(crate) client_secret_env: Option<String>,
    /// A service principal with a certificate (PEM).
    #[arg(long, value_name = "PEM", group = "app_credential")]
    pub(crate) certificate: Option<PathBuf>,
    /// The certificate's private key (PEM), if not in the --certificate file.
    #[arg(long, value_name = "PEM", requires = "certificate")]
    pub(crate) key: Option<PathBuf>,
    /// The managed identity of the Azure resource this runs on (user-assigned
    /// with --client-id on the command line, --resource-id or --object-id).
    #[arg(long, group = "app_credential")]
    pub(crate) managed_identity: bool,
    /// A user-assigned managed identity by its Azure resource id.
    #[arg(
        long,
        value_name = "ID",
        requires = "managed_identity",
        conflicts_with = "object_id"
    )]
    pub(crate) resource_id: Option<String>,
    /// A user-assigned managed identity by its object (principal) id.
    #[arg(long, value_name = "ID", requires = "managed_identity")]
    pub(crate) object_id: Option<String>,
    /// Workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID,
    /// AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST).
    #[arg(long, group = "app_credential")]
    pub(crate) workload_identity: bool,
}

impl IdentityArgs {
    /// Whether the token comes through `--authority` (a user or a service
    /// principal), not from a managed or workload identity.
    pub(crate) fn signs_in_through_authority(&self) -> bool {
        !self.managed_identity && !self.workload_identity
    }

    /// Whether the token is an application's.
    fn is_app(&self) -> bool {
        self.client_secret_env.is_some()
            || self.certificate.is_some()
            || self.managed_identity
            || self.workload_identity
    }

    /// The scopes, the AKS scope by default.
    pub(crate) fn scopes(&self) -> Vec<String> {
        user_scopes(&self.scopes, &[AKS_SCOPE])
    }

    fn app_token_args(&self, scopes: Vec<String>) -> crate::cli::AppTokenArgs {
        crate::cli::AppTokenArgs {
            scopes,
            client_secret_env: self.client_secret_env.clone(),
            certificate: self.certificate.clone(),
            key: self.key.clone(),
            managed_identity: self.managed_identity,
            resource_id: self.resource_id.clone(),
            object_id: self.object_id.clone(),
            workload_identity: self.workload_identity,
            region: None,
            mtls_pop: false,
            fmi_path: None,
            json: false,
        }
    }

    /// These options as arguments for the stanza; paths made absolute.
    fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if !self.scopes.is_empty() {
            a.push("--scopes".to_owned());
            a.extend(self.scopes());
        }
        let mut opt = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                a.push(name.to_owned());
                a.push(v);
            }
        };
        opt("--account", self.account.clone());
        opt("--client-secret-env", self.client_secret_env.clone());
        opt("--certificate", self.certificate.as_deref().map(absolute));
        opt("--key", self.key.as_deref().map(absolute));
        opt("--resource-id", self.resource_id.clone());
        opt("--object-id", self.object_id.clone());
        if self.managed_identity {
            a.push("--managed-identity".to_owned());
        }
        if self.workload_identity {
            a.push("--workload-identity".to_owned());
        }
        a
    }
}

/// `msal kube-credential`.
#[derive(Debug, Clone, Args)]
pub(crate) struct CredentialArgs {
    #[command(flatten)]
    pub(crate) id: IdentityArgs,
}

/// `msal kubeconfig`.
#[derive(Debug, Clone, Args)]
pub(crate) struct KubeconfigArgs {
    /// The kubeconfig user (`users[].name`) whose credential msal provides;
    /// created when the file has none of that name.
    #[arg(long, value_name = "NAME")]
    pub(crate) user: String,
    /// The kubeconfig file [default: the file of KUBECONFIG that defines the
    /// user, else its first file, else ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The exec credential API version kubectl is told to use.
    #[arg(long, value_enum, default_value_t = ExecApiVersion::V1beta1)]
    pub(crate) exec_api_version: ExecApiVersion,
    /// The command kubectl runs [default: `msal` when that is this program on
    /// PATH, else this program's absolute path].
    #[arg(long, value_name = "PATH")]
    pub(crate) command: Option<String>,
    #[command(flatten)]
    pub(crate) id: IdentityArgs,
    /// Print JSON (same as --output json).
    #[arg(long)]
    pub(crate) json: bool,
}

/// What kubectl said in `KUBERNETES_EXEC_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExecInfo {
    /// The version to answer in.
    pub(crate) api_version: ExecApiVersion,
    /// Whether the plugin may prompt.
    pub(crate) interactive: bool,
}

/// Reads `KUBERNETES_EXEC_INFO` (`info`). Without it (a kubectl older than
/// 1.20, or a person running the plugin), `v1beta1`, interactive when stdin
/// is a terminal; likewise when the `interactive` field is absent.
///
/// # Errors
/// Not an ExecCredential, or a version msal does not speak.
pub(crate) fn exec_info(info: Option<&str>, stdin_is_terminal: bool) -> CliResult<ExecInfo> {
    let Some(text) = info.filter(|t| !t.trim().is_empty()) else {
        return Ok(ExecInfo {
            api_version: ExecApiVersion::V1beta1,
            interactive: stdin_is_terminal,
        });
    };
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        CliError::other(format!(
            "KUBERNETES_EXEC_INFO is not an ExecCredential (not JSON: {e})"
        ))
    })?;
    let version = doc
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let api_version = ExecApiVersion::parse(version).ok_or_else(|| {
        CliError::other(format!(
            "kubectl asks for the exec credential version {version:?}; msal speaks \
             client.authentication.k8s.io/v1 and v1beta1: set one of them as the exec stanza's \
             apiVersion (`msal kubeconfig --exec-api-version`)"
        ))
    })?;
    let interactive = doc
        .pointer("/spec/interactive")
        .and_then(|v| v.as_bool())
        .unwrap_or(stdin_is_terminal);
    Ok(ExecInfo {
        api_version,
        interactive,
    })
}

/// The ExecCredential kubectl reads from the plugin's stdout.
pub(crate) fn exec_credential(info: ExecInfo, token: &str, expires_on: i64) -> serde_json::Value {
    json!({
        "kind": "ExecCredential",
        "apiVersion": info.api_version.as_str(),
        "spec": { "interactive": info.interactive },
        "status": {
            "expirationTimestamp": rfc3339(expires_on),
            "token": token,
        },
    })
}

/// `msal kube-credential`: prints the ExecCredential for kubectl.
pub(crate) async fn credential(ctx: &Ctx, args: &CredentialArgs) -> CliResult {
    let info = exec_info(
        std::env::var("KUBERNETES_EXEC_INFO").ok().as_deref(),
        std::io::stdin().is_terminal(),
    )?;
    let scopes = args.id.scopes();
    let (token, expires_on) = if args.id.is_app() {
        let t = app_token::acquire(ctx, &args.id.app_token_args(scopes.clone()), &scopes).await?;
        (t.secret().to_owned(), t.expires_on())
    } else {
        user_token(ctx, &args.id, &scopes, info.interactive).await?
    };
    let token = zeroize::Zeroizing::new(token);
    say!("{}", exec_credential(info, &token, expires_on));
    Ok(())
}

/// The signed-in user's token for `scopes`: silently, else (when kubectl
/// allows it) a device-code sign-in whose prompt goes to stderr.
async fn user_token(
    ctx: &Ctx,
    id: &IdentityArgs,
    scopes: &[String],
    interactive: bool,
) -> CliResult<(String, i64)> {
    let app = ctx.public_app()?;
    let accounts = app.accounts().await?;
    let wanted = match (&id.account, &ctx.g.azure) {
        (Some(a), _) => Some(a.as_str()),
        (None, Some(azure)) => azure.user()?,
        (None, None) => None,
    };
    let why = match select(&accounts, wanted, true) {
        Ok(account) => match app.acquire_token_silent(scopes, account).await {
            Ok(r) => {
                return Ok((
                    r.access_token().expose_secret().to_owned(),
                    r.expires_on_unix(),
                ));
            }
            Err(e) if e.is_ui_required() => CliError::from(e).message,
            Err(e) => return Err(e.into()),
        },
        Err(e) if e.code == EXIT_SIGN_IN_REQUIRED => e.message,
        Err(e) => return Err(e),
    };
    if !interactive {
        return Err(CliError::sign_in_required(format!(
            "kubectl needs a sign-in and runs msal without a terminal, so msal does not prompt ({}); \
             sign in with `{}`, then run kubectl again",
            reason(&why),
            login_hint(&ctx.g, scopes)
        )));
    }
    let r = device_code(&app, scopes, |info| eprintln!("{}", info.message)).await?;
    Ok((
        r.access_token().expose_secret().to_owned(),
        r.expires_on_unix(),
    ))
}

/// Why a sign-in is needed, without the generic "run `msal login`" advice
/// (the caller gives the exact command).
pub(crate) fn reason(message: &str) -> &str {
    message
        .split("; run `msal login`")
        .next()
        .unwrap_or(message)
        .trim_end_matches('.')
}

/// `msal <the same global options> login --device-code --scopes ...`.
pub(crate) fn login_hint(g: &GlobalOpts, scopes: &[String]) -> String {
    let mut words = vec!["msal".to_owned()];
    words.extend(global_args(g, false));
    words.extend(["login", "--device-code", "--scopes"].map(str::to_owned));
    words.extend(scopes.iter().cloned());
    shell_join(&words)
}

/// The global options as arguments that make another `msal` run the same
/// way: what was given, paths made absolute. `--client-id` names a managed
/// identity only when it was typed (see `app-token`), so for one it is kept
/// only then.
pub(crate) fn global_args(g: &GlobalOpts, managed_identity: bool) -> Vec<String> {
    let mut a = Vec::new();
    if g.azure_cli {
        a.push("--azure-cli".to_owned());
    }
    if g.authority != DEFAULT_AUTHORITY {
        a.push("--authority".to_owned());
        a.push(g.authority.clone());
    }
    if g.oidc {
        a.push("--oidc".to_owned());
    }
    if let Some(id) = g.client_id.as_ref().filter(|c| !c.trim().is_empty())
        && (!managed_identity || g.client_id_on_command_line)
    {
        a.push("--client-id".to_owned());
        a.push(id.clone());
    }
    // --azure-cli names its own cache file, in plain text.
    if !g.azure_cli {
        if let Some(cache) = &g.cache {
            a.push("--cache".to_owned());
            a.push(absolute(cache));
        }
        if g.plaintext {
            a.push("--plaintext".to_owned());
        }
    }
    if let Some(ca) = &g.ca_file {
        a.push("--ca-file".to_owned());
        a.push(absolute(ca));
    }
    if let Some(proxy) = &g.proxy {
        a.push("--proxy".to_owned());
        a.push(proxy.clone());
    }
    a
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// `words` as a POSIX shell would need them typed.
pub(crate) fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `msal kubeconfig`: writes the exec stanza for `--user`.
pub(crate) async fn kubeconfig(ctx: &Ctx, given: &GlobalOpts, args: &KubeconfigArgs) -> CliResult {
    let out = Out::new(ctx.g.output, args.json);
    if args.user.trim().is_empty() {
        return Err(CliError::other("--user is empty: name the kubeconfig user"));
    }
    let path = kubeconfig_file::path_for(args.kubeconfig.as_deref(), &args.user)?;
    let command = args.command.clone().unwrap_or_else(default_command);
    let mut given = given.clone();
    // An issuer found to be OpenID Connect is written as such: no probe per kubectl call.
    given.oidc |= ctx.g.oidc;
    let mut msal_args = global_args(&given, args.id.managed_identity);
    msal_args.push("kube-credential".to_owned());
    msal_args.extend(args.id.to_args());
    let stanza = kubeconfig_file::ExecStanza {
        api_version: args.exec_api_version,
        command,
        args: msal_args,
    };
    let done = kubeconfig_file::write_user_exec(&path, &args.user, &stanza)?;
    if done.had_comments {
        eprintln!(
            "msal: note: the comments in {} were not kept (kubectl's own `kubectl config` drops them too)",
            path.display()
        );
    }
    if out.json {
        out.json(&json!({
            "kubeconfig": path.display().to_string(),
            "user": args.user,
            "created_user": done.created_user,
            "removed": done.removed,
            "exec": {
                "apiVersion": stanza.api_version.as_str(),
                "command": stanza.command,
                "args": stanza.args,
            },
        }));
    } else {
        say!(
            "{} user {} in {}: kubectl runs `{}`.",
            if done.created_user {
                "Added"
            } else {
                "Updated"
            },
            args.user,
            path.display(),
            shell_join(&[vec![stanza.command.clone()], stanza.args.clone()].concat())
        );
        if !done.removed.is_empty() {
            say!(
                "Removed the user's other credentials: {}.",
                done.removed.join(", ")
            );
        }
    }
    Ok(())
}

/// `msal` when that is what PATH finds for this program, else this
/// program's absolute path (kubectl may run with another PATH).
fn default_command() -> String {
    let Ok(exe) = std::env::current_exe().and_then(|e| e.canonicalize()) else {
        return "msal".to_owned();
    };
    let name = if cfg!(windows) { "msal.exe" } else { "msal" };
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|c| c.is_file());
    match on_path.and_then(|p| p.canonicalize().ok()) {
        Some(found) if found == exe => "msal".to_owned(),
        _ => exe.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_info_picks_the_version_and_interactivity() {
        let v1 = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;
        assert_eq!(
            exec_info(Some(v1), true).unwrap(),
            ExecInfo {
                api_version: ExecApiVersion::V1,
                interactive: false
            }
        );
        let beta = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":true,"cluster":{"server":"https://x"}}}"#;
        assert_eq!(
            exec_info(Some(beta), false).unwrap(),
            ExecInfo {
                api_version: ExecApiVersion::V1beta1,
                interactive: true
            }
        );
        // kubectl 1.20's v1beta1 has no `interactive`: the terminal decides.
        let old = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{}}"#;
        assert!(!exec_info(Some(old), false).unwrap().interactive);
        assert!(exec_info(Some(old), true).unwrap().interactive);
        assert_eq!(
            exec_info(None, false).unwrap(),
            ExecInfo {
                api_version: ExecApiVersion::V1beta1,
                interactive: false
            }
        );
        let alpha = r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#;
        let e = exec_info(Some(alpha), true).unwrap_err();
        assert!(e.message.contains("v1alpha1") && e.message.contains("--exec-api-version"));
        assert!(
            exec_info(Some("{not json"), true)
                .unwrap_err()
                .message
                .contains("KUBERNETES_EXEC_INFO")
        );
    }

    #[test]
    fn the_exec_credential_has_the_token_and_its_expiry() {
        let info = ExecInfo {
            api_version: ExecApiVersion::V1,
            interactive: false,
        };
        let v = exec_credential(info, "tok", 1_700_000_000);
        assert_eq!(v["kind"], "ExecCredential");
        assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1");
        assert_eq!(v["status"]["token"], "tok");
        assert_eq!(v["status"]["expirationTimestamp"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        let w = |v: &[&str]| shell_join(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            w(&["msal", "--scopes", "a/.default"]),
            "msal --scopes a/.default"
        );
        assert_eq!(w(&["a b", "it's", ""]), "'a b' 'it'\\''s' ''");
    }
}
