// ort_node.js: what the node scripts driving ONNX Runtime share
// (tests/ort_run.js, tests/ort_compare.js, tools/bench_infer.js): finding
// onnxruntime-node, the typed array behind each tensor type, and the
// session options under which supcon is compared with it.
'use strict';

const path = require('path');

// onnxruntime-node from PREFIX/node_modules (what tools/install-ort.sh
// fills) or, without a prefix, via NODE_PATH, as { ort, version }.  Throws
// an Error saying where it looked and how to install it.
function loadOrt(prefix) {
  const where = prefix ? path.resolve(prefix, 'node_modules', 'onnxruntime-node')
                       : 'onnxruntime-node';
  let ort;
  try {
    ort = require(where);
  } catch (e) {
    throw new Error(`cannot load onnxruntime-node from ${where}: ` +
                    `${e.message.split('\n')[0]}; run tools/install-ort.sh ` +
                    `${prefix || 'PREFIX'}`);
  }
  let version = '?';
  try {
    version = require(`${where}/package.json`).version;
  } catch (e) { /* only for reports */ }
  return { ort, version };
}

const TYPED_ARRAYS = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, int32: Int32Array,
  uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array,
};

// `threads` intra-op threads, one inter-op thread, nodes in order, every
// graph optimization, errors only: how `supcon run` and `supcon bench`
// are measured against ONNX Runtime.
function sessionOptions(threads) {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
}

module.exports = { loadOrt, TYPED_ARRAYS, sessionOptions };
