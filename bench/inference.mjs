#!/usr/bin/env node
// inference.mjs: ONNX Runtime latency of FP32 models vs their mq-quantize outputs (issue 6).
//
//   node bench/inference.mjs --mq BUILD/tools/mq-quantize [--models-dir DIR] [--extra A.onnx,B.onnx]
//        [--formats auto,qoperator,qdq] [--runs 30] [--warmup 5] [--work DIR] [--out DIR]
//        [--profile KEY,KEY] [--only KEY,KEY]
//
// For every model (each *.onnx in --models-dir, default /work/shared/models, plus --extra): writes
// one quantized model per format with `mq-quantize IN OUT --format F --report R.json -q`, loads
// FP32 and every quantized model in onnxruntime-node (tests/e2e/node_modules) with the harness's
// session options at 1 thread (intraOpNumThreads 1, interOpNumThreads 1, sequential execution,
// default graph optimization), and times session.run on the same inputs (tests/e2e/lib/common.mjs,
// seed 1234, shapes from tests/e2e/model_inputs.json).
//
// The variants are timed round-robin: --warmup rounds, then --runs rounds, each round runs every
// variant once, in an order rotated every round, so that load changes on a shared machine hit all
// variants alike. Reported: median (and min) ms per variant, speedup = FP32 median / median,
// file sizes, weight bytes before/after (sum over quantized nodes of mq-quantize's report), and
// the cosine of the first float output vs FP32 (a sanity check that the model is not broken).
//
// --profile KEY,...: for these model keys also run ORT's profiler (20 runs per variant) and report
// the time per op type (ms per run), to show what dominates.
//
// Output: --out/inference.md (markdown), --out/inference.json.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const common = await import(path.join(HERE, '..', 'tests', 'e2e', 'lib', 'common.mjs'));
const {
  ort, parseArgs, UsageError, DEFAULT_INPUT_SPEC, DEFAULT_SEED, modelKeyFromPath, sessionOptions,
  planInputs, makeFeeds, tensorAsNumbers, compareFloat, isFloatType, detectFormat, readOnnxSummary, toJson,
} = common;

const SPEC = {
  mq: { type: 'string' }, 'models-dir': { type: 'string', default: process.env.MQ_SHARED_MODELS_DIR || '/work/shared/models' },
  extra: { type: 'string', default: '' }, formats: { type: 'string', default: 'auto,qoperator,qdq' },
  runs: { type: 'int', default: 30, min: 1 }, warmup: { type: 'int', default: 5, min: 0 },
  work: { type: 'string', default: path.join(os.tmpdir(), 'mq-bench', 'inference') },
  out: { type: 'string', default: path.join(HERE, 'results') },
  profile: { type: 'string', default: '' }, only: { type: 'string', default: '' }, help: { type: 'flag' },
};

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const median = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n ? (n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) : NaN; };
const fileBytes = (f) => fs.statSync(f).size + (fs.existsSync(`${f}.data`) ? fs.statSync(`${f}.data`).size : 0);
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function quantize(mq, input, output, format, reportFile) {
  try {
    execFileSync(mq, [input, output, '--format', format, '--report', reportFile, '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    return { error: (e.stderr ? e.stderr.toString() : e.message).trim().split('\n')[0] };
  }
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
  let before = 0, after = 0;
  for (const n of report.nodes) if (n.action === 'quantized') { before += n.bytes_before; after += n.bytes_after; }
  return { quantized: report.quantized, skipped: report.skipped, weight_bytes_before: before, weight_bytes_after: after, quantize_s: report.seconds };
}

async function timeRun(session, feeds) {
  const t0 = process.hrtime.bigint();
  const out = await session.run(feeds);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, out };
}

function firstFloatCosine(ref, cand) {
  for (const [name, t] of Object.entries(ref)) {
    if (!isFloatType(t.type) || !cand[name]) continue;
    return compareFloat(tensorAsNumbers(t), tensorAsNumbers(cand[name]), t.dims).cosine;
  }
  return null;
}

// ORT's profiler: ms per run by op type (node events, kernel time), over the last `runs` of
// 3 + `runs` runs of one session (the first runs allocate and are left out).
async function profileOps(file, feeds, runs, prefix) {
  const dir = path.dirname(prefix);
  const before = new Set(fs.readdirSync(dir));
  const session = await ort.InferenceSession.create(file, { ...sessionOptions({ threads: 1 }), enableProfiling: true, profileFilePrefix: prefix });
  for (let i = 0; i < 3 + runs; i++) await session.run(feeds);
  session.endProfiling();
  await session.release();
  const fresh = fs.readdirSync(dir).filter((f) => !before.has(f) && path.join(dir, f).startsWith(prefix));
  if (!fresh.length) return null;
  const profileFile = path.join(dir, fresh[0]);
  const events = JSON.parse(fs.readFileSync(profileFile, 'utf8'));
  const modelRuns = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const kept = modelRuns.slice(-runs);
  const from = kept.length ? kept[0].ts : 0;
  const byOp = {};
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < from) continue;
    const op = (e.args && e.args.op_name) || '?';
    byOp[op] = (byOp[op] || 0) + e.dur;
  }
  const n = kept.length || 1;
  const perRun = Object.fromEntries(Object.entries(byOp).map(([k, v]) => [k, v / n / 1000]).sort((a, b) => b[1] - a[1]));
  const modelRunMs = kept.length ? median(kept.map((e) => e.dur / 1000)) : null;
  return { profile_file: profileFile, runs: n, model_run_median_ms: modelRunMs, ms_per_run_by_op: perRun };
}

async function benchModel(file, args, formats) {
  const key = modelKeyFromPath(file);
  const rec = { model: key, file, loadavg_start: load(), fp32_bytes: fileBytes(file), variants: {} };
  const summary = readOnnxSummary(file);
  const ops = new Map();
  for (const n of summary.nodes) ops.set(n.opType, (ops.get(n.opType) || 0) + 1);
  rec.key_ops = ['MatMul', 'Gemm', 'Conv', 'ConvTranspose', 'LSTM'].filter((o) => ops.has(o)).map((o) => `${o} ${ops.get(o)}`).join(', ');
  const variants = [{ name: 'fp32', file }];
  for (const f of formats) {
    const out = path.join(args.work, `${key}.${f}.onnx`);
    const q = quantize(args.mq, file, out, f, path.join(args.work, `${key}.${f}.report.json`));
    rec.variants[f] = { ...q };
    if (q.error) continue;
    rec.variants[f].bytes = fileBytes(out);
    rec.variants[f].detected_format = detectFormat(readOnnxSummary(out)).format;
    variants.push({ name: f, file: out });
  }
  const live = [];
  for (const v of variants) {
    try {
      v.session = await ort.InferenceSession.create(v.file, sessionOptions({ threads: 1 }));
      live.push(v);
    } catch (e) {
      if (v.name === 'fp32') throw e;
      rec.variants[v.name].error = `ORT load: ${e.message.split('\n')[0]}`;
    }
  }
  const plan = planInputs(live[0].session, fs.existsSync(DEFAULT_INPUT_SPEC) ? DEFAULT_INPUT_SPEC : null, key);
  const feeds = makeFeeds(plan, DEFAULT_SEED);
  rec.inputs = plan.map((p) => `${p.name}: ${p.type}[${p.shape.join(',')}]`);
  const times = Object.fromEntries(live.map((v) => [v.name, []]));
  const outs = {};
  for (let r = 0; r < args.warmup + args.runs; r++) {
    for (let i = 0; i < live.length; i++) {
      const v = live[(i + r) % live.length];
      try {
        const { ms, out } = await timeRun(v.session, feeds);
        if (r >= args.warmup) times[v.name].push(ms);
        if (!outs[v.name]) outs[v.name] = out;
      } catch (e) {
        if (v.name === 'fp32') throw e;
        rec.variants[v.name].error = `ORT run: ${e.message.split('\n')[0]}`;
        live.splice(live.indexOf(v), 1);
        i--;
      }
    }
  }
  const fp32 = median(times.fp32);
  rec.fp32_ms = fp32;
  rec.fp32_min_ms = Math.min(...times.fp32);
  for (const v of live) {
    if (v.name === 'fp32') continue;
    const m = median(times[v.name]);
    Object.assign(rec.variants[v.name], {
      ms: m, min_ms: Math.min(...times[v.name]), speedup: fp32 / m, cosine: firstFloatCosine(outs.fp32, outs[v.name]),
    });
  }
  rec.runs_ms = times;
  rec.loadavg_end = load();
  if (list(args.profile).includes(key)) {
    rec.profile = {};
    for (const v of live) {
      rec.profile[v.name] = await profileOps(v.file, feeds, 20, path.join(args.work, `prof_${key}_${v.name}`));
    }
  }
  for (const v of live) await v.session.release();
  return rec;
}

function sourceCommit() {
  try {
    return execFileSync('git', ['-C', path.join(HERE, '..'), 'describe', '--always', '--dirty'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

const fmtMs = (x) => (x === undefined || x === null || Number.isNaN(x) ? '-' : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const fmtMB = (b) => (b / 1e6 >= 10 ? (b / 1e6).toFixed(1) : (b / 1e6).toFixed(2));

function markdown(results, args, formats) {
  const L = [];
  L.push(`ONNX Runtime ${ort.env.versions.node} (onnxruntime-node, CPU), 1 intra-op thread, sequential, default graph optimization; `
    + `median of ${args.runs} runs after ${args.warmup} warmup rounds, variants interleaved round-robin; ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; mq-quantize from commit ${sourceCommit()}.`);
  L.push('');
  L.push(`| model | key ops | FP32 ms | ${formats.map((f) => `${f} ms (speedup)`).join(' | ')} | load avg |`);
  L.push(`|---|---|---:|${formats.map(() => '---:').join('|')}|---|`);
  for (const r of results) {
    if (r.error) { L.push(`| ${r.model} | | error: ${r.error} |${formats.map(() => '').join(' |')} | |`); continue; }
    const cells = formats.map((f) => {
      const v = r.variants[f];
      if (!v || v.error) return `fails: ${v ? v.error : '-'}`;
      const s = `${fmtMs(v.ms)} (${v.speedup.toFixed(2)}x)`;
      return v.speedup < 1 / 1.1 ? `**${s}**` : s;
    });
    L.push(`| ${r.model} | ${r.key_ops} | ${fmtMs(r.fp32_ms)} | ${cells.join(' | ')} | ${r.loadavg_start.split(' ')[0]} |`);
  }
  L.push('');
  L.push('Bold: more than 10 % slower than FP32. Speedup = FP32 median / variant median.');
  L.push('');
  L.push(`| model | FP32 MB | ${formats.map((f) => `${f} MB (file ratio)`).join(' | ')} | quantized weights: bytes before / after (${formats[0]}) | cosine of first output vs FP32 (${formats.join(', ')}) |`);
  L.push(`|---|---:|${formats.map(() => '---:').join('|')}|---:|---|`);
  for (const r of results) {
    if (r.error) continue;
    const cells = formats.map((f) => { const v = r.variants[f]; return v && v.bytes ? `${fmtMB(v.bytes)} (${(r.fp32_bytes / v.bytes).toFixed(2)}x)` : '-'; });
    const v0 = r.variants[formats[0]];
    const w = v0 && v0.weight_bytes_after ? `${fmtMB(v0.weight_bytes_before)} / ${fmtMB(v0.weight_bytes_after)} MB (${(v0.weight_bytes_before / v0.weight_bytes_after).toFixed(2)}x)` : '-';
    const cos = formats.map((f) => { const v = r.variants[f]; return v && v.cosine !== undefined && v.cosine !== null ? v.cosine.toFixed(4) : '-'; }).join(', ');
    L.push(`| ${r.model} | ${fmtMB(r.fp32_bytes)} | ${cells.join(' | ')} | ${w} | ${cos} |`);
  }
  const profiled = results.filter((r) => r.profile);
  for (const r of profiled) {
    L.push('');
    L.push(`Per-op time of ${r.model} (ORT profiler, kernel time, ms per run; top 8 op types per variant):`);
    L.push('');
    L.push('| variant | model_run median ms (profiled) | sum of kernel times | top op types (ms per run) |');
    L.push('|---|---:|---:|---|');
    for (const [name, p] of Object.entries(r.profile)) {
      if (!p) { L.push(`| ${name} | - | - | no profile written |`); continue; }
      const e = Object.entries(p.ms_per_run_by_op);
      const total = e.reduce((a, [, v]) => a + v, 0);
      L.push(`| ${name} | ${fmtMs(p.model_run_median_ms)} | ${fmtMs(total)} | ${e.slice(0, 8).map(([k, v]) => `${k} ${fmtMs(v)}`).join(', ')} |`);
    }
  }
  return L.join('\n') + '\n';
}

async function main(argv) {
  const args = parseArgs(argv, SPEC);
  if (args.help) { console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 24).map((l) => l.replace(/^\/\/ ?/, '')).join('\n')); return 0; }
  if (!args.mq) throw new UsageError('--mq PATH/TO/mq-quantize is required');
  args.mq = path.resolve(args.mq);
  const formats = list(args.formats);
  for (const f of formats) if (!['auto', 'qoperator', 'qdq'].includes(f)) throw new UsageError(`unknown format ${f}`);
  fs.mkdirSync(args.work, { recursive: true });
  fs.mkdirSync(args.out, { recursive: true });
  let files = fs.readdirSync(args['models-dir']).filter((f) => f.endsWith('.onnx')).sort().map((f) => path.join(args['models-dir'], f));
  files = files.concat(list(args.extra).map((f) => path.resolve(f)));
  if (args.only) files = files.filter((f) => list(args.only).includes(modelKeyFromPath(f)));
  const results = [];
  for (const f of files) {
    process.stderr.write(`== ${modelKeyFromPath(f)} (load ${load()})\n`);
    try {
      results.push(await benchModel(f, args, formats));
    } catch (e) {
      results.push({ model: modelKeyFromPath(f), file: f, error: e.message.split('\n')[0] });
    }
    const r = results[results.length - 1];
    process.stderr.write(`   fp32 ${fmtMs(r.fp32_ms)} ms; ${formats.map((x) => `${x} ${r.variants && r.variants[x] ? (r.variants[x].error || `${fmtMs(r.variants[x].ms)} ms`) : '-'}`).join('; ')}\n`);
  }
  const md = markdown(results, args, formats);
  fs.writeFileSync(path.join(args.out, 'inference.md'), md);
  fs.writeFileSync(path.join(args.out, 'inference.json'), toJson({
    ort_version: ort.env.versions.node, node: process.version, cpus: os.cpus().length, source: sourceCommit(), runs: args.runs, warmup: args.warmup,
    formats, seed: DEFAULT_SEED, date: new Date().toISOString(), results,
  }) + '\n');
  process.stdout.write(md);
  process.stderr.write(`wrote ${path.join(args.out, 'inference.md')} and inference.json\n`);
  return 0;
}

main(process.argv.slice(2)).then((c) => process.exit(c), (e) => {
  process.stderr.write(`inference.mjs: ${e.message}\n`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
