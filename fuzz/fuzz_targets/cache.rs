#![no_main]
//! Fuzz target `cache`: see `msal_fuzz::msal_checks::cache`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| msal_fuzz::msal_checks::cache(data));
