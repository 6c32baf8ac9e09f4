//! The `msal` commands as processes against an emulator: the sign-in loop,
//! exit codes, JSON output, environment variables and bad input.

mod support;

use msal_emulator::defaults;
use support::{Harness, msal_command, run, secrets_in};

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_token_accounts_and_sign_out() {
    let h = Harness::start().await;

    // Sign in with the device code: the message goes to stderr, who signed in to stdout.
    let login = h.login(defaults::USER, &[]).await;
    assert!(
        login
            .ok()
            .contains("Signed in as ada@contoso.onmicrosoft.com"),
        "{login:#?}"
    );
    assert!(
        login.stderr.contains("/devicelogin and enter the code"),
        "{login:#?}"
    );
    let secrets = secrets_in(&h.cache());
    assert_eq!(
        secrets.len(),
        3,
        "an access, a refresh and an ID token were cached"
    );
    for s in &secrets {
        assert!(!login.stdout.contains(s.as_str()) && !login.stderr.contains(s.as_str()));
    }

    // The account is listed.
    let accounts = h.run(&["accounts", "--json"]).await.json();
    assert_eq!(accounts.as_array().map(Vec::len), Some(1), "{accounts}");
    assert_eq!(accounts[0]["username"], defaults::USER);
    assert_eq!(accounts[0]["home_tenant_id"], defaults::TENANT_ID);
    assert_eq!(
        accounts[0]["home_account_id"],
        format!("{}.{}", defaults::USER_OBJECT_ID, defaults::TENANT_ID)
    );
    let text = h.run(&["accounts"]).await;
    assert_eq!(
        text.ok().trim(),
        format!(
            "ada@contoso.onmicrosoft.com  home tenant {}  at 127.0.0.1",
            defaults::TENANT_ID
        )
    );

    // A token, silently from the cache: no request reaches the emulator.
    h.admin().reset_counters();
    let token = h.run(&["token", "--json"]).await.json();
    assert_eq!(h.admin().total_requests(), 0);
    assert_eq!(token["from_cache"], true);
    assert_eq!(token["account"]["username"], defaults::USER);
    assert!(
        token["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "User.Read"),
        "{token}"
    );
    let expires_on = token["expires_on"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        expires_on > now + 3000 && expires_on <= now + 3600,
        "{token}"
    );
    let at = token["access_token"].as_str().unwrap();
    assert!(secrets.iter().any(|s| s == at), "the cached access token");

    // Plain output is the token alone, for `$(msal token)`.
    let plain = h.run(&["token"]).await;
    assert_eq!(plain.ok().trim(), at);
    assert_eq!(at.split('.').count(), 3, "a JWT");

    // --force-refresh redeems the refresh token: one request, a new token.
    let fresh = h
        .run(&["token", "--force-refresh", "--output", "json"])
        .await
        .json();
    assert_eq!(fresh["from_cache"], false);
    assert_ne!(fresh["access_token"], at);
    assert_eq!(h.admin().token_requests_with_grant("refresh_token"), 1);

    // Sign out of everything: the session cookie caveat and the sign-out page.
    let logout = h.run(&["logout", "--all"]).await;
    let out = logout.ok();
    assert!(
        out.contains("Signed out ada@contoso.onmicrosoft.com"),
        "{out}"
    );
    assert!(out.contains("session cookie is not removed"), "{out}");
    assert!(
        out.contains(&format!(
            "{}/oauth2/v2.0/logout",
            h.emu.authority("organizations")
        )),
        "{out}"
    );

    // Nothing left: no account, and `token` asks for a sign-in (exit code 2).
    assert_eq!(
        h.run(&["accounts", "--json"]).await.json(),
        serde_json::json!([])
    );
    let none = h.run(&["token"]).await;
    assert!(none.fails(2).contains("msal login"), "{none:#?}");
    let doc = std::fs::read_to_string(h.cache()).unwrap();
    assert!(!doc.contains(at), "the access token is gone from the file");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_refresh_token_means_sign_in_again() {
    let h = Harness::start().await;
    h.login(defaults::USER, &[]).await.ok();
    assert_eq!(h.admin().revoke_refresh_tokens(defaults::USER).unwrap(), 1);
    let r = h.run(&["token", "--force-refresh"]).await;
    let line = r.fails(2);
    assert!(
        line.contains("sign-in required") && line.contains("msal login"),
        "{line}"
    );
    assert!(r.stdout.is_empty(), "no token printed");
}

#[tokio::test(flavor = "multi_thread")]
async fn several_accounts_are_chosen_with_account() {
    let h = Harness::start().await;
    h.login(defaults::USER, &[]).await.ok();
    h.login(defaults::SECOND_USER, &[]).await.ok();

    let r = h.run(&["token"]).await;
    let line = r.fails(1);
    assert!(
        line.contains("--account")
            && line.contains(defaults::USER)
            && line.contains(defaults::SECOND_USER),
        "{line}"
    );

    let bob = h
        .run(&[
            "token",
            "--json",
            "--account",
            "BOB@contoso.onmicrosoft.com",
        ])
        .await
        .json();
    assert_eq!(bob["account"]["username"], defaults::SECOND_USER);
    let unknown = h
        .run(&["token", "--account", "eve@contoso.onmicrosoft.com"])
        .await;
    assert!(
        unknown
            .fails(2)
            .contains("eve@contoso.onmicrosoft.com is not signed in")
    );

    let out = h
        .run(&["logout", "--account", defaults::SECOND_USER, "--json"])
        .await
        .json();
    assert_eq!(out["removed"][0]["username"], defaults::SECOND_USER);
    assert_eq!(out["browser_session_removed"], false);
    let left = h.run(&["accounts", "--json"]).await.json();
    assert_eq!(left.as_array().map(Vec::len), Some(1));
    assert_eq!(left[0]["username"], defaults::USER);
    let gone = h.run(&["logout", "--account", defaults::SECOND_USER]).await;
    assert!(gone.fails(1).contains("is not signed in"));
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_inspect_counts_and_never_prints_a_secret() {
    let h = Harness::start().await;
    let empty = h.run(&["cache", "inspect", "--json"]).await.json();
    assert_eq!(empty["exists"], false);
    assert_eq!(empty["sections"]["AccessToken"], 0);

    h.login(defaults::USER, &[]).await.ok();
    h.login(defaults::SECOND_USER, &[]).await.ok();
    let secrets = secrets_in(&h.cache());
    assert_eq!(secrets.len(), 6);

    let j = h.run(&["cache", "inspect", "--json"]).await;
    let v = j.json();
    assert_eq!(v["exists"], true);
    assert_eq!(v["encrypted"], false);
    assert_eq!(v["size_bytes"], std::fs::metadata(h.cache()).unwrap().len());
    for (section, n) in [
        ("AccessToken", 2),
        ("RefreshToken", 2),
        ("IdToken", 2),
        ("Account", 2),
        ("AppMetadata", 1),
    ] {
        assert_eq!(v["sections"][section], n, "{section}: {v}");
    }
    assert_eq!(v["expired_access_tokens"], 0);
    let host = "127.0.0.1";
    assert_eq!(v["environments"][host]["access_tokens"], 2, "{v}");
    let accounts = v["accounts"].as_object().unwrap();
    assert_eq!(accounts.len(), 2);
    assert!(
        accounts
            .values()
            .all(|a| a["refresh_tokens"] == 1 && a["access_tokens"] == 1)
    );
    assert_eq!(v["clients"][defaults::CLI_APP_ID]["refresh_tokens"], 2);

    let t = h.run(&["cache", "inspect"]).await;
    let text = t.ok();
    assert!(
        text.contains("plain JSON") && text.contains("AccessToken 2"),
        "{text}"
    );
    assert!(
        text.contains(defaults::USER) && text.contains(defaults::SECOND_USER),
        "{text}"
    );
    for s in &secrets {
        for out in [&j.stdout, &j.stderr, &t.stdout, &t.stderr] {
            assert!(!out.contains(s.as_str()), "a secret was printed");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_cache_file_is_one_clear_line() {
    let h = Harness::start().await;
    std::fs::write(
        h.cache(),
        b"{\"AccessToken\": {\"k\": {\"secret\": \"cut-off-",
    )
    .unwrap();
    for args in [
        &["accounts"][..],
        &["token"],
        &["cache", "inspect"],
        &["logout", "--all"],
    ] {
        let r = h.run(args).await;
        let line = r.fails(1);
        assert!(
            line.contains(&h.cache().display().to_string()),
            "{args:?}: {line}"
        );
        assert!(line.contains("move the file aside"), "{args:?}: {line}");
        assert!(!line.contains("cut-off"), "the content is not echoed");
    }
    let still = std::fs::read(h.cache()).unwrap();
    assert!(still.ends_with(b"cut-off-"), "the file was left alone");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_arguments_are_one_line_and_exit_code_1() {
    let h = Harness::start().await;
    for (args, expect) in [
        (&["token", "--bogus"][..], "--bogus"),
        (
            &["login", "--device-code", "--browser"],
            "cannot be used with",
        ),
        (&["--output", "yaml", "accounts"], "yaml"),
        (
            &["logout", "--all", "--account", "x"],
            "cannot be used with",
        ),
        (&["frobnicate"], "frobnicate"),
        (&["app-token"], "--scopes"),
    ] {
        let r = h.run(args).await;
        assert!(r.fails(1).contains(expect), "{args:?}: {r:#?}");
    }
    let help = h.run(&["--help"]).await;
    assert!(help.ok().contains("quickstart"));
    let mut no_command = msal_command(h.dir.path());
    no_command.arg("--plaintext");
    let r = run(no_command).await;
    assert_eq!(r.code, 1, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_authority_is_one_clear_line() {
    let h = Harness::start().await;
    // Nothing listens on port 1.
    let mut c = msal_command(h.dir.path());
    c.args([
        "--authority",
        "http://127.0.0.1:1/organizations",
        "--plaintext",
        "--cache",
    ])
    .arg(h.cache())
    .args(["login", "--device-code"]);
    let r = run(c).await;
    let line = r.fails(1);
    assert!(
        line.contains("cannot reach the identity provider") && line.contains("127.0.0.1:1"),
        "{line}"
    );

    let mut bad = msal_command(h.dir.path());
    bad.args(["--authority", "not a url", "--plaintext", "--cache"])
        .arg(h.cache())
        .arg("accounts");
    assert!(run(bad).await.fails(1).contains("invalid configuration"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_global_option_comes_from_its_variable() {
    let h = Harness::start().await;
    h.login(defaults::USER, &[]).await.ok();
    let mut c = msal_command(h.dir.path());
    c.env("MSAL_AUTHORITY", h.emu.authority("organizations"))
        .env("MSAL_CLIENT_ID", defaults::CLI_APP_ID)
        .env("MSAL_CACHE", h.cache())
        .env("MSAL_PLAINTEXT", "true")
        .env("MSAL_OUTPUT", "json")
        .arg("accounts");
    let v = run(c).await.json();
    assert_eq!(v[0]["username"], defaults::USER);

    // Another client id sees no account of the CLI app (and tokens are per client).
    let mut other = msal_command(h.dir.path());
    other
        .env("MSAL_AUTHORITY", h.emu.authority("organizations"))
        .env("MSAL_CLIENT_ID", defaults::DESKTOP_APP_ID)
        .env("MSAL_CACHE", h.cache())
        .env("MSAL_PLAINTEXT", "1")
        .args(["token", "--json"]);
    let r = run(other).await;
    assert!(r.fails(2).contains("sign-in required"), "{r:#?}");

    // MSAL_CA_FILE and MSAL_PROXY are read too: a missing CA file is named.
    let mut ca = msal_command(h.dir.path());
    ca.env("MSAL_CA_FILE", h.dir.path().join("nope.pem"))
        .args(["--plaintext", "--cache"])
        .arg(h.cache())
        .arg("accounts");
    assert!(run(ca).await.fails(1).contains("nope.pem"));
    let mut proxy = msal_command(h.dir.path());
    proxy
        .env("MSAL_PROXY", "http://user:hunter2@[::1")
        .args(["--plaintext", "--cache"])
        .arg(h.cache())
        .arg("accounts");
    let r = run(proxy).await;
    let line = r.fails(1);
    assert!(
        !line.contains("hunter2"),
        "the proxy password is never shown: {line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_cache_lives_in_the_users_data_directory() {
    let h = Harness::start().await;
    let mut c = msal_command(h.dir.path());
    c.args(["--plaintext", "cache", "inspect", "--json"]);
    let v = run(c).await.json();
    let expected = h.dir.path().join("data").join("msal").join("cache.json");
    assert_eq!(v["path"], expected.display().to_string());
    let mut c = msal_command(h.dir.path());
    c.args(["cache", "inspect", "--json"]);
    // Encrypted by default, under another name (no file yet: no key is needed to say so).
    let v = run(c).await.json();
    assert_eq!(
        v["path"],
        h.dir
            .path()
            .join("data")
            .join("msal")
            .join("cache.bin")
            .display()
            .to_string()
    );
    assert_eq!(v["exists"], false);

    // A sign-in through the default path creates the file, private to the user.
    let mut login = msal_command(h.dir.path());
    login
        .arg("--authority")
        .arg(h.emu.authority("organizations"))
        .args([
            "--client-id",
            defaults::CLI_APP_ID,
            "--plaintext",
            "login",
            "--device-code",
        ]);
    support::run_device_code(login, h.admin(), defaults::USER)
        .await
        .ok();
    let meta = std::fs::metadata(&expected).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_file_read_as_encrypted_says_to_pass_plaintext() {
    let h = Harness::start().await;
    h.login(defaults::USER, &[]).await.ok();
    let mut c = msal_command(h.dir.path());
    c.arg("--cache").arg(h.cache()).arg("accounts");
    let r = run(c).await;
    let line = r.fails(1);
    assert!(
        line.contains("plain text") && line.contains("pass --plaintext"),
        "{line}"
    );
    assert!(
        std::fs::read_to_string(h.cache())
            .unwrap()
            .contains("\"AccessToken\""),
        "left as it was"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_inspect_escapes_control_characters_from_the_file() {
    let h = Harness::start().await;
    // A hostile cache file: ANSI sequences (colour, window title, C1 CSI)
    // and a bell in the values inspect shows.
    let username = "ada\u{1b}[31m@contoso.com\u{7}";
    let hai = "uid.utid\u{1b}]0;pwned\u{7}";
    let env = "login.microsoftonline.com\u{1b}[31m";
    let doc = serde_json::json!({
        "Account": {"k": {
            "home_account_id": hai, "environment": env, "realm": "utid\u{9b}2j",
            "username": username, "local_account_id": "uid", "authority_type": "MSSTS"
        }},
        "AccessToken": {"t": {
            "credential_type": "AccessToken", "secret": "s", "home_account_id": hai,
            "environment": env, "client_id": "c\u{1b}[1m", "realm": "utid",
            "target": "User.Read", "expires_on": "9999999999", "cached_at": "1"
        }},
        "x-\u{1b}[5m": {}
    });
    std::fs::write(h.cache(), serde_json::to_vec(&doc).unwrap()).unwrap();

    let text = h.run(&["cache", "inspect"]).await;
    let out = text.ok();
    for raw in ['\u{1b}', '\u{7}', '\u{9b}'] {
        assert!(!out.contains(raw), "{raw:?} reached the terminal: {out:?}");
    }
    for escaped in [
        "ada\\u{1b}[31m@contoso.com\\u{7}",
        "uid.utid\\u{1b}]0;pwned\\u{7}",
        "login.microsoftonline.com\\u{1b}[31m",
        "utid\\u{9b}2j",
        "c\\u{1b}[1m",
        "x-\\u{1b}[5m",
    ] {
        assert!(out.contains(escaped), "{escaped} in {out}");
    }

    // JSON keeps the values as they are, as JSON strings.
    let j = h.run(&["cache", "inspect", "--json"]).await;
    assert!(!j.stdout.contains('\u{1b}'), "{:?}", j.stdout);
    let v = j.json();
    assert_eq!(v["accounts"][hai]["usernames"][0], username);
    assert_eq!(v["environments"][env]["accounts"], 1);
    assert_eq!(v["other_members"][0], "x-\u{1b}[5m");
}
