//! Opening the user's browser for an interactive sign-in.
//!
//! [`BrowserOpener`] is the seam: the default [`SystemBrowser`] asks the
//! operating system to open the URL (`$BROWSER` if set, else `xdg-open` on
//! Linux and the BSDs, `open` on macOS, `rundll32` on Windows); tests and
//! apps with their own UI pass another opener.

use std::process::{Command, Stdio};

use url::Url;

/// Opens an authorization URL for the user.
pub trait BrowserOpener: Send + Sync + 'static {
    /// Opens `url`. Returns once the browser was started; the sign-in itself
    /// completes through the loopback redirect.
    ///
    /// # Errors
    /// A [`BrowserError`] when no browser could be started.
    fn open(&self, url: &Url) -> Result<(), BrowserError>;
}

impl<F> BrowserOpener for F
where
    F: Fn(&Url) -> Result<(), BrowserError> + Send + Sync + 'static,
{
    fn open(&self, url: &Url) -> Result<(), BrowserError> {
        self(url)
    }
}

/// A browser could not be opened.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
#[error("could not open a browser: {message}")]
pub struct BrowserError {
    /// What went wrong (never the URL: it carries the PKCE challenge and state).
    pub message: String,
}

impl BrowserError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Opens URLs with the system's default browser.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemBrowser;

impl BrowserOpener for SystemBrowser {
    fn open(&self, url: &Url) -> Result<(), BrowserError> {
        let (program, args) = command_for(url.as_str(), std::env::var("BROWSER").ok());
        let child = Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BrowserError::new(format!("cannot start {program}: {e}")))?;
        // Reap the launcher in the background so it does not linger as a zombie;
        // some launchers only return when the browser window closes.
        std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        Ok(())
    }
}

/// The program and arguments that open `url` on this platform.
fn command_for(url: &str, browser_var: Option<String>) -> (String, Vec<String>) {
    if let Some(b) = browser_var.filter(|b| !b.trim().is_empty()) {
        // $BROWSER may list several commands separated by ':'; the first is used.
        let first = b.split(':').next().unwrap_or_default().trim().to_owned();
        return (first, vec![url.to_owned()]);
    }
    if cfg!(target_os = "macos") {
        ("open".into(), vec![url.to_owned()])
    } else if cfg!(windows) {
        (
            "rundll32".into(),
            vec!["url.dll,FileProtocolHandler".into(), url.to_owned()],
        )
    } else {
        ("xdg-open".into(), vec![url.to_owned()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_variable_wins_and_takes_the_first_entry() {
        let (p, a) = command_for("https://x/", Some("firefox:chromium".into()));
        assert_eq!((p.as_str(), a), ("firefox", vec!["https://x/".to_owned()]));
        let (p, _) = command_for("https://x/", Some("  ".into()));
        assert_ne!(p, "  ");
    }

    #[test]
    fn closures_are_openers_and_a_missing_program_is_an_error() {
        let opener = |u: &Url| -> Result<(), BrowserError> {
            if u.scheme() == "https" {
                Ok(())
            } else {
                Err(BrowserError::new("no"))
            }
        };
        assert!(opener.open(&Url::parse("https://x/").unwrap()).is_ok());
        assert!(opener.open(&Url::parse("http://x/").unwrap()).is_err());
    }
}
