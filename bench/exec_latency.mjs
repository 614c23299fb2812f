#!/usr/bin/env node
// exec_latency.mjs: libmodelquant's executor (mq-run) next to ONNX Runtime on the same model,
// inputs and thread count (issue #12's performance table).
//
//   node bench/exec_latency.mjs --mq-run BUILD/tools/mq-run [--models A.onnx,B.onnx] [--threads 1,2]
//        [--runs 20] [--work DIR] [--out DIR]
//
// Per model and thread count: ORT's median over --runs session.run calls (after 3 warm-ups; ORT
// defaults: all graph optimizations, sequential execution, intraOpNumThreads = threads) and
// mq-run's median over --runs (`mq-run --runs N --json`, after its warm-up run), on the inputs of
// the e2e harness (tests/e2e/lib/common.mjs, seed 1234, model_inputs.json), plus mq-run's peak RSS
// (/usr/bin/time -f %M over the whole process). Both runtimes alternate per model so that load on
// a shared machine hits both alike. Writes --out/exec_latency.{md,json}.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const common = await import(path.join(HERE, '..', 'tests', 'e2e', 'lib', 'common.mjs'));
const { writeNpy } = await import(path.join(HERE, '..', 'tests', 'e2e', 'lib', 'npy.mjs'));
const { ort, parseArgs, UsageError, DEFAULT_INPUT_SPEC, DEFAULT_SEED, modelKeyFromPath, planInputs, makeFeeds } = common;

const models = process.env.MQ_SHARED_MODELS_DIR || '/work/shared/models';
const SPEC = {
  'mq-run': { type: 'string' },
  models: { type: 'string', default: ['yolov8n_640', 'mlsd_tiny_320', 'ppocr_v4_rec'].map((m) => path.join(models, `${m}.onnx`)).join(',') },
  threads: { type: 'string', default: '1,2' }, runs: { type: 'int', default: 20, min: 1 },
  work: { type: 'string', default: path.join(os.tmpdir(), 'mq-bench', 'exec') },
  out: { type: 'string', default: path.join(HERE, 'results') }, help: { type: 'flag' },
};

const median = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

async function ortMedian(file, threads, feeds, runs) {
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', logSeverityLevel: 3 });
  for (let i = 0; i < 3; i++) await s.run(feeds);
  const t = [];
  for (let i = 0; i < runs; i++) { const t0 = process.hrtime.bigint(); await s.run(feeds); t.push(Number(process.hrtime.bigint() - t0) / 1e6); }
  return median(t);
}

async function main() {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) { console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 14).join('\n')); return; }
  if (!args['mq-run']) throw new UsageError('--mq-run is required');
  fs.mkdirSync(args.work, { recursive: true });
  fs.mkdirSync(args.out, { recursive: true });
  const rows = [];
  for (const file of args.models.split(',').filter(Boolean)) {
    const key = modelKeyFromPath(file);
    const probe = await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
    const plan = planInputs(probe, DEFAULT_INPUT_SPEC, key);
    const feeds = makeFeeds(plan, DEFAULT_SEED);
    const inputs = [];
    plan.forEach((p, i) => {
      const f = path.join(args.work, `${key}_input_${i}.npy`);
      writeNpy(f, p.type, p.shape, feeds[p.name].data);
      inputs.push('--input', `${p.name}=${f}`);
    });
    for (const threads of args.threads.split(',').map(Number)) {
      // RSS: /usr/bin/time prints it on stderr after the JSON; run once more to read it.
      const ortMs = await ortMedian(file, threads, feeds, args.runs);
      let rssKb = null;
      let mqMs;
      try {
        const out = execFileSync('/usr/bin/time', ['-f', 'RSS_KB=%M', args['mq-run'], file, '--threads', String(threads), '--runs', String(args.runs), '--json', ...inputs], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26, encoding: 'utf8' });
        mqMs = JSON.parse(out).median_ms;
      } catch (e) {
        rows.push({ model: key, threads, ort_ms: ortMs, error: (e.stderr || e.message).toString().trim().split('\n')[0] });
        continue;
      }
      try {
        execFileSync('/usr/bin/time', ['-o', path.join(args.work, 'rss.txt'), '-f', '%M', args['mq-run'], file, '--threads', String(threads), ...inputs], { stdio: 'ignore' });
        rssKb = Number(fs.readFileSync(path.join(args.work, 'rss.txt'), 'utf8').trim().split('\n').pop());
      } catch { /* RSS is optional */ }
      rows.push({ model: key, threads, ort_ms: ortMs, mq_ms: mqMs, ratio: mqMs / ortMs, mq_peak_rss_mb: rssKb ? rssKb / 1024 : null,
        model_mb: fs.statSync(file).size / 1e6 });
      console.error(`${key} threads=${threads}: ORT ${ortMs.toFixed(1)} ms, mq-run ${mqMs.toFixed(1)} ms (${(mqMs / ortMs).toFixed(2)}x)`);
    }
  }
  const md = ['| model | threads | ONNX Runtime ms | mq-run ms | ratio | mq-run peak RSS MB | model MB |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    md.push(r.error ? `| ${r.model} | ${r.threads} | ${r.ort_ms.toFixed(1)} | error: ${r.error} | | | |`
      : `| ${r.model} | ${r.threads} | ${r.ort_ms.toFixed(1)} | ${r.mq_ms.toFixed(1)} | ${r.ratio.toFixed(2)}x | ${r.mq_peak_rss_mb ? r.mq_peak_rss_mb.toFixed(0) : ''} | ${r.model_mb.toFixed(1)} |`);
  }
  fs.writeFileSync(path.join(args.out, 'exec_latency.md'), `${md.join('\n')}\n\nload average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, ORT ${ort.env.versions.node}\n`);
  fs.writeFileSync(path.join(args.out, 'exec_latency.json'), JSON.stringify(rows, null, 2));
  console.log(md.join('\n'));
}

main().catch((e) => { console.error(`exec_latency: ${e.message}`); process.exit(e instanceof UsageError ? 2 : 1); });
