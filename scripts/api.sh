#!/usr/bin/env bash
# The public API of every publishable library crate, listed by
# cargo-public-api (from rustdoc's JSON) and committed under api/.
#
#   scripts/api.sh           check: fails, with the diff, when an API changed
#                            and its listing was not updated
#   scripts/api.sh --bless   rewrite the listings after a deliberate change
#
# Every change to a listing is a decision recorded in review: see
# "Versioning" in README.md. Needs the pinned nightly toolchain (rustdoc JSON
# is unstable) and cargo-public-api; both are installed when missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# rustdoc's JSON format changes between nightlies: this pair is known to work.
NIGHTLY="${API_NIGHTLY:-nightly-2026-05-20}"
CPA_VERSION="0.52.0"
CRATES=(msal-core msal-cache-common msal-cache-file msal-cache-redis msal-cache-postgres msal-emulator)
[ -d crates/msal-azure-identity ] && CRATES+=(msal-azure-identity)

log() { printf '==> %s\n' "$*" >&2; }

if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1; then
  log "installing $NIGHTLY (rustdoc JSON)"
  rustup toolchain install "$NIGHTLY" --profile minimal >/dev/null
fi
if ! cargo public-api --version 2>/dev/null | grep -q "$CPA_VERSION"; then
  log "installing cargo-public-api $CPA_VERSION"
  cargo install --locked --quiet cargo-public-api --version "$CPA_VERSION"
fi

mkdir -p api
status=0
for c in "${CRATES[@]}"; do
  want="api/$c.txt"
  got="$(mktemp)"
  # -ss: without blanket and auto-trait impls, which follow from the rest.
  cargo "+$NIGHTLY" public-api --package "$c" -ss --color never 2>/dev/null > "$got" || {
    echo "cargo public-api failed for $c" >&2
    cargo "+$NIGHTLY" public-api --package "$c" -ss --color never >/dev/null || true
    exit 1
  }
  if [ "${1:-}" = "--bless" ]; then
    mv "$got" "$want"
    log "wrote $want ($(grep -c '^pub ' "$want") public items)"
  elif ! diff -u "$want" "$got" > "$got.diff"; then
    echo "The public API of $c changed, and api/$c.txt was not updated:" >&2
    cat "$got.diff" >&2
    echo "If the change is deliberate, run scripts/api.sh --bless and commit api/$c.txt." >&2
    status=1
  else
    log "$c: public API as listed ($(grep -c '^pub ' "$want") public items)"
  fi
  rm -f "$got" "$got.diff"
done
exit $status
