#![no_main]
//! Fuzz target `client_info`: see `msal_fuzz::msal_checks::client_info`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| msal_fuzz::msal_checks::client_info(data));
