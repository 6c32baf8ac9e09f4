//! `msal app-token`: a token for an application rather than a user.

use msal::managed_identity::{ManagedIdentity, ManagedIdentityApplication, UserAssignedId};
use std::sync::Arc;

use msal::authority::Region;
use msal::credentials::{Certificate, ClientCredential};
use msal::managed_identity::{Environment, WorkloadIdentity};
use msal::secret::ClientSecret;
use msal::{AuthenticationResult, ConfidentialClientApplication, TokenSource};
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::{AppTokenArgs, OutputFormat, split_scopes};
use crate::cmd::azure_cli::az_token_json;
use crate::cmd::token::token_json;
use crate::context::Ctx;
use crate::error::{CliError, CliResult};
use crate::output::say;
use crate::output::{Out, rfc3339};

/// Gets and prints an app token with the credential the arguments name.
pub(crate) async fn run(ctx: &Ctx, args: &AppTokenArgs) -> CliResult {
    let out = Out::new(ctx.g.output, args.json);
    let scopes = split_scopes(&args.scopes);
    if scopes.is_empty() {
        return Err(CliError::other("--scopes is empty"));
    }
    let token = acquire(ctx, args, &scopes).await?;
    if ctx.g.output == OutputFormat::Az {
        out.json(&az_token_json(
            token.secret(),
            token.token_type(),
            token.expires_on(),
            token.tenant(),
            None,
        ));
        return Ok(());
    }
    match &token {
        AppToken::Client(result) if out.json => out.json(&token_json(result, true)),
        AppToken::Identity(t) if out.json => print_mi(t, out),
        _ => say!("{}", token.secret()),
    }
    Ok(())
}

/// A token for an application: from a confidential client (secret,
/// certificate, workload identity) or from a managed identity.
pub(crate) enum AppToken {
    /// Client credentials or workload identity.
    Client(Box<AuthenticationResult>),
    /// Managed identity.
    Identity(Box<AuthenticationResult>),
}

impl AppToken {
    /// The access token.
    pub(crate) fn secret(&self) -> &str {
        match self {
            Self::Client(r) => r.access_token().expose_secret(),
            Self::Identity(t) => t.access_token().expose_secret(),
        }
    }

    /// When it expires (Unix seconds).
    pub(crate) fn expires_on(&self) -> i64 {
        match self {
            Self::Client(r) => r.expires_on_unix(),
            Self::Identity(t) => t.expires_on_unix(),
        }
    }

    /// Its type (`Bearer`).
    pub(crate) fn token_type(&self) -> &str {
        match self {
            Self::Client(r) => r.token_type(),
            Self::Identity(t) => t.token_type(),
        }
    }

    /// The tenant it was issued in, when known.
    pub(crate) fn tenant(&self) -> Option<&str> {
        match self {
            Self::Client(r) => r.tenant_id(),
            Self::Identity(_) => None,
        }
    }
}

/// Gets an app token for `scopes` with the credential `args` names (from
/// the cache file when it holds one).
///
/// # Errors
/// No or a bad credential; what the identity provider or the managed
/// identity endpoint answers.
pub(crate) async fn acquire(
    ctx: &Ctx,
    args: &AppTokenArgs,
    scopes: &[String],
) -> CliResult<AppToken> {
    if args.managed_identity {
        return managed_identity(ctx, args, scopes)
            .await
            .map(AppToken::Identity);
    }
    let builder = if args.workload_identity {
        let settings = WorkloadIdentity::from_environment(&Environment::process())?;
        ConfidentialClientApplication::from_workload_identity(settings)
    } else {
        let credential = credential(args)?;
        let client_id = ctx
            .g
            .client_id
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                CliError::other(
                    "--client-id (or MSAL_CLIENT_ID) is required with --client-secret-env or --certificate",
                )
            })?;
        let builder = ConfidentialClientApplication::builder(client_id, credential);
        if ctx.g.oidc {
            builder.oidc_authority(&ctx.g.authority)
        } else {
            builder.authority(ctx.g.authority.as_str())
        }
    };
    let builder = match args.region.as_deref().map(str::trim) {
        None => builder,
        Some(r) if r.eq_ignore_ascii_case("auto") => builder.azure_region(Region::auto_detect()),
        Some(r) => builder.azure_region(Region::named(r)?),
    };
    // App tokens are cached in the same file, under the app-token
    // partition, so the next run is served without a request.
    let builder = match (args.mtls_pop, certificate(args)?) {
        (true, Some(cert)) => {
            let mtls = ctx
                .http_client_builder()?
                .client_certificate(cert)
                .build()?;
            builder.mtls_http_client(Arc::new(mtls))
        }
        (true, None) => return Err(CliError::other("--mtls-pop needs --certificate")),
        (false, _) => builder,
    };
    let app = builder
        .http_client(ctx.http_client()?)
        .cache_access(Arc::new(ctx.file_cache()?))
        .build()?;
    let mut request = app
        .acquire_token_for_client(scopes)
        .mtls_proof_of_possession(args.mtls_pop);
    if let Some(path) = args.fmi_path.as_deref() {
        request = request.fmi_path(path);
    }
    let result = request.await?;
    Ok(AppToken::Client(Box::new(result)))
}

/// The secret or certificate the arguments name; they are read here and
/// never echoed.
fn credential(args: &AppTokenArgs) -> CliResult<ClientCredential> {
    if let Some(var) = &args.client_secret_env {
        let secret = std::env::var(var).unwrap_or_default();
        if secret.trim().is_empty() {
            return Err(CliError::other(format!(
                "the environment variable {var} named by --client-secret-env is not set or empty"
            )));
        }
        return Ok(ClientCredential::secret(ClientSecret::new(secret)));
    }
    if let Some(certificate) = certificate(args)? {
        return Ok(ClientCredential::certificate(certificate));
    }
    Err(CliError::other(
        "choose a credential: --client-secret-env VAR, --certificate PEM, --managed-identity or --workload-identity",
    ))
}

/// The certificate (and key) `--certificate` (`--key`) name, if any.
fn certificate(args: &AppTokenArgs) -> CliResult<Option<Certificate>> {
    let Some(cert_path) = &args.certificate else {
        return Ok(None);
    };
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read(p)
            .map(Zeroizing::new)
            .map_err(|e| CliError::other(format!("cannot read {what} {}: {e}", p.display())))
    };
    let cert = read(cert_path, "--certificate")?;
    let key = match &args.key {
        Some(k) => read(k, "--key")?,
        None => cert.clone(),
    };
    Ok(Some(Certificate::from_pem(&*key, &*cert)?))
}

async fn managed_identity(
    ctx: &Ctx,
    args: &AppTokenArgs,
    scopes: &[String],
) -> CliResult<Box<AuthenticationResult>> {
    let [scope] = scopes else {
        return Err(CliError::other(
            "a managed identity token is for one resource: pass one scope (`<resource>/.default`) or resource URI",
        ));
    };
    let identity = identity(ctx, args)?;
    // Cached in the same file as every other token (MSAL Python's layout
    // for managed identity), so the next run is served without a request.
    let app = ManagedIdentityApplication::builder(identity)
        .cache_access(Arc::new(ctx.file_cache()?))
        .build()?;
    Ok(Box::new(
        app.acquire_token_for_resource(scope.as_str()).await?,
    ))
}

/// The identity the arguments name. `--client-id` counts only when typed:
/// MSAL_CLIENT_ID, exported for `msal login`, must not silently turn a
/// system-assigned request into a user-assigned one.
fn identity(ctx: &Ctx, args: &AppTokenArgs) -> CliResult<ManagedIdentity> {
    let client_id = ctx
        .g
        .client_id
        .as_deref()
        .filter(|_| ctx.g.client_id_on_command_line)
        .filter(|c| !c.trim().is_empty());
    let mut named: Vec<UserAssignedId> = [
        client_id.map(|id| UserAssignedId::ClientId(id.to_owned())),
        args.resource_id
            .as_ref()
            .map(|id| UserAssignedId::ResourceId(id.clone())),
        args.object_id
            .as_ref()
            .map(|id| UserAssignedId::ObjectId(id.clone())),
    ]
    .into_iter()
    .flatten()
    .collect();
    match named.len() {
        0 => Ok(ManagedIdentity::SystemAssigned),
        1 => Ok(ManagedIdentity::UserAssigned(named.remove(0))),
        _ => Err(CliError::other(
            "--client-id, --resource-id and --object-id each name a user-assigned identity: \
             give only one of them (see `msal app-token --help`)",
        )),
    }
}

fn print_mi(t: &AuthenticationResult, out: Out) {
    out.json(&json!({
        "access_token": t.access_token().expose_secret(),
        "token_type": t.token_type(),
        "expires_on": t.expires_on_unix(),
        "expires_at": rfc3339(t.expires_on_unix()),
        "resource": t.scopes().first(),
        "from_cache": t.source() == TokenSource::Cache,
    }));
}
