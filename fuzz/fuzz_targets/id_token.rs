#![no_main]
//! Fuzz target `id_token`: see `msal_fuzz::msal_checks::id_token`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| msal_fuzz::msal_checks::id_token(data));
