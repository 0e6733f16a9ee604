#!/usr/bin/env node
// ort_run.js: runs one model once in ONNX Runtime for run_check.py.
//
//   node ort_run.js --ort PREFIX --request FILE.json
//
// The request is {"model": PATH, "threads": N, "inputs": [{"name", "type",
// "dims", "file"}], "out_dir": DIR}: each input is raw little-endian data
// of ONNX Runtime type `type` (float32, int64, ...) with shape `dims`.
// Writes DIR/ort_output_<i>.bin (raw data) for each output in the model's
// output order and DIR/ort_outputs.json listing [{"name", "type", "dims",
// "file"}].  Exit 0 on success, 1 when ONNX Runtime fails (one line on
// stderr), 2 on bad usage.
'use strict';

const fs = require('fs');
const path = require('path');
const { loadOrt, TYPED_ARRAYS, sessionOptions } =
  require(path.join(__dirname, '..', 'tools', 'ort_node.js'));

function die(code, msg) {
  console.error(`ort_run.js: ${msg}`);
  process.exit(code);
}

function parseArgs(argv) {
  const args = { ort: null, request: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (i + 1 >= argv.length) die(2, `${a} needs a value`);
    if (a === '--ort') args.ort = argv[++i];
    else if (a === '--request') args.request = argv[++i];
    else die(2, `unknown argument '${a}'`);
  }
  if (!args.request) die(2, 'usage: node ort_run.js --ort PREFIX --request FILE.json');
  return args;
}

function readInput(ort, inp) {
  const Ctor = TYPED_ARRAYS[inp.type];
  if (!Ctor) die(2, `input '${inp.name}': unsupported type ${inp.type}`);
  const bytes = fs.readFileSync(inp.file);
  // a fresh ArrayBuffer: a Buffer may sit at an unaligned pool offset
  const ab = new ArrayBuffer(bytes.length);
  new Uint8Array(ab).set(bytes);
  return new ort.Tensor(inp.type, new Ctor(ab), inp.dims);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const req = JSON.parse(fs.readFileSync(args.request, 'utf8'));
  let ort;
  try {
    ort = loadOrt(args.ort).ort;
  } catch (e) {
    die(1, e.message);
  }
  ort.env.logLevel = 'error';
  const session = await ort.InferenceSession.create(req.model,
                                                    sessionOptions(req.threads || 1));
  const feeds = {};
  for (const inp of req.inputs) feeds[inp.name] = readInput(ort, inp);
  const result = await session.run(feeds);
  fs.mkdirSync(req.out_dir, { recursive: true });
  const outputs = session.outputNames.map((name, i) => {
    const t = result[name];
    const file = path.join(req.out_dir, `ort_output_${i}.bin`);
    const d = t.data;
    fs.writeFileSync(file, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    return { name, type: t.type, dims: t.dims.map(Number), file };
  });
  fs.writeFileSync(path.join(req.out_dir, 'ort_outputs.json'),
                   JSON.stringify({ outputs }, null, 1));
  await session.release();
}

main().then(() => process.exit(0), (e) => {
  die(1, String(e && e.message ? e.message : e).split('\n')[0].slice(0, 300));
});
