//! `acquire_token_for_client` cache hits with 1, 1,000 and 10,000 tenants,
//! with the token cache in memory (the default store), in Redis behind an
//! L1 (L1 hit), and in Redis alone (L2 hit); plus hits per second from 8
//! concurrent tasks on a 2-worker runtime. The identity provider is an
//! in-process fake, so only cache work is measured. Needs the Redis at
//! REDIS_URL. Run: `cargo bench -p msal-cache-redis --bench confidential`.
#![allow(missing_docs)] // criterion's macros generate undocumented functions

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use msal::ConfidentialClientApplication;
use msal::credentials::ClientCredential;
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError};
use msal::secret::ClientSecret;
use msal::storage::{CacheAccess, MemoryStore, StoreAccess};
use msal_cache_redis::RedisStore;

const CLIENT_ID: &str = "00000000-0000-0000-0000-00000000be4c";
const HOST: &str = "https://login.microsoftonline.com";
const GRAPH: &str = "https://graph.microsoft.com/.default";

/// Answers tenant metadata and client-credentials requests for any tenant,
/// with a 2 kB access token valid for an hour; counts token requests.
#[derive(Default)]
struct Idp {
    tokens: AtomicUsize,
}

impl HttpClient for Idp {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let path = request.uri().path().to_owned();
        let tenant = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned();
        let body = if path.ends_with("/openid-configuration") {
            format!(
                r#"{{"issuer":"{HOST}/{tenant}/v2.0","authorization_endpoint":"{HOST}/{tenant}/oauth2/v2.0/authorize","token_endpoint":"{HOST}/{tenant}/oauth2/v2.0/token"}}"#
            )
        } else {
            self.tokens.fetch_add(1, Ordering::Relaxed);
            let at = format!(
                "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{}.{tenant}",
                "x".repeat(1_900)
            );
            format!(
                r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{at}"}}"#
            )
        };
        let response = http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .map_err(|e| TransportError::new(msal::http::TransportErrorKind::Other, e.to_string()));
        Box::pin(async move { response })
    }
}

fn tenant(i: usize) -> String {
    format!("7e4a0000-0000-4000-8000-{i:012x}")
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn app(hooks: Arc<dyn CacheAccess>, idp: Arc<Idp>) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(
        CLIENT_ID,
        ClientCredential::secret(ClientSecret::new("bench-secret")),
    )
    .authority(format!("{HOST}/{}", tenant(0)))
    .instance_discovery(false)
    .http_client(idp)
    .cache_access(hooks)
    .build()
    .unwrap()
}

fn cleanup(prefix: &str) {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut conn)
        .unwrap();
    for chunk in keys.chunks(1_000) {
        let _: () = redis::cmd("DEL").arg(chunk).query(&mut conn).unwrap();
    }
}

/// One app per store, each with `tenants` app tokens already cached.
fn apps(
    rt: &tokio::runtime::Runtime,
    prefix: &str,
    tenants: usize,
) -> Vec<(&'static str, ConfidentialClientApplication, Arc<Idp>)> {
    let variants: Vec<(&str, Arc<dyn CacheAccess>)> = {
        let _guard = rt.enter();
        let redis = |l1: bool| {
            let mut b =
                RedisStore::builder(redis_url()).key_prefix(format!("{prefix}{tenants}:{l1}:"));
            if l1 {
                b = b.l1(MemoryStore::new());
            }
            Arc::new(StoreAccess::new(b.build().unwrap())) as Arc<dyn CacheAccess>
        };
        vec![
            ("memory", Arc::new(StoreAccess::new(MemoryStore::new()))),
            ("redis_l1_hit", redis(true)),
            ("redis_l2_hit", redis(false)),
        ]
    };
    variants
        .into_iter()
        .map(|(name, hooks)| {
            let idp = Arc::new(Idp::default());
            let app = app(hooks, idp.clone());
            rt.block_on(async {
                for i in 0..tenants {
                    app.acquire_token_for_client(&[GRAPH])
                        .tenant(tenant(i))
                        .await
                        .unwrap();
                }
            });
            assert_eq!(idp.tokens.load(Ordering::Relaxed), tenants);
            (name, app, idp)
        })
        .collect()
}

fn latency(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let prefix = format!("msal-bench:{}:", uuid::Uuid::new_v4());
    let mut group = c.benchmark_group("acquire_token_for_client_hit");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    for tenants in [1usize, 1_000, 10_000] {
        for (name, app, idp) in apps(&rt, &prefix, tenants) {
            let next = AtomicUsize::new(0);
            group.bench_function(BenchmarkId::new(name, tenants), |b| {
                b.to_async(&rt).iter(|| {
                    // Walk the tenants with a stride, so hits spread over all of them.
                    let i = next.fetch_add(7_919, Ordering::Relaxed) % tenants;
                    let request = app.acquire_token_for_client(&[GRAPH]).tenant(tenant(i));
                    async move { request.await.unwrap() }
                })
            });
            assert_eq!(
                idp.tokens.load(Ordering::Relaxed),
                tenants,
                "every measured call was a cache hit"
            );
        }
    }
    group.finish();
    cleanup(&prefix);
}

fn hits_per_second(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let prefix = format!("msal-bench:{}:", uuid::Uuid::new_v4());
    let mut group = c.benchmark_group("acquire_token_for_client_hits_per_second");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    group.throughput(Throughput::Elements(800));
    for (name, app, idp) in apps(&rt, &prefix, 1_000) {
        group.bench_function(BenchmarkId::new(name, 1_000), |b| {
            b.to_async(&rt).iter(|| {
                let app = app.clone();
                async move {
                    // 8 tasks, 100 calls each, over 1,000 tenants.
                    let tasks: Vec<_> = (0..8)
                        .map(|t| {
                            let app = app.clone();
                            tokio::spawn(async move {
                                for i in 0..100 {
                                    let tenant = tenant((t * 100 + i) % 1_000);
                                    app.acquire_token_for_client(&[GRAPH])
                                        .tenant(tenant)
                                        .await
                                        .unwrap();
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                }
            })
        });
        assert_eq!(
            idp.tokens.load(Ordering::Relaxed),
            1_000,
            "every measured call was a cache hit"
        );
    }
    group.finish();
    cleanup(&prefix);
}

criterion_group!(benches, latency, hits_per_second);
criterion_main!(benches);
