// Element-wise operators: unary math, binary arithmetic with numpy broadcasting (Add Sub Mul Div
// Pow Mod BitShift), logic and comparison (bool results), variadic Max Min Sum Mean, Where, Clip.
//
// float16 and bfloat16 compute in float32 and round back to nearest even; integers wrap around
// on overflow (two's complement, as numpy and ONNX Runtime); an integer division or Mod by zero
// is an error naming the node (C++ leaves it undefined).
#include <bit>
#include <cmath>
#include <limits>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"
#include "exec/ops/pointwise.h"

namespace mq::exec::ops {
namespace {

using pointwise::binary_kernel;
using pointwise::is_half;
using pointwise::map;
using pointwise::narrow;
using pointwise::run_unary;
using pointwise::table_fn;
using pointwise::unary_types;
using pointwise::widen;

bool is_integer_type(mq::dtype t) noexcept {
  switch (t) {
    case mq::dtype::int8:
    case mq::dtype::uint8:
    case mq::dtype::int16:
    case mq::dtype::uint16:
    case mq::dtype::int32:
    case mq::dtype::uint32:
    case mq::dtype::int64:
    case mq::dtype::uint64: return true;
    default: return false;
  }
}

// ---- unary -------------------------------------------------------------------------------------

template <unary_types Types, class Fn>
kernel_factory unary(Fn fn, table_fn table = nullptr) {
  return [fn, table](node_info& node) -> result<std::unique_ptr<kernel>> {
    MQ_TRY_VOID(node.only_attributes({}));
    return make_kernel([fn, table](run_context& ctx) -> result<void> { return run_unary<Types>(ctx, fn, table); });
  };
}

template <class Fn>
kernel_factory float_unary(Fn fn, table_fn table = nullptr) {
  return unary<unary_types::floats>(fn, table);
}

// A float (or half) input, a bool output: IsNaN, IsInf.
template <class Pred>
result<void> run_float_predicate(run_context& ctx, const Pred& pred) {
  const tensor& x = ctx.in(0);
  const mq::dtype type = x.type();
  tensor y = MQ_TRY(ctx.allocate(mq::dtype::boolean, x.shape()));
  std::uint8_t* out = y.mutable_data<std::uint8_t>();
  const std::int64_t n = x.size();
  if (type == mq::dtype::float32) {
    map(ctx.pool(), x.data<float>(), out, n, [&](float v) { return static_cast<std::uint8_t>(pred(v)); });
  } else if (type == mq::dtype::float64) {
    map(ctx.pool(), x.data<double>(), out, n, [&](double v) { return static_cast<std::uint8_t>(pred(v)); });
  } else if (is_half(type)) {
    map(ctx.pool(), x.data<std::uint16_t>(), out, n,
        [&](std::uint16_t v) { return static_cast<std::uint8_t>(pred(pointwise::half_to_float(type, v))); });
  } else {
    return ctx.unsupported("element type " + type_name(type));
  }
  ctx.set_output(0, std::move(y));
  return {};
}

result<std::unique_ptr<kernel>> make_isnan(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) { return run_float_predicate(ctx, [](auto v) { return std::isnan(v); }); });
}

result<std::unique_ptr<kernel>> make_isinf(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"detect_negative", "detect_positive"}));
  const bool negative = node.attr_int("detect_negative", 1) != 0;
  const bool positive = node.attr_int("detect_positive", 1) != 0;
  return make_kernel([negative, positive](run_context& ctx) {
    return run_float_predicate(ctx, [negative, positive](auto v) {
      return std::isinf(v) && ((v > 0 && positive) || (v < 0 && negative));
    });
  });
}

result<std::unique_ptr<kernel>> make_not(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.type() != mq::dtype::boolean) return ctx.unsupported("element type " + type_name(x.type()));
    const std::uint8_t* in = x.data<std::uint8_t>();
    const shape_t shape = x.shape();
    tensor y = MQ_TRY(ctx.reuse_or_allocate(0, mq::dtype::boolean, shape));
    map(ctx.pool(), in, y.mutable_data<std::uint8_t>(), y.size(),
        [](std::uint8_t v) { return static_cast<std::uint8_t>(v == 0 ? 1 : 0); });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- binary ------------------------------------------------------------------------------------

// The two inputs of a binary node and the shape of their broadcast (captured before an input's
// storage may be taken over by the result).
struct binary_args {
  const void* a = nullptr;
  const void* b = nullptr;
  shape_t sa, sb, so;
  mq::dtype ta = mq::dtype::undefined;
  mq::dtype tb = mq::dtype::undefined;
};

result<binary_args> binary_inputs(const run_context& ctx, bool same_type) {
  const tensor& a = ctx.in(0);
  const tensor& b = ctx.in(1);
  if (same_type && a.type() != b.type()) {
    return ctx.fail("inputs have types " + type_name(a.type()) + " and " + type_name(b.type()));
  }
  auto so = broadcast_shapes(a.shape(), b.shape());
  if (!so) return ctx.fail("shapes " + shape_string(a.shape()) + " and " + shape_string(b.shape()) + " do not broadcast");
  return binary_args{a.raw(), b.raw(), a.shape(), b.shape(), std::move(*so), a.type(), b.type()};
}

// The result tensor of a binary node of type `type`: one of the inputs' storage when it has the
// output's shape and type and nobody else reads it, else a new tensor.
result<tensor> binary_output(run_context& ctx, const binary_args& in, mq::dtype type) {
  if (in.sa == in.so && in.ta == type) return ctx.reuse_or_allocate(0, type, in.so);
  if (in.sb == in.so && in.tb == type) return ctx.reuse_or_allocate(1, type, in.so);
  return ctx.allocate(type, in.so);
}

// float16/bfloat16 binary nodes: both inputs widened to float32, `fn(args)` computes the float32
// result of the widened inputs (a tensor), which is rounded back.
template <class Fn>
result<void> run_widened(run_context& ctx, const binary_args& in, mq::dtype out_type, Fn fn) {
  const tensor fa = MQ_TRY(widen(ctx, ctx.in(0)));
  const tensor fb = MQ_TRY(widen(ctx, ctx.in(1)));
  binary_args w = in;
  w.a = fa.raw();
  w.b = fb.raw();
  w.ta = w.tb = mq::dtype::float32;
  tensor r = MQ_TRY(fn(w));
  if (out_type == r.type()) {
    ctx.set_output(0, std::move(r));
  } else {
    ctx.set_output(0, MQ_TRY(narrow(ctx, r, out_type)));
  }
  return {};
}

// An integer divisor of zero (Div, Mod) is an error: C++ leaves it undefined.
bool has_zero(const binary_args& in) {
  bool zero = false;
  visit_numeric(in.tb, [&]<class T>() {
    if constexpr (std::is_integral_v<T>) {
      const T* p = static_cast<const T*>(in.b);
      const std::int64_t n = element_count(in.sb);
      for (std::int64_t i = 0; i < n && !zero; ++i) zero = p[i] == T{0};
    }
  });
  return zero;
}

enum class arith : std::uint8_t { add, sub, mul, div };

template <class T>
T apply(arith kind, T x, T y) noexcept {
  switch (kind) {
    case arith::add: return pointwise::add(x, y);
    case arith::sub: return pointwise::sub(x, y);
    case arith::mul: return pointwise::mul(x, y);
    case arith::div: return pointwise::div(x, y);
  }
  return x;
}

result<tensor> arith_numeric(run_context& ctx, const binary_args& in, arith kind) {
  if (kind == arith::div && is_integer_type(in.ta) && has_zero(in)) return ctx.fail("integer division by zero");
  tensor out = MQ_TRY(binary_output(ctx, in, in.ta));
  thread_pool& pool = ctx.pool();
  const bool known = visit_numeric(in.ta, [&]<class T>() {
    const T* a = static_cast<const T*>(in.a);
    const T* b = static_cast<const T*>(in.b);
    T* y = out.mutable_data<T>();
    // One loop per operation, so that each is a plain loop the compiler vectorizes.
    switch (kind) {
      case arith::add: binary_kernel(a, b, y, in.sa, in.sb, in.so, pool, [](T x0, T x1) { return pointwise::add(x0, x1); }); break;
      case arith::sub: binary_kernel(a, b, y, in.sa, in.sb, in.so, pool, [](T x0, T x1) { return pointwise::sub(x0, x1); }); break;
      case arith::mul: binary_kernel(a, b, y, in.sa, in.sb, in.so, pool, [](T x0, T x1) { return pointwise::mul(x0, x1); }); break;
      case arith::div: binary_kernel(a, b, y, in.sa, in.sb, in.so, pool, [](T x0, T x1) { return pointwise::div(x0, x1); }); break;
    }
  });
  if (!known) return ctx.unsupported("element type " + type_name(in.ta));
  return out;
}

result<std::unique_ptr<kernel>> make_arith(node_info& node, arith kind) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([kind](run_context& ctx) -> result<void> {
    const binary_args in = MQ_TRY(binary_inputs(ctx, true));
    if (is_half(in.ta)) {
      return run_widened(ctx, in, in.ta, [&](const binary_args& w) { return arith_numeric(ctx, w, kind); });
    }
    ctx.set_output(0, MQ_TRY(arith_numeric(ctx, in, kind)));
    return {};
  });
}

// Pow: the base's type is the result's; the exponent may have another numeric type (version 12).
template <class B, class E>
B power(B x, E y) noexcept {
  if constexpr (std::is_floating_point_v<B>) {
    if constexpr (std::is_same_v<B, E>) return std::pow(x, y);
    else return static_cast<B>(std::pow(static_cast<double>(x), static_cast<double>(y)));
  } else if constexpr (std::is_integral_v<E>) {
    // Exact integer power by squaring, wrapping like numpy. A negative exponent gives the
    // truncated value of x^y, as ONNX Runtime's pow followed by a cast: 1, +-1 for x = -1, else 0.
    if (y < 0) {
      if (x == 1) return 1;
      if constexpr (std::is_signed_v<B>) {
        if (x == -1) return (y % 2 == 0) ? B{1} : B{-1};
      }
      return 0;
    }
    using U = pointwise::wrap_t<B>;
    U result = 1;
    U base = static_cast<U>(x);
    auto e = static_cast<std::make_unsigned_t<E>>(y);
    while (e != 0) {
      if ((e & 1u) != 0) result = static_cast<U>(result * base);
      base = static_cast<U>(base * base);
      e = static_cast<decltype(e)>(e >> 1u);
    }
    return static_cast<B>(result);
  } else {
    // Integer base, float exponent: the power truncated toward zero, saturated to B's range
    // (NaN gives 0).
    const double r = std::trunc(std::pow(static_cast<double>(x), static_cast<double>(y)));
    if (!(r == r)) return 0;
    if (r <= static_cast<double>(std::numeric_limits<B>::lowest())) return std::numeric_limits<B>::lowest();
    if (r >= static_cast<double>(std::numeric_limits<B>::max())) return std::numeric_limits<B>::max();
    return static_cast<B>(r);
  }
}

result<tensor> pow_numeric(run_context& ctx, const binary_args& in) {
  tensor out = MQ_TRY(binary_output(ctx, in, in.ta));
  thread_pool& pool = ctx.pool();
  // A float32 base with one exponent value of 2, 1 or 0.5 (LayerNorm's variance, RMS norms):
  // a multiplication, a copy or a square root, which are exact where pow is.
  if (in.ta == mq::dtype::float32 && element_count(in.sb) == 1 && in.sa == in.so) {
    const double e = element_as_double(tensor::view(in.tb, in.sb, in.b), 0);
    const float* a = static_cast<const float*>(in.a);
    float* y = out.mutable_data<float>();
    const std::int64_t n = element_count(in.so);
    if (e == 2) {
      map(pool, a, y, n, [](float v) { return v * v; });
      return out;
    }
    if (e == 1) {
      map(pool, a, y, n, [](float v) { return v; });
      return out;
    }
    if (e == 0.5) {
      map(pool, a, y, n, [](float v) { return std::sqrt(v); });
      return out;
    }
  }
  bool known = false;
  auto with_base = [&]<class B>() {
    known = visit_numeric(in.tb, [&]<class E>() {
      binary_kernel(static_cast<const B*>(in.a), static_cast<const E*>(in.b), out.mutable_data<B>(), in.sa, in.sb, in.so,
                    pool, [](B x, E y) { return power(x, y); });
    });
  };
  switch (in.ta) {
    case mq::dtype::float32: with_base.template operator()<float>(); break;
    case mq::dtype::float64: with_base.template operator()<double>(); break;
    case mq::dtype::int32: with_base.template operator()<std::int32_t>(); break;
    case mq::dtype::int64: with_base.template operator()<std::int64_t>(); break;
    default: break;
  }
  if (!known) return ctx.unsupported("element types " + type_name(in.ta) + " ^ " + type_name(in.tb));
  return out;
}

result<std::unique_ptr<kernel>> make_pow(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const binary_args in = MQ_TRY(binary_inputs(ctx, false));
    if (is_half(in.ta) || is_half(in.tb)) {
      // Widen whichever is a half; the other keeps its type.
      const mq::dtype out_type = in.ta;
      tensor fa;
      tensor fb;
      binary_args w = in;
      if (is_half(in.ta)) {
        fa = MQ_TRY(widen(ctx, ctx.in(0)));
        w.a = fa.raw();
        w.ta = mq::dtype::float32;
      }
      if (is_half(in.tb)) {
        fb = MQ_TRY(widen(ctx, ctx.in(1)));
        w.b = fb.raw();
        w.tb = mq::dtype::float32;
      }
      tensor r = MQ_TRY(pow_numeric(ctx, w));
      if (is_half(out_type)) r = MQ_TRY(narrow(ctx, r, out_type));
      ctx.set_output(0, std::move(r));
      return {};
    }
    ctx.set_output(0, MQ_TRY(pow_numeric(ctx, in)));
    return {};
  });
}

// Mod: fmod = 1 is C's fmod (the sign of the dividend); fmod = 0 (integers only) is Python's %
// (the sign of the divisor).
template <class T>
T modulo(T x, T y, bool c_fmod) noexcept {
  if constexpr (std::is_floating_point_v<T>) {
    (void)c_fmod;
    return std::fmod(x, y);
  } else {
    if constexpr (std::is_signed_v<T>) {
      if (y == T(-1)) return 0;  // min % -1 overflows in C++
    }
    T r = static_cast<T>(x % y);
    if constexpr (std::is_signed_v<T>) {
      if (!c_fmod && r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
    }
    return r;
  }
}

result<tensor> mod_numeric(run_context& ctx, const binary_args& in, bool c_fmod) {
  if (is_float_type(in.ta) && !c_fmod) return ctx.fail("fmod must be 1 for floating-point inputs");
  if (is_integer_type(in.ta) && has_zero(in)) return ctx.fail("integer Mod by zero");
  tensor out = MQ_TRY(binary_output(ctx, in, in.ta));
  const bool known = visit_numeric(in.ta, [&]<class T>() {
    binary_kernel(static_cast<const T*>(in.a), static_cast<const T*>(in.b), out.mutable_data<T>(), in.sa, in.sb, in.so,
                  ctx.pool(), [c_fmod](T x, T y) { return modulo(x, y, c_fmod); });
  });
  if (!known) return ctx.unsupported("element type " + type_name(in.ta));
  return out;
}

result<std::unique_ptr<kernel>> make_mod(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"fmod"}));
  const std::int64_t fmod = node.attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return node.invalid("fmod must be 0 or 1, got " + std::to_string(fmod));
  return make_kernel([c_fmod = fmod == 1](run_context& ctx) -> result<void> {
    const binary_args in = MQ_TRY(binary_inputs(ctx, true));
    if (is_half(in.ta)) {
      return run_widened(ctx, in, in.ta, [&](const binary_args& w) { return mod_numeric(ctx, w, c_fmod); });
    }
    ctx.set_output(0, MQ_TRY(mod_numeric(ctx, in, c_fmod)));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_bitshift(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"direction"}));
  const std::string direction = node.attr_string("direction");
  if (direction != "LEFT" && direction != "RIGHT") return node.invalid("direction must be LEFT or RIGHT, got '" + direction + "'");
  return make_kernel([left = direction == "LEFT"](run_context& ctx) -> result<void> {
    const binary_args in = MQ_TRY(binary_inputs(ctx, true));
    tensor out = MQ_TRY(binary_output(ctx, in, in.ta));
    bool known = false;
    visit_numeric(in.ta, [&]<class T>() {
      if constexpr (std::is_unsigned_v<T>) {
        known = true;
        using U = pointwise::wrap_t<T>;
        // A shift by the width or more gives 0 (C++ leaves it undefined).
        binary_kernel(static_cast<const T*>(in.a), static_cast<const T*>(in.b), out.mutable_data<T>(), in.sa, in.sb, in.so,
                      ctx.pool(), [left](T x, T s) {
                        if (s >= sizeof(T) * 8) return T{0};
                        return static_cast<T>(left ? static_cast<U>(static_cast<U>(x) << s) : static_cast<U>(x >> s));
                      });
      }
    });
    if (!known) return ctx.unsupported("element type " + type_name(in.ta));
    ctx.set_output(0, std::move(out));
    return {};
  });
}

enum class logic : std::uint8_t { and_, or_, xor_ };

result<std::unique_ptr<kernel>> make_logic(node_info& node, logic kind) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([kind](run_context& ctx) -> result<void> {
    const binary_args in = MQ_TRY(binary_inputs(ctx, true));
    if (in.ta != mq::dtype::boolean) return ctx.unsupported("element type " + type_name(in.ta));
    tensor out = MQ_TRY(binary_output(ctx, in, mq::dtype::boolean));
    const auto* a = static_cast<const std::uint8_t*>(in.a);
    const auto* b = static_cast<const std::uint8_t*>(in.b);
    std::uint8_t* y = out.mutable_data<std::uint8_t>();
    auto run = [&](auto op) { binary_kernel(a, b, y, in.sa, in.sb, in.so, ctx.pool(), op); };
    switch (kind) {
      case logic::and_: run([](std::uint8_t x0, std::uint8_t x1) { return static_cast<std::uint8_t>((x0 != 0) & (x1 != 0)); }); break;
      case logic::or_: run([](std::uint8_t x0, std::uint8_t x1) { return static_cast<std::uint8_t>((x0 != 0) | (x1 != 0)); }); break;
      case logic::xor_: run([](std::uint8_t x0, std::uint8_t x1) { return static_cast<std::uint8_t>((x0 != 0) != (x1 != 0)); }); break;
    }
    ctx.set_output(0, std::move(out));
    return {};
  });
}

enum class compare : std::uint8_t { equal, less, greater, less_equal, greater_equal };

result<tensor> compare_numeric(run_context& ctx, const binary_args& in, compare kind) {
  tensor out = MQ_TRY(binary_output(ctx, in, mq::dtype::boolean));
  std::uint8_t* y = out.mutable_data<std::uint8_t>();
  auto run = [&]<class T>() {
    const T* a = static_cast<const T*>(in.a);
    const T* b = static_cast<const T*>(in.b);
    switch (kind) {
      case compare::equal: binary_kernel(a, b, y, in.sa, in.sb, in.so, ctx.pool(), [](T x0, T x1) { return static_cast<std::uint8_t>(x0 == x1); }); break;
      case compare::less: binary_kernel(a, b, y, in.sa, in.sb, in.so, ctx.pool(), [](T x0, T x1) { return static_cast<std::uint8_t>(x0 < x1); }); break;
      case compare::greater: binary_kernel(a, b, y, in.sa, in.sb, in.so, ctx.pool(), [](T x0, T x1) { return static_cast<std::uint8_t>(x0 > x1); }); break;
      case compare::less_equal: binary_kernel(a, b, y, in.sa, in.sb, in.so, ctx.pool(), [](T x0, T x1) { return static_cast<std::uint8_t>(x0 <= x1); }); break;
      case compare::greater_equal: binary_kernel(a, b, y, in.sa, in.sb, in.so, ctx.pool(), [](T x0, T x1) { return static_cast<std::uint8_t>(x0 >= x1); }); break;
    }
  };
  if (in.ta == mq::dtype::boolean) {
    if (kind != compare::equal) return ctx.unsupported("element type bool");
    run.template operator()<std::uint8_t>();
  } else if (!visit_numeric(in.ta, run)) {
    return ctx.unsupported("element type " + type_name(in.ta));
  }
  return out;
}

result<std::unique_ptr<kernel>> make_compare(node_info& node, compare kind) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([kind](run_context& ctx) -> result<void> {
    const binary_args in = MQ_TRY(binary_inputs(ctx, true));
    if (is_half(in.ta)) {
      return run_widened(ctx, in, mq::dtype::boolean, [&](const binary_args& w) { return compare_numeric(ctx, w, kind); });
    }
    ctx.set_output(0, MQ_TRY(compare_numeric(ctx, in, kind)));
    return {};
  });
}

// ---- variadic Max Min Sum Mean -----------------------------------------------------------------

enum class fold : std::uint8_t { max, min, sum, mean };

// The fold of float32/float64/integer inputs `ins` (all of one type) into `out` (the broadcast
// shape `so`), pairwise in input order.
result<void> fold_into(run_context& ctx, fold kind, mq::dtype type, const std::vector<const void*>& ins,
                       const std::vector<shape_t>& shapes, const shape_t& so, tensor& out) {
  const bool known = visit_numeric(type, [&]<class T>() {
    T* y = out.mutable_data<T>();
    auto step = [&](const T* a, const shape_t& sa, const T* b, const shape_t& sb) {
      switch (kind) {
        case fold::max: binary_kernel(a, b, y, sa, sb, so, ctx.pool(), [](T x0, T x1) { return pointwise::max_of(x0, x1); }); break;
        case fold::min: binary_kernel(a, b, y, sa, sb, so, ctx.pool(), [](T x0, T x1) { return pointwise::min_of(x0, x1); }); break;
        case fold::sum:
        case fold::mean: binary_kernel(a, b, y, sa, sb, so, ctx.pool(), [](T x0, T x1) { return pointwise::add(x0, x1); }); break;
      }
    };
    step(static_cast<const T*>(ins[0]), shapes[0], static_cast<const T*>(ins[1]), shapes[1]);
    for (std::size_t k = 2; k < ins.size(); ++k) step(y, so, static_cast<const T*>(ins[k]), shapes[k]);
    if (kind == fold::mean) {
      if constexpr (std::is_floating_point_v<T>) {
        const T count = static_cast<T>(ins.size());
        map(ctx.pool(), y, y, element_count(so), [count](T v) { return v / count; });
      }
    }
  });
  if (!known) return ctx.unsupported("element type " + type_name(type));
  return {};
}

result<std::unique_ptr<kernel>> make_fold(node_info& node, fold kind) {
  MQ_TRY_VOID(node.only_attributes({}));
  if (node.input_count() == 0) return node.invalid("needs at least one input");
  return make_kernel([kind](run_context& ctx) -> result<void> {
    const std::size_t count = ctx.input_count();
    std::vector<const shape_t*> shape_ptrs;
    for (std::size_t k = 0; k < count; ++k) {
      if (!ctx.has_input(k)) return ctx.fail("input " + std::to_string(k) + " is missing");
      if (ctx.in(k).type() != ctx.in(0).type()) {
        return ctx.fail("inputs have types " + type_name(ctx.in(0).type()) + " and " + type_name(ctx.in(k).type()));
      }
      shape_ptrs.push_back(&ctx.in(k).shape());
    }
    const mq::dtype type = ctx.in(0).type();
    if (kind == fold::mean && !is_float_type(type)) return ctx.unsupported("element type " + type_name(type));
    if (type == mq::dtype::boolean || (!is_float_type(type) && !is_integer_type(type))) {
      return ctx.unsupported("element type " + type_name(type));
    }
    auto so = broadcast_shapes(shape_ptrs);
    if (!so) {
      std::string shapes;
      for (const shape_t* s : shape_ptrs) shapes += (shapes.empty() ? "" : ", ") + shape_string(*s);
      return ctx.fail("shapes " + shapes + " do not broadcast");
    }
    if (count == 1) {
      ctx.set_output(0, ctx.in(0));  // the value itself (shares its storage)
      return {};
    }
    std::vector<shape_t> shapes;
    for (const shape_t* s : shape_ptrs) shapes.push_back(*s);
    if (is_half(type)) {
      std::vector<tensor> wide;
      std::vector<const void*> ins;
      for (std::size_t k = 0; k < count; ++k) {
        wide.push_back(MQ_TRY(widen(ctx, ctx.in(k))));
        ins.push_back(wide.back().raw());
      }
      tensor acc = MQ_TRY(ctx.allocate(mq::dtype::float32, *so));
      MQ_TRY_VOID(fold_into(ctx, kind, mq::dtype::float32, ins, shapes, *so, acc));
      ctx.set_output(0, MQ_TRY(narrow(ctx, acc, type)));
      return {};
    }
    std::vector<const void*> ins;
    for (std::size_t k = 0; k < count; ++k) ins.push_back(ctx.in(k).raw());
    // The first step writes y = op(in0, in1) in place, so only input 0 or 1 may lend its storage.
    tensor out;
    if (shapes[0] == *so) out = MQ_TRY(ctx.reuse_or_allocate(0, type, *so));
    else if (shapes[1] == *so) out = MQ_TRY(ctx.reuse_or_allocate(1, type, *so));
    else out = MQ_TRY(ctx.allocate(type, *so));
    MQ_TRY_VOID(fold_into(ctx, kind, type, ins, shapes, *so, out));
    ctx.set_output(0, std::move(out));
    return {};
  });
}

// ---- Where -------------------------------------------------------------------------------------

template <class T>
void where_kernel(const std::uint8_t* c, const T* x, const T* y, T* out, const shape_t& sc, const shape_t& sx,
                  const shape_t& sy, const shape_t& so, thread_pool& pool) {
  const std::int64_t n = element_count(so);
  if (n == 0) return;
  if (sc == so && sx == so && sy == so) {
    pool.parallel_for(n, pointwise::grain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) out[i] = c[i] != 0 ? x[i] : y[i];
    });
    return;
  }
  const pointwise::broadcast_walk<3> w({&sc, &sx, &sy}, so);
  pool.parallel_for(n, pointwise::grain, [&](std::int64_t b, std::int64_t e) {
    w.walk(b, e, [&](std::int64_t o, const std::array<std::int64_t, 3>& at, std::int64_t count,
                     const std::array<std::int64_t, 3>& st) {
      const std::uint8_t* cc = c + at[0];
      const T* xx = x + at[1];
      const T* yy = y + at[2];
      T* oo = out + o;
      for (std::int64_t i = 0; i < count; ++i) oo[i] = cc[i * st[0]] != 0 ? xx[i * st[1]] : yy[i * st[2]];
    });
  });
}

result<std::unique_ptr<kernel>> make_where(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& c = ctx.in(0);
    const tensor& x = ctx.in(1);
    const tensor& y = ctx.in(2);
    if (c.type() != mq::dtype::boolean) return ctx.fail("condition has type " + type_name(c.type()) + ", expected bool");
    if (x.type() != y.type()) return ctx.fail("X and Y have types " + type_name(x.type()) + " and " + type_name(y.type()));
    const shape_t* shapes[] = {&c.shape(), &x.shape(), &y.shape()};
    auto so = broadcast_shapes(shapes);
    if (!so) {
      return ctx.fail("shapes " + shape_string(c.shape()) + ", " + shape_string(x.shape()) + " and " +
                      shape_string(y.shape()) + " do not broadcast");
    }
    const mq::dtype type = x.type();
    const std::size_t size = exec_element_size(type);
    if (size == 0) return ctx.unsupported("element type " + type_name(type));
    const shape_t sc = c.shape();
    const shape_t sx = x.shape();
    const shape_t sy = y.shape();
    const void* pc = c.raw();
    const void* px = x.raw();
    const void* py = y.raw();
    tensor out;
    if (sx == *so) out = MQ_TRY(ctx.reuse_or_allocate(1, type, *so));
    else if (sy == *so) out = MQ_TRY(ctx.reuse_or_allocate(2, type, *so));
    else out = MQ_TRY(ctx.allocate(type, *so));
    // Where only moves elements: dispatch on their size.
    auto run = [&]<class T>() {
      where_kernel(static_cast<const std::uint8_t*>(pc), static_cast<const T*>(px), static_cast<const T*>(py),
                   out.mutable_data<T>(), sc, sx, sy, *so, ctx.pool());
    };
    switch (size) {
      case 1: run.template operator()<std::uint8_t>(); break;
      case 2: run.template operator()<std::uint16_t>(); break;
      case 4: run.template operator()<std::uint32_t>(); break;
      case 8: run.template operator()<std::uint64_t>(); break;
      default: return ctx.unsupported("element type " + type_name(type));
    }
    ctx.set_output(0, std::move(out));
    return {};
  });
}

// ---- Clip --------------------------------------------------------------------------------------

// y = min(max(x, lo), hi): all of x becomes hi when lo > hi (the spec's rule); NaN stays NaN.
template <class T>
void clip_kernel(thread_pool& pool, const T* x, T* y, std::int64_t n, T lo, T hi) {
  map(pool, x, y, n, [lo, hi](T v) { return std::min(std::max(v, lo), hi); });
}

result<std::unique_ptr<kernel>> make_clip(node_info& node) {
  const bool from_inputs = node.since_version() >= 11;
  if (from_inputs) {
    MQ_TRY_VOID(node.only_attributes({}));
  } else {
    MQ_TRY_VOID(node.only_attributes({"min", "max"}));
  }
  const float attr_lo = node.attr_float("min", std::numeric_limits<float>::lowest());
  const float attr_hi = node.attr_float("max", std::numeric_limits<float>::max());
  return make_kernel([from_inputs, attr_lo, attr_hi](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const mq::dtype type = x.type();
    const shape_t shape = x.shape();
    const void* px = x.raw();
    const std::int64_t n = x.size();
    if (!from_inputs && !is_float_type(type)) return ctx.unsupported("element type " + type_name(type));
    // The bounds: inputs 1 and 2 (optional scalars of x's type) from version 11.
    const tensor* bounds[2] = {nullptr, nullptr};
    if (from_inputs) {
      for (std::size_t k = 1; k <= 2; ++k) {
        if (!ctx.has_input(k)) continue;
        const tensor& b = ctx.in(k);
        const char* what = k == 1 ? "min" : "max";
        if (b.size() != 1) return ctx.fail(std::string(what) + " must be a scalar, got shape " + shape_string(b.shape()));
        if (b.type() != type) return ctx.fail(std::string(what) + " has type " + type_name(b.type()) + ", the input " + type_name(type));
        bounds[k - 1] = &b;
      }
    }
    tensor y = MQ_TRY(ctx.reuse_or_allocate(0, type, shape));
    if (is_half(type)) {
      float lo = attr_lo;
      float hi = attr_hi;
      if (from_inputs) {
        lo = bounds[0] != nullptr ? pointwise::half_to_float(type, bounds[0]->data<std::uint16_t>()[0]) : -INFINITY;
        hi = bounds[1] != nullptr ? pointwise::half_to_float(type, bounds[1]->data<std::uint16_t>()[0]) : INFINITY;
      }
      map(ctx.pool(), static_cast<const std::uint16_t*>(px), y.mutable_data<std::uint16_t>(), n, [&](std::uint16_t v) {
        const float f = pointwise::half_to_float(type, v);
        if (f < lo) return pointwise::float_to_half(type, std::min(lo, hi));
        if (f > hi) return pointwise::float_to_half(type, hi);
        return v;
      });
      ctx.set_output(0, std::move(y));
      return {};
    }
    const bool known = visit_numeric(type, [&]<class T>() {
      T lo = std::numeric_limits<T>::lowest();
      T hi = std::numeric_limits<T>::max();
      if (!from_inputs) {
        if constexpr (std::is_floating_point_v<T>) {
          lo = static_cast<T>(attr_lo);
          hi = static_cast<T>(attr_hi);
        }
      } else {
        if constexpr (std::is_floating_point_v<T>) {
          lo = -std::numeric_limits<T>::infinity();
          hi = std::numeric_limits<T>::infinity();
        }
        if (bounds[0] != nullptr) lo = bounds[0]->data<T>()[0];
        if (bounds[1] != nullptr) hi = bounds[1]->data<T>()[0];
      }
      clip_kernel(ctx.pool(), static_cast<const T*>(px), y.mutable_data<T>(), n, lo, hi);
    });
    if (!known) return ctx.unsupported("element type " + type_name(type));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

}  // namespace

void register_elementwise(op_registry& r) {
  using K = kernels::float_kernel_table;
  r.add("Add", [](node_info& n) { return make_arith(n, arith::add); }, 7);
  r.add("Sub", [](node_info& n) { return make_arith(n, arith::sub); }, 7);
  r.add("Mul", [](node_info& n) { return make_arith(n, arith::mul); }, 7);
  r.add("Div", [](node_info& n) { return make_arith(n, arith::div); }, 7);
  r.add("Pow", make_pow, 7);
  r.add("Mod", make_mod, 10);
  r.add("BitShift", make_bitshift, 11);

  r.add("Abs", unary<unary_types::numeric>([]<class T>(T x) -> T {
          if constexpr (std::is_unsigned_v<T>) return x;
          else if constexpr (std::is_integral_v<T>) return x < 0 ? pointwise::neg(x) : x;
          else return std::fabs(x);
        }), 6);
  r.add("Neg", unary<unary_types::signed_numeric>([]<class T>(T x) -> T { return pointwise::neg(x); }), 6);
  r.add("Sign", unary<unary_types::numeric>([]<class T>(T x) -> T {
          if (x > T{0}) return T{1};
          if constexpr (std::is_signed_v<T>) {
            if (x < T{0}) return T{-1};
          }
          return x;  // 0 (or NaN)
        }), 9);
  r.add("Floor", float_unary([]<class T>(T x) -> T { return std::floor(x); }), 6);
  r.add("Ceil", float_unary([]<class T>(T x) -> T { return std::ceil(x); }), 6);
  // Round half to even: nearbyint in the default rounding mode.
  r.add("Round", float_unary([]<class T>(T x) -> T { return std::nearbyint(x); }), 11);
  r.add("Reciprocal", float_unary([]<class T>(T x) -> T { return T{1} / x; }), 6);
  r.add("Sqrt", float_unary([]<class T>(T x) -> T { return std::sqrt(x); }), 6);
  r.add("Exp", float_unary([]<class T>(T x) -> T { return std::exp(x); }, &K::exp), 6);
  r.add("Log", float_unary([]<class T>(T x) -> T { return std::log(x); }), 6);
  r.add("Erf", float_unary([]<class T>(T x) -> T { return std::erf(x); }, &K::erf), 9);
  r.add("Sin", float_unary([]<class T>(T x) -> T { return std::sin(x); }), 7);
  r.add("Cos", float_unary([]<class T>(T x) -> T { return std::cos(x); }), 7);
  r.add("Tan", float_unary([]<class T>(T x) -> T { return std::tan(x); }), 7);
  r.add("Asin", float_unary([]<class T>(T x) -> T { return std::asin(x); }), 7);
  r.add("Acos", float_unary([]<class T>(T x) -> T { return std::acos(x); }), 7);
  r.add("Atan", float_unary([]<class T>(T x) -> T { return std::atan(x); }), 7);
  r.add("Sinh", float_unary([]<class T>(T x) -> T { return std::sinh(x); }), 9);
  r.add("Cosh", float_unary([]<class T>(T x) -> T { return std::cosh(x); }), 9);
  r.add("Asinh", float_unary([]<class T>(T x) -> T { return std::asinh(x); }), 9);
  r.add("Acosh", float_unary([]<class T>(T x) -> T { return std::acosh(x); }), 9);
  r.add("Atanh", float_unary([]<class T>(T x) -> T { return std::atanh(x); }), 9);
  r.add("Not", make_not, 1);
  r.add("IsNaN", make_isnan, 9);
  r.add("IsInf", make_isinf, 10);

  r.add("And", [](node_info& n) { return make_logic(n, logic::and_); }, 7);
  r.add("Or", [](node_info& n) { return make_logic(n, logic::or_); }, 7);
  r.add("Xor", [](node_info& n) { return make_logic(n, logic::xor_); }, 7);
  r.add("Equal", [](node_info& n) { return make_compare(n, compare::equal); }, 7);
  r.add("Less", [](node_info& n) { return make_compare(n, compare::less); }, 7);
  r.add("Greater", [](node_info& n) { return make_compare(n, compare::greater); }, 7);
  r.add("LessOrEqual", [](node_info& n) { return make_compare(n, compare::less_equal); }, 12);
  r.add("GreaterOrEqual", [](node_info& n) { return make_compare(n, compare::greater_equal); }, 12);

  // Version 6 needs equal shapes, version 8 broadcasts: broadcasting is a superset.
  r.add("Max", [](node_info& n) { return make_fold(n, fold::max); }, 6);
  r.add("Min", [](node_info& n) { return make_fold(n, fold::min); }, 6);
  r.add("Sum", [](node_info& n) { return make_fold(n, fold::sum); }, 6);
  r.add("Mean", [](node_info& n) { return make_fold(n, fold::mean); }, 6);
  r.add("Where", make_where, 9);
  r.add("Clip", make_clip, 6);
}

}  // namespace mq::exec::ops
