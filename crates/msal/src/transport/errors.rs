//! Turning reqwest's errors into [`TransportError`]s a person can act on.
//!
//! reqwest's own `Display` includes the request URL with its query, so it is
//! never used: messages are built from the host, the port, the proxy (shown
//! without credentials) and the innermost cause.

use std::error::Error as StdError;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use super::proxy::shown;
use super::tls::CertificateProblem;
use crate::http::{TransportError, TransportErrorKind};

/// Where a failed request was going.
pub(crate) struct Target<'a> {
    pub(crate) url: &'a Url,
    pub(crate) proxy: Option<&'a Url>,
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
}

impl Target<'_> {
    fn host_port(&self) -> String {
        let host = self.url.host_str().unwrap_or("");
        match self.url.port_or_known_default() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        }
    }
}

/// Every error in `e`'s chain, looking inside `io::Error`s too (their
/// `source()` skips the error they wrap).
fn chain<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(cur) = next {
        out.push(cur);
        next = match cur
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => cur.source(),
        };
        if out.len() > 32 {
            break;
        }
    }
    out
}

/// The TLS certificate problem in the chain, if any.
fn certificate_problem<'a>(
    errors: &[&'a (dyn StdError + 'static)],
) -> Option<&'a CertificateProblem> {
    errors
        .iter()
        .find_map(|e| match e.downcast_ref::<rustls::Error>() {
            Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) => {
                other.0.downcast_ref::<CertificateProblem>()
            }
            _ => None,
        })
}

fn rustls_error<'a>(errors: &[&'a (dyn StdError + 'static)]) -> Option<&'a rustls::Error> {
    errors
        .iter()
        .find_map(|e| e.downcast_ref::<rustls::Error>())
}

/// The innermost message of the chain, which names the actual cause
/// ("Connection refused", "dns error") without any URL.
fn root_cause(errors: &[&(dyn StdError + 'static)]) -> String {
    errors.last().map(|e| e.to_string()).unwrap_or_default()
}

/// Maps a reqwest error for `target` into a transport error.
pub(crate) async fn map_reqwest_error(e: reqwest::Error, target: &Target<'_>) -> TransportError {
    let e = e.without_url();
    let (kind, message) = match classify(&e, target) {
        Ok(done) => done,
        Err(proxy) => {
            let host = target.host_port();
            let status = connect_status(proxy, &host, target.connect_timeout).await;
            let answered = status
                .map(|s| format!("answered {s}"))
                .unwrap_or_else(|| "did not open it".to_owned());
            (
                TransportErrorKind::Proxy,
                format!(
                    "proxy {} refused to tunnel to {host}: it {answered}",
                    shown(proxy)
                ),
            )
        }
    };
    TransportError::new(kind, message).with_source(e)
}

/// The kind and message of `e`; `Err(proxy)` when the proxy refused a tunnel
/// and its status must be asked for.
fn classify<'t>(
    e: &reqwest::Error,
    target: &Target<'t>,
) -> Result<(TransportErrorKind, String), &'t Url> {
    let errors = chain(e);
    let host = target.host_port();
    let via = target
        .proxy
        .map(|p| format!(" through proxy {}", shown(p)))
        .unwrap_or_default();
    let texts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let mentions = |needle: &str| texts.iter().any(|t| t.contains(needle));

    Ok(if let Some(problem) = certificate_problem(&errors) {
        (TransportErrorKind::Tls, format!("{problem}{via}"))
    } else if let Some(tls) = rustls_error(&errors) {
        (
            TransportErrorKind::Tls,
            format!("TLS with {host}{via} failed: {tls}"),
        )
    } else if let (Some(proxy), true) = (target.proxy, mentions("proxy authorization required")) {
        (TransportErrorKind::Proxy, proxy_auth_message(proxy, &host))
    } else if let (Some(proxy), true) = (target.proxy, mentions("tunnel error: unsuccessful")) {
        return Err(proxy);
    } else if e.is_timeout() {
        let (which, limit) = if e.is_connect() {
            ("connect timeout", target.connect_timeout)
        } else {
            ("timeout", target.timeout)
        };
        (
            TransportErrorKind::Timeout,
            format!("no answer from {host}{via} within the {which} of {limit:?}"),
        )
    } else if e.is_connect() {
        let what = match target.proxy {
            Some(p) => format!("could not connect to {host} through proxy {}", shown(p)),
            None => format!("could not connect to {host}"),
        };
        (
            TransportErrorKind::Connect,
            format!("{what}: {}", root_cause(&errors)),
        )
    } else {
        (
            TransportErrorKind::Other,
            format!("request to {host}{via} failed: {}", root_cause(&errors)),
        )
    })
}

/// The message for a 407 from `proxy` on the way to `host`.
pub(crate) fn proxy_auth_message(proxy: &Url, host: &str) -> String {
    let p = shown(proxy);
    if proxy.username().is_empty() && proxy.password().is_none() {
        format!(
            "proxy {p} wants credentials (HTTP 407 Proxy Authentication Required) to reach {host}; \
             put them in the proxy URL (http://user:password@host:port)"
        )
    } else {
        format!(
            "proxy {p} wants credentials (HTTP 407 Proxy Authentication Required) to reach {host} and refused \
             the ones in the proxy URL; check the user name and password (percent-encode special characters)"
        )
    }
}

/// Asks the proxy once more for a tunnel to learn its status line, which
/// hyper does not keep. Only the status line is read; the answer is bounded
/// in size and time. `None` if the proxy cannot be asked (TLS to the proxy,
/// unreachable, garbage).
async fn connect_status(proxy: &Url, host_port: &str, within: Duration) -> Option<String> {
    if proxy.scheme() != "http" {
        return None;
    }
    let addr = format!("{}:{}", proxy.host_str()?, proxy.port_or_known_default()?);
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut request = format!("CONNECT {host_port} HTTP/1.1\r\nHost: {host_port}\r\n");
        if let Some(auth) = basic_auth(proxy) {
            request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut buf = vec![0u8; 512];
        let mut len = 0;
        while len < buf.len() {
            let n = stream.read(&mut buf[len..]).await.ok()?;
            if n == 0 {
                break;
            }
            len += n;
            if buf[..len].contains(&b'\n') {
                break;
            }
        }
        let text = String::from_utf8_lossy(&buf[..len]);
        let line = text.lines().next()?.trim();
        let mut parts = line.splitn(3, ' ');
        let version = parts.next()?;
        let code: u16 = parts.next()?.parse().ok()?;
        if !version.starts_with("HTTP/") {
            return None;
        }
        let reason: String = parts
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(80)
            .collect();
        Some(format!("HTTP {code} {reason}").trim_end().to_owned())
    };
    tokio::time::timeout(within, ask).await.ok().flatten()
}

/// The `Proxy-Authorization` value for credentials in the proxy URL.
fn basic_auth(proxy: &Url) -> Option<String> {
    use base64::Engine as _;
    if proxy.username().is_empty() && proxy.password().is_none() {
        return None;
    }
    let user = percent_decode(proxy.username())?;
    let password = percent_decode(proxy.password().unwrap_or(""))?;
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    ))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_decodes_percent_escapes() {
        let u = Url::parse("http://al%40ice:p%3Ass@proxy:3128").expect("valid");
        // "al@ice:p:ss"
        assert_eq!(basic_auth(&u).as_deref(), Some("Basic YWxAaWNlOnA6c3M="));
        assert_eq!(
            basic_auth(&Url::parse("http://proxy:3128").expect("valid")),
            None
        );
        assert_eq!(percent_decode("a%2"), Some("a%2".to_owned()));
    }
}
