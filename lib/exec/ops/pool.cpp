// Pooling: MaxPool (with Indices), AveragePool, LpPool, their Global forms, and MaxUnpool.
//
// Every window of 1-D, 2-D and 3-D pooling is walked by one loop nest over three axes (missing
// leading axes have size 1). For each axis and output position, the range of kernel taps that
// fall inside the input is computed once, so the inner loops run without bounds checks. Planes
// (N x C) are split across threads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "exec/ops/common.h"
#include "exec/ops/conv.h"
#include "exec/ops/ops.h"

namespace mq::exec::ops {
namespace {

constexpr std::int64_t parallel_grain_work = 1 << 15;

enum class pool_kind { max, average, lp };

struct pool_attrs {
  pool_kind kind = pool_kind::max;
  std::vector<std::int64_t> kernel;
  std::vector<std::int64_t> strides;
  std::vector<std::int64_t> dilations;
  std::vector<std::int64_t> pads;
  pad_mode mode = pad_mode::notset;
  bool ceil_mode = false;
  bool count_include_pad = false;
  std::int64_t storage_order = 0;
  std::int64_t p = 2;
};

// One axis of the loop nest: per output position, the first input position and the taps inside
// the input [lo, hi).
struct axis_walk {
  std::int64_t in = 1;
  std::int64_t out = 1;
  std::int64_t dilation = 1;
  std::vector<std::int64_t> start, lo, hi;
};

std::vector<axis_walk> walks_of(const std::vector<window_axis>& w) {
  std::vector<axis_walk> ax(3);
  for (std::size_t j = 0; j < 3; ++j) {
    axis_walk& x = ax[j];
    const window_axis a = j + w.size() >= 3 ? w[j + w.size() - 3] : window_axis{};
    x.in = a.in;
    x.out = a.out;
    x.dilation = a.dilation;
    const auto n = static_cast<std::size_t>(x.out);
    x.start.resize(n);
    x.lo.resize(n);
    x.hi.resize(n);
    for (std::int64_t o = 0; o < x.out; ++o) {
      const auto k = static_cast<std::size_t>(o);
      const std::int64_t s = o * a.stride - a.pad_begin;
      const std::int64_t d = a.dilation;
      x.start[k] = s;
      std::int64_t lo = s >= 0 ? 0 : (-s + d - 1) / d;
      std::int64_t hi = x.in - 1 - s < 0 ? 0 : (x.in - 1 - s) / d + 1;
      hi = std::min(hi, a.kernel);
      lo = std::min(lo, hi);
      x.lo[k] = lo;
      x.hi[k] = hi;
    }
  }
  return ax;
}

template <class T>
void max_pool_plane(const T* x, T* y, std::int64_t* indices, std::int64_t plane, const std::vector<axis_walk>& ax,
                    std::int64_t storage_order) {
  const axis_walk& a0 = ax[0];
  const axis_walk& a1 = ax[1];
  const axis_walk& a2 = ax[2];
  const std::int64_t plane_size = a0.in * a1.in * a2.in;
  std::int64_t o = 0;
  for (std::int64_t o0 = 0; o0 < a0.out; ++o0) {
    const auto k0 = static_cast<std::size_t>(o0);
    for (std::int64_t o1 = 0; o1 < a1.out; ++o1) {
      const auto k1 = static_cast<std::size_t>(o1);
      for (std::int64_t o2 = 0; o2 < a2.out; ++o2, ++o) {
        const auto k2 = static_cast<std::size_t>(o2);
        T best = std::numeric_limits<T>::lowest();
        std::int64_t b0 = -1, b1 = -1, b2 = -1;
        for (std::int64_t t0 = a0.lo[k0]; t0 < a0.hi[k0]; ++t0) {
          const std::int64_t i0 = a0.start[k0] + t0 * a0.dilation;
          for (std::int64_t t1 = a1.lo[k1]; t1 < a1.hi[k1]; ++t1) {
            const std::int64_t i1 = a1.start[k1] + t1 * a1.dilation;
            const T* row = x + (i0 * a1.in + i1) * a2.in;
            for (std::int64_t t2 = a2.lo[k2]; t2 < a2.hi[k2]; ++t2) {
              const std::int64_t i2 = a2.start[k2] + t2 * a2.dilation;
              if (b0 < 0 || row[i2] > best) {
                best = row[i2];
                b0 = i0;
                b1 = i1;
                b2 = i2;
              }
            }
          }
        }
        y[o] = best;
        if (indices != nullptr) {
          const std::int64_t at = b0 < 0 ? 0
                                  : storage_order == 0 ? (b0 * a1.in + b1) * a2.in + b2
                                                       : b0 + b1 * a0.in + b2 * a0.in * a1.in;
          indices[o] = plane * plane_size + at;
        }
      }
    }
  }
}

// The 2-D float MaxPool of real models (SPPF's 5x5 stride 1, 3x3 stride 2), without Indices and
// dilation: separable, a running maximum along each row into a buffer, then down the columns (2k
// instead of k^2 comparisons per output, vectorizable). The same values as max_pool_plane, NaN
// included: the window walk starts from its top-left tap and takes a later one only when it
// compares greater, so the result is NaN exactly when the top-left tap is, else the largest
// non-NaN tap. The passes here skip NaN (a NaN is replaced by any later value) and the top-left
// rule is applied at the end.
bool separable_max_applies(const std::vector<axis_walk>& ax) {
  if (ax[0].in != 1 || ax[0].out != 1 || ax[1].dilation != 1 || ax[2].dilation != 1) return false;
  for (std::size_t j = 1; j < 3; ++j) {
    for (std::size_t k = 0; k < ax[j].lo.size(); ++k) {
      if (ax[j].lo[k] >= ax[j].hi[k]) return false;  // an empty window: the generic path's rule
    }
  }
  return true;
}

void max_pool_plane_separable(const float* x, float* y, const std::vector<axis_walk>& ax, std::vector<float>& rows) {
  const axis_walk& a1 = ax[1];
  const axis_walk& a2 = ax[2];
  rows.resize(static_cast<std::size_t>(a1.in * a2.out));
  for (std::int64_t r = 0; r < a1.in; ++r) {
    const float* in = x + r * a2.in;
    float* out = rows.data() + r * a2.out;
    for (std::int64_t o = 0; o < a2.out; ++o) {
      const auto k = static_cast<std::size_t>(o);
      const float* p = in + a2.start[k];
      float m = p[a2.lo[k]];
      for (std::int64_t t = a2.lo[k] + 1; t < a2.hi[k]; ++t) m = (p[t] > m || m != m) ? p[t] : m;
      out[o] = m;
    }
  }
  for (std::int64_t o1 = 0; o1 < a1.out; ++o1) {
    const auto k = static_cast<std::size_t>(o1);
    float* out = y + o1 * a2.out;
    const float* first = rows.data() + (a1.start[k] + a1.lo[k]) * a2.out;
    std::copy(first, first + a2.out, out);
    for (std::int64_t t = a1.lo[k] + 1; t < a1.hi[k]; ++t) {
      const float* row = rows.data() + (a1.start[k] + t) * a2.out;
      for (std::int64_t o2 = 0; o2 < a2.out; ++o2) out[o2] = (row[o2] > out[o2] || out[o2] != out[o2]) ? row[o2] : out[o2];
    }
    const float* top = x + (a1.start[k] + a1.lo[k]) * a2.in;
    for (std::int64_t o2 = 0; o2 < a2.out; ++o2) {
      const auto k2 = static_cast<std::size_t>(o2);
      if (std::isnan(top[a2.start[k2] + a2.lo[k2]])) out[o2] = top[a2.start[k2] + a2.lo[k2]];
    }
  }
}

// AveragePool and LpPool. With count_include_pad every window counts all its taps (as ONNX
// Runtime does up to opset 18, also for the part of a ceil_mode window beyond the padding).
template <class T>
void average_pool_plane(const T* x, T* y, const std::vector<axis_walk>& ax, bool count_include_pad, std::int64_t taps,
                        pool_kind kind, std::int64_t p) {
  const axis_walk& a0 = ax[0];
  const axis_walk& a1 = ax[1];
  const axis_walk& a2 = ax[2];
  std::int64_t o = 0;
  for (std::int64_t o0 = 0; o0 < a0.out; ++o0) {
    const auto k0 = static_cast<std::size_t>(o0);
    for (std::int64_t o1 = 0; o1 < a1.out; ++o1) {
      const auto k1 = static_cast<std::size_t>(o1);
      for (std::int64_t o2 = 0; o2 < a2.out; ++o2, ++o) {
        const auto k2 = static_cast<std::size_t>(o2);
        T sum = 0;
        for (std::int64_t t0 = a0.lo[k0]; t0 < a0.hi[k0]; ++t0) {
          const std::int64_t i0 = a0.start[k0] + t0 * a0.dilation;
          for (std::int64_t t1 = a1.lo[k1]; t1 < a1.hi[k1]; ++t1) {
            const std::int64_t i1 = a1.start[k1] + t1 * a1.dilation;
            const std::int64_t base = (i0 * a1.in + i1) * a2.in + a2.start[k2];
            const std::int64_t d2 = a2.dilation;
            if (kind == pool_kind::lp) {
              for (std::int64_t t2 = a2.lo[k2]; t2 < a2.hi[k2]; ++t2) {
                const T v = std::fabs(x[base + t2 * d2]);
                sum += p == 1 ? v : p == 2 ? v * v : static_cast<T>(std::pow(v, static_cast<T>(p)));
              }
            } else {
              for (std::int64_t t2 = a2.lo[k2]; t2 < a2.hi[k2]; ++t2) sum += x[base + t2 * d2];
            }
          }
        }
        if (kind == pool_kind::lp) {
          y[o] = p == 1 ? sum : p == 2 ? std::sqrt(sum) : static_cast<T>(std::pow(sum, T{1} / static_cast<T>(p)));
          continue;
        }
        const std::int64_t count =
            count_include_pad ? taps : (a0.hi[k0] - a0.lo[k0]) * (a1.hi[k1] - a1.lo[k1]) * (a2.hi[k2] - a2.lo[k2]);
        y[o] = count > 0 ? sum / static_cast<T>(count) : T{0};
      }
    }
  }
}

result<pool_attrs> read_pool_attrs(const node_info& node, pool_kind kind) {
  pool_attrs a;
  a.kind = kind;
  switch (kind) {
    case pool_kind::max:
      MQ_TRY_VOID(node.only_attributes({"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}));
      break;
    case pool_kind::average:
      MQ_TRY_VOID(node.only_attributes({"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"}));
      break;
    case pool_kind::lp:
      MQ_TRY_VOID(node.only_attributes({"auto_pad", "ceil_mode", "dilations", "kernel_shape", "p", "pads", "strides"}));
      break;
  }
  MQ_TRY_VOID(check_window_attributes(node));
  if (!node.has_attribute("kernel_shape")) return node.invalid("attribute 'kernel_shape' is required");
  a.kernel = node.attr_ints("kernel_shape");
  a.strides = node.attr_ints("strides");
  a.dilations = node.attr_ints("dilations");
  a.pads = node.attr_ints("pads");
  a.mode = MQ_TRY(read_auto_pad(node));
  a.ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  a.count_include_pad = node.attr_int("count_include_pad", 0) != 0;
  a.storage_order = node.attr_int("storage_order", 0);
  if (a.storage_order != 0 && a.storage_order != 1) return node.invalid("storage_order must be 0 or 1");
  a.p = node.attr_int("p", 2);
  if (kind == pool_kind::lp && a.p < 1) return node.unsupported("p " + std::to_string(a.p) + " (LpPool needs p >= 1)");
  if (kind != pool_kind::max && node.output_count() > 1) return node.invalid("has more than one output");
  return a;
}

template <class T>
result<void> run_pool(run_context& ctx, const pool_attrs& a, const tensor& x, const std::vector<window_axis>& w) {
  const std::vector<axis_walk> ax = walks_of(w);
  shape_t ys = {x.dim(0), x.dim(1)};
  for (const auto& axis : w) ys.push_back(axis.out);
  const T* px = x.data<T>();
  const std::int64_t planes = x.dim(0) * x.dim(1);
  const std::int64_t in_size = ax[0].in * ax[1].in * ax[2].in;
  const std::int64_t out_size = ax[0].out * ax[1].out * ax[2].out;
  tensor y = MQ_TRY(ctx.allocate(x.type(), ys));
  tensor indices;
  const bool want_indices = a.kind == pool_kind::max && ctx.output_count() > 1;
  if (want_indices) indices = MQ_TRY(ctx.allocate(mq::dtype::int64, ys));
  T* py = y.mutable_data<T>();
  std::int64_t* pi = want_indices ? indices.mutable_data<std::int64_t>() : nullptr;
  std::int64_t taps = 1;
  for (const auto& axis : w) taps *= axis.kernel;
  const std::int64_t grain = std::max<std::int64_t>(1, parallel_grain_work / std::max<std::int64_t>(1, out_size * taps));
  if constexpr (std::is_same_v<T, float>) {
    if (a.kind == pool_kind::max && !want_indices && separable_max_applies(ax)) {
      ctx.pool().parallel_for(planes, grain, [&](std::int64_t begin, std::int64_t end) {
        std::vector<float> rows;
        for (std::int64_t c = begin; c < end; ++c) max_pool_plane_separable(px + c * in_size, py + c * out_size, ax, rows);
      });
      ctx.set_output(0, std::move(y));
      return {};
    }
  }
  ctx.pool().parallel_for(planes, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) {
      if (a.kind == pool_kind::max) {
        max_pool_plane<T>(px + c * in_size, py + c * out_size, pi != nullptr ? pi + c * out_size : nullptr, c, ax,
                          a.storage_order);
      } else if constexpr (std::is_floating_point_v<T>) {
        average_pool_plane<T>(px + c * in_size, py + c * out_size, ax, a.count_include_pad, taps, a.kind, a.p);
      }
    }
  });
  ctx.set_output(0, std::move(y));
  if (want_indices) ctx.set_output(1, std::move(indices));
  return {};
}

result<std::unique_ptr<kernel>> make_pool(node_info& node, pool_kind kind) {
  const pool_attrs a = MQ_TRY(read_pool_attrs(node, kind));
  return make_kernel([a](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.rank() < 3) return ctx.fail("input X has shape " + shape_string(x.shape()) + ", expected (N, C, spatial...)");
    if (x.rank() > 5) return ctx.unsupported("pooling over " + std::to_string(x.rank() - 2) + " spatial axes (at most 3)");
    const std::vector<window_axis> w = MQ_TRY(spatial_windows(ctx, x.shape(), a.kernel, a.strides, a.dilations, a.pads, a.mode, a.ceil_mode));
    switch (x.type()) {
      case mq::dtype::float32: return run_pool<float>(ctx, a, x, w);
      case mq::dtype::float64: return run_pool<double>(ctx, a, x, w);
      case mq::dtype::int8:
        if (a.kind == pool_kind::max) return run_pool<std::int8_t>(ctx, a, x, w);
        break;
      case mq::dtype::uint8:
        if (a.kind == pool_kind::max) return run_pool<std::uint8_t>(ctx, a, x, w);
        break;
      default: break;
    }
    return ctx.unsupported("element type " + type_name(x.type()));
  });
}

// ---- Global pooling ---------------------------------------------------------------------------

template <class T>
void global_pool(thread_pool& pool, pool_kind kind, std::int64_t p, const T* x, T* y, std::int64_t planes,
                 std::int64_t size) {
  const std::int64_t grain = std::max<std::int64_t>(1, parallel_grain_work / std::max<std::int64_t>(1, size));
  pool.parallel_for(planes, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) {
      const T* v = x + c * size;
      if (kind == pool_kind::max) {
        T best = v[0];
        for (std::int64_t i = 1; i < size; ++i) best = v[i] > best ? v[i] : best;
        y[c] = best;
      } else if (kind == pool_kind::average) {
        double sum = 0;
        for (std::int64_t i = 0; i < size; ++i) sum += static_cast<double>(v[i]);
        y[c] = static_cast<T>(sum / static_cast<double>(size));
      } else {
        double sum = 0;
        for (std::int64_t i = 0; i < size; ++i) {
          const double a = std::fabs(static_cast<double>(v[i]));
          sum += p == 1 ? a : p == 2 ? a * a : std::pow(a, static_cast<double>(p));
        }
        y[c] = static_cast<T>(p == 1 ? sum : p == 2 ? std::sqrt(sum) : std::pow(sum, 1.0 / static_cast<double>(p)));
      }
    }
  });
}

result<std::unique_ptr<kernel>> make_global_pool(node_info& node, pool_kind kind) {
  if (kind == pool_kind::lp) {
    MQ_TRY_VOID(node.only_attributes({"p"}));
  } else {
    MQ_TRY_VOID(node.only_attributes({}));
  }
  const std::int64_t p = node.attr_int("p", 2);
  if (p < 1) return node.unsupported("p " + std::to_string(p) + " (GlobalLpPool needs p >= 1)");
  return make_kernel([kind, p](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.rank() < 3) return ctx.fail("input X has shape " + shape_string(x.shape()) + ", expected (N, C, spatial...)");
    shape_t ys(x.rank(), 1);
    ys[0] = x.dim(0);
    ys[1] = x.dim(1);
    const std::int64_t planes = x.dim(0) * x.dim(1);
    const std::int64_t size = planes == 0 ? 0 : x.size() / planes;
    if (size == 0 && planes != 0) return ctx.fail("input X " + shape_string(x.shape()) + " has an empty spatial extent");
    const void* px = x.raw();
    tensor y = MQ_TRY(ctx.allocate(x.type(), ys));
    bool known = visit_float(x.type(), [&]<class T>() {
      global_pool<T>(ctx.pool(), kind, p, static_cast<const T*>(px), y.mutable_data<T>(), planes, size);
    });
    if (!known) return ctx.unsupported("element type " + type_name(x.type()));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- MaxUnpool --------------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_max_unpool(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"kernel_shape", "pads", "strides"}));
  MQ_TRY_VOID(check_window_attributes(node));
  if (!node.has_attribute("kernel_shape")) return node.invalid("attribute 'kernel_shape' is required");
  const std::vector<std::int64_t> kernel_dims = node.attr_ints("kernel_shape");
  const std::vector<std::int64_t> strides = node.attr_ints("strides");
  const std::vector<std::int64_t> pads = node.attr_ints("pads");
  return make_kernel([kernel_dims, strides, pads](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& ind = ctx.in(1);
    if (x.rank() < 3) return ctx.fail("input X has shape " + shape_string(x.shape()) + ", expected (N, C, spatial...)");
    const std::size_t r = x.rank() - 2;
    if (kernel_dims.size() != r || (!strides.empty() && strides.size() != r) || (!pads.empty() && pads.size() != 2 * r)) {
      return ctx.fail("kernel_shape, strides or pads do not match the input " + shape_string(x.shape()));
    }
    if (ind.type() != mq::dtype::int64 || ind.shape() != x.shape()) {
      return ctx.fail("indices I (" + type_name(ind.type()) + " " + shape_string(ind.shape()) +
                      ") must be int64 with the shape of X " + shape_string(x.shape()));
    }
    shape_t ys = {x.dim(0), x.dim(1)};
    for (std::size_t i = 0; i < r; ++i) {
      const std::int64_t s = strides.empty() ? 1 : strides[i];
      const std::int64_t pb = pads.empty() ? 0 : pads[i];
      const std::int64_t pe = pads.empty() ? 0 : pads[i + r];
      ys.push_back((x.dim(i + 2) - 1) * s + kernel_dims[i] - pb - pe);
    }
    for (std::size_t i = 2; i < ys.size(); ++i) {
      if (ys[i] <= 0) return ctx.fail("the inferred output shape " + shape_string(ys) + " is empty");
    }
    // The indices address the inferred shape (that of MaxPool's input); a larger output_shape
    // places each element at the same coordinates in the larger tensor.
    const shape_t inferred = ys;
    if (ctx.has_input(2)) {
      const std::vector<std::int64_t> given = MQ_TRY(read_ints(ctx, 2, "output_shape"));
      if (given.size() != x.rank() || given[0] != x.dim(0) || given[1] != x.dim(1)) {
        return ctx.fail("output_shape " + shape_string(given) + " does not fit the input " + shape_string(x.shape()));
      }
      ys = given;
    }
    const std::size_t size = exec_element_size(x.type());
    if (size == 0) return ctx.unsupported("element type " + type_name(x.type()));
    const std::byte* px = static_cast<const std::byte*>(x.raw());
    const std::int64_t* pi = ind.data<std::int64_t>();
    const std::int64_t count = x.size();
    const std::int64_t limit = element_count(inferred);
    tensor y = MQ_TRY(ctx.allocate_zeros(x.type(), ys));
    auto* py = static_cast<std::byte*>(y.mutable_raw());
    const bool same = ys == inferred;
    for (std::int64_t i = 0; i < count; ++i) {
      std::int64_t at = pi[i];
      if (at < 0 || at >= limit) {
        return ctx.fail("index " + std::to_string(at) + " is out of range for the unpooled shape " + shape_string(inferred));
      }
      if (!same) {
        std::int64_t rest = at;
        std::int64_t mapped = 0;
        std::int64_t scale = 1;
        for (std::size_t d = inferred.size(); d-- > 0;) {
          const std::int64_t coord = rest % inferred[d];
          rest /= inferred[d];
          if (coord >= ys[d]) {
            return ctx.fail("index " + std::to_string(at) + " falls outside output_shape " + shape_string(ys));
          }
          mapped += coord * scale;
          scale *= ys[d];
        }
        at = mapped;
      }
      std::memcpy(py + static_cast<std::size_t>(at) * size, px + static_cast<std::size_t>(i) * size, size);
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

}  // namespace

void register_pool(op_registry& r) {
  r.add("MaxPool", [](node_info& n) { return make_pool(n, pool_kind::max); }, 1);
  r.add("AveragePool", [](node_info& n) { return make_pool(n, pool_kind::average); }, 1);
  r.add("LpPool", [](node_info& n) { return make_pool(n, pool_kind::lp); }, 2);
  r.add("GlobalMaxPool", [](node_info& n) { return make_global_pool(n, pool_kind::max); }, 1);
  r.add("GlobalAveragePool", [](node_info& n) { return make_global_pool(n, pool_kind::average); }, 1);
  r.add("GlobalLpPool", [](node_info& n) { return make_global_pool(n, pool_kind::lp); }, 2);
  r.add("MaxUnpool", make_max_unpool, 9);
}

}  // namespace mq::exec::ops
