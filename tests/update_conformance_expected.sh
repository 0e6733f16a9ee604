#!/bin/sh
# Regenerates tests/conformance_expected.txt, the list of ONNX backend test
# cases that the `conformance` CTest test requires to pass.
#
# Usage: tests/update_conformance_expected.sh [BUILD_DIR] [-- RUNNER OPTIONS]
#   BUILD_DIR defaults to ./build.  The script builds the `conformance`
#   target there, runs every case of the four suites under
#   /usr/share/libonnx-testdata/data, and writes the sorted list of the
#   cases that pass.  Options after `--` go to the runner as they are
#   (e.g. --threads 1; not --filter, which would drop every other case
#   from the list).
#
# Review `git diff tests/conformance_expected.txt` before committing: a
# line that disappears is a case that used to pass and no longer does.
# Run it from a Release or Debug build without sanitizers, so a case that
# is merely slow under ASan is not mistaken for anything else.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
build="build"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
	build="$1"
	shift
fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then
	shift
fi

for arg in "$@"; do
	if [ "$arg" = "--filter" ]; then
		echo "update_conformance_expected.sh: --filter would leave every other case out of the list" >&2
		exit 2
	fi
done
if [ ! -f "$build/CMakeCache.txt" ]; then
	echo "update_conformance_expected.sh: $build is not a configured CMake build folder" >&2
	exit 2
fi
cmake --build "$build" --target conformance -j2

runner="$build/bin/conformance"
if [ ! -x "$runner" ]; then
	echo "update_conformance_expected.sh: $runner was not built" >&2
	exit 1
fi

list="$here/conformance_expected.txt"
"$runner" --write-expected "$list" "$@"
echo "updated $list ($(grep -vc '^#' "$list" || true) cases); review it with git diff"
