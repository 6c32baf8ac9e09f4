#!/usr/bin/env bash
# Runs the shared token-cache benchmark on MSAL Python and msal-rs in the same
# run and prints the median table (see /work/shared/bench/README.md).
#   crates/msal/benches/run_cache_bench.sh [N ...]     (default: 100 1000 10000 100000)
# Env: MSAL_PYTHON (python with msal), BENCH_DIR (default /work/shared/bench),
#      OUT (directory for caches and results, default target/cache-bench).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
bench_dir="${BENCH_DIR:-/work/shared/bench}"
py="${MSAL_PYTHON:-$root/.venv/bin/python}"
[ -x "$py" ] || py=/work/main/.venv/bin/python
"$py" -c 'import msal' || { echo "no python with msal at $py" >&2; exit 1; }
out="${OUT:-$root/target/cache-bench}"
mkdir -p "$out"
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(100 1000 10000 100000)
(cd "$root" && cargo build --release -p msal-core --bench cache 2>&1 | tail -1)
bin="$(ls -t "$root"/target/release/deps/cache-* | grep -v '\.d$' | head -1)"
: > "$out/python.jsonl"; : > "$out/rust.jsonl"
for n in "${sizes[@]}"; do
  f="$out/cache_$n.json"
  python3 "$bench_dir/gen_cache.py" "$n" "$f"   # fresh: access tokens expire after an hour
  (cd "$bench_dir" && "$py" bench_python.py "$f") | tee -a "$out/python.jsonl"
  "$bin" "$f" | tee -a "$out/rust.jsonl"
done
python3 "$bench_dir/table.py" "$out/python.jsonl" "$out/rust.jsonl"
