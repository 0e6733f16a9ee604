#!/bin/bash
# check_install.sh: installs a supcon build into a fresh prefix and uses it
# the way another project would (issue 10):
#   1. `cmake --install BUILD --prefix WORK/prefix`, and the files it must
#      hold (header, libsupcon.so with its SONAME link, libsupcon.a,
#      supcon.pc, the CMake package);
#   2. the exported symbols: every defined global symbol of libsupcon.so
#      and of libsupcon.a is a supcon_* function of the installed header,
#      and every function of the header is exported;
#   3. the examples of this folder built with
#      `cc $(pkg-config --cflags --libs supcon)` (shared, and static with
#      --static) and with CMake's find_package(supcon) (supcon::supcon and
#      supcon::supcon_static);
#   4. each build run: classify.c on a PNG with a classifier made by
#      `supcon build` (its scores must equal `supcon run`'s on the same
#      PNG), finetune.c with SupCon on an in-memory batch (the loss must go
#      down, the export must reproduce the trainer), and `supcon run` on
#      the exported model.
# Everything is written under WORK, which is emptied first.
#
#   check_install.sh --build BUILD --work WORK --supcon SUPCON_BIN [--cc CC]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build= work= supcon= cc=cc
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--supcon) supcon=$2; shift 2 ;;
	--cc) cc=$2; shift 2 ;;
	*) echo "check_install.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
if [ -z "$build" ] || [ -z "$work" ] || [ -z "$supcon" ]; then
	echo "usage: check_install.sh --build BUILD --work WORK --supcon SUPCON_BIN [--cc CC]" >&2
	exit 2
fi

fail() {
	echo "check_install.sh: FAIL: $*" >&2
	exit 1
}
step() {
	echo "== $*"
}

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" ||
	fail "cmake --install failed (see $work/install.log)"
pc=$(find "$prefix" -name supcon.pc -print -quit)
[ -n "$pc" ] || fail "no supcon.pc under $prefix"
libdir=$(dirname "$(dirname "$pc")")
header=$prefix/include/supcon.h
for f in "$header" "$libdir/libsupcon.a" "$libdir/libsupcon.so" \
	"$libdir/cmake/supcon/supconConfig.cmake" \
	"$libdir/cmake/supcon/supconConfigVersion.cmake"; do
	[ -e "$f" ] || fail "$f was not installed"
done
version=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --modversion supcon)
major=${version%%.*}
soname=$(readelf -d "$libdir/libsupcon.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libsupcon.so.$major" ] || fail "SONAME is '$soname', expected libsupcon.so.$major"
[ -e "$libdir/$soname" ] || fail "$libdir/$soname (the SONAME link) is missing"
[ -f "$libdir/libsupcon.so.$version" ] || fail "$libdir/libsupcon.so.$version is missing"
echo "version $version, SONAME $soname"

step "exported symbols (nm)"
api=$(grep -o 'supcon_[a-z_]*(' "$header" | tr -d '(' | sort -u)
allowed='^(_init|_fini|_edata|_end|__bss_start)$'
check_symbols() {   # LABEL, then the defined global symbols on stdin
	local label=$1 syms
	syms=$(sort -u)
	local other
	other=$(grep -v '^supcon_' <<<"$syms" | grep -Ev "$allowed" || true)
	[ -z "$other" ] || fail "$label exports symbols outside supcon_*: $(echo $other | head -c 400)"
	if ! diff <(grep '^supcon_' <<<"$syms") <(echo "$api") >"$work/symbols.diff"; then
		fail "$label's supcon_* symbols differ from supcon.h's functions: $(tr '\n' ' ' <"$work/symbols.diff")"
	fi
	echo "$label: $(grep -c '^supcon_' <<<"$syms") symbols, all supcon_*, one per function of supcon.h"
}
nm -D --defined-only "$libdir/libsupcon.so" | awk 'NF == 3 { print $3 }' |
	check_symbols libsupcon.so
nm -g --defined-only "$libdir/libsupcon.a" | awk 'NF == 3 { print $3 }' |
	check_symbols libsupcon.a

export PKG_CONFIG_PATH=$libdir/pkgconfig
bin=$work/bin
mkdir -p "$bin"
strict="-std=c99 -Wall -Wextra -pedantic -Werror"

step "build with pkg-config"
for ex in classify finetune; do
	# shellcheck disable=SC2046
	"$cc" $strict $(pkg-config --cflags supcon) "$here/$ex.c" -o "$bin/${ex}_pc" \
		$(pkg-config --libs supcon) -lm -Wl,-rpath,"$libdir" ||
		fail "$ex.c does not build with pkg-config (shared)"
	# the archive by file name, with what --static adds for it
	# shellcheck disable=SC2046
	"$cc" $strict $(pkg-config --cflags supcon) "$here/$ex.c" -o "$bin/${ex}_pc_static" \
		$(pkg-config --static --libs supcon | sed 's/-lsupcon\b/-l:libsupcon.a/') -lm ||
		fail "$ex.c does not build with pkg-config --static"
done
readelf -d "$bin/classify_pc" | grep -q "NEEDED.*\[$soname\]" ||
	fail "classify_pc does not load $soname"
if readelf -d "$bin/classify_pc_static" | grep -q 'NEEDED.*libsupcon'; then
	fail "classify_pc_static still needs libsupcon.so"
fi
# shellcheck disable=SC2046
"$cc" "$here/make_png.c" -o "$bin/make_png" $(pkg-config --cflags --libs libpng) ||
	fail "make_png.c does not build"

step "build with find_package(supcon)"
cmake -S "$here" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
	-DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$work/cmake.log" 2>&1 ||
	fail "configuring the examples with find_package failed (see $work/cmake.log)"
cmake --build "$work/cmake-build" >>"$work/cmake.log" 2>&1 ||
	fail "building the examples with find_package failed (see $work/cmake.log)"
for ex in classify finetune; do
	cp "$work/cmake-build/$ex" "$bin/${ex}_cmake"
	cp "$work/cmake-build/${ex}_static" "$bin/${ex}_cmake_static"
done

step "models and an image"
"$supcon" build resnet18 --stem cifar --in-shape 1x28x28 --width 8 --classes 10 \
	-o "$work/classifier.onnx" >/dev/null
"$supcon" build resnet18 --stem cifar --in-shape 1x28x28 --width 8 --head mlp:32 \
	-o "$work/encoder.onnx" >/dev/null
"$bin/make_png" "$work/ring.png" 28 28
"$supcon" run "$work/classifier.onnx" --in "input=$work/ring.png" --out "$work/reference" >/dev/null

for kind in pc pc_static cmake cmake_static; do
	step "run the $kind builds"
	out=$("$bin/classify_$kind" "$work/classifier.onnx" "$work/ring.png" \
		"$work/reference/output_0.pb") || fail "classify_$kind failed"
	echo "$out"
	grep -q "^libsupcon $version\$" <<<"$out" || fail "classify_$kind reports another version"
	"$bin/finetune_$kind" "$work/encoder.onnx" "$work/tuned_$kind.onnx" 6 ||
		fail "finetune_$kind failed"
	"$supcon" run "$work/tuned_$kind.onnx" --in input=random:4x1x28x28 \
		--out "$work/tuned_$kind" ||
		fail "supcon run does not run the model finetune_$kind exported"
done
# a bad call comes back as a status and a message, not a crash
if "$bin/classify_pc" "$work/missing.onnx" "$work/ring.png" 2>"$work/err.txt"; then
	fail "classify_pc succeeded on a missing model"
fi
grep -q "missing.onnx" "$work/err.txt" || fail "the error does not name the missing model"
echo "check_install.sh: OK"
