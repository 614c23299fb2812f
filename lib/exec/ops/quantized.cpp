// Quantized operators: QuantizeLinear, DequantizeLinear (per tensor and per axis),
// DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearConv, QLinearMatMul, and the
// com.microsoft contrib operators ONNX Runtime's quantizer emits (QLinearAdd, QLinearMul,
// QLinearConcat, QLinearGlobalAveragePool, QLinearSigmoid, QLinearLeakyRelu, QuantizeLinear,
// DequantizeLinear, DynamicQuantizeMatMul, MatMulIntegerToFloat).
//
// Quantizing is q = saturate(round_half_even(x / scale) + zero_point) in float32, the formula of
// the ONNX spec, of ONNX Runtime (MLAS) and of lib/kernels, whose bit-exact quantize kernels do the
// float32 -> 8-bit cases. Requantizing an int32 accumulator (QLinearConv, QLinearMatMul) is
// saturate(round_half_even(float(acc) * (s_in * s_w / s_out)) + zero_point), as MLAS computes it.
//
// Every integer product runs on one engine: operands widened to int16 with their zero points
// subtracted (|v| <= 255), rows of K values zero-padded to a multiple of 16, and a 4 x 2 block of
// int32 dot products the compiler vectorizes (pmaddwd); an AVX2 copy of that block is chosen at run
// time on CPUs that have it (target attribute on one internal function, as lib/kernels/avx2.cpp
// does). Integer results do not depend on the copy, the tiling or the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"
#include "kernels/kernels.h"

namespace mq::exec::ops {
namespace {

constexpr std::int64_t parallel_grain = 1 << 14;
constexpr const char* ms_domain = "com.microsoft";

// ---- element types ------------------------------------------------------------------------------

/// Calls f.template operator()<T>() for the quantized integer types (8 and 16 bits).
template <class F>
bool visit_quant(mq::dtype type, F&& f) {
  switch (type) {
    case mq::dtype::uint8: f.template operator()<std::uint8_t>(); return true;
    case mq::dtype::int8: f.template operator()<std::int8_t>(); return true;
    case mq::dtype::uint16: f.template operator()<std::uint16_t>(); return true;
    case mq::dtype::int16: f.template operator()<std::int16_t>(); return true;
    default: return false;
  }
}

bool is_8bit(mq::dtype t) { return t == mq::dtype::uint8 || t == mq::dtype::int8; }

struct qrange {
  std::int32_t lo;
  std::int32_t hi;
};

qrange range_of(mq::dtype t) {
  switch (t) {
    case mq::dtype::uint8: return {0, 255};
    case mq::dtype::int8: return {-128, 127};
    case mq::dtype::uint16: return {0, 65535};
    case mq::dtype::int16: return {-32768, 32767};
    default: return {0, 0};
  }
}

/// saturate(round_half_even(x / scale) + zero_point) in float32; NaN gives the lower bound (as
/// the lib/kernels quantize kernels write it).
inline std::int32_t quantize_value(float x, float scale, std::int32_t zero_point, qrange r) {
  float q = std::nearbyint(x / scale) + static_cast<float>(zero_point);
  if (!(q >= static_cast<float>(r.lo))) q = static_cast<float>(r.lo);
  if (q > static_cast<float>(r.hi)) q = static_cast<float>(r.hi);
  return static_cast<std::int32_t>(q);
}

/// saturate(round_half_even(v) + zero_point) for an already scaled value (requantization).
inline std::int32_t requantize_value(float v, std::int32_t zero_point, qrange r) {
  float q = std::nearbyint(v) + static_cast<float>(zero_point);
  if (!(q >= static_cast<float>(r.lo))) q = static_cast<float>(r.lo);
  if (q > static_cast<float>(r.hi)) q = static_cast<float>(r.hi);
  return static_cast<std::int32_t>(q);
}

/// saturate(round_half_even(v)) for a value that already includes the zero point (NaN: the lower
/// bound).
inline std::int32_t saturate_round(float v, qrange r) {
  float q = std::nearbyint(v);
  if (!(q >= static_cast<float>(r.lo))) q = static_cast<float>(r.lo);
  if (q > static_cast<float>(r.hi)) q = static_cast<float>(r.hi);
  return static_cast<std::int32_t>(q);
}

/// Element i of a float tensor (float32, float16, float64) as float.
float float_at(const tensor& t, std::int64_t i) { return static_cast<float>(element_as_double(t, i)); }

/// The values of a scale tensor (float32 or float16), failing naming it otherwise.
result<std::vector<float>> scales_of(const run_context& ctx, std::size_t i, const char* what) {
  const tensor& t = ctx.in(i);
  if (t.type() != mq::dtype::float32 && t.type() != mq::dtype::float16) {
    return ctx.fail(std::string(what) + " has type " + type_name(t.type()) + ", expected float");
  }
  std::vector<float> v(static_cast<std::size_t>(t.size()));
  for (std::int64_t k = 0; k < t.size(); ++k) v[static_cast<std::size_t>(k)] = float_at(t, k);
  return v;
}

/// The values of an optional zero-point input as int32 (`count` zeros when absent); its type must
/// be `type`.
result<std::vector<std::int32_t>> zero_points_of(const run_context& ctx, std::size_t i, const char* what, mq::dtype type,
                                                 std::int64_t count) {
  if (!ctx.has_input(i)) return std::vector<std::int32_t>(static_cast<std::size_t>(count), 0);
  const tensor& t = ctx.in(i);
  if (t.type() != type) {
    return ctx.fail(std::string(what) + " has type " + type_name(t.type()) + ", expected " + type_name(type));
  }
  std::vector<std::int32_t> v(static_cast<std::size_t>(t.size()));
  for (std::int64_t k = 0; k < t.size(); ++k) v[static_cast<std::size_t>(k)] = static_cast<std::int32_t>(element_as_int64(t, k));
  return v;
}

result<float> scalar_scale(const run_context& ctx, std::size_t i, const char* what) {
  if (ctx.in(i).size() != 1) return ctx.fail(std::string(what) + " must be a scalar, got shape " + shape_string(ctx.in(i).shape()));
  auto v = MQ_TRY(scales_of(ctx, i, what));
  return v[0];
}

result<std::int32_t> scalar_zero_point(const run_context& ctx, std::size_t i, const char* what, mq::dtype type) {
  if (ctx.has_input(i) && ctx.in(i).size() != 1) {
    return ctx.fail(std::string(what) + " must be a scalar, got shape " + shape_string(ctx.in(i).shape()));
  }
  auto v = MQ_TRY(zero_points_of(ctx, i, what, type, 1));
  return v[0];
}

// ---- QuantizeLinear / DequantizeLinear ----------------------------------------------------------

// Per-tensor or per-axis parameters of a tensor of shape `shape`: `channels` values, applied to
// blocks of `inner` consecutive elements, `outer` times.
struct axis_params {
  std::int64_t outer = 1;
  std::int64_t channels = 1;
  std::int64_t inner = 1;
};

result<axis_params> layout_for(const run_context& ctx, const shape_t& shape, std::int64_t params, bool allow_axis,
                               std::int64_t axis) {
  axis_params p;
  if (params == 1) {
    p.inner = element_count(shape);
    return p;
  }
  if (!allow_axis) return ctx.fail("the scale must be a scalar at this opset");
  const std::size_t a = MQ_TRY(axis_for(ctx, axis, shape.size()));
  if (shape[a] != params) {
    return ctx.fail("per-axis scale has " + std::to_string(params) + " values, but axis " + std::to_string(axis) +
                    " of input shape " + shape_string(shape) + " has " + std::to_string(shape[a]));
  }
  for (std::size_t k = 0; k < a; ++k) p.outer *= shape[k];
  p.channels = shape[a];
  for (std::size_t k = a + 1; k < shape.size(); ++k) p.inner *= shape[k];
  return p;
}

result<std::unique_ptr<kernel>> make_quantize(node_info& node) {
  const bool contrib = node.domain() == ms_domain;
  MQ_TRY_VOID(node.only_attributes({"axis", "saturate"}));
  if (node.attr_int("saturate", 1) != 1) return node.unsupported("saturate=0 (it only concerns float8 outputs)");
  const bool allow_axis = contrib || node.since_version() >= 13;
  const std::int64_t axis = node.attr_int("axis", 1);
  return make_kernel([allow_axis, axis](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.type() != mq::dtype::float32 && x.type() != mq::dtype::float16 && x.type() != mq::dtype::int32) {
      return ctx.fail("x has type " + type_name(x.type()) + ", expected float or int32");
    }
    const mq::dtype out_type = ctx.has_input(2) ? ctx.in(2).type() : mq::dtype::uint8;
    if (range_of(out_type).hi == 0) return ctx.unsupported("output type " + type_name(out_type));
    if (ctx.has_input(2) && ctx.in(2).size() != ctx.in(1).size()) {
      return ctx.fail("y_zero_point has shape " + shape_string(ctx.in(2).shape()) + ", y_scale " + shape_string(ctx.in(1).shape()));
    }
    const std::vector<float> scale = MQ_TRY(scales_of(ctx, 1, "y_scale"));
    const std::int64_t params = static_cast<std::int64_t>(scale.size());
    if (ctx.in(1).rank() > 1) return ctx.fail("y_scale must be a scalar or 1-D, got shape " + shape_string(ctx.in(1).shape()));
    const std::vector<std::int32_t> zp = MQ_TRY(zero_points_of(ctx, 2, "y_zero_point", out_type, params));
    const axis_params lay = MQ_TRY(layout_for(ctx, x.shape(), params, allow_axis, axis));
    tensor y = MQ_TRY(ctx.allocate(out_type, x.shape()));
    const qrange range = range_of(out_type);
    const std::int64_t blocks = lay.outer * lay.channels;
    const bool kernel_scales = std::all_of(scale.begin(), scale.end(), [](float s) { return s > 0 && std::isfinite(s); });
    if (x.type() == mq::dtype::float32 && is_8bit(out_type) && kernel_scales) {
      // The bit-exact lib/kernels quantize kernel (it wants positive finite scales), block by
      // block, split for the threads.
      const kernels::kernel_table& kt = kernels::active_kernels();
      const float* in = x.data<float>();
      auto* out = static_cast<std::uint8_t*>(y.mutable_raw());
      const kernels::clip_range clip{range.lo, range.hi};
      if (blocks == 1) {
        ctx.pool().parallel_for(lay.inner, parallel_grain, [&](std::int64_t b, std::int64_t e) {
          kt.quantize({in + b, static_cast<std::size_t>(e - b)}, scale[0], zp[0], clip, out + b, nullptr);
        });
      } else if (lay.inner == 1) {
        kt.quantize_columns(in, static_cast<std::size_t>(lay.outer), static_cast<std::size_t>(lay.channels), scale.data(),
                            zp.data(), clip, out, nullptr);
      } else {
        ctx.pool().parallel_for(blocks, std::max<std::int64_t>(1, parallel_grain / lay.inner), [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t blk = b; blk < e; ++blk) {
            const auto c = static_cast<std::size_t>(blk % lay.channels);
            kt.quantize({in + blk * lay.inner, static_cast<std::size_t>(lay.inner)}, scale[c], zp[c], clip,
                        out + blk * lay.inner, nullptr);
          }
        });
      }
    } else {
      visit_quant(out_type, [&]<class Q>() {
        Q* out = y.mutable_data<Q>();
        for (std::int64_t blk = 0; blk < blocks; ++blk) {
          const auto c = static_cast<std::size_t>(blk % lay.channels);
          for (std::int64_t i = blk * lay.inner; i < (blk + 1) * lay.inner; ++i) {
            out[i] = static_cast<Q>(quantize_value(float_at(x, i), scale[c], zp[c], range));
          }
        }
      });
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

result<std::unique_ptr<kernel>> make_dequantize(node_info& node) {
  const bool contrib = node.domain() == ms_domain;
  MQ_TRY_VOID(node.only_attributes({"axis"}));
  const bool allow_axis = contrib || node.since_version() >= 13;
  const std::int64_t axis = node.attr_int("axis", 1);
  return make_kernel([allow_axis, axis](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const mq::dtype type = x.type();
    if (!is_8bit(type) && type != mq::dtype::int32 && type != mq::dtype::int16 && type != mq::dtype::uint16) {
      return ctx.unsupported("element type " + type_name(type));
    }
    if (ctx.in(1).type() != mq::dtype::float32) return ctx.unsupported("x_scale of type " + type_name(ctx.in(1).type()));
    if (ctx.in(1).rank() > 1) return ctx.fail("x_scale must be a scalar or 1-D, got shape " + shape_string(ctx.in(1).shape()));
    if (ctx.has_input(2) && ctx.in(2).size() != ctx.in(1).size()) {
      return ctx.fail("x_zero_point has shape " + shape_string(ctx.in(2).shape()) + ", x_scale " + shape_string(ctx.in(1).shape()));
    }
    const std::vector<float> scale = MQ_TRY(scales_of(ctx, 1, "x_scale"));
    const std::int64_t params = static_cast<std::int64_t>(scale.size());
    const std::vector<std::int32_t> zp = MQ_TRY(zero_points_of(ctx, 2, "x_zero_point", type, params));
    if (type == mq::dtype::int32) {
      for (std::int32_t z : zp) {
        if (z != 0) return ctx.fail("x_zero_point of an int32 input must be 0");
      }
    }
    const axis_params lay = MQ_TRY(layout_for(ctx, x.shape(), params, allow_axis, axis));
    tensor y = MQ_TRY(ctx.allocate(mq::dtype::float32, x.shape()));
    float* out = y.mutable_data<float>();
    const std::int64_t blocks = lay.outer * lay.channels;
    auto run = [&]<class T>() {
      const T* in = x.data<T>();
      auto block = [&](std::int64_t blk, std::int64_t b, std::int64_t e) {
        const auto c = static_cast<std::size_t>(blk % lay.channels);
        const float s = scale[c];
        const std::int32_t z = zp[c];  // 0 for int32 inputs: the difference cannot overflow
        for (std::int64_t i = b; i < e; ++i) out[i] = static_cast<float>(static_cast<std::int32_t>(in[i]) - z) * s;
      };
      if (blocks == 1) {
        ctx.pool().parallel_for(lay.inner, parallel_grain, [&](std::int64_t b, std::int64_t e) { block(0, b, e); });
      } else {
        ctx.pool().parallel_for(blocks, std::max<std::int64_t>(1, parallel_grain / std::max<std::int64_t>(lay.inner, 1)),
                                [&](std::int64_t b, std::int64_t e) {
                                  for (std::int64_t blk = b; blk < e; ++blk) block(blk, blk * lay.inner, (blk + 1) * lay.inner);
                                });
      }
    };
    if (type == mq::dtype::int32) run.template operator()<std::int32_t>();
    else visit_quant(type, run);
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// The scale and zero point DynamicQuantizeLinear (and ONNX Runtime's DynamicQuantizeMatMul) give a
// float32 tensor: the range [min(0, min x), max(0, max x)] on uint8, scale = range / 255 (1 when
// the range is empty, as ONNX Runtime), zero point = round_half_even(clip(-min / scale, 0, 255)).
struct dynamic_params {
  float scale;
  std::int32_t zero_point;
};

result<dynamic_params> dynamic_params_of(const run_context& ctx, const float* x, std::int64_t n) {
  const kernels::minmax_result mm = kernels::active_kernels().minmax({x, static_cast<std::size_t>(n)});
  if (mm.first_nonfinite != kernels::no_index) {
    return ctx.fail("input holds " + std::to_string(x[mm.first_nonfinite]) + " at element " + std::to_string(mm.first_nonfinite) +
                    ": no quantization range");
  }
  const float lo = std::min(mm.min, 0.0f);
  const float hi = std::max(mm.max, 0.0f);
  dynamic_params p;
  p.scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
  const float initial = 0.0f - lo / p.scale;
  p.zero_point = static_cast<std::int32_t>(std::nearbyint(std::max(0.0f, std::min(255.0f, initial))));
  return p;
}

result<std::unique_ptr<kernel>> make_dynamic_quantize(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.type() != mq::dtype::float32) return ctx.unsupported("element type " + type_name(x.type()));
    const dynamic_params p = MQ_TRY(dynamic_params_of(ctx, x.data<float>(), x.size()));
    tensor y = MQ_TRY(ctx.allocate(mq::dtype::uint8, x.shape()));
    tensor ys = MQ_TRY(ctx.allocate(mq::dtype::float32, {}));
    tensor yz = MQ_TRY(ctx.allocate(mq::dtype::uint8, {}));
    const kernels::kernel_table& kt = kernels::active_kernels();
    const float* in = x.data<float>();
    auto* out = y.mutable_data<std::uint8_t>();
    ctx.pool().parallel_for(x.size(), parallel_grain, [&](std::int64_t b, std::int64_t e) {
      kt.quantize({in + b, static_cast<std::size_t>(e - b)}, p.scale, p.zero_point, {0, 255}, out + b, nullptr);
    });
    ys.mutable_data<float>()[0] = p.scale;
    yz.mutable_data<std::uint8_t>()[0] = static_cast<std::uint8_t>(p.zero_point);
    ctx.set_output(0, std::move(y));
    ctx.set_output(1, std::move(ys));
    ctx.set_output(2, std::move(yz));
    return {};
  });
}

// ---- the integer product engine -----------------------------------------------------------------

using i16 = std::int16_t;

/// K rounded up so that every row of an operand is a whole number of 16-lane vectors.
constexpr std::int64_t padded(std::int64_t k) { return (k + 15) / 16 * 16; }

// out[i * 2 + j] = sum_k a_i[k] * b_j[k], k < kp (a multiple of 16).
#if defined(__GNUC__) || defined(__clang__)
#define MQ_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define MQ_ALWAYS_INLINE inline
#endif

MQ_ALWAYS_INLINE void dot4x2_body(const i16* const* a, const i16* const* b, std::int64_t kp, std::int32_t* out) {
  const i16* a0 = a[0];
  const i16* a1 = a[1];
  const i16* a2 = a[2];
  const i16* a3 = a[3];
  const i16* b0 = b[0];
  const i16* b1 = b[1];
  // Unsigned sums: the spec lets the accumulation wrap in 32 bits (each product, at most 255 * 255
  // in magnitude, fits), and unsigned wrapping is defined. The compiler still emits pmaddwd.
  std::uint32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
  for (std::int64_t k = 0; k < kp; ++k) {
    const std::int32_t y0 = b0[k];
    const std::int32_t y1 = b1[k];
    const std::int32_t x0 = a0[k];
    const std::int32_t x1 = a1[k];
    const std::int32_t x2 = a2[k];
    const std::int32_t x3 = a3[k];
    s00 += static_cast<std::uint32_t>(x0 * y0);
    s01 += static_cast<std::uint32_t>(x0 * y1);
    s10 += static_cast<std::uint32_t>(x1 * y0);
    s11 += static_cast<std::uint32_t>(x1 * y1);
    s20 += static_cast<std::uint32_t>(x2 * y0);
    s21 += static_cast<std::uint32_t>(x2 * y1);
    s30 += static_cast<std::uint32_t>(x3 * y0);
    s31 += static_cast<std::uint32_t>(x3 * y1);
  }
  out[0] = static_cast<std::int32_t>(s00);
  out[1] = static_cast<std::int32_t>(s01);
  out[2] = static_cast<std::int32_t>(s10);
  out[3] = static_cast<std::int32_t>(s11);
  out[4] = static_cast<std::int32_t>(s20);
  out[5] = static_cast<std::int32_t>(s21);
  out[6] = static_cast<std::int32_t>(s30);
  out[7] = static_cast<std::int32_t>(s31);
}

using dot4x2_fn = void (*)(const i16* const* a, const i16* const* b, std::int64_t kp, std::int32_t* out);

void dot4x2_default(const i16* const* a, const i16* const* b, std::int64_t kp, std::int32_t* out) {
  dot4x2_body(a, b, kp, out);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) void dot4x2_avx2(const i16* const* a, const i16* const* b, std::int64_t kp,
                                                 std::int32_t* out) {
  dot4x2_body(a, b, kp, out);
}
#endif

dot4x2_fn pick_dot() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const dot4x2_fn chosen = __builtin_cpu_supports("avx2") ? dot4x2_avx2 : dot4x2_default;
  return chosen;
#else
  return dot4x2_default;
#endif
}

/// For m < m_count and n in [n_begin, n_end): store(m, n, sum_k a[m * lda + k] * b[(n - n_begin) * ldb
/// + k]) with rows of kp (a multiple of 16) int16 values; b points at the row of n_begin.
template <class Store>
void int_products(const i16* a, std::int64_t lda, std::int64_t m_count, const i16* b, std::int64_t ldb,
                  std::int64_t n_begin, std::int64_t n_end, std::int64_t kp, Store&& store) {
  const dot4x2_fn dot = pick_dot();
  for (std::int64_t m0 = 0; m0 < m_count; m0 += 4) {
    const i16* ar[4];
    for (std::int64_t i = 0; i < 4; ++i) ar[i] = a + std::min(m0 + i, m_count - 1) * lda;
    const std::int64_t mi = std::min<std::int64_t>(4, m_count - m0);
    for (std::int64_t n0 = n_begin; n0 < n_end; n0 += 2) {
      const i16* br[2] = {b + (n0 - n_begin) * ldb, b + (std::min(n0 + 1, n_end - 1) - n_begin) * ldb};
      std::int32_t out[8];
      dot(ar, br, kp, out);
      const std::int64_t nj = std::min<std::int64_t>(2, n_end - n0);
      for (std::int64_t i = 0; i < mi; ++i) {
        for (std::int64_t j = 0; j < nj; ++j) store(m0 + i, n0 + j, out[i * 2 + j]);
      }
    }
  }
}

/// rows x k values of an 8-bit tensor (row r at src + r * row_stride, element k at + k * k_stride)
/// minus the zero point of their row, as int16 rows of kp values (zero padded).
template <class T>
void widen_rows(const T* src, std::int64_t rows, std::int64_t k, std::int64_t row_stride, std::int64_t k_stride,
                const std::int32_t* zp, bool zp_per_row, std::int64_t kp, i16* dst) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int32_t z = zp[zp_per_row ? r : 0];
    i16* d = dst + r * kp;
    const T* s = src + r * row_stride;
    if (k_stride == 1) {
      for (std::int64_t j = 0; j < k; ++j) d[j] = static_cast<i16>(static_cast<std::int32_t>(s[j]) - z);
    } else {
      for (std::int64_t j = 0; j < k; ++j) d[j] = static_cast<i16>(static_cast<std::int32_t>(s[j * k_stride]) - z);
    }
    std::fill(d + k, d + kp, i16{0});
  }
}

/// Calls f.template operator()<T>() for uint8 and int8 (the operand types of integer products).
template <class F>
bool visit_8bit(mq::dtype type, F&& f) {
  switch (type) {
    case mq::dtype::uint8: f.template operator()<std::uint8_t>(); return true;
    case mq::dtype::int8: f.template operator()<std::int8_t>(); return true;
    default: return false;
  }
}

// ---- MatMul-like products -----------------------------------------------------------------------

// numpy.matmul shapes: A [..., M, K] x B [..., K, N] with broadcast batch dimensions (a 1-D A is
// [1, K], a 1-D B is [K, 1], the added dimension removed from the result).
struct matmul_shape {
  std::int64_t m = 0, k = 0, n = 0;
  shape_t out;
  std::vector<std::int64_t> a_batch;  // per output batch: index of A's matrix
  std::vector<std::int64_t> b_batch;
  shape_t a_full;  // A as at least 2-D
  shape_t b_full;
  std::int64_t a_matrices() const { return element_count(shape_t(a_full.begin(), a_full.end() - 2)); }
  std::int64_t b_matrices() const { return element_count(shape_t(b_full.begin(), b_full.end() - 2)); }
};

result<matmul_shape> matmul_shape_of(const run_context& ctx, const shape_t& a, const shape_t& b) {
  if (a.empty() || b.empty()) return ctx.fail("MatMul inputs must have rank >= 1");
  matmul_shape s;
  s.a_full = a.size() == 1 ? shape_t{1, a[0]} : a;
  s.b_full = b.size() == 1 ? shape_t{b[0], 1} : b;
  s.m = s.a_full[s.a_full.size() - 2];
  s.k = s.a_full.back();
  s.n = s.b_full.back();
  if (s.b_full[s.b_full.size() - 2] != s.k) {
    return ctx.fail("shapes " + shape_string(a) + " and " + shape_string(b) + " do not multiply");
  }
  const shape_t ab(s.a_full.begin(), s.a_full.end() - 2);
  const shape_t bb(s.b_full.begin(), s.b_full.end() - 2);
  auto batch = broadcast_shapes(ab, bb);
  if (!batch) return ctx.fail("batch dimensions of " + shape_string(a) + " and " + shape_string(b) + " do not broadcast");
  const std::int64_t count = element_count(*batch);
  const std::vector<std::int64_t> sa = broadcast_strides(ab, *batch);
  const std::vector<std::int64_t> sb = broadcast_strides(bb, *batch);
  std::vector<std::int64_t> idx(batch->size(), 0);
  for (std::int64_t o = 0; o < count; ++o) {
    std::int64_t ia = 0;
    std::int64_t ib = 0;
    for (std::size_t d = 0; d < idx.size(); ++d) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    s.a_batch.push_back(ia);
    s.b_batch.push_back(ib);
    for (std::size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < (*batch)[d]) break;
      idx[d] = 0;
    }
  }
  s.out = *batch;
  if (a.size() > 1) s.out.push_back(s.m);
  if (b.size() > 1) s.out.push_back(s.n);
  return s;
}

// Per-row (of A) or per-column (of B) quantization parameters, expanded to one value per
// (matrix, row) of A or (matrix, column) of B. Accepted: one value; a 1-D vector of M (rows of A)
// or N (columns of B) values; an N-D tensor that broadcasts to A's shape with K replaced by 1 (or
// B's with K replaced by 1).
template <class V>
result<std::vector<V>> expand_params(const run_context& ctx, const tensor& t, const std::vector<V>& values,
                                     const shape_t& operand, bool per_row, const char* what) {
  shape_t target = operand;
  if (per_row) target.back() = 1;
  else target[target.size() - 2] = 1;
  const std::int64_t count = element_count(target);
  if (values.size() == 1) return std::vector<V>(static_cast<std::size_t>(count), values[0]);
  shape_t shape = t.shape();
  if (shape.size() == 1 && per_row) shape = {shape[0], 1};
  bool fits = shape.size() <= target.size();
  for (std::size_t k = 0; fits && k < shape.size(); ++k) {
    const std::int64_t d = shape[shape.size() - 1 - k];
    fits = d == 1 || d == target[target.size() - 1 - k];
  }
  if (!fits) {
    return ctx.fail(std::string(what) + " has shape " + shape_string(t.shape()) + ", which does not fit " +
                    (per_row ? "the rows of " : "the columns of ") + shape_string(operand));
  }
  const std::vector<std::int64_t> strides = broadcast_strides(shape, target);
  std::vector<V> out(static_cast<std::size_t>(count));
  std::vector<std::int64_t> idx(target.size(), 0);
  for (std::int64_t o = 0; o < count; ++o) {
    std::int64_t src = 0;
    for (std::size_t d = 0; d < idx.size(); ++d) src += idx[d] * strides[d];
    out[static_cast<std::size_t>(o)] = values[static_cast<std::size_t>(src)];
    for (std::size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < target[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// The operands of an integer matrix product, widened: A's matrices as rows [M][kp], B's as
// transposed rows [N][kp], zero points subtracted.
struct widened {
  std::vector<i16> data;
  std::int64_t matrices = 0;
  std::int64_t rows = 0;  // per matrix
  std::int64_t kp = 0;
};

// A: matrices of rows x k row-major; zp per (matrix, row).
widened widen_a(const tensor& a, std::int64_t matrices, std::int64_t rows, std::int64_t k, const std::vector<std::int32_t>& zp) {
  widened w{std::vector<i16>(static_cast<std::size_t>(matrices * rows * padded(k))), matrices, rows, padded(k)};
  visit_8bit(a.type(), [&]<class T>() {
    for (std::int64_t i = 0; i < matrices; ++i) {
      widen_rows(a.data<T>() + i * rows * k, rows, k, k, 1, zp.data() + i * rows, true, w.kp, w.data.data() + i * rows * w.kp);
    }
  });
  return w;
}

// B: matrices of k x cols row-major, widened as cols rows of k; zp per (matrix, column).
widened widen_b(const tensor& b, std::int64_t matrices, std::int64_t k, std::int64_t cols, const std::vector<std::int32_t>& zp) {
  widened w{std::vector<i16>(static_cast<std::size_t>(matrices * cols * padded(k))), matrices, cols, padded(k)};
  visit_8bit(b.type(), [&]<class T>() {
    for (std::int64_t i = 0; i < matrices; ++i) {
      widen_rows(b.data<T>() + i * k * cols, cols, k, 1, cols, zp.data() + i * cols, true, w.kp, w.data.data() + i * cols * w.kp);
    }
  });
  return w;
}

/// The integer product of every output matrix: store(matrix, m, n, acc). Threads split the columns
/// (or the output matrices when there are several).
template <class Store>
void integer_matmul(thread_pool& pool, const matmul_shape& s, const widened& a, const widened& b, Store&& store) {
  const std::int64_t batches = static_cast<std::int64_t>(s.a_batch.size());
  const std::int64_t per_col = std::max<std::int64_t>(1, s.m * a.kp);
  if (batches > 1) {
    pool.parallel_for(batches, std::max<std::int64_t>(1, (1 << 18) / std::max<std::int64_t>(per_col * s.n, 1)),
                      [&](std::int64_t bb, std::int64_t be) {
                        for (std::int64_t o = bb; o < be; ++o) {
                          const i16* pa = a.data.data() + s.a_batch[static_cast<std::size_t>(o)] * s.m * a.kp;
                          const i16* pb = b.data.data() + s.b_batch[static_cast<std::size_t>(o)] * s.n * b.kp;
                          int_products(pa, a.kp, s.m, pb, b.kp, 0, s.n, a.kp,
                                       [&](std::int64_t m, std::int64_t n, std::int32_t v) { store(o, m, n, v); });
                        }
                      });
    return;
  }
  if (batches == 0) return;
  const i16* pa = a.data.data() + s.a_batch[0] * s.m * a.kp;
  const i16* pb = b.data.data() + s.b_batch[0] * s.n * b.kp;
  pool.parallel_for(s.n, std::max<std::int64_t>(2, (1 << 18) / per_col), [&](std::int64_t nb, std::int64_t ne) {
    int_products(pa, a.kp, s.m, pb + nb * b.kp, b.kp, nb, ne, a.kp, [&](std::int64_t m, std::int64_t n, std::int32_t v) { store(0, m, n, v); });
  });
}

result<void> check_8bit(const run_context& ctx, std::size_t i, const char* what) {
  if (!is_8bit(ctx.in(i).type())) {
    return ctx.unsupported(std::string(what) + " of type " + type_name(ctx.in(i).type()));
  }
  return {};
}

result<std::unique_ptr<kernel>> make_matmul_integer(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& a = ctx.in(0);
    const tensor& b = ctx.in(1);
    MQ_TRY_VOID(check_8bit(ctx, 0, "A"));
    MQ_TRY_VOID(check_8bit(ctx, 1, "B"));
    const matmul_shape s = MQ_TRY(matmul_shape_of(ctx, a.shape(), b.shape()));
    const std::int64_t a_mats = s.a_matrices();
    const std::int64_t b_mats = s.b_matrices();
    std::vector<std::int32_t> za = MQ_TRY(zero_points_of(ctx, 2, "a_zero_point", a.type(), 1));
    std::vector<std::int32_t> zb = MQ_TRY(zero_points_of(ctx, 3, "b_zero_point", b.type(), 1));
    if (ctx.has_input(2)) za = MQ_TRY(expand_params(ctx, ctx.in(2), za, s.a_full, true, "a_zero_point"));
    else za.assign(static_cast<std::size_t>(a_mats * s.m), 0);
    if (ctx.has_input(3)) zb = MQ_TRY(expand_params(ctx, ctx.in(3), zb, s.b_full, false, "b_zero_point"));
    else zb.assign(static_cast<std::size_t>(b_mats * s.n), 0);
    const widened wa = widen_a(a, a_mats, s.m, s.k, za);
    const widened wb = widen_b(b, b_mats, s.k, s.n, zb);
    tensor y = MQ_TRY(ctx.allocate(mq::dtype::int32, s.out));
    std::int32_t* out = y.mutable_data<std::int32_t>();
    const std::int64_t mn = s.m * s.n;
    const std::int64_t n = s.n;
    integer_matmul(ctx.pool(), s, wa, wb, [&](std::int64_t o, std::int64_t i, std::int64_t j, std::int32_t v) {
      out[o * mn + i * n + j] = v;
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// QLinearMatMul: inputs a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point.
result<std::unique_ptr<kernel>> make_qlinear_matmul(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& a = ctx.in(0);
    const tensor& b = ctx.in(3);
    MQ_TRY_VOID(check_8bit(ctx, 0, "a"));
    MQ_TRY_VOID(check_8bit(ctx, 3, "b"));
    if (!ctx.has_input(7)) return ctx.fail("y_zero_point is missing");
    const mq::dtype out_type = ctx.in(7).type();
    if (!is_8bit(out_type)) return ctx.unsupported("output type " + type_name(out_type));
    const matmul_shape s = MQ_TRY(matmul_shape_of(ctx, a.shape(), b.shape()));
    const std::int64_t a_mats = s.a_matrices();
    const std::int64_t b_mats = s.b_matrices();
    const std::vector<float> sa0 = MQ_TRY(scales_of(ctx, 1, "a_scale"));
    const std::vector<float> sb0 = MQ_TRY(scales_of(ctx, 4, "b_scale"));
    const std::vector<std::int32_t> za0 = MQ_TRY(zero_points_of(ctx, 2, "a_zero_point", a.type(), 1));
    const std::vector<std::int32_t> zb0 = MQ_TRY(zero_points_of(ctx, 5, "b_zero_point", b.type(), 1));
    const std::vector<float> sa = MQ_TRY(expand_params(ctx, ctx.in(1), sa0, s.a_full, true, "a_scale"));
    const std::vector<float> sb = MQ_TRY(expand_params(ctx, ctx.in(4), sb0, s.b_full, false, "b_scale"));
    const std::vector<std::int32_t> za =
        ctx.has_input(2) ? MQ_TRY(expand_params(ctx, ctx.in(2), za0, s.a_full, true, "a_zero_point"))
                         : std::vector<std::int32_t>(static_cast<std::size_t>(a_mats * s.m), 0);
    const std::vector<std::int32_t> zb =
        ctx.has_input(5) ? MQ_TRY(expand_params(ctx, ctx.in(5), zb0, s.b_full, false, "b_zero_point"))
                         : std::vector<std::int32_t>(static_cast<std::size_t>(b_mats * s.n), 0);
    const float sy = MQ_TRY(scalar_scale(ctx, 6, "y_scale"));
    const std::int32_t zy = MQ_TRY(scalar_zero_point(ctx, 7, "y_zero_point", out_type));
    const widened wa = widen_a(a, a_mats, s.m, s.k, za);
    const widened wb = widen_b(b, b_mats, s.k, s.n, zb);
    tensor y = MQ_TRY(ctx.allocate(out_type, s.out));
    const qrange range = range_of(out_type);
    const std::int64_t mn = s.m * s.n;
    const std::int64_t n = s.n;
    const std::int64_t m = s.m;
    visit_8bit(out_type, [&]<class Q>() {
      Q* out = y.mutable_data<Q>();
      integer_matmul(ctx.pool(), s, wa, wb, [&](std::int64_t o, std::int64_t i, std::int64_t j, std::int32_t v) {
        const float scale = sa[static_cast<std::size_t>(s.a_batch[static_cast<std::size_t>(o)] * m + i)] *
                            sb[static_cast<std::size_t>(s.b_batch[static_cast<std::size_t>(o)] * n + j)] / sy;
        out[o * mn + i * n + j] = static_cast<Q>(requantize_value(static_cast<float>(v) * scale, zy, range));
      });
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// Products of uint8/int8 A and B into float: y = acc * (a_scale * b_scale[n]) + bias[n]
// (MatMulIntegerToFloat; DynamicQuantizeMatMul after quantizing A). b_scale and b_zero_point are
// per tensor or per column of B.
result<void> matmul_to_float(run_context& ctx, const tensor& a, std::int32_t a_zero_point, float a_scale, std::size_t b_index,
                             std::size_t b_scale_index, std::size_t b_zero_index, std::size_t bias_index) {
  const tensor& b = ctx.in(b_index);
  MQ_TRY_VOID(check_8bit(ctx, b_index, "B"));
  const matmul_shape s = MQ_TRY(matmul_shape_of(ctx, a.shape(), b.shape()));
  const std::int64_t a_mats = s.a_matrices();
  const std::int64_t b_mats = s.b_matrices();
  const std::vector<float> sb0 = MQ_TRY(scales_of(ctx, b_scale_index, "b_scale"));
  const std::vector<std::int32_t> zb0 = MQ_TRY(zero_points_of(ctx, b_zero_index, "b_zero_point", b.type(), 1));
  const std::vector<float> sb = MQ_TRY(expand_params(ctx, ctx.in(b_scale_index), sb0, s.b_full, false, "b_scale"));
  const std::vector<std::int32_t> zb =
      ctx.has_input(b_zero_index) ? MQ_TRY(expand_params(ctx, ctx.in(b_zero_index), zb0, s.b_full, false, "b_zero_point"))
                                  : std::vector<std::int32_t>(static_cast<std::size_t>(b_mats * s.n), 0);
  const float* bias = nullptr;
  if (ctx.has_input(bias_index)) {
    const tensor& bt = ctx.in(bias_index);
    if (bt.type() != mq::dtype::float32 || bt.shape() != shape_t{s.n}) {
      return ctx.fail("bias has type " + type_name(bt.type()) + " and shape " + shape_string(bt.shape()) +
                      ", expected float of shape " + shape_string(shape_t{s.n}));
    }
    bias = bt.data<float>();
  }
  const widened wa = widen_a(a, a_mats, s.m, s.k, std::vector<std::int32_t>(static_cast<std::size_t>(a_mats * s.m), a_zero_point));
  const widened wb = widen_b(b, b_mats, s.k, s.n, zb);
  tensor y = MQ_TRY(ctx.allocate(mq::dtype::float32, s.out));
  float* out = y.mutable_data<float>();
  const std::int64_t mn = s.m * s.n;
  const std::int64_t n = s.n;
  integer_matmul(ctx.pool(), s, wa, wb, [&](std::int64_t o, std::int64_t i, std::int64_t j, std::int32_t v) {
    const float scale = a_scale * sb[static_cast<std::size_t>(s.b_batch[static_cast<std::size_t>(o)] * n + j)];
    float r = static_cast<float>(v) * scale;
    if (bias != nullptr) r += bias[j];
    out[o * mn + i * n + j] = r;
  });
  ctx.set_output(0, std::move(y));
  return {};
}

// com.microsoft MatMulIntegerToFloat: A, B, a_scale, b_scale, a_zero_point, b_zero_point, bias.
result<std::unique_ptr<kernel>> make_matmul_integer_to_float(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    MQ_TRY_VOID(check_8bit(ctx, 0, "A"));
    const float a_scale = MQ_TRY(scalar_scale(ctx, 2, "a_scale"));
    const std::int32_t a_zero = MQ_TRY(scalar_zero_point(ctx, 4, "a_zero_point", ctx.in(0).type()));
    return matmul_to_float(ctx, ctx.in(0), a_zero, a_scale, 1, 3, 5, 6);
  });
}

// com.microsoft DynamicQuantizeMatMul: A (float, quantized here to uint8 like
// DynamicQuantizeLinear), B, b_scale, b_zero_point, bias.
result<std::unique_ptr<kernel>> make_dynamic_quantize_matmul(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([](run_context& ctx) -> result<void> {
    const tensor& a = ctx.in(0);
    if (a.type() != mq::dtype::float32) return ctx.fail("A has type " + type_name(a.type()) + ", expected float");
    const dynamic_params p = MQ_TRY(dynamic_params_of(ctx, a.data<float>(), a.size()));
    tensor q = MQ_TRY(ctx.allocate(mq::dtype::uint8, a.shape()));
    kernels::active_kernels().quantize({a.data<float>(), static_cast<std::size_t>(a.size())}, p.scale, p.zero_point, {0, 255},
                                       q.mutable_data<std::uint8_t>(), nullptr);
    return matmul_to_float(ctx, q, p.zero_point, p.scale, 1, 2, 3, 4);
  });
}

// ---- convolutions -------------------------------------------------------------------------------

struct conv_attrs {
  std::string auto_pad = "NOTSET";
  std::vector<std::int64_t> dilations, kernel_shape, pads, strides;
  std::int64_t group = 1;
};

result<conv_attrs> read_conv_attrs(const node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}));
  conv_attrs a;
  a.auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (a.auto_pad != "NOTSET" && a.auto_pad != "VALID" && a.auto_pad != "SAME_UPPER" && a.auto_pad != "SAME_LOWER") {
    return node.invalid("auto_pad '" + a.auto_pad + "' is not NOTSET, VALID, SAME_UPPER or SAME_LOWER");
  }
  a.dilations = node.attr_ints("dilations");
  a.kernel_shape = node.attr_ints("kernel_shape");
  a.pads = node.attr_ints("pads");
  a.strides = node.attr_ints("strides");
  a.group = node.attr_int("group", 1);
  if (a.group < 1) return node.invalid("group must be at least 1");
  return a;
}

// The geometry of one 1-D or 2-D convolution (1-D as height 1).
struct conv_geometry {
  std::int64_t batch = 0, channels = 0, height = 1, width = 0;
  std::int64_t out_channels = 0, group = 1;
  std::int64_t kh = 1, kw = 1;
  std::int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  std::int64_t pad_top = 0, pad_left = 0;
  std::int64_t out_h = 1, out_w = 0;
  shape_t out_shape;
  std::int64_t k() const { return channels / group * kh * kw; }
  std::int64_t pixels() const { return out_h * out_w; }
};

result<conv_geometry> conv_geometry_of(const run_context& ctx, const conv_attrs& at, const shape_t& x, const shape_t& w) {
  if (x.size() < 3 || x.size() != w.size()) {
    return ctx.fail("X has shape " + shape_string(x) + " and W " + shape_string(w) + ": expected N x C x D... and M x C/group x k...");
  }
  const std::size_t spatial = x.size() - 2;
  if (spatial > 2) return ctx.unsupported(std::to_string(spatial) + "-D integer convolution");
  conv_geometry g;
  g.batch = x[0];
  g.channels = x[1];
  g.out_channels = w[0];
  g.group = at.group;
  if (g.channels % g.group != 0 || g.out_channels % g.group != 0 || w[1] * g.group != g.channels) {
    return ctx.fail("X has shape " + shape_string(x) + " and W " + shape_string(w) + ", which do not fit group " + std::to_string(g.group));
  }
  auto attr = [&](const std::vector<std::int64_t>& v, std::size_t i, std::int64_t fallback) {
    return v.empty() ? fallback : v[i];
  };
  if ((!at.kernel_shape.empty() && at.kernel_shape.size() != spatial) || (!at.strides.empty() && at.strides.size() != spatial) ||
      (!at.dilations.empty() && at.dilations.size() != spatial) || (!at.pads.empty() && at.pads.size() != 2 * spatial)) {
    return ctx.fail("kernel_shape, strides, dilations or pads do not match " + std::to_string(spatial) + " spatial dimensions");
  }
  std::int64_t in[2], k[2], s[2], d[2], pb[2], pe[2], out[2];
  for (std::size_t i = 0; i < spatial; ++i) {
    in[i] = x[2 + i];
    k[i] = attr(at.kernel_shape, i, w[2 + i]);
    if (k[i] != w[2 + i]) return ctx.fail("kernel_shape does not match W's shape " + shape_string(w));
    s[i] = attr(at.strides, i, 1);
    d[i] = attr(at.dilations, i, 1);
    if (s[i] < 1 || d[i] < 1) return ctx.fail("strides and dilations must be positive");
    pb[i] = at.pads.empty() ? 0 : at.pads[i];
    pe[i] = at.pads.empty() ? 0 : at.pads[i + spatial];
    const std::int64_t span = d[i] * (k[i] - 1) + 1;
    if (at.auto_pad == "VALID") {
      pb[i] = pe[i] = 0;
    } else if (at.auto_pad == "SAME_UPPER" || at.auto_pad == "SAME_LOWER") {
      const std::int64_t o = (in[i] + s[i] - 1) / s[i];
      const std::int64_t total = std::max<std::int64_t>(0, (o - 1) * s[i] + span - in[i]);
      pb[i] = at.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe[i] = total - pb[i];
    }
    if (pb[i] < 0 || pe[i] < 0) return ctx.fail("negative pads");
    const std::int64_t extent = in[i] + pb[i] + pe[i] - span;
    if (extent < 0) return ctx.fail("the kernel is larger than the padded input " + shape_string(x));
    out[i] = extent / s[i] + 1;
  }
  if (spatial == 1) {
    g.width = in[0];
    g.kw = k[0];
    g.stride_w = s[0];
    g.dil_w = d[0];
    g.pad_left = pb[0];
    g.out_w = out[0];
    g.out_shape = {g.batch, g.out_channels, g.out_w};
  } else {
    g.height = in[0];
    g.width = in[1];
    g.kh = k[0];
    g.kw = k[1];
    g.stride_h = s[0];
    g.stride_w = s[1];
    g.dil_h = d[0];
    g.dil_w = d[1];
    g.pad_top = pb[0];
    g.pad_left = pb[1];
    g.out_h = out[0];
    g.out_w = out[1];
    g.out_shape = {g.batch, g.out_channels, g.out_h, g.out_w};
  }
  return g;
}

// The integer convolution works on the image channels last: one pass per image turns x [C, H, W]
// into rows of C int16 values per pixel (the zero point subtracted), after which every im2col row
// is kh * kw contiguous copies of C/group values, k = (i * kw + j) * (C/group) + c, and a 1x1
// convolution with stride 1 and no padding reads those rows as they are.

/// x (one image, [channels, pixels]) minus the zero point, transposed to rows of `stride` int16
/// per pixel (channel c at column c; columns past `channels` zero). Threads split the pixels.
template <class T>
void to_channels_last(thread_pool& pool, const T* x, std::int64_t channels, std::int64_t pixels, std::int32_t zp,
                   std::int64_t stride, i16* dst) {
  pool.parallel_for(pixels, std::max<std::int64_t>(64, parallel_grain / std::max<std::int64_t>(channels, 1)),
                    [&](std::int64_t pb, std::int64_t pe) {
                      // Blocks of 64 pixels: the rows written stay in L1 while the channels are read.
                      for (std::int64_t b0 = pb; b0 < pe; b0 += 64) {
                        const std::int64_t b1 = std::min(pe, b0 + 64);
                        for (std::int64_t c = 0; c < channels; ++c) {
                          const T* src = x + c * pixels;
                          for (std::int64_t p = b0; p < b1; ++p) {
                            dst[p * stride + c] = static_cast<i16>(static_cast<std::int32_t>(src[p]) - zp);
                          }
                        }
                        if (stride > channels) {
                          for (std::int64_t p = b0; p < b1; ++p) std::fill(dst + p * stride + channels, dst + (p + 1) * stride, i16{0});
                        }
                      }
                    });
}

/// The im2col rows of pixels [p0, p1) of group `gi` from the channels-last image xt (rows of
/// `stride` values): row p holds, for k = (i * kw + j) * cg + c, xt[(iy, ix), gi * cg + c] with
/// iy = oy * sh - pt + i * dh, ix = ox * sw - pl + j * dw (0 outside the image), zero padded to kp.
void im2col_rows(const i16* xt, std::int64_t stride, const conv_geometry& g, std::int64_t cg, std::int64_t gi,
                 std::int64_t p0, std::int64_t p1, std::int64_t kp, i16* dst) {
  const std::int64_t k = cg * g.kh * g.kw;
  const auto run = static_cast<std::size_t>(cg) * sizeof(i16);
  std::int64_t oy = p0 / g.out_w;
  std::int64_t ox = p0 % g.out_w;
  for (std::int64_t p = p0; p < p1; ++p) {
    i16* d = dst + (p - p0) * kp;
    const std::int64_t y0 = oy * g.stride_h - g.pad_top;
    const std::int64_t x0 = ox * g.stride_w - g.pad_left;
    for (std::int64_t i = 0; i < g.kh; ++i) {
      const std::int64_t iy = y0 + i * g.dil_h;
      if (iy < 0 || iy >= g.height) {
        std::fill(d, d + g.kw * cg, i16{0});
        d += g.kw * cg;
        continue;
      }
      const i16* row = xt + iy * g.width * stride + gi * cg;
      for (std::int64_t j = 0; j < g.kw; ++j, d += cg) {
        const std::int64_t ix = x0 + j * g.dil_w;
        if (ix < 0 || ix >= g.width) {
          std::fill(d, d + cg, i16{0});
        } else if (cg < 8) {
          const i16* s = row + ix * stride;  // a few channels (first layers): no call
          for (std::int64_t c = 0; c < cg; ++c) d[c] = s[c];
        } else {
          std::memcpy(d, row + ix * stride, run);
        }
      }
    }
    std::fill(dst + (p - p0) * kp + k, dst + (p - p0 + 1) * kp, i16{0});
    if (++ox == g.out_w) {
      ox = 0;
      ++oy;
    }
  }
}

// Weights W [M, C/group, kh, kw] (or [M, C/group, kw]) as int16 rows of kp values in the im2col
// order k = (i * kw + j) * (C/group) + c, their zero point (per tensor or per output channel)
// subtracted.
struct conv_weights {
  std::vector<i16> data;
  std::int64_t kp = 0;
  std::int64_t k = 0;
  std::int64_t m = 0;
};

conv_weights widen_weights(const tensor& w, const std::vector<std::int32_t>& zp) {
  conv_weights cw;
  cw.m = w.dim(0);
  const std::int64_t cg = w.dim(1);
  const std::int64_t taps = cw.m == 0 || cg == 0 ? 0 : w.size() / (cw.m * cg);  // kh * kw
  cw.k = cg * taps;
  cw.kp = padded(cw.k);
  cw.data.assign(static_cast<std::size_t>(cw.m * cw.kp), i16{0});
  visit_8bit(w.type(), [&]<class T>() {
    const T* src = w.data<T>();
    for (std::int64_t m = 0; m < cw.m; ++m) {
      const std::int32_t z = zp[zp.size() > 1 ? static_cast<std::size_t>(m) : 0];
      i16* d = cw.data.data() + m * cw.kp;
      for (std::int64_t c = 0; c < cg; ++c) {
        for (std::int64_t t = 0; t < taps; ++t) {
          d[t * cg + c] = static_cast<i16>(static_cast<std::int32_t>(src[(m * cg + c) * taps + t]) - z);
        }
      }
    }
  });
  return cw;
}

/// The integer convolution: store(n, m, p, acc) for image n, output channel m, output pixel p.
/// Threads take tiles of output pixels of one group (each builds its own im2col rows).
template <class Store>
void integer_conv(thread_pool& pool, const tensor& x, std::int32_t x_zero_point, const conv_geometry& g,
                  const conv_weights& w, Store&& store) {
  const std::int64_t cg = g.channels / g.group;
  const std::int64_t mg = g.out_channels / g.group;
  const std::int64_t pixels = g.pixels();
  const std::int64_t in_pixels = g.height * g.width;
  const std::int64_t kp = w.kp;
  // A 1x1 convolution with stride 1 and no padding multiplies the channels-last rows directly.
  const bool direct = g.group == 1 && g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
                      g.pad_left == 0 && g.out_h == g.height && g.out_w == g.width;
  const std::int64_t stride = direct ? kp : g.channels;
  // A tile's im2col rows take about 64 KiB (they stay in L2 while every output channel reads them).
  std::int64_t tile = std::clamp<std::int64_t>((std::int64_t{1} << 15) / std::max<std::int64_t>(kp, 1), 16, 1024);
  tile = std::min(tile, std::max<std::int64_t>(pixels, 1));
  const std::int64_t tiles = (pixels + tile - 1) / tile;
  std::vector<i16> xt(static_cast<std::size_t>(in_pixels * stride));
  visit_8bit(x.type(), [&]<class T>() {
    for (std::int64_t n = 0; n < g.batch; ++n) {
      to_channels_last(pool, x.data<T>() + n * g.channels * in_pixels, g.channels, in_pixels, x_zero_point, stride, xt.data());
      pool.parallel_for(g.group * tiles, 1, [&](std::int64_t jb, std::int64_t je) {
        std::vector<i16> col(direct ? 0 : static_cast<std::size_t>(tile * kp));
        for (std::int64_t job = jb; job < je; ++job) {
          const std::int64_t t = job % tiles;
          const std::int64_t gi = job / tiles;
          const std::int64_t p0 = t * tile;
          const std::int64_t p1 = std::min(pixels, p0 + tile);
          const i16* rows = xt.data() + p0 * stride;
          if (!direct) {
            im2col_rows(xt.data(), stride, g, cg, gi, p0, p1, kp, col.data());
            rows = col.data();
          }
          int_products(w.data.data() + gi * mg * kp, kp, mg, rows, kp, p0, p1, kp,
                       [&](std::int64_t m, std::int64_t p, std::int32_t v) { store(n, gi * mg + m, p, v); });
        }
      });
    }
  });
}

// Weights prepared at plan time when W and its zero point are constants.
struct prepared_weights {
  bool ready = false;
  conv_weights w;
};

result<prepared_weights> prepare_weights(const node_info& node, std::size_t w_index, std::size_t zp_index) {
  prepared_weights p;
  const tensor* w = node.constant_input(w_index);
  const bool zp_given = node.has_input(zp_index);
  const tensor* zp = zp_given ? node.constant_input(zp_index) : nullptr;
  if (w == nullptr || !is_8bit(w->type()) || w->rank() < 3 || (zp_given && zp == nullptr)) return p;
  if (zp != nullptr && (zp->type() != w->type() || (zp->size() != 1 && zp->size() != w->dim(0)) || zp->rank() > 1)) return p;
  std::vector<std::int32_t> z(1, 0);
  if (zp != nullptr) {
    z.resize(static_cast<std::size_t>(zp->size()));
    for (std::int64_t i = 0; i < zp->size(); ++i) z[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(element_as_int64(*zp, i));
  }
  p.w = widen_weights(*w, z);
  p.ready = true;
  return p;
}

// The widened weights: the plan's, or made now into `storage`.
result<const conv_weights*> weights_now(const run_context& ctx, const prepared_weights& prepared, std::size_t w_index,
                                        std::size_t zp_index, conv_weights& storage) {
  if (prepared.ready) return &prepared.w;
  const tensor& w = ctx.in(w_index);
  std::vector<std::int32_t> z = MQ_TRY(zero_points_of(ctx, zp_index, "w_zero_point", w.type(), 1));
  if (ctx.has_input(zp_index)) {
    const tensor& zt = ctx.in(zp_index);
    if (zt.rank() > 1 || (zt.size() != 1 && zt.size() != w.dim(0))) {
      return ctx.fail("w_zero_point has shape " + shape_string(zt.shape()) + ", expected a scalar or " + std::to_string(w.dim(0)) + " values");
    }
  }
  storage = widen_weights(w, z);
  return &storage;
}

result<std::unique_ptr<kernel>> make_conv_integer(node_info& node) {
  const conv_attrs at = MQ_TRY(read_conv_attrs(node));
  const prepared_weights prepared = MQ_TRY(prepare_weights(node, 1, 3));
  return make_kernel([at, prepared](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& w = ctx.in(1);
    MQ_TRY_VOID(check_8bit(ctx, 0, "x"));
    MQ_TRY_VOID(check_8bit(ctx, 1, "w"));
    const conv_geometry g = MQ_TRY(conv_geometry_of(ctx, at, x.shape(), w.shape()));
    const std::int32_t zx = MQ_TRY(scalar_zero_point(ctx, 2, "x_zero_point", x.type()));
    conv_weights storage;
    const conv_weights* cw = MQ_TRY(weights_now(ctx, prepared, 1, 3, storage));
    tensor y = MQ_TRY(ctx.allocate(mq::dtype::int32, g.out_shape));
    std::int32_t* out = y.mutable_data<std::int32_t>();
    const std::int64_t pixels = g.pixels();
    const std::int64_t mo = g.out_channels;
    integer_conv(ctx.pool(), x, zx, g, *cw, [&](std::int64_t n, std::int64_t m, std::int64_t p, std::int32_t v) {
      out[(n * mo + m) * pixels + p] = v;
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// QLinearConv: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B.
result<std::unique_ptr<kernel>> make_qlinear_conv(node_info& node) {
  const conv_attrs at = MQ_TRY(read_conv_attrs(node));
  const prepared_weights prepared = MQ_TRY(prepare_weights(node, 3, 5));
  return make_kernel([at, prepared](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const tensor& w = ctx.in(3);
    MQ_TRY_VOID(check_8bit(ctx, 0, "x"));
    MQ_TRY_VOID(check_8bit(ctx, 3, "w"));
    if (!ctx.has_input(7)) return ctx.fail("y_zero_point is missing");
    const mq::dtype out_type = ctx.in(7).type();
    if (!is_8bit(out_type)) return ctx.unsupported("output type " + type_name(out_type));
    const conv_geometry g = MQ_TRY(conv_geometry_of(ctx, at, x.shape(), w.shape()));
    const float sx = MQ_TRY(scalar_scale(ctx, 1, "x_scale"));
    const std::int32_t zx = MQ_TRY(scalar_zero_point(ctx, 2, "x_zero_point", x.type()));
    const std::vector<float> sw = MQ_TRY(scales_of(ctx, 4, "w_scale"));
    if (ctx.in(4).rank() > 1 || (sw.size() != 1 && static_cast<std::int64_t>(sw.size()) != g.out_channels)) {
      return ctx.fail("w_scale has shape " + shape_string(ctx.in(4).shape()) + ", expected a scalar or " +
                      std::to_string(g.out_channels) + " values");
    }
    const float sy = MQ_TRY(scalar_scale(ctx, 6, "y_scale"));
    const std::int32_t zy = MQ_TRY(scalar_zero_point(ctx, 7, "y_zero_point", out_type));
    const std::int32_t* bias = nullptr;
    if (ctx.has_input(8)) {
      const tensor& b = ctx.in(8);
      if (b.type() != mq::dtype::int32 || b.shape() != shape_t{g.out_channels}) {
        return ctx.fail("B has type " + type_name(b.type()) + " and shape " + shape_string(b.shape()) + ", expected int32 of shape " +
                        shape_string(shape_t{g.out_channels}));
      }
      bias = b.data<std::int32_t>();
    }
    conv_weights storage;
    const conv_weights* cw = MQ_TRY(weights_now(ctx, prepared, 3, 5, storage));
    std::vector<float> scale(static_cast<std::size_t>(g.out_channels));
    for (std::int64_t m = 0; m < g.out_channels; ++m) {
      scale[static_cast<std::size_t>(m)] = sx * sw[sw.size() == 1 ? 0 : static_cast<std::size_t>(m)] / sy;
    }
    tensor y = MQ_TRY(ctx.allocate(out_type, g.out_shape));
    const qrange range = range_of(out_type);
    const std::int64_t pixels = g.pixels();
    const std::int64_t mo = g.out_channels;
    visit_8bit(out_type, [&]<class Q>() {
      Q* out = y.mutable_data<Q>();
      integer_conv(ctx.pool(), x, zx, g, *cw, [&](std::int64_t n, std::int64_t m, std::int64_t p, std::int32_t v) {
        const std::int64_t acc = static_cast<std::int64_t>(v) + (bias != nullptr ? bias[m] : 0);
        out[(n * mo + m) * pixels + p] =
            static_cast<Q>(requantize_value(static_cast<float>(acc) * scale[static_cast<std::size_t>(m)], zy, range));
      });
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- com.microsoft QLinear element-wise operators -----------------------------------------------

struct tensor_q {
  float scale;
  std::int32_t zero_point;
};

result<tensor_q> q_of(const run_context& ctx, std::size_t scale_index, std::size_t zp_index, mq::dtype type, const char* scale_name,
                      const char* zp_name) {
  tensor_q q;
  q.scale = MQ_TRY(scalar_scale(ctx, scale_index, scale_name));
  q.zero_point = MQ_TRY(scalar_zero_point(ctx, zp_index, zp_name, type));
  return q;
}

enum class qbinary { add, mul };

// QLinearAdd / QLinearMul: A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale,
// C_zero_point, with numpy broadcasting, in the float arithmetic of ONNX Runtime's x86 kernels:
// Add c = saturate(round(zC + (a - zA) sA / sC + (b - zB) sB / sC)) (the exact order below), Mul
// c = saturate(round((a - zA)(b - zB) * (sA sB / sC)) + zC).
result<std::unique_ptr<kernel>> make_qlinear_binary(node_info& node, qbinary kind) {
  MQ_TRY_VOID(node.only_attributes({}));
  return make_kernel([kind](run_context& ctx) -> result<void> {
    const tensor& a = ctx.in(0);
    const tensor& b = ctx.in(3);
    MQ_TRY_VOID(check_8bit(ctx, 0, "A"));
    if (b.type() != a.type()) return ctx.fail("A has type " + type_name(a.type()) + " and B " + type_name(b.type()));
    const tensor_q qa = MQ_TRY(q_of(ctx, 1, 2, a.type(), "A_scale", "A_zero_point"));
    const tensor_q qb = MQ_TRY(q_of(ctx, 4, 5, a.type(), "B_scale", "B_zero_point"));
    const tensor_q qc = MQ_TRY(q_of(ctx, 6, 7, a.type(), "C_scale", "C_zero_point"));
    auto so = broadcast_shapes(a.shape(), b.shape());
    if (!so) return ctx.fail("shapes " + shape_string(a.shape()) + " and " + shape_string(b.shape()) + " do not broadcast");
    tensor c = MQ_TRY(ctx.allocate(a.type(), *so));
    const qrange range = range_of(a.type());
    visit_8bit(a.type(), [&]<class T>() {
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* out = c.mutable_data<T>();
      if (kind == qbinary::add) {
        // ONNX Runtime's x86 kernel (MLAS qladd_avx2): v = a rA + (b rB + fixed) with fused
        // multiply-adds, fixed = zC - (rA zA + rB zB), rA = sA / sC, rB = sB / sC; a value that is
        // the same over a run (broadcast) is folded into `fixed` first, without fusing.
        const float ra = qa.scale / qc.scale;
        const float rb = qb.scale / qc.scale;
        const float fixed = static_cast<float>(qc.zero_point) -
                            (ra * static_cast<float>(qa.zero_point) + rb * static_cast<float>(qb.zero_point));
        for_each_broadcast(a.shape(), b.shape(), *so, [&](std::int64_t o, std::int64_t ia, std::int64_t ib, std::int64_t n,
                                                          std::int64_t da, std::int64_t db) {
          const T* xa = pa + ia;
          const T* xb = pb + ib;
          T* y = out + o;
          if (da == 0) {
            const float f = fixed + static_cast<float>(xa[0]) * ra;
            for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(saturate_round(std::fma(static_cast<float>(xb[i * db]), rb, f), range));
          } else if (db == 0) {
            const float f = fixed + static_cast<float>(xb[0]) * rb;
            for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(saturate_round(std::fma(static_cast<float>(xa[i]), ra, f), range));
          } else {
            for (std::int64_t i = 0; i < n; ++i) {
              const float t = std::fma(static_cast<float>(xb[i]), rb, fixed);
              y[i] = static_cast<T>(saturate_round(std::fma(static_cast<float>(xa[i]), ra, t), range));
            }
          }
        });
      } else {
        const float ratio = qa.scale * qb.scale / qc.scale;
        for_each_broadcast(a.shape(), b.shape(), *so, [&](std::int64_t o, std::int64_t ia, std::int64_t ib, std::int64_t n,
                                                          std::int64_t da, std::int64_t db) {
          for (std::int64_t i = 0; i < n; ++i) {
            const std::int32_t va = static_cast<std::int32_t>(pa[ia + i * da]) - qa.zero_point;
            const std::int32_t vb = static_cast<std::int32_t>(pb[ib + i * db]) - qb.zero_point;
            out[o + i] = static_cast<T>(requantize_value(static_cast<float>(va * vb) * ratio, qc.zero_point, range));
          }
        });
      }
    });
    ctx.set_output(0, std::move(c));
    return {};
  });
}

// The 256-entry table of an 8-bit unary operator, as ONNX Runtime builds it: dequantize every
// value, apply f, quantize.
template <class T, class F>
void build_table(float x_scale, std::int32_t x_zero, float y_scale, std::int32_t y_zero, F&& f, std::uint8_t* table) {
  const qrange range = range_of(std::is_signed_v<T> ? mq::dtype::int8 : mq::dtype::uint8);
  for (int i = 0; i < 256; ++i) {
    const T v = static_cast<T>(i);
    const float x = x_scale * static_cast<float>(static_cast<std::int32_t>(v) - x_zero);
    const auto q = static_cast<T>(quantize_value(f(x), y_scale, y_zero, range));
    table[i] = static_cast<std::uint8_t>(q);
  }
}

void apply_table(thread_pool& pool, const std::uint8_t* table, const std::uint8_t* x, std::uint8_t* y, std::int64_t n) {
  pool.parallel_for(n, parallel_grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) y[i] = table[x[i]];
  });
}

enum class qunary { sigmoid, leaky_relu };

// QLinearSigmoid / QLinearLeakyRelu: X, X_scale, X_zero_point, Y_scale, Y_zero_point.
result<std::unique_ptr<kernel>> make_qlinear_unary(node_info& node, qunary kind) {
  if (kind == qunary::leaky_relu) {
    MQ_TRY_VOID(node.only_attributes({"alpha"}));
  } else {
    MQ_TRY_VOID(node.only_attributes({}));
  }
  const float alpha = node.attr_float("alpha", 0.01f);
  return make_kernel([kind, alpha](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    MQ_TRY_VOID(check_8bit(ctx, 0, "X"));
    const tensor_q qx = MQ_TRY(q_of(ctx, 1, 2, x.type(), "X_scale", "X_zero_point"));
    const tensor_q qy = MQ_TRY(q_of(ctx, 3, 4, x.type(), "Y_scale", "Y_zero_point"));
    std::uint8_t table[256];
    auto f = [kind, alpha](float v) {
      if (kind == qunary::sigmoid) return 1.0f / (1.0f + std::exp(-v));
      return v >= 0.0f ? v : alpha * v;
    };
    visit_8bit(x.type(), [&]<class T>() { build_table<T>(qx.scale, qx.zero_point, qy.scale, qy.zero_point, f, table); });
    const shape_t shape = x.shape();
    const auto* in = static_cast<const std::uint8_t*>(x.raw());
    tensor y = MQ_TRY(ctx.reuse_or_allocate(0, x.type(), shape));
    apply_table(ctx.pool(), table, in, static_cast<std::uint8_t*>(y.mutable_raw()), y.size());
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// QLinearConcat: Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input; attribute axis.
// Each input is requantized to the output's parameters through a table (copied when they match).
result<std::unique_ptr<kernel>> make_qlinear_concat(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axis"}));
  if (!node.has_attribute("axis")) return node.invalid("attribute 'axis' is required");
  const std::int64_t axis_attr = node.attr_int("axis", 0);
  if (node.input_count() < 5 || (node.input_count() - 2) % 3 != 0) {
    return node.invalid("inputs must be Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples");
  }
  return make_kernel([axis_attr](run_context& ctx) -> result<void> {
    if (!ctx.has_input(1)) return ctx.fail("Y_zero_point is missing");
    const mq::dtype type = ctx.in(1).type();
    if (!is_8bit(type)) return ctx.unsupported("element type " + type_name(type));
    const tensor_q qy = MQ_TRY(q_of(ctx, 0, 1, type, "Y_scale", "Y_zero_point"));
    const std::size_t count = (ctx.input_count() - 2) / 3;
    const tensor& first = ctx.in(2);
    const std::size_t axis = MQ_TRY(axis_for(ctx, axis_attr, first.rank()));
    shape_t out_shape = first.shape();
    out_shape[axis] = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const tensor& t = ctx.in(2 + 3 * i);
      if (t.type() != type) return ctx.fail("input " + std::to_string(2 + 3 * i) + " has type " + type_name(t.type()));
      if (t.rank() != first.rank()) return ctx.fail("inputs have shapes " + shape_string(first.shape()) + " and " + shape_string(t.shape()));
      for (std::size_t d = 0; d < t.rank(); ++d) {
        if (d != axis && t.dim(d) != first.dim(d)) {
          return ctx.fail("inputs have shapes " + shape_string(first.shape()) + " and " + shape_string(t.shape()));
        }
      }
      out_shape[axis] += t.dim(axis);
    }
    tensor y = MQ_TRY(ctx.allocate(type, out_shape));
    std::int64_t outer = 1;
    for (std::size_t d = 0; d < axis; ++d) outer *= out_shape[d];
    std::int64_t inner = 1;
    for (std::size_t d = axis + 1; d < out_shape.size(); ++d) inner *= out_shape[d];
    const std::int64_t out_pitch = out_shape[axis] * inner;
    auto* out = static_cast<std::uint8_t*>(y.mutable_raw());
    std::int64_t offset = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const tensor& t = ctx.in(2 + 3 * i);
      const tensor_q qx = MQ_TRY(q_of(ctx, 3 + 3 * i, 4 + 3 * i, type, "X_scale", "X_zero_point"));
      const bool copy = qx.scale == qy.scale && qx.zero_point == qy.zero_point;
      std::uint8_t table[256];
      if (!copy) {
        visit_8bit(type, [&]<class T>() {
          build_table<T>(qx.scale, qx.zero_point, qy.scale, qy.zero_point, [](float v) { return v; }, table);
        });
      }
      const std::int64_t pitch = t.dim(axis) * inner;
      const auto* in = static_cast<const std::uint8_t*>(t.raw());
      for (std::int64_t o = 0; o < outer; ++o) {
        std::uint8_t* dst = out + o * out_pitch + offset;
        const std::uint8_t* src = in + o * pitch;
        if (copy) {
          if (pitch != 0) std::memcpy(dst, src, static_cast<std::size_t>(pitch));
        } else {
          for (std::int64_t k = 0; k < pitch; ++k) dst[k] = table[src[k]];
        }
      }
      offset += pitch;
    }
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// QLinearGlobalAveragePool: X, x_scale, x_zero_point, y_scale, y_zero_point; channels_last. The
// int32 sum of each channel's image minus zero_point * size, times x_scale / (y_scale * size).
result<std::unique_ptr<kernel>> make_qlinear_global_average_pool(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"channels_last"}));
  const bool channels_last = node.attr_int("channels_last", 0) != 0;
  return make_kernel([channels_last](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    MQ_TRY_VOID(check_8bit(ctx, 0, "X"));
    if (x.rank() < 3) return ctx.fail("X has shape " + shape_string(x.shape()) + ", expected rank >= 3");
    const tensor_q qx = MQ_TRY(q_of(ctx, 1, 2, x.type(), "x_scale", "x_zero_point"));
    const tensor_q qy = MQ_TRY(q_of(ctx, 3, 4, x.type(), "y_scale", "y_zero_point"));
    const std::int64_t n = x.dim(0);
    const std::int64_t c = channels_last ? x.dim(x.rank() - 1) : x.dim(1);
    const std::int64_t image = c == 0 || n == 0 ? 0 : x.size() / (n * c);
    shape_t out_shape = x.shape();
    const std::size_t first_spatial = channels_last ? 1 : 2;
    for (std::size_t d = first_spatial; d < first_spatial + x.rank() - 2; ++d) out_shape[d] = 1;
    tensor y = MQ_TRY(ctx.allocate(x.type(), out_shape));
    if (image == 0 && x.size() != 0) return ctx.fail("empty image");
    const float scale = qx.scale / (qy.scale * static_cast<float>(std::max<std::int64_t>(image, 1)));
    const qrange range = range_of(x.type());
    visit_8bit(x.type(), [&]<class T>() {
      const T* in = x.data<T>();
      T* out = y.mutable_data<T>();
      const std::int64_t bias = -static_cast<std::int64_t>(qx.zero_point) * image;
      if (!channels_last) {
        ctx.pool().parallel_for(n * c, std::max<std::int64_t>(1, parallel_grain / std::max<std::int64_t>(image, 1)),
                                [&](std::int64_t b, std::int64_t e) {
                                  for (std::int64_t i = b; i < e; ++i) {
                                    std::int64_t sum = bias;
                                    const T* p = in + i * image;
                                    for (std::int64_t k = 0; k < image; ++k) sum += p[k];
                                    out[i] = static_cast<T>(requantize_value(static_cast<float>(sum) * scale, qy.zero_point, range));
                                  }
                                });
      } else {
        for (std::int64_t b = 0; b < n; ++b) {
          std::vector<std::int64_t> sums(static_cast<std::size_t>(c), bias);
          const T* p = in + b * image * c;
          for (std::int64_t k = 0; k < image; ++k) {
            for (std::int64_t ch = 0; ch < c; ++ch) sums[static_cast<std::size_t>(ch)] += p[k * c + ch];
          }
          for (std::int64_t ch = 0; ch < c; ++ch) {
            out[b * c + ch] = static_cast<T>(
                requantize_value(static_cast<float>(sums[static_cast<std::size_t>(ch)]) * scale, qy.zero_point, range));
          }
        }
      }
    });
    ctx.set_output(0, std::move(y));
    return {};
  });
}

}  // namespace

void register_quantized(op_registry& r) {
  r.add("QuantizeLinear", make_quantize, 10);
  r.add("DequantizeLinear", make_dequantize, 10);
  r.add("DynamicQuantizeLinear", make_dynamic_quantize, 11);
  r.add("MatMulInteger", make_matmul_integer, 10);
  r.add("ConvInteger", make_conv_integer, 10);
  r.add("QLinearConv", make_qlinear_conv, 10);
  r.add("QLinearMatMul", make_qlinear_matmul, 10);
  // ONNX Runtime's contrib operators (version 1 of the com.microsoft domain).
  r.add("QuantizeLinear", make_quantize, 1, ms_domain);
  r.add("DequantizeLinear", make_dequantize, 1, ms_domain);
  r.add("QLinearAdd", [](node_info& n) { return make_qlinear_binary(n, qbinary::add); }, 1, ms_domain);
  r.add("QLinearMul", [](node_info& n) { return make_qlinear_binary(n, qbinary::mul); }, 1, ms_domain);
  r.add("QLinearSigmoid", [](node_info& n) { return make_qlinear_unary(n, qunary::sigmoid); }, 1, ms_domain);
  r.add("QLinearLeakyRelu", [](node_info& n) { return make_qlinear_unary(n, qunary::leaky_relu); }, 1, ms_domain);
  r.add("QLinearConcat", make_qlinear_concat, 1, ms_domain);
  r.add("QLinearGlobalAveragePool", make_qlinear_global_average_pool, 1, ms_domain);
  r.add("DynamicQuantizeMatMul", make_dynamic_quantize_matmul, 1, ms_domain);
  r.add("MatMulIntegerToFloat", make_matmul_integer_to_float, 1, ms_domain);
}

}  // namespace mq::exec::ops
