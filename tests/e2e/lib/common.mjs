// Shared code of the ONNX Runtime test oracle (test-only; not part of libmodelquant).
//
//  - deterministic input generation (mulberry32, seeded per run and per input name)
//  - session creation with fixed, reproducible options
//  - a minimal ONNX protobuf reader (op types, tensors) used for format detection and
//    for making perturbed copies of a model
//  - output comparison metrics
//
// Only node's standard library and onnxruntime-node are used.

import fs from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { readPng, letterbox } from './png.mjs';

export { ort };
export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_INPUT_SPEC = path.join(E2E_DIR, 'model_inputs.json');
export const DEFAULT_SEED = 1234;

// Error classes that map to exit codes.
export class UsageError extends Error {}   // exit 2
export class CheckError extends Error {}   // exit 1

// ---------------------------------------------------------------------------------------------
// Command line parsing
// ---------------------------------------------------------------------------------------------

// spec: { name: {type: 'string'|'int'|'flag', default} }
export function parseArgs(argv, spec) {
  const out = {};
  for (const [k, v] of Object.entries(spec)) if (v.default !== undefined) out[k] = v.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument '${a}'`);
    let key = a.slice(2);
    let val;
    const eq = key.indexOf('=');
    if (eq >= 0) { val = key.slice(eq + 1); key = key.slice(0, eq); }
    const s = spec[key];
    if (!s) throw new UsageError(`unknown option '--${key}'`);
    if (s.type === 'flag') {
      if (val !== undefined) throw new UsageError(`option '--${key}' takes no value`);
      out[key] = true;
      continue;
    }
    if (val === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`option '--${key}' needs a value`);
      val = argv[++i];
    }
    if (s.type === 'int') {
      if (!/^-?\d+$/.test(val)) throw new UsageError(`option '--${key}' needs an integer, got '${val}'`);
      val = Number(val);
      if (s.min !== undefined && val < s.min) throw new UsageError(`option '--${key}' must be >= ${s.min}`);
    }
    if (s.choices && !s.choices.includes(val)) {
      throw new UsageError(`option '--${key}' must be one of ${s.choices.join('|')}, got '${val}'`);
    }
    out[key] = val;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Deterministic PRNG
// ---------------------------------------------------------------------------------------------
//
// Every input tensor gets its own stream, so adding/reordering inputs never changes the values
// of another input:
//   stream_seed = fnv1a32(input_name) XOR imul(run_seed, 0x9E3779B9)     (all uint32)
//   stream      = mulberry32(stream_seed)
// run_seed = --seed + run index (0, 1, ...).
// A float in [low, high) is  fround(low + (u32 / 2^32) * (high - low)); an integer in
// [low, high) is  low + floor((u32 / 2^32) * (high - low)).  One u32 per element, row-major
// order.  These rules are simple enough to be re-implemented bit-exactly in C++.

export function fnv1a32(str) {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(str, 'utf8');
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export function streamSeed(runSeed, inputName) {
  return (fnv1a32(inputName) ^ Math.imul(runSeed >>> 0, 0x9e3779b9)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// float16 helpers (IEEE half, round-to-nearest-even)
// ---------------------------------------------------------------------------------------------

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

export function f32ToF16Bits(v) {
  f32buf[0] = v;
  const x = u32buf[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);          // inf / nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;                                    // overflow
  if (e <= 0) {                                                           // subnormal / zero
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;                  // may carry into exp: ok
  return sign | h;
}

export function f16BitsToF32(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// ---------------------------------------------------------------------------------------------
// Input specification and generation
// ---------------------------------------------------------------------------------------------

export const SUPPORTED_INPUT_TYPES = ['float32', 'float16', 'int32', 'int64', 'uint8', 'int8', 'bool'];
const FILL_KINDS = ['uniform', 'zeros', 'ones', 'const', 'values', 'drawing', 'image'];
const INT_LIMITS = {
  int8: [-128, 128], uint8: [0, 256], int32: [-(2 ** 31), 2 ** 31], int64: [-(2 ** 53), 2 ** 53], bool: [0, 2],
};

export function isFloatType(t) { return t === 'float32' || t === 'float16' || t === 'float64'; }

// Loads the per-model input overrides. Keys beginning with "_" are comments.
export function loadInputSpecFile(file) {
  let json;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read input spec file ${file}: ${e.message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new UsageError(`${file}: top level must be an object`);
  return json;
}

export function modelKeyFromPath(p) {
  return path.basename(p).replace(/\.onnx$/i, '');
}

// Default value rule for an input without an override.
function defaultFill(type) {
  if (isFloatType(type)) return { fill: 'uniform', low: -1, high: 1 };
  if (type === 'bool') return { fill: 'uniform', low: 0, high: 2 };
  const [lo, hi] = INT_LIMITS[type];
  return { fill: 'uniform', low: Math.max(0, lo), high: Math.min(256, hi) };
}

// Resolves the concrete shape for one input from metadata, the override and the symbol table.
function resolveShape(meta, override, symbols, modelKey) {
  const mshape = meta.shape;
  if (override && override.shape !== undefined) {
    const s = override.shape;
    if (!Array.isArray(s) || !s.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new UsageError(`${modelKey}/${meta.name}: "shape" must be an array of non-negative integers`);
    }
    if (s.length !== mshape.length) {
      throw new UsageError(`${modelKey}/${meta.name}: override shape [${s}] has rank ${s.length}, model says rank ${mshape.length} ([${mshape}])`);
    }
    s.forEach((d, i) => {
      const m = mshape[i];
      if (typeof m === 'number' && m >= 0 && m !== d) {
        throw new UsageError(`${modelKey}/${meta.name}: override dim ${i} = ${d}, but the model fixes it to ${m}`);
      }
      if (typeof m === 'string' && m !== '' && symbols[m] === undefined) symbols[m] = d;
    });
    return s.slice();
  }
  const rank = mshape.length;
  return mshape.map((m, i) => {
    if (typeof m === 'number' && m >= 0) return m;
    if (typeof m === 'string' && m !== '' && symbols[m] !== undefined) return symbols[m];
    const v = i === 0 ? 1 : rank === 4 ? 320 : 512;
    if (typeof m === 'string' && m !== '') symbols[m] = v;
    return v;
  });
}

// Builds the (run-independent) plan for the inputs of a session: name, type, shape, fill rule.
export function planInputs(session, specFile, modelKey) {
  const metas = session.inputMetadata;
  const allSpecs = specFile ? loadInputSpecFile(specFile) : {};
  const modelSpec = allSpecs[modelKey];
  if (modelSpec !== undefined && (typeof modelSpec !== 'object' || Array.isArray(modelSpec) || modelSpec === null)) {
    throw new UsageError(`${specFile}: entry "${modelKey}" must be an object`);
  }
  const names = metas.map((m) => m.name);
  if (modelSpec) {
    for (const k of Object.keys(modelSpec)) {
      if (!k.startsWith('_') && !names.includes(k)) {
        throw new UsageError(`${specFile}: "${modelKey}" gives input "${k}", but the model's inputs are: ${names.join(', ')}`);
      }
    }
  }
  const symbols = {};
  const plan = [];
  // Overridden shapes first so that they bind symbolic dims used by other inputs.
  const hasOv = (m) => (modelSpec && modelSpec[m.name] && modelSpec[m.name].shape !== undefined ? 0 : 1);
  const order = [...metas].sort((a, b) => hasOv(a) - hasOv(b)); // stable sort
  const byName = {};
  for (const meta of order) {
    if (!meta.isTensor) throw new CheckError(`input "${meta.name}" is not a tensor; not supported`);
    if (!SUPPORTED_INPUT_TYPES.includes(meta.type)) {
      throw new CheckError(`input "${meta.name}" has type ${meta.type}; supported: ${SUPPORTED_INPUT_TYPES.join(', ')}`);
    }
    const ov = modelSpec ? modelSpec[meta.name] : undefined;
    if (ov !== undefined && (typeof ov !== 'object' || ov === null || Array.isArray(ov))) {
      throw new UsageError(`${modelKey}/${meta.name}: override must be an object`);
    }
    if (ov) {
      for (const k of Object.keys(ov)) {
        if (!['shape', 'fill', 'low', 'high', 'value', 'values', 'why', 'layout', 'strokes', 'count', 'images', 'channels', 'pad', 'placement'].includes(k) && !k.startsWith('_')) {
          throw new UsageError(`${modelKey}/${meta.name}: unknown key "${k}" in input override`);
        }
      }
    }
    const shape = resolveShape(meta, ov, symbols, modelKey);
    const fill = { ...defaultFill(meta.type) };
    if (ov && ov.fill !== undefined) {
      if (!FILL_KINDS.includes(ov.fill)) throw new UsageError(`${modelKey}/${meta.name}: fill must be one of ${FILL_KINDS.join('|')}`);
      fill.fill = ov.fill;
    }
    if (ov && ov.low !== undefined) fill.low = ov.low;
    if (ov && ov.high !== undefined) fill.high = ov.high;
    if (fill.fill === 'uniform' && !(typeof fill.low === 'number' && typeof fill.high === 'number' && fill.high > fill.low)) {
      throw new UsageError(`${modelKey}/${meta.name}: uniform fill needs numeric low < high`);
    }
    if (fill.fill === 'uniform' && !isFloatType(meta.type)) {
      const [lo, hi] = INT_LIMITS[meta.type];
      if (!Number.isInteger(fill.low) || !Number.isInteger(fill.high) || fill.low < lo || fill.high > hi) {
        throw new UsageError(`${modelKey}/${meta.name}: integer range [${fill.low}, ${fill.high}) invalid for ${meta.type}`);
      }
    }
    if (fill.fill === 'const') {
      if (typeof ov.value !== 'number') throw new UsageError(`${modelKey}/${meta.name}: const fill needs a numeric "value"`);
      fill.value = ov.value;
    }
    if (fill.fill === 'values') {
      const n = shape.reduce((a, b) => a * b, 1);
      if (!Array.isArray(ov.values) || ov.values.length !== n || !ov.values.every((x) => typeof x === 'number')) {
        throw new UsageError(`${modelKey}/${meta.name}: "values" must be a flat array of ${n} numbers`);
      }
      fill.values = ov.values;
    }
    if (fill.fill === 'drawing') {
      if (shape.length !== 4 || !isFloatType(meta.type)) throw new UsageError(`${modelKey}/${meta.name}: drawing fill needs a 4-D float input`);
      if (!(typeof fill.low === 'number' && typeof fill.high === 'number')) throw new UsageError(`${modelKey}/${meta.name}: drawing fill needs low and high`);
      fill.layout = ov.layout ?? 'nchw';
      fill.strokes = ov.strokes ?? 'bars';
      if (ov.count !== undefined) fill.count = ov.count;
    }
    if (fill.fill === 'image') {
      // Real photos, one per run (run r takes images[r % count]), letterboxed to the input size;
      // pixel values 0..255 map linearly to [low, high]. Paths are relative to the shared models
      // folder's sibling calibration/images (MQ_SHARED_MODELS_DIR/../calibration/images).
      if (shape.length !== 4 || !isFloatType(meta.type)) throw new UsageError(`${modelKey}/${meta.name}: image fill needs a 4-D float input`);
      if (!Array.isArray(ov.images) || ov.images.length === 0 || !ov.images.every((x) => typeof x === 'string')) {
        throw new UsageError(`${modelKey}/${meta.name}: image fill needs "images", a list of PNG file names`);
      }
      if (!(typeof fill.low === 'number' && typeof fill.high === 'number')) throw new UsageError(`${modelKey}/${meta.name}: image fill needs low and high`);
      fill.images = ov.images;
      fill.channels = ov.channels ?? 'rgb';
      fill.pad = ov.pad ?? 114;
      fill.placement = ov.placement ?? 'center';
      if (!['rgb', 'bgr'].includes(fill.channels)) throw new UsageError(`${modelKey}/${meta.name}: channels must be rgb or bgr`);
      if (!['center', 'top-left'].includes(fill.placement)) throw new UsageError(`${modelKey}/${meta.name}: placement must be center or top-left`);
    }
    if (fill.fill !== 'uniform' && fill.fill !== 'drawing' && fill.fill !== 'image') { delete fill.low; delete fill.high; }
    byName[meta.name] = { name: meta.name, type: meta.type, shape, metaShape: meta.shape, ...fill, overridden: !!ov };
  }
  for (const meta of metas) plan.push(byName[meta.name]);
  return plan;
}

function typedArrayFor(type, n) {
  switch (type) {
    case 'float32': return new Float32Array(n);
    case 'float16': return new Uint16Array(n);
    case 'int32': return new Int32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint8': return new Uint8Array(n);
    case 'int8': return new Int8Array(n);
    case 'bool': return new Uint8Array(n);
    default: throw new CheckError(`unsupported input type ${type}`);
  }
}

// Converts a JS number to the element representation of `type`.
function encoder(type) {
  if (type === 'float16') return (v) => f32ToF16Bits(v);
  if (type === 'int64') return (v) => BigInt(Math.trunc(v));
  if (type === 'bool') return (v) => (v ? 1 : 0);
  return (v) => v;
}

// A synthetic picture for a 4-D float image input, so detectors have something to detect (on
// random pixels ppocr_v4_det finds no text and mlsd no lines: their FP32 outputs are ~0 and any
// comparison is noise). Background `high`, strokes `low`: "bars" draws text-like dark horizontal
// bars, "lines" draws straight line segments 2 px wide; every channel gets the same picture.
// `layout` is "nchw" or "nhwc".
function fillDrawing(data, p, runSeed, enc) {
  const next = mulberry32(streamSeed(runSeed, p.name));
  const u = () => next() / 4294967296;
  const [N, A, B, C] = p.shape;
  const nhwc = p.layout === 'nhwc';
  const [channels, height, width] = nhwc ? [C, A, B] : [A, B, C];
  const picture = new Float32Array(height * width).fill(p.high);
  const paint = (y, x) => {
    if (y >= 0 && y < height && x >= 0 && x < width) picture[y * width + x] = p.low;
  };
  const count = p.count ?? 12;
  for (let k = 0; k < count; k++) {
    if (p.strokes === 'lines') {
      const [y0, x0, y1, x1] = [u() * height, u() * width, u() * height, u() * width];
      const steps = Math.ceil(Math.hypot(y1 - y0, x1 - x0));
      for (let t = 0; t <= steps; t++) {
        const y = Math.round(y0 + ((y1 - y0) * t) / steps);
        const x = Math.round(x0 + ((x1 - x0) * t) / steps);
        paint(y, x); paint(y + 1, x); paint(y, x + 1);
      }
    } else {
      const h = 4 + Math.floor(u() * Math.max(1, height / 10));
      const w = 8 + Math.floor(u() * width / 2);
      const y0 = Math.floor(u() * (height - h));
      const x0 = Math.floor(u() * (width - w));
      for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (u() < 0.7) paint(y, x);
    }
  }
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < channels; c++) {
      for (let h = 0; h < height; h++) {
        for (let w = 0; w < width; w++) {
          const idx = nhwc ? ((n * height + h) * width + w) * channels + c : ((n * channels + c) * height + h) * width + w;
          data[idx] = enc(picture[h * width + w]);
        }
      }
    }
  }
}

// How a photo feeds a model, as mq-quantize's calibration does: the photo goes to the one 4-D
// float input, an int64 [N, 2] input gets the photo's height and width (DETR-style original
// sizes); any other input is an error. imageInputOf(inputMetadata) names the image input;
// photoFeeds(inputMetadata, x) gives the feeds for the prepared photo x ({ data, shape }).
export function imageInputOf(meta) {
  const images = meta.filter((m) => m.type === 'float32' && m.shape.length === 4);
  if (images.length !== 1) throw new CheckError(`${images.length} 4-D float inputs: a photo feeds one image input`);
  for (const m of meta) {
    if (m !== images[0] && !(m.type === 'int64' && m.shape.length === 2 && m.shape[1] === 2)) {
      throw new CheckError(`input '${m.name}' (${m.type} [${m.shape}]) is not an image or an int64 [N, 2] size`);
    }
  }
  return images[0].name;
}

export function photoFeeds(meta, x) {
  const image = imageInputOf(meta);
  const hw = [1, 3, 4].includes(x.shape[1]) ? [x.shape[2], x.shape[3]] : [x.shape[1], x.shape[2]];
  const feeds = { [image]: new ort.Tensor('float32', x.data, x.shape) };
  for (const m of meta) {
    if (m.name !== image) feeds[m.name] = new ort.Tensor('int64', BigInt64Array.from(hw.map(BigInt)), [1, 2]);
  }
  return feeds;
}

// The calibration photos beside the shared models (MANIFEST.md: ../calibration/images).
export function imagesDir() {
  const models = process.env.MQ_SHARED_MODELS_DIR || path.resolve(E2E_DIR, '..', '..', '..', 'shared', 'models');
  return path.join(path.dirname(path.resolve(models)), 'calibration', 'images');
}

const imageCache = new Map();
function fillImage(data, p, runSeed, enc) {
  const [N, C, H, W] = p.shape;
  if (C !== 3) throw new CheckError(`input "${p.name}": image fill needs 3 channels (NCHW), shape is [${p.shape}]`);
  const name = p.images[((runSeed - DEFAULT_SEED) % p.images.length + p.images.length) % p.images.length];
  const key = `${name}|${H}|${W}|${p.pad}|${p.placement}`;
  if (!imageCache.has(key)) imageCache.set(key, letterbox(readPng(path.join(imagesDir(), name)), H, W, p.pad, p.placement));
  const pic = imageCache.get(key);
  const order = p.channels === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < H * W; i++) {
        data[(n * 3 + c) * H * W + i] = enc(Math.fround(p.low + (pic[i * 3 + order[c]] / 255) * (p.high - p.low)));
      }
    }
  }
}

// Generates the data for one plan entry in run `runSeed`. Returns an ort.Tensor.
export function makeTensor(p, runSeed) {
  const n = p.shape.reduce((a, b) => a * b, 1);
  const data = typedArrayFor(p.type, n);
  const enc = encoder(p.type);
  if (p.fill === 'uniform') {
    const next = mulberry32(streamSeed(runSeed, p.name));
    const span = p.high - p.low;
    if (isFloatType(p.type)) {
      for (let i = 0; i < n; i++) data[i] = enc(Math.fround(p.low + (next() / 4294967296) * span));
    } else {
      for (let i = 0; i < n; i++) data[i] = enc(p.low + Math.floor((next() / 4294967296) * span));
    }
  } else if (p.fill === 'zeros' || p.fill === 'ones' || p.fill === 'const') {
    const v = p.fill === 'zeros' ? 0 : p.fill === 'ones' ? 1 : p.value;
    const e = enc(v);
    for (let i = 0; i < n; i++) data[i] = e;
  } else if (p.fill === 'values') {
    for (let i = 0; i < n; i++) data[i] = enc(p.values[i]);
  } else if (p.fill === 'drawing') {
    fillDrawing(data, p, runSeed, enc);
  } else if (p.fill === 'image') {
    fillImage(data, p, runSeed, enc);
  }
  return new ort.Tensor(p.type, data, p.shape);
}

export function makeFeeds(plan, runSeed) {
  const feeds = {};
  for (const p of plan) feeds[p.name] = makeTensor(p, runSeed);
  return feeds;
}

// sha256 over the raw little-endian bytes of all inputs in model input order: lets two machines
// (or the C++ side) confirm they generate bit-identical inputs for a seed.
export function feedsSha256(plan, feeds) {
  const h = crypto.createHash('sha256');
  for (const p of plan) {
    const d = feeds[p.name].data;
    h.update(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
}

export function describePlanEntry(p) {
  let fill;
  if (p.fill === 'uniform') fill = isFloatType(p.type) ? `uniform[${p.low},${p.high})` : `randint[${p.low},${p.high})`;
  else if (p.fill === 'const') fill = `const ${p.value}`;
  else if (p.fill === 'values') fill = `values(${p.values.length})`;
  else if (p.fill === 'image') fill = `image ${p.images.join(',')} -> [${p.low},${p.high}] ${p.channels}`;
  else fill = p.fill;
  return `${p.name}: ${p.type}[${p.shape.join(',')}] ${fill}${p.overridden ? '' : ' (default rule)'}`;
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

export function sessionOptions({ threads = 1, graphOpt } = {}) {
  const o = {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3, // errors only; ORT warnings (e.g. initializers listed as inputs) are noise here
  };
  if (graphOpt) o.graphOptimizationLevel = graphOpt; // otherwise ORT's default (all)
  return o;
}

export async function loadSession(file, opts, role) {
  if (!fs.existsSync(file)) throw new CheckError(`${role} not found: ${file}`);
  const t0 = process.hrtime.bigint();
  try {
    const session = await ort.InferenceSession.create(file, sessionOptions(opts));
    return { session, loadMs: Number(process.hrtime.bigint() - t0) / 1e6 };
  } catch (e) {
    throw new CheckError(`${role} failed to load in ONNX Runtime ${ort.env.versions.node}: ${file}\n  ORT: ${e.message}`);
  }
}

export async function runSession(session, feeds, role) {
  const t0 = process.hrtime.bigint();
  try {
    const out = await session.run(feeds);
    return { out, runMs: Number(process.hrtime.bigint() - t0) / 1e6 };
  } catch (e) {
    throw new CheckError(`${role} failed to run in ONNX Runtime\n  ORT: ${e.message}`);
  }
}

// Returns output values as numbers (Float64Array) for float tensors, otherwise the raw typed array.
export function tensorAsNumbers(t) {
  if (t.type === 'float16') {
    const src = t.data;
    const out = new Float64Array(src.length);
    if (src instanceof Uint16Array) for (let i = 0; i < src.length; i++) out[i] = f16BitsToF32(src[i]);
    else for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
    return out;
  }
  return t.data;
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

export function compareFloat(ref, cand, shape) {
  const n = ref.length;
  let dot = 0, nr = 0, nc = 0, maxAbs = 0, sumAbs = 0, refMaxAbs = 0, candMaxAbs = 0;
  let nonfiniteRef = 0, nonfiniteCand = 0, nanMismatch = 0;
  let worstIndex = -1;
  for (let i = 0; i < n; i++) {
    const a = ref[i], b = cand[i];
    const fa = Number.isFinite(a), fb = Number.isFinite(b);
    if (!fa) nonfiniteRef++;
    if (!fb) nonfiniteCand++;
    if (!fa || !fb) {
      if (!(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)))) nanMismatch++;
      continue;
    }
    dot += a * b; nr += a * a; nc += b * b;
    const d = Math.abs(a - b);
    if (d > maxAbs) { maxAbs = d; worstIndex = i; }
    sumAbs += d;
    const aa = Math.abs(a), ab = Math.abs(b);
    if (aa > refMaxAbs) refMaxAbs = aa;
    if (ab > candMaxAbs) candMaxAbs = ab;
  }
  let cosine;
  if (nr === 0 && nc === 0) cosine = 1;
  else if (nr === 0 || nc === 0) cosine = 0;
  else cosine = dot / Math.sqrt(nr * nc); // identical vectors give exactly 1 (sqrt(fl(x*x)) == x)
  if (cosine > 1) cosine = 1; // rounding guard (only when vectors are identical up to fp noise)
  const finiteCount = n - Math.max(nonfiniteRef, nonfiniteCand);
  const res = {
    kind: 'float',
    elements: n,
    cosine,
    max_abs_error: maxAbs,
    mean_abs_error: finiteCount > 0 ? sumAbs / finiteCount : 0,
    ref_max_abs: refMaxAbs,
    cand_max_abs: candMaxAbs,
    rel_max_abs_error: refMaxAbs > 0 ? maxAbs / refMaxAbs : (maxAbs > 0 ? Infinity : 0),
    worst_index: worstIndex >= 0 ? unravel(worstIndex, shape) : null,
    nonfinite_ref: nonfiniteRef,
    nonfinite_cand: nonfiniteCand,
    nonfinite_mismatch: nanMismatch,
    top1_agreement: null,
    top1_rows: 0,
  };
  // Non-finite values that are not identical in both: the metrics above ignored them, so make
  // the failure explicit (a NaN in the cosine fails every threshold).
  if (nanMismatch > 0) { res.cosine = NaN; res.max_abs_error = NaN; }
  // Top-1 agreement along the last axis (report only; meaningful for class-score outputs).
  const last = shape.length ? shape[shape.length - 1] : 0;
  if (shape.length >= 2 && last > 1 && n > 0) {
    const rows = n / last;
    let agree = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * last;
      let ia = 0, ib = 0;
      for (let j = 1; j < last; j++) {
        if (ref[o + j] > ref[o + ia]) ia = j;
        if (cand[o + j] > cand[o + ib]) ib = j;
      }
      if (ia === ib) agree++;
    }
    res.top1_agreement = agree / rows;
    res.top1_rows = rows;
  }
  return res;
}

export function compareExact(ref, cand) {
  const n = ref.length;
  let mismatch = 0;
  let first = -1;
  for (let i = 0; i < n; i++) {
    if (ref[i] !== cand[i]) { mismatch++; if (first < 0) first = i; }
  }
  return { kind: 'exact', elements: n, mismatches: mismatch, mismatch_fraction: n ? mismatch / n : 0, first_mismatch: first };
}

function unravel(i, shape) {
  const idx = new Array(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function tensorStats(t) {
  const v = tensorAsNumbers(t);
  const n = v.length;
  if (typeof v[0] === 'bigint') {
    let mn = null, mx = null;
    for (const x of v) { if (mn === null || x < mn) mn = x; if (mx === null || x > mx) mx = x; }
    return { elements: n, min: mn === null ? null : mn.toString(), max: mx === null ? null : mx.toString() };
  }
  let mn = Infinity, mx = -Infinity, sum = 0, sq = 0, nonfinite = 0, cnt = 0;
  for (let i = 0; i < n; i++) {
    const x = Number(v[i]);
    if (!Number.isFinite(x)) { nonfinite++; continue; }
    cnt++;
    if (x < mn) mn = x;
    if (x > mx) mx = x;
    sum += x; sq += x * x;
  }
  const mean = cnt ? sum / cnt : NaN;
  return {
    elements: n,
    min: cnt ? mn : null,
    max: cnt ? mx : null,
    mean,
    std: cnt ? Math.sqrt(Math.max(0, sq / cnt - mean * mean)) : NaN,
    nonfinite,
    first: Array.from(v.slice(0, 4), Number),
  };
}

// ---------------------------------------------------------------------------------------------
// Minimal ONNX protobuf reader
// ---------------------------------------------------------------------------------------------
// Walks ModelProto -> GraphProto (recursively through node attributes g/graphs and functions)
// and reports node op types and every TensorProto (initializers and Constant/attribute tensors)
// with the byte range of its raw_data in the file.

function readVarint(buf, pos) {
  let result = 0, mul = 1, b;
  do {
    if (pos >= buf.length) throw new Error('truncated varint');
    b = buf[pos++];
    result += (b & 0x7f) * mul;
    mul *= 128;
  } while (b & 0x80);
  return [result, pos];
}

// Iterates fields of the message in buf[start, end): cb(fieldNo, wireType, valueStart, valueEnd, varintValue)
function forEachField(buf, start, end, cb) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8), wt = key & 7;
    if (wt === 0) {
      let v; const s = pos;
      [v, pos] = readVarint(buf, pos);
      cb(field, wt, s, pos, v);
    } else if (wt === 1) { cb(field, wt, pos, pos + 8); pos += 8; }
    else if (wt === 5) { cb(field, wt, pos, pos + 4); pos += 4; }
    else if (wt === 2) {
      let len;
      [len, pos] = readVarint(buf, pos);
      if (pos + len > end) throw new Error('truncated length-delimited field');
      cb(field, wt, pos, pos + len);
      pos += len;
    } else throw new Error(`unsupported wire type ${wt}`);
  }
}

const str = (buf, s, e) => buf.toString('utf8', s, e);

function parseTensor(buf, s, e, where) {
  const t = { name: '', dims: [], dataType: 0, rawStart: -1, rawEnd: -1, where };
  forEachField(buf, s, e, (f, wt, a, b, v) => {
    if (f === 1) {
      if (wt === 0) t.dims.push(v);
      else { let p = a; while (p < b) { let d; [d, p] = readVarint(buf, p); t.dims.push(d); } }
    } else if (f === 2 && wt === 0) t.dataType = v;
    else if (f === 8 && wt === 2) t.name = str(buf, a, b);
    else if (f === 9 && wt === 2) { t.rawStart = a; t.rawEnd = b; }
    else if (f === 4 && wt === 2) { t.floatDataStart = a; t.floatDataEnd = b; }
    else if (f === 14 && wt === 0) t.dataLocation = v;
  });
  return t;
}

function parseGraph(buf, s, e, acc, graphPath) {
  forEachField(buf, s, e, (f, wt, a, b) => {
    if (wt !== 2) return;
    if (f === 1) parseNode(buf, a, b, acc, graphPath);
    else if (f === 5) acc.tensors.push(parseTensor(buf, a, b, `${graphPath}/initializer`));
  });
}

function parseNode(buf, s, e, acc, graphPath) {
  const node = { opType: '', domain: '', name: '', inputs: [], outputs: [] };
  const attrs = [];
  forEachField(buf, s, e, (f, wt, a, b) => {
    if (wt !== 2) return;
    if (f === 1) node.inputs.push(str(buf, a, b));
    else if (f === 2) node.outputs.push(str(buf, a, b));
    else if (f === 4) node.opType = str(buf, a, b);
    else if (f === 7) node.domain = str(buf, a, b);
    else if (f === 3) node.name = str(buf, a, b);
    else if (f === 5) attrs.push([a, b]);
  });
  acc.nodes.push({ ...node, graph: graphPath });
  for (const [a, b] of attrs) {
    let attrName = '';
    forEachField(buf, a, b, (f, wt, x, y) => { if (f === 1 && wt === 2) attrName = str(buf, x, y); });
    forEachField(buf, a, b, (f, wt, x, y) => {
      if (wt !== 2) return;
      const where = `${graphPath}/${node.opType}:${node.name}.${attrName}`;
      if (f === 5 || f === 10) acc.tensors.push(parseTensor(buf, x, y, where));
      else if (f === 6 || f === 11) parseGraph(buf, x, y, acc, where);
    });
  }
}

export function readOnnxSummary(file) {
  const buf = fs.readFileSync(file);
  const acc = { nodes: [], tensors: [], opsets: {}, irVersion: null };
  forEachField(buf, 0, buf.length, (f, wt, a, b, v) => {
    if (f === 1 && wt === 0) acc.irVersion = v;
    else if (f === 7 && wt === 2) parseGraph(buf, a, b, acc, 'main');
    else if (f === 8 && wt === 2) {
      let dom = '', ver = 0;
      forEachField(buf, a, b, (g, w2, x, y, vv) => { if (g === 1 && w2 === 2) dom = str(buf, x, y); if (g === 2 && w2 === 0) ver = vv; });
      acc.opsets[dom || 'ai.onnx'] = ver;
    } else if (f === 25 && wt === 2) {
      // FunctionProto: node = 7
      forEachField(buf, a, b, (g, w2, x, y) => { if (g === 7 && w2 === 2) parseNode(buf, x, y, acc, 'function'); });
    }
  });
  acc.buffer = buf;
  return acc;
}

// Classifies a (candidate) model by its ops: 'qoperator', 'qdq' or 'none'.
const QOP_EXACT = new Set([
  'ConvInteger', 'MatMulInteger', 'QGemm', 'QAttention', 'DynamicQuantizeLSTM', 'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat', 'QEmbedLayerNormalization', 'DynamicQuantizeLinear',
]);
export function detectFormat(summary) {
  const ops = new Map();
  for (const n of summary.nodes) ops.set(n.opType, (ops.get(n.opType) || 0) + 1);
  const qop = [...ops.keys()].filter((o) => o.startsWith('QLinear') || QOP_EXACT.has(o));
  const qdq = ['QuantizeLinear', 'DequantizeLinear'].filter((o) => ops.has(o));
  let format = 'none';
  if (qop.length) format = 'qoperator';
  else if (qdq.length) format = 'qdq';
  return { format, qoperatorOps: qop, qdqOps: qdq, opCounts: Object.fromEntries(ops) };
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

export function fmt(x, digits = 4) {
  if (x === null || x === undefined) return '-';
  if (typeof x === 'string') return x;
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e5) return Number(x.toPrecision(digits + 2)).toString();
  return x.toExponential(digits - 1);
}

// cosine printed with enough digits to tell 1 from 0.9999999
export function fmtCos(x) {
  if (x === null || x === undefined) return '-';
  if (Number.isNaN(x)) return 'NaN';
  if (x === 1) return '1';
  if (x > 0.999999 && x < 1) return `1-${(1 - x).toExponential(2)}`;
  return x.toFixed(6);
}

export function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(w[i])).join('  ').trimEnd();
  return [line(headers), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

// JSON.stringify that survives BigInt, NaN and Infinity (written as strings).
export function toJson(obj) {
  return JSON.stringify(obj, (k, v) => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  }, 2);
}
