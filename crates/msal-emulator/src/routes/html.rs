//! The HTML pages: sign-in, consent, device code entry, form_post, errors.
//! Element ids follow Entra's sign-in page (`i0116` user name, `i0118`
//! password, `idSIButton9` submit, `idBtn_Accept` / `idBtn_Back` consent)
//! so browser automation written for Entra reads naturally here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ctx::RequestCtx;

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A complete page.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<style>body{{font-family:sans-serif;background:#f2f2f2}}main{{max-width:440px;margin:4em auto;background:#fff;padding:2em;box-shadow:0 2px 6px rgba(0,0,0,.2)}}\
input[type=email],input[type=password],input[type=text]{{width:100%;padding:.5em;margin:.5em 0;box-sizing:border-box}}\
.error{{color:#e81123}}button,input[type=submit]{{padding:.5em 2em;margin-top:1em}}</style></head>\
<body><main><p>msal-emulator</p><h1 id=\"title\">{t}</h1>{body}</main></body></html>",
        t = esc(title)
    );
    let mut r = (status, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error_block(error: Option<&str>) -> String {
    error
        .map(|e| {
            format!(
                "<div id=\"passwordError\" class=\"error\" role=\"alert\">{}</div>",
                esc(e)
            )
        })
        .unwrap_or_default()
}

/// The sign-in form (user name and password).
pub(crate) fn signin_page(
    flow: &str,
    app_name: &str,
    login_hint: Option<&str>,
    error: Option<&str>,
) -> Response {
    let body = format!(
        "<p>to continue to <b id=\"appName\">{app}</b></p>{err}\
<form method=\"post\" action=\"/_signin/login\" id=\"signinForm\">\
<input type=\"hidden\" name=\"flow\" value=\"{flow}\">\
<label for=\"i0116\">Email, phone, or Skype</label>\
<input type=\"email\" id=\"i0116\" name=\"loginfmt\" value=\"{hint}\" autocomplete=\"username\" required>\
<label for=\"i0118\">Password</label>\
<input type=\"password\" id=\"i0118\" name=\"passwd\" autocomplete=\"current-password\">\
<input type=\"submit\" id=\"idSIButton9\" value=\"Sign in\"></form>",
        app = esc(app_name),
        err = error_block(error),
        flow = esc(flow),
        hint = esc(login_hint.unwrap_or("")),
    );
    page(StatusCode::OK, "Sign in", &body)
}

/// The consent step.
pub(crate) fn consent_page(
    flow: &str,
    app_name: &str,
    username: &str,
    permissions: &[String],
) -> Response {
    let items: String = permissions
        .iter()
        .map(|p| format!("<li class=\"permission\">{}</li>", esc(p)))
        .collect();
    let body = format!(
        "<p id=\"consentUser\">{user}</p><p><b>{app}</b> needs permission to:</p><ul id=\"permissions\">{items}</ul>\
<form method=\"post\" action=\"/_signin/consent\" id=\"consentForm\">\
<input type=\"hidden\" name=\"flow\" value=\"{flow}\">\
<button type=\"submit\" name=\"consent\" value=\"cancel\" id=\"idBtn_Back\">Cancel</button> \
<button type=\"submit\" name=\"consent\" value=\"accept\" id=\"idBtn_Accept\">Accept</button></form>",
        user = esc(username),
        app = esc(app_name),
        flow = esc(flow),
    );
    page(StatusCode::OK, "Permissions requested", &body)
}

/// The device code entry page.
pub(crate) fn device_code_page(error: Option<&str>) -> Response {
    let body = format!(
        "<p>Enter the code displayed on your app or device.</p>{err}\
<form method=\"post\" action=\"/devicelogin\" id=\"deviceForm\">\
<input type=\"text\" id=\"otc\" name=\"otc\" autocomplete=\"off\" required>\
<input type=\"submit\" id=\"idSIButton9\" value=\"Next\"></form>",
        err = error_block(error)
    );
    page(StatusCode::OK, "Enter code", &body)
}

/// After a device sign-in.
pub(crate) fn device_done_page(app_name: &str, approved: bool) -> Response {
    let body = if approved {
        format!(
            "<p id=\"deviceDone\">You have signed in to the {} application on your device. You may now close this window.</p>",
            esc(app_name)
        )
    } else {
        "<p id=\"deviceDeclined\">You declined the sign-in. You may now close this window.</p>"
            .to_string()
    };
    page(
        StatusCode::OK,
        if approved {
            "Signed in"
        } else {
            "Sign-in declined"
        },
        &body,
    )
}

/// An error the user sees instead of a redirect (bad client or redirect URI).
pub(crate) fn error_page(
    status: StatusCode,
    ctx: &RequestCtx,
    code: u32,
    message: &str,
) -> Response {
    let body = format!(
        "<p>Sorry, but we're having trouble signing you in.</p>\
<p id=\"errorCode\" class=\"error\">AADSTS{code}: {msg}</p>\
<p>Request Id: <span id=\"traceId\">{trace}</span><br>Correlation Id: {corr}<br>Timestamp: {ts}</p>",
        msg = esc(message),
        trace = esc(&ctx.trace_id),
        corr = esc(&ctx.correlation_id),
        ts = esc(&ctx.timestamp()),
    );
    page(status, "Sign in", &body)
}

/// The `response_mode=form_post` page: posts the fields to the redirect URI.
pub(crate) fn form_post_page(action: &str, fields: &[(&str, String)]) -> Response {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    let body = format!(
        "<form method=\"post\" action=\"{}\" id=\"hiddenform\">{inputs}\
<noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\"></noscript></form>\
<script>document.getElementById('hiddenform').submit();</script>",
        esc(action)
    );
    page(StatusCode::OK, "Working...", &body)
}

/// After logout without a redirect.
pub(crate) fn signed_out_page() -> Response {
    page(
        StatusCode::OK,
        "You signed out of your account",
        "<p id=\"signedOut\">It's a good idea to close all browser windows.</p>",
    )
}

/// `GET /`: what this server is.
pub(crate) async fn home(ctx: RequestCtx) -> Response {
    let base = ctx.base_url();
    let body = format!(
        "<p>A local Microsoft Entra ID emulator for tests.</p><ul>\
<li>OpenID configuration: <code>{base}/common/v2.0/.well-known/openid-configuration</code></li>\
<li>Device login: <a href=\"/devicelogin\">{base}/devicelogin</a></li>\
<li>Admin API: <code>{base}/_admin/counters</code></li></ul>",
        base = esc(&base)
    );
    page(StatusCode::OK, "msal-emulator", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
