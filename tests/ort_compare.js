#!/usr/bin/env node
// ort_compare.js: ONNX Runtime must compute exactly the same thing on a model
// supcon saved as on the original it was loaded from.
//
// Reads the cases pb_to_json.py wrote (original path, saved path, inputs).
// For each case ONNX Runtime can load and run on the original, it runs the
// original twice (cases whose two runs differ, such as unseeded random ops,
// are counted as nondeterministic and skipped), then the saved model once:
// the saved model must load, run, and give outputs with the same names,
// types, dims and bytes.  One intra-op thread keeps reductions in a fixed
// order, so "the same" really is bitwise.
//
//   node ort_compare.js --cases FILE [--ort PREFIX] [--min-compared N]
//
// PREFIX is the folder `npm install --prefix PREFIX onnxruntime-node` filled
// (tools/install-ort.sh); without it onnxruntime-node is found via NODE_PATH.
// Prints counts; exits 1 on any mismatch or if fewer than N cases compared,
// 2 on bad usage.
'use strict';

const fs = require('fs');
const path = require('path');
const { loadOrt, TYPED_ARRAYS } = require(path.join(__dirname, '..', 'tools', 'ort_node.js'));

function usage(msg) {
  console.error(`ort_compare.js: ${msg}`);
  console.error('usage: node ort_compare.js --cases FILE [--ort PREFIX] [--min-compared N]');
  process.exit(2);
}

function parseArgs(argv) {
  const args = { cases: null, ort: null, minCompared: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--cases') args.cases = next();
    else if (a === '--ort') args.ort = next();
    else if (a === '--min-compared') args.minCompared = parseInt(next(), 10);
    else usage(`unknown argument '${a}'`);
  }
  if (!args.cases) usage('--cases is required');
  if (!Number.isInteger(args.minCompared)) usage('--min-compared needs a number');
  return args;
}

function makeFeeds(ort, inputs) {
  const feeds = {};
  for (const inp of inputs) {
    let data;
    if (inp.type === 'string') {
      data = inp.strings;
    } else {
      const bytes = Buffer.from(inp.data, 'base64');
      // a fresh, aligned ArrayBuffer: Buffer's pool offset may be unaligned
      const ab = new ArrayBuffer(bytes.length);
      new Uint8Array(ab).set(bytes);
      data = new TYPED_ARRAYS[inp.type](ab);
    }
    feeds[inp.name] = new ort.Tensor(inp.type, data, inp.dims);
  }
  return feeds;
}

function tensorBytes(t) {
  const d = t.data;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

// Describes the first difference between two run results, or returns null.
function diffOutputs(a, b) {
  const na = Object.keys(a).sort(), nb = Object.keys(b).sort();
  if (na.join('\0') !== nb.join('\0'))
    return `output names differ: [${na}] vs [${nb}]`;
  for (const name of na) {
    const x = a[name], y = b[name];
    if (x.type !== y.type) return `output '${name}': type ${x.type} vs ${y.type}`;
    if (x.dims.join(',') !== y.dims.join(','))
      return `output '${name}': dims [${x.dims}] vs [${y.dims}]`;
    if (x.type === 'string') {
      for (let i = 0; i < x.data.length; i++)
        if (x.data[i] !== y.data[i]) return `output '${name}': string ${i} differs`;
      continue;
    }
    const bx = tensorBytes(x), by = tensorBytes(y);
    if (!bx.equals(by)) {
      const esize = x.data.BYTES_PER_ELEMENT || 1;
      let i = 0;
      while (i < bx.length && bx[i] === by[i]) i++;
      const k = Math.floor(i / esize);
      return `output '${name}' (${x.type} [${x.dims}]): element ${k} differs ` +
             `(${x.data[k]} vs ${y.data[k]})`;
    }
  }
  return null;
}

async function createSession(ort, file) {
  return ort.InferenceSession.create(file, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 4,
  });
}

function firstLine(e) {
  return String(e && e.message ? e.message : e).split('\n')[0].slice(0, 300);
}

async function compareCase(ort, c, counts, failures) {
  if (c.skip) {
    counts.no_inputs++;
    return;
  }
  let orig;
  try {
    orig = await createSession(ort, c.original);
  } catch (e) {
    counts.ort_cannot_load_original++;
    return;
  }
  let ref;
  try {
    ref = await orig.run(makeFeeds(ort, c.inputs));
    const again = await orig.run(makeFeeds(ort, c.inputs));
    if (diffOutputs(ref, again)) {
      counts.nondeterministic++;
      return;
    }
  } catch (e) {
    counts.ort_cannot_run_original++;
    return;
  } finally {
    await orig.release();
  }
  let saved;
  try {
    saved = await createSession(ort, c.saved);
  } catch (e) {
    failures.push(`${c.id}: ONNX Runtime cannot load the saved model: ${firstLine(e)}`);
    return;
  }
  try {
    const out = await saved.run(makeFeeds(ort, c.inputs));
    const why = diffOutputs(ref, out);
    if (why) failures.push(`${c.id}: ${why}`);
    else counts.identical++;
  } catch (e) {
    failures.push(`${c.id}: ONNX Runtime cannot run the saved model: ${firstLine(e)}`);
  } finally {
    await saved.release();
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let cases;
  try {
    cases = JSON.parse(fs.readFileSync(args.cases, 'utf8')).cases;
  } catch (e) {
    console.error(`ort_compare.js: ${args.cases}: ${firstLine(e)}`);
    return 1;
  }
  let ort;
  try {
    ort = loadOrt(args.ort).ort;
  } catch (e) {
    console.error(`ort_compare.js: ${e.message}`);
    return 1;
  }
  // Failures to load an original are counted below; ORT's own log of them
  // would only bury the summary.
  ort.env.logLevel = 'fatal';
  const counts = {
    cases: cases.length, identical: 0, no_inputs: 0,
    ort_cannot_load_original: 0, ort_cannot_run_original: 0,
    nondeterministic: 0, failed: 0,
  };
  const failures = [];
  for (const c of cases) await compareCase(ort, c, counts, failures);
  counts.failed = failures.length;
  for (const f of failures) console.log(`FAIL ${f}`);
  console.log('ort_compare: ' + Object.entries(counts).map(([k, v]) => `${k} ${v}`).join('  '));
  if (counts.identical < args.minCompared) {
    console.log(`ort_compare: only ${counts.identical} cases compared, ` +
                `expected at least ${args.minCompared}`);
    return 1;
  }
  return failures.length ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => {
  console.error(`ort_compare.js: ${firstLine(e)}`);
  process.exit(1);
});
