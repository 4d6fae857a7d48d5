#!/usr/bin/env bash
# Builds grade-sizes.wasm from source with clang (Debian: `apt-get install clang lld`).
# Usage: build.sh [OUTPUT]   (default: grade-sizes.wasm beside this script)
#
# Reproducible: no debug info, no paths, no timestamps go into the module, so the same
# clang version gives the same bytes (plugins/check-reproducible.sh checks it in CI).
# The committed module was built with Debian clang 14.0.6.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/grade-sizes.wasm}"
sdk="$here/../sdk/c"
cd "$here"
"${CLANG:-clang}" --target=wasm32 -O2 -std=c11 -Wall -Wextra -Werror \
    -nostdlib -ffreestanding -mbulk-memory -fvisibility=hidden \
    -I ../sdk/c \
    -Wl,--no-entry -Wl,--strip-all -Wl,-z,stack-size=65536 \
    -o "$out" \
    ../sdk/c/techpack_plugin.c src/grade_sizes.c
echo "built $out ($(wc -c <"$out") bytes)"
