//! Workload identity as a confidential client credential: settings from
//! the environment, the federated token file as the client assertion, and
//! the rotated file's new content on the next request.

mod confidential_support;

use std::sync::Arc;

use confidential_support::*;
use msal::ConfidentialClientApplication;
use msal::clock::ManualClock;
use msal::managed_identity::{Environment, WorkloadIdentity};
use msal_test_support::{Expect, FakeHttp, Reply};

#[tokio::test]
async fn the_federated_token_file_is_the_client_assertion_and_is_reread_when_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, "federated-token-1\n").unwrap();
    let tenant = unique_tenant();
    let env = Environment::from_vars([
        ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
        ("AZURE_CLIENT_ID", CLIENT_ID),
        ("AZURE_TENANT_ID", tenant.as_str()),
        ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/"),
    ]);
    let http = FakeHttp::new();
    let app = ConfidentialClientApplication::from_workload_identity(
        WorkloadIdentity::from_environment(&env).unwrap(),
    )
    .http_client(http.clone())
    .clock(Arc::new(ManualClock::at_unix(NOW)))
    .build()
    .unwrap();
    assert_eq!(app.client_id(), CLIENT_ID);
    assert_eq!(app.authority().as_str(), format!("{HOST}/{tenant}"));
    let post = |assertion: &str| {
        Expect::post(&token_url(&tenant))
            .form("grant_type", "client_credentials")
            .form("client_id", CLIENT_ID)
            .form(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .form("client_assertion", assertion)
            .no_form("client_secret")
    };
    expect_metadata(&http, &tenant);
    http.expect(
        post("federated-token-1"),
        Reply::json(200, &app_token_json("at-1", 3600)),
    );
    app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    // The platform rotates the file (a new length, so it is noticed at once).
    std::fs::write(&file, "federated-token-number-2").unwrap();
    http.expect(
        post("federated-token-number-2"),
        Reply::json(200, &app_token_json("at-2", 3600)),
    );
    let r = app
        .acquire_token_for_client(&[GRAPH])
        .force_refresh(true)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-2");
    // A missing file is a configuration error naming the file, and nothing is sent.
    std::fs::remove_file(&file).unwrap();
    let e = app
        .acquire_token_for_client(&[GRAPH])
        .force_refresh(true)
        .await
        .unwrap_err();
    assert!(
        matches!(e, msal::Error::Config(_)) && e.to_string().contains("azure-identity-token"),
        "{e}"
    );
    http.assert_consumed();
}

#[test]
fn incomplete_environments_are_reported() {
    let e = WorkloadIdentity::from_environment(&Environment::from_vars([("AZURE_CLIENT_ID", "x")]))
        .unwrap_err();
    assert!(e.to_string().contains("AZURE_FEDERATED_TOKEN_FILE"), "{e}");
}
