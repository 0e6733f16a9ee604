#!/bin/sh
# Installs every Debian package supcon needs to build, test and run its main job.
# Idempotent: apt-get skips what is already installed. Run as root on Debian 12.
# SUPCON_DEPS_MINIMAL=1 skips the reference tools (torch, onnx) used only by tests,
# GNU time, which the benchmarks in tools/ use to measure peak RSS, and the
# checking tools: clang with libFuzzer and LLVM's OpenMP for the fuzz build
# (tests/fuzz), valgrind for the memcheck test.
set -eu
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

runtime="build-essential cmake pkg-config
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  libdnnl-dev libpng-dev zlib1g-dev
  libcmocka-dev dataset-fashion-mnist libonnx-testdata
  libopenmpi-dev openmpi-bin"
reference="python3 python3-torch python3-torchvision python3-onnx python3-numpy time"
checks="clang libclang-rt-14-dev libomp-dev valgrind"

pkgs="$runtime"
if [ "${SUPCON_DEPS_MINIMAL:-0}" != 1 ]; then pkgs="$pkgs $reference $checks"; fi

# Node.js and npm drive ONNX Runtime in the interop tests. Some images ship a
# nodesource build that bundles npm and conflicts with Debian's npm package,
# so only ask Debian for them when they are missing.
if [ "${SUPCON_DEPS_MINIMAL:-0}" != 1 ]; then
  command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
  command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
fi

$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $pkgs
