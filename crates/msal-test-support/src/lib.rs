//! msal-test-support (being built).

pub mod child;
pub mod confidential;
pub mod fake_http;
pub mod jwt;
pub mod log_capture;
pub mod servers;
pub mod store_contract;
pub mod tcp_proxy;
pub mod test_ca;

pub use fake_http::{Expect, FakeHttp, RecordedRequest, Reply};
pub use log_capture::LogCapture;
pub use servers::{
    Canned, Intercept, ProxyBehaviour, ProxySeen, SeenRequest, TestProxy, TestServer,
};
pub use tcp_proxy::TcpProxy;
pub use test_ca::TestCa;
