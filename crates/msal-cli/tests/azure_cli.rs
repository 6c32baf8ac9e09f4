//! `msal token --output az` against what `az account get-access-token`
//! prints (azure-cli's `get_access_token` + `Profile.get_raw_token`, printed
//! by knack's JSON formatter: `json.dumps(ensure_ascii=False, indent=2,
//! sort_keys=True)`; `expiresOn` is `datetime.fromtimestamp(expires_on)
//! .strftime("%Y-%m-%d %H:%M:%S.%f")` in the local time zone), and
//! `--azure-cli`: the Azure CLI's cache file and profile, written by the
//! real MSAL Python as the Azure CLI writes them.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use msal_emulator::{Emulator, defaults};
use serde_json::Value;
use support::{
    ARM_APP_ID, AZURE_CLI_APP_ID, Harness, Run, claims, msal_command, run, run_device_code,
    tools_config,
};

const ARM_SCOPE: &str = "https://management.core.windows.net//.default";
const SUBSCRIPTION: &str = "0b1f6471-1bf0-4dda-aec3-cb9272f09590";
const OTHER_SUBSCRIPTION: &str = "7d2c4a10-0000-4000-8000-0000000000aa";

/// `azureProfile.json` as `az login` writes it (UTF-8 byte order mark
/// first): Ada's subscription is the default one.
fn write_profile(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let profile = serde_json::json!({
        "installationId": "3c5d7a52-0000-11ef-9a4c-00155d0a1b2c",
        "subscriptions": [
            {
                "id": OTHER_SUBSCRIPTION, "name": "Bob's", "state": "Enabled",
                "user": {"name": defaults::SECOND_USER, "type": "user"},
                "isDefault": false, "tenantId": defaults::TENANT_ID,
                "environmentName": "AzureCloud", "homeTenantId": defaults::TENANT_ID,
                "managedByTenants": []
            },
            {
                "id": SUBSCRIPTION, "name": "Contoso Dev", "state": "Enabled",
                "user": {"name": defaults::USER, "type": "user"},
                "isDefault": true, "tenantId": defaults::TENANT_ID,
                "environmentName": "AzureCloud", "homeTenantId": defaults::TENANT_ID,
                "tenantDefaultDomain": defaults::TENANT_DOMAIN,
                "tenantDisplayName": "Contoso", "managedByTenants": []
            }
        ]
    });
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(serde_json::to_string(&profile).unwrap().as_bytes());
    std::fs::write(dir.join("azureProfile.json"), bytes).unwrap();
}

/// `msal --azure-cli --authority <emulator>/<Contoso> <args>`, with
/// AZURE_CONFIG_DIR = `azure` and the time zone `tz`.
fn az_mode(h: &Harness, azure: &Path, args: &[&str]) -> Command {
    let mut c = msal_command(h.dir.path());
    c.env("AZURE_CONFIG_DIR", azure)
        .env("TZ", "Asia/Kolkata")
        .args(["--azure-cli", "--authority"])
        .arg(h.emu.authority(defaults::TENANT_ID))
        .args(args);
    c
}

/// What Python (and so the Azure CLI) prints for `doc`, `expiresOn`
/// recomputed by Python from `expires_on` in the same time zone.
fn as_python_prints(doc: &Value) -> String {
    let script = r#"
import datetime, json, sys
d = json.load(sys.stdin)
d["expiresOn"] = datetime.datetime.fromtimestamp(d["expires_on"]).strftime("%Y-%m-%d %H:%M:%S.%f")
sys.stdout.write(json.dumps(d, ensure_ascii=False, indent=2, sort_keys=True, separators=(",", ": ")) + "\n")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .env("TZ", "Asia/Kolkata")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/test.sh needs it too)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// `unix` at UTC+05:30 as `YYYY-MM-DD HH:MM:SS.000000`, computed here.
fn kolkata(unix: i64) -> String {
    let t = unix + 5 * 3600 + 1800;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.000000",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn output_az_is_what_az_account_get_access_token_prints() {
    let h = Harness::with(tools_config()).await;
    let azure = h.dir.path().join("azure");
    write_profile(&azure);
    // Two users in the Azure CLI's cache; the profile names Ada.
    for user in [defaults::SECOND_USER, defaults::USER] {
        run_device_code(
            az_mode(&h, &azure, &["login", "--device-code"]),
            h.admin(),
            user,
        )
        .await
        .ok();
    }
    let cache = azure.join("msal_token_cache.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).expect("plain JSON");
    assert_eq!(doc["Account"].as_object().unwrap().len(), 2);
    assert!(
        doc["RefreshToken"]
            .as_object()
            .unwrap()
            .values()
            .all(|rt| rt["client_id"] == AZURE_CLI_APP_ID),
        "the Azure CLI's own client id by default"
    );
    assert!(!azure.join("msal_token_cache.json.lockfile").exists());

    let r = run(az_mode(&h, &azure, &["token", "--output", "az"])).await;
    let v = r.json();
    // Field by field.
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "accessToken",
            "expiresOn",
            "expires_on",
            "subscription",
            "tenant",
            "tokenType"
        ]
    );
    let token = v["accessToken"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(
        c["aud"], ARM_APP_ID,
        "Azure Resource Manager by default, as az"
    );
    assert_eq!(
        c["preferred_username"],
        defaults::USER,
        "the profile's default user"
    );
    let expires_on = v["expires_on"].as_i64().expect("an integer");
    assert_eq!(expires_on, c["exp"].as_i64().unwrap());
    assert_eq!(
        v["expiresOn"],
        kolkata(expires_on),
        "local time, microseconds"
    );
    assert_eq!(v["subscription"], SUBSCRIPTION);
    assert_eq!(v["tenant"], defaults::TENANT_ID);
    assert_eq!(v["tokenType"], "Bearer");
    // Byte for byte what Python's formatter writes for the same values.
    assert_eq!(r.stdout, as_python_prints(&v));

    // --account picks another user: the subscription is still the profile's
    // default one only when the tenant matches (it does here).
    let bob = run(az_mode(
        &h,
        &azure,
        &[
            "token",
            "--output",
            "az",
            "--account",
            defaults::SECOND_USER,
        ],
    ))
    .await
    .json();
    assert_eq!(
        claims(bob["accessToken"].as_str().unwrap())["preferred_username"],
        defaults::SECOND_USER
    );

    // Other scopes, as `az account get-access-token --scope`.
    let graph = run(az_mode(
        &h,
        &azure,
        &["token", "--output", "az", "--scopes", "User.Read"],
    ))
    .await
    .json();
    assert_eq!(
        claims(graph["accessToken"].as_str().unwrap())["aud"],
        defaults::GRAPH_APP_ID
    );

    // Without --azure-cli no subscription is known: the field is left out, as az does.
    let mut plain = msal_command(h.dir.path());
    plain
        .env("TZ", "Asia/Kolkata")
        .arg("--authority")
        .arg(h.emu.authority(defaults::TENANT_ID))
        .args(["--plaintext", "--cache"])
        .arg(&cache)
        .args(["token", "--output", "az", "--account", defaults::USER]);
    let r = run(plain).await;
    let v = r.json();
    assert!(v.get("subscription").is_none(), "{v}");
    assert_eq!(r.stdout, as_python_prints(&v));

    // --output az is for the commands that print a token.
    let wrong = run(az_mode(&h, &azure, &["accounts", "--output", "az"])).await;
    assert!(wrong.fails(1).contains("--output az"), "{wrong:#?}");
    // --azure-cli names its cache: --cache with it is a mistake.
    let mut both = az_mode(&h, &azure, &["--cache", "/tmp/x.json", "accounts"]);
    both.env("MSAL_OUTPUT", "text");
    assert!(run(both).await.fails(1).contains("--azure-cli"));
}

fn msal_python() -> String {
    let py =
        std::env::var("MSAL_PYTHON").unwrap_or_else(|_| "/work/main/.venv/bin/python".to_string());
    let ok = Command::new(&py)
        .args(["-c", "import msal, msal_extensions"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no python with msal and msal-extensions at {py}: run scripts/test.sh (it creates .venv) or set MSAL_PYTHON"
    );
    py
}

/// What the Azure CLI does at `az login --use-device-code`: MSAL Python
/// with the Azure CLI's client id and msal-extensions' persisted cache at
/// `$AZURE_CONFIG_DIR/msal_token_cache.json`.
const AZ_LOGIN: &str = r#"
import json, sys, msal, msal_extensions
path, authority, scope = sys.argv[1:4]
cache = msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence(path))
# The emulator vouches for its own host (the real az asks login.microsoftonline.com).
discovery = authority.rsplit("/", 1)[0] + "/common/discovery/instance"
app = msal.PublicClientApplication(
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46", authority=authority, token_cache=cache,
    instance_discovery=discovery)
flow = app.initiate_device_flow(scopes=[scope])
print("USER_CODE " + flow["user_code"], flush=True)
r = app.acquire_token_by_device_flow(flow)
print("RESULT " + json.dumps({"access_token": r.get("access_token"), "error": r.get("error_description")}), flush=True)
"#;

#[tokio::test(flavor = "multi_thread")]
async fn azure_cli_mode_reads_the_cache_msal_python_wrote_as_az_does() {
    let py = msal_python();
    let dir = tempfile::tempdir().unwrap();
    let ca: PathBuf = dir.path().join("emulator-ca.pem");
    let emu = Emulator::start(tools_config().with_tls(Some(ca.clone())))
        .await
        .unwrap();
    let azure = dir.path().join("azure");
    write_profile(&azure);
    let cache = azure.join("msal_token_cache.json");
    let authority = emu.authority(defaults::TENANT_ID);

    let mut child = Command::new(&py)
        .args(["-c", AZ_LOGIN])
        .arg(&cache)
        .arg(&authority)
        .arg(ARM_SCOPE)
        .env("REQUESTS_CA_BUNDLE", &ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let admin = emu.admin();
    let result = tokio::task::spawn_blocking(move || {
        use std::io::BufRead as _;
        let mut result = None;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(code) = line.strip_prefix("USER_CODE ") {
                admin.approve_device_code(code, defaults::USER).unwrap();
            } else if let Some(json) = line.strip_prefix("RESULT ") {
                result = Some(serde_json::from_str::<Value>(json).unwrap());
            }
        }
        (result, child.wait_with_output().unwrap())
    })
    .await
    .unwrap();
    let (py_result, out) = result;
    assert!(
        out.status.success(),
        "MSAL Python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py_result = py_result.expect("MSAL Python's RESULT line");
    let py_token = py_result["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("MSAL Python got no token: {py_result}"));

    // `msal --azure-cli token --output az`: the same token, from the file
    // MSAL Python wrote, under its lock protocol, without a request.
    emu.admin().reset_counters();
    let mut c = msal_command(dir.path());
    c.env("AZURE_CONFIG_DIR", &azure)
        .args(["--azure-cli", "--ca-file"])
        .arg(&ca)
        .arg("--authority")
        .arg(&authority)
        .args(["token", "--output", "az"]);
    let r: Run = run(c).await;
    let v = r.json();
    assert_eq!(v["accessToken"], py_token);
    assert_eq!(v["subscription"], SUBSCRIPTION);
    assert_eq!(v["tenant"], defaults::TENANT_ID);
    assert_eq!(
        emu.admin().total_requests(),
        0,
        "{:?}",
        emu.admin().requests()
    );
    assert!(!azure.join("msal_token_cache.json.lockfile").exists());
}
