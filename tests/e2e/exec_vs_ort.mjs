#!/usr/bin/env node
// exec_vs_ort.mjs: libmodelquant's executor (mq-run) against ONNX Runtime on one model (issue #12).
//
//   node exec_vs_ort.mjs --mq-run PATH --model FILE.onnx --work DIR [--threads N] [--seed S] [--json]
//
// Inputs come from the harness's generator (lib/common.mjs, model_inputs.json), are written as .npy
// and given to mq-run; both runtimes run them; every output must agree: float outputs with cosine
// >= 0.99999 and max abs error <= 1e-3 x max |ORT output| (thresholds.json, "executor"), others
// exactly. Outputs that are a data-dependent top-K ("executor".topk in thresholds.json) are
// compared as such: the scores sorted, the outputs aligned with them only where the score is not
// tied with a neighbour.
//
// Some models amplify rounding (a quantized model re-quantizes its activations many times: a value
// one ulp away from a rounding boundary moves a whole quantization step). For them no runtime can
// match another to 1e-3, so the limits widen to the model's own noise floor: ONNX Runtime against
// itself on the same inputs moved by a few ulp ("executor".noise_floor in thresholds.json). Float
// models' floor is far below the fixed limits, so for them nothing changes.
// Exit 0 pass, 1 mismatch or failure, 2 usage.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as common from './lib/common.mjs';
import { writeNpy, readNpy } from './lib/npy.mjs';

const { ort, parseArgs, UsageError, CheckError, DEFAULT_INPUT_SPEC, DEFAULT_SEED, modelKeyFromPath, planInputs,
  makeFeeds, tensorAsNumbers, compareFloat, isFloatType, loadSession, runSession } = common;
const HERE = path.dirname(new URL(import.meta.url).pathname);

const SPEC = {
  'mq-run': { type: 'string' }, model: { type: 'string' }, work: { type: 'string' },
  threads: { type: 'int', default: 2, min: 0 }, seed: { type: 'int', default: DEFAULT_SEED, min: 0 },
  thresholds: { type: 'string', default: path.join(HERE, 'thresholds.json') },
  key: { type: 'string' }, 'ort-opt': { type: 'string', choices: ['disabled', 'basic', 'extended', 'all'] }, json: { type: 'flag' }, help: { type: 'flag' },
};

function numbers(type, data) {
  if (type === 'float16') return tensorAsNumbers({ type, data });
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (x) => Number(x));
  return data;
}

function compareTopK(ort_out, mine, spec, names) {
  const tol = (a) => 1e-4 * Math.max(1, Math.abs(a));
  const s_ref = numbers(ort_out[spec.scores].type, ort_out[spec.scores].data);
  const s_got = numbers(mine[spec.scores].type, mine[spec.scores].data);
  const problems = [];
  if (s_ref.length !== s_got.length) {
    names.push(...spec.aligned, spec.scores);
    return { problems: [`top-K '${spec.scores}': ${s_got.length} scores, ONNX Runtime ${s_ref.length}`], untied: 0 };
  }
  const sorted = (a) => Array.from(a).sort((x, y) => y - x);
  const a = sorted(s_ref), b = sorted(s_got);
  for (let i = 0; i < a.length; i++) {
    if (Math.abs(a[i] - b[i]) > tol(a[i])) { problems.push(`top-K '${spec.scores}': score ${i} is ${b[i]}, ONNX Runtime ${a[i]}`); break; }
  }
  // Positions whose score is clearly apart from its neighbours: there both must list the same entry.
  let untied = 0;
  for (let i = 0; i < s_ref.length; i++) {
    const apart = (j) => j < 0 || j >= s_ref.length || Math.abs(s_ref[j] - s_ref[i]) > tol(s_ref[i]) * 10;
    if (!apart(i - 1) || !apart(i + 1) || Math.abs(s_ref[i] - s_got[i]) > tol(s_ref[i])) continue;
    untied++;
    for (const name of spec.aligned) {
      const r = numbers(ort_out[name].type, ort_out[name].data), g = numbers(mine[name].type, mine[name].data);
      const per = r.length / s_ref.length;
      for (let k = 0; k < per; k++) {
        const x = r[i * per + k], y = g[i * per + k];
        if (Math.abs(x - y) > 1e-3 * Math.max(1, Math.abs(x))) {
          problems.push(`top-K '${name}' at untied position ${i}: ${y}, ONNX Runtime ${x}`);
          break;
        }
      }
    }
  }
  names.push(...spec.aligned, spec.scores);
  return { problems, untied };
}

// ONNX Runtime against itself, two ways, per float output (the worse of the two is the floor):
// - every float input element x moved to x (1 + d), d in {-3, ..., 3} x spec.perturbation (a few
//   ulp), on the same session;
// - the same inputs with ONNX Runtime's graph optimizations off (another valid way to compute the
//   same graph: fused kernels against the operators one by one).
// Each gives the cosine and the max abs error relative to max |output|; the limits allow
// spec.factor times the worse.
async function noiseFloor(file, session, feeds, out, spec, threads) {
  if (!spec) throw new UsageError('thresholds.json: "executor".noise_floor is required');
  const moved = {};
  for (const [name, t] of Object.entries(feeds)) {
    if (t.type !== 'float32') { moved[name] = t; continue; }
    const d = Float32Array.from(t.data);
    for (let i = 0; i < d.length; i++) d[i] *= 1 + spec.perturbation * ((i % 7) - 3);
    moved[name] = new ort.Tensor(t.type, d, t.dims);
  }
  const { out: perturbed } = await runSession(session, moved, 'model');
  const { session: plain } = await loadSession(file, { threads, graphOpt: 'disabled' }, 'model');
  const { out: unfused } = await runSession(plain, feeds, 'model');
  const floor = {};
  for (const name of session.outputNames) {
    const r = out[name];
    if (!isFloatType(r.type)) continue;
    let cosine = 1, rel = 0;
    for (const g of [perturbed[name], unfused[name]]) {
      const m = compareFloat(numbers(r.type, r.data), numbers(g.type, g.data), g.dims);
      cosine = Math.min(cosine, m.cosine);
      rel = Math.max(rel, m.rel_max_abs_error);
    }
    floor[name] = { cosine, rel, factor: spec.factor };
  }
  return floor;
}

async function main() {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) { console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 12).join('\n')); return 0; }
  for (const k of ['mq-run', 'model', 'work']) if (!args[k]) throw new UsageError(`--${k} is required`);
  const key = args.key || modelKeyFromPath(args.model);
  const limits = JSON.parse(fs.readFileSync(args.thresholds, 'utf8')).executor;
  if (!limits) throw new UsageError(`${args.thresholds}: no "executor" section`);
  const minCosine = limits.min_cosine;
  const maxRel = limits.max_rel_error;
  const { session } = await loadSession(args.model, { threads: 1, graphOpt: args['ort-opt'] }, 'model');
  const plan = planInputs(session, DEFAULT_INPUT_SPEC, key);
  const feeds = makeFeeds(plan, args.seed);
  fs.rmSync(args.work, { recursive: true, force: true });
  fs.mkdirSync(path.join(args.work, 'out'), { recursive: true });
  const cli = [args.model, '--threads', String(args.threads), '--output-dir', path.join(args.work, 'out'), '--json'];
  plan.forEach((p, i) => {
    const file = path.join(args.work, `input_${i}.npy`);
    writeNpy(file, p.type, p.shape, feeds[p.name].data);
    cli.push('--input', `${p.name}=${file}`);
  });
  const { out } = await runSession(session, feeds, 'model');
  const floor = await noiseFloor(args.model, session, feeds, out, limits.noise_floor, 1);
  let report;
  try {
    report = JSON.parse(execFileSync(args['mq-run'], cli, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 }).toString());
  } catch (e) {
    throw new CheckError(`mq-run failed: ${(e.stderr ? e.stderr.toString() : e.message).trim()}`);
  }
  const mine = {};
  report.outputs.forEach((o) => { mine[o.name] = readNpy(o.file); });
  const problems = [];
  const rows = [];
  const done = [];
  const topk = (limits.topk || {})[key];
  if (topk) {
    const r = compareTopK(out, mine, topk, done);
    problems.push(...r.problems);
    rows.push({ output: `${topk.scores} (top-K)`, untied_positions: r.untied });
  }
  for (const name of session.outputNames) {
    if (done.includes(name)) continue;
    const ref = out[name], got = mine[name];
    if (!got) { problems.push(`output '${name}' missing from mq-run`); continue; }
    if (JSON.stringify(ref.dims) !== JSON.stringify(got.shape)) {
      problems.push(`output '${name}': shape [${got.shape}], ONNX Runtime [${ref.dims}]`);
      continue;
    }
    if (isFloatType(ref.type)) {
      const m = compareFloat(numbers(ref.type, ref.data), numbers(got.type, got.data), got.shape);
      const rel = m.rel_max_abs_error;
      const f = floor[name];
      const cosLimit = f ? Math.min(minCosine, 1 - f.factor * (1 - f.cosine)) : minCosine;
      const relLimit = f ? Math.max(maxRel, f.factor * f.rel) : maxRel;
      rows.push({ output: name, cosine: m.cosine, max_abs_error: m.max_abs_error, rel_max_abs_error: rel,
        ...(f ? { noise_floor_cosine: f.cosine, noise_floor_rel: f.rel } : {}) });
      if (!(m.cosine >= cosLimit)) problems.push(`output '${name}': cosine ${m.cosine} < ${cosLimit}`);
      if (!(rel <= relLimit)) problems.push(`output '${name}': max abs error ${m.max_abs_error} is ${rel} of max |output|, limit ${relLimit}`);
    } else {
      const r = numbers(ref.type, ref.data), g = numbers(got.type, got.data);
      let bad = 0;
      for (let i = 0; i < r.length; i++) if (r[i] !== g[i]) bad++;
      rows.push({ output: name, mismatches: bad, elements: r.length });
      if (bad) problems.push(`output '${name}': ${bad} of ${r.length} elements differ`);
    }
  }
  const result = { model: key, threads: args.threads, ort: ort.env.versions.node, outputs: rows, problems, pass: problems.length === 0 };
  if (args.json) console.log(JSON.stringify(result, null, 2));
  else {
    for (const r of rows) console.log(`${key} ${JSON.stringify(r)}`);
    for (const p of problems) console.log(`MISMATCH ${key}: ${p}`);
    console.log(problems.length ? `FAIL ${key}` : `PASS ${key}`);
  }
  return problems.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`exec_vs_ort: ${e.message}`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
