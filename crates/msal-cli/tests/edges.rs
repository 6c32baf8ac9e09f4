//! The friendlier edges: an authority with no tenant that is an OpenID
//! Connect issuer, the reserved scopes given by the user, shell completion
//! and man pages, and the device-code spinner on a terminal.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use msal_emulator::defaults;
use msal_test_support::{Canned, TestServer, jwt};
use support::{Harness, msal_command, msal_path, run, tool_command};

/// A generic OpenID Connect provider at the root of its own host (like
/// `https://accounts.example.com`): discovery, a device authorization
/// endpoint that approves at once, and a token endpoint (ID tokens are
/// unsigned: msal checks their claims, never a signature).
async fn oidc_provider() -> TestServer {
    TestServer::http(|r| {
        let host = r.header("host").unwrap_or("127.0.0.1").to_owned();
        let base = format!("http://{host}");
        let form = String::from_utf8_lossy(&r.body).to_string();
        match (r.method.as_str(), r.target.as_str()) {
            ("GET", "/.well-known/openid-configuration") => Canned::json(
                200,
                &serde_json::json!({
                    "issuer": base,
                    "authorization_endpoint": format!("{base}/authorize"),
                    "token_endpoint": format!("{base}/token"),
                    "device_authorization_endpoint": format!("{base}/device"),
                })
                .to_string(),
            ),
            ("POST", "/device") => Canned::json(
                200,
                &serde_json::json!({
                    "device_code": "dev-code-1", "user_code": "WDJB-MJHT",
                    "verification_uri": format!("{base}/activate"),
                    "expires_in": 900, "interval": 1,
                    "message": format!("To sign in, open {base}/activate and enter the code WDJB-MJHT."),
                })
                .to_string(),
            ),
            ("POST", "/token") if form.contains("device_code=dev-code-1") => {
                let now = jwt::unix_now();
                let id_token = jwt::unsigned_jwt(&serde_json::json!({
                    "iss": base, "aud": defaults::CLI_APP_ID, "sub": "user-7",
                    "preferred_username": "kim@example.com", "iat": now, "exp": now + 3600,
                }));
                Canned::json(
                    200,
                    &serde_json::json!({
                        "access_token": "oidc-access-token-1", "token_type": "Bearer",
                        "expires_in": 3600, "refresh_token": "oidc-refresh-1",
                        "id_token": id_token, "scope": "User.Read openid profile offline_access",
                    })
                    .to_string(),
                )
            }
            _ => Canned::json(404, "{}"),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authority_without_a_tenant_that_answers_discovery_is_an_oidc_issuer() {
    let h = Harness::start().await;
    let issuer = oidc_provider().await;
    let with = |args: &[&str]| {
        let mut c = msal_command(h.dir.path());
        c.args([
            "--authority",
            &issuer.url(),
            "--client-id",
            defaults::CLI_APP_ID,
        ])
        .args(["--plaintext", "--cache"])
        .arg(h.cache())
        .args(args);
        c
    };

    // No --oidc: the discovery document answers, so msal signs in through it.
    let login = run(with(&["login", "--device-code"])).await;
    assert!(
        login.ok().contains("Signed in as kim@example.com"),
        "{login:#?}"
    );
    assert!(
        login.stderr.contains("enter the code WDJB-MJHT"),
        "{login:#?}"
    );
    let seen = |path: &str| {
        issuer
            .requests()
            .iter()
            .filter(|r| r.target == path)
            .count()
    };
    assert!(seen("/.well-known/openid-configuration") >= 1);
    assert_eq!(seen("/token"), 1);

    // The token is then found in the cache under that issuer: no token request.
    let token = run(with(&["token", "--json"])).await.json();
    assert_eq!(token["from_cache"], true, "{token}");
    assert_eq!(token["access_token"], "oidc-access-token-1");
    assert_eq!(seen("/token"), 1);
    let accounts = run(with(&["accounts", "--json"])).await.json();
    assert_eq!(accounts[0]["username"], "kim@example.com");

    // A host with no tenant and no discovery document: the error says both
    // ways out, a tenant or --oidc, and what the host answered.
    let nothing = TestServer::http(|_| Canned::json(404, "{}")).await;
    let mut c = msal_command(h.dir.path());
    c.args(["--authority", &nothing.url(), "--plaintext", "--cache"])
        .arg(h.cache())
        .arg("accounts");
    let r = run(c).await;
    let line = r.fails(1);
    assert!(
        line.contains("has no tenant")
            && line.contains("--oidc")
            && line.contains("/.well-known/openid-configuration")
            && line.contains("HTTP 404"),
        "{line}"
    );
    // An authority with a tenant is never probed.
    let mut c = msal_command(h.dir.path());
    c.args([
        "--authority",
        &format!("{}/organizations", nothing.url()),
        "--plaintext",
        "--cache",
    ])
    .arg(h.dir.path().join("other.json"))
    .arg("accounts");
    run(c).await.ok();
    let probes = nothing
        .requests()
        .iter()
        .filter(|r| r.target == "/.well-known/openid-configuration")
        .count();
    assert_eq!(
        probes,
        1,
        "only the one probe above: {:?}",
        nothing.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openid_profile_and_offline_access_from_the_user_are_accepted() {
    let h = Harness::start().await;
    // The library refuses them; scripts written for other tools pass them.
    let login = h
        .login(
            defaults::USER,
            &["--scopes", "openid profile offline_access", "User.Read"],
        )
        .await;
    assert!(login.ok().contains("Signed in as"), "{login:#?}");
    let t = h
        .run(&[
            "token",
            "--json",
            "--scopes",
            "openid,User.Read,OFFLINE_ACCESS",
        ])
        .await
        .json();
    assert_eq!(t["from_cache"], true);
    assert!(
        t["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "User.Read"),
        "{t}"
    );
    // Only reserved ones: the default scope.
    let only = h
        .run(&["token", "--json", "--scopes", "profile"])
        .await
        .json();
    assert_eq!(only["access_token"], t["access_token"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn completion_scripts_for_every_shell_and_man_pages() {
    let home = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _msal"),
        ("zsh", "#compdef msal"),
        ("fish", "complete -c msal"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[msal]"),
    ] {
        let mut c = msal_command(home.path());
        c.args(["completion", shell]);
        let r = run(c).await;
        let script = r.ok();
        assert!(script.contains(marker), "{shell}: {marker}");
        for word in [
            "kube-credential",
            "kubeconfig",
            "git-credential",
            "azure-cli",
            "exec-api-version",
        ] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
        assert!(r.stderr.is_empty());
    }

    // The bash script is valid bash and completes: `msal ku<TAB>`.
    let mut c = msal_command(home.path());
    c.args(["completion", "bash"]);
    let script = run(c).await.stdout;
    let file = home.path().join("msal.bash");
    std::fs::write(&file, script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    let complete = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(msal ku); COMP_CWORD=1; _msal msal ku msal; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        ))
        .output()
        .unwrap();
    let offered = String::from_utf8_lossy(&complete.stdout);
    let mut words: Vec<&str> = offered.lines().collect();
    words.sort();
    assert_eq!(words, ["kube-credential", "kubeconfig"], "{complete:?}");

    // The man page, and one per command.
    let mut c = msal_command(home.path());
    c.arg("man");
    let page = run(c).await;
    let page = page.ok();
    assert!(
        page.contains(".TH msal 1"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains("kube\\-credential") && page.contains("git\\-credential"));
    let dir = home.path().join("man1");
    let mut c = msal_command(home.path());
    c.args(["man", "--dir"]).arg(&dir);
    run(c).await.ok();
    for name in [
        "msal.1",
        "msal-kube-credential.1",
        "msal-kubeconfig.1",
        "msal-git-credential.1",
        "msal-token.1",
        "msal-completion.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(text.contains(".TH"), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_device_code_shows_a_spinner_with_the_time_left_on_a_terminal() {
    let h = Harness::start().await;
    // Not a terminal: no spinner.
    let plain = h.login(defaults::USER, &[]).await;
    assert!(!plain.stderr.contains("the code expires in"), "{plain:#?}");

    // On a terminal (script(1) gives it one): the spinner and the time left.
    let words: Vec<String> = [
        msal_path().display().to_string(),
        "--authority".into(),
        h.emu.authority("organizations"),
        "--client-id".into(),
        defaults::CLI_APP_ID.into(),
        "--plaintext".into(),
        "--cache".into(),
        h.dir.path().join("tty.json").display().to_string(),
        "login".into(),
        "--device-code".into(),
    ]
    .into_iter()
    .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
    .collect();
    let mut c = tool_command("script", h.dir.path());
    c.args(["-qefc", &words.join(" "), "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("script(1) from util-linux");
    let out = child.stdout.take().unwrap();
    let admin = h.admin();
    let seen = tokio::task::spawn_blocking(move || {
        let mut all = String::new();
        let mut approved = false;
        let mut reader = BufReader::new(out);
        let mut buf = Vec::new();
        while reader.read_until(b'\n', &mut buf).unwrap_or(0) > 0 {
            all.push_str(&String::from_utf8_lossy(&buf));
            buf.clear();
            if !approved && all.contains("enter the code") {
                // Let the spinner draw for a moment (the CLI polls every second).
                std::thread::sleep(Duration::from_millis(1500));
                admin.approve_latest_device_code(defaults::USER).unwrap();
                approved = true;
            }
        }
        let status = child.wait().unwrap();
        (all, status)
    })
    .await
    .unwrap();
    let (all, status) = seen;
    assert!(status.success(), "{all}");
    assert!(
        all.contains("Waiting for the sign-in; the code expires in 14:")
            || all.contains("the code expires in 15:00"),
        "{all}"
    );
    assert!(
        all.contains("Signed in as ada@contoso.onmicrosoft.com"),
        "{all}"
    );
}
