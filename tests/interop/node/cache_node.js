// cache_node.js -- drives the real MSAL Node against token caches, with a fake
// network client (no request leaves the process).
//
//   node cache_node.js write OUT.json NOW   sign two users in (auth code grant) and
//                                           get an app token; write Node's cache.
//   node cache_node.js read IN.json         load a cache; print getAllAccounts() and,
//                                           for each, acquireTokenSilent() (no token
//                                           request allowed: they must come from the cache).
//
// @azure/msal-node is loaded from $MSAL_NODE_DIR (default: this directory).
"use strict";
const fs = require("fs");
const path = require("path");
const base = process.env.MSAL_NODE_DIR || __dirname;
const msal = require(require.resolve("@azure/msal-node", { paths: [base] }));

const ENV = "login.microsoftonline.com";
const TENANT = "a1b2c3d4-0000-4000-8000-00000000e1d0";
const AUTHORITY = `https://${ENV}/${TENANT}`;
const CLIENT_ID = "5e1f0000-0000-4000-8000-00000000c11d";
const USERS = [
  ["0a11ce00-0000-4000-8000-000000000001", "alice@contoso.example"],
  ["0b0b0000-0000-4000-8000-000000000002", "bob@contoso.example"],
];

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const idToken = (uid, name, now) =>
  `${b64({ alg: "none", typ: "JWT" })}.${b64({
    aud: CLIENT_ID, iss: `https://${ENV}/${TENANT}/v2.0`, iat: now, nbf: now, exp: now + 3600,
    name: "User " + uid, oid: uid, preferred_username: name, sub: "sub-" + uid, tid: TENANT, ver: "2.0",
  })}.`;

class FakeNetwork {
  constructor(tokenResponses) {
    this.queue = [...tokenResponses];
    this.tokenCalls = [];
  }
  async sendGetRequestAsync(url) {
    if (url.includes("discovery/instance")) {
      return { status: 200, headers: {}, body: {
        tenant_discovery_endpoint: `${AUTHORITY}/v2.0/.well-known/openid-configuration`,
        "api-version": "1.1",
        metadata: [{ preferred_network: ENV, preferred_cache: "login.windows.net",
          aliases: [ENV, "login.windows.net", "login.microsoft.com", "sts.windows.net"] }],
      } };
    }
    if (url.includes("openid-configuration")) {
      return { status: 200, headers: {}, body: {
        token_endpoint: `${AUTHORITY}/oauth2/v2.0/token`,
        authorization_endpoint: `${AUTHORITY}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${AUTHORITY}/oauth2/v2.0/logout`,
        device_authorization_endpoint: `${AUTHORITY}/oauth2/v2.0/devicecode`,
        issuer: `https://${ENV}/${TENANT}/v2.0`,
        jwks_uri: `https://${ENV}/${TENANT}/discovery/v2.0/keys`,
      } };
    }
    throw new Error("unexpected GET " + url);
  }
  async sendPostRequestAsync(url) {
    this.tokenCalls.push(url);
    if (this.queue.length === 0) throw new Error("unexpected POST " + url);
    return { status: 200, headers: {}, body: this.queue.shift() };
  }
}

async function write(out, now) {
  const responses = USERS.map(([uid, name], i) => ({
    token_type: "Bearer", scope: "User.Read Mail.Read openid profile email",
    expires_in: 3599, ext_expires_in: 3599, access_token: `node-at-${i}`, refresh_token: `node-rt-${i}`,
    id_token: idToken(uid, name, now), client_info: b64({ uid, utid: TENANT }),
  }));
  const net = new FakeNetwork(responses);
  const pca = new msal.PublicClientApplication({ auth: { clientId: CLIENT_ID, authority: AUTHORITY }, system: { networkClient: net } });
  for (let i = 0; i < USERS.length; i++) {
    const r = await pca.acquireTokenByCode({ code: `code-${i}`, scopes: ["User.Read", "Mail.Read"], redirectUri: "http://localhost" });
    if (r.accessToken !== `node-at-${i}`) throw new Error("unexpected token " + r.accessToken);
  }
  fs.writeFileSync(out, pca.getTokenCache().serialize());
  const accounts = await pca.getTokenCache().getAllAccounts();
  console.log(JSON.stringify({ accounts: accounts.map((a) => a.username), version: msal.version }));
}

async function read(file) {
  const net = new FakeNetwork([]);
  const pca = new msal.PublicClientApplication({ auth: { clientId: CLIENT_ID, authority: AUTHORITY }, system: { networkClient: net } });
  pca.getTokenCache().deserialize(fs.readFileSync(file, "utf8"));
  const accounts = await pca.getTokenCache().getAllAccounts();
  const silent = {};
  for (const a of accounts) {
    try {
      const r = await pca.acquireTokenSilent({ account: a, scopes: ["User.Read"] });
      silent[a.username] = { access_token: r.accessToken, from_cache: r.fromCache };
    } catch (e) {
      silent[a.username] = { error: String(e.errorCode || e.message) };
    }
  }
  console.log(JSON.stringify({
    accounts: accounts.map((a) => ({ home_account_id: a.homeAccountId, environment: a.environment, username: a.username })),
    silent, token_requests: net.tokenCalls,
  }));
}

const [cmd, file, now] = process.argv.slice(2);
(cmd === "write" ? write(file, Number(now)) : read(file)).catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
