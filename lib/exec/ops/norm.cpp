// Normalizations: BatchNormalization (inference form), InstanceNormalization, LayerNormalization
// (with its Mean and InvStdDev outputs), LRN and MeanVarianceNormalization. Statistics are summed in
// double; planes or rows are split across threads.
#include <algorithm>
#include <cmath>
#include <string>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"

namespace mq::exec::ops {
namespace {

constexpr std::int64_t parallel_grain_work = 1 << 15;

std::int64_t grain_for(std::int64_t work_per_item) {
  return std::max<std::int64_t>(1, parallel_grain_work / std::max<std::int64_t>(1, work_per_item));
}

// Element i of a float or double tensor as double.
double value_at(const tensor& t, std::int64_t i) {
  return t.type() == mq::dtype::float64 ? t.data<double>()[i] : static_cast<double>(t.data<float>()[i]);
}

// ---- BatchNormalization -------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_batch_norm(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"epsilon", "momentum", "spatial", "training_mode"}));
  if (node.attr_int("training_mode", 0) != 0) return node.unsupported("training_mode 1 of BatchNormalization");
  for (std::size_t k = 1; k < node.output_count(); ++k) {
    if (node.has_output(k)) return node.unsupported("BatchNormalization's training outputs (running or saved mean and variance)");
  }
  const bool spatial = node.attr_int("spatial", 1) != 0;
  const double eps = node.attr_float("epsilon", 1e-5f);
  return make_kernel([spatial, eps](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.type() != mq::dtype::float32 && x.type() != mq::dtype::float64) return ctx.unsupported("element type " + type_name(x.type()));
    if (x.rank() < 2) return ctx.fail("input X has shape " + shape_string(x.shape()) + ", expected (N, C, ...)");
    const std::int64_t n = x.dim(0);
    const std::int64_t c = x.dim(1);
    const std::int64_t inner = x.size() / std::max<std::int64_t>(1, n * c);
    const std::int64_t params = ctx.in(1).size();
    for (std::size_t k = 1; k < 5; ++k) {
      const tensor& p = ctx.in(k);
      static const char* names[] = {"", "scale", "B", "input_mean", "input_var"};
      if (p.type() != mq::dtype::float32 && p.type() != mq::dtype::float64) {
        return ctx.unsupported("element type " + type_name(p.type()) + " of " + names[k]);
      }
      if (p.size() != params) {
        return ctx.fail(std::string(names[k]) + " has shape " + shape_string(p.shape()) + ", scale " + shape_string(ctx.in(1).shape()));
      }
    }
    // Per channel, or with spatial 0 (opset 7) per channel and position.
    const bool per_element = params != c && !spatial && params == c * inner;
    if (params != c && !per_element) {
      return ctx.fail("scale has " + std::to_string(params) + " values, input X " + shape_string(x.shape()) + " has " +
                      std::to_string(c) + " channels");
    }
    std::vector<double> a(static_cast<std::size_t>(params));
    std::vector<double> b(static_cast<std::size_t>(params));
    for (std::int64_t i = 0; i < params; ++i) {
      const double s = value_at(ctx.in(1), i) / std::sqrt(value_at(ctx.in(4), i) + eps);
      a[static_cast<std::size_t>(i)] = s;
      b[static_cast<std::size_t>(i)] = value_at(ctx.in(2), i) - value_at(ctx.in(3), i) * s;
    }
    const shape_t shape = x.shape();
    const mq::dtype type = x.type();
    const void* px = x.raw();
    tensor y = MQ_TRY(ctx.reuse_or_allocate(0, type, shape));
    visit_float(type, [&]<class T>() {
      const T* in = static_cast<const T*>(px);
      T* out = y.mutable_data<T>();
      ctx.pool().parallel_for(n * c, grain_for(inner), [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t plane = begin; plane < end; ++plane) {
          const std::int64_t ch = plane % c;
          const T* xi = in + plane * inner;
          T* yi = out + plane * inner;
          if (per_element) {
            const double* pa = a.data() + ch * inner;
            const double* pb = b.data() + ch * inner;
            for (std::int64_t i = 0; i < inner; ++i) yi[i] = static_cast<T>(xi[i] * pa[i] + pb[i]);
          } else {
            const T s = static_cast<T>(a[static_cast<std::size_t>(ch)]);
            const T t = static_cast<T>(b[static_cast<std::size_t>(ch)]);
            for (std::int64_t i = 0; i < inner; ++i) yi[i] = xi[i] * s + t;
          }
        }
      });
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- InstanceNormalization --------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_instance_norm(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"epsilon"}));
  const double eps = node.attr_float("epsilon", 1e-5f);
  return make_kernel([eps](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& scale = ctx.in(1);
    const tensor& bias = ctx.in(2);
    if (x.type() != mq::dtype::float32 && x.type() != mq::dtype::float64) return ctx.unsupported("element type " + type_name(x.type()));
    if (scale.type() != x.type() || bias.type() != x.type()) return ctx.fail("scale and B must have the type of input X");
    if (x.rank() < 3) return ctx.fail("input X has shape " + shape_string(x.shape()) + ", expected (N, C, spatial...)");
    const std::int64_t n = x.dim(0);
    const std::int64_t c = x.dim(1);
    if (scale.size() != c || bias.size() != c) {
      return ctx.fail("scale " + shape_string(scale.shape()) + " and B " + shape_string(bias.shape()) + " need " +
                      std::to_string(c) + " values (the channels of X)");
    }
    const std::int64_t inner = x.size() / std::max<std::int64_t>(1, n * c);
    const shape_t shape = x.shape();
    const mq::dtype type = x.type();
    const void* px = x.raw();
    const tensor* ps = &scale;
    const tensor* pb = &bias;
    tensor y = MQ_TRY(ctx.reuse_or_allocate(0, type, shape));
    visit_float(type, [&]<class T>() {
      const T* in = static_cast<const T*>(px);
      T* out = y.mutable_data<T>();
      const T* sc = ps->data<T>();
      const T* bi = pb->data<T>();
      ctx.pool().parallel_for(n * c, grain_for(3 * inner), [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t plane = begin; plane < end; ++plane) {
          const std::int64_t ch = plane % c;
          const T* xi = in + plane * inner;
          T* yi = out + plane * inner;
          double sum = 0;
          for (std::int64_t i = 0; i < inner; ++i) sum += static_cast<double>(xi[i]);
          const double mean = inner > 0 ? sum / static_cast<double>(inner) : 0.0;
          double sq = 0;
          for (std::int64_t i = 0; i < inner; ++i) {
            const double d = static_cast<double>(xi[i]) - mean;
            sq += d * d;
          }
          const double var = inner > 0 ? sq / static_cast<double>(inner) : 0.0;
          const double s = static_cast<double>(sc[ch]) / std::sqrt(var + eps);
          const double t = static_cast<double>(bi[ch]) - mean * s;
          for (std::int64_t i = 0; i < inner; ++i) yi[i] = static_cast<T>(static_cast<double>(xi[i]) * s + t);
        }
      });
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- LayerNormalization -----------------------------------------------------------------------

// The values of `p` broadcast (unidirectionally) to `shape`, as T.
template <class T>
result<std::vector<T>> expand_to(const run_context& ctx, const tensor& p, const shape_t& shape, const char* what) {
  auto b = broadcast_shapes(p.shape(), shape);
  if (!b || *b != shape) {
    return ctx.fail(std::string(what) + " " + shape_string(p.shape()) + " does not broadcast to the normalized shape " + shape_string(shape));
  }
  const std::vector<std::int64_t> st = broadcast_strides(p.shape(), shape);
  std::vector<T> out(static_cast<std::size_t>(element_count(shape)));
  std::vector<std::int64_t> idx(shape.size(), 0);
  std::int64_t src = 0;
  const T* v = p.data<T>();
  for (auto& o : out) {
    o = v[src];
    for (std::size_t d = shape.size(); d-- > 0;) {
      src += st[d];
      if (++idx[d] < shape[d]) break;
      src -= st[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

result<std::unique_ptr<kernel>> make_layer_norm(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axis", "epsilon", "stash_type"}));
  const std::int64_t axis_attr = node.attr_int("axis", -1);
  const double eps = node.attr_float("epsilon", 1e-5f);
  if (node.attr_int("stash_type", 1) != 1) {
    return node.unsupported("stash_type " + std::to_string(node.attr_int("stash_type", 1)) + " (only 1, float)");
  }
  return make_kernel([axis_attr, eps](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& scale = ctx.in(1);
    const tensor* bias = ctx.has_input(2) ? &ctx.in(2) : nullptr;
    if (x.type() != mq::dtype::float32 && x.type() != mq::dtype::float64) return ctx.unsupported("element type " + type_name(x.type()));
    if (scale.type() != x.type() || (bias != nullptr && bias->type() != x.type())) {
      return ctx.fail("Scale and B must have the type of input X");
    }
    const std::size_t axis = MQ_TRY(axis_for(ctx, axis_attr, std::max<std::size_t>(x.rank(), 1)));
    const shape_t norm_shape(x.shape().begin() + static_cast<std::ptrdiff_t>(axis), x.shape().end());
    const std::int64_t inner = element_count(norm_shape);
    const std::int64_t rows = inner == 0 ? 0 : x.size() / inner;
    shape_t stat_shape = x.shape();
    for (std::size_t d = axis; d < stat_shape.size(); ++d) stat_shape[d] = 1;
    const shape_t shape = x.shape();
    const mq::dtype type = x.type();
    const void* px = x.raw();
    tensor mean_t;
    tensor inv_t;
    const bool want_mean = ctx.output_count() > 1;
    const bool want_inv = ctx.output_count() > 2;
    if (want_mean) mean_t = MQ_TRY(ctx.allocate(mq::dtype::float32, stat_shape));
    if (want_inv) inv_t = MQ_TRY(ctx.allocate(mq::dtype::float32, stat_shape));
    tensor y;
    result<void> status;
    visit_float(type, [&]<class T>() {
      auto sc = expand_to<T>(ctx, scale, norm_shape, "Scale");
      if (!sc) {
        status = unexpected_error{std::move(sc).error()};
        return;
      }
      std::vector<T> bi;
      if (bias != nullptr) {
        auto b = expand_to<T>(ctx, *bias, norm_shape, "B");
        if (!b) {
          status = unexpected_error{std::move(b).error()};
          return;
        }
        bi = std::move(*b);
      }
      auto out_t = ctx.reuse_or_allocate(0, type, shape);
      if (!out_t) {
        status = unexpected_error{std::move(out_t).error()};
        return;
      }
      y = std::move(*out_t);
      const T* in = static_cast<const T*>(px);
      T* out = y.mutable_data<T>();
      float* pm = want_mean ? mean_t.mutable_data<float>() : nullptr;
      float* pi = want_inv ? inv_t.mutable_data<float>() : nullptr;
      const T* s = sc->data();
      const T* b = bi.empty() ? nullptr : bi.data();
      ctx.pool().parallel_for(rows, grain_for(3 * inner), [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) {
          const T* xi = in + r * inner;
          T* yi = out + r * inner;
          double sum = 0;
          for (std::int64_t i = 0; i < inner; ++i) sum += static_cast<double>(xi[i]);
          const double mean = sum / static_cast<double>(inner);
          double sq = 0;
          for (std::int64_t i = 0; i < inner; ++i) {
            const double d = static_cast<double>(xi[i]) - mean;
            sq += d * d;
          }
          const double inv = 1.0 / std::sqrt(sq / static_cast<double>(inner) + eps);
          for (std::int64_t i = 0; i < inner; ++i) {
            const double v = (static_cast<double>(xi[i]) - mean) * inv * static_cast<double>(s[i]);
            yi[i] = static_cast<T>(b != nullptr ? v + static_cast<double>(b[i]) : v);
          }
          if (pm != nullptr) pm[r] = static_cast<float>(mean);
          if (pi != nullptr) pi[r] = static_cast<float>(inv);
        }
      });
    });
    MQ_TRY_VOID(status);
    ctx.set_output(0, std::move(y));
    if (want_mean) ctx.set_output(1, std::move(mean_t));
    if (want_inv) ctx.set_output(2, std::move(inv_t));
    return {};
  });
}

// ---- LRN ----------------------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_lrn(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"alpha", "beta", "bias", "size"}));
  if (!node.has_attribute("size")) return node.invalid("attribute 'size' is required");
  const std::int64_t size = node.attr_int("size", 1);
  if (size < 1) return node.invalid("size " + std::to_string(size) + " is not positive");
  const double alpha = node.attr_float("alpha", 1e-4f);
  const double beta = node.attr_float("beta", 0.75f);
  const double bias = node.attr_float("bias", 1.0f);
  return make_kernel([size, alpha, beta, bias](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.type() != mq::dtype::float32 && x.type() != mq::dtype::float64) return ctx.unsupported("element type " + type_name(x.type()));
    if (x.rank() < 3) return ctx.fail("input X has shape " + shape_string(x.shape()) + ", expected (N, C, spatial...)");
    const std::int64_t n = x.dim(0);
    const std::int64_t c = x.dim(1);
    const std::int64_t inner = x.size() / std::max<std::int64_t>(1, n * c);
    const std::int64_t before = (size - 1) / 2;
    const std::int64_t after = size - 1 - before;
    const double scale = alpha / static_cast<double>(size);
    const shape_t shape = x.shape();
    const mq::dtype type = x.type();
    const void* px = x.raw();
    tensor y = MQ_TRY(ctx.allocate(type, shape));
    visit_float(type, [&]<class T>() {
      const T* in = static_cast<const T*>(px);
      T* out = y.mutable_data<T>();
      ctx.pool().parallel_for(n * c, grain_for(size * inner), [&](std::int64_t begin, std::int64_t end) {
        std::vector<double> sq(static_cast<std::size_t>(inner));
        for (std::int64_t plane = begin; plane < end; ++plane) {
          const std::int64_t img = plane / c;
          const std::int64_t ch = plane % c;
          std::fill(sq.begin(), sq.end(), 0.0);
          for (std::int64_t k = std::max<std::int64_t>(0, ch - before); k <= std::min(c - 1, ch + after); ++k) {
            const T* xk = in + (img * c + k) * inner;
            for (std::int64_t i = 0; i < inner; ++i) sq[static_cast<std::size_t>(i)] += static_cast<double>(xk[i]) * static_cast<double>(xk[i]);
          }
          const T* xi = in + plane * inner;
          T* yi = out + plane * inner;
          for (std::int64_t i = 0; i < inner; ++i) {
            yi[i] = static_cast<T>(static_cast<double>(xi[i]) / std::pow(bias + scale * sq[static_cast<std::size_t>(i)], beta));
          }
        }
      });
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- MeanVarianceNormalization ----------------------------------------------------------------

result<std::unique_ptr<kernel>> make_mvn(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axes"}));
  const std::vector<std::int64_t> axes = node.has_attribute("axes") ? node.attr_ints("axes") : std::vector<std::int64_t>{0, 2, 3};
  return make_kernel([axes](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.type() != mq::dtype::float32 && x.type() != mq::dtype::float64) return ctx.unsupported("element type " + type_name(x.type()));
    const std::size_t rank = x.rank();
    std::vector<bool> reduced(rank, false);
    for (auto a : axes) {
      const std::size_t k = MQ_TRY(axis_for(ctx, a, rank));
      if (reduced[k]) return ctx.fail("axes " + shape_string(axes) + " name axis " + std::to_string(k) + " twice");
      reduced[k] = true;
    }
    // Each element's group: its coordinates along the kept axes.
    const shape_t& shape = x.shape();
    std::vector<std::int64_t> group_stride(rank, 0);
    std::int64_t groups = 1;
    for (std::size_t d = rank; d-- > 0;) {
      if (!reduced[d]) {
        group_stride[d] = groups;
        groups *= shape[d];
      }
    }
    const std::int64_t count = x.size();
    const std::int64_t per_group = groups == 0 ? 0 : count / groups;
    std::vector<std::int64_t> group_of(static_cast<std::size_t>(count));
    {
      std::vector<std::int64_t> idx(rank, 0);
      std::int64_t g = 0;
      for (auto& o : group_of) {
        o = g;
        for (std::size_t d = rank; d-- > 0;) {
          g += group_stride[d];
          if (++idx[d] < shape[d]) break;
          g -= group_stride[d] * shape[d];
          idx[d] = 0;
        }
      }
    }
    const mq::dtype type = x.type();
    const void* px = x.raw();
    tensor y = MQ_TRY(ctx.allocate(type, shape));
    visit_float(type, [&]<class T>() {
      const T* in = static_cast<const T*>(px);
      T* out = y.mutable_data<T>();
      std::vector<double> mean(static_cast<std::size_t>(groups), 0.0);
      std::vector<double> var(static_cast<std::size_t>(groups), 0.0);
      for (std::int64_t i = 0; i < count; ++i) mean[static_cast<std::size_t>(group_of[static_cast<std::size_t>(i)])] += static_cast<double>(in[i]);
      for (auto& m : mean) m /= static_cast<double>(per_group);
      for (std::int64_t i = 0; i < count; ++i) {
        const auto g = static_cast<std::size_t>(group_of[static_cast<std::size_t>(i)]);
        const double d = static_cast<double>(in[i]) - mean[g];
        var[g] += d * d;
      }
      // The spec's function: (X - mean) / (sqrt(variance) + 1e-9).
      for (auto& v : var) v = std::sqrt(v / static_cast<double>(per_group)) + 1e-9;
      for (std::int64_t i = 0; i < count; ++i) {
        const auto g = static_cast<std::size_t>(group_of[static_cast<std::size_t>(i)]);
        out[i] = static_cast<T>((static_cast<double>(in[i]) - mean[g]) / var[g]);
      }
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

}  // namespace

void register_norm(op_registry& r) {
  r.add("BatchNormalization", make_batch_norm, 7);
  r.add("InstanceNormalization", make_instance_norm, 6);
  r.add("LayerNormalization", make_layer_norm, 17);
  r.add("LRN", make_lrn, 1);
  r.add("MeanVarianceNormalization", make_mvn, 9);
}

}  // namespace mq::exec::ops
