#!/bin/sh
# Load benchmark (not run in CI): how much slower than reading the bytes is
# loading a model, and how much memory does it take beyond the file's size?
#
#   tools/bench_load.sh [BUILD_DIR] [WORK_DIR]
#
# Exports a ~100 MB torchvision ResNet-50 (tests/make_torchvision.py, random
# weights, nothing downloaded), then times, with the file in the page cache,
# `cat FILE > /dev/null` against `supcon info FILE`, both under
# /usr/bin/time -v, best of 5.  Prints the two ratios:
#   load/read  = supcon info wall time / cat wall time
#   rss/file   = supcon info peak RSS / file size
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
work="${2:-$build/bench}"
supcon="$build/bin/supcon"
model="$work/resnet50_op13.onnx"
runs=5

[ -x "$supcon" ] || { echo "bench_load: build supcon first ($supcon missing)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench_load: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }
mkdir -p "$work"
if [ ! -f "$model" ]; then
  /usr/bin/python3 "$root/tests/make_torchvision.py" "$model" --arch resnet50 --opset 13
fi
size=$(stat -c %s "$model")

# Prints "SECONDS KBYTES" for one run of the command, from GNU time -v.
measure() {
  /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt" || {
    cat "$work/time.txt" >&2; exit 1; }
  awk -F': ' '
    /Elapsed \(wall clock\)/ {
      n = split($2, p, ":"); s = 0
      for (i = 1; i <= n; i++) s = s * 60 + p[i]
      wall = s
    }
    /Maximum resident set size/ { rss = $2 }
    END { printf "%.3f %d\n", wall, rss }' "$work/time.txt"
}

# Best wall time and the peak RSS of that run, over $runs runs.
best_of() {
  best=""
  for _ in $(seq "$runs"); do
    r=$(measure "$@")
    if [ -z "$best" ] || awk -v a="${r% *}" -v b="${best% *}" 'BEGIN{exit !(a < b)}'; then
      best="$r"
    fi
  done
  echo "$best"
}

cat "$model" >/dev/null   # warm the page cache
read_r=$(best_of cat "$model")
load_r=$(best_of "$supcon" info "$model")

# GNU time's wall clock has 10 ms resolution; a finer clock for the ratio.
fine() {
  python_t=$(/usr/bin/python3 - "$@" <<'PY'
import subprocess, sys, time
best = None
for _ in range(5):
    t = time.perf_counter()
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
    d = time.perf_counter() - t
    best = d if best is None or d < best else best
print("%.4f" % best)
PY
)
  echo "$python_t"
}
read_s=$(fine cat "$model")
load_s=$(fine "$supcon" info "$model")

echo "model          $model ($size bytes)"
echo "cat            ${read_s} s   (time -v: ${read_r% *} s, max RSS ${read_r#* } KiB)"
echo "supcon info    ${load_s} s   (time -v: ${load_r% *} s, max RSS ${load_r#* } KiB)"
awk -v l="$load_s" -v r="$read_s" -v rss="${load_r#* }" -v size="$size" 'BEGIN {
  printf "load/read      %.2f\n", l / r
  printf "rss/file       %.2f\n", rss * 1024 / size
}'
