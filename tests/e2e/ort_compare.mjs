#!/usr/bin/env node
// ort_compare.mjs — compare a quantized (candidate) ONNX model against its FP32 reference in
// ONNX Runtime (onnxruntime-node, CPU). Test-only oracle for libmodelquant. See README.md.
//
// Exit codes: 0 all within thresholds (or self-test identical / plain measurement ran),
//             1 a check failed, a model failed to load/run, or thresholds are missing,
//             2 usage error (bad options, malformed input-spec or thresholds file).

import fs from 'node:fs';
import path from 'node:path';
import {
  ort, parseArgs, UsageError, CheckError, DEFAULT_INPUT_SPEC, DEFAULT_SEED, modelKeyFromPath,
  loadSession, runSession, planInputs, makeFeeds, describePlanEntry, isFloatType, tensorAsNumbers,
  compareFloat, compareExact, feedsSha256, readOnnxSummary, detectFormat, fmt, fmtCos, table, toJson,
} from './lib/common.mjs';
import { loadThresholdEntry, checkOutput, checkStaleOutputNames, checkDetections } from './lib/thresholds.mjs';
import { compareDetections, mergeDetections } from './lib/detections.mjs';

const USAGE = `usage: node ort_compare.mjs --reference FP32.onnx --candidate OUT.onnx [options]
       node ort_compare.mjs --self-test --reference FP32.onnx [--candidate SAME.onnx] [options]

  --reference FILE     FP32 model (its input metadata drives input generation)
  --candidate FILE     model to check (e.g. libmodelquant output)
  --model-key KEY      key in thresholds.json / model_inputs.json (default: reference file name without .onnx)
  --thresholds FILE    check every output against FILE[KEY][FORMAT]; without it the tool only measures
  --format F           qdq | qoperator | auto (default auto: detected from the candidate's ops)
  --variant V          qdq | qoperator | auto: the mq-quantize --format used; selects the thresholds entry
  --inputs FILE        input spec file (default: tests/e2e/model_inputs.json)
  --seed N             base seed (default ${DEFAULT_SEED}); run i uses seed N+i
  --runs N             number of input sets (default 2)
  --threads N          ORT intra-op threads (default 1)
  --graph-opt L        disabled | basic | extended | all (default: ORT's default, all)
  --json               print one JSON object instead of the table
  --self-test          compare the reference with itself (two sessions); requires cosine == 1
                       and max abs error == 0 for every output
  --help`;

const SPEC = {
  reference: { type: 'string' }, candidate: { type: 'string' }, 'model-key': { type: 'string' },
  thresholds: { type: 'string' }, variant: { type: 'string', choices: ['qdq', 'qoperator', 'auto'] }, inputs: { type: 'string' }, format: { type: 'string', default: 'auto', choices: ['qdq', 'qoperator', 'auto'] },
  seed: { type: 'int', default: DEFAULT_SEED, min: 0 }, runs: { type: 'int', default: 2, min: 1 },
  threads: { type: 'int', default: 1, min: 1 }, 'graph-opt': { type: 'string', choices: ['disabled', 'basic', 'extended', 'all'] },
  json: { type: 'flag' }, 'self-test': { type: 'flag' }, help: { type: 'flag' },
};

function mergeWorst(w, m) {
  if (!w) return { ...m };
  if (m.kind === 'float') {
    // NaN must win (it is the worst possible result).
    const minNaN = (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));
    const maxNaN = (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
    w.cosine = minNaN(w.cosine, m.cosine);
    w.max_abs_error = maxNaN(w.max_abs_error, m.max_abs_error);
    w.mean_abs_error = maxNaN(w.mean_abs_error, m.mean_abs_error);
    w.rel_max_abs_error = maxNaN(w.rel_max_abs_error, m.rel_max_abs_error);
    w.ref_max_abs = Math.max(w.ref_max_abs, m.ref_max_abs);
    w.nonfinite_ref += m.nonfinite_ref; w.nonfinite_cand += m.nonfinite_cand; w.nonfinite_mismatch += m.nonfinite_mismatch;
    if (m.top1_agreement !== null) w.top1_agreement = Math.min(w.top1_agreement, m.top1_agreement);
  } else {
    w.mismatch_fraction = Math.max(w.mismatch_fraction, m.mismatch_fraction);
    w.mismatches = Math.max(w.mismatches, m.mismatches);
  }
  return w;
}

async function main(argv) {
  const args = parseArgs(argv, SPEC);
  if (args.help) { console.log(USAGE); return 0; }
  const selfTest = !!args['self-test'];
  if (!args.reference) throw new UsageError('--reference is required');
  if (!args.candidate && !selfTest) throw new UsageError('--candidate is required (or use --self-test)');
  if (selfTest && args.thresholds) throw new UsageError('--self-test uses fixed criteria (identity); do not pass --thresholds');
  const reference = path.resolve(args.reference);
  const candidate = path.resolve(args.candidate || args.reference);
  const modelKey = args['model-key'] || modelKeyFromPath(reference);
  const specFile = args.inputs ? path.resolve(args.inputs) : (fs.existsSync(DEFAULT_INPUT_SPEC) ? DEFAULT_INPUT_SPEC : null);
  if (args.inputs && !fs.existsSync(specFile)) throw new UsageError(`input spec file not found: ${specFile}`);
  const sessOpts = { threads: args.threads, graphOpt: args['graph-opt'] };

  const t0 = process.hrtime.bigint();
  const report = {
    tool: 'ort_compare', ort_version: ort.env.versions.node, mode: selfTest ? 'self-test' : (args.thresholds ? 'check' : 'measure'),
    reference, candidate, model_key: modelKey, input_spec: specFile, seed: args.seed, runs: args.runs, threads: args.threads,
    graph_optimization: args['graph-opt'] || 'default(all)',
    format: { requested: args.format, detected: null, used: null, quant_ops: {} },
    inputs: [], outputs: [], results: [], worst: {}, checks: [], failures: [], warnings: [], timing: {}, status: null,
  };
  const fail = (msg) => report.failures.push(msg);

  // Format detection (cheap protobuf walk of the candidate).
  try {
    const det = detectFormat(readOnnxSummary(candidate));
    report.format.detected = det.format;
    const q = {};
    for (const [op, c] of Object.entries(det.opCounts)) if (det.qoperatorOps.includes(op) || det.qdqOps.includes(op)) q[op] = c;
    report.format.quant_ops = q;
  } catch (e) {
    report.format.detected = 'unparsed';
    report.warnings.push(`could not parse the candidate's protobuf for format detection: ${e.message}`);
  }
  report.format.used = args.format === 'auto' ? report.format.detected : args.format;
  if (args.format !== 'auto' && report.format.detected !== args.format && !selfTest) {
    report.warnings.push(`--format ${args.format} given, but the candidate's ops look like "${report.format.detected}"`);
  }

  // Thresholds are resolved before running anything: a missing entry is an error, never a pass.
  let thr = null;
  if (args.thresholds) {
    // --variant names the mq-quantize --format the candidate was made with; it is the thresholds key
    // (an 'auto' model mixes forms, so detection alone cannot pick its entry).
    const fmtUsed = args.variant ?? report.format.used;
    if (!args.variant && fmtUsed !== 'qdq' && fmtUsed !== 'qoperator') {
      throw new CheckError(`cannot pick thresholds: candidate format detected as "${fmtUsed}" (no quantization ops found?); `
        + 'pass --format qdq|qoperator explicitly if this is intended');
    }
    thr = loadThresholdEntry(path.resolve(args.thresholds), modelKey, fmtUsed);
    report.warnings.push(...thr.warnings);
    report.thresholds = { file: thr.file, model_key: modelKey, format: fmtUsed, entry: thr.entry };
  }

  const ref = await loadSession(reference, sessOpts, 'reference model');
  const cand = await loadSession(candidate, sessOpts, 'candidate model');
  report.timing.load_ms = { reference: ref.loadMs, candidate: cand.loadMs };

  const plan = planInputs(ref.session, specFile, modelKey);
  report.inputs = plan.map((p) => ({ name: p.name, type: p.type, shape: p.shape, fill: p.fill, low: p.low, high: p.high, value: p.value, overridden: p.overridden }));

  // The candidate must take the same inputs (names and element types).
  const cMeta = Object.fromEntries(cand.session.inputMetadata.map((m) => [m.name, m]));
  for (const p of plan) {
    if (!cMeta[p.name]) fail(`candidate has no input "${p.name}" (candidate inputs: ${Object.keys(cMeta).join(', ')})`);
    else if (cMeta[p.name].type !== p.type) fail(`input "${p.name}": reference type ${p.type}, candidate type ${cMeta[p.name].type}`);
  }
  for (const n of Object.keys(cMeta)) if (!plan.find((p) => p.name === n)) fail(`candidate has an extra input "${n}" not in the reference`);

  // Outputs compared as detections (a model-level "detections" threshold entry), not element-wise.
  const det = thr ? thr.detections : null;
  const detNames = new Set(det ? [det.boxes, det.scores, det.labels] : []);
  for (const n of detNames) if (!ref.session.outputNames.includes(n)) fail(`thresholds ${modelKey}.detections names "${n}", which is not an output of the reference`);
  const refOutNames = ref.session.outputNames;
  const candOutNames = cand.session.outputNames;
  report.outputs = refOutNames.slice();
  for (const n of candOutNames) if (!refOutNames.includes(n)) report.warnings.push(`candidate output "${n}" is not in the reference; ignored`);

  if (thr) {
    for (const n of checkStaleOutputNames(thr, refOutNames)) fail(`thresholds ${modelKey}.${thr.format}.outputs names "${n}", which is not an output of the reference`);
  }

  const runMs = { reference: [], candidate: [] };
  const pool = {}; // output name -> {ref: [Float64Array], cand: [...]} for the pooled (all runs) cosine
  if (report.failures.length === 0) {
    for (let r = 0; r < args.runs; r++) {
      const seed = args.seed + r;
      const feeds = makeFeeds(plan, seed);
      const a = await runSession(ref.session, feeds, 'reference model');
      let b;
      try {
        b = await runSession(cand.session, feeds, 'candidate model');
      } catch (e) {
        fail(e.message);
        break;
      }
      runMs.reference.push(a.runMs); runMs.candidate.push(b.runMs);
      const runRes = { run: r, seed, input_sha256: feedsSha256(plan, feeds), outputs: [] };
      if (det && [...detNames].every((n) => b.out[n])) {
        const d = compareDetections(a.out, b.out, det);
        runRes.detections = d;
        report.detections = mergeDetections(report.detections, d);
      }
      for (const name of refOutNames) {
        const ta = a.out[name], tb = b.out[name];
        if (!tb) { fail(`run ${r}: candidate does not produce output "${name}"`); continue; }
        if (detNames.has(name)) continue;
        const base = { name, ref_type: ta.type, cand_type: tb.type, shape: ta.dims.slice() };
        if (ta.dims.length !== tb.dims.length || ta.dims.some((d, i) => d !== tb.dims[i])) {
          fail(`run ${r}: output "${name}" shape differs: reference [${ta.dims}], candidate [${tb.dims}]`);
          runRes.outputs.push({ ...base, cand_shape: tb.dims.slice(), error: 'shape mismatch' });
          continue;
        }
        let m;
        if (isFloatType(ta.type) && isFloatType(tb.type)) m = compareFloat(tensorAsNumbers(ta), tensorAsNumbers(tb), ta.dims);
        else if (!isFloatType(ta.type) && !isFloatType(tb.type) && ta.type === tb.type) m = compareExact(ta.data, tb.data);
        else {
          fail(`run ${r}: output "${name}" element type differs: reference ${ta.type}, candidate ${tb.type}`);
          runRes.outputs.push({ ...base, error: 'type mismatch' });
          continue;
        }
        Object.assign(base, m);
        runRes.outputs.push(base);
        report.worst[name] = mergeWorst(report.worst[name], { ...m, shape: base.shape, ref_type: ta.type });
        if (m.kind === 'float') {
          (pool[name] ||= { ref: [], cand: [] });
          pool[name].ref.push(Float64Array.from(tensorAsNumbers(ta))); pool[name].cand.push(Float64Array.from(tensorAsNumbers(tb)));
        }
      }
      report.results.push(runRes);
    }
  }
  // Pooled metrics: all runs concatenated into one vector per output. For outputs with one or a
  // few elements (a wake-word probability, a VAD score) the per-run cosine is only a sign test,
  // so the pooled cosine is what gives cosine a meaning there. The checked cosine is the worst of
  // the per-run cosines and the pooled one.
  report.pooled = {};
  if (args.runs > 1) {
    for (const [name, p] of Object.entries(pool)) {
      if (p.ref.length < 2) continue;
      const cat = (xs) => { const n = xs.reduce((a, x) => a + x.length, 0); const o = new Float64Array(n); let k = 0; for (const x of xs) { o.set(x, k); k += x.length; } return o; };
      const r = cat(p.ref), c = cat(p.cand);
      const m = compareFloat(r, c, [r.length]);
      report.pooled[name] = { cosine: m.cosine, max_abs_error: m.max_abs_error, mean_abs_error: m.mean_abs_error, ref_max_abs: m.ref_max_abs, elements: m.elements, runs: p.ref.length };
      const w = report.worst[name];
      w.cosine_per_run_min = w.cosine;
      w.cosine_pooled = m.cosine;
      if (Number.isNaN(m.cosine) || m.cosine < w.cosine) w.cosine = m.cosine;
    }
  }
  for (const [name, w] of Object.entries(report.worst)) {
    if (w.kind === 'float' && w.elements <= 4) {
      report.warnings.push(`output "${name}" has only ${w.elements} element(s): its per-run cosine is only a sign test; `
        + (args.runs > 1 ? `the pooled cosine over ${args.runs} runs is used` : 'use --runs > 1 (better 8 or more) so that a pooled cosine exists')
        + '; judge it mainly by max_abs_error');
    }
  }
  const avg = (xs) => (xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : null);
  report.timing.run_ms = { reference: runMs.reference, candidate: runMs.candidate, reference_avg: avg(runMs.reference), candidate_avg: avg(runMs.candidate) };

  // Verdicts.
  if (selfTest) {
    for (const [name, w] of Object.entries(report.worst)) {
      if (w.kind === 'float') {
        const ok = w.cosine === 1 && w.max_abs_error === 0 && w.nonfinite_mismatch === 0;
        report.checks.push({ output: name, metric: 'identity', measured: { cosine: w.cosine, max_abs_error: w.max_abs_error }, threshold: { cosine: 1, max_abs_error: 0 }, ok });
        if (!ok) fail(`self-test: output "${name}" not identical: cosine ${fmtCos(w.cosine)} (need 1), max abs error ${fmt(w.max_abs_error)} (need 0)`);
      } else {
        const ok = w.mismatches === 0;
        report.checks.push({ output: name, metric: 'identity', measured: { mismatches: w.mismatches }, threshold: { mismatches: 0 }, ok });
        if (!ok) fail(`self-test: output "${name}" has ${w.mismatches} mismatching elements`);
      }
    }
  } else if (thr) {
    if (det) {
      for (const c of checkDetections(thr, report.detections)) {
        report.checks.push(c);
        if (!c.ok) fail(c.error || `detections: ${c.metric} = ${fmt(c.measured)} violates ${c.op} ${c.threshold} (${modelKey}.${thr.format}, worst of ${args.runs} run(s))`);
      }
    }
    for (const name of refOutNames) {
      const w = report.worst[name];
      if (!w) continue; // already a failure above, or compared as detections
      for (const c of checkOutput(thr, name, w)) {
        report.checks.push(c);
        if (!c.ok) {
          fail(c.error || `output "${name}": ${c.metric} = ${c.metric === 'cosine' ? fmtCos(c.measured) : fmt(c.measured)} `
            + `violates ${c.op} ${c.threshold} (${modelKey}.${thr.format}, worst of ${args.runs} run(s))`);
        }
      }
    }
  }
  for (const [name, w] of Object.entries(report.worst)) {
    if (w.kind === 'float' && (w.nonfinite_ref || w.nonfinite_cand)) {
      report.warnings.push(`output "${name}": non-finite values (reference ${w.nonfinite_ref}, candidate ${w.nonfinite_cand}, mismatching ${w.nonfinite_mismatch})`);
    }
  }
  report.timing.total_ms = Number(process.hrtime.bigint() - t0) / 1e6;
  report.status = report.failures.length ? 'fail' : 'pass';

  if (args.json) {
    console.log(toJson(report));
  } else {
    printHuman(report, plan);
  }
  return report.failures.length ? 1 : 0;
}

function printHuman(report, plan) {
  const out = [];
  out.push(`ort_compare (onnxruntime-node ${report.ort_version}, CPU, ${report.threads} thread(s), graph opt ${report.graph_optimization})`);
  out.push(`reference: ${report.reference}`);
  out.push(`candidate: ${report.candidate}${report.mode === 'self-test' ? '   [self-test]' : ''}`);
  const q = Object.entries(report.format.quant_ops).map(([k, v]) => `${k}:${v}`).join(' ');
  out.push(`model key: ${report.model_key}   format: ${report.format.used} (requested ${report.format.requested}, detected ${report.format.detected}${q ? '; ' + q : ''})`);
  out.push(`inputs (seed ${report.seed}..${report.seed + report.runs - 1}, spec ${report.input_spec || 'none'}):`);
  for (const p of plan) out.push(`  ${describePlanEntry(p)}`);
  for (const rr of report.results) out.push(`  run ${rr.run}: seed ${rr.seed}, inputs sha256 ${rr.input_sha256.slice(0, 16)}`);
  const rows = [];
  for (const rr of report.results) {
    for (const o of rr.outputs) {
      if (o.error) { rows.push([rr.run, o.name, `[${o.shape}]`, o.ref_type, o.error, '', '', '', '', '', '', '']); continue; }
      if (o.kind === 'float') {
        rows.push([rr.run, o.name, `[${o.shape}]`, o.ref_type === o.cand_type ? o.ref_type : `${o.ref_type}/${o.cand_type}`,
          fmtCos(o.cosine), fmt(o.max_abs_error), fmt(o.mean_abs_error), fmt(o.ref_max_abs), fmt(o.rel_max_abs_error),
          o.top1_agreement === null ? '-' : `${fmt(o.top1_agreement, 3)} (${o.top1_rows})`,
          o.nonfinite_ref || o.nonfinite_cand ? `${o.nonfinite_ref}/${o.nonfinite_cand}` : '0', '-']);
      } else {
        rows.push([rr.run, o.name, `[${o.shape}]`, o.ref_type, 'exact', '-', '-', '-', '-', '-', '-', `${fmt(o.mismatch_fraction)} (${o.mismatches})`]);
      }
    }
  }
  for (const [name, p] of Object.entries(report.pooled || {})) {
    rows.push(['all', name, `(${p.elements} values)`, 'pooled', fmtCos(p.cosine), fmt(p.max_abs_error), fmt(p.mean_abs_error), fmt(p.ref_max_abs), '-', '-', '-', '-']);
  }
  if (rows.length) {
    out.push('');
    out.push(table(['run', 'output', 'shape', 'dtype', 'cosine', 'max_abs_err', 'mean_abs_err', 'ref_max_abs', 'rel_err', 'top1 (rows)', 'nonfinite r/c', 'mismatch'], rows));
  }
  if (report.detections) {
    const d = report.detections;
    out.push('');
    out.push(`detections (${d.runs} runs, pooled): reference ${d.reference_detections}, candidate ${d.candidate_detections}, matched ${d.matched}; `
      + `recall ${fmt(d.recall)}, precision ${fmt(d.precision)}, max score error ${fmt(d.max_score_error)}, mean IoU ${fmt(d.mean_iou)}`);
  }
  if (report.checks.length && report.mode === 'check') {
    out.push('');
    out.push(`threshold checks (${report.thresholds.model_key}.${report.thresholds.format}, worst over runs):`);
    for (const c of report.checks) {
      const meas = c.metric === 'cosine' ? fmtCos(c.measured) : fmt(c.measured);
      out.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.output}: ${c.error ? c.error : `${c.metric} ${meas} (need ${c.op} ${c.threshold})`}`);
    }
  }
  const t = report.timing;
  out.push('');
  out.push(`timing: load ref ${fmt(t.load_ms?.reference, 3)} ms, cand ${fmt(t.load_ms?.candidate, 3)} ms; run avg ref ${fmt(t.run_ms?.reference_avg, 3)} ms, cand ${fmt(t.run_ms?.candidate_avg, 3)} ms; total ${fmt(t.total_ms, 3)} ms`);
  for (const w of report.warnings) out.push(`warning: ${w}`);
  for (const f of report.failures) out.push(`FAIL: ${f}`);
  if (report.mode === 'measure' && !report.failures.length) out.push('RESULT: measured only (no --thresholds given)');
  else out.push(`RESULT: ${report.status.toUpperCase()}${report.mode === 'self-test' ? ' (self-test)' : ''}`);
  console.log(out.join('\n'));
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
  if (e instanceof UsageError) {
    console.error(`ort_compare: ${e.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else if (e instanceof CheckError) {
    if (process.argv.includes('--json')) console.log(toJson({ tool: 'ort_compare', status: 'fail', failures: [e.message] }));
    console.error(`FAIL: ${e.message}`);
    process.exitCode = 1;
  } else {
    console.error(`ort_compare: internal error: ${e && e.stack ? e.stack : e}`);
    process.exitCode = 1;
  }
});
