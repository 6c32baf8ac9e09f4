//! The loopback redirect listener of the interactive flow: a tiny HTTP
//! server on 127.0.0.1 that waits for the browser to come back with the
//! authorization code, answers with a small page, and closes.
//!
//! The response comes either as a `GET` with the code in the query
//! (`response_mode=query`) or as a `POST` of an
//! `application/x-www-form-urlencoded` body (`response_mode=form_post`, the
//! default), where the code never appears in a URL. Both are taken in either
//! mode (a provider may ignore `response_mode`); what binds a response to
//! the sign-in is its `state`.

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
/// The longest `form_post` body taken (a code, a state, a client_info and
/// a session state fit many times over).
const MAX_BODY: usize = 64 * 1024;
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
    let Ok(Some(request)) = tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await
    else {
        return;
    };
    let (req_path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    if req_path != path {
        let _ = respond(&mut stream, 404, "<!doctype html><title>Not found</title>").await;
        return;
    }
    let fields = match request.body {
        // form_post: the response is the body; the query is ignored.
        Some(Ok(body)) => body,
        Some(Err(why)) => {
            let _ = respond(&mut stream, 400, &page("Sign-in failed", why)).await;
            return;
        }
        None => query.to_owned(),
    };
    let outcome = match parse_redirect(&fields) {
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

/// A request to the listener.
struct Request {
    /// The request target (path and query).
    target: String,
    /// `None` for a `GET`; for a `POST`, its form body or why it was refused.
    body: Option<std::result::Result<String, &'static str>>,
}

/// Reads a `GET` (its head) or a form `POST` (head and body). Anything else,
/// or a connection that ends early, is `None` and dropped.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return None;
    };
    let target = target.to_owned();
    match method {
        "GET" => return Some(Request { target, body: None }),
        "POST" => {}
        _ => return None,
    }
    let mut length = None;
    let mut form = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("content-type") {
            form = value.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Some(Request {
                target,
                body: Some(Err("The response must have a Content-Length.")),
            });
        }
    }
    let refused = |why| {
        Some(Request {
            target: target.clone(),
            body: Some(Err(why)),
        })
    };
    if !form {
        return refused("The response must be a form (application/x-www-form-urlencoded).");
    }
    let Some(length) = length.filter(|l| *l <= MAX_BODY) else {
        return refused("The response has no length or is too long.");
    };
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    match String::from_utf8(body) {
        Ok(text) => Some(Request {
            target,
            body: Some(Ok(text)),
        }),
        Err(_) => refused("The response is not UTF-8."),
    }
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

    async fn post(uri: &str, target: &str, content_type: &str, body: &str) -> String {
        let u = Url::parse(uri).unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", u.port().unwrap()))
            .await
            .unwrap();
        let request = format!(
            "POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // Head and body in separate writes: the body may come later.
        s.write_all(request.as_bytes()).await.unwrap();
        s.flush().await.unwrap();
        s.write_all(body.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn form_post_code_bound_to_the_state() {
        let lb = Loopback::bind("http://localhost/cb").await.unwrap();
        let uri = lb.redirect_uri().to_owned();
        let waiting = tokio::spawn(lb.wait("st-9"));
        const FORM: &str = "application/x-www-form-urlencoded";
        // Forged posts, posts that are not forms, and the state in the query
        // instead of the body: refused, the sign-in goes on.
        for (target, ct, body) in [
            ("/cb", FORM, "code=c&state=other"),
            ("/cb", FORM, "code=c"),
            ("/cb?state=st-9", FORM, "code=c"),
            (
                "/cb",
                "application/json",
                "{\"code\":\"c\",\"state\":\"st-9\"}",
            ),
            ("/cb", "text/plain", "code=c&state=st-9"),
        ] {
            let page = post(&uri, target, ct, body).await;
            assert!(
                page.starts_with("HTTP/1.1 400"),
                "{target} {ct} {body}: {page}"
            );
        }
        assert!(
            post(&uri, "/other", FORM, "code=c&state=st-9")
                .await
                .starts_with("HTTP/1.1 404")
        );
        assert!(!waiting.is_finished());
        let page = post(
            &uri,
            "/cb",
            "application/x-www-form-urlencoded; charset=utf-8",
            "code=posted%2Bcode&state=st-9&session_state=s",
        )
        .await;
        assert!(
            page.starts_with("HTTP/1.1 200") && page.contains("Authentication complete"),
            "{page}"
        );
        assert_eq!(
            waiting.await.unwrap().unwrap().expose_secret(),
            "posted+code"
        );
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
