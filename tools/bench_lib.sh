# bench_lib.sh: what the training benchmarks share (sourced, not run).
# The caller sets `name` (for messages), `build` and `work`; this defines
# supcon, py and fail(), checks that supcon is built (warning when the
# build is not Release), that Debian's python3 with torch is there, and
# makes the work folder.
supcon="$build/bin/supcon"
py=/usr/bin/python3

fail() { echo "$name: $*" >&2; exit 2; }
[ -x "$supcon" ] || fail "build supcon first ($supcon missing)"
[ -x "$py" ] || fail "$py missing (Debian's python3 with python3-torch)"
case "$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)" in
  Release|RelWithDebInfo) ;;
  *) echo "$name: warning: $build is not a Release build" >&2 ;;
esac
mkdir -p "$work"
