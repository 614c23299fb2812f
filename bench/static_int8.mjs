#!/usr/bin/env node
// static_int8.mjs: ONNX Runtime latency of FP32, dynamic `auto` and static INT8 per CNN (issue
// #16's table), with the time mq-quantize took.
//
//   node bench/static_int8.mjs --mq-quantize BUILD/tools/mq-quantize --mq-run BUILD/tools/mq-run
//        [--models a,b] [--threads 1,2] [--runs 30] [--work DIR] [--json]
//
// Each model is quantized twice (auto; auto with --calibration ../shared/calibration/images and the
// model's preprocessing from tests/e2e/static_models.json). Its input is a held-out photo prepared
// by mq-run. The three sessions (ORT defaults: all optimizations, sequential, intraOpNumThreads =
// threads) run round-robin, so load on a shared machine hits them alike: 3 warm-up rounds, then
// --runs timed rounds; medians are reported, with ratios to FP32.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ort, parseArgs, UsageError, imagesDir, imageInputOf, photoFeeds } from '../tests/e2e/lib/common.mjs';
import { readNpy } from '../tests/e2e/lib/npy.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const E2E = path.join(HERE, '..', 'tests', 'e2e');
const MODELS_DIR = process.env.MQ_SHARED_MODELS_DIR || path.join(HERE, '..', '..', 'shared', 'models');
const PHOTO = '/usr/share/doc/opencv-doc/examples/data/messi5.jpg';

const SPEC = {
  'mq-quantize': { type: 'string' }, 'mq-run': { type: 'string' },
  models: { type: 'string', default: 'yolov8n_640,yolox_nano_416,ultraface_rfb_320,blazeface_front_128,ppocr_v4_det,mlsd_tiny_320,' +
    'ppocr_mobile_v2_cls,ppocr_v4_rec,deimv2_atto_320' },
  threads: { type: 'string', default: '1,2' }, runs: { type: 'int', default: 30, min: 1 },
  work: { type: 'string', default: path.join(os.tmpdir(), 'mq_bench_static') }, json: { type: 'flag' }, help: { type: 'flag' },
};

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main() {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) { console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 13).join('\n')); return 0; }
  if (!args['mq-quantize'] || !args['mq-run']) throw new UsageError('--mq-quantize and --mq-run are required');
  const cfgs = JSON.parse(fs.readFileSync(path.join(E2E, 'static_models.json'), 'utf8'));
  fs.mkdirSync(args.work, { recursive: true });
  const rows = [];
  for (const key of args.models.split(',')) {
    const cfg = cfgs[key];
    if (!cfg) throw new UsageError(`no entry for ${key} in tests/e2e/static_models.json`);
    const fp32 = path.join(MODELS_DIR, `${key}.onnx`);
    const auto = path.join(args.work, `${key}_auto.onnx`), stat = path.join(args.work, `${key}_static.onnx`);
    const preprocess = cfg.preprocess.endsWith('.toml') ? path.join(E2E, 'preprocess', cfg.preprocess) : cfg.preprocess;
    const autoSeconds = timed(args['mq-quantize'], [fp32, auto, '-q']);
    const staticSeconds = timed(args['mq-quantize'], [fp32, stat, '--calibration', imagesDir(), '--preprocess', preprocess, '-q']);
    const probe = await ort.InferenceSession.create(fp32, { logSeverityLevel: 3 });
    const inputName = imageInputOf(probe.inputMetadata);
    const dir = path.join(args.work, `${key}_input`);
    execFileSync(args['mq-run'], [fp32, '--input', `${inputName}=${PHOTO}`, '--preprocess', preprocess, '--save-inputs', dir], { stdio: 'ignore' });
    const x = readNpy(path.join(dir, 'input_0.npy'));
    const feeds = photoFeeds(probe.inputMetadata, x);  // as calibration feeds it
    for (const threads of args.threads.split(',').map(Number)) {
      const opts = { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', logSeverityLevel: 3 };
      const sessions = [await ort.InferenceSession.create(fp32, opts), await ort.InferenceSession.create(auto, opts),
        await ort.InferenceSession.create(stat, opts)];
      const times = sessions.map(() => []);
      for (let r = 0; r < 3 + args.runs; r++) {
        for (const [i, s] of sessions.entries()) {
          const t0 = process.hrtime.bigint();
          await s.run(feeds);
          if (r >= 3) times[i].push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      }
      const [f, a, s] = times.map(median);
      rows.push({ model: key, threads, fp32_ms: f, auto_ms: a, static_ms: s, auto_ratio: a / f, static_ratio: s / f,
        quantize_auto_s: autoSeconds, quantize_static_s: staticSeconds });
    }
  }
  if (args.json) console.log(JSON.stringify({ ort: ort.env.versions.node, runs: args.runs, rows }, null, 2));
  else {
    console.log('| model | threads | FP32 ms | auto ms (x FP32) | static ms (x FP32) | quantize auto / static s |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      console.log(`| ${r.model} | ${r.threads} | ${r.fp32_ms.toFixed(1)} | ${r.auto_ms.toFixed(1)} (${r.auto_ratio.toFixed(2)}) | ` +
        `${r.static_ms.toFixed(1)} (${r.static_ratio.toFixed(2)}) | ${r.quantize_auto_s.toFixed(1)} / ${r.quantize_static_s.toFixed(1)} |`);
    }
  }
  return 0;
}

main().then((c) => process.exit(c), (e) => {
  console.error(`static_int8.mjs: ${e.message}`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
