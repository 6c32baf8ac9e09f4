//! Side by side, on one msal-emulator (TLS) in one run: what a `get_token`
//! that is served from a cache costs with msal-azure-identity, with
//! azure_identity's `ClientSecretCredential`, with MSAL Python on the same
//! cache file (what the Azure CLI does inside), and as a whole
//! `az account get-access-token` process served from the cache file
//! msal-azure-identity wrote.
//!
//! ```text
//! cargo bench -p msal-azure-identity --bench side_by_side
//! ```
//!
//! Optional peers (each line says when it was skipped and why):
//! - `AZ_CLI=/path/to/az`: the Azure CLI (`python3 -m venv /tmp/az &&
//!   /tmp/az/bin/pip install azure-cli`); default: `az` on `PATH`.
//! - `MSAL_PYTHON=/path/to/python` with `msal` and `msal-extensions`
//!   (scripts/test.sh makes `.venv`); default: the Python next to `AZ_CLI`.
//!
//! Prints a table and one JSON line per figure. Medians of 7 rounds for
//! in-process hits, of `AZ_RUNS` (default 10) runs for processes.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use msal::PublicClientApplication;
use msal::credentials::ClientCredential;
use msal::http::HttpClient;
use msal::managed_identity::Environment;
use msal::secret::{ClientSecret, Password};
use msal_azure_identity::{
    AZURE_CLI_CLIENT_ID, AzureCliCacheCredential, ConfidentialClientCredential, DefaultCredential,
    SignedInUserCredential,
};
use msal_cache_file::{Encryption, FileCache};
use msal_emulator::{EmulatorConfig, defaults};

const API: &str = "api://msal-emulator-web-api";
const SCOPE: &str = "api://msal-emulator-web-api/.default";

struct Figure {
    what: &'static str,
    /// Median wall time.
    ns: Option<f64>,
    /// CPU time (all threads of the process, user + system) per call,
    /// where measured: on a busy machine a call that hands work to another
    /// thread waits for a CPU at every hand-off, which wall time shows and
    /// CPU time does not.
    cpu_ns: Option<f64>,
    note: String,
}

impl Figure {
    fn new(what: &'static str, ns: Option<f64>, note: impl Into<String>) -> Self {
        Self {
            what,
            ns,
            cpu_ns: None,
            note: note.into(),
        }
    }
}

/// This process's CPU time (user + system, all threads) in ns, from
/// /proc/self/stat (clock ticks of 10 ms); `None` elsewhere than Linux.
fn cpu_ns() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 1e7)
}

fn main() {
    // The emulator's tasks run on the worker while the main thread waits for
    // a child process (MSAL Python, az) that talks to it.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_path = dir.path().join("emulator-ca.pem");
    let mut config = EmulatorConfig::default().with_tls(Some(ca_path.clone()));
    let mut az_app = config
        .apps
        .iter()
        .find(|a| a.client_id == defaults::CLI_APP_ID)
        .cloned()
        .expect("the CLI app");
    az_app.client_id = AZURE_CLI_CLIENT_ID.into();
    az_app.family_id = None;
    config.apps.push(az_app);
    let emu = rt
        .block_on(msal_emulator::Emulator::start(config))
        .expect("emulator");
    let ca_pem = std::fs::read(&ca_path).expect("CA");
    let http: Arc<dyn HttpClient> = Arc::new(
        msal::http::ReqwestHttpClient::builder()
            .add_root_certificate_pem(&ca_pem)
            .build()
            .expect("http client"),
    );
    let authority = emu.authority(defaults::TENANT_ID);

    // The Azure CLI's directory, written by msal: a signed-in user.
    let az_dir = dir.path().join("azure");
    std::fs::create_dir_all(&az_dir).expect("az dir");
    let token_file = az_dir.join("msal_token_cache.json");
    rt.block_on(async {
        let app = PublicClientApplication::builder(AZURE_CLI_CLIENT_ID)
            .authority(authority.as_str())
            .http_client(http.clone())
            .cache_access(Arc::new(plain(&token_file)))
            .build()
            .expect("app");
        app.acquire_token_by_username_password(
            &[SCOPE],
            defaults::USER,
            Password::new(defaults::USER_PASSWORD),
        )
        .await
        .expect("sign in");
    });
    write_az_config(&az_dir, emu.base_url());

    let mut figures = Vec::new();

    // App token hits: msal-azure-identity and azure_identity, same app, same emulator.
    let ours = ConfidentialClientCredential::builder(
        defaults::TENANT_ID,
        defaults::DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(defaults::DAEMON_SECRET)),
    )
    .authority_host(emu.base_url())
    .http_client(http.clone())
    .build()
    .expect("ours");
    figures.push(hits(
        "ConfidentialClientCredential hit (msal-azure-identity, memory cache)",
        &rt,
        ours,
        20_000,
    ));
    // The same app through msal's cache on every call (an app built by
    // hand: the credential keeps no memo of its own then).
    let app = msal::ConfidentialClientApplication::builder(
        defaults::DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(defaults::DAEMON_SECRET)),
    )
    .authority(authority.as_str())
    .http_client(http.clone())
    .build()
    .expect("app");
    figures.push(hits(
        "ConfidentialClientCredential over msal's cache on every call (no memo)",
        &rt,
        ConfidentialClientCredential::from_application(app),
        20_000,
    ));
    let theirs = {
        let mut cloud = azure_core::cloud::CustomConfiguration::default();
        cloud.authority_host = emu.base_url().to_owned();
        let reqwest = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca_pem).expect("CA")])
            .build()
            .expect("reqwest");
        let options = azure_identity::ClientSecretCredentialOptions {
            client_options: ClientOptions {
                cloud: Some(Arc::new(cloud.into())),
                transport: Some(Transport::new(Arc::new(reqwest))),
                ..ClientOptions::default()
            },
        };
        azure_identity::ClientSecretCredential::new(
            defaults::TENANT_ID,
            defaults::DAEMON_APP_ID.to_owned(),
            Secret::new(defaults::DAEMON_SECRET),
            Some(options),
        )
        .expect("azure_identity")
    };
    figures.push(hits(
        "ClientSecretCredential hit (azure_identity 1.0, memory cache)",
        &rt,
        theirs,
        20_000,
    ));

    // A signed-in user's hits on the shared cache file.
    let user = SignedInUserCredential::builder()
        .client_id(AZURE_CLI_CLIENT_ID)
        .authority(authority.clone())
        .cache_path(&token_file)
        .plaintext(true)
        .http_client(http.clone())
        .build()
        .expect("user");
    figures.push(hits(
        "SignedInUserCredential hit (msal CLI cache file unchanged: one stat)",
        &rt,
        user,
        1_000,
    ));
    // The path taken while the file is not settled (just written, or its
    // modification time ahead): msal reads it under the lock every call.
    let unsettled = dir.path().join("unsettled.json");
    std::fs::copy(&token_file, &unsettled).expect("copy");
    std::fs::File::options()
        .write(true)
        .open(&unsettled)
        .and_then(|f| {
            f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
        })
        .expect("mtime");
    let locked = SignedInUserCredential::builder()
        .client_id(AZURE_CLI_CLIENT_ID)
        .authority(authority.clone())
        .cache_path(&unsettled)
        .plaintext(true)
        .http_client(http.clone())
        .build()
        .expect("user");
    figures.push(hits(
        "SignedInUserCredential, file not settled (msal: lock, read, unlock)",
        &rt,
        locked,
        1_000,
    ));
    let az_cred = || {
        AzureCliCacheCredential::builder()
            .config_dir(&az_dir)
            .authority_host(emu.base_url())
            .http_client(http.clone())
            .build()
            .expect("azure cli credential")
    };
    figures.push(hits(
        "AzureCliCacheCredential hit (Azure CLI cache file unchanged)",
        &rt,
        az_cred(),
        1_000,
    ));
    let chain = DefaultCredential::builder()
        .environment(
            Environment::from_vars([
                ("HOME", dir.path().display().to_string()),
                (
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                    "http://127.0.0.1:1".to_owned(),
                ),
                ("MSAL_AUTHORITY", authority.clone()),
                ("MSAL_CACHE", token_file.display().to_string()),
                ("MSAL_PLAINTEXT", "1".to_owned()),
            ])
            .arc_agent_path(None),
        )
        .http_client(http.clone())
        .build()
        .expect("chain");
    figures.push(hits(
        "DefaultCredential hit (msal_cli source remembered)",
        &rt,
        chain,
        1_000,
    ));
    figures.push(match python(&ca_path) {
        Ok(py) => {
            let out = Command::new(&py)
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/benches/py_file_hit.py"
                ))
                .args([
                    token_file.display().to_string(),
                    authority.clone(),
                    AZURE_CLI_CLIENT_ID.to_owned(),
                    defaults::USER.to_owned(),
                    SCOPE.to_owned(),
                ])
                .env("REQUESTS_CA_BUNDLE", &ca_path)
                .output()
                .expect("run MSAL Python");
            let v: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
            const WHAT: &str = "MSAL Python acquire_token_silent hit, same file (msal-extensions)";
            match v.as_ref().and_then(|v| v["silent_file_hit_ns"].as_f64()) {
                Some(ns) => Figure {
                    what: WHAT,
                    ns: Some(ns),
                    cpu_ns: v.as_ref().and_then(|v| v["cpu_ns"].as_f64()),
                    note: format!(
                        "msal {}",
                        v.as_ref().map_or("?".into(), |v| v["msal"].to_string())
                    ),
                },
                None => Figure::new(
                    WHAT,
                    None,
                    format!("failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
                ),
            }
        }
        Err(why) => Figure::new(
            "MSAL Python acquire_token_silent hit, same file (msal-extensions)",
            None,
            why,
        ),
    });

    // What a new process pays: a credential built, the files read, a token.
    let runs: usize = std::env::var("AZ_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let cpu_before = cpu_ns();
    let cold = median((0..101).map(|_| {
        let t = Instant::now();
        let cred = az_cred();
        rt.block_on(cred.get_token(&[SCOPE], None))
            .expect("cold token");
        t.elapsed().as_nanos() as f64
    }));
    figures.push(Figure {
        what: "AzureCliCacheCredential cold: build + first get_token (in process)",
        ns: Some(cold),
        cpu_ns: cpu_ns()
            .zip(cpu_before)
            .filter(|(a, b)| a - b >= 5e8)
            .map(|(a, b)| (a - b) / 101.0),
        note: String::new(),
    });
    let before = emu.admin().token_requests_with_grant("refresh_token")
        + emu.admin().token_requests_with_grant("password");
    figures.push(match az_cli() {
        Ok(az) => {
            let mut failure = None;
            let times: Vec<f64> = (0..runs)
                .map(|_| {
                    let t = Instant::now();
                    let out = Command::new(&az)
                        .args([
                            "account",
                            "get-access-token",
                            "--resource",
                            API,
                            "-o",
                            "json",
                        ])
                        .env("AZURE_CONFIG_DIR", &az_dir)
                        .env("REQUESTS_CA_BUNDLE", &ca_path)
                        .env("AZURE_CORE_COLLECT_TELEMETRY", "false")
                        .output()
                        .expect("run az");
                    let elapsed = t.elapsed().as_nanos() as f64;
                    let served = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                        .ok()
                        .and_then(|v| v["accessToken"].as_str().map(str::len))
                        .is_some();
                    if !served {
                        failure = Some(String::from_utf8_lossy(&out.stderr).trim().to_owned());
                    }
                    elapsed
                })
                .collect();
            let after = emu.admin().token_requests_with_grant("refresh_token")
                + emu.admin().token_requests_with_grant("password");
            const WHAT: &str = "az account get-access-token (whole process)";
            match failure {
                Some(err) => Figure::new(WHAT, None, format!("failed: {err}")),
                None => Figure::new(
                    WHAT,
                    Some(median(times)),
                    format!(
                        "{runs} runs, served from the cache file msal wrote ({} token requests)",
                        after - before
                    ),
                ),
            }
        }
        Err(why) => Figure::new("az account get-access-token (whole process)", None, why),
    });

    report(&figures);
}

fn plain(path: &Path) -> FileCache {
    FileCache::builder(path)
        .encryption(Encryption::Plaintext)
        .build()
        .expect("file cache")
}

/// The profile `az login` writes (with its byte order mark), and a custom
/// cloud named `Emu` whose login endpoint is the emulator, without instance
/// discovery (the Azure CLI's `core.instance_discovery`, for Azure Stack).
fn write_az_config(dir: &Path, base_url: &str) {
    let profile = serde_json::json!({"installationId": "bench", "subscriptions": [{
        "id": "0b1c2d3e-4f50-4617-8283-949596979899", "name": "Emulated", "state": "Enabled",
        "user": {"name": defaults::USER, "type": "user"}, "isDefault": true,
        "tenantId": defaults::TENANT_ID, "environmentName": "Emu",
        "homeTenantId": defaults::TENANT_ID, "managedByTenants": []}]});
    std::fs::write(dir.join("azureProfile.json"), format!("\u{feff}{profile}")).expect("profile");
    std::fs::write(
        dir.join("config"),
        "[cloud]\nname = Emu\n\n[core]\ninstance_discovery = false\ncollect_telemetry = false\nfirst_run = no\n",
    )
    .expect("config");
    std::fs::write(
        dir.join("clouds.config"),
        format!(
            "[Emu]\nendpoint_active_directory = {base_url}\nendpoint_active_directory_resource_id = https://management.core.windows.net/\nendpoint_resource_manager = {base_url}/arm/\nendpoint_management = https://management.core.windows.net/\nendpoint_active_directory_graph_resource_id = https://graph.windows.net/\nendpoint_microsoft_graph_resource_id = https://graph.microsoft.com/\n"
        ),
    )
    .expect("clouds");
}

/// A figure for `get_token` hits: median wall ns per call over 7 rounds of
/// `n` calls (after one warm-up call), and CPU ns per call over all rounds.
fn hits(
    what: &'static str,
    rt: &tokio::runtime::Runtime,
    cred: Arc<dyn TokenCredential>,
    n: usize,
) -> Figure {
    rt.block_on(async {
        let first = cred.get_token(&[SCOPE], None).await.expect("first token");
        let mut rounds = Vec::new();
        let cpu_before = cpu_ns();
        for _ in 0..7 {
            let t = Instant::now();
            for _ in 0..n {
                let again = cred.get_token(&[SCOPE], None).await.expect("token");
                assert!(again.token == first.token, "served from the cache");
            }
            rounds.push(t.elapsed().as_nanos() as f64 / n as f64);
        }
        // CPU time comes in 10 ms ticks: shown only when the rounds took
        // long enough for it to mean something.
        let cpu = cpu_ns()
            .zip(cpu_before)
            .filter(|(after, before)| after - before >= 5e8)
            .map(|(after, before)| (after - before) / (7 * n) as f64);
        Figure {
            what,
            ns: Some(median(rounds)),
            cpu_ns: cpu,
            note: String::new(),
        }
    })
}

fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn az_cli() -> Result<PathBuf, String> {
    let az = std::env::var_os("AZ_CLI")
        .map(PathBuf::from)
        .or_else(|| find_on_path("az"))
        .ok_or("skipped: no Azure CLI (set AZ_CLI; `pip install azure-cli` into a venv)")?;
    Ok(az)
}

/// A Python with msal and msal-extensions.
fn python(_ca: &Path) -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = [
        std::env::var_os("MSAL_PYTHON").map(PathBuf::from),
        az_cli()
            .ok()
            .and_then(|az| az.parent().map(|d| d.join("python"))),
    ]
    .into_iter()
    .flatten()
    .collect();
    candidates
        .into_iter()
        .find(|py| {
            Command::new(py)
                .args(["-c", "import msal, msal_extensions"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or_else(|| {
            "skipped: no Python with msal and msal-extensions (set MSAL_PYTHON)".to_owned()
        })
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn report(figures: &[Figure]) {
    let show = |v: Option<f64>| v.map_or("-".to_owned(), human);
    println!();
    println!(
        "{:<68} {:>12} {:>12}  note",
        "get_token served from a cache", "wall", "CPU"
    );
    for f in figures {
        println!(
            "{:<68} {:>12} {:>12}  {}",
            f.what,
            show(f.ns),
            show(f.cpu_ns),
            f.note
        );
    }
    for f in figures {
        println!(
            "{}",
            serde_json::json!({"bench": "side_by_side", "what": f.what,
                "median_ns": f.ns.map(f64::round), "cpu_ns": f.cpu_ns.map(f64::round), "note": f.note})
        );
    }
}

fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}
