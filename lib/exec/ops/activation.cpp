// Activations: Relu and the other pointwise non-linearities (float32 sigmoid/tanh through the
// float kernel table), PRelu (slope broadcast to the input), Softmax, LogSoftmax and Hardmax, and
// Dropout in inference.
#include <algorithm>
#include <cmath>
#include <limits>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"
#include "exec/ops/pointwise.h"

namespace mq::exec::ops {
namespace {

using pointwise::is_half;
using pointwise::run_unary;
using pointwise::table_fn;
using pointwise::unary_types;

// A pointwise activation with float attributes: `make(node)` reads them and returns the generic
// element function.
template <unary_types Types, class Make>
kernel_factory activation(std::initializer_list<std::string_view> attributes, Make make, table_fn table = nullptr) {
  std::vector<std::string> names(attributes.begin(), attributes.end());
  return [names, make, table](node_info& node) -> result<std::unique_ptr<kernel>> {
    for (const auto& a : node.proto().attribute()) {
      if (std::find(names.begin(), names.end(), a.name()) == names.end()) {
        return node.unsupported("attribute '" + a.name() + "'");
      }
    }
    auto fn = make(node);
    return make_kernel([fn, table](run_context& ctx) -> result<void> { return run_unary<Types>(ctx, fn, table); });
  };
}

template <class Make>
kernel_factory float_activation(std::initializer_list<std::string_view> attributes, Make make, table_fn table = nullptr) {
  return activation<unary_types::floats>(attributes, make, table);
}

// ---- PRelu -------------------------------------------------------------------------------------

template <class T>
void prelu_kernel(const T* x, const T* slope, T* y, const shape_t& sx, const shape_t& ss, thread_pool& pool) {
  pointwise::binary_kernel(x, slope, y, sx, ss, sx, pool, [](T v, T s) { return v < T{0} ? static_cast<T>(s * v) : v; });
}

result<std::unique_ptr<kernel>> make_prelu(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& s = ctx.in(1);
    if (x.type() != s.type()) return ctx.fail("X and slope have types " + type_name(x.type()) + " and " + type_name(s.type()));
    // The slope broadcasts to X (unidirectionally): the result has X's shape.
    auto so = broadcast_shapes(x.shape(), s.shape());
    if (!so || *so != x.shape()) {
      return ctx.fail("slope of shape " + shape_string(s.shape()) + " does not broadcast to X of shape " + shape_string(x.shape()));
    }
    const mq::dtype type = x.type();
    const shape_t sx = x.shape();
    const shape_t ss = s.shape();
    if (is_half(type)) {
      const tensor fx = MQ_TRY(pointwise::widen(ctx, x));
      const tensor fs = MQ_TRY(pointwise::widen(ctx, s));
      tensor fy = MQ_TRY(ctx.allocate(mq::dtype::float32, sx));
      prelu_kernel(fx.data<float>(), fs.data<float>(), fy.mutable_data<float>(), sx, ss, ctx.pool());
      ctx.set_output(0, MQ_TRY(pointwise::narrow(ctx, fy, type)));
      return {};
    }
    const void* px = x.raw();
    const void* ps = s.raw();
    bool known = false;
    visit_numeric(type, [&]<class T>() {
      if constexpr (std::is_signed_v<T>) known = true;
    });
    if (!known) return ctx.unsupported("element type " + type_name(type));
    tensor y = MQ_TRY(ctx.reuse_or_allocate(0, type, sx));
    visit_numeric(type, [&]<class T>() {
      if constexpr (std::is_signed_v<T>) {
        prelu_kernel(static_cast<const T*>(px), static_cast<const T*>(ps), y.mutable_data<T>(), sx, ss, ctx.pool());
      }
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- Softmax, LogSoftmax, Hardmax --------------------------------------------------------------

enum class softmax_kind : std::uint8_t { softmax, log_softmax, hardmax };

// exp over an array: the kernel table for float32, std::exp for double.
struct exp_array {
  void (*table)(const float*, float*, std::int64_t);
  void operator()(const float* x, float* y, std::int64_t n) const { table(x, y, n); }
  void operator()(const double* x, double* y, std::int64_t n) const {
    for (std::int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
  }
};

// Sum of a contiguous run in 8 interleaved partial sums (a fixed order the compiler vectorizes).
template <class T>
T sum_run(const T* x, std::int64_t n) {
  T lanes[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += x[i + l];
  }
  T s = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  for (; i < n; ++i) s += x[i];
  return s;
}

// Maximum of a contiguous run (NaN-propagating: a NaN anywhere gives NaN).
template <class T>
T max_run(const T* x, std::int64_t n) {
  T lanes[8];
  for (auto& l : lanes) l = -std::numeric_limits<T>::infinity();
  bool nan = false;
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) {
      const T v = x[i + l];
      nan |= v != v;
      lanes[l] = v > lanes[l] ? v : lanes[l];
    }
  }
  T m = lanes[0];
  for (int l = 1; l < 8; ++l) m = lanes[l] > m ? lanes[l] : m;
  for (; i < n; ++i) {
    nan |= x[i] != x[i];
    m = x[i] > m ? x[i] : m;
  }
  return nan ? std::numeric_limits<T>::quiet_NaN() : m;
}

// One row (inner == 1) of `a` elements; `scratch` has a elements.
template <class T>
void softmax_row(softmax_kind kind, const T* x, T* y, std::int64_t a, T* scratch, const exp_array& exp) {
  if (kind == softmax_kind::hardmax) {
    std::int64_t best = 0;
    for (std::int64_t i = 1; i < a; ++i) {
      if (x[i] > x[best]) best = i;
    }
    for (std::int64_t i = 0; i < a; ++i) y[i] = T{0};
    if (a > 0) y[best] = T{1};
    return;
  }
  const T m = max_run(x, a);
  if (kind == softmax_kind::softmax) {
    for (std::int64_t i = 0; i < a; ++i) y[i] = x[i] - m;
    exp(y, y, a);
    const T inv = T{1} / sum_run(y, a);
    for (std::int64_t i = 0; i < a; ++i) y[i] *= inv;
  } else {
    for (std::int64_t i = 0; i < a; ++i) scratch[i] = x[i] - m;
    exp(scratch, scratch, a);
    // (x - m) - log(sum) keeps the precision that x - (m + log(sum)) would lose for large m.
    const T log_sum = std::log(sum_run(scratch, a));
    for (std::int64_t i = 0; i < a; ++i) y[i] = (x[i] - m) - log_sum;
  }
}

// One block of `a` x `inner` elements, reduced along a (inner > 1); scratch has a * inner + 2 *
// inner elements.
template <class T>
void softmax_block(softmax_kind kind, const T* x, T* y, std::int64_t a, std::int64_t inner, T* scratch,
                   const exp_array& exp) {
  T* m = scratch + a * inner;
  T* s = m + inner;
  if (kind == softmax_kind::hardmax) {
    // The first maximum of each column.
    std::vector<std::int64_t> best(static_cast<std::size_t>(inner), 0);
    for (std::int64_t j = 0; j < a; ++j) {
      for (std::int64_t i = 0; i < inner; ++i) {
        if (x[j * inner + i] > x[best[static_cast<std::size_t>(i)] * inner + i]) best[static_cast<std::size_t>(i)] = j;
      }
    }
    for (std::int64_t k = 0; k < a * inner; ++k) y[k] = T{0};
    for (std::int64_t i = 0; i < inner; ++i) y[best[static_cast<std::size_t>(i)] * inner + i] = T{1};
    return;
  }
  for (std::int64_t i = 0; i < inner; ++i) m[i] = x[i];
  for (std::int64_t j = 1; j < a; ++j) {
    for (std::int64_t i = 0; i < inner; ++i) m[i] = pointwise::max_of(m[i], x[j * inner + i]);
  }
  T* e = kind == softmax_kind::softmax ? y : scratch;
  for (std::int64_t j = 0; j < a; ++j) {
    for (std::int64_t i = 0; i < inner; ++i) e[j * inner + i] = x[j * inner + i] - m[i];
  }
  exp(e, e, a * inner);
  for (std::int64_t i = 0; i < inner; ++i) s[i] = T{0};
  for (std::int64_t j = 0; j < a; ++j) {
    for (std::int64_t i = 0; i < inner; ++i) s[i] += e[j * inner + i];
  }
  if (kind == softmax_kind::softmax) {
    for (std::int64_t i = 0; i < inner; ++i) s[i] = T{1} / s[i];
    for (std::int64_t j = 0; j < a; ++j) {
      for (std::int64_t i = 0; i < inner; ++i) y[j * inner + i] *= s[i];
    }
  } else {
    for (std::int64_t i = 0; i < inner; ++i) s[i] = std::log(s[i]);
    for (std::int64_t j = 0; j < a; ++j) {
      for (std::int64_t i = 0; i < inner; ++i) y[j * inner + i] = (x[j * inner + i] - m[i]) - s[i];
    }
  }
}

template <class T>
void softmax_all(softmax_kind kind, const T* x, T* y, std::int64_t outer, std::int64_t a, std::int64_t inner,
                 thread_pool& pool, const exp_array& exp) {
  const std::int64_t block = a * inner;
  if (block == 0 || outer == 0) return;
  const std::int64_t min_blocks = std::max<std::int64_t>(1, pointwise::heavy_grain / block);
  pool.parallel_for(outer, min_blocks, [&](std::int64_t b, std::int64_t e) {
    const bool rows = inner == 1;
    std::vector<T> scratch(static_cast<std::size_t>(rows ? (kind == softmax_kind::log_softmax ? a : 0) : block + 2 * inner));
    for (std::int64_t o = b; o < e; ++o) {
      if (rows) softmax_row(kind, x + o * block, y + o * block, a, scratch.data(), exp);
      else softmax_block(kind, x + o * block, y + o * block, a, inner, scratch.data(), exp);
    }
  });
}

result<std::unique_ptr<kernel>> make_softmax(node_info& node, softmax_kind kind) {
  MQ_TRY_VOID(node.only_attributes({"axis"}));
  // Before version 13 the input is coerced to 2-D [prod(dims before axis), prod(the rest)];
  // from 13 the function runs along one axis.
  const bool coerce = node.since_version() < 13;
  const std::int64_t axis = node.attr_int("axis", coerce ? 1 : -1);
  return make_kernel([kind, coerce, axis](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const mq::dtype type = x.type();
    const shape_t shape = x.shape();
    const void* px = x.raw();
    if (!is_float_type(type)) return ctx.unsupported("element type " + type_name(type));
    std::int64_t outer = 1;
    std::int64_t a = 1;
    std::int64_t inner = 1;
    if (shape.empty()) {
      // A scalar is one row of one element (axis -1 or 0 of rank 0 is accepted as ONNX Runtime does).
      if (axis != 0 && axis != -1) return ctx.fail("axis " + std::to_string(axis) + " is out of range for rank 0");
    } else {
      const std::size_t ax = MQ_TRY(axis_for(ctx, axis, shape.size()));
      for (std::size_t d = 0; d < ax; ++d) outer *= shape[d];
      if (coerce) {
        for (std::size_t d = ax; d < shape.size(); ++d) a *= shape[d];
      } else {
        a = shape[ax];
        for (std::size_t d = ax + 1; d < shape.size(); ++d) inner *= shape[d];
      }
    }
    const exp_array exp{kernels::active_float_kernels().exp};
    if (is_half(type)) {
      const tensor fx = MQ_TRY(pointwise::widen(ctx, x));
      tensor fy = MQ_TRY(ctx.allocate(mq::dtype::float32, shape));
      softmax_all(kind, fx.data<float>(), fy.mutable_data<float>(), outer, a, inner, ctx.pool(), exp);
      ctx.set_output(0, MQ_TRY(pointwise::narrow(ctx, fy, type)));
      return {};
    }
    // Rows are read before they are written, so the result may take over the input (not for
    // Hardmax, which clears its row first).
    tensor y = kind == softmax_kind::hardmax ? MQ_TRY(ctx.allocate(type, shape)) : MQ_TRY(ctx.reuse_or_allocate(0, type, shape));
    visit_float(type, [&]<class T>() {
      softmax_all(kind, static_cast<const T*>(px), y.mutable_data<T>(), outer, a, inner, ctx.pool(), exp);
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- Dropout -----------------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_dropout(node_info& node) {
  const std::int64_t version = node.since_version();
  if (version >= 12) {
    MQ_TRY_VOID(node.only_attributes({"seed"}));
  } else {
    MQ_TRY_VOID(node.only_attributes({"ratio"}));
  }
  // Before version 10 the mask has the input's type and the spec does not say its values.
  if (version < 10 && node.has_output(1)) return node.unsupported("Dropout mask output before version 10");
  const bool with_inputs = version >= 12;
  return make_kernel([with_inputs](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (!is_float_type(x.type())) return ctx.unsupported("element type " + type_name(x.type()));
    if (with_inputs && ctx.has_input(2)) {
      const tensor& training = ctx.in(2);
      if (training.type() != mq::dtype::boolean || training.size() != 1) {
        return ctx.fail("training_mode must be a bool scalar, got " + type_name(training.type()) + " " + shape_string(training.shape()));
      }
      if (training.data<std::uint8_t>()[0] != 0) {
        // Training drops at random, except with ratio 0, which keeps everything (scale 1).
        double ratio = 0.5;
        if (ctx.has_input(1)) {
          const tensor& r = ctx.in(1);
          if (r.size() != 1 || !is_float_type(r.type())) return ctx.fail("ratio must be a float scalar");
          ratio = element_as_double(r, 0);
        }
        if (ratio != 0) return ctx.unsupported("Dropout in training mode (random) with ratio " + std::to_string(ratio));
      }
    }
    const shape_t shape = x.shape();
    ctx.set_output(0, x);  // inference: the input itself (shares its storage)
    if (ctx.output_count() > 1) {
      tensor mask = MQ_TRY(ctx.allocate(mq::dtype::boolean, shape));
      if (mask.byte_size() != 0) std::memset(mask.mutable_raw(), 1, mask.byte_size());
      ctx.set_output(1, std::move(mask));
    }
    return {};
  });
}

}  // namespace

void register_activation(op_registry& r) {
  using K = kernels::float_kernel_table;
  r.add("Relu", activation<unary_types::numeric>({}, [](node_info&) {
          return []<class T>(T x) -> T { return std::max(x, T{0}); };
        }), 6);
  r.add("LeakyRelu", float_activation({"alpha"}, [](node_info& n) {
          const float alpha = n.attr_float("alpha", 0.01f);
          return [alpha]<class T>(T x) -> T { return x < T{0} ? static_cast<T>(alpha) * x : x; };
        }), 6);
  r.add("PRelu", make_prelu, 7);
  r.add("Sigmoid", float_activation({}, [](node_info&) {
          return []<class T>(T x) -> T { return T{1} / (T{1} + std::exp(-x)); };
        }, &K::sigmoid), 6);
  r.add("HardSigmoid", float_activation({"alpha", "beta"}, [](node_info& n) {
          const float alpha = n.attr_float("alpha", 0.2f);
          const float beta = n.attr_float("beta", 0.5f);
          return [alpha, beta]<class T>(T x) -> T {
            return std::max(T{0}, std::min(T{1}, static_cast<T>(alpha) * x + static_cast<T>(beta)));
          };
        }), 6);
  r.add("HardSwish", float_activation({}, [](node_info&) {
          return []<class T>(T x) -> T {
            return x * std::max(T{0}, std::min(T{1}, x * (T{1} / T{6}) + T{1} / T{2}));
          };
        }), 14);
  r.add("Tanh", float_activation({}, [](node_info&) { return []<class T>(T x) -> T { return std::tanh(x); }; }, &K::tanh), 6);
  // log(1 + exp(x)) without overflow: x + log1p(exp(-x)) for positive x.
  r.add("Softplus", float_activation({}, [](node_info&) {
          return []<class T>(T x) -> T { return x > T{0} ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); };
        }), 1);
  r.add("Softsign", float_activation({}, [](node_info&) {
          return []<class T>(T x) -> T { return x / (T{1} + std::fabs(x)); };
        }), 1);
  r.add("Elu", float_activation({"alpha"}, [](node_info& n) {
          const float alpha = n.attr_float("alpha", 1.0f);
          return [alpha]<class T>(T x) -> T { return x < T{0} ? static_cast<T>(alpha) * std::expm1(x) : x; };
        }), 6);
  r.add("Selu", float_activation({"alpha", "gamma"}, [](node_info& n) {
          const float alpha = n.attr_float("alpha", 1.67326319217681884765625f);
          const float gamma = n.attr_float("gamma", 1.05070102214813232421875f);
          return [alpha, gamma]<class T>(T x) -> T {
            return x > T{0} ? static_cast<T>(gamma) * x : static_cast<T>(gamma) * static_cast<T>(alpha) * std::expm1(x);
          };
        }), 6);
  r.add("Celu", float_activation({"alpha"}, [](node_info& n) {
          const float alpha = n.attr_float("alpha", 1.0f);
          return [alpha]<class T>(T x) -> T {
            const T a = static_cast<T>(alpha);
            return std::max(T{0}, x) + std::min(T{0}, a * std::expm1(x / a));
          };
        }), 12);
  r.add("ThresholdedRelu", float_activation({"alpha"}, [](node_info& n) {
          const float alpha = n.attr_float("alpha", 1.0f);
          return [alpha]<class T>(T x) -> T { return x > static_cast<T>(alpha) ? x : T{0}; };
        }), 10);
  r.add("Shrink", activation<unary_types::numeric>({"bias", "lambd"}, [](node_info& n) {
          const double bias = n.attr_float("bias", 0.0f);
          const double lambd = n.attr_float("lambd", 0.5f);
          return [bias, lambd]<class T>(T x) -> T {
            const double v = static_cast<double>(x);
            if (v < -lambd) return static_cast<T>(v + bias);
            if (v > lambd) return static_cast<T>(v - bias);
            return T{0};
          };
        }), 9);
  r.add("Softmax", [](node_info& n) { return make_softmax(n, softmax_kind::softmax); }, 1);
  r.add("LogSoftmax", [](node_info& n) { return make_softmax(n, softmax_kind::log_softmax); }, 1);
  r.add("Hardmax", [](node_info& n) { return make_softmax(n, softmax_kind::hardmax); }, 1);
  r.add("Dropout", make_dropout, 7);
}

}  // namespace mq::exec::ops
