#!/usr/bin/env python3
"""py_file_hit.py CACHE AUTHORITY CLIENT_ID USERNAME SCOPE -- MSAL Python's silent
cache hit on a token cache file shared through msal-extensions (what the Azure CLI
does inside `az account get-access-token`), for the side-by-side benchmark of
msal-azure-identity. Prints one JSON line: median wall ns and CPU ns per acquire_token_silent.
TLS to the emulator: REQUESTS_CA_BUNDLE."""
import json, sys, time
import msal
from msal_extensions import FilePersistence, PersistedTokenCache

cache_path, authority, client_id, username, scope = sys.argv[1:6]
cache = PersistedTokenCache(FilePersistence(cache_path))
app = msal.PublicClientApplication(client_id, authority=authority, token_cache=cache,
                                   instance_discovery=False)
account = [a for a in app.get_accounts() if a["username"] == username][0]
first = app.acquire_token_silent([scope], account)
assert first and "access_token" in first, first


def per_call(fn, n=300, rounds=7):
    """Median wall ns per call over the rounds, and CPU ns per call over all of them."""
    out = []
    cpu = time.process_time_ns()
    for _ in range(rounds):
        t = time.perf_counter_ns()
        for _ in range(n):
            fn()
        out.append((time.perf_counter_ns() - t) / n)
    return sorted(out)[len(out) // 2], (time.process_time_ns() - cpu) / (n * rounds)


def hit():
    r = app.acquire_token_silent([scope], account)
    assert r["access_token"] == first["access_token"]


wall, cpu = per_call(hit)
print(json.dumps({"silent_file_hit_ns": round(wall), "cpu_ns": round(cpu), "msal": msal.__version__}))
