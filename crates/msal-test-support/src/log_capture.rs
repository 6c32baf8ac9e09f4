//! [`LogCapture`]: collects everything `tracing` logs (down to TRACE) while a
//! guard is alive, so a test can search it for tokens, secrets or proxy
//! credentials that must never appear.
//!
//! ```
//! let logs = msal_test_support::log_capture::LogCapture::new();
//! {
//!     let _guard = logs.set_default();
//!     tracing::info!(host = "login.example", "sending");
//! }
//! assert!(logs.contents().contains("login.example"));
//! ```
//!
//! The capture is per thread (`tracing::subscriber::set_default`): run the
//! code under test on a current-thread runtime (`#[tokio::test]`'s default)
//! so its logs land here.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// A shared buffer of formatted log lines.
#[derive(Clone, Default, Debug)]
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl LogCapture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs a TRACE-level subscriber writing here, for this thread, until
    /// the guard is dropped.
    pub fn set_default(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(self.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// Everything captured so far.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// The writer handed to the subscriber.
#[derive(Debug)]
pub struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(self.buffer.clone())
    }
}
