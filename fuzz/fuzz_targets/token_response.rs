#![no_main]
//! Fuzz target `token_response`: see `msal_fuzz::msal_checks::token_response`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| msal_fuzz::msal_checks::token_response(data));
