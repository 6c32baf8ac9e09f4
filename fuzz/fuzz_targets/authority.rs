#![no_main]
//! Fuzz target `authority`: see `msal_fuzz::msal_checks::authority`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| msal_fuzz::msal_checks::authority(data));
