//! Cache paths that are not ordinary JSON files: a FIFO (or socket, or
//! device) is one clear line and exit code 1, never a hang; a UTF-8
//! byte-order mark in front of the JSON is read past and never written back.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Run, msal_command, run};

const CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const ENV: &str = "login.microsoftonline.com";

/// A cache of two users of the CLI's default client, as MSAL Python writes
/// it (four-space indentation).
fn two_users() -> String {
    let mut at = serde_json::Map::new();
    let mut acc = serde_json::Map::new();
    for (i, user) in ["ada@contoso.example", "bob@contoso.example"]
        .iter()
        .enumerate()
    {
        let home = format!("uid-{i}.{TENANT}");
        at.insert(
            format!("{home}-{ENV}-accesstoken-{CLIENT_ID}-{TENANT}-user.read"),
            serde_json::json!({
                "credential_type": "AccessToken", "secret": format!("at-{i}"),
                "home_account_id": home, "environment": ENV, "client_id": CLIENT_ID,
                "target": "user.read", "realm": TENANT, "token_type": "Bearer",
                "cached_at": "1700000000", "expires_on": "1700003600",
            }),
        );
        acc.insert(
            format!("{home}-{ENV}-{TENANT}"),
            serde_json::json!({
                "home_account_id": home, "environment": ENV, "realm": TENANT,
                "local_account_id": format!("uid-{i}"), "username": user,
                "authority_type": "MSSTS",
            }),
        );
    }
    let doc = serde_json::json!({"AccessToken": at, "Account": acc});
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&doc, &mut ser).unwrap();
    String::from_utf8(out).unwrap()
}

/// `msal --cache <path> --plaintext <args>`, killed (and the test failed)
/// if it does not end within a minute.
fn msal_bounded(home: &Path, cache: &Path, args: &[&str]) -> Run {
    let mut c: Command = msal_command(home);
    c.arg("--cache")
        .arg(cache)
        .arg("--plaintext")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run msal");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("msal {args:?} on {} hangs", cache.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_fifo_as_the_cache_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("cache.json");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    for args in [
        &["accounts", "--output", "json"][..],
        &["logout", "--all"][..],
        &["token"][..],
    ] {
        let r = msal_bounded(dir.path(), &fifo, args);
        let line = r.fails(1);
        assert!(
            line.contains("is a FIFO, not a regular file") && line.contains("cache.json"),
            "{args:?}: {line}"
        );
    }
    // Nothing replaced it.
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[cfg(target_os = "linux")]
#[test]
fn a_device_as_the_cache_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("cache.json");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let r = msal_bounded(dir.path(), &link, &["accounts"]);
    let line = r.fails(1);
    assert!(line.contains("is a character device"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_byte_order_mark_is_read_past_and_not_written_back() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.json");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(two_users().as_bytes());
    std::fs::write(&cache, &bytes).unwrap();

    let mut c = msal_command(dir.path());
    c.arg("--cache")
        .arg(&cache)
        .arg("--plaintext")
        .args(["accounts", "--output", "json"]);
    let listed = run(c).await.json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ada@contoso.example", "bob@contoso.example"]);
    // Reading changes nothing.
    assert_eq!(std::fs::read(&cache).unwrap(), bytes);

    let mut c = msal_command(dir.path());
    c.arg("--cache").arg(&cache).arg("--plaintext").args([
        "logout",
        "--account",
        "bob@contoso.example",
    ]);
    assert!(run(c).await.ok().contains("Signed out bob@contoso.example"));
    let written = std::fs::read(&cache).unwrap();
    assert!(written.starts_with(b"{"), "written back with a BOM");
    let doc: serde_json::Value = serde_json::from_slice(&written).unwrap();
    let accounts = doc["Account"].as_object().unwrap();
    assert_eq!(accounts.len(), 1);
    assert!(accounts.keys().all(|k| k.starts_with("uid-0.")));
}
