//! Small servers of a test's own on 127.0.0.1: a scripted HTTP/1.1 server
//! (plain or TLS) and an HTTP proxy (CONNECT tunnels and absolute-form
//! forwarding) that records where it was asked to go.
//!
//! The proxy sends every target to 127.0.0.1 on the requested port, so a test
//! can ask for `https://login.test:PORT/`: the name only resolves through the
//! proxy, which proves the request went through it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as a test server saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// The method.
    pub method: String,
    /// The request target as sent (origin form `/path?q`, or absolute form through a proxy).
    pub target: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl SeenRequest {
    /// The value of header `name`, if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a [`TestServer`] answers.
#[derive(Debug, Clone)]
pub struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    drip: Option<Duration>,
    chunked_zeros: Option<usize>,
}

impl Canned {
    /// An empty answer with `status`.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            drip: None,
            chunked_zeros: None,
        }
    }

    /// A JSON answer.
    pub fn json(status: u16, body: &str) -> Self {
        Self::status(status)
            .header("content-type", "application/json")
            .body(body.as_bytes())
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body (sent with its Content-Length).
    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    /// Sends the body one byte per `every` (real time), to trip timeouts.
    pub fn drip(mut self, every: Duration) -> Self {
        self.drip = Some(every);
        self
    }

    /// Sends `n` zero bytes, chunked, without a Content-Length.
    pub fn chunked_zeros(mut self, n: usize) -> Self {
        self.chunked_zeros = Some(n);
        self
    }
}

type Handler = Arc<dyn Fn(&SeenRequest) -> Canned + Send + Sync>;

/// A scripted HTTP/1.1 server on 127.0.0.1; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    scheme: &'static str,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// A plain HTTP server answering every request with `handler`'s reply.
    pub async fn http(handler: impl Fn(&SeenRequest) -> Canned + Send + Sync + 'static) -> Self {
        Self::start(Arc::new(handler), None).await
    }

    /// An HTTPS server with `tls` (see [`crate::test_ca::TestCa::server_config`]).
    pub async fn https(
        tls: Arc<rustls::ServerConfig>,
        handler: impl Fn(&SeenRequest) -> Canned + Send + Sync + 'static,
    ) -> Self {
        Self::start(
            Arc::new(handler),
            Some(tokio_rustls::TlsAcceptor::from(tls)),
        )
        .await
    }

    async fn start(handler: Handler, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let record = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, record, tls) = (handler.clone(), record.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                serve(s, handler, record).await;
                            }
                        }
                        None => serve(stream, handler, record).await,
                    }
                });
            }
        });
        Self {
            addr,
            scheme,
            seen,
            task,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` (or `https://`).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Reads one request head (and its Content-Length body); `None` at EOF.
async fn read_request<S: AsyncRead + Unpin>(
    s: &mut S,
    pending: &mut Vec<u8>,
) -> Option<SeenRequest> {
    let head_end = loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.ok()?;
        if n == 0 || pending.len() > 1 << 20 {
            return None;
        }
        pending.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
    pending.drain(..head_end);
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while pending.len() < len {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&buf[..n]);
    }
    let body = pending.drain(..len).collect();
    Some(SeenRequest {
        method,
        target,
        headers,
        body,
    })
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    handler: Handler,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
) {
    let mut pending = Vec::new();
    while let Some(request) = read_request(&mut s, &mut pending).await {
        let reply = handler(&request);
        seen.lock().unwrap_or_else(|p| p.into_inner()).push(request);
        let mut head = format!("HTTP/1.1 {} Test\r\n", reply.status);
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let keep_going = reply.drip.is_none() && reply.chunked_zeros.is_none();
        match reply.chunked_zeros {
            Some(_) => head.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n"),
            None => head.push_str(&format!("content-length: {}\r\n\r\n", reply.body.len())),
        }
        if s.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let written = if let Some(n) = reply.chunked_zeros {
            write_chunked_zeros(&mut s, n).await
        } else if let Some(every) = reply.drip {
            let mut ok = true;
            for b in &reply.body {
                tokio::time::sleep(every).await;
                ok = s.write_all(&[*b]).await.is_ok() && s.flush().await.is_ok();
                if !ok {
                    break;
                }
            }
            ok
        } else {
            s.write_all(&reply.body).await.is_ok()
        };
        let _ = s.flush().await;
        if !written || !keep_going {
            let _ = s.shutdown().await;
            return;
        }
    }
}

async fn write_chunked_zeros<S: AsyncWrite + Unpin>(s: &mut S, mut n: usize) -> bool {
    let chunk = vec![0u8; 64 * 1024];
    while n > 0 {
        let k = n.min(chunk.len());
        let ok = s.write_all(format!("{k:x}\r\n").as_bytes()).await.is_ok()
            && s.write_all(&chunk[..k]).await.is_ok()
            && s.write_all(b"\r\n").await.is_ok();
        if !ok {
            return false;
        }
        n -= k;
    }
    s.write_all(b"0\r\n\r\n").await.is_ok()
}

/// How a [`TestProxy`] behaves.
#[derive(Debug, Clone, Default)]
pub struct ProxyBehaviour {
    /// Answer 407 unless `Proxy-Authorization` is exactly `Basic base64(user:password)` of this pair.
    pub require_credentials: Option<(String, String)>,
    /// Refuse every request with this status (e.g. 403).
    pub refuse_with: Option<u16>,
    /// Hosts whose CONNECT tunnels are inspected instead of passed through.
    pub intercept: Vec<Intercept>,
}

/// TLS inspection of one host, as a corporate proxy does it: the proxy
/// answers the client's TLS handshake itself with `server` (a certificate
/// for `host` from a root the client must trust), then opens its own
/// connection to `upstream` and relays the decrypted bytes.
#[derive(Debug, Clone)]
pub struct Intercept {
    /// The host name in the CONNECT target (`login.microsoftonline.com`).
    pub host: String,
    /// What the proxy presents to the client.
    pub server: Arc<rustls::ServerConfig>,
    /// Where the traffic really goes.
    pub upstream: SocketAddr,
    /// TLS to `upstream`: the client configuration (trusting the upstream's
    /// root) and the name to check its certificate against; `None` = plain.
    pub upstream_tls: Option<(Arc<rustls::ClientConfig>, String)>,
}

impl Intercept {
    /// Inspects `host` with a certificate from `ca` and relays to `upstream`
    /// over TLS, trusting `upstream_root_pem` for the name `upstream_name`.
    pub fn tls(
        host: &str,
        ca: &crate::test_ca::TestCa,
        upstream: SocketAddr,
        upstream_root_pem: &str,
        upstream_name: &str,
    ) -> Self {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(upstream_root_pem.as_bytes()) {
            roots
                .add(cert.expect("upstream root PEM"))
                .expect("upstream root");
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            host: host.to_owned(),
            server: ca.server_config(&[host]),
            upstream,
            upstream_tls: Some((Arc::new(client), upstream_name.to_owned())),
        }
    }
}

/// Answers 200 to the CONNECT, terminates the client's TLS with the
/// interception certificate and relays to the upstream.
async fn inspect(mut client: TcpStream, i: &Intercept) {
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let Ok(mut inner) = tokio_rustls::TlsAcceptor::from(i.server.clone())
        .accept(client)
        .await
    else {
        return;
    };
    let Ok(tcp) = TcpStream::connect(i.upstream).await else {
        return;
    };
    match &i.upstream_tls {
        None => {
            let mut tcp = tcp;
            let _ = tokio::io::copy_bidirectional(&mut inner, &mut tcp).await;
        }
        Some((config, name)) => {
            let Ok(server_name) = rustls::pki_types::ServerName::try_from(name.clone()) else {
                return;
            };
            let Ok(mut upstream) = tokio_rustls::TlsConnector::from(config.clone())
                .connect(server_name, tcp)
                .await
            else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut inner, &mut upstream).await;
        }
    }
}

/// What a [`TestProxy`] was asked.
#[derive(Debug, Clone)]
pub struct ProxySeen {
    /// `CONNECT` or the forwarded method.
    pub method: String,
    /// `host:port` for CONNECT, the absolute URL otherwise.
    pub target: String,
    /// The `Proxy-Authorization` header, if sent.
    pub proxy_authorization: Option<String>,
}

/// An HTTP proxy on 127.0.0.1 that sends every target to 127.0.0.1 on the
/// requested port; stops when dropped.
pub struct TestProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<ProxySeen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestProxy {
    /// Starts a proxy.
    pub async fn start(behaviour: ProxyBehaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let behaviour = Arc::new(behaviour);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(proxy_one(stream, behaviour.clone(), record.clone()));
            }
        });
        Self { addr, seen, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What it was asked so far.
    pub fn seen(&self) -> Vec<ProxySeen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn proxy_one(
    mut client: TcpStream,
    behaviour: Arc<ProxyBehaviour>,
    seen: Arc<Mutex<Vec<ProxySeen>>>,
) {
    let mut pending = Vec::new();
    let Some(request) = read_request(&mut client, &mut pending).await else {
        return;
    };
    let auth = request.header("proxy-authorization").map(str::to_owned);
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(ProxySeen {
            method: request.method.clone(),
            target: request.target.clone(),
            proxy_authorization: auth.clone(),
        });
    if let Some(status) = behaviour.refuse_with {
        let _ = client
            .write_all(
                format!("HTTP/1.1 {status} Refused By Test Proxy\r\ncontent-length: 0\r\n\r\n")
                    .as_bytes(),
            )
            .await;
        return;
    }
    let wanted = behaviour
        .require_credentials
        .as_ref()
        .map(|(user, password)| basic(user, password));
    if wanted.is_some() && auth != wanted {
        let _ = client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm=\"test\"\r\ncontent-length: 0\r\n\r\n",
            )
            .await;
        return;
    }
    let port_of = |authority: &str| {
        authority
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
    };
    if request.method == "CONNECT" {
        let host = request
            .target
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(&request.target);
        if let Some(i) = behaviour
            .intercept
            .iter()
            .find(|i| i.host.eq_ignore_ascii_case(host))
        {
            // Clients wait for the 200 before their ClientHello; anything
            // sent early would be lost, so such a client is not served.
            if pending.is_empty() {
                inspect(client, i).await;
            }
            return;
        }
        let Some(port) = port_of(&request.target) else {
            return;
        };
        let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", port)).await else {
            let _ = client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await;
            return;
        };
        if client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        if !pending.is_empty() && upstream.write_all(&pending).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }
    // Absolute form: http://host:port/path?q
    let Some(rest) = request.target.strip_prefix("http://") else {
        return;
    };
    let (authority, path) = rest
        .split_once('/')
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap_or((rest, "/".to_owned()));
    let port = port_of(authority).unwrap_or(80);
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let mut head = format!("{} {path} HTTP/1.1\r\n", request.method);
    for (k, v) in &request.headers {
        if k != "proxy-authorization" && k != "proxy-connection" {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    if upstream.write_all(head.as_bytes()).await.is_err()
        || upstream.write_all(&request.body).await.is_err()
    {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
