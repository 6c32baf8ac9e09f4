//! The shared token-cache benchmark (`/work/shared/bench/README.md`) through
//! the public API: `PublicClientApplication::accounts`, `acquire_token_silent`
//! and `remove_account`, as an app calls them (cache lock, hooks, the silent
//! algorithm, single flight), next to `benches/cache.rs` which times the
//! cache alone.
//!
//! `cargo bench -p msal-core --bench app -- CACHE.json [CACHE.json ...]` (files
//! from `gen_cache.py N OUT.json`, less than an hour old). Prints one JSON
//! line per op and file with `"peer":"msal-rs-app"`. No HTTP request is made:
//! the HTTP client fails every request, and every op checks its result.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msal::PublicClientApplication;
use msal::cache::TokenCache;
use msal::http::{
    BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError, TransportErrorKind,
};

const CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

fn uid_of(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", 0x1000_0000 + i, i)
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median and minimum (µs) of `op(state)`; `setup()` is not timed.
fn measure<S, R>(mut setup: impl FnMut() -> S, mut op: impl FnMut(S) -> R) -> (f64, f64, usize) {
    let budget = Duration::from_secs_f64(env_num("BENCH_BUDGET_S", 2.0));
    let min_reps = env_num("BENCH_MIN_REPS", 3.0) as usize;
    let max_reps = env_num("BENCH_MAX_REPS", 51.0) as usize;
    op(setup());
    let mut samples = Vec::new();
    let started = Instant::now();
    while samples.len() < max_reps && (samples.len() < min_reps || started.elapsed() < budget) {
        let state = setup();
        let t0 = Instant::now();
        let out = op(state);
        samples.push(t0.elapsed().as_secs_f64() * 1e6);
        drop(out);
    }
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    };
    (median, samples[0], n)
}

/// Fails every request: the benchmark must be served from the cache.
struct NoNetwork;

impl HttpClient for NoNetwork {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let msg = format!("unexpected request to {}", request.uri().path());
        Box::pin(async move { Err(TransportError::new(TransportErrorKind::Other, msg)) })
    }
}

/// An app holding the file's cache in memory, as MSAL Python's
/// `token_cache=` app does (no hooks: nothing to reload per call).
fn app_with(text: &[u8]) -> PublicClientApplication {
    PublicClientApplication::builder(CLIENT_ID)
        .authority(format!("https://login.microsoftonline.com/{TENANT}"))
        .http_client(Arc::new(NoNetwork))
        .token_cache(TokenCache::deserialize(text).expect("a cache file"))
        .build()
        .unwrap()
}

fn bench_file(rt: &tokio::runtime::Runtime, path: &str) {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let app = app_with(&text);
    let accounts = rt.block_on(app.accounts()).unwrap();
    let n = accounts.len();
    assert!(n > 0, "{path}: no accounts");
    let k = n / 2;
    let target = accounts
        .iter()
        .find(|a| a.local_account_id() == uid_of(k))
        .cloned()
        .expect("user k");
    let expected = format!("at-secret-{k}");
    let silent = |scopes: &'static [&'static str]| {
        let (app, target, expected) = (&app, &target, &expected);
        move |_: ()| {
            let r = rt
                .block_on(app.acquire_token_silent(scopes, target).into_future())
                .expect("cached token (regenerate the file?)");
            assert!(r.access_token().ct_eq(expected));
        }
    };
    let results = [
        (
            "get_accounts",
            measure(
                || (),
                |_| assert_eq!(rt.block_on(app.accounts()).unwrap().len(), n),
            ),
        ),
        (
            "acquire_token_silent",
            measure(|| (), silent(&["user.read", "mail.read"])),
        ),
        (
            "acquire_token_silent_subset",
            measure(|| (), silent(&["user.read"])),
        ),
        (
            "remove_account",
            measure(
                || {
                    let fresh = app_with(&text);
                    rt.block_on(fresh.accounts()).unwrap(); // loads the file (not timed)
                    fresh
                },
                |fresh| {
                    rt.block_on(fresh.remove_account(&target)).unwrap();
                    fresh
                },
            ),
        ),
    ];
    let after = app_with(&text);
    rt.block_on(after.remove_account(&target)).unwrap();
    assert_eq!(rt.block_on(after.accounts()).unwrap().len(), n - 1);
    for (op, (median, min, reps)) in results {
        println!(
            "{}",
            serde_json::json!({
                "peer": "msal-rs-app", "op": op, "n": n,
                "median_us": (median * 10.0).round() / 10.0, "min_us": (min * 10.0).round() / 10.0,
                "reps": reps, "version": env!("CARGO_PKG_VERSION"),
            })
        );
    }
}

fn main() {
    let files: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if files.is_empty() {
        eprintln!("usage: cargo bench -p msal-core --bench app -- CACHE.json [CACHE.json ...]");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for f in &files {
        bench_file(&rt, f);
    }
}
