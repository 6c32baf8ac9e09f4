//! The loopback redirect listener of the interactive flow: a tiny HTTP
//! server on 127.0.0.1 that waits for the browser to come back with the
//! authorization code, answers with a small page, and closes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use url::Url;

use crate::error::{Error, Result};
use crate::protocol::authorize::{Redirect, parse_redirect, redirect_error};
use crate::secret::AuthorizationCode;

/// The longest request head read from the browser.
const MAX_HEAD: usize = 16 * 1024;
/// How long one connection may take to send its request (browsers open
/// speculative connections that never send anything; they are handled
/// concurrently and dropped after this).
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections handled at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// The pause after a failed `accept` (e.g. no file descriptor left).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const SUCCESS_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Signed in</title></head>\
<body style=\"font-family:sans-serif\"><h1>Authentication complete</h1>\
<p>You can close this window and return to the application.</p></body></html>";

/// A bound listener and the redirect URI that leads to it.
pub(crate) struct Loopback {
    listener: TcpListener,
    redirect_uri: String,
    path: String,
}

impl Loopback {
    /// Binds 127.0.0.1 on the port of `template` (`0` or none: a random
    /// port). `template` must be an `http` URL on `localhost` or `127.0.0.1`.
    ///
    /// # Errors
    /// [`Error::Config`] for another kind of redirect URI or a port in use.
    pub(crate) async fn bind(template: &str) -> Result<Self> {
        let url = Url::parse(template)
            .map_err(|e| Error::config(format!("the redirect URI is not a URL: {e}")))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        if url.scheme() != "http" || !matches!(host.as_str(), "localhost" | "127.0.0.1") {
            return Err(Error::config(
                "the interactive flow needs a loopback redirect URI: http://localhost or http://127.0.0.1 (any port)",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::config(
                "the redirect URI must not have a query or fragment",
            ));
        }
        let port = url.port().unwrap_or(0);
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
            Error::config(format!(
                "cannot listen on 127.0.0.1:{port} for the redirect: {e}"
            ))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::config(format!("cannot read the redirect listener's port: {e}")))?
            .port();
        let path = url.path().to_owned();
        let shown_path = if path == "/" {
            String::new()
        } else {
            path.clone()
        };
        Ok(Self {
            listener,
            redirect_uri: format!("http://{host}:{port}{shown_path}"),
            path,
        })
    }

    /// The redirect URI to send (with the actual port).
    pub(crate) fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the redirect that carries `state` and returns its code.
    ///
    /// A request with another state (or none) is answered with an error page
    /// and otherwise ignored: any local process or web page can reach this
    /// port, and letting it end the sign-in would let it cancel the user's
    /// sign-in at will. The caller's timeout still bounds the wait.
    ///
    /// # Errors
    /// The mapped OAuth error (or [`Error::Cancelled`] for `access_denied`)
    /// when the redirect with our state carries an error.
    pub(crate) async fn wait(self, state: &str) -> Result<AuthorizationCode> {
        let (tx, mut rx) = mpsc::channel::<Result<AuthorizationCode>>(4);
        // Dropping the set (when this future ends or is dropped) aborts the handlers.
        let mut handlers = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        // Reap finished handlers so a flood of connections
                        // does not grow the set, and cap those in flight.
                        while handlers.try_join_next().is_some() {}
                        if handlers.len() < MAX_CONNECTIONS {
                            handlers.spawn(handle(stream, self.path.clone(), state.to_owned(), tx.clone()));
                        }
                    }
                    // Out of file descriptors and the like: back off instead
                    // of spinning on an error that repeats at once.
                    Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
                },
                Some(outcome) = rx.recv() => return outcome,
            }
        }
    }
}

async fn handle(
    mut stream: TcpStream,
    path: String,
    state: String,
    tx: mpsc::Sender<Result<AuthorizationCode>>,
) {
    let Ok(Some(target)) = tokio::time::timeout(READ_TIMEOUT, read_target(&mut stream)).await
    else {
        return;
    };
    let (req_path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    if req_path != path {
        let _ = respond(&mut stream, 404, "<!doctype html><title>Not found</title>").await;
        return;
    }
    let outcome = match parse_redirect(query) {
        Redirect::Other => {
            let _ = respond(
                &mut stream,
                400,
                &page(
                    "No sign-in response",
                    "This address only receives sign-in responses.",
                ),
            )
            .await;
            return;
        }
        Redirect::Code { state: s, .. } | Redirect::Error { state: s, .. }
            if !state_matches(s.as_deref(), &state) =>
        {
            let _ = respond(
                &mut stream,
                400,
                &page(
                    "Sign-in failed",
                    "The response does not belong to this sign-in.",
                ),
            )
            .await;
            tracing::warn!(
                "refused a request to the redirect listener whose state does not match this sign-in (a forged or stale response); still waiting"
            );
            return;
        }
        Redirect::Code { code, .. } => {
            let _ = respond(&mut stream, 200, SUCCESS_PAGE).await;
            Ok(code)
        }
        Redirect::Error { error, .. } => {
            let text = format!("The identity provider answered: {}", escape(&error.error));
            let _ = respond(&mut stream, 200, &page("Sign-in failed", &text)).await;
            Err(redirect_error(*error))
        }
    };
    let _ = tx.send(outcome).await;
}

fn state_matches(got: Option<&str>, expected: &str) -> bool {
    got.is_some_and(|g| crate::secret::constant_time_eq(g.as_bytes(), expected.as_bytes()))
}

/// Reads the request head and returns the request target of a GET.
async fn read_target(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (Some("GET"), Some(target)) = (parts.next(), parts.next()) else {
        return None;
    };
    Some(target.to_owned())
}

fn page(title: &str, text: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
<body style=\"font-family:sans-serif\"><h1>{title}</h1><p>{text}</p></body></html>"
    )
}

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

async fn respond(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(uri: &str, target: &str) -> String {
        let u = Url::parse(uri).unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", u.port().unwrap()))
            .await
            .unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn code_with_the_right_state_after_noise() {
        let lb = Loopback::bind("http://localhost").await.unwrap();
        let uri = lb.redirect_uri().to_owned();
        assert!(uri.starts_with("http://localhost:"), "{uri}");
        let waiting = tokio::spawn(lb.wait("st-1"));
        // A speculative connection that never speaks must not block the real one.
        let _idle = TcpStream::connect(("127.0.0.1", Url::parse(&uri).unwrap().port().unwrap()))
            .await
            .unwrap();
        assert!(get(&uri, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        assert!(get(&uri, "/").await.starts_with("HTTP/1.1 400"));
        let page = get(&uri, "/?code=the-code&state=st-1").await;
        assert!(
            page.starts_with("HTTP/1.1 200") && page.contains("Authentication complete"),
            "{page}"
        );
        let code = waiting.await.unwrap().unwrap();
        assert_eq!(code.expose_secret(), "the-code");
    }

    #[tokio::test]
    async fn wrong_state_and_errors() {
        let lb = Loopback::bind("http://127.0.0.1:0/cb").await.unwrap();
        let uri = lb.redirect_uri().to_owned();
        assert!(uri.ends_with("/cb"));
        let waiting = tokio::spawn(lb.wait("st-1"));
        // Forged responses (another state, none, an error without ours) are
        // refused and do not end the sign-in.
        for forged in [
            "/cb?code=c&state=other",
            "/cb?code=c",
            "/cb?error=access_denied&state=other",
        ] {
            assert!(
                get(&uri, forged).await.starts_with("HTTP/1.1 400"),
                "{forged}"
            );
        }
        assert!(!waiting.is_finished());
        assert!(
            get(&uri, "/cb?code=real&state=st-1")
                .await
                .starts_with("HTTP/1.1 200")
        );
        assert_eq!(waiting.await.unwrap().unwrap().expose_secret(), "real");

        let lb = Loopback::bind("http://127.0.0.1/cb").await.unwrap();
        let uri = lb.redirect_uri().to_owned();
        let waiting = tokio::spawn(lb.wait("s"));
        let page = get(&uri, "/cb?error=%3Cscript%3E&state=s").await;
        assert!(
            page.contains("&lt;script&gt;") && !page.contains("<script>"),
            "{page}"
        );
        assert!(matches!(waiting.await.unwrap(), Err(Error::Service(_))));
    }

    #[tokio::test]
    async fn only_loopback_http_redirects() {
        for bad in [
            "https://localhost",
            "http://example.com",
            "http://localhost/?x=1",
            "nope",
        ] {
            assert!(
                matches!(Loopback::bind(bad).await, Err(Error::Config(_))),
                "{bad}"
            );
        }
    }
}
