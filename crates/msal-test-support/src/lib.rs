//! msal-test-support (being built).

pub mod fake_http;
pub mod log_capture;

pub use fake_http::{Expect, FakeHttp, RecordedRequest, Reply};
pub use log_capture::LogCapture;
