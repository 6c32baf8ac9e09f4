#![no_main]
//! Fuzz target `managed_identity`: see `msal_fuzz::msal_checks::managed_identity`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| msal_fuzz::msal_checks::managed_identity(data));
