#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/.

Run once before fuzzing (`python3 fuzz/seeds/make_seeds.py`); libFuzzer grows
the corpus from these, and `cargo fuzz cmin` shrinks it again before commit.
Values are fake; JWTs are unsigned.
"""
import base64, hashlib, json, os, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def jwt(claims):
    return "eyJhbGciOiJub25lIn0." + b64(json.dumps(claims).encode()) + ".sig"

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

TID = "5f2c7a1e-3b9d-4c6a-8e4f-1a2b3c4d5e6f"
UID = "a0a0a0a0-1111-4222-8333-00000000ada1"
CI = b64(json.dumps({"uid": UID, "utid": TID}).encode())
IDT = jwt({"aud": "fuzz-client", "iss": f"https://login.microsoftonline.com/{TID}/v2.0",
           "tid": TID, "oid": UID, "preferred_username": "ada@contoso.example",
           "nonce": "fuzz-nonce", "name": "Ada", "iat": 1700000000, "exp": 1700003600})

# --- cache -------------------------------------------------------------------
for name in ("spec_9_1.json", "spec_9_2.json"):
    with open(os.path.join(REPO, "crates/msal/tests/fixtures/cache", name), "rb") as f:
        put("cache", f.read())
for doc in [
    "", "{}", "[]", "null", '{"AccessToken":{}}', '\ufeff{"x":1}',
    '{"AccessToken":{"k":{"credential_type":"AccessToken","secret":"s","home_account_id":null,'
    '"environment":"login.microsoftonline.com","client_id":"c","realm":"r","target":"a b",'
    '"cached_at":1700000000,"expires_on":"1700003600","extended_expires_on":"x"}}}',
    '{"RefreshToken":{"k":{"credential_type":"RefreshToken","secret":"s","home_account_id":"u.t",'
    '"environment":"login.windows.net","client_id":"c","family_id":"1","last_modification_time":"5"}}}',
    '{"Account":{"k":{"home_account_id":"u.t","environment":"e","realm":"r","local_account_id":"l",'
    '"username":"\\u00e9\\ud83d\\ude00","authority_type":"MSSTS","tenantProfiles":["{\\"a\\":1}"]}},'
    '"AppMetadata":{"m":{"client_id":"c","environment":"e","family_id":null}},'
    '"Unknown":[1,2.5,-0,1e400,true,false,null,{"n":{"e":[]}}]}',
    '{"IdToken":{"k":{"credential_type":"IdToken","secret":"' + IDT + '","home_account_id":"u.t",'
    '"environment":"e","realm":"r","client_id":"c"}},"IdToken":{}}',
    '{\n    "AccessToken": {\n        "a": {\n            "secret": "x"\n        }\n    }\n}',
    '{"a":NaN,"b":Infinity,"c":-Infinity,"d":"\\u0000\\t\\"\\\\\\/","e":1.5e-7}',
]:
    put("cache", doc)

# --- token_response (first byte: status 0=200 6=400 8=401 11=429 12=500 13=503) ----
ok = {"token_type": "Bearer", "scope": "User.Read profile openid email", "expires_in": 3599,
      "ext_expires_in": 3599, "refresh_in": 1800, "access_token": "at-1", "refresh_token": "rt-1",
      "id_token": IDT, "client_info": CI, "foci": "1"}
put("token_response", b"\x00" + json.dumps(ok).encode())
put("token_response", b"\x00" + json.dumps({"access_token": "a", "expires_on": "1700000000", "expires_in": "60"}).encode())
put("token_response", b"\x00" + json.dumps({"refresh_token": "r", "foci": 1, "expires_in": 1e300}).encode())
put("token_response", b"\x00" + json.dumps({"id_token": "a.b.c", "client_info": "!!"}).encode())
put("token_response", b"\x00" + json.dumps({"error": "invalid_grant"}).encode())
for status, body in [
    (6, {"error": "invalid_grant", "error_description": "AADSTS70000: bad", "error_codes": [70000],
         "suberror": "bad_token", "claims": "{\"access_token\":{}}", "correlation_id": "c"}),
    (6, {"error": "interaction_required", "suberror": "basic_action"}),
    (8, {"error": "invalid_client", "error_codes": ["x"]}),
    (11, {"error": "temporarily_unavailable"}),
    (12, {"error": "server_error"}),
    (13, "not json"),
]:
    put("token_response", bytes([status]) + json.dumps(body).encode())

# --- id_token (even first byte: the JWT; odd: the payload JSON) ------------------
put("id_token", b"\x00" + IDT.encode())
put("id_token", b"\x00eyJhbGciOiJub25lIn0.eyJhdWQiOiJmdXp6LWNsaWVudCJ9.")
put("id_token", b"\x00a.b.c.d")
for claims in [
    {"aud": ["x", "FUZZ-CLIENT"], "iss": "https://login.windows.net/t/", "tid": "t", "nonce": "fuzz-nonce"},
    {"aud": "fuzz-client", "iss": "https://login.microsoftonline.com/{tenantid}/v2.0", "nonce": "n"},
    {"sub": "s", "upn": "u@x", "emails": ["e@x"], "aud": 5},
    {"aud": "fuzz-client", "iss": "https://evil.example/t/v2.0", "tid": "t", "nonce": "fuzz-nonce"},
]:
    put("id_token", b"\x01" + json.dumps(claims).encode())
put("id_token", b"\x01[1,2]")

# --- client_info --------------------------------------------------------------
put("client_info", b"\x00" + CI.encode())
put("client_info", b"\x00" + base64.b64encode(b'{"uid":"u+/","utid":"t"}'))
put("client_info", b"\x01" + json.dumps({"uid": 5, "utid": "t"}).encode())
put("client_info", b"\x01" + json.dumps({"uid": "u"}).encode())
put("client_info", b"\x01[]")

# --- authority ----------------------------------------------------------------
for a in [
    "https://login.microsoftonline.com/common", "https://login.microsoftonline.com/organizations/",
    f"https://login.microsoftonline.com/{TID}", "https://login.microsoftonline.us/contoso.onmicrosoft.com",
    "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin",
    "https://contoso.b2clogin.com/tfp/contoso.onmicrosoft.com/b2c_1_susi",
    "https://login.contoso.com/adfs", "https://contoso.ciamlogin.com/",
    "https://contoso.ciamlogin.com/contoso.onmicrosoft.com", "http://127.0.0.1:8080/t",
    "http://localhost/common", "http://[::1]:1/x", "https://user:pw@host/t", "https://host/t?q#f",
    "https://HOST.example:443/T/extra", "https://accounts.google.com\nlogin.windows.net",
    "https://login.microsoftonline.com/common\nLOGIN.chinacloudapi.cn:8443", "ftp://x/y", "",
    "https://xn--nxasmq6b.example/t", "https://login.microsoftonline.com/%2F/",
]:
    put("authority", a)

# --- device_code ----------------------------------------------------------------
put("device_code", b"\x00" + json.dumps({"device_code": "dc", "user_code": "ABCDEFGHI",
    "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900, "interval": 5,
    "message": "To sign in..."}).encode())
put("device_code", b"\x00" + json.dumps({"device_code": "dc", "user_code": "X",
    "verification_url": "https://v", "expires_in": "900", "interval": "0"}).encode())
put("device_code", b"\x00" + json.dumps({"device_code": "dc", "user_code": "X",
    "verification_uri": "https://v", "expires_in": 18446744073709551615, "interval": 18446744073709551615}).encode())
put("device_code", b"\x06" + json.dumps({"error": "invalid_scope"}).encode())
put("device_code", b"\x0b" + json.dumps({"error": "slow_down", "error_description": "wait"}).encode())
put("device_code", b"\x00" + json.dumps({"device_code": "", "user_code": "X", "expires_in": -1}).encode())

# --- managed_identity (bits 0-3 status, 4-6 source, 7 whole app) ---------------
for sel, body in [
    (0x00, {"access_token": "at", "expires_in": "3599", "expires_on": "1700003599", "resource": "r", "token_type": "Bearer"}),
    (0x80, {"access_token": "at", "expires_on": 1700086399, "refresh_in": 43200}),
    (0xA0, {"access_token": "at", "expires_on": "1700003599.5"}),
    (0x86, {"error": "invalid_resource", "error_description": "AADSTS500011: bad"}),
    (0x96, {"statusCode": 400, "message": "bad resource"}),
    (0xA6, {"error": {"code": "SecretHeaderNotFound", "message": "no secret"}}),
    (0xBC, "upstream failure"),
    (0xCB, {"Message": "slow down"}),
]:
    put("managed_identity", bytes([sel]) + json.dumps(body).encode())

# --- emulator_token (bits 0-2 tenant, 3 Authorization line, 4 GET, 5 no content type)
CLI = "7c8e0d8b-3f2a-4b1c-9d6e-2a4f6b8c0e1f"
def form(**kw):
    from urllib.parse import urlencode
    return urlencode(kw).encode()
CLI = "c11c11c1-0000-4000-8000-00000000c11a"
DAEMON = "dae30000-0000-4000-8000-00000000dae3"
WEBAPI = "a9100000-0000-4000-8000-00000000a910"
basic = "Basic " + base64.b64encode(f"{DAEMON}:daemon-secret-value".encode()).decode()
seeds = [
    (0, form(grant_type="password", client_id=CLI, username="ada@contoso.onmicrosoft.com",
             password="Ada-Passw0rd!", scope="User.Read openid profile offline_access", client_info="1")),
    (2, form(grant_type="password", client_id=CLI, username="alan@outlook.com",
             password="wrong", scope="api://msal-emulator-web-api/access_as_user openid")),
    (0, form(grant_type="client_credentials", client_id=DAEMON, client_secret="daemon-secret-value",
             scope="https://graph.microsoft.com/.default")),
    (1, form(grant_type="client_credentials", client_id=DAEMON,
             client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
             client_assertion=jwt({"iss": DAEMON, "sub": DAEMON, "aud": "x", "exp": 1}),
             scope="api://msal-emulator-web-api/.default")),
    (0, form(grant_type="refresh_token", client_id=CLI, refresh_token="rt-unknown", scope="User.Read")),
    (0, form(grant_type="authorization_code", client_id=CLI, code="c", redirect_uri="http://localhost:1",
             code_verifier="v" * 43, scope="openid")),
    (5, form(grant_type="urn:ietf:params:oauth:grant-type:device_code", client_id=CLI, device_code="dc")),
    (0, form(grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", client_id=WEBAPI,
             client_secret="web-api-secret-value", assertion=IDT, requested_token_use="on_behalf_of",
             scope="User.Read")),
    (0, b"grant_type=password&grant_type=password"),
    (6, b"grant_type=nope"), (7, b""), (0x10, b""), (0x20, b"grant_type=%ff%fe&&=&x"),
]
for flags, body in seeds:
    put("emulator_token", bytes([flags]) + body)
put("emulator_token", bytes([0x08]) + basic.encode() + b"\n" +
    form(grant_type="client_credentials", scope="https://graph.microsoft.com/.default"))
put("emulator_token", bytes([0x08]) + b"Basic !!!!\n" + form(grant_type="client_credentials", client_id=DAEMON))
print("seeds written under", os.path.normpath(ROOT))
