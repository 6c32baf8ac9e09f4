#!/usr/bin/env python3
"""MSAL Python's side of benches/confidential.rs: acquire_token_for_client
cache hits with 1, 1,000 and 10,000 tenants' app tokens in one shared
in-memory token cache (one ConfidentialClientApplication per tenant, as a
multi-tenant daemon on MSAL Python builds them), tenants in a pseudo-random
order. Prints one JSON line per scenario.

Usage: confidential_python.py   (with msal installed; no network: a fake
http_client serves metadata and the token grant during warm-up only)
"""
import json
import random
import statistics
import time

import msal

CLIENT_ID = "00000000-0000-0000-0000-00000000d43e"
HOST = "https://login.microsoftonline.com"
SCOPE = ["https://graph.microsoft.com/.default"]


def tenant(i):
    return "7e4a0000-0000-4000-8000-%012x" % i


class Resp:
    def __init__(self, body):
        self.status_code, self.text, self.headers = 200, json.dumps(body), {}

    def raise_for_status(self):
        pass


class Idp:
    def __init__(self):
        self.calls = 0

    def get(self, url, **kw):
        self.calls += 1
        base = url.split("/v2.0/.well-known")[0]
        return Resp({"issuer": base + "/v2.0", "authorization_endpoint": base + "/oauth2/v2.0/authorize",
                     "token_endpoint": base + "/oauth2/v2.0/token"})

    def post(self, url, data=None, **kw):
        self.calls += 1
        return Resp({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                     "access_token": "at-" + url})

    def close(self):
        pass


def per_call_us(fn, calls=2000, batches=15):
    fn()
    means = []
    for _ in range(batches):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        means.append((time.perf_counter() - t) * 1e6 / calls)
    return statistics.median(means), min(means)


def main():
    rnd = random.Random(7)
    for n in (1, 1000, 10000):
        cache = msal.TokenCache()
        idp = Idp()
        apps = [msal.ConfidentialClientApplication(
            CLIENT_ID, client_credential="secret", authority="%s/%s" % (HOST, tenant(i)),
            token_cache=cache, http_client=idp, instance_discovery=False) for i in range(n)]
        for a in apps:
            assert "access_token" in a.acquire_token_for_client(SCOPE)
        before = idp.calls
        order = [rnd.randrange(n) for _ in range(4096)]
        pos = [0]

        def hit():
            a = apps[order[pos[0] & 4095]]
            pos[0] += 1
            r = a.acquire_token_for_client(SCOPE)
            assert r["token_source"] == "cache"
        med, mn = per_call_us(hit, calls=1000 if n < 10000 else 300, batches=10)
        assert idp.calls == before, "a hit made a request"
        print(json.dumps({"peer": "msal-python", "op": "client credentials hit, memory", "tenants": n,
                          "median_us": round(med, 1), "min_us": round(mn, 1), "version": msal.__version__}))



if __name__ == "__main__":
    main()
