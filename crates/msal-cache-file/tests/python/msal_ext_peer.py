"""MSAL Python + msal-extensions on a shared plain-text cache file.

Usage:
  msal_ext_peer.py write PATH PREFIX COUNT PAUSE_SECONDS
      Adds COUNT user token responses (AT, RT, ID token, Account) through
      PersistedTokenCache(FilePersistence(PATH)) - msal-extensions' own lock
      and persistence - printing "ACK <token>" after each; between writes it
      searches the cache (msal-extensions' unlocked read path), as an app does.
  msal_ext_peer.py list PATH
      Prints the access-token secrets MSAL Python finds, as a JSON list.
  msal_ext_peer.py hold PATH
      Takes msal-extensions' CrossPlatLock on PATH's lock file, prints "HELD",
      and keeps it until a line arrives on stdin.

Tokens are for user uid "<PREFIX>-user" in tenant TENANT of client CLIENT_ID
(the ids the Rust side uses), valid for an hour from now.
"""
import base64
import json
import sys
import time

import msal
from msal_extensions import CrossPlatLock, FilePersistence, PersistedTokenCache

CLIENT_ID = "00000000-0000-0000-0000-00000000f11e"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
HOST = "login.microsoftonline.com"
AT = msal.TokenCache.CredentialType.ACCESS_TOKEN


def b64(raw):
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def uid_of(prefix):
    return "%s-user" % prefix


def event(prefix, token):
    uid = uid_of(prefix)
    claims = {
        "aud": CLIENT_ID, "iss": "https://%s/%s/v2.0" % (HOST, TENANT), "tid": TENANT,
        "oid": uid, "sub": "sub-" + uid, "preferred_username": uid + "@contoso.example",
        "name": "Python User",
    }
    id_token = "%s.%s." % (b64(json.dumps({"alg": "none", "typ": "JWT"})), b64(json.dumps(claims)))
    return {
        "client_id": CLIENT_ID,
        "scope": ["api://tok/" + token],
        "token_endpoint": "https://%s/%s/oauth2/v2.0/token" % (HOST, TENANT),
        "grant_type": "authorization_code",
        "response": {
            "token_type": "Bearer", "access_token": token, "expires_in": 3600,
            "refresh_token": "rt-" + uid, "id_token": id_token,
            "client_info": b64(json.dumps({"uid": uid, "utid": TENANT})),
            "scope": "api://tok/%s openid profile offline_access" % token,
        },
    }


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    cache = PersistedTokenCache(FilePersistence(path))
    if cmd == "write":
        prefix, count, pause = sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
        for n in range(count):
            token = "%s-%d" % (prefix, n)
            cache.add(event(prefix, token))
            print("ACK", token, flush=True)
            list(cache.search(AT))
            time.sleep(pause)
    elif cmd == "hold":
        with CrossPlatLock(path + ".lockfile"):
            print("HELD", flush=True)
            sys.stdin.readline()
    elif cmd == "list":
        print(json.dumps(sorted(e["secret"] for e in cache.search(AT))))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
