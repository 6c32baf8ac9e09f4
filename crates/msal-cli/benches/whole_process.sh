#!/usr/bin/env bash
# Whole-process benchmark of the `msal` command against a command-line tool
# built on MSAL Python doing the same work (/work/shared/bench/py_cli_ops.py),
# in one run, alternating, medians of 5 (after one untimed warm-up each):
#   accounts   msal --cache F --plaintext accounts --output json
#   logout     msal --cache F --plaintext logout --account U   (fresh copy of F each run)
#   token      msal --cache F3 --plaintext token --account U    (3-account cache, cache hit)
# at each N given (default: 1000 10000), caches from gen_cache.py.
#   crates/msal-cli/benches/whole_process.sh [N ...]
# Env: MSAL_PYTHON (python with msal 1.39), BENCH_DIR (default /work/shared/bench),
#      OUT (work directory, default target/cli-bench), REPS (default 5),
#      CARGO_TARGET_DIR (where the release build goes, default target),
#      SKIP_BUILD=1 (use the msal binary already built).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
bench_dir="${BENCH_DIR:-/work/shared/bench}"
py="${MSAL_PYTHON:-$root/.venv/bin/python}"
[ -x "$py" ] || py=/work/main/.venv/bin/python
"$py" -c 'import msal' || { echo "no python with msal at $py" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$root/target}"
out="${OUT:-$root/target/cli-bench}"
reps="${REPS:-5}"
mkdir -p "$out"
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
[ -n "${SKIP_BUILD:-}" ] || (cd "$root" && cargo build --release -p msal-cli 2>&1 | tail -1)
msal="$target/release/msal"
[ -x "$msal" ] || { echo "no msal binary at $msal" >&2; exit 1; }

# Nothing from the caller's environment changes what msal does.
for v in $(env | grep -o '^MSAL_[A-Z_]*' || true); do unset "$v"; done

MSAL="$msal" PY="$py" BENCH_DIR="$bench_dir" OUT="$out" REPS="$reps" \
  python3 - "${sizes[@]}" <<'EOF'
import json, os, shutil, statistics, subprocess, sys, time

msal, py, bench, out, reps = (os.environ[k] for k in ("MSAL", "PY", "BENCH_DIR", "OUT", "REPS"))
reps = int(reps)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AUTHORITY = "https://login.microsoftonline.com/" + TENANT
py_env = dict(os.environ, PYTHONPATH=bench)

def user(i):
    return "user%06d@contoso.example" % i

def gen(n):
    f = os.path.join(out, "cache_%d.json" % n)
    # Fresh every run: the access tokens expire an hour after generation.
    subprocess.run(["python3", os.path.join(bench, "gen_cache.py"), str(n), f], check=True)
    return f

def msal_cmd(cache, *args):
    return [msal, "--cache", cache, "--plaintext", "--authority", AUTHORITY, *args]

def py_cmd(op, cache, *args):
    return [py, os.path.join(bench, "py_cli_ops.py"), op, cache, *args]

def once(cmd, prep=None, check=None):
    """Wall time of one run of cmd in seconds (prep, untimed, first)."""
    if prep:
        prep()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=py_env)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr.decode()))
    if check:
        check(r.stdout)
    return dt

def pair(a, b, prep=None, check_a=None, check_b=None):
    """Medians of reps runs of a and b, alternating, after a warm-up of each."""
    once(a, prep, check_a); once(b, prep, check_b)
    ta, tb = [], []
    for _ in range(reps):
        ta.append(once(a, prep)); tb.append(once(b, prep))
    return statistics.median(ta), statistics.median(tb)

def count_is(n):
    def check(stdout):
        got = len(json.loads(stdout))
        assert got == n, "listed %d accounts, expected %d" % (got, n)
    return check

def token_is(i):
    def check(stdout):
        got = stdout.decode().strip()
        assert got == "at-secret-%d" % i, "token %r" % got
    return check

rows = []
small = gen(3)
k = 1
rows.append(("token (3 accounts)", 3) + pair(
    msal_cmd(small, "token", "--account", user(k), "--scopes", "user.read mail.read"),
    py_cmd("token", small, user(k)),
    check_a=token_is(k), check_b=token_is(k)))
for n in map(int, sys.argv[1:]):
    f = gen(n)
    rows.append(("accounts --output json", n) + pair(
        msal_cmd(f, "accounts", "--output", "json"), py_cmd("accounts", f),
        check_a=count_is(n), check_b=count_is(n)))
    k = n // 2
    work = os.path.join(out, "work_%d.json" % n)
    fresh = lambda: shutil.copyfile(f, work)
    rows.append(("logout --account", n) + pair(
        msal_cmd(work, "logout", "--account", user(k)), py_cmd("logout", work, user(k)),
        prep=fresh))

def ms(s):
    return "%.1f ms" % (s * 1e3) if s < 1 else "%.2f s" % s

print()
print("| command | N | msal | MSAL Python | MSAL Python / msal |")
print("|---|---|---|---|---|")
for name, n, a, b in rows:
    print("| `%s` | %s | %s | %s | %.1f× |" % (name, format(n, ","), ms(a), ms(b), b / a))
EOF
