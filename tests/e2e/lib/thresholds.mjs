// Threshold file handling for ort_compare.mjs.
//
// thresholds.json:
//   { "_comment": "...",
//     "<model-key>": {
//       "<format>": {                       // auto | qdq | qoperator (mq-quantize --format)
//         "min_cosine": 0.99,               // required (float outputs)
//         "max_abs_error": 0.5,             // required (float outputs)
//         "max_mean_abs_error": 0.05,       // optional
//         "max_rel_error": 0.1,             // optional: max_abs_error / max|reference|
//         "max_mismatch_fraction": 0,       // optional, non-float outputs (default 0 = exact)
//         "outputs": { "<output name>": { ...any of the keys above... } },
//         "why": "where the numbers come from"
//       } } }
// Keys starting with "_" are comments at every level. Unknown keys are errors (a typo must not
// silently disable a check).

import fs from 'node:fs';
import { UsageError, CheckError } from './common.mjs';

const METRIC_KEYS = ['min_cosine', 'max_abs_error', 'max_mean_abs_error', 'max_rel_error', 'max_mismatch_fraction'];
// Detection metrics (lib/detections.mjs), for models with a model-level "detections" entry.
const DETECTION_KEYS = ['min_recall', 'min_precision', 'max_score_error', 'min_mean_iou'];
const REQUIRED_FLOAT = ['min_cosine', 'max_abs_error'];

function validateMetrics(obj, where) {
  for (const k of METRIC_KEYS) {
    if (obj[k] === undefined) continue;
    const v = obj[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError(`${where}: "${k}" must be a finite number`);
    if (k === 'min_cosine' && (v < -1 || v > 1)) throw new UsageError(`${where}: "min_cosine" must be in [-1, 1]`);
    if (k !== 'min_cosine' && v < 0) throw new UsageError(`${where}: "${k}" must be >= 0`);
  }
}

function validateDetectionMetrics(obj, where) {
  for (const k of DETECTION_KEYS) {
    if (obj[k] === undefined) continue;
    const v = obj[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new UsageError(`${where}: "${k}" must be a finite number >= 0`);
    if (k !== 'max_score_error' && v > 1) throw new UsageError(`${where}: "${k}" must be in [0, 1]`);
  }
}

// A model-level "detections" entry: { "boxes": NAME, "scores": NAME, "labels": NAME,
// "min_score": 0.2, "iou": 0.5, "why": "..." }: these outputs are compared as detections.
function validateDetectionConfig(d, where) {
  if (!d || typeof d !== 'object' || Array.isArray(d)) throw new UsageError(`${where} must be an object`);
  for (const k of Object.keys(d)) {
    if (!k.startsWith('_') && !['boxes', 'scores', 'labels', 'min_score', 'iou', 'why'].includes(k)) {
      throw new UsageError(`${where}: unknown key "${k}" (allowed: boxes, scores, labels, min_score, iou, why)`);
    }
  }
  for (const k of ['boxes', 'scores', 'labels']) if (typeof d[k] !== 'string') throw new UsageError(`${where}: "${k}" must name an output`);
  for (const k of ['min_score', 'iou']) {
    if (typeof d[k] !== 'number' || !(d[k] > 0 && d[k] <= 1)) throw new UsageError(`${where}: "${k}" must be a number in (0, 1]`);
  }
}

// Returns the entry for (modelKey, format), validated. Throws CheckError when it is missing.
export function loadThresholdEntry(file, modelKey, format) {
  let json;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read thresholds file ${file}: ${e.message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new UsageError(`${file}: top level must be an object`);
  const howTo = 'Thresholds are added only after measuring the quantized model (run ort_compare.mjs with --json, '
    + 'review the numbers, then add a reviewed entry with a "why").';
  const model = json[modelKey];
  if (model === undefined || model === null) {
    throw new CheckError(`no thresholds for model key "${modelKey}" in ${file}. ${howTo}`);
  }
  if (typeof model !== 'object' || Array.isArray(model)) throw new UsageError(`${file}: "${modelKey}" must be an object`);
  for (const k of Object.keys(model)) {
    if (!k.startsWith('_') && k !== 'qdq' && k !== 'qoperator' && k !== 'auto' && k !== 'detections') {
      throw new UsageError(`${file}: "${modelKey}" has unknown format key "${k}" (expected auto, qdq, qoperator or detections)`);
    }
  }
  const entry = model[format];
  if (entry === undefined || entry === null) {
    throw new CheckError(`no thresholds for model key "${modelKey}", format "${format}" in ${file}. ${howTo}`);
  }
  const where = `${file}: ${modelKey}.${format}`;
  if (typeof entry !== 'object' || Array.isArray(entry)) throw new UsageError(`${where} must be an object`);
  for (const k of Object.keys(entry)) {
    if (!k.startsWith('_') && !METRIC_KEYS.includes(k) && !DETECTION_KEYS.includes(k) && k !== 'outputs' && k !== 'why') {
      throw new UsageError(`${where}: unknown key "${k}" (allowed: ${[...METRIC_KEYS, ...DETECTION_KEYS, 'outputs', 'why'].join(', ')})`);
    }
  }
  validateMetrics(entry, where);
  validateDetectionMetrics(entry, where);
  const detections = model.detections ?? null;
  if (detections) validateDetectionConfig(detections, `${file}: ${modelKey}.detections`);
  if (!detections && DETECTION_KEYS.some((k) => entry[k] !== undefined)) {
    throw new UsageError(`${where}: detection thresholds without a model-level "detections" entry`);
  }
  const outputs = entry.outputs || {};
  if (typeof outputs !== 'object' || Array.isArray(outputs)) throw new UsageError(`${where}.outputs must be an object`);
  for (const [name, ov] of Object.entries(outputs)) {
    if (name.startsWith('_')) continue;
    if (!ov || typeof ov !== 'object' || Array.isArray(ov)) throw new UsageError(`${where}.outputs["${name}"] must be an object`);
    for (const k of Object.keys(ov)) {
      if (!k.startsWith('_') && !METRIC_KEYS.includes(k) && k !== 'why') {
        throw new UsageError(`${where}.outputs["${name}"]: unknown key "${k}"`);
      }
    }
    validateMetrics(ov, `${where}.outputs["${name}"]`);
  }
  const warnings = [];
  if (typeof entry.why !== 'string' || !entry.why.trim()) warnings.push(`${where} has no "why" explaining where the numbers come from`);
  return { file, modelKey, format, entry, detections, warnings };
}

// Effective thresholds for one output.
export function thresholdsFor(loaded, outputName) {
  const e = loaded.entry;
  const base = {};
  for (const k of METRIC_KEYS) if (e[k] !== undefined) base[k] = e[k];
  const ov = (e.outputs && e.outputs[outputName]) || {};
  for (const k of METRIC_KEYS) if (ov[k] !== undefined) base[k] = ov[k];
  return base;
}

// worst: aggregated measurements of one output (see ort_compare.mjs). Returns a list of checks.
export function checkOutput(loaded, name, worst) {
  const t = thresholdsFor(loaded, name);
  const checks = [];
  const add = (metric, measured, threshold, ok, op) => checks.push({ output: name, metric, measured, threshold, op, ok });
  if (worst.kind === 'float') {
    const missing = REQUIRED_FLOAT.filter((k) => t[k] === undefined);
    if (missing.length) {
      checks.push({ output: name, metric: missing.join(','), measured: null, threshold: null, op: 'defined', ok: false,
        error: `threshold entry ${loaded.modelKey}.${loaded.format} does not define ${missing.join(' and ')} for output "${name}"` });
    }
    // Written so that NaN measurements fail.
    if (t.min_cosine !== undefined) add('cosine', worst.cosine, t.min_cosine, worst.cosine >= t.min_cosine, '>=');
    if (t.max_abs_error !== undefined) add('max_abs_error', worst.max_abs_error, t.max_abs_error, worst.max_abs_error <= t.max_abs_error, '<=');
    if (t.max_mean_abs_error !== undefined) add('mean_abs_error', worst.mean_abs_error, t.max_mean_abs_error, worst.mean_abs_error <= t.max_mean_abs_error, '<=');
    if (t.max_rel_error !== undefined) add('rel_max_abs_error', worst.rel_max_abs_error, t.max_rel_error, worst.rel_max_abs_error <= t.max_rel_error, '<=');
  } else {
    const thr = t.max_mismatch_fraction !== undefined ? t.max_mismatch_fraction : 0;
    add('mismatch_fraction', worst.mismatch_fraction, thr, worst.mismatch_fraction <= thr, '<=');
  }
  return checks;
}

export function checkStaleOutputNames(loaded, outputNames) {
  const names = Object.keys((loaded.entry.outputs) || {}).filter((k) => !k.startsWith('_'));
  return names.filter((n) => !outputNames.includes(n));
}

// Checks of the detection comparison (worst over runs, see lib/detections.mjs).
export function checkDetections(loaded, worst) {
  const e = loaded.entry;
  const checks = [];
  const add = (metric, measured, threshold, ok, op) => checks.push({ output: 'detections', metric, measured, threshold, op, ok });
  if (!worst || worst.reference_detections === 0) {
    checks.push({ output: 'detections', metric: 'reference_detections', measured: 0, threshold: 1, op: '>=', ok: false,
      error: `the reference found no detection scoring >= ${loaded.detections.min_score} in any run: a comparison of nothing proves nothing` });
    return checks;
  }
  const missing = DETECTION_KEYS.filter((k) => e[k] === undefined);
  if (missing.length) {
    checks.push({ output: 'detections', metric: missing.join(','), measured: null, threshold: null, op: 'defined', ok: false,
      error: `threshold entry ${loaded.modelKey}.${loaded.format} does not define ${missing.join(', ')}` });
  }
  if (e.min_recall !== undefined) add('recall', worst.recall, e.min_recall, worst.recall >= e.min_recall, '>=');
  if (e.min_precision !== undefined) add('precision', worst.precision, e.min_precision, worst.precision >= e.min_precision, '>=');
  if (e.max_score_error !== undefined) add('max_score_error', worst.max_score_error, e.max_score_error, worst.max_score_error <= e.max_score_error, '<=');
  if (e.min_mean_iou !== undefined) add('mean_iou', worst.mean_iou, e.min_mean_iou, worst.mean_iou >= e.min_mean_iou, '>=');
  return checks;
}
