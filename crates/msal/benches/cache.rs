//! The shared token-cache benchmark (`/work/shared/bench/README.md`) on msal-rs.
//!
//! `cargo bench -p msal-core --bench cache -- CACHE.json [CACHE.json ...]`
//! (files from `gen_cache.py N OUT.json`, generated less than an hour before:
//! their access tokens expire). Prints one JSON line per op and file, like
//! `bench_python.py`: `{"peer":"msal-rs","op",...,"n","median_us","min_us","reps","version"}`.
//! `crates/msal/benches/run_cache_bench.sh` runs both peers and prints the table.
//!
//! Same methodology as `bench_python.py`: one warm-up call, then at least 3
//! samples and at least `BENCH_BUDGET_S` seconds (default 2), at most 51
//! samples; median and minimum of single calls; setup outside the timing;
//! every op checks its result.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use msal::cache::{AccessTokenQuery, Account, TokenCache};

const CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const ENV: &str = "login.microsoftonline.com";

fn uid_of(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", 0x1000_0000 + i, i)
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median and minimum (µs) of `op(state)`; `setup()` and dropping what `op`
/// returns are not timed.
fn measure<S, R>(mut setup: impl FnMut() -> S, mut op: impl FnMut(S) -> R) -> (f64, f64, usize) {
    let budget = Duration::from_secs_f64(env_num("BENCH_BUDGET_S", 2.0));
    let min_reps = env_num("BENCH_MIN_REPS", 3.0) as usize;
    let max_reps = env_num("BENCH_MAX_REPS", 51.0) as usize;
    op(setup()); // warm-up
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

fn bench_file(path: &str) {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let cache = TokenCache::deserialize(&text).unwrap();
    let accounts = cache.accounts(&[ENV]);
    let n = accounts.len();
    assert!(n > 0, "{path}: no accounts");
    let k = n / 2;
    let target: Account = accounts
        .iter()
        .find(|a| a.local_account_id() == uid_of(k))
        .cloned()
        .expect("user k");
    let expected_secret = format!("at-secret-{k}");

    let silent = |scopes: &'static [&'static str]| {
        let (cache, target, expected) = (&cache, &target, &expected_secret);
        move |_: ()| {
            let q = AccessTokenQuery {
                client_id: CLIENT_ID,
                home_account_id: Some(target.home_account_id()),
                environments: &[ENV],
                realms: &[TENANT],
                scopes,
                ..AccessTokenQuery::default()
            };
            let at = cache
                .find_access_token(&q, now)
                .expect("cached access token (regenerate the file?)");
            assert!(at.secret.ct_eq(expected));
        }
    };

    let results = [
        (
            "deserialize",
            measure(
                || (),
                |_| std::hint::black_box(TokenCache::deserialize(&text).unwrap()),
            ),
        ),
        // Extra op: the bytes handed over as a store returns them (no copy).
        (
            "deserialize_owned",
            measure(
                || text.clone(),
                |t| std::hint::black_box(TokenCache::deserialize_owned(t).unwrap()),
            ),
        ),
        (
            "get_accounts",
            measure(|| (), |_| assert_eq!(cache.accounts(&[ENV]).len(), n)),
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
                || TokenCache::deserialize(&text).unwrap(),
                |mut c| {
                    c.remove_account(&target, CLIENT_ID);
                    std::hint::black_box(c)
                },
            ),
        ),
        (
            "serialize",
            measure(|| (), |_| std::hint::black_box(cache.serialize())),
        ),
    ];

    // remove_account really removed the account and its three credentials.
    let mut c = TokenCache::deserialize(&text).unwrap();
    c.remove_account(&target, CLIENT_ID);
    let [at, rt, idt, acc, _] = c.entry_counts();
    assert_eq!([acc, at, rt, idt], [n - 1; 4]);
    let back: serde_json::Value = serde_json::from_slice(&c.serialize()).unwrap();
    assert_eq!(back["Account"].as_object().map(|m| m.len()), Some(n - 1));

    for (op, (median, min, reps)) in results {
        println!(
            "{}",
            serde_json::json!({
                "peer": "msal-rs", "op": op, "n": n,
                "median_us": (median * 10.0).round() / 10.0, "min_us": (min * 10.0).round() / 10.0,
                "reps": reps, "version": env!("CARGO_PKG_VERSION"),
            })
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the rest are cache files.
    let files: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if files.is_empty() && !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs this binary with no arguments: there
        // is nothing to measure then, and that is not a failure.
        eprintln!("cache bench: no cache file given; nothing measured");
        return;
    }
    if files.is_empty() {
        eprintln!(
            "usage: cargo bench -p msal-core --bench cache -- CACHE.json [...]  (see gen_cache.py)"
        );
        std::process::exit(2);
    }
    for f in &files {
        bench_file(f);
    }
}
