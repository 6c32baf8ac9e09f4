//! Real headless Chromium, driven through chromedriver with fantoccini (as
//! the emulator's own browser tests do). Needs `chromium` and
//! `chromedriver` (Debian `chromium`, `chromium-driver`; scripts/test.sh
//! installs them); `CHROMIUM` / `CHROMEDRIVER` override the paths. Fails,
//! never skips, when they are missing.

use std::net::TcpListener as StdListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

fn tool(env: &str, default: &str) -> String {
    let path = std::env::var(env).unwrap_or_else(|_| default.to_string());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} not found: install Debian's chromium and chromium-driver (scripts/test.sh does) or set {env}"
    );
    path
}

/// chromedriver and one headless Chromium session with a fresh profile.
pub struct Chromium {
    process: Child,
    _profile: tempfile::TempDir,
    pub client: Client,
}

impl Drop for Chromium {
    // chromedriver runs in a process group of its own, with the Chromium it
    // launched: killing the group leaves no browser behind, even when the
    // test failed before it could end the session.
    fn drop(&mut self) {
        let group = format!("-{}", self.process.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Chromium {
    /// Starts chromedriver and a session.
    pub async fn start() -> Self {
        let chromium = tool("CHROMIUM", "/usr/bin/chromium");
        let chromedriver = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--no-proxy-server".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": chromium, "args": args}),
        );
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver needs a moment to listen: retry the session for a while.
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::rustls()
                .unwrap()
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        process,
                        _profile: profile,
                        client,
                    };
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start a Chromium session: {last:?}");
    }
}

/// Drives an existing session from another task (the browser opener).
pub struct Driving {
    pub client: Client,
}

impl Chromium {
    /// Ends the session (chromedriver closes Chromium); dropping then stops chromedriver.
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }

    /// A handle on the same session for the opener's task.
    pub fn driving(client: Client) -> Driving {
        Driving { client }
    }
}

impl Driving {
    /// Replaces the text of the input matching `css` (waiting for it).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap();
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Clicks the element matching `css` (waiting for it).
    pub async fn click(&self, css: &str) {
        let e = self
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap();
        e.click().await.unwrap();
    }

    /// Waits until the page's HTML contains `needle` and returns it.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        self.wait_for_any(&[needle]).await.1
    }

    /// Waits until the page's HTML contains one of `needles`; returns which and the page.
    pub async fn wait_for_any(&self, needles: &[&str]) -> (usize, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.client.source().await.unwrap_or_default();
            if let Some(i) = needles.iter().position(|n| s.contains(n)) {
                return (i, s);
            }
            let url = self
                .client
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "{needles:?} never appeared; page {url}:\n{s}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
