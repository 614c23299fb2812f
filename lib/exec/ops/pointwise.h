// What the element-wise, activation and reduction kernels share (private to those three files):
// numpy broadcasting walks over several inputs split across threads, wrapping integer
// arithmetic, float16/bfloat16 conversion, and the unary kernel pattern (in place when the input
// is free, float32 transcendental functions through the float kernel table).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "exec/ops/common.h"
#include "kernels/gemm.h"
#include "tensor/half.h"

namespace mq::exec::ops::pointwise {

/// Work below this many elements runs on one thread (starting the others costs more).
constexpr std::int64_t grain = 1 << 15;
/// The same for transcendental functions (more work per element).
constexpr std::int64_t heavy_grain = 1 << 12;

/// A float32 kernel-table function: y[i] = f(x[i]).
using table_fn = void (*kernels::float_kernel_table::*)(const float*, float*, std::int64_t);

/// True for float16 and bfloat16 (computed in float32, stored back rounded to nearest even).
inline bool is_half(mq::dtype t) noexcept { return t == mq::dtype::float16 || t == mq::dtype::bfloat16; }

inline float half_to_float(mq::dtype t, std::uint16_t bits) noexcept {
  return t == mq::dtype::float16 ? mq::half::half_to_float(bits) : mq::half::bfloat16_to_float(bits);
}
inline std::uint16_t float_to_half(mq::dtype t, float v) noexcept {
  return t == mq::dtype::float16 ? mq::half::float_to_half(v) : mq::half::float_to_bfloat16(v);
}

/// A float32 copy of a float16/bfloat16 tensor.
inline result<tensor> widen(const run_context& ctx, const tensor& t) {
  tensor f = MQ_TRY(ctx.allocate(mq::dtype::float32, t.shape()));
  const std::uint16_t* src = t.data<std::uint16_t>();
  float* dst = f.mutable_data<float>();
  const mq::dtype type = t.type();
  ctx.pool().parallel_for(t.size(), grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) dst[i] = half_to_float(type, src[i]);
  });
  return f;
}

/// A float16/bfloat16 tensor of `type` from float32 values (rounded to nearest even).
inline result<tensor> narrow(const run_context& ctx, const tensor& f, mq::dtype type) {
  tensor h = MQ_TRY(ctx.allocate(type, f.shape()));
  const float* src = f.data<float>();
  std::uint16_t* dst = h.mutable_data<std::uint16_t>();
  ctx.pool().parallel_for(f.size(), grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) dst[i] = float_to_half(type, src[i]);
  });
  return h;
}

/// Integer arithmetic that wraps around (two's complement) instead of overflowing, as numpy and
/// ONNX Runtime do; floats as usual. Types narrower than int compute in unsigned int.
template <class T>
using wrap_t = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <class T>
T add(T x, T y) noexcept {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<wrap_t<T>>(x) + static_cast<wrap_t<T>>(y));
  else return x + y;
}
template <class T>
T sub(T x, T y) noexcept {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<wrap_t<T>>(x) - static_cast<wrap_t<T>>(y));
  else return x - y;
}
template <class T>
T mul(T x, T y) noexcept {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<wrap_t<T>>(x) * static_cast<wrap_t<T>>(y));
  else return x * y;
}
template <class T>
T neg(T x) noexcept {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(wrap_t<T>{0} - static_cast<wrap_t<T>>(x));
  else return -x;
}
/// Division; integers truncate toward zero (the caller refuses a zero divisor), and the one
/// signed overflow, min / -1, wraps to min.
template <class T>
T div(T x, T y) noexcept {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    if (y == T(-1)) return neg(x);
  }
  return static_cast<T>(x / y);
}

/// numpy's maximum/minimum: NaN in either input gives NaN.
template <class T>
T max_of(T x, T y) noexcept {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(x)) return x;
  }
  return y > x || (std::is_floating_point_v<T> && y != y) ? y : x;
}
template <class T>
T min_of(T x, T y) noexcept {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(x)) return x;
  }
  return y < x || (std::is_floating_point_v<T> && y != y) ? y : x;
}

/// The broadcast of N inputs to an output shape as merged dimensions (runs of dimensions in which
/// every input is either contiguous or broadcast become one), walked in runs along the last one.
template <std::size_t N>
class broadcast_walk {
 public:
  broadcast_walk(const std::array<const shape_t*, N>& inputs, const shape_t& out) {
    std::array<std::vector<std::int64_t>, N> own;
    for (std::size_t k = 0; k < N; ++k) own[k] = broadcast_strides(*inputs[k], out);
    for (std::size_t d = 0; d < out.size(); ++d) {
      if (out[d] == 1) continue;
      bool merge = !dims_.empty();
      for (std::size_t k = 0; k < N && merge; ++k) merge = steps_[k].back() == own[k][d] * out[d];
      if (merge) {
        dims_.back() *= out[d];
        for (std::size_t k = 0; k < N; ++k) steps_[k].back() = own[k][d];
      } else {
        dims_.push_back(out[d]);
        for (std::size_t k = 0; k < N; ++k) steps_[k].push_back(own[k][d]);
      }
    }
    if (dims_.empty()) {
      dims_.push_back(1);
      for (std::size_t k = 0; k < N; ++k) steps_[k].push_back(0);
    }
    inner_ = dims_.back();
  }

  /// Calls f(out_offset, offsets, count, steps) for the output elements [begin, end), one call per
  /// run along the last merged dimension: element j of the run reads input k at offsets[k] + j *
  /// steps[k] (steps are 0 or 1).
  template <class F>
  void walk(std::int64_t begin, std::int64_t end, F&& f) const {
    if (begin >= end) return;
    const std::size_t r = dims_.size();
    std::vector<std::int64_t> idx(r, 0);
    std::array<std::int64_t, N> off{};
    std::array<std::int64_t, N> step{};
    for (std::size_t k = 0; k < N; ++k) step[k] = steps_[k][r - 1];
    std::int64_t rest = begin / inner_;
    std::int64_t col = begin % inner_;
    for (std::size_t d = r - 1; d-- > 0;) {
      idx[d] = rest % dims_[d];
      rest /= dims_[d];
      for (std::size_t k = 0; k < N; ++k) off[k] += idx[d] * steps_[k][d];
    }
    std::int64_t pos = begin;
    while (pos < end) {
      const std::int64_t count = std::min(inner_ - col, end - pos);
      std::array<std::int64_t, N> at{};
      for (std::size_t k = 0; k < N; ++k) at[k] = off[k] + col * step[k];
      f(pos, at, count, step);
      pos += count;
      col = 0;
      for (std::size_t d = r - 1; d-- > 0;) {
        ++idx[d];
        for (std::size_t k = 0; k < N; ++k) off[k] += steps_[k][d];
        if (idx[d] < dims_[d]) break;
        for (std::size_t k = 0; k < N; ++k) off[k] -= steps_[k][d] * dims_[d];
        idx[d] = 0;
      }
    }
  }

 private:
  std::vector<std::int64_t> dims_;
  std::array<std::vector<std::int64_t>, N> steps_;
  std::int64_t inner_ = 1;
};

/// y = op(a, b) over the broadcast of a and b to `so` (y may be a or b when that input has the
/// output's shape and type), split across the pool's threads.
template <class TA, class TB, class TO, class Op>
void binary_kernel(const TA* a, const TB* b, TO* y, const shape_t& sa, const shape_t& sb, const shape_t& so,
                   thread_pool& pool, Op op) {
  const std::int64_t n = element_count(so);
  if (n == 0) return;
  if (sa == so && sb == so) {
    pool.parallel_for(n, grain, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) y[i] = op(a[i], b[i]);
    });
    return;
  }
  const broadcast_walk<2> w({&sa, &sb}, so);
  pool.parallel_for(n, grain, [&](std::int64_t begin, std::int64_t end) {
    w.walk(begin, end, [&](std::int64_t o, const std::array<std::int64_t, 2>& at, std::int64_t count,
                           const std::array<std::int64_t, 2>& step) {
      TO* out = y + o;
      const TA* x0 = a + at[0];
      const TB* x1 = b + at[1];
      if (step[0] != 0 && step[1] != 0) {
        for (std::int64_t i = 0; i < count; ++i) out[i] = op(x0[i], x1[i]);
      } else if (step[0] != 0) {
        const TB v = *x1;
        for (std::int64_t i = 0; i < count; ++i) out[i] = op(x0[i], v);
      } else if (step[1] != 0) {
        const TA v = *x0;
        for (std::int64_t i = 0; i < count; ++i) out[i] = op(v, x1[i]);
      } else {
        const TO v = op(*x0, *x1);
        for (std::int64_t i = 0; i < count; ++i) out[i] = v;
      }
    });
  });
}

/// y[i] = f(x[i]) on the pool's threads (y may be x).
template <class TI, class TO, class F>
void map(thread_pool& pool, const TI* x, TO* y, std::int64_t n, F f, std::int64_t min_chunk = grain) {
  pool.parallel_for(n, min_chunk, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) y[i] = f(x[i]);
  });
}

/// float16/bfloat16 bits through a float32 function over arrays, fn(const float*, float*, n), in
/// blocks converted on the stack.
template <class F>
void map_half_blocks(thread_pool& pool, mq::dtype type, const std::uint16_t* x, std::uint16_t* y, std::int64_t n,
                     F fn) {
  pool.parallel_for(n, heavy_grain, [&](std::int64_t b, std::int64_t e) {
    constexpr std::int64_t block = 256;
    float in[block];
    float out[block];
    for (std::int64_t s = b; s < e; s += block) {
      const std::int64_t m = std::min(block, e - s);
      for (std::int64_t i = 0; i < m; ++i) in[i] = half_to_float(type, x[s + i]);
      fn(static_cast<const float*>(in), static_cast<float*>(out), m);
      for (std::int64_t i = 0; i < m; ++i) y[s + i] = float_to_half(type, out[i]);
    }
  });
}

/// Which element types a unary kernel takes.
enum class unary_types : std::uint8_t {
  floats,          // float16, bfloat16, float, double
  signed_numeric,  // floats and the signed integers
  numeric,         // floats and every integer
};

/// A unary element-wise kernel: y = fn(x) with fn a generic callable `<class T>(T) -> T`; float
/// halves compute fn<float>; float32 uses the kernel table's array function when `table` is given.
/// The result takes over the input's storage when this node is its last reader.
template <unary_types Types, class Fn>
result<void> run_unary(run_context& ctx, const Fn& fn, table_fn table = nullptr) {
  const tensor& x = ctx.in(0);
  const mq::dtype type = x.type();
  const shape_t shape = x.shape();
  const void* px = x.raw();
  const std::int64_t n = x.size();
  const bool floating = type == mq::dtype::float32 || type == mq::dtype::float64 || is_half(type);
  bool known = floating;
  if constexpr (Types != unary_types::floats) {
    known = known || type == mq::dtype::int8 || type == mq::dtype::int16 || type == mq::dtype::int32 ||
            type == mq::dtype::int64;
  }
  if constexpr (Types == unary_types::numeric) {
    known = known || type == mq::dtype::uint8 || type == mq::dtype::uint16 || type == mq::dtype::uint32 ||
            type == mq::dtype::uint64;
  }
  if (!known) return ctx.unsupported("element type " + type_name(type));
  tensor y = MQ_TRY(ctx.reuse_or_allocate(0, type, shape));
  thread_pool& pool = ctx.pool();
  if (type == mq::dtype::float32 && table != nullptr) {
    const auto f = kernels::active_float_kernels().*table;
    const float* in = static_cast<const float*>(px);
    float* out = y.mutable_data<float>();
    pool.parallel_for(n, heavy_grain, [&](std::int64_t b, std::int64_t e) { f(in + b, out + b, e - b); });
  } else if (is_half(type)) {
    const auto f = table != nullptr ? kernels::active_float_kernels().*table : nullptr;
    map_half_blocks(pool, type, static_cast<const std::uint16_t*>(px), y.mutable_data<std::uint16_t>(), n,
                    [&](const float* in, float* out, std::int64_t m) {
                      if (f != nullptr) {
                        f(in, out, m);
                      } else {
                        for (std::int64_t i = 0; i < m; ++i) out[i] = fn.template operator()<float>(in[i]);
                      }
                    });
  } else {
    visit_numeric(type, [&]<class T>() {
      constexpr bool take = std::is_floating_point_v<T> || (Types == unary_types::numeric) ||
                            (Types == unary_types::signed_numeric && std::is_signed_v<T>);
      if constexpr (take) {
        map(pool, static_cast<const T*>(px), y.mutable_data<T>(), n, [&](T v) { return fn.template operator()<T>(v); });
      }
    });
  }
  ctx.set_output(0, std::move(y));
  return {};
}

}  // namespace mq::exec::ops::pointwise
