//! msal-cache-postgres (being built).
