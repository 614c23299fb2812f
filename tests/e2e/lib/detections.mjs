// Detections compared as detections (issue #13): a model whose outputs are a data-dependent top-K
// (DEIMv2: labels [K], boxes [K, 4], scores [K], re-ranked) lists the same objects in another
// order, or with a box that moved a pixel, once its weights are quantized; element by element the
// two lists are then unrelated. Instead every reference detection scoring at least `min_score` is
// matched to the candidate's detection of the same label with the highest IoU (at least `iou`;
// each candidate detection is used once, reference detections taken by score). The candidate's
// detections count down to min_score / 2, so that a score that moves across the limit is not a
// miss; precision is the same in the other direction.
//   recall        matched / reference detections (1 when the reference has none)
//   precision     matched candidate detections / candidate detections >= min_score
//   max_score_error, mean_iou   over the matched pairs

function iouOf(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

function list(out, cfg, minScore) {
  const boxes = out[cfg.boxes].data, scores = out[cfg.scores].data, labels = out[cfg.labels].data;
  const dets = [];
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] >= minScore) {
      dets.push({ score: scores[i], label: Number(labels[i]), box: Array.from(boxes.subarray(i * 4, i * 4 + 4)) });
    }
  }
  return dets.sort((a, b) => b.score - a.score);
}

function greedy(from, to, iouMin) {
  const used = new Set();
  const pairs = [];
  for (const d of from) {
    let best = -1, bestIou = iouMin;
    to.forEach((c, k) => {
      if (used.has(k) || c.label !== d.label) return;
      const v = iouOf(d.box, c.box);
      if (v >= bestIou) { best = k; bestIou = v; }
    });
    if (best >= 0) { used.add(best); pairs.push({ a: d, b: to[best], iou: bestIou }); }
  }
  return pairs;
}

// One run: `ref` and `cand` are ORT output maps.
export function compareDetections(ref, cand, cfg) {
  const refDets = list(ref, cfg, cfg.min_score), candDets = list(cand, cfg, cfg.min_score);
  const refLoose = list(ref, cfg, cfg.min_score / 2), candLoose = list(cand, cfg, cfg.min_score / 2);
  const forward = greedy(refDets, candLoose, cfg.iou);
  const backward = greedy(candDets, refLoose, cfg.iou);
  const scoreErr = forward.reduce((m, p) => Math.max(m, Math.abs(p.a.score - p.b.score)), 0);
  const meanIou = forward.length ? forward.reduce((s, p) => s + p.iou, 0) / forward.length : 1;
  return {
    kind: 'detections', reference_detections: refDets.length, candidate_detections: candDets.length, matched: forward.length,
    matched_back: backward.length, iou_sum: forward.reduce((s, p) => s + p.iou, 0),
    recall: refDets.length ? forward.length / refDets.length : 1,
    precision: candDets.length ? backward.length / candDets.length : 1,
    max_score_error: scoreErr, mean_iou: meanIou,
  };
}

// Pooled over runs (a run with two detections makes a per-run recall of 0.5 out of one miss):
// recall and precision from the totals, the worst score error, the mean IoU of every match. The
// totals are kept: a comparison of nothing proves nothing (see checkDetections).
export function mergeDetections(worst, m) {
  if (!worst) return { ...m, runs: 1 };
  const t = {
    kind: 'detections', runs: worst.runs + 1,
    reference_detections: worst.reference_detections + m.reference_detections,
    candidate_detections: worst.candidate_detections + m.candidate_detections,
    matched: worst.matched + m.matched, matched_back: worst.matched_back + m.matched_back,
    iou_sum: worst.iou_sum + m.iou_sum,
    max_score_error: Math.max(worst.max_score_error, m.max_score_error),
  };
  t.recall = t.reference_detections ? t.matched / t.reference_detections : 1;
  t.precision = t.candidate_detections ? t.matched_back / t.candidate_detections : 1;
  t.mean_iou = t.matched ? t.iou_sum / t.matched : 1;
  return t;
}
