#!/bin/sh
# Inference benchmark of issue #3 (not run in CI): supcon against ONNX
# Runtime 1.30 (onnxruntime-node), measured in the same run on the same
# machine, on torchvision ResNet-50 and ResNet-18 exports.
#
#   tools/bench_infer.sh [BUILD_DIR] [WORK_DIR]
#
# BUILD_DIR (default build) should be a Release build; WORK_DIR (default
# BUILD_DIR/bench) receives the exported models and the logs.  Settings come
# from the environment:
#   THREADS=2 BATCH=16 WARMUP=3 REPEAT=10   the same for both runtimes
#   MODELS="resnet50_op13 ..."              a subset of the four below
#   ORT_PREFIX=BUILD_DIR/ort                where onnxruntime-node lives
#
# The models (tests/make_torchvision.py, random weights, nothing downloaded)
# are ResNet-50 and ResNet-18 at opset 13, each with BatchNormalization kept
# and folded into the convolutions.  For each model it runs
#   supcon bench M --threads T --batch B --warmup W --repeat R
#   node tools/bench_infer.js --model M (intraOpNumThreads T,
#        interOpNumThreads 1, graphOptimizationLevel 'all', same B, W, R)
# each under /usr/bin/time -v as its own process, and prints a table of the
# median ms per batch, the throughput ratio supcon/ORT (>1: supcon is
# faster) and the peak RSS of each process (ORT's includes node itself,
# about 45 MiB).  A model supcon refuses gets its one-line reason instead of
# numbers, and the script goes on.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
work="${2:-$build/bench}"
supcon="$build/bin/supcon"
ort_prefix="${ORT_PREFIX:-$build/ort}"
threads="${THREADS:-2}"
batch="${BATCH:-16}"
warmup="${WARMUP:-3}"
repeat="${REPEAT:-10}"
models="${MODELS:-resnet50_op13 resnet50_op13_folded resnet18_op13 resnet18_op13_folded}"

fail() { echo "bench_infer: $*" >&2; exit 2; }
[ -x "$supcon" ] || fail "build supcon first ($supcon missing)"
[ -x /usr/bin/time ] || fail "/usr/bin/time missing (apt-get install time)"
command -v node >/dev/null 2>&1 || fail "node missing (apt-get install nodejs)"
if [ ! -d "$ort_prefix/node_modules/onnxruntime-node" ]; then
  sh "$root/tools/install-ort.sh" "$ort_prefix" >&2
fi
case "$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)" in
  Release|RelWithDebInfo) ;;
  *) echo "bench_infer: warning: $build is not a Release build" >&2 ;;
esac
mkdir -p "$work"

# resnet50_op13_folded -> the make_torchvision.py options for it
export_model() {
  name="$1"
  file="$work/$name.onnx"
  [ -f "$file" ] && return 0
  arch="${name%%_*}"
  opset="$(echo "$name" | sed -n 's/.*_op\([0-9]*\).*/\1/p')"
  fold=""
  case "$name" in *_folded) fold="--fold-bn" ;; esac
  # shellcheck disable=SC2086
  /usr/bin/python3 "$root/tests/make_torchvision.py" "$file" --arch "$arch" \
    --opset "$opset" $fold >&2
}

# Runs a command under GNU time; stdout to $1.out, stderr to $1.err, time's
# report to $1.time.  Returns the command's status.
measure() {
  log="$1"
  shift
  /usr/bin/time -v -o "$log.time" "$@" >"$log.out" 2>"$log.err"
}

median_of() { sed -n 's/^median_ms: //p' "$1.out" | tail -1; }
rss_mib_of() {
  awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1.time"
}

# Both runtimes share the machine with whatever else runs: say how busy it was.
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$work/results.txt"
: >"$results"
for name in $models; do
  export_model "$name"
  model="$work/$name.onnx"
  echo "bench_infer: $name: supcon" >&2
  s_log="$work/$name.supcon"
  s_ms="" s_rss="" s_note=""
  if measure "$s_log" "$supcon" bench "$model" --threads "$threads" --batch "$batch" \
       --warmup "$warmup" --repeat "$repeat"; then
    s_ms="$(median_of "$s_log")"
    s_rss="$(rss_mib_of "$s_log")"
  else
    s_note="$(head -1 "$s_log.err")"
  fi
  echo "bench_infer: $name: onnxruntime-node" >&2
  o_log="$work/$name.ort"
  o_ms="" o_rss="" o_note=""
  if measure "$o_log" node "$root/tools/bench_infer.js" --ort "$ort_prefix" \
       --model "$model" --batch "$batch" --threads "$threads" --warmup "$warmup" \
       --repeat "$repeat"; then
    o_ms="$(median_of "$o_log")"
    o_rss="$(rss_mib_of "$o_log")"
  else
    o_note="$(head -1 "$o_log.err")"
  fi
  echo "$name|$s_ms|$o_ms|$s_rss|$o_rss|$s_note|$o_note" >>"$results"
done

echo
echo "batch $batch x 3x224x224, $threads threads, $warmup warm-up + $repeat timed runs;" \
     "medians in ms per batch"
echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
printf '%-22s %12s %12s %14s %12s %12s\n' model supcon_ms ort_ms supcon/ort_thr \
  supcon_rss ort_rss
while IFS='|' read -r name s_ms o_ms s_rss o_rss s_note o_note; do
  ratio="-"
  if [ -n "$s_ms" ] && [ -n "$o_ms" ]; then
    ratio="$(awk -v s="$s_ms" -v o="$o_ms" 'BEGIN { printf "%.2fx", o / s }')"
  fi
  printf '%-22s %12s %12s %14s %12s %12s\n' "$name" "${s_ms:--}" "${o_ms:--}" "$ratio" \
    "${s_rss:--} MiB" "${o_rss:--} MiB"
  [ -z "$s_note" ] || echo "  supcon: $s_note"
  [ -z "$o_note" ] || echo "  onnxruntime: $o_note"
done <"$results"
echo "(supcon/ort_thr = throughput of supcon / throughput of ONNX Runtime = ort_ms / supcon_ms)"
