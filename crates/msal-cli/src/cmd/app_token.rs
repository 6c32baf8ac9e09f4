//! `msal app-token`: a token for an application rather than a user.

use msal::managed_identity::{
    ManagedIdentity, ManagedIdentityApplication, ManagedIdentityToken, TokenSource, UserAssignedId,
};
use std::sync::Arc;

use msal::ConfidentialClientApplication;
use msal::credentials::{Certificate, ClientCredential};
use msal::managed_identity::{Environment, WorkloadIdentity};
use msal::secret::ClientSecret;
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::{AppTokenArgs, split_scopes};
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
    if args.managed_identity {
        return managed_identity(ctx, args, &scopes, out).await;
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
    // App tokens are cached in the same file, under the app-token
    // partition, so the next run is served without a request.
    let app = builder
        .http_client(ctx.http_client()?)
        .cache_access(Arc::new(ctx.file_cache()?))
        .build()?;
    let result = app.acquire_token_for_client(&scopes).await?;
    if out.json {
        out.json(&token_json(&result, true));
    } else {
        say!("{}", result.access_token().expose_secret());
    }
    Ok(())
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
    if let Some(cert_path) = &args.certificate {
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
        let certificate = Certificate::from_pem(&*key, &*cert)?;
        return Ok(ClientCredential::certificate(certificate));
    }
    Err(CliError::other(
        "choose a credential: --client-secret-env VAR, --certificate PEM, --managed-identity or --workload-identity",
    ))
}

async fn managed_identity(
    ctx: &Ctx,
    args: &AppTokenArgs,
    scopes: &[String],
    out: Out,
) -> CliResult {
    let [scope] = scopes else {
        return Err(CliError::other(
            "a managed identity token is for one resource: pass one scope (`<resource>/.default`) or resource URI",
        ));
    };
    let identity = if let Some(id) = &args.resource_id {
        ManagedIdentity::UserAssigned(UserAssignedId::ResourceId(id.clone()))
    } else if let Some(id) = &args.object_id {
        ManagedIdentity::UserAssigned(UserAssignedId::ObjectId(id.clone()))
    } else if let Some(id) = ctx.g.client_id.as_deref().filter(|c| !c.trim().is_empty()) {
        ManagedIdentity::UserAssigned(UserAssignedId::ClientId(id.to_owned()))
    } else {
        ManagedIdentity::SystemAssigned
    };
    let app = ManagedIdentityApplication::builder(identity).build()?;
    let token = app.acquire_token_for_resource(scope.as_str()).await?;
    print_mi(&token, out);
    Ok(())
}

fn print_mi(t: &ManagedIdentityToken, out: Out) {
    if out.json {
        out.json(&json!({
            "access_token": t.access_token.expose_secret(),
            "token_type": t.token_type,
            "expires_on": t.expires_on,
            "expires_at": rfc3339(t.expires_on),
            "resource": t.resource,
            "from_cache": t.source == TokenSource::Cache,
        }));
    } else {
        say!("{}", t.access_token.expose_secret());
    }
}
