#!/usr/bin/env python3
"""The file_cycle benchmark's cycle on MSAL Python + msal-extensions, for the
side-by-side ratio: a plain-text cache file with N = 1,000 accounts (written
by ../shared/bench/gen_cache.py), shared through msal-extensions'
PersistedTokenCache (FilePersistence + its cross-process lock).

- load_silent: a new app on the file, then acquire_token_silent for user
  k = N/2 (a cache hit: the first access reads and parses the whole file).
- load_silent_write: the same, then acquire_token_by_refresh_token for user k,
  which rewrites the file.

Usage: file_cycle_python.py GEN_CACHE_DIR  (prints one JSON line per op)
No network: a fake http_client answers the metadata GET and the refresh grant.
"""
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import msal
import msal_extensions

N = 1000
CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
HOST = "https://login.microsoftonline.com"
SCOPES = ["user.read", "mail.read"]
K = N // 2


def uid_of(i):
    return "%08x-0000-4000-8000-%012x" % (0x10000000 + i, i)


def b64(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


class Resp:
    def __init__(self, body):
        self.status_code, self.text, self.headers = 200, json.dumps(body), {}

    def raise_for_status(self):
        pass


class Idp:
    def get(self, url, **kw):
        assert url.endswith("/.well-known/openid-configuration"), url
        return Resp({"issuer": "%s/%s/v2.0" % (HOST, TENANT),
                     "authorization_endpoint": "%s/%s/oauth2/v2.0/authorize" % (HOST, TENANT),
                     "token_endpoint": "%s/%s/oauth2/v2.0/token" % (HOST, TENANT)})

    def post(self, url, **kw):
        assert url.endswith("/oauth2/v2.0/token"), url
        uid = uid_of(K)
        claims = {"aud": CLIENT_ID, "iss": "%s/%s/v2.0" % (HOST, TENANT), "tid": TENANT, "oid": uid,
                  "sub": "sub-%d" % K, "preferred_username": "user%06d@contoso.example" % K,
                  "name": "User %d" % K, "iat": int(time.time()), "exp": int(time.time()) + 3600}
        return Resp({"token_type": "Bearer", "scope": "mail.read user.read openid profile offline_access",
                     "expires_in": 3600, "ext_expires_in": 3600,
                     "access_token": "at-secret-%d" % K, "refresh_token": "rt-secret-%d" % K,
                     "id_token": "%s.%s." % (b64('{"alg":"none","typ":"JWT"}'), b64(json.dumps(claims))),
                     "client_info": b64(json.dumps({"uid": uid, "utid": TENANT}))})

    def close(self):
        pass


def app_on(path):
    cache = msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence(path))
    return msal.PublicClientApplication(
        CLIENT_ID, authority="%s/%s" % (HOST, TENANT), token_cache=cache,
        http_client=Idp(), instance_discovery=False)


ACCOUNT = {"home_account_id": "%s.%s" % (uid_of(K), TENANT), "environment": "login.microsoftonline.com",
           "username": "user%06d@contoso.example" % K, "realm": TENANT, "local_account_id": uid_of(K),
           "authority_type": "MSSTS"}


def load_silent(path):
    app = app_on(path)
    r = app.acquire_token_silent(SCOPES, ACCOUNT)
    assert r and r["access_token"] == "at-secret-%d" % K and r.get("token_source") == "cache", r
    return app


def load_silent_write(path):
    app = load_silent(path)
    r = app.acquire_token_by_refresh_token("rt-secret", SCOPES)
    assert "access_token" in r, r


def measure(fn, path, reps=20):
    fn(path)  # warm-up
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        fn(path)
        samples.append((time.perf_counter() - t) * 1e6)
    return statistics.median(samples), min(samples)


def main():
    gen = os.path.join(sys.argv[1], "gen_cache.py")
    d = tempfile.mkdtemp()
    try:
        path = os.path.join(d, "msal_token_cache.json")
        subprocess.check_call([sys.executable, gen, str(N), path, "--now", str(int(time.time()))])
        for name, fn in [("load_silent", load_silent), ("load_silent_write", load_silent_write)]:
            med, mn = measure(fn, path)
            print(json.dumps({"peer": "msal-python+extensions", "op": name, "n": N,
                              "median_us": round(med, 1), "min_us": round(mn, 1),
                              "version": msal.__version__}))
        with open(path) as f:
            assert len(json.load(f)["Account"]) == N
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
