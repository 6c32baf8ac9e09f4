"""cache_python_reads.py IN.json -- the real MSAL Python loads a cache file
(written by msal-rs) and reports what it sees: get_accounts(), and for each
account acquire_token_silent(["User.Read"]), plus acquire_token_for_client
for the app token. The fake HTTP client serves only OIDC discovery: any
token request fails the script, so every token reported came from the cache.
"""
import json
import sys

import msal

from cache_common import AUTHORITY, CLIENT_ID, FakeHttp


def main(path):
    cache = msal.SerializableTokenCache()
    with open(path) as f:
        cache.deserialize(f.read())
    http = FakeHttp()
    app = msal.PublicClientApplication(CLIENT_ID, authority=AUTHORITY, token_cache=cache,
                                       http_client=http, instance_discovery=False)
    accounts = app.get_accounts()
    silent = {}
    for a in accounts:
        r = app.acquire_token_silent(["User.Read"], account=a)
        silent[a["username"]] = r and {"access_token": r.get("access_token"), "source": r.get("token_source")}
    capp = msal.ConfidentialClientApplication(CLIENT_ID, client_credential="s3cret", authority=AUTHORITY,
                                              token_cache=cache, http_client=http, instance_discovery=False)
    app_token = capp.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    print(json.dumps({
        "accounts": [{k: a.get(k) for k in ("home_account_id", "environment", "username", "realm",
                                            "local_account_id", "authority_type", "account_source")}
                     for a in accounts],
        "silent": silent,
        "app_token": app_token.get("access_token"), "app_token_source": app_token.get("token_source"),
        "token_requests": http.token_calls(),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
