//! Replays the committed fuzz corpus on stable Rust: every file under
//! `fuzz/corpus/<target>/` goes through exactly the check its cargo-fuzz
//! target runs (`fuzz/src/msal_checks.rs`, compiled in here), so an input
//! that once crashed a parser, or broke a property such as "a loaded cache
//! re-serializes to a document that loads to the same cache", fails
//! `cargo test` for good. Running the fuzzers themselves: `fuzz/README.md`.

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../../fuzz/src/msal_checks.rs"]
mod msal_checks;

use std::path::PathBuf;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// Runs `check` on every file of the target's corpus and reports every file
/// that fails (not only the first).
fn replay(target: &str) {
    let check = msal_checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no check named {target}"));
    let dir = corpus(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "{}: the corpus has only {} files",
        dir.display(),
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            failures.push(file.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} corpus files fail: {failures:?}",
        failures.len(),
        files.len()
    );
}

#[test]
fn every_msal_target_has_a_corpus_and_a_test() {
    let mut dirs: Vec<String> = std::fs::read_dir(corpus(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|d| d != "emulator_token")
        .collect();
    dirs.sort();
    let mut named: Vec<String> = msal_checks::TARGETS
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    named.sort();
    assert_eq!(
        dirs, named,
        "a corpus directory without a check, or the reverse"
    );
}

#[test]
fn cache_corpus() {
    replay("cache");
}

#[test]
fn token_response_corpus() {
    replay("token_response");
}

#[test]
fn id_token_corpus() {
    replay("id_token");
}

#[test]
fn client_info_corpus() {
    replay("client_info");
}

#[test]
fn authority_corpus() {
    replay("authority");
}

#[test]
fn device_code_corpus() {
    replay("device_code");
}

#[test]
fn managed_identity_corpus() {
    replay("managed_identity");
}
