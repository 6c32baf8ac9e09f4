//! Replays the committed corpus of the `emulator_token` fuzz target on
//! stable Rust: every file under `fuzz/corpus/emulator_token/` is sent to
//! the token endpoint through the router with exactly the check the fuzz
//! target runs (`fuzz/src/emulator_checks.rs`, compiled in here): never a
//! 5xx, always Entra-shaped JSON.

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../../fuzz/src/emulator_checks.rs"]
mod emulator_checks;

use std::path::PathBuf;

#[test]
fn emulator_token_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(emulator_checks::TARGET);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "the corpus has only {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| emulator_checks::token_request(&data)).is_err() {
            failures.push(file.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus files fail: {failures:?}",
        failures.len(),
        files.len()
    );
}
