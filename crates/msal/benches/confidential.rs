//! Confidential-client cache hits (`cargo bench -p msal-core --bench confidential`).
//!
//! - `acquire_token_for_client` hits with 1, 1,000 and 10,000 tenants in
//!   the cache: the default MemoryStore; Redis with an L1 (served from L1);
//!   Redis alone (every hit reads L2).
//! - `acquire_token_on_behalf_of` hits with 1,000 assertions cached.
//! - Hits per second with several tasks on a 2-worker runtime (and 1 worker).
//!
//! The identity provider is an in-process fake (warm-up only; no request is
//! made while timing, which each scenario checks). Redis is REDIS_URL
//! (default redis://127.0.0.1:6379) under a unique prefix, deleted at the
//! end. Each scenario: two warm-up passes over every tenant, then batches of
//! calls on tenants in a pseudo-random order; reported: the median and
//! minimum of the per-batch mean time per call, and calls per second.
//! `BENCH_BUDGET_S` (default 2) bounds the time of each scenario. MSAL
//! Python's side of the memory hits: `benches/confidential_python.py`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::ConfidentialClientApplication;
use msal::clock::ManualClock;
use msal::credentials::ClientCredential;
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError};
use msal::secret::{Assertion, ClientSecret};
use msal::storage::{CacheAccess, CacheStore, MemoryStore, StoreAccess};
use msal_cache_redis::RedisStore;

const CLIENT_ID: &str = "00000000-0000-0000-0000-0000000be7c4";
const HOST: &str = "https://login.microsoftonline.com";
const NOW: u64 = 1_700_000_000;
const SCOPE: &str = "https://graph.microsoft.com/.default";
const BATCH: usize = 1000;

fn tenant(i: usize) -> String {
    format!("7e000000-0000-4000-8000-{i:012x}")
}

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// Answers metadata, client credentials and OBO for any tenant; counts token requests.
#[derive(Default)]
struct Idp {
    tokens: AtomicUsize,
}

impl Idp {
    fn respond(&self, req: &HttpRequest) -> String {
        let path = req.uri().path();
        let t = path.trim_start_matches('/').split('/').next().unwrap_or("");
        if path.ends_with("openid-configuration") {
            return serde_json::json!({
                "issuer": format!("{HOST}/{t}/v2.0"),
                "authorization_endpoint": format!("{HOST}/{t}/oauth2/v2.0/authorize"),
                "token_endpoint": format!("{HOST}/{t}/oauth2/v2.0/token"),
            })
            .to_string();
        }
        let n = self.tokens.fetch_add(1, Ordering::Relaxed);
        let form: HashMap<String, String> = url::form_urlencoded::parse(req.body())
            .into_owned()
            .collect();
        if form.get("grant_type").map(String::as_str) == Some("client_credentials") {
            return serde_json::json!({"token_type":"Bearer","expires_in":86400,"access_token":format!("at-{t}-{n}")}).to_string();
        }
        let uid = format!("00000000-0000-4000-8000-{n:012x}");
        let id = serde_json::json!({"aud": CLIENT_ID, "iss": format!("{HOST}/{t}/v2.0"), "tid": t, "oid": uid, "sub": uid, "preferred_username": "u@x"});
        serde_json::json!({
            "token_type": "Bearer", "expires_in": 86400, "scope": "api://down/read openid profile",
            "access_token": format!("obo-{n}"), "refresh_token": format!("rt-{n}"),
            "id_token": format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&id.to_string())),
            "client_info": b64(&format!(r#"{{"uid":"{uid}","utid":"{t}"}}"#)),
        })
        .to_string()
    }
}

impl HttpClient for Idp {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let body = self.respond(&request);
        Box::pin(std::future::ready(Ok(http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .unwrap())))
    }
}

/// An app on `hooks`, or on the default cache (partitions kept parsed in
/// memory) when `None`.
fn app(
    hooks: Option<Arc<dyn CacheAccess>>,
    idp: &Arc<Idp>,
    clock: &Arc<ManualClock>,
) -> ConfidentialClientApplication {
    let b = ConfidentialClientApplication::builder(
        CLIENT_ID,
        ClientCredential::secret(ClientSecret::new("s")),
    )
    .authority(format!("{HOST}/{}", tenant(0)))
    .http_client(idp.clone())
    .clock(clock.clone());
    match hooks {
        Some(h) => b.cache_access(h),
        None => b,
    }
    .build()
    .unwrap()
}

/// `StoreAccess` over a `MemoryStore`: the hooks path, a document per hit.
fn memory_store_hooks(clock: &Arc<ManualClock>) -> Option<Arc<dyn CacheAccess>> {
    Some(Arc::new(StoreAccess::new(
        MemoryStore::builder().clock(clock.clone()).build(),
    )))
}

fn budget() -> Duration {
    Duration::from_secs_f64(
        std::env::var("BENCH_BUDGET_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2.0),
    )
}

/// A cheap pseudo-random sequence (xorshift), the same on every run.
struct Order(u64);

impl Order {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn report(name: &str, mut per_call_us: Vec<f64>) {
    per_call_us.sort_by(f64::total_cmp);
    let median = per_call_us[per_call_us.len() / 2];
    println!(
        "{name:<48} median {median:>8.2} µs/call   min {:>8.2} µs   {:>10.0} calls/s   ({} batches of {BATCH})",
        per_call_us[0],
        1e6 / median,
        per_call_us.len()
    );
}

/// Warms `n` tenants, then times hits in batches.
async fn client_credentials_hits(
    name: &str,
    app: &ConfidentialClientApplication,
    idp: &Idp,
    n: usize,
) {
    let names: Vec<String> = (1..=n).map(tenant).collect();
    for t in &names {
        app.acquire_token_for_client(&[SCOPE])
            .tenant(t.as_str())
            .await
            .unwrap();
    }
    // A second pass once the store's own invalidations have arrived: with a
    // coherent L1 each write of the warm-up drops the L1 copy it just made
    // (Redis reports every change under the prefix, ours too), so the first
    // hit of each tenant would read L2, which is not what is timed here.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for t in &names {
        app.acquire_token_for_client(&[SCOPE])
            .tenant(t.as_str())
            .await
            .unwrap();
    }
    let requests = idp.tokens.load(Ordering::Relaxed);
    let mut order = Order(0x9e37_79b9_7f4a_7c15);
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 3 || (start.elapsed() < budget() && samples.len() < 200) {
        let t0 = Instant::now();
        for _ in 0..BATCH {
            let t = &names[order.next(n)];
            let r = app
                .acquire_token_for_client(&[SCOPE])
                .tenant(t.as_str())
                .await
                .unwrap();
            assert_eq!(r.source(), msal::TokenSource::Cache);
        }
        samples.push(t0.elapsed().as_secs_f64() * 1e6 / BATCH as f64);
    }
    assert_eq!(
        idp.tokens.load(Ordering::Relaxed),
        requests,
        "no request while timing"
    );
    report(name, samples);
}

async fn obo_hits(n: usize) {
    let idp = Arc::new(Idp::default());
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let app = app(None, &idp, &clock);
    let assertions: Vec<Assertion> = (0..n)
        .map(|i| Assertion::new(format!("incoming.user.token-{i}")))
        .collect();
    for a in &assertions {
        app.acquire_token_on_behalf_of(&["api://down/read"], a.clone())
            .await
            .unwrap();
    }
    let requests = idp.tokens.load(Ordering::Relaxed);
    let mut order = Order(0x2545_f491_4f6c_dd1d);
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 3 || (start.elapsed() < budget() && samples.len() < 200) {
        let t0 = Instant::now();
        for _ in 0..BATCH {
            let a = &assertions[order.next(n)];
            let r = app
                .acquire_token_on_behalf_of(&["api://down/read"], a.clone())
                .await
                .unwrap();
            assert_eq!(r.source(), msal::TokenSource::Cache);
        }
        samples.push(t0.elapsed().as_secs_f64() * 1e6 / BATCH as f64);
    }
    assert_eq!(idp.tokens.load(Ordering::Relaxed), requests);
    report(&format!("OBO hit, memory, {n} assertions"), samples);
}

/// Calls per second of `tasks` tasks hitting 1,000 tenants on `workers` threads.
fn throughput(workers: usize, tasks: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let idp = Arc::new(Idp::default());
        let clock = Arc::new(ManualClock::at_unix(NOW));
        let app = app(None, &idp, &clock);
        let n = 10_000;
        let names: Arc<Vec<String>> = Arc::new((1..=n).map(tenant).collect());
        for i in 1..=n {
            app.acquire_token_for_client(&[SCOPE])
                .tenant(tenant(i))
                .await
                .unwrap();
        }
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + budget();
        let handles: Vec<_> = (0..tasks)
            .map(|k| {
                let (app, done, names) = (app.clone(), done.clone(), names.clone());
                tokio::spawn(async move {
                    let mut order = Order(0x9e37_79b9_7f4a_7c15 ^ (k as u64 + 1));
                    while Instant::now() < deadline {
                        for _ in 0..100 {
                            let t = &names[order.next(n)];
                            app.acquire_token_for_client(&[SCOPE])
                                .tenant(t.as_str())
                                .await
                                .unwrap();
                        }
                        done.fetch_add(100, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let t0 = Instant::now();
        for h in handles {
            h.await.unwrap();
        }
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "{:<48} {:>10.0} calls/s",
            format!("client credentials hits, {workers} worker(s), {tasks} tasks, {n} tenants"),
            done.load(Ordering::Relaxed) as f64 / secs
        );
    });
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn delete_prefix(prefix: &str) {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client
        .get_connection()
        .expect("Redis must run at REDIS_URL for this benchmark");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut conn)
        .unwrap();
    for chunk in keys.chunks(1000) {
        let _: () = redis::cmd("DEL").arg(chunk).query(&mut conn).unwrap();
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!(
        "confidential client cache hits (release, {} CPU(s) visible)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // BENCH_ONLY=memory|hooks|redis|obo|throughput runs one group.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |group: &str| only.is_empty() || only == group;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for n in [1, 1000, 10_000].into_iter().filter(|_| run("memory")) {
            let idp = Arc::new(Idp::default());
            let clock = Arc::new(ManualClock::at_unix(NOW));
            let a = app(None, &idp, &clock);
            client_credentials_hits(
                &format!("client credentials hit, default memory cache, {n} tenants"),
                &a,
                &idp,
                n,
            )
            .await;
        }
        for n in [1, 10_000].into_iter().filter(|_| run("hooks")) {
            let idp = Arc::new(Idp::default());
            let clock = Arc::new(ManualClock::at_unix(NOW));
            let a = app(memory_store_hooks(&clock), &idp, &clock);
            client_credentials_hits(
                &format!("client credentials hit, StoreAccess<MemoryStore>, {n} tenants"),
                &a,
                &idp,
                n,
            )
            .await;
        }
        for (label, with_l1) in [
            ("Redis + L1 (L1 hit)", true),
            ("Redis only (L2 hit)", false),
        ]
        .into_iter()
        .filter(|_| run("redis"))
        {
            for n in [1, 1000, 10_000] {
                let prefix = format!("msal-bench:{}:", uuid::Uuid::new_v4());
                let idp = Arc::new(Idp::default());
                let clock = Arc::new(ManualClock::at_unix(NOW));
                let mut b = RedisStore::builder(redis_url())
                    .key_prefix(&prefix)
                    .clock(clock.clone());
                if with_l1 {
                    b = b.l1(MemoryStore::builder().clock(clock.clone()).build());
                }
                let store = b.build().unwrap();
                let _ = store.load("probe").await;
                assert!(
                    store.is_available(),
                    "Redis must run at REDIS_URL for this benchmark"
                );
                let a = app(Some(Arc::new(StoreAccess::new(store))), &idp, &clock);
                client_credentials_hits(
                    &format!("client credentials hit, {label}, {n} tenants"),
                    &a,
                    &idp,
                    n,
                )
                .await;
                delete_prefix(&prefix);
            }
        }
        if run("obo") {
            obo_hits(1000).await;
        }
    });
    if run("throughput") {
        throughput(1, 8);
        throughput(2, 8);
    }
}
