#!/usr/bin/env node
// bench_infer.js: the ONNX Runtime side of tools/bench_infer.sh.  Times
// InferenceSession.run the way `supcon bench` times plan_run: the session is
// created and the input made before the clock starts, warm-up runs first,
// then timed runs; the output has the same "key: value" lines and ends with
// `median_ms: X`.
//
//   node bench_infer.js --ort PREFIX --model M.onnx [--batch 16]
//                       [--threads 2] [--warmup 2] [--repeat 10]
//
// The input is seeded uniform [0, 1) float32 of the model's declared shape
// with a symbolic first dim set to --batch (like `supcon bench --batch`).
// Session options: intraOpNumThreads = --threads, interOpNumThreads 1,
// sequential execution, graphOptimizationLevel 'all'.
'use strict';

const path = require('path');
const { loadOrt, sessionOptions } = require(path.join(__dirname, 'ort_node.js'));

function die(code, msg) {
  console.error(`bench_infer.js: ${msg}`);
  process.exit(code);
}

function parseArgs(argv) {
  const a = { ort: null, model: null, batch: 1, threads: 2, warmup: 2, repeat: 10 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (i + 1 >= argv.length) die(2, `${k} needs a value`);
    const v = argv[++i];
    if (k === '--ort') a.ort = v;
    else if (k === '--model') a.model = v;
    else if (['--batch', '--threads', '--warmup', '--repeat'].includes(k)) {
      const n = Number(v);
      if (!Number.isInteger(n) || n < (k === '--warmup' ? 0 : 1)) die(2, `${k} '${v}': bad number`);
      a[k.slice(2)] = n;
    } else die(2, `unknown argument '${k}'`);
  }
  if (!a.model) die(2, '--model is required');
  return a;
}

// splitmix64 in BigInt is slow for 2.4M values; a 32-bit xorshift is plenty
// for timing data.
function randomFloats(n, seed) {
  const out = new Float32Array(n);
  let s = (seed >>> 0) || 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = (s >>> 8) / 16777216;
  }
  return out;
}

function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  let ort, version;
  try {
    ({ ort, version } = loadOrt(a.ort));
  } catch (e) {
    die(1, e.message);
  }
  ort.env.logLevel = 'error';
  const session = await ort.InferenceSession.create(a.model, sessionOptions(a.threads));
  const feeds = {};
  let batch = 1;
  session.inputNames.forEach((name, i) => {
    const meta = session.inputMetadata[i];
    if (!meta.isTensor || meta.type !== 'float32')
      die(2, `input '${name}' is not a float32 tensor`);
    const dims = meta.shape.map((d, k) => {
      if (typeof d === 'number' && d >= 0) return d;
      if (k === 0) return a.batch;
      die(2, `input '${name}': dim ${k} is not known`);
      return 0;
    });
    if (i === 0) batch = dims.length ? dims[0] : 1;
    const n = dims.reduce((x, y) => x * y, 1);
    feeds[name] = new ort.Tensor('float32', randomFloats(n, i + 1), dims);
    console.log(`input: ${name} float32 [${dims.join(', ')}] from random`);
  });

  const times = [];
  let first = 0;
  for (let r = 0; r < a.warmup + a.repeat; r++) {
    const t0 = nowMs();
    await session.run(feeds);
    const dt = nowMs() - t0;
    if (r === 0) first = dt;
    if (r >= a.warmup) times.push(dt);
  }
  await session.release();
  times.sort((x, y) => x - y);
  const n = times.length;
  const median = n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
  const mean = times.reduce((x, y) => x + y, 0) / n;
  console.log(`runtime: onnxruntime-node ${version}`);
  console.log(`threads: ${a.threads}`);
  console.log(`runs: ${a.warmup} warm-up, ${a.repeat} timed`);
  console.log(`first_run_ms: ${first.toFixed(3)}`);
  console.log(`min_ms: ${times[0].toFixed(3)}`);
  console.log(`mean_ms: ${mean.toFixed(3)}`);
  console.log(`max_ms: ${times[n - 1].toFixed(3)}`);
  console.log(`throughput: ${(batch * 1e3 / median).toFixed(2)} items/s (batch ${batch})`);
  console.log(`median_ms: ${median.toFixed(3)}`);
}

main().catch((e) => die(1, String(e && e.message ? e.message : e).split('\n')[0].slice(0, 300)));
