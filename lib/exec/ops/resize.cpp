// Resampling operators: Resize (opsets 10, 11, 13, 18), the deprecated Upsample (7-10) and
// GridSample (16).
//
// Resize works one axis at a time. Every resized axis gets a table, computed once per run, that
// maps each output index to its source indices and weights (nearest: one index; linear: two;
// cubic: four). Nearest copies through the index tables in one pass over the output (rows that
// repeat the row before are memcpy'd); linear and cubic apply one 1-D pass per resized axis, the
// passes over outer axes combining whole rows at a time. Coordinates are computed in float with
// ONNX Runtime's formulas, so ties in the nearest modes fall the same way.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"

namespace mq::exec::ops {
namespace {

using i64 = std::int64_t;

constexpr i64 parallel_bytes = 1 << 16;

std::size_t uz(i64 v) noexcept { return static_cast<std::size_t>(v); }
i64 sz(std::size_t v) noexcept { return static_cast<i64>(v); }
i64 grain_for(i64 bytes_per_item) noexcept { return std::max<i64>(1, parallel_bytes / std::max<i64>(1, bytes_per_item)); }

template <class F>
bool visit_size(std::size_t size, F&& f) {
  switch (size) {
    case 1: f.template operator()<std::uint8_t>(); return true;
    case 2: f.template operator()<std::uint16_t>(); return true;
    case 4: f.template operator()<std::uint32_t>(); return true;
    case 8: f.template operator()<std::uint64_t>(); return true;
    default: return false;
  }
}

// A float coordinate as an integer index, safe for any value (NaN and huge values land far out
// of range, to be clamped by the caller).
i64 to_index(float x) noexcept {
  if (!(x > -1e15f)) return std::numeric_limits<i64>::min() / 2;
  if (!(x < 1e15f)) return std::numeric_limits<i64>::max() / 2;
  return static_cast<i64>(x);
}

// ---- Resize parameters -------------------------------------------------------------------------

enum class interp { nearest, linear, cubic };
enum class coord { half_pixel, asymmetric, pytorch_half_pixel, tf_half_pixel_for_nn, align_corners, tf_crop_and_resize };
enum class nearest { simple, round_prefer_floor, round_prefer_ceil, floor, ceil };
enum class aspect { stretch, not_larger, not_smaller };

struct resize_config {
  interp mode = interp::nearest;
  coord transform = coord::asymmetric;
  nearest rounding = nearest::simple;
  float cubic_a = -0.75f;
  bool exclude_outside = false;
  float extrapolation = 0.0f;
  aspect policy = aspect::stretch;
  std::vector<i64> axes;  // opset 18; empty = every axis
  // Where the run-time values come from (input indices; -1 when the version has none).
  int roi_input = -1;
  int scales_input = -1;
  int sizes_input = -1;
  std::vector<float> scales_attr;  // Upsample-7
  bool upsample = false;           // Upsample: scales >= 1
};

// x_original for output index x (ONNX Runtime's float formulas).
float original_coordinate(coord c, float x, float scale, float len_out, float len_in, float roi_start, float roi_end) {
  switch (c) {
    case coord::asymmetric: return x / scale;
    case coord::pytorch_half_pixel: return len_out > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case coord::tf_half_pixel_for_nn: return (x + 0.5f) / scale;
    case coord::align_corners: return len_out == 1 ? 0.0f : x * (len_in - 1) / (len_out - 1);
    case coord::tf_crop_and_resize:
      return len_out > 1 ? roi_start * (len_in - 1) + (x * (roi_end - roi_start) * (len_in - 1)) / (len_out - 1)
                         : static_cast<float>(0.5 * static_cast<double>(roi_start + roi_end) * static_cast<double>(len_in - 1));
    case coord::half_pixel: break;
  }
  return (x + 0.5f) / scale - 0.5f;
}

i64 nearest_index(nearest mode, float x, bool downsampling) {
  switch (mode) {
    case nearest::simple: return downsampling ? to_index(std::ceil(x)) : to_index(x);
    case nearest::round_prefer_ceil: return to_index(std::round(x));
    case nearest::floor: return to_index(std::floor(x));
    case nearest::ceil: return to_index(std::ceil(x));
    case nearest::round_prefer_floor: break;
  }
  if (x == static_cast<float>(to_index(x)) + 0.5f) return to_index(std::floor(x));
  return to_index(std::round(x));
}

// The cubic convolution weights for offsets -1, 0, 1, 2 from floor(x), t = x - floor(x).
std::array<float, 4> cubic_weights(float t, float a) {
  const float t1 = t + 1;
  const float t2 = 1 - t;
  const float t3 = 2 - t;
  return {((a * t1 - 5 * a) * t1 + 8 * a) * t1 - 4 * a, ((a + 2) * t - (a + 3)) * t * t + 1,
          ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1, ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a};
}

// One resized axis: per output index, `taps` source indices and weights (nearest: one tap), or
// `outside` when tf_crop_and_resize puts it outside the input (the extrapolation value).
struct axis_table {
  int taps = 1;
  std::vector<i64> index;     // [out * taps]
  std::vector<float> weight;  // [out * taps] (interpolating modes)
  std::vector<std::uint8_t> outside;
  bool any_outside = false;
};

// `len_resized` is the resized length the coordinate formulas use: the output length when sizes
// are given, length_original * scale (possibly not an integer) when scales are: the spec defines
// scale = length_resized / length_original, and ONNX's reference and test data follow that.
axis_table make_table(const resize_config& cfg, i64 len_in, i64 len_out, float len_resized, float scale, float roi_start,
                      float roi_end) {
  axis_table t;
  t.taps = cfg.mode == interp::nearest ? 1 : cfg.mode == interp::linear ? 2 : 4;
  const auto taps = static_cast<std::size_t>(t.taps);
  t.index.resize(uz(len_out) * taps);
  t.weight.resize(uz(len_out) * taps, 0.0f);
  t.outside.resize(uz(len_out), 0);
  const float fin = static_cast<float>(len_in);
  const bool extrapolate = cfg.transform == coord::tf_crop_and_resize;
  for (i64 o = 0; o < len_out; ++o) {
    const float x = original_coordinate(cfg.transform, static_cast<float>(o), scale, len_resized, fin, roi_start, roi_end);
    const std::size_t base = uz(o) * taps;
    if (extrapolate && (!(x >= 0) || x > fin - 1)) {
      t.outside[uz(o)] = 1;
      t.any_outside = true;
      for (std::size_t k = 0; k < taps; ++k) t.index[base + k] = 0;
      continue;
    }
    switch (cfg.mode) {
      case interp::nearest: {
        t.index[base] = std::clamp<i64>(nearest_index(cfg.rounding, x, scale < 1.0f), 0, len_in - 1);
        t.weight[base] = 1.0f;
        break;
      }
      case interp::linear: {
        const float c = std::clamp(std::isnan(x) ? 0.0f : x, 0.0f, fin - 1);
        const i64 i0 = std::min(to_index(c), len_in - 1);
        const i64 i1 = std::min(i0 + 1, len_in - 1);
        float w1 = c - static_cast<float>(i0);
        float w0 = 1.0f - w1;
        if (i0 == i1) w0 = w1 = 0.5f;
        t.index[base] = i0;
        t.index[base + 1] = i1;
        t.weight[base] = w0;
        t.weight[base + 1] = w1;
        break;
      }
      case interp::cubic: {
        const float fl = std::floor(x);
        const i64 i = to_index(fl);
        std::array<float, 4> w = cubic_weights(x - fl, cfg.cubic_a);
        float sum = 0;
        for (std::size_t k = 0; k < 4; ++k) {
          const i64 j = i + sz(k) - 1;
          if (cfg.exclude_outside && (j < 0 || j >= len_in)) w[k] = 0;
          sum += w[k];
          t.index[base + k] = std::clamp<i64>(j, 0, len_in - 1);
        }
        for (std::size_t k = 0; k < 4; ++k) t.weight[base + k] = cfg.exclude_outside && sum != 0 ? w[k] / sum : w[k];
        break;
      }
    }
  }
  return t;
}

// The extrapolation value as one element of `type`.
std::array<std::byte, 8> element_bytes(mq::dtype type, float v) {
  std::array<std::byte, 8> out{};
  visit_type(type, [&]<class T>() {
    T t{};
    if constexpr (std::is_same_v<T, half_bits>) t.bits = mq::half::float_to_half(v);
    else if constexpr (std::is_same_v<T, bfloat16_bits>) t.bits = static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(v) >> 16);
    else if constexpr (std::is_same_v<T, bool_byte>) t.value = v != 0 ? 1 : 0;
    else if constexpr (std::is_floating_point_v<T>) t = static_cast<T>(v);
    else {
      const double d = v;
      const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
      const double hi = static_cast<double>(std::numeric_limits<T>::max());
      t = std::isnan(d) ? T{0} : d <= lo ? std::numeric_limits<T>::lowest() : d >= hi ? std::numeric_limits<T>::max() : static_cast<T>(d);
    }
    std::memcpy(out.data(), &t, sizeof(T));
  });
  return out;
}

// Nearest: out[o] = in[tables(o)] in one pass; rows repeating the previous row are copied.
template <class U>
void resize_nearest(const U* in, U* out, const shape_t& in_shape, const shape_t& out_shape,
                    const std::vector<std::optional<axis_table>>& tables, U fill, thread_pool& pool) {
  const std::size_t rank = in_shape.size();
  const std::vector<i64> in_strides = strides_of(in_shape);
  const i64 total = element_count(out_shape);
  if (total == 0) return;
  if (rank == 0) {
    out[0] = in[0];
    return;
  }
  const i64 row = out_shape[rank - 1];
  const i64 rows = total / row;
  const auto& last = tables[rank - 1];
  pool.parallel_for(rows, grain_for(row * sz(sizeof(U))), [&](i64 b, i64 e) {
    std::vector<i64> idx(rank - 1, 0);
    i64 rest = b;
    for (std::size_t k = rank - 1; k-- > 0;) {
      idx[k] = rest % out_shape[k];
      rest /= out_shape[k];
    }
    i64 prev_off = -1;
    bool prev_outside = false;
    for (i64 r = b; r < e; ++r) {
      U* d = out + r * row;
      i64 off = 0;
      bool outside = false;
      for (std::size_t k = 0; k + 1 < rank; ++k) {
        const auto& t = tables[k];
        if (!t) {
          off += idx[k] * in_strides[k];
        } else {
          outside = outside || t->outside[uz(idx[k])] != 0;
          off += t->index[uz(idx[k])] * in_strides[k];
        }
      }
      if (r > b && off == prev_off && outside == prev_outside) {
        std::memcpy(d, d - row, uz(row) * sizeof(U));
      } else if (outside) {
        std::fill(d, d + row, fill);
      } else {
        const U* s = in + off;
        if (!last) {
          std::memcpy(d, s, uz(row) * sizeof(U));
        } else {
          const i64* map = last->index.data();
          if (last->any_outside) {
            for (i64 j = 0; j < row; ++j) d[j] = last->outside[uz(j)] ? fill : s[map[j]];
          } else {
            for (i64 j = 0; j < row; ++j) d[j] = s[map[j]];
          }
        }
      }
      prev_off = off;
      prev_outside = outside;
      for (std::size_t k = rank - 1; k-- > 0;) {
        if (++idx[k] < out_shape[k]) break;
        idx[k] = 0;
      }
    }
  });
}

// Interpolates one row along its last axis: d[j] = sum_k w[j][k] * s[index[j][k]].
template <class T, int Taps>
void interpolate_row(const T* s, T* d, i64 out_len, const axis_table& t, T fill) {
  const i64* ix = t.index.data();
  const float* w = t.weight.data();
  for (i64 j = 0; j < out_len; ++j) {
    T acc = static_cast<T>(w[j * Taps]) * s[ix[j * Taps]];
    for (int k = 1; k < Taps; ++k) acc += static_cast<T>(w[j * Taps + k]) * s[ix[j * Taps + k]];
    d[j] = acc;
  }
  if (t.any_outside) {
    for (i64 j = 0; j < out_len; ++j) {
      if (t.outside[uz(j)]) d[j] = fill;
    }
  }
}

// d[i] = sum_k w[k] * rows[k][i]: one output row from `Taps` input rows.
template <class T, int Taps>
void blend_rows(const T* const* rows, const float* w, T* d, i64 n) {
  const T w0 = static_cast<T>(w[0]);
  const T w1 = static_cast<T>(w[1]);
  if constexpr (Taps == 2) {
    const T* r0 = rows[0];
    const T* r1 = rows[1];
    for (i64 i = 0; i < n; ++i) d[i] = w0 * r0[i] + w1 * r1[i];
  } else {
    const T w2 = static_cast<T>(w[2]);
    const T w3 = static_cast<T>(w[3]);
    const T* r0 = rows[0];
    const T* r1 = rows[1];
    const T* r2 = rows[2];
    const T* r3 = rows[3];
    for (i64 i = 0; i < n; ++i) d[i] = w0 * r0[i] + w1 * r1[i] + w2 * r2[i] + w3 * r3[i];
  }
}

// One interpolating pass along `axis`: shape `in_shape` -> the same with out_len on that axis.
template <class T, int Taps>
void resize_axis(const T* in, T* out, const shape_t& in_shape, std::size_t axis, i64 out_len, const axis_table& t,
                 T fill, thread_pool& pool) {
  i64 outer = 1;
  for (std::size_t k = 0; k < axis; ++k) outer *= in_shape[k];
  i64 inner = 1;
  for (std::size_t k = axis + 1; k < in_shape.size(); ++k) inner *= in_shape[k];
  const i64 len_in = in_shape[axis];
  const i64 items = outer * out_len;
  if (items == 0 || inner == 0) return;
  if (inner == 1) {
    pool.parallel_for(outer, grain_for(out_len * sz(sizeof(T)) * Taps), [&](i64 b, i64 e) {
      for (i64 o = b; o < e; ++o) interpolate_row<T, Taps>(in + o * len_in, out + o * out_len, out_len, t, fill);
    });
    return;
  }
  // An outer axis: each output row is a weighted sum of `Taps` input rows.
  pool.parallel_for(items, grain_for(inner * sz(sizeof(T)) * Taps), [&](i64 b, i64 e) {
    i64 o = b / out_len;
    i64 j = b - o * out_len;
    for (i64 w = b; w < e; ++w) {
      T* d = out + w * inner;
      if (t.outside[uz(j)]) {
        std::fill(d, d + inner, fill);
      } else {
        const T* rows[Taps];
        for (int k = 0; k < Taps; ++k) rows[k] = in + (o * len_in + t.index[uz(j * Taps + k)]) * inner;
        blend_rows<T, Taps>(rows, t.weight.data() + j * Taps, d, inner);
      }
      if (++j == out_len) {
        j = 0;
        ++o;
      }
    }
  });
}

// Both trailing axes at once (the common image case), without an intermediate tensor: each
// output row blends `Taps` input rows interpolated along the last axis, and a small cache keeps
// the interpolated rows that the next output rows need again. `tx` null: the last axis is kept.
template <class T, int Taps>
void resize_last_two(const T* in, T* out, i64 planes, i64 h_in, i64 w_in, i64 h_out, i64 w_out, const axis_table& ty,
                     const axis_table* tx, T fill, thread_pool& pool) {
  const i64 items = planes * h_out;
  if (items == 0 || w_out == 0) return;
  pool.parallel_for(items, grain_for(w_out * sz(sizeof(T)) * Taps), [&](i64 b, i64 e) {
    // 2 * Taps cached rows: those of the current output row and of the previous one.
    constexpr int slots = 2 * Taps;
    std::vector<T> cache(tx != nullptr ? uz(slots * w_out) : 0);
    i64 ids[slots];
    int age[slots];
    for (int s = 0; s < slots; ++s) {
      ids[s] = -1;
      age[s] = 0;
    }
    int clock = 0;
    i64 p = b / h_out;
    i64 y = b - p * h_out;
    for (i64 w = b; w < e; ++w) {
      T* d = out + w * w_out;
      if (ty.outside[uz(y)]) {
        std::fill(d, d + w_out, fill);
      } else {
        const T* rows[Taps];
        ++clock;
        for (int k = 0; k < Taps; ++k) {
          const i64 id = p * h_in + ty.index[uz(y * Taps + k)];
          const T* src = in + id * w_in;
          if (tx == nullptr) {
            rows[k] = src;
            continue;
          }
          int slot = -1;
          for (int s = 0; s < slots; ++s) {
            if (ids[s] == id) slot = s;
          }
          if (slot < 0) {
            // The least recently used slot (never one this output row already uses).
            slot = 0;
            for (int s = 1; s < slots; ++s) {
              if (age[s] < age[slot]) slot = s;
            }
            ids[slot] = id;
            interpolate_row<T, Taps>(src, cache.data() + slot * w_out, w_out, *tx, fill);
          }
          age[slot] = clock;
          rows[k] = cache.data() + slot * w_out;
        }
        blend_rows<T, Taps>(rows, ty.weight.data() + y * Taps, d, w_out);
      }
      if (++y == h_out) {
        y = 0;
        ++p;
      }
    }
  });
}

result<std::vector<float>> read_floats(const run_context& ctx, std::size_t i, const char* what) {
  const tensor& t = ctx.in(i);
  if (!is_float_type(t.type())) return ctx.fail(std::string(what) + " must be a float tensor, got " + type_name(t.type()));
  std::vector<float> v(uz(t.size()));
  for (i64 k = 0; k < t.size(); ++k) v[uz(k)] = load_as_float(t, k);
  return v;
}

result<void> run_resize(run_context& ctx, const resize_config& cfg) {
  const tensor& x = ctx.in(0);
  const std::size_t rank = x.rank();
  const shape_t in_shape = x.shape();
  // Axes the scales/sizes/roi speak of.
  std::vector<std::size_t> axes;
  if (cfg.axes.empty()) {
    for (std::size_t k = 0; k < rank; ++k) axes.push_back(k);
  } else {
    std::vector<bool> seen(rank, false);
    for (i64 a : cfg.axes) {
      const std::size_t n = MQ_TRY(axis_for(ctx, a, rank));
      if (seen[n]) return ctx.fail("axis " + std::to_string(a) + " is repeated");
      seen[n] = true;
      axes.push_back(n);
    }
  }
  std::vector<float> given_scales;
  std::vector<i64> given_sizes;
  if (!cfg.scales_attr.empty()) given_scales = cfg.scales_attr;
  if (cfg.scales_input >= 0 && ctx.has_input(uz(cfg.scales_input)) && ctx.in(uz(cfg.scales_input)).size() > 0) {
    given_scales = MQ_TRY(read_floats(ctx, uz(cfg.scales_input), "scales"));
  }
  if (cfg.sizes_input >= 0 && ctx.has_input(uz(cfg.sizes_input)) && ctx.in(uz(cfg.sizes_input)).size() > 0) {
    given_sizes = MQ_TRY(read_ints(ctx, uz(cfg.sizes_input), "sizes"));
  }
  if (given_scales.empty() == given_sizes.empty()) return ctx.fail("exactly one of scales and sizes must be given");
  std::vector<float> scales(rank, 1.0f);
  shape_t out_shape = in_shape;
  if (!given_scales.empty()) {
    if (given_scales.size() != axes.size()) return ctx.fail("scales has " + std::to_string(given_scales.size()) + " values for " + std::to_string(axes.size()) + " axes");
    for (std::size_t j = 0; j < axes.size(); ++j) {
      const float s = given_scales[j];
      if (!(s > 0) || !std::isfinite(s)) return ctx.fail("scale " + std::to_string(s) + " must be positive");
      if (cfg.upsample && s < 1) return ctx.fail("Upsample scale " + std::to_string(s) + " must be >= 1");
      scales[axes[j]] = s;
      const float f = s * static_cast<float>(in_shape[axes[j]]);
      if (!(f < 1e12f)) return ctx.fail("scale " + std::to_string(s) + " makes too large an output");
      out_shape[axes[j]] = static_cast<i64>(f);
    }
  } else {
    if (given_sizes.size() != axes.size()) return ctx.fail("sizes has " + std::to_string(given_sizes.size()) + " values for " + std::to_string(axes.size()) + " axes");
    for (std::size_t j = 0; j < axes.size(); ++j) {
      const i64 s = given_sizes[j];
      const std::size_t a = axes[j];
      if (s < 0) return ctx.fail("size " + std::to_string(s) + " must not be negative");
      if (in_shape[a] == 0 && s != 0) return ctx.fail("cannot resize an empty dimension " + std::to_string(a) + " to " + std::to_string(s));
      out_shape[a] = s;
      scales[a] = in_shape[a] == 0 ? 1.0f : static_cast<float>(s) / static_cast<float>(in_shape[a]);
    }
    if (cfg.policy != aspect::stretch) {
      float scale = cfg.policy == aspect::not_larger ? std::numeric_limits<float>::max() : 0.0f;
      for (std::size_t a : axes) scale = cfg.policy == aspect::not_larger ? std::min(scale, scales[a]) : std::max(scale, scales[a]);
      for (std::size_t a : axes) {
        scales[a] = scale;
        out_shape[a] = static_cast<i64>(std::round(scale * static_cast<float>(in_shape[a])));
      }
    }
  }
  std::vector<float> roi_start(rank, 0.0f);
  std::vector<float> roi_end(rank, 1.0f);
  if (cfg.transform == coord::tf_crop_and_resize) {
    if (cfg.roi_input < 0 || !ctx.has_input(uz(cfg.roi_input)) || ctx.in(uz(cfg.roi_input)).size() == 0) {
      return ctx.fail("tf_crop_and_resize needs the roi input");
    }
    const std::vector<float> roi = MQ_TRY(read_floats(ctx, uz(cfg.roi_input), "roi"));
    if (roi.size() != 2 * axes.size()) return ctx.fail("roi has " + std::to_string(roi.size()) + " values, expected " + std::to_string(2 * axes.size()));
    for (std::size_t j = 0; j < axes.size(); ++j) {
      roi_start[axes[j]] = roi[j];
      roi_end[axes[j]] = roi[j + axes.size()];
    }
  }
  // Per axis: a table, or nothing when the axis is left as it is.
  std::vector<std::optional<axis_table>> tables(rank);
  for (std::size_t k = 0; k < rank; ++k) {
    const bool same = out_shape[k] == in_shape[k] && scales[k] == 1.0f && cfg.transform != coord::tf_crop_and_resize;
    if (same || out_shape[k] == 0) continue;
    if (in_shape[k] == 0) return ctx.fail("cannot resize an empty dimension " + std::to_string(k));
    const float len_resized = given_sizes.empty() ? scales[k] * static_cast<float>(in_shape[k]) : static_cast<float>(out_shape[k]);
    tables[k] = make_table(cfg, in_shape[k], out_shape[k], len_resized, scales[k], roi_start[k], roi_end[k]);
  }
  const mq::dtype type = x.type();
  const void* src = x.raw();
  if (cfg.mode == interp::nearest) {
    const std::size_t esize = exec_element_size(type);
    const std::array<std::byte, 8> fill = element_bytes(type, cfg.extrapolation);
    tensor y = MQ_TRY(ctx.allocate(type, out_shape));
    const bool known = visit_size(esize, [&]<class U>() {
      U f;
      std::memcpy(&f, fill.data(), sizeof(U));
      resize_nearest<U>(static_cast<const U*>(src), y.mutable_data<U>(), in_shape, out_shape, tables, f, ctx.pool());
    });
    if (!known) return ctx.unsupported("element type " + type_name(type));
    ctx.set_output(0, std::move(y));
    return {};
  }
  // Linear and cubic.
  if (type != mq::dtype::float32 && type != mq::dtype::float64) {
    return ctx.unsupported("element type " + type_name(type) + " in linear/cubic mode");
  }
  if (element_count(out_shape) == 0) {
    ctx.set_output(0, MQ_TRY(ctx.allocate(type, out_shape)));
    return {};
  }
  std::size_t resized = 0;
  std::size_t first = rank;
  for (std::size_t k = 0; k < rank; ++k) {
    if (tables[k]) {
      ++resized;
      first = std::min(first, k);
    }
  }
  if (resized == 0) {
    ctx.set_output(0, x);
    return {};
  }
  const int taps = cfg.mode == interp::linear ? 2 : 4;
  if (rank >= 2 && first == rank - 2) {
    // Only the two trailing axes (or the second to last alone): one fused pass.
    const i64 planes = element_count(std::span<const i64>(in_shape.data(), rank - 2));
    tensor y = MQ_TRY(ctx.allocate(type, out_shape));
    const axis_table* tx = tables[rank - 1] ? &*tables[rank - 1] : nullptr;
    visit_float(type, [&]<class T>() {
      const T fill = static_cast<T>(cfg.extrapolation);
      const T* s = static_cast<const T*>(src);
      T* d = y.mutable_data<T>();
      if (taps == 2) {
        resize_last_two<T, 2>(s, d, planes, in_shape[rank - 2], in_shape[rank - 1], out_shape[rank - 2], out_shape[rank - 1],
                              *tables[rank - 2], tx, fill, ctx.pool());
      } else {
        resize_last_two<T, 4>(s, d, planes, in_shape[rank - 2], in_shape[rank - 1], out_shape[rank - 2], out_shape[rank - 1],
                              *tables[rank - 2], tx, fill, ctx.pool());
      }
    });
    ctx.set_output(0, std::move(y));
    return {};
  }
  // Any other set of axes: one pass per resized axis, the last axis first.
  tensor current = x;
  shape_t shape = in_shape;
  for (std::size_t k = rank; k-- > 0;) {
    if (!tables[k]) continue;
    shape_t next_shape = shape;
    next_shape[k] = out_shape[k];
    tensor next = MQ_TRY(ctx.allocate(type, next_shape));
    visit_float(type, [&]<class T>() {
      const T fill = static_cast<T>(cfg.extrapolation);
      if (taps == 2) {
        resize_axis<T, 2>(current.data<T>(), next.mutable_data<T>(), shape, k, out_shape[k], *tables[k], fill, ctx.pool());
      } else {
        resize_axis<T, 4>(current.data<T>(), next.mutable_data<T>(), shape, k, out_shape[k], *tables[k], fill, ctx.pool());
      }
    });
    current = std::move(next);
    shape = std::move(next_shape);
  }
  ctx.set_output(0, std::move(current));
  return {};
}

result<interp> mode_of(node_info& node, bool cubic_allowed) {
  const std::string m = node.attr_string("mode", "nearest");
  if (m == "nearest") return interp::nearest;
  if (m == "linear" || (m == "bilinear" && !cubic_allowed)) return interp::linear;
  if (m == "cubic" && cubic_allowed) return interp::cubic;
  return node.unsupported("mode '" + m + "' of " + node.op_type());
}

result<std::unique_ptr<kernel>> make_resize(node_info& node) {
  const std::int64_t v = node.since_version();
  resize_config cfg;
  if (v >= 18) {
    MQ_TRY_VOID(node.only_attributes({"antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
                                      "extrapolation_value", "keep_aspect_ratio_policy", "mode", "nearest_mode"}));
    if (node.attr_int("antialias", 0) != 0) return node.unsupported("antialias of Resize");
    cfg.axes = node.attr_ints("axes");
    const std::string p = node.attr_string("keep_aspect_ratio_policy", "stretch");
    if (p == "not_larger") cfg.policy = aspect::not_larger;
    else if (p == "not_smaller") cfg.policy = aspect::not_smaller;
    else if (p != "stretch") return node.unsupported("keep_aspect_ratio_policy '" + p + "' of Resize");
  } else if (v >= 11) {
    MQ_TRY_VOID(node.only_attributes({"coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside", "extrapolation_value", "mode", "nearest_mode"}));
  } else {
    MQ_TRY_VOID(node.only_attributes({"mode"}));
  }
  cfg.mode = MQ_TRY(mode_of(node, v >= 11));
  if (v >= 11) {
    const std::string c = node.attr_string("coordinate_transformation_mode", "half_pixel");
    if (c == "half_pixel") cfg.transform = coord::half_pixel;
    else if (c == "asymmetric") cfg.transform = coord::asymmetric;
    else if (c == "pytorch_half_pixel") cfg.transform = coord::pytorch_half_pixel;
    else if (c == "tf_half_pixel_for_nn") cfg.transform = coord::tf_half_pixel_for_nn;
    else if (c == "align_corners") cfg.transform = coord::align_corners;
    else if (c == "tf_crop_and_resize") cfg.transform = coord::tf_crop_and_resize;
    else return node.unsupported("coordinate_transformation_mode '" + c + "' of Resize");
    const std::string n = node.attr_string("nearest_mode", "round_prefer_floor");
    if (n == "round_prefer_floor") cfg.rounding = nearest::round_prefer_floor;
    else if (n == "round_prefer_ceil") cfg.rounding = nearest::round_prefer_ceil;
    else if (n == "floor") cfg.rounding = nearest::floor;
    else if (n == "ceil") cfg.rounding = nearest::ceil;
    else return node.unsupported("nearest_mode '" + n + "' of Resize");
    cfg.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
    cfg.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
    cfg.extrapolation = node.attr_float("extrapolation_value", 0.0f);
    cfg.roi_input = 1;
    cfg.scales_input = 2;
    cfg.sizes_input = 3;
  } else {
    // Resize-10: asymmetric coordinates, nearest rounds as Upsample did.
    cfg.transform = coord::asymmetric;
    cfg.rounding = nearest::simple;
    cfg.scales_input = 1;
  }
  return make_kernel([cfg](run_context& ctx) -> result<void> { return run_resize(ctx, cfg); });
}

result<std::unique_ptr<kernel>> make_upsample(node_info& node) {
  const std::int64_t v = node.since_version();
  resize_config cfg;
  cfg.upsample = true;
  if (v >= 9) {
    MQ_TRY_VOID(node.only_attributes({"mode"}));
    cfg.scales_input = 1;
  } else {
    MQ_TRY_VOID(node.only_attributes({"mode", "scales"}));
    cfg.scales_attr = node.attr_floats("scales");
    if (cfg.scales_attr.empty()) return node.invalid("attribute 'scales' is missing");
  }
  cfg.mode = MQ_TRY(mode_of(node, false));
  cfg.transform = coord::asymmetric;
  cfg.rounding = nearest::simple;
  return make_kernel([cfg](run_context& ctx) -> result<void> { return run_resize(ctx, cfg); });
}

// ---- GridSample --------------------------------------------------------------------------------

enum class grid_mode { bilinear, nearest, bicubic };
enum class grid_padding { zeros, border, reflection };

// Reflects x into [lo, hi] (by whole periods, then once), in double so huge values stay exact
// enough.
double reflect(double x, double lo, double hi) {
  const double range = hi - lo;
  if (!(range > 0)) return lo;
  if (x >= lo && x <= hi) return x;
  const double dx = x < lo ? lo - x : x - hi;
  const double n = std::floor(dx / range);
  const double r = dx - n * range;
  const bool even = std::fmod(n, 2.0) == 0;
  if (x < lo) return even ? lo + r : hi - r;
  return even ? hi - r : lo + r;
}

struct grid_tap_plan {
  int taps = 1;
  std::vector<i64> offset;    // [point * taps]: offset in a channel plane, -1 = zero padding
  std::vector<float> weight;  // [point * taps]
  // Per point: every tap inside the plane (or padded to inside), some tap a zero of the zeros
  // padding (offset -1), or a NaN/inf grid value (the output is NaN, as ONNX Runtime gives).
  enum : std::uint8_t { all_inside, some_outside, not_finite };
  std::vector<std::uint8_t> state;
};

template <class T>
void plan_grid(const T* grid, i64 points, i64 h, i64 w, grid_mode mode, grid_padding pad, bool align, grid_tap_plan& plan,
               thread_pool& pool) {
  const int taps = mode == grid_mode::nearest ? 1 : mode == grid_mode::bilinear ? 4 : 16;
  plan.taps = taps;
  plan.offset.assign(uz(points) * uz(taps), -1);
  plan.weight.assign(uz(points) * uz(taps), 0.0f);
  plan.state.assign(uz(points), grid_tap_plan::all_inside);
  const double x_lo = align ? 0.0 : -0.5;
  const double x_hi = align ? static_cast<double>(w - 1) : static_cast<double>(w) - 0.5;
  const double y_lo = align ? 0.0 : -0.5;
  const double y_hi = align ? static_cast<double>(h - 1) : static_cast<double>(h) - 0.5;
  // The plane offset of tap (r, c), padding applied; -1 for a zero.
  auto at = [&](i64 r, i64 c) -> i64 {
    switch (pad) {
      case grid_padding::zeros: return (r >= 0 && r < h && c >= 0 && c < w) ? r * w + c : -1;
      case grid_padding::border: return std::clamp<i64>(r, 0, h - 1) * w + std::clamp<i64>(c, 0, w - 1);
      case grid_padding::reflection: {
        const i64 rc = std::clamp<i64>(static_cast<i64>(reflect(static_cast<double>(r), y_lo, y_hi)), 0, h - 1);
        const i64 cc = std::clamp<i64>(static_cast<i64>(reflect(static_cast<double>(c), x_lo, x_hi)), 0, w - 1);
        return rc * w + cc;
      }
    }
    return -1;
  };
  pool.parallel_for(points, 1024, [&](i64 b, i64 e) {
    for (i64 p = b; p < e; ++p) {
      const T nx = grid[2 * p];
      const T ny = grid[2 * p + 1];
      if (!std::isfinite(nx) || !std::isfinite(ny)) {
        plan.state[uz(p)] = grid_tap_plan::not_finite;
        continue;
      }
      // Denormalize as ONNX Runtime does (in T); far-out coordinates are bounded so that the
      // integer conversions below stay defined (they only ever read padding there).
      T x = align ? static_cast<T>((nx + 1) / 2 * static_cast<T>(w - 1)) : static_cast<T>(((nx + 1) * static_cast<T>(w) - 1) / 2);
      T y = align ? static_cast<T>((ny + 1) / 2 * static_cast<T>(h - 1)) : static_cast<T>(((ny + 1) * static_cast<T>(h) - 1) / 2);
      const T bound = static_cast<T>(1e9);
      x = std::clamp(x, -bound, bound);
      y = std::clamp(y, -bound, bound);
      i64* off = plan.offset.data() + p * taps;
      float* wt = plan.weight.data() + p * taps;
      switch (mode) {
        case grid_mode::nearest: {
          off[0] = at(static_cast<i64>(std::nearbyint(y)), static_cast<i64>(std::nearbyint(x)));
          wt[0] = 1.0f;
          break;
        }
        case grid_mode::bilinear: {
          const i64 x1 = static_cast<i64>(std::floor(x));
          const i64 y1 = static_cast<i64>(std::floor(y));
          const T dx1 = x - static_cast<T>(x1);
          const T dx2 = static_cast<T>(x1 + 1) - x;
          const T dy1 = y - static_cast<T>(y1);
          const T dy2 = static_cast<T>(y1 + 1) - y;
          off[0] = at(y1, x1);
          off[1] = at(y1, x1 + 1);
          off[2] = at(y1 + 1, x1);
          off[3] = at(y1 + 1, x1 + 1);
          wt[0] = static_cast<float>(dy2 * dx2);
          wt[1] = static_cast<float>(dy2 * dx1);
          wt[2] = static_cast<float>(dy1 * dx2);
          wt[3] = static_cast<float>(dy1 * dx1);
          break;
        }
        case grid_mode::bicubic: {
          const i64 x0 = static_cast<i64>(std::floor(x)) - 1;
          const i64 y0 = static_cast<i64>(std::floor(y)) - 1;
          const std::array<float, 4> cx = cubic_weights(static_cast<float>(x - static_cast<T>(x0 + 1)), -0.75f);
          const std::array<float, 4> cy = cubic_weights(static_cast<float>(y - static_cast<T>(y0 + 1)), -0.75f);
          for (std::size_t i = 0; i < 4; ++i) {
            for (std::size_t j = 0; j < 4; ++j) {
              off[i * 4 + j] = at(y0 + sz(i), x0 + sz(j));
              wt[i * 4 + j] = cy[i] * cx[j];
            }
          }
          break;
        }
      }
      for (int k = 0; k < taps; ++k) {
        if (off[k] < 0) plan.state[uz(p)] = grid_tap_plan::some_outside;
      }
    }
  });
}

// One channel plane sampled at every grid point of a plan.
template <class T, int Taps>
void sample_plane(const T* plane, T* o, i64 points, const grid_tap_plan& plan) {
  const i64* off = plan.offset.data();
  const float* wt = plan.weight.data();
  for (i64 q = 0; q < points; ++q, off += Taps, wt += Taps) {
    const std::uint8_t state = plan.state[uz(q)];
    T acc = 0;
    if (state == grid_tap_plan::all_inside) {
      for (int k = 0; k < Taps; ++k) acc += static_cast<T>(wt[k]) * plane[off[k]];
    } else if (state == grid_tap_plan::some_outside) {
      for (int k = 0; k < Taps; ++k) {
        if (off[k] >= 0) acc += static_cast<T>(wt[k]) * plane[off[k]];
      }
    } else {
      acc = std::numeric_limits<T>::quiet_NaN();
    }
    o[q] = acc;
  }
}

result<std::unique_ptr<kernel>> make_grid_sample(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"align_corners", "mode", "padding_mode"}));
  const bool align = node.attr_int("align_corners", 0) != 0;
  const std::string m = node.attr_string("mode", "bilinear");
  grid_mode mode = grid_mode::bilinear;
  if (m == "nearest") mode = grid_mode::nearest;
  else if (m == "bicubic") mode = grid_mode::bicubic;
  else if (m != "bilinear") return node.unsupported("mode '" + m + "' of GridSample");
  const std::string p = node.attr_string("padding_mode", "zeros");
  grid_padding pad = grid_padding::zeros;
  if (p == "border") pad = grid_padding::border;
  else if (p == "reflection") pad = grid_padding::reflection;
  else if (p != "zeros") return node.unsupported("padding_mode '" + p + "' of GridSample");
  return make_kernel([align, mode, pad](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& g = ctx.in(1);
    if (x.rank() != 4) return ctx.unsupported("input of rank " + std::to_string(x.rank()) + " (GridSample takes 4-D inputs)");
    if (g.rank() != 4 || g.dim(3) != 2 || g.dim(0) != x.dim(0)) {
      return ctx.fail("grid has shape " + shape_string(g.shape()) + ", expected [" + std::to_string(x.dim(0)) + ",H_out,W_out,2]");
    }
    if (g.type() != x.type()) return ctx.fail("grid has type " + type_name(g.type()) + ", input " + type_name(x.type()));
    const i64 n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
    const i64 ho = g.dim(1), wo = g.dim(2);
    const i64 points = ho * wo;
    const mq::dtype type = x.type();
    tensor y = MQ_TRY(ctx.allocate(type, {n, c, ho, wo}));
    if (y.size() == 0) {
      ctx.set_output(0, std::move(y));
      return {};
    }
    if (h == 0 || w == 0) return ctx.fail("input has an empty plane " + shape_string(x.shape()));
    const bool known = visit_float(type, [&]<class T>() {
      const T* in = x.data<T>();
      const T* grid = g.data<T>();
      T* out = y.mutable_data<T>();
      grid_tap_plan plan;
      for (i64 b = 0; b < n; ++b) {
        plan_grid<T>(grid + b * points * 2, points, h, w, mode, pad, align, plan, ctx.pool());
        ctx.pool().parallel_for(c, std::max<i64>(1, 4096 / std::max<i64>(1, points)), [&](i64 c0, i64 c1) {
          for (i64 ch = c0; ch < c1; ++ch) {
            const T* plane = in + (b * c + ch) * h * w;
            T* o = out + (b * c + ch) * points;
            switch (plan.taps) {
              case 1: sample_plane<T, 1>(plane, o, points, plan); break;
              case 4: sample_plane<T, 4>(plane, o, points, plan); break;
              default: sample_plane<T, 16>(plane, o, points, plan); break;
            }
          }
        });
      }
    });
    if (!known) return ctx.unsupported("element type " + type_name(type));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

}  // namespace

void register_resize(op_registry& r) {
  r.add("Resize", make_resize, 10);
  r.add("Upsample", make_upsample, 7);
  r.add("GridSample", make_grid_sample, 16);
}

}  // namespace mq::exec::ops
