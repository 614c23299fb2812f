// Operators of no larger family: NonMaxSuppression and RoiAlign (detection heads), Einsum,
// ReverseSequence, Unique, Det, TfIdfVectorizer (integer pools), and the two loss functions
// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (deterministic math, found in exported
// training graphs).
//
// Where the ONNX spec leaves a choice open, these follow ONNX Runtime's CPU kernels:
// - NonMaxSuppression visits the boxes of a class by score, highest first, ties by the lower box
//   index; keeps a box with a score strictly above score_threshold (when given); suppresses it
//   when its IoU with a kept box is strictly above iou_threshold; a box of zero area never
//   suppresses nor is suppressed; max_output_boxes_per_class absent (or 0) selects nothing.
// - RoiAlign's max mode takes, per sampling point, the largest of the four weighted corner values
//   (w_i * x_i), and the largest of those over the bin (ONNX Runtime and the ONNX reference do
//   so; it is not the max of the interpolated values).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <string>

#include "exec/ops/common.h"
#include "exec/ops/conv.h"
#include "exec/ops/ops.h"
#include "kernels/gemm.h"

namespace mq::exec::ops {
namespace {

using i64 = std::int64_t;

std::size_t uz(i64 v) noexcept { return static_cast<std::size_t>(v); }
i64 sz(std::size_t v) noexcept { return static_cast<i64>(v); }

// One value of a scalar (or one-element) input of the given kinds.
result<double> scalar_float(const run_context& ctx, std::size_t input, const char* what) {
  const tensor& t = ctx.in(input);
  if (t.size() != 1) return ctx.fail(std::string(what) + " must hold one value, has shape " + shape_string(t.shape()));
  if (!is_float_type(t.type())) return ctx.fail(std::string(what) + " must be a float tensor, is " + type_name(t.type()));
  return element_as_double(t, 0);
}

result<i64> scalar_int(const run_context& ctx, std::size_t input, const char* what) {
  const tensor& t = ctx.in(input);
  if (t.size() != 1) return ctx.fail(std::string(what) + " must hold one value, has shape " + shape_string(t.shape()));
  if (t.type() != mq::dtype::int64 && t.type() != mq::dtype::int32) {
    return ctx.fail(std::string(what) + " must be int64 or int32, is " + type_name(t.type()));
  }
  return element_as_int64(t, 0);
}

// ---- NonMaxSuppression -------------------------------------------------------------------------

// A box as corners (min/max per axis) and its area, from either input format.
struct corner_box {
  float y0, x0, y1, x1, area;
};

corner_box corners(const float* b, bool center) {
  corner_box c{};
  if (center) {
    // [x_center, y_center, width, height]
    const float hw = b[2] / 2;
    const float hh = b[3] / 2;
    c.x0 = b[0] - hw;
    c.x1 = b[0] + hw;
    c.y0 = b[1] - hh;
    c.y1 = b[1] + hh;
  } else {
    // [y1, x1, y2, x2], any diagonal pair of corners
    c.y0 = std::min(b[0], b[2]);
    c.y1 = std::max(b[0], b[2]);
    c.x0 = std::min(b[1], b[3]);
    c.x1 = std::max(b[1], b[3]);
  }
  c.area = (c.x1 - c.x0) * (c.y1 - c.y0);
  return c;
}

bool suppresses(const corner_box& a, const corner_box& b, float iou_threshold) {
  const float ix0 = std::max(a.x0, b.x0);
  const float ix1 = std::min(a.x1, b.x1);
  if (ix1 <= ix0) return false;
  const float iy0 = std::max(a.y0, b.y0);
  const float iy1 = std::min(a.y1, b.y1);
  if (iy1 <= iy0) return false;
  const float inter = (ix1 - ix0) * (iy1 - iy0);
  const float uni = a.area + b.area - inter;
  if (inter <= 0 || a.area <= 0 || b.area <= 0 || uni <= 0) return false;
  return inter / uni > iou_threshold;
}

result<std::unique_ptr<kernel>> make_nms(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"center_point_box"}));
  const i64 cpb = node.attr_int("center_point_box", 0);
  if (cpb != 0 && cpb != 1) return node.invalid("center_point_box must be 0 or 1, is " + std::to_string(cpb));
  const bool center = cpb == 1;
  return make_kernel([center](run_context& ctx) -> result<void> {
    const tensor& boxes = ctx.in(0);
    const tensor& scores = ctx.in(1);
    if (boxes.type() != mq::dtype::float32 || scores.type() != mq::dtype::float32) {
      return ctx.unsupported("element types " + type_name(boxes.type()) + "/" + type_name(scores.type()) + " (float only)");
    }
    if (boxes.rank() != 3 || boxes.dim(2) != 4) return ctx.fail("boxes must have shape [batches, boxes, 4], has " + shape_string(boxes.shape()));
    if (scores.rank() != 3 || scores.dim(0) != boxes.dim(0) || scores.dim(2) != boxes.dim(1)) {
      return ctx.fail("scores have shape " + shape_string(scores.shape()) + ", expected [" + std::to_string(boxes.dim(0)) +
                      ", classes, " + std::to_string(boxes.dim(1)) + "] for boxes " + shape_string(boxes.shape()));
    }
    i64 max_out = 0;
    if (ctx.has_input(2) && ctx.in(2).size() > 0) max_out = std::max<i64>(0, MQ_TRY(scalar_int(ctx, 2, "max_output_boxes_per_class")));
    float iou = 0;
    if (ctx.has_input(3) && ctx.in(3).size() > 0) {
      iou = static_cast<float>(MQ_TRY(scalar_float(ctx, 3, "iou_threshold")));
      if (!(iou >= 0 && iou <= 1)) return ctx.fail("iou_threshold must be in [0, 1], is " + std::to_string(iou));
    }
    const bool has_score_threshold = ctx.has_input(4) && ctx.in(4).size() > 0;
    float score_threshold = 0;
    if (has_score_threshold) score_threshold = static_cast<float>(MQ_TRY(scalar_float(ctx, 4, "score_threshold")));
    const i64 batches = boxes.dim(0);
    const i64 n = boxes.dim(1);
    const i64 classes = scores.dim(1);
    std::vector<std::array<i64, 3>> selected;
    if (max_out > 0) {
      std::vector<corner_box> cb(uz(n));
      std::vector<i64> order;
      std::vector<i64> kept;
      for (i64 b = 0; b < batches; ++b) {
        const float* bp = boxes.data<float>() + b * n * 4;
        for (i64 i = 0; i < n; ++i) cb[uz(i)] = corners(bp + 4 * i, center);
        for (i64 c = 0; c < classes; ++c) {
          const float* s = scores.data<float>() + (b * classes + c) * n;
          order.clear();
          for (i64 i = 0; i < n; ++i) {
            if (std::isnan(s[i])) {
              if (has_score_threshold) continue;  // NaN > threshold is false: not a candidate
              return ctx.fail("score of box " + std::to_string(i) + " (batch " + std::to_string(b) + ", class " +
                              std::to_string(c) + ") is NaN");
            }
            if (!has_score_threshold || s[i] > score_threshold) order.push_back(i);
          }
          std::stable_sort(order.begin(), order.end(), [s](i64 x, i64 y) { return s[x] > s[y]; });
          kept.clear();
          for (const i64 i : order) {
            if (sz(kept.size()) >= max_out) break;
            bool keep = true;
            for (const i64 k : kept) {
              if (suppresses(cb[uz(i)], cb[uz(k)], iou)) {
                keep = false;
                break;
              }
            }
            if (keep) {
              kept.push_back(i);
              selected.push_back({b, c, i});
            }
          }
        }
      }
    }
    tensor y = MQ_TRY(ctx.allocate(mq::dtype::int64, {sz(selected.size()), 3}));
    if (!selected.empty()) std::memcpy(y.mutable_raw(), selected.data(), selected.size() * sizeof(selected[0]));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- RoiAlign ----------------------------------------------------------------------------------

enum class roi_mode : std::uint8_t { avg, max };

// One sampling point: the four corners' offsets in a plane and their bilinear weights.
template <class T>
struct roi_sample {
  std::array<i64, 4> pos{};
  std::array<T, 4> w{};
};

template <class T>
void roi_align_one(const T* x, i64 channels, i64 height, i64 width, const T* roi, i64 batch, T scale, bool half_pixel,
                   i64 sampling_ratio, roi_mode mode, i64 out_h, i64 out_w, T* y) {
  const T offset = half_pixel ? T(0.5) : T(0);
  const T start_w = roi[0] * scale - offset;
  const T start_h = roi[1] * scale - offset;
  const T end_w = roi[2] * scale - offset;
  const T end_h = roi[3] * scale - offset;
  T roi_w = end_w - start_w;
  T roi_h = end_h - start_h;
  if (!half_pixel) {
    // Malformed ROIs are forced to 1x1 (the legacy behaviour).
    roi_w = std::max(roi_w, T(1));
    roi_h = std::max(roi_h, T(1));
  }
  const T bin_h = roi_h / static_cast<T>(out_h);
  const T bin_w = roi_w / static_cast<T>(out_w);
  const i64 grid_h = sampling_ratio > 0 ? sampling_ratio : static_cast<i64>(std::ceil(roi_h / static_cast<T>(out_h)));
  const i64 grid_w = sampling_ratio > 0 ? sampling_ratio : static_cast<i64>(std::ceil(roi_w / static_cast<T>(out_w)));
  const i64 count = std::max<i64>(grid_h * grid_w, 1);
  std::vector<roi_sample<T>> samples(uz(std::max<i64>(0, out_h * out_w * grid_h * grid_w)));
  std::size_t s = 0;
  for (i64 ph = 0; ph < out_h; ++ph) {
    for (i64 pw = 0; pw < out_w; ++pw) {
      for (i64 iy = 0; iy < grid_h; ++iy) {
        const T yy = start_h + static_cast<T>(ph) * bin_h + (static_cast<T>(iy) + T(0.5)) * bin_h / static_cast<T>(grid_h);
        for (i64 ix = 0; ix < grid_w; ++ix, ++s) {
          const T xx = start_w + static_cast<T>(pw) * bin_w + (static_cast<T>(ix) + T(0.5)) * bin_w / static_cast<T>(grid_w);
          roi_sample<T>& p = samples[s];
          T yv = yy;
          T xv = xx;
          if (yv < T(-1) || yv > static_cast<T>(height) || xv < T(-1) || xv > static_cast<T>(width)) continue;  // all weights 0
          yv = std::max(yv, T(0));
          xv = std::max(xv, T(0));
          i64 y_low = static_cast<i64>(yv);
          i64 x_low = static_cast<i64>(xv);
          i64 y_high = y_low + 1;
          i64 x_high = x_low + 1;
          if (y_low >= height - 1) {
            y_high = y_low = height - 1;
            yv = static_cast<T>(y_low);
          }
          if (x_low >= width - 1) {
            x_high = x_low = width - 1;
            xv = static_cast<T>(x_low);
          }
          const T ly = yv - static_cast<T>(y_low);
          const T lx = xv - static_cast<T>(x_low);
          const T hy = T(1) - ly;
          const T hx = T(1) - lx;
          p.pos = {y_low * width + x_low, y_low * width + x_high, y_high * width + x_low, y_high * width + x_high};
          p.w = {hy * hx, hy * lx, ly * hx, ly * lx};
        }
      }
    }
  }
  const i64 per_bin = grid_h * grid_w;
  for (i64 c = 0; c < channels; ++c) {
    const T* plane = x + (batch * channels + c) * height * width;
    T* out = y + c * out_h * out_w;
    for (i64 b = 0; b < out_h * out_w; ++b) {
      const roi_sample<T>* p = samples.data() + b * per_bin;
      T v = 0;
      if (mode == roi_mode::avg) {
        for (i64 k = 0; k < per_bin; ++k) {
          v += p[k].w[0] * plane[p[k].pos[0]] + p[k].w[1] * plane[p[k].pos[1]] + p[k].w[2] * plane[p[k].pos[2]] +
               p[k].w[3] * plane[p[k].pos[3]];
        }
        v /= static_cast<T>(count);
      } else {
        for (i64 k = 0; k < per_bin; ++k) {
          const T m = std::max(std::max(p[k].w[0] * plane[p[k].pos[0]], p[k].w[1] * plane[p[k].pos[1]]),
                               std::max(p[k].w[2] * plane[p[k].pos[2]], p[k].w[3] * plane[p[k].pos[3]]));
          v = k == 0 ? m : std::max(v, m);
        }
      }
      out[b] = v;
    }
  }
}

result<std::unique_ptr<kernel>> make_roi_align(node_info& node) {
  const bool v16 = node.since_version() >= 16;
  if (v16) {
    MQ_TRY_VOID(node.only_attributes({"coordinate_transformation_mode", "mode", "output_height", "output_width",
                                      "sampling_ratio", "spatial_scale"}));
  } else {
    MQ_TRY_VOID(node.only_attributes({"mode", "output_height", "output_width", "sampling_ratio", "spatial_scale"}));
  }
  bool half_pixel = false;
  if (v16) {
    const std::string c = node.attr_string("coordinate_transformation_mode", "half_pixel");
    if (c == "half_pixel") half_pixel = true;
    else if (c != "output_half_pixel") return node.unsupported("coordinate_transformation_mode '" + c + "' of RoiAlign");
  }
  const std::string m = node.attr_string("mode", "avg");
  roi_mode mode = roi_mode::avg;
  if (m == "max") mode = roi_mode::max;
  else if (m != "avg") return node.unsupported("mode '" + m + "' of RoiAlign");
  const i64 out_h = node.attr_int("output_height", 1);
  const i64 out_w = node.attr_int("output_width", 1);
  const i64 ratio = node.attr_int("sampling_ratio", 0);
  const float scale = node.attr_float("spatial_scale", 1.0f);
  if (out_h < 1 || out_w < 1) return node.invalid("output_height and output_width must be >= 1");
  if (ratio < 0) return node.invalid("sampling_ratio must be >= 0");
  return make_kernel([=](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& rois = ctx.in(1);
    const tensor& bi = ctx.in(2);
    if (x.rank() != 4) return ctx.fail("X must have rank 4 [N, C, H, W], has shape " + shape_string(x.shape()));
    if (rois.rank() != 2 || rois.dim(1) != 4) return ctx.fail("rois must have shape [num_rois, 4], has " + shape_string(rois.shape()));
    if (rois.type() != x.type()) return ctx.fail("rois have type " + type_name(rois.type()) + ", X " + type_name(x.type()));
    if (bi.rank() != 1 || bi.dim(0) != rois.dim(0)) {
      return ctx.fail("batch_indices have shape " + shape_string(bi.shape()) + ", expected [" + std::to_string(rois.dim(0)) + "]");
    }
    const std::vector<i64> batch = MQ_TRY(read_ints(ctx, 2, "batch_indices"));
    for (std::size_t r = 0; r < batch.size(); ++r) {
      if (batch[r] < 0 || batch[r] >= x.dim(0)) {
        return ctx.fail("batch index " + std::to_string(batch[r]) + " of roi " + std::to_string(r) + " is out of range for " +
                        std::to_string(x.dim(0)) + " images");
      }
    }
    const i64 n_rois = rois.dim(0);
    const i64 channels = x.dim(1);
    tensor y = MQ_TRY(ctx.allocate(x.type(), {n_rois, channels, out_h, out_w}));
    const bool known = visit_float(x.type(), [&]<class T>() {
      const T* xp = x.data<T>();
      const T* rp = rois.data<T>();
      T* yp = y.mutable_data<T>();
      ctx.pool().parallel_for(n_rois, 1, [&](i64 begin, i64 end) {
        for (i64 r = begin; r < end; ++r) {
          roi_align_one<T>(xp, channels, x.dim(2), x.dim(3), rp + 4 * r, batch[uz(r)], static_cast<T>(scale), half_pixel,
                           ratio, mode, out_h, out_w, yp + r * channels * out_h * out_w);
        }
      });
    });
    if (!known) return ctx.unsupported("element type " + type_name(x.type()));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- ReverseSequence ---------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_reverse_sequence(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"batch_axis", "time_axis"}));
  const i64 batch_axis = node.attr_int("batch_axis", 1);
  const i64 time_axis = node.attr_int("time_axis", 0);
  if (!((batch_axis == 0 && time_axis == 1) || (batch_axis == 1 && time_axis == 0))) {
    return node.invalid("batch_axis and time_axis must be 0 and 1 (either way), are " + std::to_string(batch_axis) + " and " +
                        std::to_string(time_axis));
  }
  return make_kernel([time_axis](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.rank() < 2) return ctx.fail("input must have rank >= 2, has shape " + shape_string(x.shape()));
    const i64 steps = x.dim(time_axis == 0 ? 0 : 1);
    const i64 batch = x.dim(time_axis == 0 ? 1 : 0);
    const std::vector<i64> lens = MQ_TRY(read_ints(ctx, 1, "sequence_lens"));
    if (sz(lens.size()) != batch || ctx.in(1).rank() != 1) {
      return ctx.fail("sequence_lens has shape " + shape_string(ctx.in(1).shape()) + ", expected [" + std::to_string(batch) + "]");
    }
    for (std::size_t b = 0; b < lens.size(); ++b) {
      if (lens[b] < 0 || lens[b] > steps) {
        return ctx.fail("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(lens[b]) + " is out of range [0, " +
                        std::to_string(steps) + "]");
      }
    }
    i64 inner = 1;
    for (std::size_t k = 2; k < x.rank(); ++k) inner *= x.dim(k);
    const std::size_t block = uz(inner) * exec_element_size(x.type());
    const auto* src = static_cast<const std::byte*>(x.raw());
    tensor y = MQ_TRY(ctx.allocate(x.type(), x.shape()));
    auto* dst = static_cast<std::byte*>(y.mutable_raw());
    // The block of (time t, batch b).
    auto offset = [&](i64 t, i64 b) { return uz(time_axis == 0 ? t * batch + b : b * steps + t) * block; };
    for (i64 b = 0; b < batch; ++b) {
      const i64 len = lens[uz(b)];
      for (i64 t = 0; t < steps; ++t) {
        const i64 from = t < len ? len - 1 - t : t;
        std::memcpy(dst + offset(t, b), src + offset(from, b), block);
      }
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- Unique ------------------------------------------------------------------------------------

// Total order: NaN after every number and equal to NaN (numpy's unique groups NaNs together).
template <class T>
int compare_values(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    const bool na = std::isnan(a);
    const bool nb = std::isnan(b);
    if (na || nb) return na == nb ? 0 : (na ? 1 : -1);
  }
  return a < b ? -1 : (b < a ? 1 : 0);
}

result<std::unique_ptr<kernel>> make_unique(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axis", "sorted"}));
  const bool has_axis = node.has_attribute("axis");
  const i64 axis_attr = node.attr_int("axis", 0);
  const bool sorted = node.attr_int("sorted", 1) != 0;
  return make_kernel([=](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    // Items compared as a whole: the elements (no axis), or the slices along `axis`, seen as
    // x[outer, items, inner] with item i = x[:, i, :].
    i64 outer = 1;
    i64 items = x.size();
    i64 inner = 1;
    std::size_t axis = 0;
    if (has_axis) {
      if (x.rank() == 0) return ctx.fail("axis given for a scalar input");
      axis = MQ_TRY(axis_for(ctx, axis_attr, x.rank()));
      items = x.dim(axis);
      for (std::size_t k = 0; k < axis; ++k) outer *= x.dim(k);
      for (std::size_t k = axis + 1; k < x.rank(); ++k) inner *= x.dim(k);
    }
    const i64 item_len = outer * inner;
    std::vector<i64> order(uz(items));
    std::iota(order.begin(), order.end(), i64{0});
    std::vector<i64> first;  // per unique item (output order): the index of its first occurrence
    std::vector<i64> counts;
    std::vector<i64> inverse(uz(items));
    const bool known = visit_numeric(x.type(), [&]<class T>() {
      const T* p = x.data<T>();
      // Element j of item i.
      auto at = [&](i64 i, i64 j) { return p[((j / inner) * items + i) * inner + j % inner]; };
      auto cmp = [&](i64 a, i64 b) {
        for (i64 j = 0; j < item_len; ++j) {
          const int c = compare_values(at(a, j), at(b, j));
          if (c != 0) return c;
        }
        return 0;
      };
      std::stable_sort(order.begin(), order.end(), [&](i64 a, i64 b) { return cmp(a, b) < 0; });
      // Groups of equal items in sorted order; with the stable sort each group starts with its
      // first occurrence.
      std::vector<i64> group_of(uz(items));
      std::vector<i64> group_first;
      std::vector<i64> group_count;
      for (std::size_t s = 0; s < order.size(); ++s) {
        if (s == 0 || cmp(order[s - 1], order[s]) != 0) {
          group_first.push_back(order[s]);
          group_count.push_back(0);
        }
        group_of[uz(order[s])] = sz(group_first.size()) - 1;
        ++group_count.back();
      }
      std::vector<i64> rank(group_first.size());  // group -> output position
      std::iota(rank.begin(), rank.end(), i64{0});
      if (!sorted) {
        std::vector<i64> by_first(group_first.size());
        std::iota(by_first.begin(), by_first.end(), i64{0});
        std::sort(by_first.begin(), by_first.end(), [&](i64 a, i64 b) { return group_first[uz(a)] < group_first[uz(b)]; });
        for (std::size_t r = 0; r < by_first.size(); ++r) rank[uz(by_first[r])] = sz(r);
      }
      first.assign(group_first.size(), 0);
      counts.assign(group_first.size(), 0);
      for (std::size_t g = 0; g < group_first.size(); ++g) {
        first[uz(rank[g])] = group_first[g];
        counts[uz(rank[g])] = group_count[g];
      }
      for (i64 i = 0; i < items; ++i) inverse[uz(i)] = rank[uz(group_of[uz(i)])];
    });
    if (!known) return ctx.unsupported("element type " + type_name(x.type()));
    const i64 u = sz(first.size());
    shape_t y_shape = {u};
    if (has_axis) {
      y_shape = x.shape();
      y_shape[axis] = u;
    }
    tensor y = MQ_TRY(ctx.allocate(x.type(), y_shape));
    const std::size_t block = uz(inner) * exec_element_size(x.type());
    const auto* src = static_cast<const std::byte*>(x.raw());
    auto* dst = static_cast<std::byte*>(y.mutable_raw());
    for (i64 o = 0; o < outer; ++o) {
      for (i64 k = 0; k < u; ++k) {
        std::memcpy(dst + uz(o * u + k) * block, src + uz(o * items + first[uz(k)]) * block, block);
      }
    }
    auto int_tensor = [&](const std::vector<i64>& v) -> result<tensor> {
      tensor t = MQ_TRY(ctx.allocate(mq::dtype::int64, {sz(v.size())}));
      if (!v.empty()) std::memcpy(t.mutable_raw(), v.data(), v.size() * sizeof(i64));
      return t;
    };
    ctx.set_output(0, std::move(y));
    ctx.set_output(1, MQ_TRY(int_tensor(first)));
    ctx.set_output(2, MQ_TRY(int_tensor(inverse)));
    ctx.set_output(3, MQ_TRY(int_tensor(counts)));
    return {};
  });
}

// ---- Det ---------------------------------------------------------------------------------------

// The determinant of an n x n matrix (row-major), by LU decomposition with partial pivoting.
double determinant(std::vector<double>& a, i64 n) {
  double det = 1;
  for (i64 c = 0; c < n; ++c) {
    i64 pivot = c;
    for (i64 r = c + 1; r < n; ++r) {
      if (std::fabs(a[uz(r * n + c)]) > std::fabs(a[uz(pivot * n + c)])) pivot = r;
    }
    if (a[uz(pivot * n + c)] == 0) return 0;
    if (pivot != c) {
      for (i64 k = 0; k < n; ++k) std::swap(a[uz(c * n + k)], a[uz(pivot * n + k)]);
      det = -det;
    }
    const double d = a[uz(c * n + c)];
    det *= d;
    for (i64 r = c + 1; r < n; ++r) {
      const double f = a[uz(r * n + c)] / d;
      if (f == 0) continue;
      for (i64 k = c + 1; k < n; ++k) a[uz(r * n + k)] -= f * a[uz(c * n + k)];
    }
  }
  return det;
}

result<std::unique_ptr<kernel>> make_det(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const std::size_t r = x.rank();
    if (r < 2 || x.dim(r - 1) != x.dim(r - 2)) return ctx.fail("input must be [..., M, M], has shape " + shape_string(x.shape()));
    const i64 n = x.dim(r - 1);
    const shape_t out_shape(x.shape().begin(), x.shape().end() - 2);
    const i64 count = element_count(out_shape);
    tensor y = MQ_TRY(ctx.allocate(x.type(), out_shape));
    const bool known = visit_float(x.type(), [&]<class T>() {
      const T* p = x.data<T>();
      T* out = y.mutable_data<T>();
      std::vector<double> a(uz(n * n));
      for (i64 m = 0; m < count; ++m) {
        for (i64 i = 0; i < n * n; ++i) a[uz(i)] = static_cast<double>(p[m * n * n + i]);
        out[m] = static_cast<T>(determinant(a, n));
      }
    });
    if (!known) return ctx.unsupported("element type " + type_name(x.type()));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss ----------------------------------------

enum class reduction : std::uint8_t { none, sum, mean };

struct loss_attrs {
  reduction red = reduction::mean;
  bool has_ignore = false;
  i64 ignore = 0;
};

result<loss_attrs> loss_attributes(const node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"reduction", "ignore_index"}));
  loss_attrs a;
  const std::string r = node.attr_string("reduction", "mean");
  if (r == "none") a.red = reduction::none;
  else if (r == "sum") a.red = reduction::sum;
  else if (r != "mean") return node.invalid("reduction must be none, sum or mean, is '" + r + "'");
  a.has_ignore = node.has_attribute("ignore_index");
  a.ignore = node.attr_int("ignore_index", 0);
  return a;
}

// The loss of log-probabilities `logp` [N, C, D] (D the product of the trailing dims) against
// `target` [N, D] with optional class weights, into `loss` (N x D values for reduction none, one
// value otherwise). Fails naming the first target out of [0, C) that is not ignore_index.
template <class T>
result<void> nll(const run_context& ctx, const T* logp, i64 n, i64 c, i64 d, const std::vector<i64>& target,
                 const T* weight, const loss_attrs& a, T* loss) {
  double total = 0;
  double weights = 0;
  for (i64 i = 0; i < n; ++i) {
    for (i64 j = 0; j < d; ++j) {
      const i64 s = i * d + j;
      const i64 t = target[uz(s)];
      double l = 0;
      double w = 0;
      if (!(a.has_ignore && t == a.ignore)) {
        if (t < 0 || t >= c) {
          return ctx.fail("target " + std::to_string(t) + " (element " + std::to_string(s) + ") is out of range for " +
                          std::to_string(c) + " classes");
        }
        w = weight != nullptr ? static_cast<double>(weight[t]) : 1.0;
        l = -static_cast<double>(logp[(i * c + t) * d + j]) * w;
      }
      if (a.red == reduction::none) loss[s] = static_cast<T>(l);
      total += l;
      weights += w;
    }
  }
  if (a.red == reduction::sum) loss[0] = static_cast<T>(total);
  if (a.red == reduction::mean) loss[0] = static_cast<T>(total / weights);
  return {};
}

struct loss_shapes {
  i64 n = 0, c = 0, d = 1;
  shape_t per_sample;  // [N, d1, ...]
};

result<loss_shapes> check_loss_inputs(const run_context& ctx, const char* what) {
  const tensor& x = ctx.in(0);
  const tensor& t = ctx.in(1);
  if (x.rank() < 2) return ctx.fail(std::string(what) + " must have rank >= 2 [N, C, ...], has shape " + shape_string(x.shape()));
  loss_shapes s;
  s.n = x.dim(0);
  s.c = x.dim(1);
  s.per_sample = {s.n};
  for (std::size_t k = 2; k < x.rank(); ++k) {
    s.d *= x.dim(k);
    s.per_sample.push_back(x.dim(k));
  }
  if (t.shape() != s.per_sample) {
    return ctx.fail("target has shape " + shape_string(t.shape()) + ", expected " + shape_string(s.per_sample) + " for " +
                    std::string(what) + " " + shape_string(x.shape()));
  }
  if (t.type() != mq::dtype::int64 && t.type() != mq::dtype::int32) return ctx.fail("target must be int64 or int32, is " + type_name(t.type()));
  if (ctx.has_input(2)) {
    const tensor& w = ctx.in(2);
    if (w.shape() != shape_t{s.c}) return ctx.fail("weight has shape " + shape_string(w.shape()) + ", expected [" + std::to_string(s.c) + "]");
    if (w.type() != x.type()) return ctx.fail("weight has type " + type_name(w.type()) + ", input " + type_name(x.type()));
  }
  return s;
}

result<std::unique_ptr<kernel>> make_nll(node_info& node) {
  const loss_attrs a = MQ_TRY(loss_attributes(node));
  return make_kernel([a](run_context& ctx) -> result<void> {
    const loss_shapes s = MQ_TRY(check_loss_inputs(ctx, "input"));
    const tensor& x = ctx.in(0);
    const std::vector<i64> target = ints_of(ctx.in(1));
    tensor loss = MQ_TRY(ctx.allocate(x.type(), a.red == reduction::none ? s.per_sample : shape_t{}));
    result<void> status;
    const bool known = visit_float(x.type(), [&]<class T>() {
      const T* w = ctx.has_input(2) ? ctx.in(2).data<T>() : nullptr;
      status = nll<T>(ctx, x.data<T>(), s.n, s.c, s.d, target, w, a, loss.mutable_data<T>());
    });
    if (!known) return ctx.unsupported("element type " + type_name(x.type()));
    MQ_TRY_VOID(status);
    ctx.set_output(0, std::move(loss));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_sce(node_info& node) {
  const loss_attrs a = MQ_TRY(loss_attributes(node));
  return make_kernel([a](run_context& ctx) -> result<void> {
    const loss_shapes s = MQ_TRY(check_loss_inputs(ctx, "scores"));
    const tensor& x = ctx.in(0);
    const std::vector<i64> target = ints_of(ctx.in(1));
    tensor logp = MQ_TRY(ctx.allocate(x.type(), x.shape()));
    tensor loss = MQ_TRY(ctx.allocate(x.type(), a.red == reduction::none ? s.per_sample : shape_t{}));
    result<void> status;
    const bool known = visit_float(x.type(), [&]<class T>() {
      const T* in = x.data<T>();
      T* lp = logp.mutable_data<T>();
      // log_softmax over the classes of each (n, d).
      for (i64 i = 0; i < s.n; ++i) {
        for (i64 j = 0; j < s.d; ++j) {
          const T* v = in + i * s.c * s.d + j;
          T* o = lp + i * s.c * s.d + j;
          double mx = -std::numeric_limits<double>::infinity();
          for (i64 k = 0; k < s.c; ++k) mx = std::max(mx, static_cast<double>(v[k * s.d]));
          double sum = 0;
          for (i64 k = 0; k < s.c; ++k) sum += std::exp(static_cast<double>(v[k * s.d]) - mx);
          const double lse = mx + std::log(sum);
          for (i64 k = 0; k < s.c; ++k) o[k * s.d] = static_cast<T>(static_cast<double>(v[k * s.d]) - lse);
        }
      }
      const T* w = ctx.has_input(2) ? ctx.in(2).data<T>() : nullptr;
      status = nll<T>(ctx, lp, s.n, s.c, s.d, target, w, a, loss.mutable_data<T>());
    });
    if (!known) return ctx.unsupported("element type " + type_name(x.type()));
    MQ_TRY_VOID(status);
    ctx.set_output(0, std::move(loss));
    ctx.set_output(1, std::move(logp));
    return {};
  });
}

// ---- Einsum ------------------------------------------------------------------------------------

// Labels: 'a'-'z' are 0-25, 'A'-'Z' 26-51, the broadcast (ellipsis) dimensions 52 and up (the
// leftmost ellipsis dimension of the widest operand first).
constexpr int ellipsis_label = 52;

int letter_label(char ch) { return ch >= 'a' && ch <= 'z' ? ch - 'a' : ch - 'A' + 26; }
// The implicit output lists letters in ASCII order: upper case first.
int ascii_rank(int label) { return label >= 26 ? label - 26 : label + 26; }

struct einsum_term {
  std::vector<int> letters;   // the term's letters in order, -1 where the ellipsis stands
  bool ellipsis = false;
};

struct einsum_spec {
  std::vector<einsum_term> inputs;
  einsum_term output;
  bool explicit_output = false;
};

result<einsum_term> parse_term(const node_info& node, const std::string& text, bool is_output) {
  einsum_term t;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
      const int l = letter_label(ch);
      if (is_output && std::find(t.letters.begin(), t.letters.end(), l) != t.letters.end()) {
        return node.invalid(std::string("the output names '") + ch + "' twice");
      }
      t.letters.push_back(l);
    } else if (ch == '.' && text.compare(i, 3, "...") == 0) {
      if (t.ellipsis) return node.invalid("a term of the equation has two ellipses");
      t.ellipsis = true;
      t.letters.push_back(-1);
      i += 2;
    } else {
      return node.invalid(std::string("the equation has an unexpected character '") + ch + "'");
    }
  }
  return t;
}

result<einsum_spec> parse_equation(const node_info& node, std::string eq) {
  eq.erase(std::remove_if(eq.begin(), eq.end(), [](char c) { return c == ' ' || c == '\t'; }), eq.end());
  einsum_spec spec;
  std::string lhs = eq;
  const auto arrow = eq.find("->");
  if (arrow != std::string::npos) {
    spec.explicit_output = true;
    lhs = eq.substr(0, arrow);
    spec.output = MQ_TRY(parse_term(node, eq.substr(arrow + 2), true));
  }
  std::size_t start = 0;
  while (true) {
    const auto comma = lhs.find(',', start);
    spec.inputs.push_back(MQ_TRY(parse_term(node, lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start), false)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return spec;
}

// The equation resolved against the inputs' shapes: every label's size, each operand's stride per
// label (0 where it lacks the label or broadcasts it), and the output's labels.
struct einsum_plan {
  std::vector<i64> size;                    // per label
  std::vector<std::vector<i64>> strides;    // per operand, per label
  std::vector<int> out_labels;
  std::vector<int> sum_labels;              // labels summed over
  std::vector<std::vector<int>> axis_labels;  // per operand, the label of each axis
  shape_t out_shape;
};

result<einsum_plan> resolve_einsum(const run_context& ctx, const einsum_spec& spec) {
  const std::size_t n_in = spec.inputs.size();
  // The ellipsis rank of each operand, and the widest.
  std::vector<i64> ell(n_in, 0);
  i64 max_ell = 0;
  for (std::size_t i = 0; i < n_in; ++i) {
    const einsum_term& t = spec.inputs[i];
    const i64 letters = sz(t.letters.size()) - (t.ellipsis ? 1 : 0);
    const i64 rank = sz(ctx.in(i).rank());
    if (t.ellipsis ? rank < letters : rank != letters) {
      return ctx.fail("operand " + std::to_string(i) + " has shape " + shape_string(ctx.in(i).shape()) + ", its term names " +
                      std::to_string(letters) + " dimensions");
    }
    ell[i] = rank - letters;
    max_ell = std::max(max_ell, ell[i]);
  }
  const int n_labels = ellipsis_label + static_cast<int>(max_ell);
  einsum_plan p;
  p.size.assign(uz(n_labels), -1);
  std::vector<int> occurrences(uz(n_labels), 0);
  p.axis_labels.resize(n_in);
  for (std::size_t i = 0; i < n_in; ++i) {
    std::vector<int>& labels = p.axis_labels[i];
    for (const int l : spec.inputs[i].letters) {
      if (l >= 0) {
        labels.push_back(l);
        continue;
      }
      for (i64 e = 0; e < ell[i]; ++e) labels.push_back(ellipsis_label + static_cast<int>(max_ell - ell[i] + e));
    }
    const shape_t& shape = ctx.in(i).shape();
    for (std::size_t k = 0; k < labels.size(); ++k) {
      i64& s = p.size[uz(labels[k])];
      ++occurrences[uz(labels[k])];
      if (s == -1 || s == 1) {
        s = s == 1 && shape[k] != 1 ? shape[k] : (s == -1 ? shape[k] : s);
      } else if (shape[k] != s && shape[k] != 1) {
        return ctx.fail("dimension " + std::to_string(k) + " of operand " + std::to_string(i) + " has size " +
                        std::to_string(shape[k]) + ", its label has size " + std::to_string(s) + " elsewhere");
      }
    }
  }
  if (spec.explicit_output) {
    for (const int l : spec.output.letters) {
      if (l >= 0) {
        if (p.size[uz(l)] < 0) return ctx.fail("the output names a label no operand has");
        p.out_labels.push_back(l);
      } else {
        for (i64 e = 0; e < max_ell; ++e) p.out_labels.push_back(ellipsis_label + static_cast<int>(e));
      }
    }
  } else {
    for (i64 e = 0; e < max_ell; ++e) p.out_labels.push_back(ellipsis_label + static_cast<int>(e));
    std::vector<int> once;
    for (int l = 0; l < ellipsis_label; ++l) {
      if (occurrences[uz(l)] == 1) once.push_back(l);
    }
    std::sort(once.begin(), once.end(), [](int a, int b) { return ascii_rank(a) < ascii_rank(b); });
    p.out_labels.insert(p.out_labels.end(), once.begin(), once.end());
  }
  for (int l = 0; l < n_labels; ++l) {
    if (p.size[uz(l)] >= 0 && std::find(p.out_labels.begin(), p.out_labels.end(), l) == p.out_labels.end()) {
      p.sum_labels.push_back(l);
    }
  }
  for (const int l : p.out_labels) p.out_shape.push_back(p.size[uz(l)]);
  p.strides.assign(n_in, std::vector<i64>(uz(n_labels), 0));
  for (std::size_t i = 0; i < n_in; ++i) {
    const shape_t& shape = ctx.in(i).shape();
    const std::vector<i64> st = strides_of(shape);
    for (std::size_t k = 0; k < shape.size(); ++k) {
      if (shape[k] != 1) p.strides[i][uz(p.axis_labels[i][k])] += st[k];
    }
  }
  return p;
}

// Sum of products over the labels not in the output, for every output element.
template <class T>
void einsum_generic(const run_context& ctx, const einsum_plan& p, T* out) {
  // Integers accumulate in uint64 (wrapping, as two's complement arithmetic does; signed overflow
  // would be undefined), floats in double.
  using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, std::uint64_t>;
  const std::size_t n_in = p.strides.size();
  std::vector<const T*> in(n_in);
  for (std::size_t i = 0; i < n_in; ++i) in[i] = ctx.in(i).data<T>();
  const std::size_t ro = p.out_labels.size();
  const std::size_t rs = p.sum_labels.size();
  std::vector<i64> out_dims(ro), sum_dims(rs);
  std::vector<std::vector<i64>> out_st(n_in, std::vector<i64>(ro)), sum_st(n_in, std::vector<i64>(rs));
  i64 sum_count = 1;
  for (std::size_t k = 0; k < ro; ++k) {
    out_dims[k] = p.size[uz(p.out_labels[k])];
    for (std::size_t i = 0; i < n_in; ++i) out_st[i][k] = p.strides[i][uz(p.out_labels[k])];
  }
  for (std::size_t k = 0; k < rs; ++k) {
    sum_dims[k] = p.size[uz(p.sum_labels[k])];
    sum_count *= sum_dims[k];
    for (std::size_t i = 0; i < n_in; ++i) sum_st[i][k] = p.strides[i][uz(p.sum_labels[k])];
  }
  const i64 total = element_count(p.out_shape);
  const i64 grain = std::max<i64>(1, (1 << 14) / std::max<i64>(1, sum_count * sz(n_in)));
  ctx.pool().parallel_for(total, grain, [&](i64 begin, i64 end) {
    std::vector<i64> base(n_in), off(n_in), idx(rs);
    for (i64 o = begin; o < end; ++o) {
      // The operands' offsets of output element o.
      std::fill(base.begin(), base.end(), 0);
      i64 rem = o;
      for (std::size_t k = ro; k-- > 0;) {
        const i64 v = rem % out_dims[k];
        rem /= out_dims[k];
        for (std::size_t i = 0; i < n_in; ++i) base[i] += v * out_st[i][k];
      }
      acc_t acc = 0;
      off = base;
      std::fill(idx.begin(), idx.end(), 0);
      for (i64 s = 0; s < sum_count; ++s) {
        acc_t prod = static_cast<acc_t>(in[0][off[0]]);
        for (std::size_t i = 1; i < n_in; ++i) prod = static_cast<acc_t>(prod * static_cast<acc_t>(in[i][off[i]]));
        acc = static_cast<acc_t>(acc + prod);
        for (std::size_t k = rs; k-- > 0;) {
          ++idx[k];
          for (std::size_t i = 0; i < n_in; ++i) off[i] += sum_st[i][k];
          if (idx[k] < sum_dims[k]) break;
          for (std::size_t i = 0; i < n_in; ++i) off[i] -= sum_st[i][k] * sum_dims[k];
          idx[k] = 0;
        }
      }
      out[o] = static_cast<T>(acc);
    }
  });
}

// dst (contiguous, `dims`) = src read with `strides` (one per dim): a strided copy.
void gather_strided(const float* src, const std::vector<i64>& dims, const std::vector<i64>& strides, float* dst) {
  const std::size_t r = dims.size();
  const i64 total = element_count(dims);
  if (r == 0) {
    dst[0] = src[0];
    return;
  }
  const i64 inner = dims[r - 1];
  const i64 is = strides[r - 1];
  std::vector<i64> idx(r, 0);
  i64 off = 0;
  for (i64 o = 0; o < total; o += inner) {
    for (i64 j = 0; j < inner; ++j) dst[o + j] = src[off + j * is];
    for (std::size_t k = r - 1; k-- > 0;) {
      ++idx[k];
      off += strides[k];
      if (idx[k] < dims[k]) break;
      off -= strides[k] * dims[k];
      idx[k] = 0;
    }
  }
}

bool contiguous(const std::vector<i64>& dims, const std::vector<i64>& strides) {
  i64 expect = 1;
  for (std::size_t k = dims.size(); k-- > 0;) {
    if (dims[k] != 1 && strides[k] != expect) return false;
    expect *= dims[k];
  }
  return true;
}

// Two float32 operands whose labels are each batch (both operands and the output), m (first
// operand and output), n (second and output) or k (both operands, summed), each label once per
// operand and of the same size in both: a batched matrix product on the float kernel table.
// Returns false (nothing written) when the equation is not of that form.
result<bool> einsum_matmul(run_context& ctx, const einsum_plan& p, tensor& y) {
  if (p.strides.size() != 2 || ctx.in(0).type() != mq::dtype::float32) return false;
  for (std::size_t i = 0; i < 2; ++i) {
    const std::vector<int>& labels = p.axis_labels[i];
    for (std::size_t k = 0; k < labels.size(); ++k) {
      if (std::count(labels.begin(), labels.end(), labels[k]) != 1) return false;      // a diagonal
      if (ctx.in(i).dim(k) != p.size[uz(labels[k])]) return false;                        // a broadcast
    }
  }
  auto has = [&](std::size_t i, int l) {
    return std::find(p.axis_labels[i].begin(), p.axis_labels[i].end(), l) != p.axis_labels[i].end();
  };
  std::vector<int> batch, ms, ns, ks;
  for (const int l : p.out_labels) {
    const bool a = has(0, l);
    const bool b = has(1, l);
    if (a && b) batch.push_back(l);
    else if (a) ms.push_back(l);
    else ns.push_back(l);
  }
  for (const int l : p.sum_labels) {
    if (!has(0, l) || !has(1, l)) return false;  // summed in one operand only
    ks.push_back(l);
  }
  auto product = [&](const std::vector<int>& ls) {
    i64 v = 1;
    for (const int l : ls) v *= p.size[uz(l)];
    return v;
  };
  const i64 nb = product(batch), m = product(ms), n = product(ns), k = product(ks);
  if (m * n * k < 64) return false;  // too small for the kernel table to pay off
  // Operand i read in the label order `order`: contiguous already, or gathered.
  std::vector<tensor> scratch;
  auto operand = [&](std::size_t i, const std::vector<int>& order) -> result<const float*> {
    std::vector<i64> dims, strides;
    for (const int l : order) {
      dims.push_back(p.size[uz(l)]);
      strides.push_back(p.strides[i][uz(l)]);
    }
    const float* src = ctx.in(i).data<float>();
    if (contiguous(dims, strides)) return src;
    tensor t = MQ_TRY(ctx.allocate(mq::dtype::float32, dims));
    gather_strided(src, dims, strides, t.mutable_data<float>());
    scratch.push_back(std::move(t));
    return scratch.back().data<float>();
  };
  std::vector<int> a_order = batch, b_order = batch, c_order = batch;
  a_order.insert(a_order.end(), ms.begin(), ms.end());
  a_order.insert(a_order.end(), ks.begin(), ks.end());
  b_order.insert(b_order.end(), ks.begin(), ks.end());
  b_order.insert(b_order.end(), ns.begin(), ns.end());
  c_order.insert(c_order.end(), ms.begin(), ms.end());
  c_order.insert(c_order.end(), ns.begin(), ns.end());
  const float* a = MQ_TRY(operand(0, a_order));
  const float* b = MQ_TRY(operand(1, b_order));
  const bool direct = c_order == p.out_labels;
  float* c = y.mutable_data<float>();
  tensor c_tmp;
  if (!direct) {
    c_tmp = MQ_TRY(ctx.allocate(mq::dtype::float32, {nb, m, n}));
    c = c_tmp.mutable_data<float>();
  }
  const mq::kernels::float_kernel_table& t = mq::kernels::active_float_kernels();
  for_column_blocks(ctx.pool(), nb, n, m * k, t.split_columns, [&](i64 item, i64 begin, i64 end) {
    mq::kernels::gemm_args args;
    args.m = m;
    args.n = n;
    args.k = k;
    args.n_begin = begin;
    args.n_end = end;
    args.c = c + item * m * n;
    args.ldc = n;
    t.gemm(mq::kernels::a_dense{a + item * m * k, k, false}, mq::kernels::b_dense{b + item * k * n, n, false}, args);
  });
  if (!direct) {
    // c is laid out in c_order; the output wants out_labels: read c with its strides per label.
    std::vector<i64> c_stride(p.size.size(), 0);
    i64 s = 1;
    for (std::size_t q = c_order.size(); q-- > 0;) {
      c_stride[uz(c_order[q])] = s;
      s *= p.size[uz(c_order[q])];
    }
    std::vector<i64> dims, strides;
    for (const int l : p.out_labels) {
      dims.push_back(p.size[uz(l)]);
      strides.push_back(c_stride[uz(l)]);
    }
    gather_strided(c, dims, strides, y.mutable_data<float>());
  }
  return true;
}

result<std::unique_ptr<kernel>> make_einsum(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"equation"}));
  if (!node.has_attribute("equation")) return node.invalid("attribute 'equation' is missing");
  const einsum_spec spec = MQ_TRY(parse_equation(node, node.attr_string("equation")));
  if (spec.inputs.size() != node.input_count()) {
    return node.invalid("the equation has " + std::to_string(spec.inputs.size()) + " operands, the node " +
                        std::to_string(node.input_count()) + " inputs");
  }
  return make_kernel([spec](run_context& ctx) -> result<void> {
    const mq::dtype type = ctx.in(0).type();
    for (std::size_t i = 1; i < spec.inputs.size(); ++i) {
      if (ctx.in(i).type() != type) return ctx.fail("operands have types " + type_name(type) + " and " + type_name(ctx.in(i).type()));
    }
    const einsum_plan p = MQ_TRY(resolve_einsum(ctx, spec));
    tensor y = MQ_TRY(ctx.allocate(type, p.out_shape));
    if (MQ_TRY(einsum_matmul(ctx, p, y))) {
      ctx.set_output(0, std::move(y));
      return {};
    }
    const bool known = visit_numeric(type, [&]<class T>() { einsum_generic<T>(ctx, p, y.mutable_data<T>()); });
    if (!known) return ctx.unsupported("element type " + type_name(type));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- TfIdfVectorizer ---------------------------------------------------------------------------

// Integer pools only (pool_int64s; string tensors are not held by the executor). The counting
// follows ONNX Runtime (and the ONNX reference, which mirrors it): for each skip distance
// d = 1 .. max_skip_count + 1 and each start position, the n-gram x[s], x[s + d], ... grows while
// it is a prefix of a pool n-gram, and every length in [min_gram_length, max_gram_length] that is
// a pool n-gram counts once; 1-grams count only at d = 1. A pool n-gram listed twice maps to its
// last entry's ngram_indexes coordinate.
enum class tfidf_mode : std::uint8_t { tf, idf, tfidf };

struct tfidf_model {
  tfidf_mode mode = tfidf_mode::tf;
  i64 min_n = 1, max_n = 1, max_skip = 0;
  std::vector<i64> indexes;  // ngram_indexes: per pool n-gram, its output coordinate
  std::vector<float> weights;
  i64 output_size = 0;
  // Every prefix of a pool n-gram of a counted length -> 1 + its pool ordinal (0: a prefix only).
  std::map<std::vector<i64>, i64> grams;
};

result<std::unique_ptr<kernel>> make_tfidf(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"max_gram_length", "max_skip_count", "min_gram_length", "mode", "ngram_counts",
                                    "ngram_indexes", "pool_int64s", "pool_strings", "weights"}));
  if (node.has_attribute("pool_strings")) return node.unsupported("pool_strings (string tensors are not held by the executor)");
  for (const char* a : {"max_gram_length", "max_skip_count", "min_gram_length", "mode", "ngram_counts", "ngram_indexes", "pool_int64s"}) {
    if (!node.has_attribute(a)) return node.invalid(std::string("attribute '") + a + "' is missing");
  }
  auto m = std::make_shared<tfidf_model>();
  const std::string mode = node.attr_string("mode");
  if (mode == "TF") m->mode = tfidf_mode::tf;
  else if (mode == "IDF") m->mode = tfidf_mode::idf;
  else if (mode == "TFIDF") m->mode = tfidf_mode::tfidf;
  else return node.invalid("mode must be TF, IDF or TFIDF, is '" + mode + "'");
  m->min_n = node.attr_int("min_gram_length", 1);
  m->max_n = node.attr_int("max_gram_length", 1);
  m->max_skip = node.attr_int("max_skip_count", 0);
  if (m->min_n < 1 || m->max_n < m->min_n || m->max_skip < 0) {
    return node.invalid("needs 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0");
  }
  const std::vector<i64> counts = node.attr_ints("ngram_counts");
  const std::vector<i64> pool = node.attr_ints("pool_int64s");
  m->indexes = node.attr_ints("ngram_indexes");
  m->weights = node.attr_floats("weights");
  for (const i64 v : m->indexes) {
    if (v < 0) return node.invalid("ngram_indexes must be >= 0");
    m->output_size = std::max(m->output_size, v + 1);
  }
  if (!m->weights.empty() && m->weights.size() != m->indexes.size()) return node.invalid("weights must have one value per ngram_indexes entry");
  i64 ordinal = 0;  // n-grams of every length are numbered in pool order
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const i64 n = sz(i) + 1;
    const i64 begin = counts[i];
    const i64 end = i + 1 < counts.size() ? counts[i + 1] : sz(pool.size());
    if (begin < 0 || end < begin || end > sz(pool.size()) || (end - begin) % n != 0) {
      return node.invalid("ngram_counts does not split pool_int64s into whole n-grams");
    }
    for (i64 g = begin; g < end; g += n, ++ordinal) {
      if (n < m->min_n || n > m->max_n) continue;
      if (ordinal >= sz(m->indexes.size())) return node.invalid("ngram_indexes has fewer entries than the pool has n-grams");
      std::vector<i64> key;
      for (i64 k = 0; k < n; ++k) {
        key.push_back(pool[uz(g + k)]);
        m->grams.emplace(key, 0);
      }
      m->grams[key] = ordinal + 1;
    }
  }
  return make_kernel([m](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.type() != mq::dtype::int64 && x.type() != mq::dtype::int32) {
      return ctx.unsupported("element type " + type_name(x.type()) + " (int32 and int64 only)");
    }
    if (x.rank() != 1 && x.rank() != 2) return ctx.fail("X must have rank 1 or 2, has shape " + shape_string(x.shape()));
    const i64 rows = x.rank() == 2 ? x.dim(0) : 1;
    const i64 cols = x.dim(x.rank() - 1);
    const std::vector<i64> v = ints_of(x);
    std::vector<i64> freq(uz(rows * m->output_size), 0);
    std::vector<i64> key;
    for (i64 r = 0; r < rows; ++r) {
      const i64* row = v.data() + r * cols;
      i64 start_n = m->min_n;
      // Past a distance of the row length no n-gram of 2 or more items fits.
      const i64 last_distance = std::min(m->max_skip + 1, std::max<i64>(cols, 1));
      for (i64 d = 1; d <= last_distance; ++d) {
        for (i64 s = 0; s < cols; ++s) {
          if (s + d * (start_n - 1) >= cols) break;
          key.clear();
          for (i64 item = s, n = 1; n <= m->max_n && item < cols; ++n, item += d) {
            key.push_back(row[item]);
            const auto it = m->grams.find(key);
            if (it == m->grams.end()) break;
            if (n >= start_n && it->second != 0) ++freq[uz(r * m->output_size + m->indexes[uz(it->second - 1)])];
          }
        }
        if (start_n == 1) {
          start_n = 2;
          if (start_n > m->max_n) break;
        }
      }
    }
    const shape_t shape = x.rank() == 2 ? shape_t{rows, m->output_size} : shape_t{m->output_size};
    tensor y = MQ_TRY(ctx.allocate(mq::dtype::float32, shape));
    float* out = y.mutable_data<float>();
    // Weights are indexed by output coordinate, as ONNX Runtime reads them.
    for (std::size_t p = 0; p < freq.size(); ++p) {
      const std::size_t col = p % uz(m->output_size);
      const float w = m->weights.empty() || col >= m->weights.size() ? 1.0f : m->weights[col];
      const auto f = static_cast<float>(freq[p]);
      switch (m->mode) {
        case tfidf_mode::tf: out[p] = f; break;
        case tfidf_mode::idf: out[p] = freq[p] > 0 ? w : 0.0f; break;
        case tfidf_mode::tfidf: out[p] = w * f; break;
      }
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

}  // namespace

void register_misc(op_registry& r) {
  r.add("NonMaxSuppression", make_nms, 10);
  r.add("RoiAlign", make_roi_align, 10);
  r.add("ReverseSequence", make_reverse_sequence, 10);
  r.add("Unique", make_unique, 11);
  r.add("Det", make_det, 11);
  r.add("NegativeLogLikelihoodLoss", make_nll, 12);
  r.add("SoftmaxCrossEntropyLoss", make_sce, 12);
  r.add("Einsum", make_einsum, 12);
  r.add("TfIdfVectorizer", make_tfidf, 9);
}

}  // namespace mq::exec::ops
