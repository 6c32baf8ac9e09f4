//! Regional endpoints (ESTS-R) against msal-emulator over TLS. The app's
//! authority is `https://login.microsoftonline.com/<tenant>`; an HTTP client
//! that plays DNS sends every host the test maps to the emulator (or to a
//! closed port) with the original `Host`, so the emulator sees and records
//! the host msal asked for: `westus2.login.microsoft.com` and the like.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use msal::authority::Region;
use msal::credentials::ClientCredential;
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError};
use msal::managed_identity::Environment;
use msal::secret::ClientSecret;
use msal::storage::{CacheAccess, CacheAccessArgs, StorageError};
use msal::transport::{ProxyConfig, ReqwestHttpClient};
use msal::{ConfidentialClientApplication, TokenSource};
use msal_emulator::defaults::{DAEMON_APP_ID, DAEMON_SECRET, TENANT_ID};
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Endpoint};
use serde_json::Value;

const SCOPE: &str = "api://msal-emulator-web-api/.default";
const GLOBAL: &str = "login.microsoftonline.com";

/// Sends requests for mapped hosts to another origin, `Host` kept.
struct Dns {
    inner: ReqwestHttpClient,
    map: HashMap<String, String>,
}

impl HttpClient for Dns {
    fn execute(
        &self,
        mut request: HttpRequest,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let host = request.uri().host().unwrap_or("").to_owned();
        if let Some(origin) = self.map.get(&host) {
            let pq = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            *request.uri_mut() = format!("{origin}{pq}").parse().unwrap();
            request
                .headers_mut()
                .insert(http::header::HOST, host.parse().unwrap());
        }
        self.inner.execute(request)
    }
}

/// One cache document for every partition (a shared store).
#[derive(Default)]
struct OneDocument(Mutex<Option<Vec<u8>>>);

impl CacheAccess for OneDocument {
    fn before_access<'a>(
        &'a self,
        _: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        let doc = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(doc) })
    }
    fn after_access<'a>(
        &'a self,
        _: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        if let Some(d) = document {
            *self.0.lock().unwrap() = Some(d.to_vec());
        }
        Box::pin(async { Ok(()) })
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default().with_tls(None))
        .await
        .unwrap()
}

/// An HTTP client where `GLOBAL` and each of `regional` reach the emulator
/// (`None`: a closed port).
fn dns(emu: &EmulatorHandle, regional: &[(&str, bool)]) -> Arc<Dns> {
    let inner = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .use_env_roots(false)
        .add_root_certificate_pem(emu.ca_pem().unwrap().as_bytes())
        .build()
        .unwrap();
    let dead = format!("https://127.0.0.1:{}", closed_port());
    let mut map = HashMap::from([(GLOBAL.to_owned(), emu.base_url().to_owned())]);
    for (host, up) in regional {
        let to = if *up {
            emu.base_url().to_owned()
        } else {
            dead.clone()
        };
        map.insert((*host).to_owned(), to);
    }
    Arc::new(Dns { inner, map })
}

fn app(
    http: Arc<Dns>,
    region: Option<Region>,
    cache: Arc<OneDocument>,
) -> ConfidentialClientApplication {
    let mut b = ConfidentialClientApplication::builder(
        DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(DAEMON_SECRET)),
    )
    .authority(format!("https://{GLOBAL}/{TENANT_ID}"))
    .http_client(http)
    .cache_access(cache);
    if let Some(r) = region {
        b = b.azure_region(r);
    }
    b.build().unwrap()
}

/// The hosts the token requests went to, in order.
fn token_hosts(emu: &EmulatorHandle) -> Vec<String> {
    emu.admin()
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Token)
        .map(|r| r.host)
        .collect()
}

/// The environments of the cached access tokens.
fn cached_environments(cache: &OneDocument) -> Vec<String> {
    let doc: Value = serde_json::from_slice(cache.0.lock().unwrap().as_ref().unwrap()).unwrap();
    doc["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["environment"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_named_region_is_served_and_cached_under_the_global_environment() {
    let emu = emulator().await;
    let http = dns(&emu, &[("westus2.login.microsoft.com", true)]);
    let cache = Arc::new(OneDocument::default());
    let regional = app(
        http.clone(),
        Some(Region::named("West US 2").unwrap()),
        cache.clone(),
    );
    let t = regional.acquire_token_for_client(&[SCOPE]).await.unwrap();
    assert_eq!(t.source(), TokenSource::IdentityProvider);
    assert_eq!(token_hosts(&emu), ["westus2.login.microsoft.com"]);
    assert_eq!(cached_environments(&cache), [GLOBAL]);

    // Cached: no second request; and an app without a region finds the same
    // token (regional and global tokens are one).
    let again = regional.acquire_token_for_client(&[SCOPE]).await.unwrap();
    assert_eq!(again.source(), TokenSource::Cache);
    let global = app(http, None, cache.clone());
    let g = global.acquire_token_for_client(&[SCOPE]).await.unwrap();
    assert_eq!(g.source(), TokenSource::Cache);
    assert_eq!(
        g.access_token().expose_secret(),
        t.access_token().expose_secret()
    );
    assert_eq!(token_hosts(&emu).len(), 1);

    // Without a region, a new token comes from the global host.
    let forced = global
        .acquire_token_for_client(&[SCOPE])
        .force_refresh(true)
        .await
        .unwrap();
    assert_eq!(forced.source(), TokenSource::IdentityProvider);
    assert_eq!(token_hosts(&emu), ["westus2.login.microsoft.com", GLOBAL]);
    assert_eq!(cached_environments(&cache), [GLOBAL]);
}

#[tokio::test]
async fn a_regional_endpoint_that_cannot_be_reached_falls_back_to_the_global_one() {
    let emu = emulator().await;
    let http = dns(&emu, &[("westus2.login.microsoft.com", false)]);
    let cache = Arc::new(OneDocument::default());
    let a = app(http, Some(Region::named("westus2").unwrap()), cache.clone());
    let t = a.acquire_token_for_client(&[SCOPE]).await.unwrap();
    assert_eq!(t.source(), TokenSource::IdentityProvider);
    // The regional attempt never reached a server; the global one did.
    assert_eq!(token_hosts(&emu), [GLOBAL]);
    assert_eq!(cached_environments(&cache), [GLOBAL]);
    // Each new request tries the region first again (the failure may pass).
    let forced = a
        .acquire_token_for_client(&[SCOPE])
        .force_refresh(true)
        .await
        .unwrap();
    assert_eq!(forced.source(), TokenSource::IdentityProvider);
    assert_eq!(token_hosts(&emu), [GLOBAL, GLOBAL]);
}

#[tokio::test]
async fn the_region_is_detected_from_region_name_then_imds() {
    let emu = emulator().await;
    let http = dns(
        &emu,
        &[
            ("westeurope.login.microsoft.com", true),
            ("eastus.login.microsoft.com", true),
        ],
    );
    // REGION_NAME (as App Service sets it) wins; IMDS is not asked.
    let env = Environment::from_vars([("REGION_NAME", "West Europe")]);
    let a = app(
        http.clone(),
        Some(Region::auto_detect_from(env, emu.base_url()).unwrap()),
        Arc::default(),
    );
    a.acquire_token_for_client(&[SCOPE]).await.unwrap();
    assert_eq!(token_hosts(&emu), ["westeurope.login.microsoft.com"]);
    let imds_asked = |emu: &EmulatorHandle| {
        emu.admin()
            .requests()
            .iter()
            .filter(|r| r.path == msal_emulator::managed_identity::IMDS_COMPUTE_PATH)
            .count()
    };
    assert_eq!(imds_asked(&emu), 0);

    // No REGION_NAME: the VM's location from IMDS, asked once per app.
    emu.admin().set_imds_location(Some("eastus"));
    let no_vars = || Environment::from_vars(Vec::<(String, String)>::new());
    let b = app(
        http.clone(),
        Some(Region::auto_detect_from(no_vars(), emu.base_url()).unwrap()),
        Arc::default(),
    );
    b.acquire_token_for_client(&[SCOPE]).await.unwrap();
    b.acquire_token_for_client(&[SCOPE])
        .force_refresh(true)
        .await
        .unwrap();
    assert_eq!(
        token_hosts(&emu)[1..],
        ["eastus.login.microsoft.com", "eastus.login.microsoft.com"]
    );
    assert_eq!(imds_asked(&emu), 1);

    // IMDS with a location that is not a region name, or none at all: global.
    for location in [Some("east us/../evil.example"), None] {
        emu.admin().set_imds_location(location);
        let c = app(
            http.clone(),
            Some(Region::auto_detect_from(no_vars(), emu.base_url()).unwrap()),
            Arc::default(),
        );
        c.acquire_token_for_client(&[SCOPE]).await.unwrap();
        assert_eq!(token_hosts(&emu).last().map(String::as_str), Some(GLOBAL));
    }
}
