#!/bin/sh
# Installs ONNX Runtime for Node (onnxruntime-node 1.30, CPU) under PREFIX
# (default build/ort) for the interop tests. Idempotent: does nothing when
# that version is already there. --ignore-scripts because the package's
# install script tries to download GPU binaries; the CPU binary ships inside.
set -eu
prefix="${1:-build/ort}"
version_wanted="1.30"
pkg_json="$prefix/node_modules/onnxruntime-node/package.json"

installed_version() {
  [ -f "$pkg_json" ] || return 1
  node -e 'process.stdout.write(require(process.argv[1]).version)' \
    "$(cd "$(dirname "$pkg_json")" && pwd)/package.json" 2>/dev/null
}

if v="$(installed_version)" && case "$v" in "$version_wanted".*) true ;; *) false ;; esac; then
  echo "onnxruntime-node $v already in $prefix"
  exit 0
fi

mkdir -p "$prefix"
npm install --ignore-scripts --no-audit --no-fund --prefix "$prefix" \
  "onnxruntime-node@$version_wanted"

# Check that the CPU binding loads, so a broken install fails here and not
# in the middle of a test run.
(cd "$prefix" && node -e 'require("onnxruntime-node"); console.log("onnxruntime-node " + require("onnxruntime-node/package.json").version + " ready")')
