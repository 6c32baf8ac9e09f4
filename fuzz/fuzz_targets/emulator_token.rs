#![no_main]
//! Fuzz target `emulator_token`: see `msal_fuzz::emulator_checks::token_request`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| msal_fuzz::emulator_checks::token_request(data));
