//! The real git cloning over HTTP from a loopback server that demands an
//! emulator token for Azure DevOps as the Basic password (checked with the
//! emulator's JWKS) and serves the repository with `git http-backend`,
//! with `msal git-credential` as git's credential helper.

mod support;

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use msal_emulator::defaults;
use msal_test_support::{Canned, SeenRequest, TestServer};
use support::{
    DEVOPS_APP_ID, Harness, Run, TokenCheck, claims, msal_path, run, secrets_in, tool_command,
    tools_config,
};

/// What the git server saw and refuses.
#[derive(Default)]
struct Gate {
    /// Tokens the server no longer accepts (revoked).
    refused: HashSet<String>,
    /// (user, token) of each accepted request.
    accepted: Vec<(String, String)>,
    /// Requests answered 401.
    challenged: usize,
}

fn git_version_ok() {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "git is needed for this test (it is on every Debian image scripts/test.sh runs on)"
    );
}

/// A bare repository `repo.git` under `root` with one commit (README).
fn make_repo(root: &Path, home: &Path) {
    let git = |dir: &Path, args: &[&str]| {
        let out = tool_command("git", home)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(root, &["init", "-q", "--bare", "repo.git"]);
    git(&work, &["init", "-q"]);
    std::fs::write(work.join("README"), "hello from the test repository\n").unwrap();
    git(&work, &["add", "README"]);
    git(
        &work,
        &[
            "-c",
            "user.name=Test",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "first",
        ],
    );
    git(
        &work,
        &["push", "-q", "../repo.git", "HEAD:refs/heads/main"],
    );
    git(
        &root.join("repo.git"),
        &["symbolic-ref", "HEAD", "refs/heads/main"],
    );
}

/// Runs `git http-backend` (CGI) for one request.
fn cgi(root: &Path, r: &SeenRequest, user: &str) -> Canned {
    let (path, query) = r.target.split_once('?').unwrap_or((&r.target, ""));
    let mut c = Command::new("git");
    c.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("REQUEST_METHOD", &r.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", r.header("content-type").unwrap_or(""))
        .env("CONTENT_LENGTH", r.body.len().to_string())
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(enc) = r.header("content-encoding") {
        c.env("HTTP_CONTENT_ENCODING", enc);
    }
    if let Some(proto) = r.header("git-protocol") {
        c.env("HTTP_GIT_PROTOCOL", proto);
    }
    let mut child = c.spawn().expect("git http-backend");
    let mut stdin = child.stdin.take().expect("stdin");
    let body = r.body.clone();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output().expect("http-backend output");
    let _ = writer.join();
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .expect("CGI headers");
    let head = String::from_utf8_lossy(&raw[..split.0]).into_owned();
    let mut status = 200;
    let mut headers = Vec::new();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("status") {
            status = v
                .split(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(500);
        } else if !k.eq_ignore_ascii_case("content-length") {
            headers.push((k.to_owned(), v.to_owned()));
        }
    }
    let mut reply = Canned::status(status).body(&raw[split.1..]);
    for (k, v) in headers {
        reply = reply.header(&k, &v);
    }
    reply
}

/// The git server: Basic auth whose password must be a valid Azure DevOps
/// token from the emulator, not refused; then `git http-backend`.
async fn git_server(root: PathBuf, check: TokenCheck, gate: Arc<Mutex<Gate>>) -> TestServer {
    TestServer::http(move |r| {
        use base64::Engine as _;
        let basic = r
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let credentials = basic.as_deref().and_then(|b| b.split_once(':'));
        let mut g = gate.lock().unwrap();
        match credentials {
            Some((user, token)) if check.accepts(token) && !g.refused.contains(token) => {
                g.accepted.push((user.to_owned(), token.to_owned()));
                drop(g);
                cgi(&root, r, user)
            }
            _ => {
                g.challenged += 1;
                Canned::status(401).header("www-authenticate", "Basic realm=\"msal test\"")
            }
        }
    })
    .await
}

/// A word as sh reads it.
fn sh(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// `git clone URL DEST` with `msal git-credential` as the only helper.
async fn clone(h: &Harness, url: &str, port: u16, dest: &Path) -> Run {
    let helper = format!(
        "!{} --authority {} --client-id {} --cache {} --plaintext git-credential --host 127.0.0.1:{port}",
        sh(&msal_path().display().to_string()),
        sh(&h.emu.authority("organizations")),
        defaults::CLI_APP_ID,
        sh(&h.cache().display().to_string()),
    );
    let mut c = tool_command("git", h.dir.path());
    c.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(["-c", "credential.helper=", "-c"])
        .arg(format!("credential.helper={helper}"))
        .args(["clone", "-q", url])
        .arg(dest);
    run(c).await
}

#[tokio::test(flavor = "multi_thread")]
async fn git_clones_with_the_token_from_msal_and_erase_then_get_refreshes() {
    git_version_ok();
    let h = Harness::with(tools_config()).await;
    let root = h.dir.path().join("served");
    make_repo(&root, h.dir.path());
    let gate = Arc::new(Mutex::new(Gate::default()));
    let check = TokenCheck::new(&h.emu, DEVOPS_APP_ID).await;
    let server = git_server(root.clone(), check, gate.clone()).await;
    let url = format!("{}/repo.git", server.url());

    // Signed in for Graph: the first clone redeems the refresh token for an
    // Azure DevOps token, which git sends as the password.
    h.login(defaults::USER, &[]).await.ok();
    h.admin().reset_counters();
    let first = clone(&h, &url, server.port(), &h.dir.path().join("c1")).await;
    first.ok();
    let readme = std::fs::read_to_string(h.dir.path().join("c1/README")).unwrap();
    assert_eq!(readme, "hello from the test repository\n");
    assert_eq!(h.admin().token_requests_with_grant("refresh_token"), 1);
    let (user, t1) = gate
        .lock()
        .unwrap()
        .accepted
        .last()
        .cloned()
        .expect("an accepted request");
    assert_eq!(user, defaults::USER, "the account's user name");
    assert_eq!(claims(&t1)["aud"], DEVOPS_APP_ID);
    assert!(
        gate.lock().unwrap().challenged >= 1,
        "git asked only after a 401"
    );

    // The second clone: the token from msal's cache, no request to the emulator.
    h.admin().reset_counters();
    clone(&h, &url, server.port(), &h.dir.path().join("c2"))
        .await
        .ok();
    assert_eq!(h.admin().total_requests(), 0);
    assert_eq!(gate.lock().unwrap().accepted.last().unwrap().1, t1);

    // The server revokes the token: the clone fails, git runs `erase`, and
    // the token is gone from the cache file (the refresh token stays).
    gate.lock().unwrap().refused.insert(t1.clone());
    let refused = clone(&h, &url, server.port(), &h.dir.path().join("c3")).await;
    assert_ne!(refused.code, 0, "{refused:#?}");
    assert!(
        refused.stderr.contains("Authentication failed"),
        "{refused:#?}"
    );
    let secrets = secrets_in(&h.cache());
    assert!(!secrets.contains(&t1), "erase dropped the refused token");
    assert_eq!(
        h.admin().total_requests(),
        0,
        "erase works on the cache alone"
    );

    // The next clone's `get` refreshes: a new token, accepted.
    h.admin().reset_counters();
    clone(&h, &url, server.port(), &h.dir.path().join("c4"))
        .await
        .ok();
    assert_eq!(h.admin().token_requests_with_grant("refresh_token"), 1);
    let t2 = gate.lock().unwrap().accepted.last().unwrap().1.clone();
    assert_ne!(t2, t1);
    assert!(secrets_in(&h.cache()).contains(&t2));
}

/// `msal git-credential ACTION` with `input` on stdin.
async fn helper(h: &Harness, cache: &Path, action: &str, input: &str) -> Run {
    let mut c = support::msal_command(h.dir.path());
    c.arg("--authority")
        .arg(h.emu.authority("organizations"))
        .args([
            "--client-id",
            defaults::CLI_APP_ID,
            "--plaintext",
            "--cache",
        ])
        .arg(cache)
        .args(["git-credential", action])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let input = input.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = c.spawn().expect("msal");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_helper_speaks_gits_protocol_and_stays_silent_for_other_hosts() {
    let h = Harness::with(tools_config()).await;
    h.login(
        defaults::USER,
        &["--scopes", "499b84ac-1321-427f-aa17-267ca6975798/.default"],
    )
    .await
    .ok();
    h.admin().reset_counters();

    // Azure DevOps: user name, token, and its expiry (git 2.41+ reads it).
    let get = helper(
        &h,
        &h.cache(),
        "get",
        "protocol=https\nhost=dev.azure.com\npath=contoso/app/_git/app\n\n",
    )
    .await;
    let lines: Vec<&str> = get.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{get:#?}");
    assert_eq!(lines[0], format!("username={}", defaults::USER));
    let token = lines[1].strip_prefix("password=").unwrap();
    assert_eq!(claims(token)["aud"], DEVOPS_APP_ID);
    let expiry: i64 = lines[2]
        .strip_prefix("password_expiry_utc=")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expiry, claims(token)["exp"].as_i64().unwrap());
    assert_eq!(h.admin().total_requests(), 0, "from the cache");

    // A user name in the URL is kept.
    let named = helper(
        &h,
        &h.cache(),
        "get",
        "protocol=https\nhost=contoso.visualstudio.com\nusername=contoso\n\n",
    )
    .await;
    assert!(
        named.ok().starts_with("username=contoso\npassword="),
        "{named:#?}"
    );

    // Other hosts, plain HTTP to Azure DevOps, and `store`: nothing at all.
    for (action, input) in [
        ("get", "protocol=https\nhost=github.com\n\n"),
        ("get", "protocol=http\nhost=dev.azure.com\n\n"),
        (
            "store",
            "protocol=https\nhost=dev.azure.com\nusername=u\npassword=p\n\n",
        ),
        ("erase", "protocol=https\nhost=github.com\npassword=x\n\n"),
    ] {
        let r = helper(&h, &h.cache(), action, input).await;
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (0, "", ""),
            "{action} {input:?}"
        );
    }
    assert_eq!(h.admin().total_requests(), 0);

    // Nobody signed in and git may not prompt: one line, exit code 2.
    let empty = h.dir.path().join("empty.json");
    let none = helper(&h, &empty, "get", "protocol=https\nhost=dev.azure.com\n\n").await;
    let line = none.fails(2);
    assert!(
        line.contains("no account is signed in")
            && line.contains(
                "login --device-code --scopes 499b84ac-1321-427f-aa17-267ca6975798/.default"
            ),
        "{line}"
    );
    assert!(none.stdout.is_empty());
}
