"""Drives the real MSAL Python against msal-emulator (TLS mode).

Reads a JSON config from argv[1]; prints `USER_CODE <code>` when the device
flow starts (the Rust test approves it through the admin API), then one line
`RESULT <json>` with what the Rust side checks.
"""
import json
import sys

import msal
import requests

cfg = json.loads(sys.argv[1])
base = cfg["base_url"]
# Trust the emulator's generated CA. MSAL sets `http_client.verify` from its
# own `verify` argument, and requests lets REQUESTS_CA_BUNDLE override a
# session's `verify`, so the Rust side also sets REQUESTS_CA_BUNDLE.
session = requests.Session()
session.verify = cfg["ca_file"]
discovery = base + "/common/discovery/instance"


def counters():
    return session.get(base + "/_admin/counters").json()["counters"]


out = {"msal_version": msal.__version__}

# 1. Client credentials, then the same call again from the cache.
cca = msal.ConfidentialClientApplication(
    cfg["daemon_id"],
    client_credential=cfg["daemon_secret"],
    authority=base + "/" + cfg["tenant_id"],
    http_client=session,
    verify=cfg["ca_file"],
    instance_discovery=discovery,
)
scopes = [cfg["api_default_scope"]]
first = cca.acquire_token_for_client(scopes=scopes)
second = cca.acquire_token_for_client(scopes=scopes)
out["cc_first"] = {k: first.get(k) for k in ("access_token", "token_source", "error", "error_description")}
out["cc_second_source"] = second.get("token_source")
out["cc_same_token"] = first.get("access_token") == second.get("access_token")

# 2. Device code, approved by the test through the admin API.
cache = msal.SerializableTokenCache()
pca = msal.PublicClientApplication(
    cfg["cli_id"],
    authority=base + "/organizations",
    http_client=session,
    verify=cfg["ca_file"],
    instance_discovery=discovery,
    token_cache=cache,
)
flow = pca.initiate_device_flow(scopes=["User.Read"])
if "user_code" not in flow:
    print("RESULT " + json.dumps({"error": flow}), flush=True)
    sys.exit(1)
print("USER_CODE " + flow["user_code"], flush=True)
dc = pca.acquire_token_by_device_flow(flow)
out["device"] = {k: dc.get(k) for k in ("access_token", "token_source", "error", "error_description", "scope")}
out["device_id_token_claims"] = dc.get("id_token_claims")

# 3. A silent call served from the cache: no request at all.
accounts = pca.get_accounts()
out["accounts"] = [{k: a.get(k) for k in ("home_account_id", "environment", "username", "realm")} for a in accounts]
before = counters()
silent = pca.acquire_token_silent(["User.Read"], account=accounts[0])
after = counters()
out["silent_source"] = silent.get("token_source") if silent else None
out["silent_same_token"] = bool(silent) and silent.get("access_token") == dc.get("access_token")
out["counters_unchanged_by_silent"] = before == after

# 4. A refresh (forced): the refresh_token grant through the family RT.
refreshed = pca.acquire_token_silent(["User.Read"], account=accounts[0], force_refresh=True)
out["refreshed"] = {k: (refreshed or {}).get(k) for k in ("access_token", "token_source", "error", "error_description")}

out["cache"] = json.loads(cache.serialize())
print("RESULT " + json.dumps(out), flush=True)
