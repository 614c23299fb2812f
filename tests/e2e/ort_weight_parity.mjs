#!/usr/bin/env node
// ort_weight_parity.mjs — weight parity with ONNX Runtime (issue #4).
//
// Runs the model written by mq-make-parity-model in onnxruntime-node (CPU, graph optimizations
// off, so every QuantizeLinear runs as ORT's kernel at run time) and compares, for every quantized
// weight k, ORT's QuantizeLinear(original weight, our scale, our zero point) (`ort_k`) with the
// bytes mq-quantize wrote (`mq_k`), byte for byte. With --report (mq-quantize's JSON report), also
// checks that every node the report calls quantized has its weight, with the same granularity,
// among the compared weights, and that every compared weight belongs to such a node.
//
//   node ort_weight_parity.mjs --model PARITY.onnx --manifest MANIFEST.json [--report REPORT.json]
//                              [--label TEXT] [--show N] [--expect-mismatch K:I]
//
// --expect-mismatch K:I (negative control, used with mq-make-parity-model --flip K:I): passes only
// when the one and only mismatch is byte I of weight K and differs by exactly the flipped bit.
// Exit: 0 identical (or the expected mismatch alone), 1 a mismatch or a failed check, 2 usage.

import fs from 'node:fs';
import { ort, parseArgs, UsageError, CheckError, loadSession } from './lib/common.mjs';

function readJson(file, what) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckError(`cannot read the ${what} '${file}': ${e.message}`);
  }
}

// Multi-index of flat index i in a row-major tensor of shape dims.
function unravel(i, dims) {
  const out = new Array(dims.length);
  for (let d = dims.length - 1; d >= 0; d--) {
    out[d] = i % dims[d];
    i = Math.floor(i / dims[d]);
  }
  return out;
}

function channelOf(i, w) {
  if (w.axis < 0) return 0;
  let inner = 1;
  for (let d = w.axis + 1; d < w.stored_dims.length; d++) inner *= w.stored_dims[d];
  return Math.floor(i / inner) % w.stored_dims[w.axis];
}

function f32Hex(x) {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, x, true);
  return '0x' + b.getUint32(0, true).toString(16).padStart(8, '0');
}

const granularityOf = (w) => (w.axis < 0 ? 'per-tensor' : `per-channel(axis=${w.axis})`);

// Report <-> manifest coverage: nothing quantized escapes the comparison, nothing compared is unexplained.
function checkCoverage(report, weights) {
  const problems = [];
  const byWeight = new Map();
  for (const w of weights) {
    if (!byWeight.has(w.weight)) byWeight.set(w.weight, []);
    byWeight.get(w.weight).push(w);
  }
  const used = new Set();
  let nodes = 0;
  for (const n of report.nodes) {
    if (n.action !== 'quantized') continue;
    nodes++;
    const candidates = byWeight.get(n.weight) || [];
    const match = candidates.filter((w) => granularityOf(w) === n.granularity ||
      (w.axis < 0 && w.channels === 1 && n.granularity.startsWith('per-channel')));
    if (!match.length) {
      problems.push(`node '${n.node}' (${n.op}, graph ${n.graph}): weight '${n.weight}' ${n.granularity} is not among the ` +
        `compared weights (found: ${candidates.map(granularityOf).join(', ') || 'none'})`);
    }
    for (const w of match) used.add(w.k);
  }
  for (const w of weights) {
    if (!used.has(w.k)) problems.push(`compared weight ${w.k} '${w.data}' belongs to no quantized node of the report`);
  }
  return { problems, nodes };
}

async function main() {
  const args = parseArgs(process.argv.slice(2), {
    model: { type: 'string' }, manifest: { type: 'string' }, report: { type: 'string' },
    label: { type: 'string' }, show: { type: 'int', default: 8, min: 1 }, 'expect-mismatch': { type: 'string' },
  });
  if (!args.model || !args.manifest) throw new UsageError('--model and --manifest are required');
  let expect = null;
  if (args['expect-mismatch'] !== undefined) {
    const m = /^(\d+):(\d+)$/.exec(args['expect-mismatch']);
    if (!m) throw new UsageError(`--expect-mismatch needs K:I, got '${args['expect-mismatch']}'`);
    expect = { k: Number(m[1]), index: Number(m[2]) };
  }
  const label = args.label || args.model;
  const manifest = readJson(args.manifest, 'manifest');
  const weights = manifest.weights;
  if (!Array.isArray(weights)) throw new CheckError(`${label}: the manifest has no weight list`);
  if (!weights.length) {
    // Nothing to compare is a failure, not a pass: say why the quantizer wrote no weight.
    let why = '';
    if (args.report) {
      const r = readJson(args.report, 'report');
      const reasons = new Map();
      for (const n of r.nodes) if (n.action !== 'quantized') reasons.set(n.reason, (reasons.get(n.reason) || 0) + 1);
      why = [...(r.notes || []).map((x) => `\n  report note: ${x}`),
        ...[...reasons].map(([x, c]) => `\n  ${c} node(s) skipped: ${x}`)].join('');
    }
    throw new CheckError(`${label}: mq-quantize quantized no weight, nothing to compare${why}`);
  }

  const failures = [];
  let coverage = null;
  if (args.report) {
    coverage = checkCoverage(readJson(args.report, 'report'), weights);
    failures.push(...coverage.problems);
  }

  // Graph optimizations off: constant folding would compute the same kernels at load time, but
  // this way nothing is fused or rewritten and every QuantizeLinear runs as ORT's CPU kernel.
  const { session } = await loadSession(args.model, { threads: 1, graphOpt: 'disabled' }, 'parity model');
  const fetches = weights.flatMap((w) => [`ort_${w.k}`, `mq_${w.k}`]);
  let out;
  try {
    out = await session.run({}, fetches);
  } catch (e) {
    throw new CheckError(`${label}: the parity model failed to run in ONNX Runtime\n  ORT: ${e.message}`);
  }

  let bytes = 0;
  const mismatches = [];
  const perWeight = new Map();
  for (const w of weights) {
    const a = out[`ort_${w.k}`], b = out[`mq_${w.k}`];
    if (a.type !== w.qtype || b.type !== w.qtype) {
      failures.push(`weight ${w.k} '${w.weight}': output types ort ${a.type}, mq ${b.type}, expected ${w.qtype}`);
      continue;
    }
    if (a.data.length !== b.data.length || JSON.stringify(a.dims) !== JSON.stringify(w.stored_dims)) {
      failures.push(`weight ${w.k} '${w.weight}': ort shape [${a.dims}], mq shape [${b.dims}], stored [${w.stored_dims}]`);
      continue;
    }
    bytes += a.data.length;
    let n = 0;
    const diffs = new Map();  // ours - ort -> count
    for (let i = 0; i < a.data.length; i++) {
      if (a.data[i] !== b.data[i]) {
        n++;
        const d = b.data[i] - a.data[i];
        diffs.set(d, (diffs.get(d) || 0) + 1);
        if (mismatches.length < args.show) mismatches.push({ w, index: i, ort: a.data[i], mq: b.data[i] });
      }
    }
    if (n) perWeight.set(w.k, { n, diffs });
  }
  const total = [...perWeight.values()].reduce((x, y) => x + y.n, 0);

  const kinds = {
    'per-tensor': weights.filter((w) => w.axis < 0).length,
    'per-channel': weights.filter((w) => w.axis >= 0).length,
    transposed: weights.filter((w) => w.transposed).length,
    'non-float32 originals': weights.filter((w) => w.original_type !== 'float32').length,
    'zero point dropped': weights.filter((w) => w.zero_point_kind === 'dropped').length,
    'in subgraphs': weights.filter((w) => w.graph !== 'main').length,
  };
  const kindText = Object.entries(kinds).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`parity ${label}: ${weights.length} weights, ${bytes} bytes compared, ${total} mismatches` +
    ` (${kindText}${coverage ? `; covers all ${coverage.nodes} quantized nodes of the report` : ''})`);

  if (mismatches.length) {
    // Fetch the exact operands of the mismatching weights to explain them.
    const ks = [...new Set(mismatches.map((m) => m.w.k))];
    const extra = await session.run({}, ks.flatMap((k) => [`float_${k}`, `scale_${k}`, `zp_${k}`]));
    console.log(`first ${mismatches.length} mismatches (index in the stored layout; ` +
      'w/s f32 is the float32 quotient QuantizeLinear rounds, f64 the exact one):');
    for (const m of mismatches) {
      const c = channelOf(m.index, m.w);
      const x = extra[`float_${m.w.k}`].data[m.index];
      const s = extra[`scale_${m.w.k}`].data[c];
      const z = extra[`zp_${m.w.k}`].data[c];
      console.log(`  weight ${m.w.k} '${m.w.weight}' [${unravel(m.index, m.w.stored_dims)}] (flat ${m.index}` +
        `${m.w.axis >= 0 ? `, channel ${c}` : ''}): w=${x.toPrecision(9)} (${f32Hex(x)}) scale=${s.toPrecision(9)} ` +
        `(${f32Hex(s)}) zp=${z} w/s f32=${Math.fround(x / s).toPrecision(9)} f64=${(x / s).toPrecision(17)} ` +
        `ort=${m.ort} ours=${m.mq}`);
    }
    // Per weight: how many, and the most common difference (a constant offset points at a zero point).
    for (const [k, { n, diffs }] of perWeight) {
      const w = weights[k];
      const [d, c] = [...diffs].sort((x, y) => y[1] - x[1])[0];
      console.log(`  weight ${k} '${w.weight}' (${w.data}, ${granularityOf(w)}${w.transposed ? ', transposed' : ''}` +
        `${w.zero_point_kind === 'dropped' ? ', zero point dropped by the Cast * scale form: the model computes with 0' : ''}): ` +
        `${n} of ${w.stored_dims.reduce((x, y) => x * y, 1)} bytes differ; most common ours - ort = ${d > 0 ? '+' : ''}${d} (${c} times)`);
    }
  }

  if (expect) {
    const m = mismatches[0];
    const ok = total === 1 && m.w.k === expect.k && m.index === expect.index && ((m.ort ^ m.mq) & 0xff) === 1;
    for (const f of failures) console.error(`FAIL: ${f}`);
    if (!ok || failures.length) {
      console.error(`FAIL: expected exactly one mismatch, at weight ${expect.k} byte ${expect.index} (one bit), got ${total}`);
      return 1;
    }
    console.log(`negative control ok: the flipped byte (weight ${expect.k}, byte ${expect.index}) was reported and nothing else`);
    return 0;
  }
  if (total) failures.push(`${total} weight bytes differ from ONNX Runtime's QuantizeLinear`);
  for (const f of failures) console.error(`FAIL: ${f}`);
  return failures.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(e instanceof UsageError ? `usage error: ${e.message}` : `error: ${e.message}`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
void ort;
