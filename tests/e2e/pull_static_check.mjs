#!/usr/bin/env node
// pull_static_check.mjs: the model mq-pull published with method = "static_int8" against what
// mq-quantize --calibration made of the same photos (pull_static_case.sh runs both).
//
//   node pull_static_check.mjs --config config.json --report cli.json --pulled DIR --cli cli.onnx
//        --model FP32.onnx --mq-run PATH --preprocess PRESET|FILE --photo IMG --work DIR
//
// 1. config.json: the photos came from the hub (calibration.source catalog_hub, 32 samples, their
//    files listed with hashes); the method is what mq-quantize chose: static_int8, or dynamic_int8
//    with fallback_kind "measured" and mq-quantize's own static_fallback text, or an already
//    quantized model left as it is (use_int8 false: nothing was quantized).
// 2. In ONNX Runtime, the pulled INT8 model and mq-quantize's give the same outputs, bit for bit,
//    on a held-out photo prepared by mq-run (fed as calibration feeds it: lib/common.mjs).
// Exit 0 pass, 1 failure, 2 usage.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ort, parseArgs, UsageError, imageInputOf, photoFeeds } from './lib/common.mjs';
import { readNpy } from './lib/npy.mjs';

const SPEC = {
  config: { type: 'string' }, report: { type: 'string' }, pulled: { type: 'string' }, cli: { type: 'string' },
  model: { type: 'string' }, 'mq-run': { type: 'string' }, preprocess: { type: 'string' }, photo: { type: 'string' },
  work: { type: 'string' }, help: { type: 'flag' },
};

async function main() {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) { console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 15).join('\n')); return 0; }
  for (const k of Object.keys(SPEC)) if (k !== 'help' && !args[k]) throw new UsageError(`--${k} is required`);
  const config = JSON.parse(fs.readFileSync(args.config, 'utf8'));
  const report = JSON.parse(fs.readFileSync(args.report, 'utf8'));
  const q = config.quantization ?? {};
  const problems = [];
  const cal = q.calibration ?? {};
  if (cal.source !== 'catalog_hub') problems.push(`calibration.source is ${cal.source}, not catalog_hub`);
  if (cal.samples !== 32) problems.push(`calibration.samples is ${cal.samples}, not the 32 photos`);
  const listed = config.source?.calibration_files ?? [];
  if (listed.length !== 32 || !listed.every((f) => f.path.startsWith('calibration/') && /^[0-9a-f]{64}$/.test(f.sha256))) {
    problems.push(`source.calibration_files lists ${listed.length} files, not the 32 photos with their sha256`);
  }
  const already = (report.warnings || []).some((w) => w.startsWith('the model is already quantized'));
  let expected;
  if (already) expected = { use_int8: false };
  else if (report.static_fallback) expected = { method_used: 'dynamic_int8', fallback_kind: 'measured', fallback_reason: report.static_fallback };
  else expected = { method_used: 'static_int8', fallback_kind: null, fallback_reason: null };
  for (const [k, v] of Object.entries(expected)) {
    const got = k === 'use_int8' ? config.use_int8 : q[k];
    if (got !== v) problems.push(`config.json ${k} is ${JSON.stringify(got)}, mq-quantize's result says ${JSON.stringify(v)}`);
  }

  // The same outputs in ONNX Runtime.
  const pulled = path.join(args.pulled, 'model-int8.onnx');
  const probe = await ort.InferenceSession.create(args.model, { logSeverityLevel: 3 });
  const image = imageInputOf(probe.inputMetadata);
  fs.rmSync(args.work, { recursive: true, force: true });
  execFileSync(args['mq-run'], [args.model, '--input', `${image}=${args.photo}`, '--preprocess', args.preprocess,
    '--save-inputs', args.work, '--json'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const x = readNpy(path.join(args.work, `input_${probe.inputNames.indexOf(image)}.npy`));
  const feeds = photoFeeds(probe.inputMetadata, x);
  const opts = { intraOpNumThreads: 1, logSeverityLevel: 3 };
  const a = await (await ort.InferenceSession.create(pulled, opts)).run(feeds);
  const b = await (await ort.InferenceSession.create(args.cli, opts)).run(feeds);
  for (const name of Object.keys(b)) {
    const x = a[name].data, y = b[name].data;
    let differ = x.length !== y.length ? 1 : 0;
    for (let i = 0; !differ && i < x.length; i++) differ = Object.is(x[i], y[i]) || x[i] === y[i] ? 0 : 1;
    if (differ) problems.push(`output '${name}': the pulled INT8 model and mq-quantize's differ`);
  }
  const key = path.basename(args.model, '.onnx');
  const what = already ? 'left as it is (already quantized)' : expected.method_used + (report.static_fallback ? ` (${report.static_fallback})` : '');
  for (const p of problems) console.log(`FAIL ${key}: ${p}`);
  console.log(problems.length ? `FAIL ${key}` : `PASS ${key}: pulled ${what}, from 32 hub photos; the same outputs as mq-quantize's`);
  return problems.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`pull_static_check.mjs: ${e.message}`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
