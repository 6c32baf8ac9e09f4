#!/usr/bin/env bash
# Whole-process time of `msal kube-credential` (what kubectl runs before a
# request) against the release emulator over HTTPS:
#   cached  - the token is in msal's cache file (every kubectl call but one an hour);
#             `msal token` for the same token, for comparison
#   cold    - only the refresh token is cached: one refresh_token request per run
# and, side by side in the same run, MSAL Python (+ msal-extensions) getting
# the same cached token from the same file as a whole process (the path of
# Python tools such as the Azure CLI's `az account get-access-token`).
#
# Usage: bash crates/msal-cli/benches/kubectl_plugin.sh [RUNS]   (default 30)
# Needs: a release build (it builds one), python3 with msal and msal-extensions
# ($MSAL_PYTHON, else .venv/bin/python as scripts/test.sh makes it).
# Prints medians and the ratio; measures, asserts nothing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
runs="${1:-30}"
target="${CARGO_TARGET_DIR:-$root/target}"
py="${MSAL_PYTHON:-$root/.venv/bin/python}"
"$py" -c 'import msal, msal_extensions' || { echo "no python with msal at $py" >&2; exit 1; }

cargo build --release -q -p msal-cli -p msal-emulator --manifest-path "$root/Cargo.toml"
msal="$target/release/msal"
emulator="$target/release/msal-emulator"

work="$(mktemp -d)"
trap 'kill "${emu_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
aks="6dae42f8-4368-4678-94ff-3960e28e3630"
app="b3e5c7a9-0000-4000-8000-0000000000b3"
cat > "$work/emulator.toml" <<EOF
include_defaults = true
[device_code]
interval_secs = 1
[[apis]]
app_id = "$aks"
name = "Azure Kubernetes Service AAD Server"
scopes = ["user.read"]
[[apps]]
client_id = "$app"
name = "kubectl bench"
kind = "public"
redirect_uris = ["http://localhost"]
[apps.delegated_permissions]
"$aks" = ["user.read"]
EOF
"$emulator" --config "$work/emulator.toml" --port 0 --cert-out "$work/ca.pem" > "$work/emulator.out" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do grep -q 'https://' "$work/emulator.out" 2>/dev/null && break; sleep 0.1; done
base="$(grep -o 'https://127.0.0.1:[0-9]*' "$work/emulator.out" | head -1)"
[ -n "$base" ] || { cat "$work/emulator.out" >&2; exit 1; }
tenant="5f2c7a1e-3b9d-4c6a-8e4f-1a2b3c4d5e6f"
cache="$work/cache.json"
m=("$msal" --authority "$base/$tenant" --client-id "$app" --ca-file "$work/ca.pem" --cache "$cache" --plaintext)

# Sign in once (device code, approved through the emulator's admin API).
"${m[@]}" login --device-code --scopes "$aks/.default" > /dev/null 2> "$work/login.err" &
login_pid=$!
for _ in $(seq 100); do grep -q 'enter the code' "$work/login.err" 2>/dev/null && break; sleep 0.1; done
curl -s --cacert "$work/ca.pem" -X POST "$base/_admin/device-codes/approve" \
  -H 'content-type: application/json' -d '{"username":"ada@contoso.onmicrosoft.com"}' > /dev/null
wait "$login_pid"

export KUBERNETES_EXEC_INFO='{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}'
# The same cache with no access token: every run redeems the refresh token.
"$py" - "$cache" "$work/rt-only.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["AccessToken"] = {}
json.dump(doc, open(sys.argv[2], "w"), indent=4)
EOF

ms() { echo $(( ($2 - $1) / 1000 )); }   # ns -> us
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }

cat > "$work/silent.py" <<EOF
import sys, msal, msal_extensions
cache = msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence("$cache"))
app = msal.PublicClientApplication("$app", authority="$base/$tenant", token_cache=cache,
    instance_discovery="$base/common/discovery/instance", verify="$work/ca.pem")
r = app.acquire_token_silent(["$aks/.default"], app.get_accounts()[0])
assert r and r.get("token_source") == "cache", r
print(r["access_token"][:8])
EOF

cached=(); token=(); cold=(); python=()
for _ in $(seq "$runs"); do
  t0=$(date +%s%N); "${m[@]}" kube-credential > /dev/null; t1=$(date +%s%N)
  cached+=("$(ms "$t0" "$t1")")
  t0=$(date +%s%N); "${m[@]}" token --scopes "$aks/.default" > /dev/null; t1=$(date +%s%N)
  token+=("$(ms "$t0" "$t1")")
  cp "$work/rt-only.json" "$work/cold.json"
  t0=$(date +%s%N)
  "$msal" --authority "$base/$tenant" --client-id "$app" --ca-file "$work/ca.pem" \
    --cache "$work/cold.json" --plaintext kube-credential > /dev/null
  t1=$(date +%s%N)
  cold+=("$(ms "$t0" "$t1")")
  t0=$(date +%s%N); REQUESTS_CA_BUNDLE="$work/ca.pem" "$py" "$work/silent.py" > /dev/null; t1=$(date +%s%N)
  python+=("$(ms "$t0" "$t1")")
done
c=$(printf '%s\n' "${cached[@]}" | median)
t=$(printf '%s\n' "${token[@]}" | median)
k=$(printf '%s\n' "${cold[@]}" | median)
p=$(printf '%s\n' "${python[@]}" | median)
echo "runs per case: $runs (medians, whole process, ms)"
echo "msal kube-credential, token cached:        $c"
echo "msal token, same token cached:             $t"
echo "msal kube-credential, refresh (cold path): $k"
echo "MSAL Python silent from the same file:     $p"
awk -v c="$c" -v k="$k" -v p="$p" 'BEGIN { printf "cold / cached = %.1fx; MSAL Python / msal cached = %.1fx\n", k/c, p/c }'
