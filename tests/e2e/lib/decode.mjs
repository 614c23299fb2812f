// Detector outputs decoded into detection lists, and the agreement of two lists as mAP50 (issue
// #16): an INT8 detector is judged by what it finds. The FP32 model's detections are the ground
// truth; the INT8 model's are ranked by score and matched to them per class at IoU >= 0.5.
//
// Decoders (`decoder` in static_models.json), each returning [{label, score, box: [x1,y1,x2,y2]}]
// in the input's pixels after class-aware non-maximum suppression:
//   yolov8     [1, 4 + classes, anchors]: cx, cy, w, h, then class scores (Ultralytics export)
//   yolox      [1, anchors, 5 + classes]: raw box offsets on the stride 8/16/32 grids, objectness and
//              class probabilities (the head's sigmoid is inside the model); score = obj x class
//   ultraface  scores [1, anchors, 2] (background, face) and boxes [1, anchors, 4] as fractions
//              of the input (decoded inside the model)
//   dbnet      a text probability map [1, 1, H, W]: regions above 0.3, boxed (see decodeDbnet)
//   detr       labels [K], boxes [K, 4] (x1, y1, x2, y2 in the pixels of the given original size)
//              and scores [K], already decoded by the model (DEIMv2): one detection per entry, no
//              NMS (a DETR's queries are matched one to one)

function iou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

// Class-aware NMS, greedy by score; at most `maxOut` kept.
export function nms(dets, iouMax, maxOut = 300) {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const kept = [];
  for (const d of sorted) {
    if (kept.length >= maxOut) break;
    if (kept.some((k) => k.label === d.label && iou(k.box, d.box) > iouMax)) continue;
    kept.push(d);
  }
  return kept;
}

// The best `limit` candidates above `minScore` (bounds the NMS work of low thresholds).
function topCandidates(dets, limit) {
  if (dets.length <= limit) return dets;
  return dets.sort((a, b) => b.score - a.score).slice(0, limit);
}

function decodeYolov8(out, cfg, inputShape, minScore) {
  const t = out[cfg.output];
  const [, rows, anchors] = t.dims;
  const d = t.data;
  const dets = [];
  for (let i = 0; i < anchors; i++) {
    let best = -1, score = -Infinity;
    for (let c = 4; c < rows; c++) {
      const s = d[c * anchors + i];
      if (s > score) { score = s; best = c - 4; }
    }
    if (score < minScore) continue;
    const cx = d[i], cy = d[anchors + i], w = d[2 * anchors + i], h = d[3 * anchors + i];
    dets.push({ label: best, score, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] });
  }
  return nms(topCandidates(dets, 3000), cfg.nms_iou ?? 0.7);
}

function decodeYolox(out, cfg, inputShape, minScore) {
  const t = out[cfg.output];
  const [, anchors, cols] = t.dims;
  const d = t.data;
  const [, , H, W] = inputShape;
  // Objectness and class scores are probabilities when the export kept the head's sigmoid (the
  // usual YOLOX export); logits otherwise: found from the values, not assumed.
  let logits = false;
  for (let r = 0; r < anchors && !logits; r++) {
    for (let c = 4; c < cols; c++) if (d[r * cols + c] < 0 || d[r * cols + c] > 1) { logits = true; break; }
  }
  const prob = logits ? (v) => 1 / (1 + Math.exp(-v)) : (v) => v;
  const dets = [];
  let i = 0;
  for (const s of cfg.strides ?? [8, 16, 32]) {
    const gh = Math.floor(H / s), gw = Math.floor(W / s);
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++, i++) {
        const r = i * cols;
        const obj = prob(d[r + 4]);
        let best = -1, cls = -Infinity;
        for (let c = 5; c < cols; c++) if (d[r + c] > cls) { cls = d[r + c]; best = c - 5; }
        const score = obj * prob(cls);
        if (score < minScore) continue;
        const cx = (d[r] + gx) * s, cy = (d[r + 1] + gy) * s, w = Math.exp(d[r + 2]) * s, h = Math.exp(d[r + 3]) * s;
        dets.push({ label: best, score, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] });
      }
    }
  }
  if (i !== anchors) throw new Error(`yolox decode: ${i} grid cells for strides ${cfg.strides ?? [8, 16, 32]} at ${H}x${W}, the output has ${anchors}`);
  return nms(topCandidates(dets, 3000), cfg.nms_iou ?? 0.45);
}

function decodeUltraface(out, cfg, inputShape, minScore) {
  const scores = out[cfg.scores].data, boxes = out[cfg.boxes].data;
  const [, , H, W] = inputShape;
  const dets = [];
  for (let i = 0; i < scores.length / 2; i++) {
    const score = scores[i * 2 + 1];
    if (score < minScore) continue;
    dets.push({ label: 0, score, box: [boxes[i * 4] * W, boxes[i * 4 + 1] * H, boxes[i * 4 + 2] * W, boxes[i * 4 + 3] * H] });
  }
  return nms(topCandidates(dets, 3000), cfg.nms_iou ?? 0.3);
}

// DB text detection (PaddleOCR's DBPostProcess, simplified): the probability map binarized at
// `thresh` (0.3, PaddleOCR's default), 8-connected regions of at least `min_pixels` pixels, each
// a box (its bounding rectangle, no unclip: both models are judged alike) scored by the mean
// probability over the region.
function decodeDbnet(out, cfg, inputShape, minScore) {
  const map = out[cfg.output];
  const [H, W] = map.dims.slice(-2);
  const p = map.data, thresh = cfg.thresh ?? 0.3, minPixels = cfg.min_pixels ?? 9;
  const seen = new Uint8Array(H * W);
  const dets = [];
  const stack = [];
  for (let start = 0; start < H * W; start++) {
    if (seen[start] || !(p[start] > thresh)) continue;
    let x1 = W, y1 = H, x2 = -1, y2 = -1, sum = 0, n = 0;
    seen[start] = 1;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop();
      const y = Math.floor(i / W), x = i - y * W;
      x1 = Math.min(x1, x); x2 = Math.max(x2, x); y1 = Math.min(y1, y); y2 = Math.max(y2, y);
      sum += p[i]; n++;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          const j = yy * W + xx;
          if (!seen[j] && p[j] > thresh) { seen[j] = 1; stack.push(j); }
        }
      }
    }
    const score = sum / n;
    if (n >= minPixels && score >= minScore) dets.push({ label: 0, score, box: [x1, y1, x2 + 1, y2 + 1] });
  }
  return dets;
}

function decodeDetr(out, cfg, inputShape, minScore) {
  const boxes = out[cfg.boxes].data, scores = out[cfg.scores].data, labels = out[cfg.labels].data;
  const dets = [];
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] < minScore) continue;
    dets.push({ label: Number(labels[i]), score: scores[i], box: Array.from(boxes.subarray(i * 4, i * 4 + 4)) });
  }
  return dets;
}

const DECODERS = { yolov8: decodeYolov8, yolox: decodeYolox, ultraface: decodeUltraface, dbnet: decodeDbnet, detr: decodeDetr };

export function decode(out, cfg, inputShape, minScore) {
  const f = DECODERS[cfg.decoder];
  if (!f) throw new Error(`unknown decoder '${cfg.decoder}' (${Object.keys(DECODERS).join(', ')})`);
  return f(out, cfg, inputShape, minScore);
}

// mAP at IoU 0.5 of `pred` against `truth`, both arrays (one entry per image) of detection lists.
// Per class present in the truth: predictions of all images by descending score, each a true
// positive when it overlaps an unmatched truth box of its image and class at IoU >= 0.5; AP is the
// area under the precision-recall curve with precision made monotone (all-point interpolation,
// as PASCAL VOC 2010+ and COCO's per-threshold AP). Also the plain precision and recall of the
// predictions at or above `scoreFloor`.
export function map50(truth, pred, scoreFloor) {
  const classes = new Set();
  for (const img of truth) for (const d of img) classes.add(d.label);
  let apSum = 0, tpAt = 0, predAt = 0, truthCount = 0;
  for (const c of classes) {
    const gts = truth.map((img) => img.filter((d) => d.label === c).map((d) => ({ box: d.box, used: false })));
    const npos = gts.reduce((n, g) => n + g.length, 0);
    truthCount += npos;
    const preds = [];
    pred.forEach((img, k) => { for (const d of img) if (d.label === c) preds.push({ ...d, image: k }); });
    preds.sort((a, b) => b.score - a.score);
    const tp = [];
    for (const p of preds) {
      let best = -1, bestIou = 0.5;
      gts[p.image].forEach((g, j) => {
        if (g.used) return;
        const v = iou(p.box, g.box);
        if (v >= bestIou) { best = j; bestIou = v; }
      });
      if (best >= 0) gts[p.image][best].used = true;
      tp.push(best >= 0 ? 1 : 0);
      if (p.score >= scoreFloor) { predAt++; tpAt += best >= 0 ? 1 : 0; }
    }
    // Precision/recall curve, precision made non-increasing from the right, area by recall steps.
    const prec = [], rec = [];
    let cum = 0;
    tp.forEach((v, i) => { cum += v; prec.push(cum / (i + 1)); rec.push(cum / npos); });
    for (let i = prec.length - 2; i >= 0; i--) prec[i] = Math.max(prec[i], prec[i + 1]);
    let ap = 0, prevRec = 0;
    for (let i = 0; i < prec.length; i++) {
      if (rec[i] > prevRec) { ap += (rec[i] - prevRec) * prec[i]; prevRec = rec[i]; }
    }
    apSum += ap;
  }
  return {
    map50: classes.size ? apSum / classes.size : NaN,
    classes: classes.size,
    truth: truthCount,
    precision: predAt ? tpAt / predAt : 1,
    recall: truthCount ? tpAt / truthCount : 1,
  };
}
