#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the interop and
# browser tests need, makes sure Redis and PostgreSQL answer, then runs every
# test. Nothing is skipped: a missing tool fails the run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# A clean clone builds once: incremental caches would only cost time and disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

log() { printf '==> %s\n' "$*" >&2; }

# --- Redis -----------------------------------------------------------------
if ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
  log "Redis does not answer at $REDIS_URL; starting a local one"
  if ! command -v redis-server >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && break; sleep 0.2; done
  redis-cli -u "$REDIS_URL" ping >/dev/null || { echo "Redis could not be started" >&2; exit 1; }
fi

# --- PostgreSQL --------------------------------------------------------------
if ! pg_isready -q -d "$DATABASE_URL" 2>/dev/null; then
  log "PostgreSQL does not answer at $DATABASE_URL; starting the local cluster"
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 50); do pg_isready -q -d "$DATABASE_URL" 2>/dev/null && break; sleep 0.2; done
  pg_isready -q -d "$DATABASE_URL" || { echo "PostgreSQL is not reachable at $DATABASE_URL" >&2; exit 1; }
fi

# --- Redis Cluster and PgBouncer (storage tests) -----------------------------
# A cluster of 3 masters and 3 replicas on 127.0.0.1:7100-7105 and PgBouncer in
# transaction mode on 127.0.0.1:6433, in front of DATABASE_URL's server; a stale
# run's servers are stopped first, and these are stopped when this script exits.
bash scripts/test-servers.sh start
trap 'bash "$root/scripts/test-servers.sh" stop' EXIT
export REDIS_CLUSTER_NODES="redis://127.0.0.1:7100,redis://127.0.0.1:7101,redis://127.0.0.1:7102,redis://127.0.0.1:7103,redis://127.0.0.1:7104,redis://127.0.0.1:7105"
# DATABASE_URL with PgBouncer's address (same user and database).
PGBOUNCER_URL="$(printf '%s' "$DATABASE_URL" | sed -E 's#^(postgres(ql)?://([^@/]*@)?)[^/]*/#\1127.0.0.1:6433/#')"
export PGBOUNCER_URL

# --- MSAL Python (interop) ---------------------------------------------------
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import msal, msal_extensions' 2>/dev/null; then
  log "creating .venv with msal and msal-extensions"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check msal msal-extensions
fi
export MSAL_PYTHON="$root/.venv/bin/python"

# --- MSAL Node (interop) -----------------------------------------------------
if [ ! -d tests/interop/node/node_modules/@azure/msal-node ]; then
  log "installing @azure/msal-node"
  (cd tests/interop/node && npm install --no-audit --no-fund --silent)
fi
export MSAL_NODE_DIR="$root/tests/interop/node"

# --- Chromium (interactive sign-in tests) ------------------------------------
if ! command -v chromium >/dev/null; then
  log "installing chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export CHROMIUM="${CHROMIUM:-$(command -v chromium)}"
if ! command -v chromedriver >/dev/null; then
  log "installing chromium-driver"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-driver >/dev/null
fi
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"

# --- Secret Service (encrypted cache file keys) ------------------------------
# The file-cache tests start their own D-Bus session bus with GNOME Keyring on it.
if ! command -v gnome-keyring-daemon >/dev/null || ! command -v dbus-daemon >/dev/null \
   || ! command -v dbus-send >/dev/null || ! command -v secret-tool >/dev/null; then
  log "installing gnome-keyring, dbus-daemon and libsecret-tools"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    gnome-keyring dbus-daemon dbus-bin libsecret-tools >/dev/null
fi

# --- kubectl, git, script(1), python3 (msal-cli's tool tests) -------------------
# The kubectl test runs the real kubectl against a loopback API server; the git
# test clones through `git http-backend`; the spinner test needs a terminal
# from script(1); --output az is compared with python3's json.dumps.
if ! command -v kubectl >/dev/null; then
  log "installing kubernetes-client (kubectl)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
fi
export KUBECTL="${KUBECTL:-$(command -v kubectl)}"
if ! command -v git >/dev/null; then
  log "installing git"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null
fi
if ! command -v script >/dev/null; then
  log "installing bsdutils (script)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bsdutils >/dev/null
fi
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

# --- Release checks (fast ones first) ----------------------------------------
# Skip them with MSAL_TESTS_ONLY=1 (the tests alone, e.g. while iterating).
checks="${MSAL_TESTS_ONLY:-0}"
if [ "$checks" != 1 ]; then
  log "cargo fmt --check"
  cargo fmt --all -- --check
fi

log "running cargo test --workspace"
# Benchmarks are built (so they keep compiling) but not run: they measure, they
# do not assert, and some take minutes. See each crate's benches/ for how to run them.
cargo test --workspace --all-targets --no-run "$@"
# Binaries and examples as a user runs them (target/debug/msal, examples/token):
# tests start them as child processes.
cargo build --workspace --bins --examples "$@"
cargo test --workspace --lib --bins --tests --examples "$@"
cargo test --workspace --doc

if [ "$checks" != 1 ]; then
  log "clippy (all targets; the core's library alone, with and without default features)"
  cargo clippy --workspace --all-targets -- -D warnings
  # Without the test-only feature the tests turn on, so dead internals show.
  cargo clippy -p msal-core --lib -- -D warnings
  cargo clippy -p msal-core --lib --no-default-features -- -D warnings

  log "documentation (warnings are errors)"
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --quiet

  msrv="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
  log "minimum supported Rust version $msrv"
  rustup run "$msrv" rustc --version >/dev/null 2>&1 \
    || rustup toolchain install "$msrv" --profile minimal >/dev/null
  # What users build (libraries and the CLI); the tests may use newer Rust.
  CARGO_TARGET_DIR=target/msrv cargo "+$msrv" check --workspace --lib --bins --quiet

  log "public API listings"
  bash scripts/api.sh

  log "packages (cargo publish --dry-run of every publishable crate)"
  cargo publish --dry-run --workspace --allow-dirty --quiet
fi
