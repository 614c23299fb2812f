// Quantization math: value ranges -> scale and zero point, and float32 weights -> 8-bit or 4-bit
// integers, per tensor, per channel or per block. Matches ONNX Runtime's Python quantizer
// (onnxruntime/python/tools/quantization/quant_utils.py, ORT 1.20 - 1.23); the formulas, with a
// worked example and the places where this code deliberately differs, are in
// docs/quantization-math.md.
//
// Private header (lib/ and tests/); the public API exposes only what a caller of the quantizer
// needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mq/result.h"

namespace mq::quant {

/// Integer type a weight is quantized to.
enum class qtype { int8, uint8, int4, uint4 };

/// Symmetric: the float range is widened to [-m, m], m = max(|rmin|, |rmax|), and the zero point
/// is the middle of the integer range. Asymmetric: the range [min(rmin, 0), max(rmax, 0)] is mapped
/// onto the whole integer range.
enum class symmetry { symmetric, asymmetric };

/// Inclusive integer range [qmin, qmax].
struct qrange {
  std::int32_t qmin;
  std::int32_t qmax;
};

/// The integer range ONNX Runtime's get_qmin_qmax_for_qType picks (ORT >= 1.20):
///
///   | type  | full       | symmetric   | reduce_range (wins over symmetric) |
///   |-------|------------|-------------|------------------------------------|
///   | int8  | [-128,127] | [-127,127]  | [-64,64]                           |
///   | uint8 | [0,255]    | [0,254]     | [0,127]                            |
///   | int4  | [-8,7]     | [-8,7]      | [-4,3]                             |
///   | uint4 | [0,15]     | [0,15]      | [0,7]                              |
qrange range_for(qtype type, symmetry sym, bool reduce_range);

/// The whole range of `type` ([-128,127], [0,255], [-8,7] or [0,15]). Quantized values are
/// saturated to this range, not to `range_for(...)`: ORT's quantize_nparray clips to the type.
qrange type_range(qtype type);

/// A scale and zero point: real = scale * (q - zero_point).
struct params {
  float scale;
  std::int32_t zero_point;
};

/// ONNX Runtime's compute_scale_zp, step for step:
///  1. rmin = min(rmin, 0), rmax = max(rmax, 0) (float32), so that 0 is exactly representable;
///  2. symmetric: rmin = -m, rmax = m with m = max(|rmin|, |rmax|);
///  3. scale = double(float32(rmax - rmin)) / double(qmax - qmin);
///  4. scale < FLT_MIN (includes the all-zero range): scale 1, zero point 0 (for every type and
///     symmetry, uint8 included);
///  5. zero point = round_half_even((qmin + qmax) / 2.0) when symmetric (int8 0, uint8 127,
///     uint4 8), else round_half_even(qmin - rmin / scale) with the float64 scale;
///  6. the scale is stored as float32 (round to nearest).
/// The inputs must be finite; a range wider than FLT_MAX after step 2 gives an infinite scale
/// (quantize_weight reports that as an error). The zero point is clamped to [qmin, qmax], which
/// only matters for non-finite inputs.
params compute_params(float rmin, float rmax, qrange range, symmetry sym);

/// How quantize_weight quantizes one float32 tensor. Defaults are ORT quantize_dynamic's for
/// weights: int8, symmetric, per tensor.
struct weight_options {
  qtype type = qtype::int8;
  symmetry sym = symmetry::symmetric;
  bool reduce_range = false;
  bool per_channel = false;
  int axis = 0;  ///< channel axis when per_channel or blocked; negative counts from the end
  std::int64_t block_size = 0;  ///< > 0: blocks of this many elements along `axis` (opset-21
                                ///< DequantizeLinear block_size semantics); wins over per_channel
  bool measure_error = true;  ///< false: sqnr_db and max_abs_error are NaN (the pass is cheaper)
};

/// A quantized weight with its parameters and its error.
struct quantized_weight {
  std::vector<float> scales;              ///< 1 (per tensor), one per channel or one per block
  std::vector<std::int64_t> scale_dims;   ///< {} per tensor, {C} per channel, dims with
                                          ///< dims[axis] = ceil(dims[axis] / block_size) blocked
  std::vector<std::int32_t> zero_points;  ///< same count and order as scales
  std::string data;  ///< int8/uint8: one byte per value (int8 as two's complement); int4/uint4:
                     ///< two per byte, element 2k in the low nibble of byte k (ONNX packing).
                     ///< A string so it can move into a TensorProto's raw_data without a copy.
  double sqnr_db = 0;                     ///< 10*log10(sum w^2 / sum (w - dq(q(w)))^2); +inf when
                                          ///< the error is 0; NaN when measure_error is off
  float max_abs_error = 0;                ///< max |w - dq(q(w))|; NaN when not measured
};

/// Quantizes float32 `values` laid out row-major with shape `dims`, using the kernels chosen by
/// MQ_KERNELS. Per channel, parameters are computed independently for each index along `axis`
/// (ORT quantize_weight_per_channel); blocked, independently for each block of `block_size`
/// consecutive indices along `axis` (the last block may be shorter). An all-zero tensor, channel or
/// block gets scale 1 and zero point 0, as in ORT; so does an empty tensor.
/// Errors (messages name the tensor `name`):
///  - errc::numeric: a NaN or infinite value (the first one's index is reported), or a range so
///    wide that the scale overflows float32;
///  - errc::invalid_argument: dims that are negative or do not match values.size(), an axis out of
///    range for the rank (per channel or blocked), a negative block_size.
[[nodiscard]] mq::result<quantized_weight> quantize_weight(std::span<const float> values,
                                                           std::span<const std::int64_t> dims,
                                                           const weight_options& options,
                                                           std::string_view name);

/// quantize_weight for little-endian float32 values stored at any address (weights read in place
/// from a model file are often not 4-byte aligned), without copying the tensor: per-tensor and
/// last-axis per-channel weights are streamed through a small aligned buffer; other layouts (rare
/// for unaligned weights) are copied once. Same scales, zero points and bytes as quantize_weight
/// on the same values; only the last bits of sqnr_db may differ (float64 summation order).
/// Errors as quantize_weight, plus errc::invalid_argument when the size is not a multiple of 4.
[[nodiscard]] mq::result<quantized_weight> quantize_weight_bytes(std::span<const std::byte> bytes,
                                                                 std::span<const std::int64_t> dims,
                                                                 const weight_options& options,
                                                                 std::string_view name);

/// Dequantizes `q` (as returned by quantize_weight for the same dims and options):
/// real = (q - zero_point) * scale in float32, ONNX DequantizeLinear. Returns an empty vector if
/// `q` does not fit dims/options.
std::vector<float> dequantize(const quantized_weight& q, std::span<const std::int64_t> dims,
                              const weight_options& options);

}  // namespace mq::quant
