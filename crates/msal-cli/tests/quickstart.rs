//! `msal quickstart`, the README's first command, as a user runs it.

mod support;

use support::{msal_command, run};

#[tokio::test(flavor = "multi_thread")]
async fn the_quickstart_runs_the_whole_loop_offline() {
    let home = tempfile::tempdir().unwrap();
    let mut c = msal_command(home.path());
    // A proxy that does not exist: the quick start must not need one (nor
    // any network: everything is on loopback, which is never proxied).
    c.env("HTTPS_PROXY", "http://127.0.0.1:1")
        .env("HTTP_PROXY", "http://127.0.0.1:1")
        .arg("quickstart");
    let r = run(c).await;
    let out = r.ok();
    for step in 1..=6 {
        assert!(out.contains(&format!("[{step}/6]")), "step {step}: {out}");
    }
    assert!(out.contains("/devicelogin and enter the code"), "{out}");
    assert!(
        out.contains("Signed in as ada@contoso.onmicrosoft.com (Ada Lovelace)"),
        "{out}"
    );
    assert!(out.contains("from the cache"), "{out}");
    assert!(
        out.contains("requests the emulator received for it: 0"),
        "{out}"
    );
    assert!(
        out.contains("encrypted; 1 account(s), 1 access, 1 refresh, 1 ID token(s)"),
        "{out}"
    );
    assert!(out.contains("removed ada@contoso.onmicrosoft.com"), "{out}");
    assert!(out.contains("accounts: 0"), "{out}");
    assert!(
        out.contains("0 account(s), 0 access, 0 refresh, 0 ID token(s)"),
        "{out}"
    );
    assert!(out.contains("Done"), "{out}");

    // The temporary cache is gone, and nothing was written to the data directory.
    let cache_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("cache "))
        .unwrap();
    let path = cache_line.split_whitespace().nth(1).unwrap();
    assert!(path.ends_with("cache.bin"), "{cache_line}");
    assert!(!std::path::Path::new(path).exists(), "{path} was removed");
    assert!(!home.path().join("data").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn with_output_json_each_step_is_one_json_line() {
    let home = tempfile::tempdir().unwrap();
    let mut c = msal_command(home.path());
    c.args(["--output", "json", "quickstart"]);
    let r = run(c).await;
    let lines: Vec<serde_json::Value> = r
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), 7, "six steps and the end: {lines:#?}");
    for (i, step) in lines[..6].iter().enumerate() {
        assert_eq!(step["step"], i + 1, "{step}");
        assert_eq!(step["of"], 6);
        assert!(step["title"].as_str().is_some_and(|t| !t.is_empty()));
    }
    assert!(lines[0]["emulator"].as_str().unwrap().starts_with("http"));
    assert!(
        lines[1]["message"]
            .as_str()
            .unwrap()
            .contains("enter the code"),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[1]["signed_in"]["account"]["username"],
        "ada@contoso.onmicrosoft.com"
    );
    assert!(
        lines[1]["signed_in"]["access_token"].is_null(),
        "no token printed"
    );
    assert_eq!(lines[2]["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(lines[3]["token"]["from_cache"], true);
    assert_eq!(lines[3]["requests"], 0);
    assert_eq!(lines[3]["cache"]["encrypted"], true);
    assert_eq!(lines[3]["cache"]["sections"]["AccessToken"], 1);
    assert_eq!(lines[4]["removed"][0], "ada@contoso.onmicrosoft.com");
    assert_eq!(lines[5]["accounts"], 0);
    assert_eq!(lines[5]["cache"]["sections"]["Account"], 0);
    assert_eq!(lines[6], serde_json::json!({"done": true}));

    // `quickstart --json` is the same.
    let mut c = msal_command(home.path());
    c.args(["quickstart", "--json"]);
    let r = run(c).await;
    assert_eq!(r.ok().lines().count(), 7);
}
