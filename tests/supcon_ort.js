#!/usr/bin/env node
// supcon_ort.js: runs the SupConLoss models that test_supcon_loss wrote in
// ONNX Runtime, which knows nothing of ai.supcon and so executes the
// FunctionProto body the saver attached (onnx/supcon_function.c), and
// compares each output with what our fused kernel computed.
//
//   node supcon_ort.js --ort PREFIX --cases DIR/cases.json [--min-cases N]
//
// cases.json: {"cases": [{"name", "model", "inputs": [{"name", "type",
// "dims", "file"}], "expected": {"type", "dims", "file"}, "atol"}]}, the
// files raw little-endian data.  An element passes when
// |ort - ours| <= atol + 1e-4 |ours| (atol: the float32 rounding of the
// logits the case's loss is made of, see test_supcon_loss.c).  Exit 0 when
// every case passes, 1 when one fails or ONNX Runtime refuses a model,
// 2 on bad usage.
'use strict';

const fs = require('fs');
const path = require('path');
const { loadOrt, TYPED_ARRAYS, sessionOptions } =
  require(path.join(__dirname, '..', 'tools', 'ort_node.js'));

const RTOL = 1e-4;

function die(code, msg) {
  console.error(`supcon_ort.js: ${msg}`);
  process.exit(code);
}

function parseArgs(argv) {
  const args = { ort: null, cases: null, minCases: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (i + 1 >= argv.length) die(2, `${a} needs a value`);
    if (a === '--ort') args.ort = argv[++i];
    else if (a === '--cases') args.cases = argv[++i];
    else if (a === '--min-cases') args.minCases = Number(argv[++i]);
    else die(2, `unknown argument '${a}'`);
  }
  if (!args.cases) die(2, 'usage: node supcon_ort.js --ort PREFIX --cases FILE [--min-cases N]');
  return args;
}

function readTyped(type, file) {
  const Ctor = TYPED_ARRAYS[type];
  if (!Ctor) die(2, `${file}: unsupported type ${type}`);
  const bytes = fs.readFileSync(file);
  const ab = new ArrayBuffer(bytes.length);
  new Uint8Array(ab).set(bytes);
  return new Ctor(ab);
}

async function runCase(ort, c) {
  const session = await ort.InferenceSession.create(c.model, sessionOptions(1));
  const feeds = {};
  for (const inp of c.inputs)
    feeds[inp.name] = new ort.Tensor(inp.type, readTyped(inp.type, inp.file), inp.dims);
  const result = await session.run(feeds);
  const got = result[session.outputNames[0]];
  await session.release();
  const want = readTyped(c.expected.type, c.expected.file);
  const dims = got.dims.map(Number);
  if (JSON.stringify(dims) !== JSON.stringify(c.expected.dims))
    return `output shape [${dims}], expected [${c.expected.dims}]`;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const a = got.data[i], b = want[i];
    const err = Math.abs(a - b);
    if (!(err <= c.atol + RTOL * Math.abs(b)))
      return `element ${i}: ONNX Runtime ${a}, supcon ${b}`;
    worst = Math.max(worst, err / (c.atol + RTOL * Math.abs(b)));
  }
  return { worst, first: got.data[0] };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let spec;
  try {
    spec = JSON.parse(fs.readFileSync(args.cases, 'utf8'));
  } catch (e) {
    die(1, `${args.cases}: ${e.message.split('\n')[0]} (does test_supcon_loss run first?)`);
  }
  let ort, version;
  try {
    ({ ort, version } = loadOrt(args.ort));
  } catch (e) {
    die(1, e.message);
  }
  ort.env.logLevel = 'error';
  let failed = 0;
  for (const c of spec.cases) {
    let r;
    try {
      r = await runCase(ort, c);
    } catch (e) {
      r = `ONNX Runtime failed: ${String(e && e.message ? e.message : e).split('\n')[0].slice(0, 300)}`;
    }
    if (typeof r === 'string') {
      console.log(`FAIL ${c.name}: ${r}`);
      failed++;
    } else {
      console.log(`ok   ${c.name}: output[0] ${r.first.toPrecision(8)}, ` +
                  `worst error ${(100 * r.worst).toFixed(1)}% of the tolerance`);
    }
  }
  const n = spec.cases.length;
  console.log(`onnxruntime-node ${version}: ${n - failed} of ${n} SupConLoss cases match the fused kernel`);
  if (n < args.minCases) die(1, `only ${n} cases, expected at least ${args.minCases}`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => die(1, String(e && e.message ? e.message : e).split('\n')[0]));
