#!/usr/bin/env node
// ort_run.mjs — load one ONNX model in ONNX Runtime (onnxruntime-node, CPU), run it on the
// harness's deterministic inputs and print output names / shapes / dtypes and a few stats.
// Proves that a model loads and runs. Test-only. See README.md.
//
// Exit codes: 0 loaded and ran, 1 ORT failed to load or run the model (ORT's message is printed),
//             2 usage error.

import fs from 'node:fs';
import path from 'node:path';
import {
  ort, parseArgs, UsageError, CheckError, DEFAULT_INPUT_SPEC, DEFAULT_SEED, modelKeyFromPath,
  loadSession, runSession, planInputs, makeFeeds, describePlanEntry, tensorStats, feedsSha256, fmt, table, toJson,
} from './lib/common.mjs';

const USAGE = `usage: node ort_run.mjs MODEL.onnx [options]      (or --model MODEL.onnx)

  --model-key KEY      key in model_inputs.json (default: file name without .onnx)
  --inputs FILE        input spec file (default: tests/e2e/model_inputs.json)
  --seed N             base seed (default ${DEFAULT_SEED}); run i uses seed N+i
  --runs N             number of runs (default 1)
  --threads N          ORT intra-op threads (default 1)
  --graph-opt L        disabled | basic | extended | all (default: ORT's default, all)
  --dump-inputs DIR    also write the generated inputs of each run as raw little-endian files
                       DIR/<run>/<input index>.bin plus DIR/inputs.json (e.g. for calibration)
  --json               print one JSON object instead of text
  --help`;

const SPEC = {
  model: { type: 'string' }, 'model-key': { type: 'string' }, inputs: { type: 'string' },
  seed: { type: 'int', default: DEFAULT_SEED, min: 0 }, runs: { type: 'int', default: 1, min: 1 },
  threads: { type: 'int', default: 1, min: 1 }, 'graph-opt': { type: 'string', choices: ['disabled', 'basic', 'extended', 'all'] },
  'dump-inputs': { type: 'string' }, json: { type: 'flag' }, help: { type: 'flag' },
};

function dumpInputs(dir, plan, runs, seed) {
  fs.mkdirSync(dir, { recursive: true });
  const manifest = { seed, runs, inputs: plan.map((p, i) => ({ index: i, name: p.name, type: p.type, shape: p.shape, fill: p.fill })), files: [] };
  for (let r = 0; r < runs; r++) {
    const feeds = makeFeeds(plan, seed + r);
    fs.mkdirSync(path.join(dir, String(r)), { recursive: true });
    plan.forEach((p, i) => {
      const d = feeds[p.name].data; // typed array; host is little-endian on every supported platform
      const f = path.join(String(r), `${i}.bin`);
      fs.writeFileSync(path.join(dir, f), Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      manifest.files.push({ run: r, seed: seed + r, input: p.name, file: f, bytes: d.byteLength });
    });
  }
  fs.writeFileSync(path.join(dir, 'inputs.json'), JSON.stringify(manifest, null, 2) + '\n');
}

async function main(argv) {
  let positional = null;
  if (argv.length && !argv[0].startsWith('--')) { positional = argv[0]; argv = argv.slice(1); }
  const args = parseArgs(argv, SPEC);
  if (args.help) { console.log(USAGE); return 0; }
  if (positional && args.model) throw new UsageError('give the model either positionally or with --model, not both');
  const modelArg = positional || args.model;
  if (!modelArg) throw new UsageError('a model file is required');
  const model = path.resolve(modelArg);
  const modelKey = args['model-key'] || modelKeyFromPath(model);
  const specFile = args.inputs ? path.resolve(args.inputs) : (fs.existsSync(DEFAULT_INPUT_SPEC) ? DEFAULT_INPUT_SPEC : null);
  if (args.inputs && !fs.existsSync(specFile)) throw new UsageError(`input spec file not found: ${specFile}`);

  const t0 = process.hrtime.bigint();
  const { session, loadMs } = await loadSession(model, { threads: args.threads, graphOpt: args['graph-opt'] }, 'model');
  const plan = planInputs(session, specFile, modelKey);
  const report = {
    tool: 'ort_run', ort_version: ort.env.versions.node, model, model_key: modelKey, input_spec: specFile,
    seed: args.seed, runs: args.runs, threads: args.threads,
    input_metadata: session.inputMetadata, output_metadata: session.outputMetadata,
    inputs: plan.map((p) => ({ name: p.name, type: p.type, shape: p.shape, fill: p.fill, low: p.low, high: p.high, value: p.value, overridden: p.overridden })),
    results: [], timing: { load_ms: loadMs, run_ms: [] },
  };
  for (let r = 0; r < args.runs; r++) {
    const feeds = makeFeeds(plan, args.seed + r);
    const { out, runMs } = await runSession(session, feeds, 'model');
    report.timing.run_ms.push(runMs);
    report.results.push({
      run: r, seed: args.seed + r, input_sha256: feedsSha256(plan, feeds),
      outputs: session.outputNames.map((n) => ({ name: n, type: out[n].type, shape: out[n].dims.slice(), ...tensorStats(out[n]) })),
    });
  }
  if (args['dump-inputs']) dumpInputs(path.resolve(args['dump-inputs']), plan, args.runs, args.seed);
  report.timing.total_ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const nonfinite = report.results.flatMap((rr) => rr.outputs.filter((o) => o.nonfinite).map((o) => `run ${rr.run} output "${o.name}": ${o.nonfinite} non-finite values`));
  report.warnings = nonfinite;
  report.status = 'ok';

  if (args.json) {
    console.log(toJson(report));
    return 0;
  }
  const lines = [];
  lines.push(`ort_run (onnxruntime-node ${report.ort_version}, CPU, ${args.threads} thread(s)): ${model}`);
  lines.push(`inputs (model key ${modelKey}, seed ${args.seed}${args.runs > 1 ? '..' + (args.seed + args.runs - 1) : ''}):`);
  for (const p of plan) lines.push(`  ${describePlanEntry(p)}   [model: ${JSON.stringify(p.metaShape)}]`);
  for (const rr of report.results) lines.push(`  run ${rr.run}: seed ${rr.seed}, inputs sha256 ${rr.input_sha256.slice(0, 16)}`);
  const rows = [];
  for (const rr of report.results) {
    for (const o of rr.outputs) {
      rows.push([rr.run, o.name, `[${o.shape}]`, o.type, fmt(o.min), fmt(o.max), fmt(o.mean), fmt(o.std), o.nonfinite ?? '-',
        o.first ? o.first.map((x) => fmt(x, 3)).join(' ') : '']);
    }
  }
  lines.push('');
  lines.push(table(['run', 'output', 'shape', 'dtype', 'min', 'max', 'mean', 'std', 'nonfinite', 'first values'], rows));
  lines.push('');
  lines.push(`timing: load ${fmt(loadMs, 3)} ms; run ${report.timing.run_ms.map((x) => fmt(x, 3)).join(', ')} ms; total ${fmt(report.timing.total_ms, 3)} ms`);
  for (const w of nonfinite) lines.push(`warning: ${w}`);
  lines.push('RESULT: OK (loaded and ran)');
  console.log(lines.join('\n'));
  return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
  if (e instanceof UsageError) {
    console.error(`ort_run: ${e.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else if (e instanceof CheckError) {
    console.error(`FAIL: ${e.message}`);
    process.exitCode = 1;
  } else {
    console.error(`ort_run: internal error: ${e && e.stack ? e.stack : e}`);
    process.exitCode = 1;
  }
});
