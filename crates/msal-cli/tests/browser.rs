//! `msal login` with the system browser: `$BROWSER` is a script that hands
//! the URL to the test, which signs in on the emulator's pages the way a
//! browser would and follows the redirect to the CLI's loopback listener.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use msal_emulator::defaults;
use support::{Harness, run, run_device_code};
use url::Url;

/// The value of `<input ... name="NAME" value="...">`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

#[tokio::test(flavor = "multi_thread")]
async fn login_with_the_system_browser() {
    let h = Harness::start().await;
    let opened = h.dir.path().join("opened-url");
    let script = h.dir.path().join("browser.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > '{}.tmp' && mv '{0}.tmp' '{0}'\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut cmd = h.msal();
    cmd.env("BROWSER", &script)
        .args(["login", "--browser", "--json"]);
    let cli = tokio::spawn(run(cmd));

    // Wait for the CLI to "open the browser" (an external process: polled, bounded).
    let mut url = None;
    for _ in 0..600 {
        if let Ok(u) = std::fs::read_to_string(&opened) {
            url = Some(u);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = Url::parse(&url.expect("the CLI opened a browser")).unwrap();
    assert!(url.as_str().starts_with(&format!(
        "{}/oauth2/v2.0/authorize",
        h.emu.authority("organizations")
    )));
    assert_eq!(
        url.query_pairs()
            .find(|(k, _)| k == "code_challenge_method")
            .unwrap()
            .1,
        "S256"
    );

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .no_proxy()
        .build()
        .unwrap();
    let page = browser
        .get(url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let flow = input_value(&page, "flow").expect("a sign-in form");
    let r = browser
        .post(format!("{}/_signin/login", h.emu.base_url()))
        .form(&[
            ("flow", flow.as_str()),
            ("loginfmt", defaults::USER),
            ("passwd", defaults::USER_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    // response_mode=form_post: a page whose form the browser posts to the
    // CLI's loopback listener; the code is in the body, not a URL.
    assert_eq!(r.status().as_u16(), 200, "signed in, a form for the app");
    let page = r.text().await.unwrap();
    assert!(page.contains("method=\"post\""), "{page}");
    let at = page.find("action=\"").unwrap() + 8;
    let back = page[at..at + page[at..].find('"').unwrap()].replace("&amp;", "&");
    assert!(back.starts_with("http://localhost:"), "{back}");
    assert!(!back.contains("code="), "{back}");
    let fields: Vec<(&str, String)> = ["code", "state", "client_info", "session_state"]
        .into_iter()
        .filter_map(|k| input_value(&page, k).map(|v| (k, v)))
        .collect();
    assert!(fields.iter().any(|(k, _)| *k == "code"), "{page}");
    let done = browser.post(&back).form(&fields).send().await.unwrap();
    assert!(done.status().is_success());

    let out = cli.await.unwrap();
    let v = out.json();
    assert_eq!(v["signed_in"]["account"]["username"], defaults::USER);
    assert_eq!(v["signed_in"]["from_cache"], false);
    assert!(
        v["signed_in"].get("access_token").is_none(),
        "login does not print the token"
    );
    assert!(out.stderr.contains("Opened the browser"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_browser_login_falls_back_to_the_device_code() {
    let h = Harness::start().await;
    let mut cmd = h.msal();
    cmd.env("BROWSER", h.dir.path().join("no-such-browser"))
        .arg("login");
    let r = run_device_code(cmd, h.admin(), defaults::USER).await;
    assert!(
        r.ok().contains("Signed in as ada@contoso.onmicrosoft.com"),
        "{r:#?}"
    );
    assert!(r.stderr.contains("No browser could be started"), "{r:#?}");
    assert!(r.stderr.contains("enter the code"), "{r:#?}");

    // Asked for explicitly, a browser that cannot start is an error.
    let mut cmd = h.msal();
    cmd.env("BROWSER", h.dir.path().join("no-such-browser"))
        .args(["login", "--browser"]);
    let r = run(cmd).await;
    let line = r.fails(1);
    assert!(
        line.contains("could not open a browser") && line.contains("--device-code"),
        "{line}"
    );
}
