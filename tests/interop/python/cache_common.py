"""Shared pieces of the cache interop scripts: a fake HTTP client for MSAL
Python that serves OIDC discovery, answers token requests from a queue and
records every request, and fake tokens.
"""
import base64
import json

ENV = "login.microsoftonline.com"
TENANT = "a1b2c3d4-0000-4000-8000-00000000e1d0"
AUTHORITY = "https://%s/%s" % (ENV, TENANT)
CLIENT_ID = "5e1f0000-0000-4000-8000-00000000c11d"


def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def id_token(uid, username, now, tid=TENANT):
    claims = {"aud": CLIENT_ID, "iss": "https://%s/%s/v2.0" % (ENV, tid), "iat": now, "nbf": now,
              "exp": now + 3600, "name": "User " + uid, "oid": uid, "preferred_username": username,
              "sub": "sub-" + uid, "tid": tid, "ver": "2.0"}
    return "%s.%s.%s" % (b64({"alg": "none", "typ": "JWT"}), b64(claims), "")


class FakeResponse:
    def __init__(self, status_code, body):
        self.status_code, self.text, self.headers = status_code, json.dumps(body), {}

    def raise_for_status(self):
        if self.status_code >= 400:
            raise RuntimeError("HTTP %d" % self.status_code)


class FakeHttp:
    """Stands in for requests.Session. GETs of the tenant's OIDC discovery
    document are served; POSTs are answered from `token_responses` in order
    (none queued = the script fails: the cache should have been enough)."""

    def __init__(self, token_responses=()):
        self.queue = list(token_responses)
        self.calls = []

    def get(self, url, params=None, headers=None, **kwargs):
        self.calls.append(("GET", url))
        if url.endswith("/v2.0/.well-known/openid-configuration"):
            base = url[: -len("/v2.0/.well-known/openid-configuration")]
            return FakeResponse(200, {
                "authorization_endpoint": base + "/oauth2/v2.0/authorize",
                "token_endpoint": base + "/oauth2/v2.0/token",
                "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
                "issuer": base + "/v2.0",
            })
        raise AssertionError("unexpected HTTP GET " + url)

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        self.calls.append(("POST", url))
        if not self.queue:
            raise AssertionError("unexpected HTTP POST " + url)
        return FakeResponse(200, self.queue.pop(0))

    def close(self):
        pass

    def token_calls(self):
        return [c for c in self.calls if not c[1].endswith("openid-configuration")]
