#![no_main]
//! Fuzz target `device_code`: see `msal_fuzz::msal_checks::device_code`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| msal_fuzz::msal_checks::device_code(data));
