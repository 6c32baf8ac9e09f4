//! [`FakeHttp`]: an [`HttpClient`] that checks each request against a queue of
//! expectations and answers with the reply queued beside it.
//!
//! ```
//! use msal_test_support::fake_http::{Expect, FakeHttp, Reply};
//! let http = FakeHttp::new();
//! http.expect(
//!     Expect::post("https://login.example/tenant/oauth2/v2.0/token").form("grant_type", "refresh_token"),
//!     Reply::json(200, r#"{"access_token":"at","token_type":"Bearer","expires_in":3600}"#),
//! );
//! // ... hand `http.clone()` (an Arc<FakeHttp>) to the code under test as its HttpClient ...
//! # let _ = http.requests();
//! ```
//!
//! A request that does not match the next expectation (or comes when none is
//! left) is answered with a `TransportErrorKind::Other` error naming what was
//! wrong, and the mismatch is kept: [`FakeHttp::assert_consumed`] panics with
//! every mismatch and every expectation left unused, so a test cannot pass
//! while its code under test swallowed the error.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use msal::http::{
    BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError, TransportErrorKind,
};

/// What the next request must look like.
#[derive(Debug, Clone)]
pub struct Expect {
    method: http::Method,
    url: String,
    match_query: bool,
    form: Vec<(String, String)>,
    absent_form: Vec<String>,
    headers: Vec<(String, String)>,
}

impl Expect {
    fn new(method: http::Method, url: &str) -> Self {
        Self {
            method,
            url: url.to_owned(),
            match_query: url.contains('?'),
            form: Vec::new(),
            absent_form: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A GET of `url`. The query is compared only if `url` has one.
    pub fn get(url: &str) -> Self {
        Self::new(http::Method::GET, url)
    }

    /// A POST to `url`. The query is compared only if `url` has one.
    pub fn post(url: &str) -> Self {
        Self::new(http::Method::POST, url)
    }

    /// Any method, to `url`.
    pub fn request(method: http::Method, url: &str) -> Self {
        Self::new(method, url)
    }

    /// The form body must hold `name=value` (other fields are allowed).
    pub fn form(mut self, name: &str, value: &str) -> Self {
        self.form.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The form body must not hold the field `name`.
    pub fn no_form(mut self, name: &str) -> Self {
        self.absent_form.push(name.to_owned());
        self
    }

    /// The request must carry header `name` with `value`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Every way `request` differs from this expectation.
    fn mismatches(&self, request: &RecordedRequest) -> Vec<String> {
        let mut wrong = Vec::new();
        if request.method != self.method {
            wrong.push(format!(
                "method {} instead of {}",
                request.method, self.method
            ));
        }
        let got = if self.match_query {
            request.url.clone()
        } else {
            strip_query(&request.url)
        };
        if got != self.url {
            wrong.push(format!("URL {got} instead of {}", self.url));
        }
        for (name, value) in &self.form {
            match request.form_value(name) {
                Some(v) if v == *value => {}
                Some(v) => wrong.push(format!("form {name}={v:?} instead of {value:?}")),
                None => wrong.push(format!("form field {name} missing")),
            }
        }
        for name in &self.absent_form {
            if request.form_value(name).is_some() {
                wrong.push(format!("form field {name} present"));
            }
        }
        for (name, value) in &self.headers {
            match request.header(name) {
                Some(v) if v == *value => {}
                Some(v) => wrong.push(format!("header {name}: {v:?} instead of {value:?}")),
                None => wrong.push(format!("header {name} missing")),
            }
        }
        wrong
    }
}

fn strip_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

/// A scripted response: status, headers, body.
type Scripted = (u16, Vec<(String, String)>, Vec<u8>);

/// What the fake answers.
#[derive(Debug, Clone)]
pub struct Reply {
    outcome: Result<Scripted, (TransportErrorKind, String)>,
}

impl Reply {
    /// An empty response with `status`.
    pub fn status(status: u16) -> Self {
        Self {
            outcome: Ok((status, Vec::new(), Vec::new())),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, body: &str) -> Self {
        Self::status(status)
            .header("content-type", "application/json")
            .body(body.as_bytes())
    }

    /// A transport failure (no response).
    pub fn fail(kind: TransportErrorKind, message: &str) -> Self {
        Self {
            outcome: Err((kind, message.to_owned())),
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Ok((_, headers, _)) = &mut self.outcome {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Sets the response body.
    pub fn body(mut self, body: &[u8]) -> Self {
        if let Ok((_, _, b)) = &mut self.outcome {
            *b = body.to_vec();
        }
        self
    }

    fn make(&self) -> Result<HttpResponse, TransportError> {
        match &self.outcome {
            Ok((status, headers, body)) => {
                let mut b = http::Response::builder().status(*status);
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                b.body(body.clone())
                    .map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))
            }
            Err((kind, message)) => Err(TransportError::new(*kind, message.clone())),
        }
    }
}

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The method.
    pub method: http::Method,
    /// The full URL, query included.
    pub url: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The value of header `name`, if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The form body's fields.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    /// The value of form field `name`, if present.
    pub fn form_value(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<(Expect, Reply)>,
    seen: Vec<RecordedRequest>,
    failures: Vec<String>,
}

/// A scripted [`HttpClient`]. See the module docs.
#[derive(Default)]
pub struct FakeHttp {
    state: Mutex<State>,
}

impl std::fmt::Debug for FakeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("FakeHttp")
            .field("queued", &s.queue.len())
            .field("seen", &s.seen.len())
            .finish()
    }
}

impl FakeHttp {
    /// An empty fake, shared so that the test keeps a handle.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an expected request and the reply to it.
    pub fn expect(&self, expect: Expect, reply: Reply) -> &Self {
        self.lock().queue.push_back((expect, reply));
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().seen.clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.lock().seen.len()
    }

    /// Panics unless every expectation was met and no request was unexpected.
    #[track_caller]
    pub fn assert_consumed(&self) {
        let s = self.lock();
        let mut problems = s.failures.clone();
        for (e, _) in &s.queue {
            problems.push(format!(
                "expected request never came: {} {}",
                e.method, e.url
            ));
        }
        assert!(
            problems.is_empty(),
            "FakeHttp:\n  {}",
            problems.join("\n  ")
        );
    }

    fn answer(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let recorded = RecordedRequest {
            method: request.method().clone(),
            url: request.uri().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: request.body().clone(),
        };
        let mut s = self.lock();
        s.seen.push(recorded.clone());
        let n = s.seen.len();
        let Some((expect, reply)) = s.queue.pop_front() else {
            let msg = format!(
                "request #{n} was not expected: {} {}",
                recorded.method,
                strip_query(&recorded.url)
            );
            s.failures.push(msg.clone());
            return Err(TransportError::new(
                TransportErrorKind::Other,
                format!("FakeHttp: {msg}"),
            ));
        };
        let wrong = expect.mismatches(&recorded);
        if !wrong.is_empty() {
            let msg = format!(
                "request #{n} ({} {}): {}",
                recorded.method,
                strip_query(&recorded.url),
                wrong.join("; ")
            );
            s.failures.push(msg.clone());
            return Err(TransportError::new(
                TransportErrorKind::Other,
                format!("FakeHttp: {msg}"),
            ));
        }
        reply.make()
    }
}

impl HttpClient for FakeHttp {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let result = self.answer(request);
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(url: &str, body: &str) -> HttpRequest {
        http::Request::post(url)
            .header("x-a", "1")
            .body(body.as_bytes().to_vec())
            .expect("valid")
    }

    #[tokio::test]
    async fn replays_and_checks() {
        let fake = FakeHttp::new();
        fake.expect(
            Expect::post("https://h/token")
                .form("grant_type", "x")
                .header("x-a", "1"),
            Reply::json(200, "{}"),
        );
        let r = fake
            .execute(post("https://h/token?q=1", "grant_type=x&b=2"))
            .await
            .expect("matched");
        assert_eq!(r.status(), 200);
        fake.assert_consumed();
        assert_eq!(fake.requests()[0].form_value("b").as_deref(), Some("2"));
    }

    #[tokio::test]
    async fn mismatches_fail_the_request_and_the_assertion() {
        let fake = FakeHttp::new();
        fake.expect(
            Expect::post("https://h/token").form("grant_type", "y"),
            Reply::status(200),
        );
        assert!(
            fake.execute(post("https://h/token", "grant_type=x"))
                .await
                .is_err()
        );
        assert!(fake.execute(post("https://h/other", "")).await.is_err());
        let failed = std::panic::catch_unwind(|| fake.assert_consumed());
        assert!(failed.is_err());
    }

    #[tokio::test]
    async fn unused_expectations_fail_the_assertion() {
        let fake = FakeHttp::new();
        fake.expect(
            Expect::get("https://h/"),
            Reply::fail(TransportErrorKind::Connect, "refused"),
        );
        assert!(std::panic::catch_unwind(|| fake.assert_consumed()).is_err());
        let e = fake
            .execute(
                http::Request::get("https://h/")
                    .body(Vec::new())
                    .expect("valid"),
            )
            .await;
        assert_eq!(
            e.expect_err("scripted failure").kind,
            TransportErrorKind::Connect
        );
        fake.assert_consumed();
    }
}
