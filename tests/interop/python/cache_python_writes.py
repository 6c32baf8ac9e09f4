"""cache_python_writes.py OUT.json NOW -- the real MSAL Python signs two users
in (authorization code grant) and gets an app token (client credentials),
all against a fake HTTP client, then writes its serialized cache to OUT.json.
Prints a JSON summary: the accounts it lists and the token responses it was
given (so that msal-rs can replay them and compare bytes).
"""
import json
import sys

import msal

from cache_common import AUTHORITY, CLIENT_ID, FakeHttp, TENANT, b64, id_token

USERS = [("0a11ce00-0000-4000-8000-000000000001", "alice@contoso.example"),
         ("0b0b0000-0000-4000-8000-000000000002", "bob@contoso.example")]


def user_response(uid, username, now, n):
    return {"token_type": "Bearer", "scope": "User.Read Mail.Read openid profile email",
            "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": "py-at-%d" % n, "refresh_token": "py-rt-%d" % n,
            "id_token": id_token(uid, username, now),
            "client_info": b64({"uid": uid, "utid": TENANT})}


def main(out, now):
    cache = msal.SerializableTokenCache()
    responses = [user_response(uid, name, now, i) for i, (uid, name) in enumerate(USERS)]
    app_response = {"token_type": "Bearer", "expires_in": 3599, "access_token": "py-app-at"}
    http = FakeHttp(responses)
    app = msal.PublicClientApplication(CLIENT_ID, authority=AUTHORITY, token_cache=cache,
                                       http_client=http, instance_discovery=False)
    for i, _ in enumerate(USERS):
        r = app.acquire_token_by_authorization_code("code-%d" % i, ["User.Read", "Mail.Read"],
                                                    redirect_uri="http://localhost")
        assert "access_token" in r, r
    http2 = FakeHttp([dict(app_response)])
    capp = msal.ConfidentialClientApplication(CLIENT_ID, client_credential="s3cret", authority=AUTHORITY,
                                              token_cache=cache, http_client=http2, instance_discovery=False)
    r = capp.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert r.get("access_token") == "py-app-at", r
    with open(out, "w") as f:
        f.write(cache.serialize())
    print(json.dumps({"accounts": [a["username"] for a in app.get_accounts()], "version": msal.__version__,
                      "responses": responses, "app_response": app_response}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
