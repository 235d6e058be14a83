#!/usr/bin/env bash
# build.sh — the one build entry point of mcpstream.
#
#   bash build.sh            set up what is missing, then build native + wasm
#   bash build.sh setup      toolchain (apt), npm packages, cJSON source
#   bash build.sh wasm       dist/mcpstream.wasm (skipped when up to date)
#   bash build.sh test-c     native C tests under ASan/UBSan, then short fuzz runs
#   bash build.sh fuzz [s]   fuzz every target for s seconds each (default 60)
#   bash build.sh constants  src/js/constants.js from src/core/mcpstream.h
#
# Everything fetched or built goes to git-ignored folders: deps/, build/, dist/.
set -euo pipefail
cd "$(dirname "$0")"

CJSON_VERSION=1.7.15-1+deb12u4
CJSON_ORIG_SHA256=5308fd4bd90cef7aa060558514de6a1a4a0819974a26e6ed13973c5f624c24b2
CJSON_DIR=deps/cjson-$CJSON_VERSION

say() { printf '[build] %s\n' "$*" >&2; }
die() { printf '[build] error: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi; }

apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq >&2; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

setup_toolchain() {
  local need=()
  command -v emcc >/dev/null || need+=(emscripten)
  command -v clang >/dev/null || need+=(clang)
  # libFuzzer and the sanitizer runtimes for clang
  [ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] || need+=(libclang-rt-14-dev)
  command -v patch >/dev/null || need+=(patch)
  command -v xz >/dev/null || need+=(xz-utils)
  # the browser e2e tests drive Debian's Chromium (never a downloaded browser build)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then say "installing with apt: ${need[*]}"; apt_install "${need[@]}"; fi
}

# cJSON: Debian's source package at a pinned version (upstream tarball checked
# against a pinned sha256, Debian's security patches applied). Never committed.
setup_cjson() {
  [ -f "$CJSON_DIR/cJSON.c" ] && return 0
  say "fetching cJSON $CJSON_VERSION (Debian source package)"
  local list=/etc/apt/sources.list.d/mcpstream-deb-src.sources
  if ! apt-cache showsrc cjson 2>/dev/null | grep -q "^Version: $CJSON_VERSION"; then
    # a deb-src twin of the machine's Debian entries, so apt-get source works
    [ -f "$list" ] || as_root tee "$list" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    as_root apt-get update -qq >&2; apt_updated=1
  fi
  local tmp; tmp=$(mktemp -d)
  ( cd "$tmp" && apt-get source --download-only -qq "cjson=$CJSON_VERSION" >&2 2>/dev/null ) ||
    die "apt-get source cjson=$CJSON_VERSION failed (is a deb-src entry reachable?)"
  echo "$CJSON_ORIG_SHA256  $tmp/cjson_1.7.15.orig.tar.gz" | sha256sum -c --quiet - ||
    die "cJSON upstream tarball checksum mismatch"
  mkdir -p "$tmp/src"
  tar -xzf "$tmp/cjson_1.7.15.orig.tar.gz" -C "$tmp/src" --strip-components=1
  tar -xJf "$tmp"/cjson_*.debian.tar.xz -C "$tmp/src"
  if [ -f "$tmp/src/debian/patches/series" ]; then
    while read -r p; do
      case "$p" in ''|'#'*) continue ;; esac
      patch -d "$tmp/src" -p1 -s < "$tmp/src/debian/patches/$p"
    done < "$tmp/src/debian/patches/series"
  fi
  mkdir -p "$CJSON_DIR"
  cp "$tmp/src/cJSON.c" "$tmp/src/cJSON.h" "$tmp/src/LICENSE" "$CJSON_DIR/"
  rm -rf "$tmp"
}

setup_npm() {
  # npm ci when node_modules is missing or older than the lock file
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error >&2
  fi
}

setup() { setup_toolchain; setup_cjson; setup_npm; }

CORE_SRC=(src/core/*.c)
# The export list comes from the one export macro in the public header.
exports_json() {
  sed -n 's/^MS_EXPORT[^(]*[ *]\(ms_[a-z0-9_]*\)(.*/"_\1"/p' src/core/mcpstream.h | paste -sd, | sed 's/^/[/; s/$/]/'
}

# The boundary's constants for JS come from the same header: src/js/constants.js
# is generated (and committed, so that a fresh clone and the npm package have
# it); `bash build.sh constants` writes it, test-c fails when it is stale.
constants_js() {
  awk '
    function group(name, prefix,   out, i, sep) {
      out = "export const " name " = Object.freeze({"; sep = " "
      for (i = 1; i <= n; i++) if (index(key[i], prefix) == 1) {
        out = out sep substr(key[i], length(prefix) + 1) ": " val[i]; sep = ", "
      }
      print out " });"
    }
    /^#define MS_[A-Z_]+ -?[0-9]+/ { n++; key[n] = substr($2, 4); val[n] = $3 }
    /^  X\([A-Z_]+, -[0-9]+, [A-Z_]+\)/ {
      s = $0; sub(/^  X\(/, "", s); sub(/\).*/, "", s); split(s, f, /, /)
      ne++; ename[ne] = f[1]; evalue[ne] = f[2]; ecode[ne] = f[3]
    }
    END {
      print "// constants.js — GENERATED by build.sh from src/core/mcpstream.h: do not edit."
      print "// Change the header, then run `bash build.sh constants` (test-c fails while this is stale)."
      print ""
      print "/** ms_stream_next / ms_stream_return results (MS_DONE ...). */"
      out = "export const STATUS = Object.freeze({"; sep = " "
      for (i = 1; i <= n; i++) if (key[i] ~ /^(DONE|YIELD|EFFECTS|WAIT)$/) { out = out sep key[i] ": " val[i]; sep = ", " }
      print out " });"
      print "/** MS_ERR_* values. */"
      out = "export const ERR = Object.freeze({"; sep = " "
      for (i = 1; i <= ne; i++) { out = out sep ename[i] ": " evalue[i]; sep = ", " }
      print out " });"
      print "/** MS_ERR_* value → stable string code (ms_strerror). */"
      out = "export const ERROR_CODES = Object.freeze({"; sep = " "
      for (i = 1; i <= ne; i++) { out = out sep "[" evalue[i] "]: \"" ecode[i] "\""; sep = ", " }
      print out " });"
      print "/** MS_FX_* effect kinds. */"; group("FX", "FX_")
      print "/** MS_SEND_*: c of an FX.SEND. */"; group("SEND", "SEND_")
      print "/** MS_CLOSE_*: why a transport closed (ms_session_closed). */"; group("CLOSE", "CLOSE_")
      print "/** MS_OWNER_*: owners of sessions. */"; group("OWNER", "OWNER_")
      print "/** MS_END_*: why a stream ends early (ms_stream_return). */"; group("END", "END_")
      print "/** MS_LIMIT_*: ms_ctx_set_limit / ms_session_set_limit. */"; group("LIMIT", "LIMIT_")
      print "/** MS_DEFAULT_*: the limits a new context starts with. */"; group("DEFAULT", "DEFAULT_")
      print "/** MS_REQ_*: flags of ms_session_request. */"; group("REQ", "REQ_")
      print "/** MS_CAP_*: client capabilities (ms_session_set_capabilities). */"; group("CAP", "CAP_")
    }' src/core/mcpstream.h
}

check_constants() {
  constants_js | cmp -s - src/js/constants.js ||
    die "src/js/constants.js disagrees with src/core/mcpstream.h: run bash build.sh constants (and commit it)"
}

newer_than() { # newer_than OUT INPUT... : true when OUT exists and is newer than every input
  [ -f "$1" ] || return 1
  local out=$1; shift
  [ -z "$(find "$@" -newer "$out" -print -quit 2>/dev/null)" ]
}

# Wasm features beyond the MVP, both in every engine we run on (Node 20, Chromium, workerd; Safari
# 16.4+, Firefox 89+): bulk memory, so that our memcpy/memset are one memory.copy/fill (the libc's
# memcpy copies 4 bytes at a time: ~3 GB/s); SIMD128, for the 16-byte scanning loops of src/core/bytescan.h.
WASM_FEATURES=(-mbulk-memory -msimd128)

build_wasm() {
  local out=dist/mcpstream.wasm
  if newer_than "$out" src/core build.sh "$CJSON_DIR"; then return 0; fi
  say "building $out"
  mkdir -p dist build
  exports_json > build/exports.json
  # -Oz: smallest code. --no-entry + STANDALONE_WASM: a reactor module with no
  # Emscripten JS glue (src/js/loader.js instantiates it). ALLOW_MEMORY_GROWTH:
  # streams hold model and tool output of unknown size (adds one import,
  # env.emscripten_notify_memory_growth, stubbed by the loader). emmalloc: a
  # much smaller malloc than dlmalloc. Warnings are errors for our code only.
  # WASM_FEATURES: see its definition.
  NODE_PATH=${NODE_PATH:-/usr/share/nodejs} emcc -Oz "${WASM_FEATURES[@]}" --no-entry -sSTANDALONE_WASM \
    -sALLOW_MEMORY_GROWTH -sMALLOC=emmalloc -sEXPORTED_FUNCTIONS=@build/exports.json \
    -std=c11 -Wall -Wextra -Werror -I"$CJSON_DIR" -Isrc/core \
    "${CORE_SRC[@]}" build/cjson-wasm.o -o "$out"
}

build_cjson_wasm() {
  mkdir -p build
  if newer_than build/cjson-wasm.o "$CJSON_DIR/cJSON.c" build.sh; then return 0; fi
  # cJSON is a dependency: compiled as it is, without our -Werror.
  NODE_PATH=${NODE_PATH:-/usr/share/nodejs} emcc -Oz "${WASM_FEATURES[@]}" -c "$CJSON_DIR/cJSON.c" -o build/cjson-wasm.o
}

# Native: C tests under ASan/UBSan (any report is fatal).
SAN=(-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
CWARN=(-std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes)

build_native() {
  mkdir -p build/native
  clang "${SAN[@]}" -c "$CJSON_DIR/cJSON.c" -o build/native/cjson.o
  local t objs=()
  for f in "${CORE_SRC[@]}"; do
    clang "${SAN[@]}" "${CWARN[@]}" -I"$CJSON_DIR" -Isrc/core -c "$f" -o "build/native/$(basename "${f%.c}").o"
    objs+=("build/native/$(basename "${f%.c}").o")
  done
  for t in wasm-tests/c/test_*.c; do
    [ -f "$t" ] || continue
    clang "${SAN[@]}" "${CWARN[@]}" -I"$CJSON_DIR" -Isrc/core -Iwasm-tests/c \
      "$t" "${objs[@]}" build/native/cjson.o -o "build/native/$(basename "${t%.c}")"
  done
  # debugging aids of the tests (built so they cannot rot; never run here)
  for t in wasm-tests/c/fmdebug_*.c; do
    [ -f "$t" ] || continue
    clang "${SAN[@]}" "${CWARN[@]}" -I"$CJSON_DIR" -Isrc/core -Iwasm-tests/c \
      "$t" "${objs[@]}" build/native/cjson.o -o "build/native/$(basename "${t%.c}")"
  done
  for t in wasm-tests/c/fuzz_*.c; do
    [ -f "$t" ] || continue
    clang "${SAN[@]}" -fsanitize=fuzzer "${CWARN[@]}" -I"$CJSON_DIR" -Isrc/core \
      "$t" "${CORE_SRC[@]}" "$CJSON_DIR/cJSON.c" -o "build/native/$(basename "${t%.c}")"
  done
}

# The core's layers (docs/architecture.md §1): the session layer names no
# stream function, and each layer's object is private to its own files.
check_layers() {
  local bad
  bad=$(grep -nE '\b(ms__st_|ms__stream|ms__streams|ms_stream_)[a-z_]*\(' src/core/session*.c src/core/effects.c src/core/json.c src/core/jsonrpc.c || true)
  [ -z "$bad" ] || die "a lower layer calls the stream layer: $bad"
  bad=$(grep -lE '#include "session.h"' src/core/*.c | grep -vE '/session[a-z_]*\.c$' || true)
  [ -z "$bad" ] || die "session.h included outside the session layer: $bad"
  bad=$(grep -lE '#include "stream.h"' src/core/*.c | grep -vE '/stream[a-z_]*\.c$' || true)
  [ -z "$bad" ] || die "stream.h included outside the stream layer: $bad"
}

run_c_tests() {
  local t fails=0
  for t in build/native/test_*; do
    [ -x "$t" ] || continue
    if (cd wasm-tests && ASAN_OPTIONS=detect_leaks=1 "../$t"); then :; else fails=$((fails + 1)); fi
  done
  [ "$fails" = 0 ] || die "$fails C test program(s) failed"
}

run_fuzz() { # run_fuzz SECONDS
  local t name
  for t in build/native/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t"); name=${name#fuzz_}
    mkdir -p "build/corpus/$name"
    say "fuzzing $name for ${1}s"
    "$t" -max_total_time="$1" -timeout=5 -print_final_stats=0 "build/corpus/$name" \
      "wasm-tests/c/corpus/$name" >build/fuzz-"$name".log 2>&1 ||
      { tail -40 build/fuzz-"$name".log >&2; die "fuzz target $name failed"; }
  done
}

case "${1:-all}" in
  setup) setup ;;
  wasm) setup; build_cjson_wasm; build_wasm ;;
  native) setup; build_native ;;
  test-c) setup; check_layers; check_constants; build_native; run_c_tests; run_fuzz "${FUZZ_SECONDS:-10}" ;;
  fuzz) setup; build_native; run_fuzz "${2:-60}" ;;
  constants) constants_js > src/js/constants.js; say "wrote src/js/constants.js" ;;
  all) setup; build_cjson_wasm; build_wasm; build_native ;;
  *) die "unknown command: $1 (all | setup | wasm | native | test-c | fuzz | constants)" ;;
esac
