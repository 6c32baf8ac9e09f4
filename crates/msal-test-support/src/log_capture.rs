//! [`LogCapture`]: collects everything `tracing` logs (down to TRACE) on the
//! current thread while a guard is alive, so a test can search it for tokens,
//! secrets or proxy credentials that must never appear.
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
//! How: the first capture installs one process-wide TRACE subscriber whose
//! writer sends each line to the capture active on the emitting thread (or
//! nowhere). A per-thread scoped subscriber would be simpler, but tracing
//! caches callsite interest process-wide, and a callsite first hit by another
//! test thread can stay disabled for ours. Run the code under test on a
//! current-thread runtime (`#[tokio::test]`'s default) so its logs land here.
//! If something else already installed a global subscriber, nothing is
//! captured, and a test asserting that something was logged will say so.

use std::cell::RefCell;
use std::io::Write;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, Once};

use tracing_subscriber::fmt::MakeWriter;

type Buffer = Arc<Mutex<Vec<u8>>>;

thread_local! {
    static CURRENT: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// A shared buffer of formatted log lines.
#[derive(Clone, Default, Debug)]
pub struct LogCapture {
    buffer: Buffer,
}

/// Captures into its [`LogCapture`] until dropped (on the same thread).
#[derive(Debug)]
pub struct CaptureGuard {
    previous: Option<Buffer>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

impl LogCapture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// Captures this thread's logs, at every level, until the guard is dropped.
    pub fn set_default(&self) -> CaptureGuard {
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(ThreadWriters)
                .finish();
            // `try_init` also routes the `log` crate's records (reqwest, hyper,
            // rustls) here, so a test sees what those libraries print too.
            let _ = tracing_subscriber::util::SubscriberInitExt::try_init(subscriber);
        });
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.buffer.clone()));
        CaptureGuard {
            previous,
            _not_send: PhantomData,
        }
    }

    /// Everything captured so far.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Hands the subscriber a writer for the emitting thread's capture.
struct ThreadWriters;

/// Writes to one capture, or discards.
#[derive(Debug)]
pub struct CaptureWriter(Option<Buffer>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(b) = &self.0 {
            b.lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for ThreadWriters {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(CURRENT.with(|c| c.borrow().clone()))
    }
}
