#!/usr/bin/env bash
# setup.sh — installs the benchmark's peers into bench/node_modules (never into
# the main package), exactly as pinned in bench/package-lock.json, when they are
# missing or older than the lock file. Used by `npm run bench` and `npm test`.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[bench] installing the benchmark's peers (npm ci in bench/)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
