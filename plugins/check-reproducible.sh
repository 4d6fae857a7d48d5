#!/usr/bin/env bash
# Rebuilds every plugin that has a build.sh into a temporary folder and compares the bytes
# with the module committed beside it (the `module:` of its plugin.yaml). Exits non-zero
# if any differs or fails to build. CI runs it; it needs the plugins' compilers
# (Debian: `apt-get install -y clang lld`).
set -euo pipefail
cd "$(dirname "$0")"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

echo "clang: $(${CLANG:-clang} --version | head -n 1)"
status=0
for build in */build.sh; do
    dir="${build%/build.sh}"
    module="$(sed -n 's/^module:[[:space:]]*//p' "$dir/plugin.yaml" | tr -d '"'"'"'\r')"
    if [[ -z "$module" ]]; then
        echo "FAIL $dir: no \`module:\` in $dir/plugin.yaml"
        status=1
        continue
    fi
    rebuilt="$scratch/$dir.wasm"
    if ! "$build" "$rebuilt" >"$scratch/$dir.log" 2>&1; then
        echo "FAIL $dir: build.sh failed:"
        sed 's/^/    /' "$scratch/$dir.log"
        status=1
    elif cmp -s "$rebuilt" "$dir/$module"; then
        echo "ok   $dir: $module is reproducible ($(sha256sum "$rebuilt" | cut -c1-16)…)"
    else
        echo "FAIL $dir: rebuilding gives different bytes than the committed $dir/$module"
        echo "     committed $(sha256sum <"$dir/$module" | cut -c1-64)"
        echo "     rebuilt   $(sha256sum <"$rebuilt" | cut -c1-64)"
        echo "     (rebuild with $build and commit the module, or check the compiler version in $build)"
        status=1
    fi
done
exit "$status"
