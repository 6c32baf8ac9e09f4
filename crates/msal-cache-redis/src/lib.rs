//! msal-cache-redis (being built).
