//! The command line: global options (each also from an `MSAL_*` variable)
//! and one subcommand per job.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// The authority used when none is given: any work or school account.
pub(crate) const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/organizations";

/// The client id used when none is given: the Azure CLI's public client, the
/// same default the Azure Identity libraries use for developer sign-in. It is
/// pre-authorized for Microsoft Graph and Azure Resource Manager in every
/// tenant. Register your own app for anything beyond trying things out.
pub(crate) const DEFAULT_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// Scopes asked for when `--scopes` is not given.
pub(crate) const DEFAULT_SCOPES: &[&str] = &["User.Read"];

/// `msal`: sign in with Microsoft Entra ID (or any OpenID Connect provider),
/// get tokens for scripts, and see and clear the token cache.
#[derive(Debug, Parser)]
#[command(
    name = "msal",
    version,
    about = "Sign in with Microsoft Entra ID, get tokens for scripts, see and clear the token cache.",
    long_about = "Sign in with Microsoft Entra ID (or B2C, ADFS, CIAM, any OpenID Connect provider), \
get tokens for scripts, and see and clear the token cache.\n\n\
Try `msal quickstart`: it runs the whole loop against an embedded emulator, without network.\n\n\
Exit codes: 0 success, 1 error, 2 sign-in required (run `msal login`)."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalOpts,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalOpts {
    /// The authority: `https://login.microsoftonline.com/<tenant>`, a B2C, ADFS or CIAM
    /// authority, or an OpenID Connect issuer (see --oidc).
    #[arg(long, global = true, env = "MSAL_AUTHORITY", default_value = DEFAULT_AUTHORITY)]
    pub(crate) authority: String,

    /// Treat --authority as a generic OpenID Connect issuer.
    #[arg(long, global = true, env = "MSAL_OIDC", value_parser = BoolishValueParser::new())]
    pub(crate) oidc: bool,

    /// The application (client) id [default: the Azure CLI's public client,
    /// 04b07795-8ddb-461a-bbee-02f9e1bf7b46]. With `app-token --managed-identity`:
    /// the client id of a user-assigned identity, only when given on the command
    /// line (MSAL_CLIENT_ID names the app to sign in with, not an identity).
    #[arg(long, global = true, env = "MSAL_CLIENT_ID", value_name = "ID")]
    pub(crate) client_id: Option<String>,

    /// Whether `--client-id` was typed on the command line (not taken from
    /// MSAL_CLIENT_ID): only then does it name a managed identity.
    #[arg(skip)]
    pub(crate) client_id_on_command_line: bool,

    /// The token cache file [default: `msal/cache.bin` (encrypted) or
    /// `msal/cache.json` (--plaintext) in the user's data directory].
    #[arg(long, global = true, env = "MSAL_CACHE", value_name = "PATH")]
    pub(crate) cache: Option<PathBuf>,

    /// Keep the cache as plain JSON, the format MSAL Python and the Azure CLI
    /// share, instead of encrypting it with a key from the OS keyring. Anyone who
    /// can read the file (mode 0600) can use the tokens in it.
    #[arg(long, global = true, env = "MSAL_PLAINTEXT", value_parser = BoolishValueParser::new())]
    pub(crate) plaintext: bool,

    /// How results are printed.
    #[arg(long, global = true, env = "MSAL_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,

    /// Also trust the root certificates in this PEM file (a corporate TLS-inspecting
    /// proxy's root). `SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured too.
    #[arg(long, global = true, env = "MSAL_CA_FILE", value_name = "PEM")]
    pub(crate) ca_file: Option<PathBuf>,

    /// Send requests through this HTTP proxy (`http://[user:password@]host:port`),
    /// or `none` to ignore HTTPS_PROXY & co. [default: HTTPS_PROXY, HTTP_PROXY,
    /// ALL_PROXY and NO_PROXY, as curl does].
    #[arg(
        long,
        global = true,
        env = "MSAL_PROXY",
        value_name = "URL",
        hide_env_values = true
    )]
    pub(crate) proxy: Option<String>,

    /// Use the Azure CLI's token cache (`msal_token_cache.json` in
    /// $AZURE_CONFIG_DIR or ~/.azure, plain JSON, under its lock) and take the
    /// account, tenant and subscription from its `azureProfile.json` when not given.
    #[arg(
        long,
        global = true,
        env = "MSAL_AZURE_CLI",
        value_parser = BoolishValueParser::new(),
        conflicts_with = "cache"
    )]
    pub(crate) azure_cli: bool,

    /// What `--azure-cli` found in the Azure CLI's profile.
    #[arg(skip)]
    pub(crate) azure: Option<crate::cmd::azure_cli::AzureDefaults>,
}

/// Text for people, JSON for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Readable text.
    Text,
    /// One JSON document on stdout.
    Json,
    /// What `az account get-access-token` prints (`msal token`, `msal app-token`).
    Az,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Sign a user in (system browser, or device code for machines without one).
    Login(LoginArgs),
    /// Print an access token, silently from the cache (exit code 2 when a sign-in is needed).
    Token(TokenArgs),
    /// List the signed-in accounts.
    Accounts(JsonFlag),
    /// Remove accounts and their tokens from the cache.
    Logout(LogoutArgs),
    /// Get a token for an application: client credentials, managed identity or
    /// workload identity.
    AppToken(AppTokenArgs),
    /// Look at the token cache file.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Run the whole loop (device-code sign-in, accounts, a silent token, sign-out)
    /// against an embedded emulator, without network.
    Quickstart(QuickstartArgs),
    /// kubectl's exec credential plugin: print an ExecCredential with a token
    /// (run by kubectl, set up with `msal kubeconfig`).
    KubeCredential(crate::cmd::kube::CredentialArgs),
    /// Write the exec stanza that runs `msal kube-credential` for a kubeconfig user.
    Kubeconfig(crate::cmd::kube::KubeconfigArgs),
    /// git's credential helper: the token for Azure DevOps as the password
    /// (`git config credential.helper '!msal git-credential'`).
    GitCredential(crate::cmd::git_credential::GitCredentialArgs),
    /// Print the shell completion script for bash, zsh, fish, PowerShell or elvish.
    Completion(crate::cmd::completion::CompletionArgs),
    /// Print the man page (or write one per command into a directory).
    Man(crate::cmd::completion::ManArgs),
}

/// `--json`, for commands that print a result.
#[derive(Debug, Clone, Args)]
pub(crate) struct JsonFlag {
    /// Print JSON (same as --output json).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Scopes to ask for.
#[derive(Debug, Clone, Args)]
pub(crate) struct ScopesArg {
    /// Scopes, separated by spaces or commas, or repeated [default: User.Read].
    /// `openid`, `profile` and `offline_access` are always added (given, they
    /// are accepted and sent once).
    #[arg(long, num_args = 1.., value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
}

impl ScopesArg {
    /// The scopes, split on white space and commas, without the ones msal
    /// adds itself; the default when none is left.
    pub(crate) fn scopes(&self) -> Vec<String> {
        self.scopes_or(DEFAULT_SCOPES)
    }

    /// [`scopes`](Self::scopes) with another default.
    pub(crate) fn scopes_or(&self, default: &[&str]) -> Vec<String> {
        user_scopes(&self.scopes, default)
    }
}

/// The scopes msal adds to every sign-in (`openid`, `profile`,
/// `offline_access`): scripts written for other tools pass them, the
/// library refuses them, so the CLI drops them before asking.
pub(crate) const RESERVED_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

/// `values` split into single scopes, the reserved ones dropped (each is
/// sent once anyway), duplicates removed; `default` when nothing is left.
pub(crate) fn user_scopes(values: &[String], default: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in split_scopes(values) {
        let reserved = RESERVED_SCOPES.iter().any(|r| r.eq_ignore_ascii_case(&s));
        if !reserved && !out.iter().any(|o| o.eq_ignore_ascii_case(&s)) {
            out.push(s);
        }
    }
    if out.is_empty() {
        default.iter().map(|s| s.to_string()).collect()
    } else {
        out
    }
}

/// Splits `--scopes "a b,c"` values into single scopes.
pub(crate) fn split_scopes(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(|c: char| c.is_whitespace() || c == ','))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `msal login`.
#[derive(Debug, Clone, Args)]
pub(crate) struct LoginArgs {
    /// Sign in on another device: show a code to enter at a web page.
    #[arg(long, conflicts_with = "browser")]
    pub(crate) device_code: bool,
    /// Sign in with the system browser (the default; falls back to the device code
    /// when no browser can be started).
    #[arg(long)]
    pub(crate) browser: bool,
    #[command(flatten)]
    pub(crate) scopes: ScopesArg,
    /// Print JSON (same as --output json).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `msal token`.
#[derive(Debug, Clone, Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    pub(crate) scopes: ScopesArg,
    /// Which account (user name or home account id) when several are signed in.
    #[arg(long, value_name = "USER")]
    pub(crate) account: Option<String>,
    /// Skip cached access tokens and redeem the refresh token.
    #[arg(long)]
    pub(crate) force_refresh: bool,
    /// Print JSON with the expiry, scopes, account and whether the token came from
    /// the cache (same as --output json).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `msal logout`.
#[derive(Debug, Clone, Args)]
pub(crate) struct LogoutArgs {
    /// The account to remove (user name or home account id).
    #[arg(long, value_name = "USER", conflicts_with = "all")]
    pub(crate) account: Option<String>,
    /// Remove every account.
    #[arg(long)]
    pub(crate) all: bool,
    /// Print JSON (same as --output json).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `msal app-token`.
#[derive(Debug, Clone, Args)]
pub(crate) struct AppTokenArgs {
    /// Scopes, usually one `<resource>/.default` (for managed identity a resource
    /// URI works too).
    #[arg(long, num_args = 1.., value_name = "SCOPE", required = true)]
    pub(crate) scopes: Vec<String>,
    /// Client credentials: the name of the environment variable holding the client
    /// secret (never pass a secret as an argument: other users can see it).
    #[arg(long, value_name = "VAR", group = "credential")]
    pub(crate) client_secret_env: Option<String>,
    /// Client credentials: a certificate (PEM) registered on the app.
    #[arg(long, value_name = "PEM", group = "credential")]
    pub(crate) certificate: Option<PathBuf>,
    /// The certificate's private key (PEM), if not in the --certificate file.
    #[arg(long, value_name = "PEM", requires = "certificate")]
    pub(crate) key: Option<PathBuf>,
    /// The identity of the Azure resource this runs on (system-assigned, or
    /// user-assigned with one of --client-id, --resource-id or --object-id;
    /// MSAL_CLIENT_ID is not read for it). Tokens are cached in the --cache file.
    #[arg(long, group = "credential")]
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
    /// Workload identity (AKS, federated CI): AZURE_CLIENT_ID, AZURE_TENANT_ID,
    /// AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST.
    #[arg(long, group = "credential")]
    pub(crate) workload_identity: bool,
    /// Client credentials on Azure: ask the regional endpoint (ESTS-R) of this
    /// Azure region (`westus2`), or `auto` for the host's region (REGION_NAME,
    /// then IMDS). Falls back to the global endpoint when no region is found or
    /// the regional one cannot be reached; the token is cached as a global one.
    #[arg(long, value_name = "REGION", conflicts_with = "managed_identity")]
    pub(crate) region: Option<String>,
    /// With --certificate: a certificate-bound token (mTLS proof of possession,
    /// token type mtls_pop): asked for over mutual TLS with the certificate, and
    /// only usable by a caller that presents the same certificate.
    #[arg(long, requires = "certificate")]
    pub(crate) mtls_pop: bool,
    /// Client credentials: a federated managed identity path (FMI); the token is
    /// for the federated identity under this path of the app, and is cached
    /// apart from the app's own tokens.
    #[arg(long, value_name = "PATH", conflicts_with = "managed_identity")]
    pub(crate) fmi_path: Option<String>,
    /// Print JSON (same as --output json).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `msal cache ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// Count what the cache holds: per section, account and environment, expired
    /// entries, file size. Never prints a token.
    Inspect(JsonFlag),
}

/// `msal quickstart`.
#[derive(Debug, Clone, Args)]
pub(crate) struct QuickstartArgs {
    /// Print one JSON object per step, on its own line (same as --output json).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Parses the command line: `Cli`, plus where `--client-id` came from.
///
/// # Errors
/// clap's error for bad arguments, help and version.
pub(crate) fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.global.client_id_on_command_line = typed(&matches, "client_id");
    Ok(cli)
}

/// Whether `id` was given on the command line, before or after the
/// subcommand (a global option's value is recorded where it was typed).
fn typed(matches: &clap::ArgMatches, id: &str) -> bool {
    use clap::parser::ValueSource;
    let here = matches
        .try_get_raw(id)
        .ok()
        .flatten()
        .is_some_and(|_| matches.value_source(id) == Some(ValueSource::CommandLine));
    here || matches.subcommand().is_some_and(|(_, sub)| typed(sub, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_client_id_counts_as_typed_only_from_the_command_line() {
        let cases: [(&[&str], bool); 5] = [
            (
                &["msal", "app-token", "--managed-identity", "--scopes", "r"],
                false,
            ),
            (
                &[
                    "msal",
                    "app-token",
                    "--managed-identity",
                    "--client-id",
                    "x",
                    "--scopes",
                    "r",
                ],
                true,
            ),
            (
                &[
                    "msal",
                    "--client-id",
                    "x",
                    "app-token",
                    "--managed-identity",
                    "--scopes",
                    "r",
                ],
                true,
            ),
            (&["msal", "cache", "inspect"], false),
            (&["msal", "--client-id", "x", "cache", "inspect"], true),
        ];
        for (args, expected) in cases {
            let cli = parse_from(args).expect("parses");
            assert_eq!(cli.global.client_id_on_command_line, expected, "{args:?}");
        }
    }

    #[test]
    fn scopes_split_on_spaces_and_commas() {
        let v = vec![
            "User.Read Mail.Read".to_owned(),
            "a,b".to_owned(),
            " ".to_owned(),
        ];
        assert_eq!(split_scopes(&v), ["User.Read", "Mail.Read", "a", "b"]);
        let none = ScopesArg { scopes: vec![] };
        assert_eq!(none.scopes(), ["User.Read"]);
    }

    #[test]
    fn reserved_scopes_are_accepted_and_sent_once() {
        let given = |v: &[&str]| ScopesArg {
            scopes: v.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            given(&["openid profile offline_access User.Read"]).scopes(),
            ["User.Read"]
        );
        assert_eq!(
            given(&["OpenID,Mail.Read", "mail.read", "PROFILE"]).scopes(),
            ["Mail.Read"],
            "any case, duplicates dropped"
        );
        assert_eq!(
            given(&["openid", "offline_access"]).scopes(),
            ["User.Read"],
            "only reserved ones: the default"
        );
        assert_eq!(
            given(&["openid"]).scopes_or(&["x/.default"]),
            ["x/.default"]
        );
    }

    #[test]
    fn every_global_option_reads_its_variable() {
        let cmd = Cli::command();
        for (long, var) in [
            ("authority", "MSAL_AUTHORITY"),
            ("client-id", "MSAL_CLIENT_ID"),
            ("cache", "MSAL_CACHE"),
            ("plaintext", "MSAL_PLAINTEXT"),
            ("output", "MSAL_OUTPUT"),
            ("ca-file", "MSAL_CA_FILE"),
            ("proxy", "MSAL_PROXY"),
            ("azure-cli", "MSAL_AZURE_CLI"),
        ] {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .unwrap_or_else(|| panic!("--{long}"));
            assert_eq!(
                arg.get_env().and_then(|v| v.to_str()),
                Some(var),
                "--{long}"
            );
            assert!(arg.is_global_set(), "--{long} is global");
        }
    }
}
