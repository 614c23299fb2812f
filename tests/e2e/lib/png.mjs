// A small PNG reader for the test inputs (8-bit RGB or RGBA, not interlaced: what the shared
// calibration photos are), and the letterbox resize detectors expect. Node's zlib does the
// inflating; nothing else is needed.
import fs from 'node:fs';
import zlib from 'node:zlib';
import { CheckError } from './common.mjs';

// { width, height, rgb: Uint8Array (3 bytes per pixel, row-major) }
export function readPng(file) {
  if (!fs.existsSync(file)) throw new CheckError(`input image not found: ${file}`);
  const b = fs.readFileSync(file);
  if (b.length < 8 || b.readUInt32BE(0) !== 0x89504e47) throw new CheckError(`${file}: not a PNG file`);
  let pos = 8, width = 0, height = 0, channels = 0;
  const idat = [];
  while (pos + 8 <= b.length) {
    const len = b.readUInt32BE(pos);
    const type = b.toString('latin1', pos + 4, pos + 8);
    const data = b.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      const [depth, color, , , interlace] = data.subarray(8, 13);
      channels = color === 2 ? 3 : color === 6 ? 4 : 0;
      if (depth !== 8 || channels === 0 || interlace !== 0) {
        throw new CheckError(`${file}: only 8-bit RGB/RGBA PNGs without interlacing are read (depth ${depth}, color type ${color}, interlace ${interlace})`);
      }
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[i - channels] : 0, up = prev[i], c = i >= channels ? prev[i - channels] : 0;
      let v = line[i];
      if (filter === 1) v += a;
      else if (filter === 2) v += up;
      else if (filter === 3) v += (a + up) >> 1;
      else if (filter === 4) {
        const p = a + up - c, pa = Math.abs(p - a), pb = Math.abs(p - up), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
      } else if (filter !== 0) throw new CheckError(`${file}: unknown PNG filter ${filter}`);
      out[i] = v & 0xff;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let k = 0; k < 3; k++) rgb[i * 3 + k] = pixels[i * channels + k];
  return { width, height, rgb };
}

// The image scaled to fit height x width (aspect kept, bilinear), on a background of `pad`
// (0..255): centred ("center", Ultralytics' letterbox) or at the top-left ("top-left", YOLOX).
// Returns a Float32Array of height * width * 3 values in 0..255, RGB, row-major.
export function letterbox(img, height, width, pad, placement) {
  const scale = Math.min(height / img.height, width / img.width);
  const h = Math.round(img.height * scale), w = Math.round(img.width * scale);
  const top = placement === 'center' ? Math.floor((height - h) / 2) : 0;
  const left = placement === 'center' ? Math.floor((width - w) / 2) : 0;
  const out = new Float32Array(height * width * 3).fill(pad);
  const at = (y, x, k) => img.rgb[(y * img.width + x) * 3 + k];
  for (let y = 0; y < h; y++) {
    const sy = Math.min(img.height - 1, Math.max(0, (y + 0.5) / scale - 0.5));
    const y0 = Math.floor(sy), y1 = Math.min(img.height - 1, y0 + 1), fy = sy - y0;
    for (let x = 0; x < w; x++) {
      const sx = Math.min(img.width - 1, Math.max(0, (x + 0.5) / scale - 0.5));
      const x0 = Math.floor(sx), x1 = Math.min(img.width - 1, x0 + 1), fx = sx - x0;
      for (let k = 0; k < 3; k++) {
        const v = (at(y0, x0, k) * (1 - fx) + at(y0, x1, k) * fx) * (1 - fy) + (at(y1, x0, k) * (1 - fx) + at(y1, x1, k) * fx) * fy;
        out[((top + y) * width + left + x) * 3 + k] = v;
      }
    }
  }
  return out;
}
