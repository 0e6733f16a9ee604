#!/bin/sh
# run_fuzz.sh: runs one libFuzzer harness for a while, as CI and people do.
#
#   run_fuzz.sh HARNESS SECONDS WORK SEED...
#
# HARNESS is a fuzz_* binary of the fuzz build (-DSUPCON_FUZZ=ON).  WORK
# holds the growing corpus (WORK/corpus, kept between runs), crashers
# (WORK/artifacts/) and the seeds gathered here.  Each SEED is a folder of
# inputs, or one of
#   onnx-models=DIR   every model.onnx under DIR of at most 64 KiB
#   onnx-tensors=DIR  every input_*.pb under DIR of at most 16 KiB
# drawn from the ONNX backend test data (libonnx-testdata) at run time.
#
# Exit status is libFuzzer's: 0 when nothing was found.  A crasher must be
# fixed and then kept under tests/fuzz/regressions/NAME/, where the replay
# tests of the normal builds run it (tests/cmake/fuzz.cmake).
# FUZZ_FLAGS adds libFuzzer options (e.g. FUZZ_FLAGS=-jobs=2).
set -eu
if [ $# -lt 3 ]; then
	echo "usage: run_fuzz.sh HARNESS SECONDS WORK SEED..." >&2
	exit 2
fi
bin=$1
seconds=$2
work=$3
shift 3
name=$(basename "$bin")
mkdir -p "$work/corpus" "$work/artifacts" "$work/seeds"

# Copies files matching NAME of at most SIZE bytes under DIR into a seed
# folder, named after their path so that cases do not collide.
gather() {
	src=$1 pattern=$2 max=$3 out=$4
	if [ ! -d "$src" ]; then
		echo "$name: seed folder $src does not exist (install libonnx-testdata)" >&2
		exit 1
	fi
	mkdir -p "$out"
	find "$src" -type f -name "$pattern" -size -"$max"c | while read -r f; do
		rel=${f#"$src"/}
		cp "$f" "$out/$(printf '%s' "$rel" | tr '/' '_')"
	done
}

dirs=""
for seed in "$@"; do
	case "$seed" in
	onnx-models=*)
		gather "${seed#onnx-models=}" model.onnx 65537 "$work/seeds/models"
		dirs="$dirs $work/seeds/models" ;;
	onnx-tensors=*)
		gather "${seed#onnx-tensors=}" 'input_*.pb' 16385 "$work/seeds/tensors"
		dirs="$dirs $work/seeds/tensors" ;;
	*)
		if [ ! -d "$seed" ]; then
			echo "$name: seed folder $seed does not exist" >&2
			exit 1
		fi
		dirs="$dirs $seed" ;;
	esac
done

echo "$name: fuzzing for ${seconds}s; corpus $work/corpus, crashers $work/artifacts/"
# -malloc_limit_mb: no input of these sizes justifies a 1 GiB allocation.
# shellcheck disable=SC2086
set +e
"$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 \
	-malloc_limit_mb=1024 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" ${FUZZ_FLAGS:-} \
	"$work/corpus" $dirs
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
	echo "$name: libFuzzer exited with $rc; crashers in $work/artifacts/:" >&2
	ls -l "$work/artifacts/" >&2
	echo "$name: fix the bug, then keep the input in tests/fuzz/regressions/${name#fuzz_}/" >&2
fi
exit "$rc"
