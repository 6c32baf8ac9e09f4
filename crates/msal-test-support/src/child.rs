//! Running one test again in a child process with its own environment.
//!
//! Environment variables are process-global, and Rust 2024 makes setting them
//! `unsafe`: a test that needs `HTTPS_PROXY` or `SSL_CERT_FILE` re-runs
//! itself in a child process where they are set, while the parent keeps
//! serving its test servers and checks what they saw.
//!
//! ```no_run
//! # async fn t() {
//! use msal_test_support::child;
//! if child::is_child("my_test") {
//!     let url = child::var("MSAL_TEST_URL");
//!     // ... assertions with the environment in place ...
//!     return;
//! }
//! // parent: start servers, then
//! child::run("my_test", &[("HTTPS_PROXY", "http://127.0.0.1:1".to_owned())]).await;
//! # }
//! ```

use std::process::Command;

/// Set in the child to the name of the test it runs.
pub const CHILD_VAR: &str = "MSAL_TEST_CHILD";

/// Variables cleared in every child so the machine's own settings cannot leak in.
pub const CLEARED: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Whether this process is the child running `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD_VAR).as_deref() == Ok(test)
}

/// A variable the parent passed to the child.
#[track_caller]
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("the parent did not pass {name}"))
}

/// Runs `test` (a test function of the current test binary, by exact name)
/// in a child process with `envs` (on top of the current environment minus
/// [`CLEARED`]), and panics with its output unless exactly that test passed.
/// Waits on a blocking thread so the caller's runtime keeps serving.
pub async fn run(test: &str, envs: &[(&str, String)]) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    for v in CLEARED {
        cmd.env_remove(v);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.env(CHILD_VAR, test);
    let name = test.to_owned();
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("the waiting thread")
        .unwrap_or_else(|e| panic!("cannot start the child for {name}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child process for {test} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}
