//! The fuzz targets' logic, shared with the corpus replay tests that run
//! under `cargo test` on stable Rust (see `fuzz/README.md`).

pub mod emulator_checks;
pub mod msal_checks;
