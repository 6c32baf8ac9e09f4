//! msal-test-support (being built).
