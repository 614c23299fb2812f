// Proposes thresholds.json entries from a measurement (prints JSON; never edits the file).
// usage: node measure_thresholds.mjs MODEL_KEY FORMAT REFERENCE.onnx CANDIDATE.onnx
// The proposal is the measured worst case (8 runs) with a margin for platform noise:
// cosine gap x1.5 (at least 1e-4; fixed 0.01 when the gap is >= 0.02), max abs error x1.5. A reviewer copies it into thresholds.json
// with a 'why'. Never re-run this to make a failing test pass: find out why it got worse.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [key, format, reference, candidate] = process.argv.slice(2);
if (!candidate) {
  console.error('usage: node measure_thresholds.mjs MODEL_KEY FORMAT REFERENCE.onnx CANDIDATE.onnx');
  process.exit(2);
}
const out = execFileSync('node', [path.join(here, 'ort_compare.mjs'), '--reference', reference, '--candidate', candidate,
  '--model-key', key, '--runs', '8', '--json'], { encoding: 'utf8' });
const report = JSON.parse(out);
const round = (x, up) => { const f = 1e6; return (up ? Math.ceil(x * f) : Math.floor(x * f)) / f; };
// Cosine margin: x1.5 of the gap to 1 while the gap is small; for outputs that are already far
// off (gap >= 0.02) a fixed 0.01 below the measurement, so the limit still means something.
const cosineLimit = (cos) => (1 - cos < 0.02 ? 1 - Math.max(1e-4, (1 - cos) * 1.5) : cos - 0.01);
const limits = (cos, abs) => ({
  min_cosine: round(cosineLimit(cos), false),
  max_abs_error: round(Math.max(1e-6, abs * 1.5), true),
});
// report.worst holds, per output, the worst cosine (per run and pooled) and max abs error.
const outputs = {};
let worstCos = 1;
let worstAbs = 0;
for (const [name, w] of Object.entries(report.worst)) {
  if (w.kind !== 'float') continue;
  outputs[name] = limits(w.cosine, w.max_abs_error);
  worstCos = Math.min(worstCos, w.cosine);
  worstAbs = Math.max(worstAbs, w.max_abs_error);
}
const entry = {
  ...limits(worstCos, worstAbs),
  outputs,
  why: `measured ${new Date().toISOString().slice(0, 10)} with mq-quantize 0.1.0: worst cosine ${worstCos.toPrecision(6)}, ` +
    `worst max abs error ${worstAbs.toPrecision(4)} over 8 runs; limits = measurement with x1.5 margin`,
};
console.log(JSON.stringify({ [key]: { [format]: entry } }));
