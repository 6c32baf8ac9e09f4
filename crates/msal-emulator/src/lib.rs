//! msal-emulator (being built).
