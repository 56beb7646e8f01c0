#!/usr/bin/env bash
# A short, bounded coverage-guided run of every fuzz target (fuzz/README.md):
# FUZZ_SECONDS per target (default 20), seeded with the corpus in the repo;
# new inputs go to a temporary directory, not into the checkout. A crash, an
# exception other than the documented one, a twin disagreement or a 5 s hang
# fails the step.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-20}
python -c 'import atheris' 2>/dev/null || python -m pip install -q 'atheris>=2.3'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in sse chunked jsonrpc http11 server hpack h2conn; do
  mkdir -p "$work/$t"
  echo "+ fuzz/fuzz_$t.py for ${seconds}s"
  rc=0
  python "fuzz/fuzz_$t.py" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
    -artifact_prefix="$work/$t-" "$work/$t" "fuzz/corpus/$t" >"$work/$t.log" 2>&1 || rc=$?
  grep -E "^Done|ERROR|Error|assert|Traceback" "$work/$t.log" | grep -v Instrumenting || true
  [ "$rc" -eq 0 ] || { tail -40 "$work/$t.log" >&2; echo "fuzz target $t failed" >&2; exit 1; }
done
