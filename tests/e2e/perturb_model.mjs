#!/usr/bin/env node
// perturb_model.mjs — write a copy of an ONNX model with ONE float32 weight changed, to prove that
// ort_compare.mjs detects a difference (negative control). Test-only.
//
// The file is changed in place byte-for-byte inside a tensor's raw_data (same length), so the
// protobuf structure stays valid. Tensors are found by walking the protobuf (initializers and
// Constant-node / attribute tensors, including those inside subgraphs).
//
//   node perturb_model.mjs IN.onnx OUT.onnx [--tensor NAME] [--index I] [--mode sign|lsb|scale] [--factor F] [--list]
//
//   default tensor: the largest float32 tensor with raw_data; default element: the one with the
//   largest |value|; --mode sign flips the sign bit (byte 3 ^= 0x80, the default), lsb flips the
//   lowest mantissa bit (byte 0 ^= 0x01, the smallest possible change), scale multiplies by --factor.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, UsageError, readOnnxSummary } from './lib/common.mjs';

const USAGE = 'usage: node perturb_model.mjs IN.onnx OUT.onnx [--tensor NAME] [--index I] [--mode sign|lsb|scale] [--factor F] [--list]';

function main(argv) {
  const pos = [];
  while (argv.length && !argv[0].startsWith('--')) pos.push(argv.shift());
  const args = parseArgs(argv, {
    tensor: { type: 'string' }, index: { type: 'int', min: 0 }, mode: { type: 'string', default: 'sign', choices: ['sign', 'lsb', 'scale'] },
    factor: { type: 'string', default: '1.5' }, list: { type: 'flag' },
  });
  if (pos.length < 1 || (!args.list && pos.length !== 2)) throw new UsageError(USAGE);
  const inFile = path.resolve(pos[0]);
  const s = readOnnxSummary(inFile);
  const floats = s.tensors.filter((t) => t.dataType === 1 && t.rawStart >= 0 && t.rawEnd - t.rawStart >= 4);
  if (args.list) {
    for (const t of floats.sort((a, b) => (b.rawEnd - b.rawStart) - (a.rawEnd - a.rawStart))) {
      console.log(`${t.name || '(unnamed)'}\t[${t.dims}]\t${(t.rawEnd - t.rawStart) / 4} floats\toffset ${t.rawStart}\t${t.where}`);
    }
    return 0;
  }
  let t;
  if (args.tensor) {
    t = floats.find((x) => x.name === args.tensor);
    if (!t) throw new UsageError(`no float32 raw_data tensor named "${args.tensor}" (use --list)`);
  } else {
    t = floats.reduce((a, b) => (!a || b.rawEnd - b.rawStart > a.rawEnd - a.rawStart ? b : a), null);
    if (!t) throw new UsageError('model has no float32 tensor stored as raw_data');
  }
  const buf = Buffer.from(s.buffer); // copy
  const n = (t.rawEnd - t.rawStart) / 4;
  let idx = args.index;
  if (idx === undefined) {
    idx = 0;
    for (let i = 1; i < n; i++) if (Math.abs(buf.readFloatLE(t.rawStart + 4 * i)) > Math.abs(buf.readFloatLE(t.rawStart + 4 * idx))) idx = i;
  }
  if (idx >= n) throw new UsageError(`--index ${idx} out of range (tensor has ${n} floats)`);
  const off = t.rawStart + 4 * idx;
  const before = buf.readFloatLE(off);
  if (args.mode === 'sign') buf[off + 3] ^= 0x80;
  else if (args.mode === 'lsb') buf[off] ^= 0x01;
  else {
    const f = Number(args.factor);
    if (!Number.isFinite(f)) throw new UsageError('--factor must be a number');
    buf.writeFloatLE(before * f, off);
  }
  const after = buf.readFloatLE(off);
  fs.writeFileSync(path.resolve(pos[1]), buf);
  console.log(`perturbed tensor "${t.name}" [${t.dims}] (${t.where}) element ${idx} at file offset ${off}: ${before} -> ${after} (mode ${args.mode})`);
  console.log(`wrote ${path.resolve(pos[1])}`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  console.error(e instanceof UsageError ? e.message : (e.stack || String(e)));
  process.exitCode = e instanceof UsageError ? 2 : 1;
}
