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
    if (!k.startsWith('_') && k !== 'qdq' && k !== 'qoperator' && k !== 'auto') {
      throw new UsageError(`${file}: "${modelKey}" has unknown format key "${k}" (expected auto, qdq or qoperator)`);
    }
  }
  const entry = model[format];
  if (entry === undefined || entry === null) {
    throw new CheckError(`no thresholds for model key "${modelKey}", format "${format}" in ${file}. ${howTo}`);
  }
  const where = `${file}: ${modelKey}.${format}`;
  if (typeof entry !== 'object' || Array.isArray(entry)) throw new UsageError(`${where} must be an object`);
  for (const k of Object.keys(entry)) {
    if (!k.startsWith('_') && !METRIC_KEYS.includes(k) && k !== 'outputs' && k !== 'why') {
      throw new UsageError(`${where}: unknown key "${k}" (allowed: ${[...METRIC_KEYS, 'outputs', 'why'].join(', ')})`);
    }
  }
  validateMetrics(entry, where);
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
  return { file, modelKey, format, entry, warnings };
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
