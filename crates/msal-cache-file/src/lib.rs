//! msal-cache-file (being built).
