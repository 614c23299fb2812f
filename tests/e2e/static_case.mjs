#!/usr/bin/env node
// static_case.mjs: static INT8 of one shared model, judged in ONNX Runtime as a user judges it
// (issue #16).
//
//   node static_case.mjs --mq-quantize PATH --mq-run PATH --model FILE.onnx --work DIR
//        [--activation-type uint8|int8] [--calibration DIR] [--photos DIR] [--thresholds FILE] [--json]
//
// 1. mq-quantize --calibration (default: the shared calibration photos) with the model's
//    preprocessing (static_models.json).
// 2. Fusion: ONNX Runtime (extended optimizations, layout-neutral) saves its optimized graph; every
//    Conv whose weight mq-quantize put behind a DequantizeLinear must have become a QLinearConv
//    (and every quantized MatMul/Gemm a QLinearMatMul, MatMulIntegerToFloat or QGemm).
// 3. Accuracy on held-out photos (never calibrated on: Debian's opencv-doc samples, the same
//    package the calibration set comes from), prepared by mq-run with the same preprocessing:
//    detectors by mAP50 of the INT8 detections against FP32's (score >= 0.25 as the truth, INT8
//    ranked down to 0.05), plus precision and recall at 0.25; classifiers and recognizers ("top1":
//    an output of class scores on its last axis) by how often INT8's best class is FP32's (per
//    image, or per time step of a text line); all by the worst output's SNR and cosine, pooled over
//    the photos.
// Limits: thresholds.json "static".<model> (min_map50 | min_top1 | min_snr_db, min_quantized_conv,
// expect_fallback, expect_untouched for an already quantized model); with
// --activation-type int8 (the ARM choice) "static".<model>:int8, and every session runs as ONNX
// Runtime does on ARM, where it fuses int8 activations directly (session.qdqisint8allowed = 1, its
// default there; on x86 it rewrites int8 pairs to uint8 only where a QuantizeLinear has a single
// reader, and 6 of yolov8n's 62 Convs fuse). Exit 0 pass, 1 failure, 2 usage.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ort, parseArgs, UsageError, CheckError, modelKeyFromPath, imagesDir, readOnnxSummary, fmt, imageInputOf, photoFeeds } from './lib/common.mjs';
import { readNpy } from './lib/npy.mjs';
import { decode, map50 } from './lib/decode.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const OPENCV_DATA = '/usr/share/doc/opencv-doc/examples/data';
// Held out: none of these is in ../shared/calibration/images (its README lists the files it took).
export const HELD_OUT = ['messi5.jpg', 'basketball1.png', 'basketball2.png', 'HappyFish.jpg', 'orange.jpg', 'aero3.jpg',
  'leuvenB.jpg', 'box_in_scene.png', 'rubberwhale2.png', 'starry_night.jpg', 'licenseplate_motion.jpg', 'right.jpg'];
const TRUTH_SCORE = 0.25, PRED_SCORE = 0.05;

const SPEC = {
  'mq-quantize': { type: 'string' }, 'mq-run': { type: 'string' }, model: { type: 'string' }, work: { type: 'string' },
  'activation-type': { type: 'string', default: 'uint8' }, calibration: { type: 'string' }, photos: { type: 'string', default: OPENCV_DATA },
  thresholds: { type: 'string', default: path.join(HERE, 'thresholds.json') },
  models: { type: 'string', default: path.join(HERE, 'static_models.json') }, json: { type: 'flag' }, help: { type: 'flag' },
};

function run(cmd, args) {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 }).toString();
  } catch (e) {
    throw new CheckError(`${path.basename(cmd)} ${args.join(' ')} failed: ${(e.stderr ? e.stderr.toString() : e.message).trim()}`);
  }
}

// Nodes whose weight (input 1) is behind a DequantizeLinear: what static INT8 quantized. A Conv
// or Gemm whose output no QuantizeLinear reads (directly, or after a Relu/Clip that is its only
// reader) is weight-only: float on a dequantized weight, what ONNX Runtime would make of it itself.
function quantizedNodes(summary) {
  const producer = new Map(), readers = new Map();
  for (const n of summary.nodes) {
    if (n.graph !== 'main') continue;
    for (const o of n.outputs) producer.set(o, n.opType);
    for (const i of n.inputs) {
      if (!readers.has(i)) readers.set(i, []);
      readers.get(i).push(n);
    }
  }
  const outputQuantized = (n) => {
    let r = readers.get(n.outputs[0]) || [];
    if (r.length === 1 && (r[0].opType === 'Relu' || r[0].opType === 'Clip')) r = readers.get(r[0].outputs[0]) || [];
    return r.some((x) => x.opType === 'QuantizeLinear');
  };
  const count = { Conv: 0, MatMul: 0, Gemm: 0, weight_only: 0 };
  for (const n of summary.nodes) {
    if (n.graph !== 'main' || !(n.opType in count) || n.inputs.length < 2) continue;
    if (producer.get(n.inputs[1]) !== 'DequantizeLinear') continue;
    if (n.opType !== 'MatMul' && !outputQuantized(n)) count.weight_only++;
    else count[n.opType]++;
  }
  return count;
}

function opCounts(summary) {
  const c = {};
  for (const n of summary.nodes) c[n.opType] = (c[n.opType] || 0) + 1;
  return c;
}

function snrPool() {
  return { signal: 0, noise: 0, dot: 0, rr: 0, cc: 0 };
}

function addSnr(p, ref, cand) {
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i], c = cand[i];
    p.signal += r * r; p.noise += (r - c) * (r - c); p.dot += r * c; p.rr += r * r; p.cc += c * c;
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args.help) { console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 20).join('\n')); return 0; }
  for (const k of ['mq-quantize', 'mq-run', 'model', 'work']) if (!args[k]) throw new UsageError(`--${k} is required`);
  const activations = args['activation-type'];
  if (activations !== 'uint8' && activations !== 'int8') throw new UsageError(`--activation-type ${activations}: uint8 or int8`);
  const model = modelKeyFromPath(args.model);
  const key = activations === 'uint8' ? model : `${model}:${activations}`;
  const cfg = JSON.parse(fs.readFileSync(args.models, 'utf8'))[model];
  if (!cfg) throw new UsageError(`${args.models}: no entry for ${model}`);
  const limits = (JSON.parse(fs.readFileSync(args.thresholds, 'utf8')).static || {})[key];
  const preprocess = cfg.preprocess.endsWith('.toml') ? path.join(HERE, 'preprocess', cfg.preprocess) : cfg.preprocess;
  const calibration = args.calibration || imagesDir();

  fs.rmSync(args.work, { recursive: true, force: true });
  fs.mkdirSync(args.work, { recursive: true });
  const int8 = path.join(args.work, `${model}_static_${activations}.onnx`);
  const t0 = Date.now();
  const report = JSON.parse(run(args['mq-quantize'], [args.model, int8, '--calibration', calibration, '--preprocess', preprocess,
    '--activation-type', activations, '--json']));
  const quantizeSeconds = (Date.now() - t0) / 1000;

  // Fusion, from the graph ONNX Runtime actually runs (on the target the activation type is for).
  const target = activations === 'int8' ? { extra: { session: { qdqisint8allowed: '1' } } } : {};
  const optimized = path.join(args.work, `${model}_static_${activations}.optimized.onnx`);
  await ort.InferenceSession.create(int8, { graphOptimizationLevel: 'extended', optimizedModelFilePath: optimized, intraOpNumThreads: 1, logSeverityLevel: 3, ...target });
  const quantized = quantizedNodes(readOnnxSummary(int8));
  const fused = opCounts(readOnnxSummary(optimized));
  const qlinearConv = fused.QLinearConv || 0;
  const qlinearMatMul = (fused.QLinearMatMul || 0) + (fused.MatMulIntegerToFloat || 0) + (fused.QGemm || 0);

  // Held-out photos through mq-run's preprocessing.
  const fp32 = await ort.InferenceSession.create(args.model, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  const q = await ort.InferenceSession.create(int8, { intraOpNumThreads: 1, logSeverityLevel: 3, ...target });
  // The photo feeds the model as calibration feeds it (lib/common.mjs photoFeeds).
  let inputName;
  try {
    inputName = imageInputOf(fp32.inputMetadata);
  } catch (e) {
    throw new CheckError(`${key}: ${e.message}`);
  }
  const truth = [], pred = [];
  const top1 = { same: 0, total: 0 };
  const pools = {};
  const photos = HELD_OUT.map((f) => path.join(args.photos, f));
  for (const [i, photo] of photos.entries()) {
    if (!fs.existsSync(photo)) throw new CheckError(`held-out photo ${photo} is missing (Debian package opencv-doc)`);
    const dir = path.join(args.work, `photo_${i}`);
    run(args['mq-run'], [args.model, '--input', `${inputName}=${photo}`, '--preprocess', preprocess, '--save-inputs', dir, '--json']);
    const x = readNpy(path.join(dir, 'input_0.npy'));
    const feeds = photoFeeds(fp32.inputMetadata, x);
    const a = await fp32.run(feeds), b = await q.run(feeds);
    if (cfg.decoder) {
      truth.push(decode(a, cfg, x.shape, TRUTH_SCORE));
      pred.push(decode(b, cfg, x.shape, PRED_SCORE));
    }
    if (cfg.top1) {
      // The best class per row of the last axis (one row per image, or per time step).
      const fa = a[cfg.top1], qa = b[cfg.top1];
      const classes = fa.dims[fa.dims.length - 1];
      for (let r = 0; r < fa.data.length / classes; r++) {
        let bf = 0, bq = 0;
        for (let c = 1; c < classes; c++) {
          if (fa.data[r * classes + c] > fa.data[r * classes + bf]) bf = c;
          if (qa.data[r * classes + c] > qa.data[r * classes + bq]) bq = c;
        }
        top1.total++;
        top1.same += bf === bq ? 1 : 0;
      }
    }
    for (const name of fp32.outputNames) {
      if (a[name].type !== 'float32') continue;
      pools[name] ??= snrPool();
      addSnr(pools[name], a[name].data, b[name].data);
    }
  }
  const outputs = Object.entries(pools).map(([name, p]) => ({
    name, snr_db: 10 * Math.log10(p.signal / p.noise), cosine: p.dot / Math.sqrt(p.rr * p.cc),
  }));
  const worst = outputs.reduce((w, o) => (o.snr_db < w.snr_db ? o : w), outputs[0]);
  const result = {
    model: key, photos: photos.length, quantize_seconds: quantizeSeconds, guard_snr_db: report.static_int8?.output_snr_db ?? report.accuracy_guard?.output_snr_db ?? null,
    quantized, fused: { QLinearConv: qlinearConv, integer_matmul: qlinearMatMul, float_Conv: fused.Conv || 0 },
    outputs, worst_snr_db: worst.snr_db,
  };
  if (cfg.decoder) Object.assign(result, { detections: map50(truth, pred, TRUTH_SCORE) });
  if (cfg.top1) Object.assign(result, { top1: { agreement: top1.same / top1.total, same: top1.same, rows: top1.total } });

  const problems = [];
  if (!limits) problems.push(`${args.thresholds}: no "static" entry for ${key}: measure (the numbers above) and add one`);
  const lim = limits || {};
  // Every Conv mq-quantize quantized must fuse, and nothing else: a float Conv that ONNX Runtime
  // quantizes itself (its WeightBiasQuantization: per tensor, a float Conv reading a
  // DequantizeLinear) would run other arithmetic than the one mq-quantize's accuracy guard measured.
  result.fused.extra_QLinearConv = Math.max(0, qlinearConv - quantized.Conv);
  // A model where int8 would run too little of the work is quantized as auto instead (the report's
  // static_fallback): "expect_fallback" says which, and then only its accuracy is judged.
  result.static_fallback = report.static_fallback ?? null;
  // An already quantized model is left exactly as it is (the report warns): "expect_untouched".
  result.untouched = fs.readFileSync(int8).equals(fs.readFileSync(args.model));
  if (lim.expect_untouched) {
    if (!result.untouched) problems.push('expected the already quantized model to be written unchanged');
    if (!(report.warnings || []).some((w) => w.startsWith('the model is already quantized'))) problems.push('no "already quantized" warning in the report');
  } else if (result.untouched) problems.push('the model was written unchanged');
  if (lim.expect_fallback && !result.static_fallback) problems.push('expected the fallback to auto (too little in int8), got static INT8');
  if (!lim.expect_fallback && result.static_fallback) problems.push(`fell back to auto: ${result.static_fallback}`);
  if (lim.expect_untouched) {
    // its own integer ops are what they were
  } else if (result.static_fallback) {
    if (qlinearConv > 0) problems.push(`the fallback model has ${qlinearConv} QLinearConv`);
  } else if (qlinearConv < quantized.Conv) problems.push(`${quantized.Conv} Conv quantized, only ${qlinearConv} became QLinearConv in ONNX Runtime`);
  if (!result.static_fallback && qlinearConv > quantized.Conv) problems.push(`ONNX Runtime made ${qlinearConv} QLinearConv of ${quantized.Conv} quantized Conv: it quantized float ones itself`);
  const qmm = quantized.MatMul + quantized.Gemm;
  if (!result.static_fallback && qlinearMatMul < qmm) problems.push(`${qmm} MatMul/Gemm quantized, ${qlinearMatMul} fused into integer kernels`);
  if (!result.static_fallback && lim.min_quantized_conv !== undefined && quantized.Conv < lim.min_quantized_conv) {
    problems.push(`${quantized.Conv} Conv quantized, at least ${lim.min_quantized_conv} expected`);
  }
  if (lim.min_map50 !== undefined) {
    const d = result.detections;
    if (!d || !(d.truth > 0)) problems.push('FP32 finds nothing on the held-out photos: the comparison would prove nothing');
    else if (!(d.map50 >= lim.min_map50)) problems.push(`mAP50 against FP32 ${fmt(d.map50)} < ${lim.min_map50}`);
  }
  if (lim.min_top1 !== undefined) {
    if (!result.top1) problems.push('min_top1 needs a "top1" output in static_models.json');
    else if (!(result.top1.agreement >= lim.min_top1)) problems.push(`best class agrees with FP32 on ${fmt(result.top1.agreement)} of ${result.top1.rows} rows < ${lim.min_top1}`);
  }
  if (lim.min_snr_db !== undefined && !(worst.snr_db >= lim.min_snr_db)) {
    problems.push(`output '${worst.name}': ${fmt(worst.snr_db)} dB < ${lim.min_snr_db} dB`);
  }
  result.problems = problems;
  result.pass = problems.length === 0;
  if (args.json) console.log(JSON.stringify(result, null, 2));
  else {
    if (result.static_fallback) console.log(`${key}: ${result.static_fallback}`);
    console.log(`${key}: quantized ${JSON.stringify(quantized)}, fused ${JSON.stringify(result.fused)}, ${fmt(quantizeSeconds)} s to quantize`);
    if (result.detections) {
      const d = result.detections;
      console.log(`${key}: mAP50 ${fmt(d.map50)} over ${d.classes} classes, ${d.truth} FP32 detections; precision ${fmt(d.precision)}, recall ${fmt(d.recall)}`);
    }
    if (result.top1) console.log(`${key}: best class as FP32's on ${result.top1.same} of ${result.top1.rows} rows (${fmt(result.top1.agreement)})`);
    for (const o of outputs) console.log(`${key}: output '${o.name}' ${fmt(o.snr_db)} dB, cosine ${fmt(o.cosine)}`);
    for (const p of problems) console.log(`FAIL ${key}: ${p}`);
    console.log(problems.length ? `FAIL ${key}` : `PASS ${key}`);
  }
  return problems.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  if (e instanceof UsageError) { console.error(`static_case.mjs: ${e.message}`); process.exit(2); }
  console.error(`static_case.mjs: ${e.message}`);
  process.exit(1);
});
