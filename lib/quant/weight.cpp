// quantize_weight and dequantize: ranges, parameters, quantized bytes and the error they cause,
// per tensor, per channel or per block, through the kernels selected by MQ_KERNELS.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "kernels/kernels.h"
#include "quant/layout.h"
#include "quant/quant.h"
#include "util/memory.h"

namespace mq::quant {
namespace {

using detail::grouping;
using detail::layout;
using kernels::kernel_table;
using kernels::no_index;

// Per channel with inner runs at least this long: reduce each run with the row kernels. Shorter
// runs (e.g. 3x3 conv taps) are reduced as columns of [outer, channels * inner] instead, which
// keeps the vector lanes full. Both give identical results; this only picks the faster one.
constexpr std::size_t long_inner_run = 32;

constexpr float infinity = std::numeric_limits<float>::infinity();

bool is_4bit(qtype type) { return type == qtype::int4 || type == qtype::uint4; }

// Min and max of every scale group.
struct ranges {
  std::vector<float> mins;
  std::vector<float> maxs;
};

mq::result<void> nonfinite(float v, std::size_t index, std::string_view name) {
  const char* what = std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  return mq::fail(
      errc::numeric,
      fmt::format("tensor '{}': value {} at index {}; weights must be finite", name, what, index));
}

mq::result<void> require_finite(std::span<const float> values, std::int64_t local,
                                std::size_t offset, std::string_view name) {
  if (local == no_index) return {};
  const std::size_t index = offset + static_cast<std::size_t>(local);
  return nonfinite(values[index], index, name);
}

// mins[g] = min over k of in[g * stride_g + k * stride_k], k < n (same for maxs).
void fold(const std::vector<float>& in_min, const std::vector<float>& in_max, std::size_t groups,
          std::size_t n, std::size_t stride_g, std::size_t stride_k, ranges& out) {
  for (std::size_t g = 0; g < groups; ++g) {
    float lo = infinity;
    float hi = -infinity;
    for (std::size_t k = 0; k < n; ++k) {
      lo = std::min(lo, in_min[g * stride_g + k * stride_k]);
      hi = std::max(hi, in_max[g * stride_g + k * stride_k]);
    }
    out.mins[g] = lo;
    out.maxs[g] = hi;
  }
}

mq::result<void> channel_ranges(const kernel_table& k, std::span<const float> values,
                                const layout& l, ranges& r, std::string_view name) {
  const float* x = values.data();
  const std::size_t c = l.channels;
  if (l.inner == 1) {
    const std::int64_t bad = k.minmax_columns(x, l.outer, c, r.mins.data(), r.maxs.data());
    return require_finite(values, bad, 0, name);
  }
  if (l.inner >= long_inner_run) {
    std::vector<float> mins(l.outer * c), maxs(l.outer * c);
    const std::int64_t bad = k.minmax_rows(x, l.outer * c, l.inner, mins.data(), maxs.data());
    if (auto ok = require_finite(values, bad, 0, name); !ok) return ok;
    fold(mins, maxs, c, l.outer, 1, c, r);  // row o * C + ch
    return {};
  }
  std::vector<float> mins(c * l.inner), maxs(c * l.inner);
  const std::int64_t bad = k.minmax_columns(x, l.outer, c * l.inner, mins.data(), maxs.data());
  if (auto ok = require_finite(values, bad, 0, name); !ok) return ok;
  fold(mins, maxs, c, l.inner, l.inner, 1, r);  // column ch * inner + i
  return {};
}

// Blocks of one outer index; base = first element of that outer slice, g0 = its first group.
mq::result<void> block_ranges_slice(const kernel_table& k, std::span<const float> values,
                                    const layout& l, std::size_t base, std::size_t g0, ranges& r,
                                    std::string_view name) {
  const float* x = values.data();
  if (l.inner == 1) {
    // Blocks are contiguous runs along the last axis: full blocks are rows of [full, block].
    const std::size_t full = l.channels / l.block;
    const std::size_t tail = l.channels % l.block;
    const std::int64_t bad = k.minmax_rows(x + base, full, l.block, &r.mins[g0], &r.maxs[g0]);
    if (auto ok = require_finite(values, bad, base, name); !ok) return ok;
    if (tail == 0) return {};
    const std::size_t start = base + full * l.block;
    const kernels::minmax_result t = k.minmax(values.subspan(start, tail));
    r.mins[g0 + full] = t.min;
    r.maxs[g0 + full] = t.max;
    return require_finite(values, t.first_nonfinite, start, name);
  }
  for (std::size_t b = 0; b < l.blocks; ++b) {
    const std::size_t rows = std::min(l.block, l.channels - b * l.block);
    const std::size_t start = base + b * l.block * l.inner;
    const std::size_t g = g0 + b * l.inner;
    const std::int64_t bad = k.minmax_columns(x + start, rows, l.inner, &r.mins[g], &r.maxs[g]);
    if (auto ok = require_finite(values, bad, start, name); !ok) return ok;
  }
  return {};
}

mq::result<ranges> group_ranges(const kernel_table& k, std::span<const float> values,
                                const layout& l, std::string_view name) {
  ranges r{std::vector<float>(l.groups(), infinity), std::vector<float>(l.groups(), -infinity)};
  if (l.count() == 0) return r;
  mq::result<void> ok;
  switch (l.kind) {
    case grouping::per_tensor: {
      const kernels::minmax_result t = k.minmax(values);
      r.mins[0] = t.min;
      r.maxs[0] = t.max;
      ok = require_finite(values, t.first_nonfinite, 0, name);
      break;
    }
    case grouping::per_channel: ok = channel_ranges(k, values, l, r, name); break;
    case grouping::blocked:
      for (std::size_t o = 0; o < l.outer && ok; ++o) {
        ok = block_ranges_slice(k, values, l, o * l.channels * l.inner, o * l.blocks * l.inner, r,
                                name);
      }
      break;
  }
  if (!ok) return mq::unexpected_error{ok.error()};
  return r;
}

// Scale and zero point of every group; an empty tensor keeps ORT's defaults (scale 1, zp 0).
mq::result<void> group_params(const ranges& r, const layout& l, const weight_options& options,
                              quantized_weight& q, std::string_view name) {
  const qrange range = range_for(options.type, options.sym, options.reduce_range);
  q.scales.assign(l.groups(), 1.0f);
  q.zero_points.assign(l.groups(), 0);
  if (l.count() == 0) return {};
  for (std::size_t g = 0; g < l.groups(); ++g) {
    const params p = compute_params(r.mins[g], r.maxs[g], range, options.sym);
    if (!std::isfinite(p.scale)) {
      return mq::fail(errc::numeric,
                      fmt::format("tensor '{}': values span [{}, {}], too wide for a float32 scale",
                                  name, r.mins[g], r.maxs[g]));
    }
    q.scales[g] = p.scale;
    q.zero_points[g] = p.zero_point;
  }
  return {};
}

// Quantizes every element to one byte each and adds the round-trip error to `err` in the same
// pass (a separate pass over the weights cost a quarter of a whole run). Values are known to be
// finite by now, so the kernels' non-finite reports are not needed.
void quantize_groups(const kernel_table& k, std::span<const float> values, const layout& l,
                     const quantized_weight& q, kernels::clip_range clip, std::uint8_t* out,
                     kernels::error_sums* err) {
  const float* x = values.data();
  const float* s = q.scales.data();
  const std::int32_t* z = q.zero_points.data();
  const std::size_t c = l.channels;
  switch (l.kind) {
    case grouping::per_tensor: (void)k.quantize(values, s[0], z[0], clip, out, err); return;
    case grouping::per_channel:
      if (l.inner == 1) {
        (void)k.quantize_columns(x, l.outer, c, s, z, clip, out, err);
      } else if (l.inner >= long_inner_run) {
        for (std::size_t o = 0; o < l.outer; ++o) {
          const std::size_t base = o * c * l.inner;
          (void)k.quantize_rows(x + base, c, l.inner, s, z, clip, out + base, err);
        }
      } else {
        // Short runs: one column per (channel, tap) with that channel's parameters.
        std::vector<float> scales(c * l.inner);
        std::vector<std::int32_t> zps(c * l.inner);
        for (std::size_t i = 0; i < c * l.inner; ++i) {
          scales[i] = s[i / l.inner];
          zps[i] = z[i / l.inner];
        }
        (void)k.quantize_columns(x, l.outer, c * l.inner, scales.data(), zps.data(), clip, out,
                                 err);
      }
      return;
    case grouping::blocked:
      for (std::size_t o = 0; o < l.outer; ++o) {
        const std::size_t base = o * c * l.inner;
        const std::size_t g0 = o * l.blocks * l.inner;
        if (l.inner == 1) {
          const std::size_t full = c / l.block;
          const std::size_t tail = c % l.block;
          (void)k.quantize_rows(x + base, full, l.block, s + g0, z + g0, clip, out + base, err);
          const std::size_t start = base + full * l.block;
          if (tail != 0) {
            (void)k.quantize(values.subspan(start, tail), s[g0 + full], z[g0 + full], clip,
                             out + start, err);
          }
          continue;
        }
        for (std::size_t b = 0; b < l.blocks; ++b) {
          const std::size_t rows = std::min(l.block, c - b * l.block);
          const std::size_t start = base + b * l.block * l.inner;
          const std::size_t g = g0 + b * l.inner;
          (void)k.quantize_columns(x + start, rows, l.inner, s + g, z + g, clip, out + start, err);
        }
      }
      return;
  }
}

// The integer a stored byte (or nibble, already extracted) stands for.
std::int32_t to_integer(std::uint8_t stored, qtype type) {
  switch (type) {
    case qtype::int8: return static_cast<std::int8_t>(stored);
    case qtype::uint8: return stored;
    case qtype::int4:
      return (stored & 0x8) != 0 ? static_cast<std::int32_t>(stored & 0xF) - 16 : stored & 0xF;
    case qtype::uint4: return stored & 0xF;
  }
  return 0;
}

// ONNX DequantizeLinear: (q - zero_point) * scale, in float32.
float dequantize_value(std::int32_t integer, float scale, std::int32_t zero_point) {
  return static_cast<float>(integer - zero_point) * scale;
}

// ONNX int4/uint4 packing: element 2k in the low nibble of byte k, element 2k+1 in the high one.
std::string pack_4bit(const std::string& bytes) {
  std::string packed((bytes.size() + 1) / 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto nibble = static_cast<std::uint8_t>(static_cast<std::uint8_t>(bytes[i]) & 0xF);
    const auto old = static_cast<std::uint8_t>(packed[i / 2]);
    packed[i / 2] = static_cast<char>(old | (i % 2 == 0 ? nibble : nibble << 4));
  }
  return packed;
}

std::uint8_t stored_at(const std::string& data, std::size_t i, bool packed) {
  if (!packed) return static_cast<std::uint8_t>(data[i]);
  const auto byte = static_cast<std::uint8_t>(data[i / 2]);
  return static_cast<std::uint8_t>(i % 2 == 0 ? byte & 0xF : byte >> 4);
}

// SQNR and max error of the round trip from the kernels' sums; NaN when not measured (null).
void set_error(const kernels::error_sums* err, quantized_weight& q) {
  if (err == nullptr) {
    q.sqnr_db = std::numeric_limits<double>::quiet_NaN();
    q.max_abs_error = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  q.sqnr_db = err->noise == 0 ? std::numeric_limits<double>::infinity()
                              : 10.0 * std::log10(err->signal / err->noise);
  q.max_abs_error = static_cast<float>(err->worst);
}

// Parameters, bytes and error of a weight whose group ranges are known; quantize(q, clip, out,
// err) writes one byte per value and adds the error.
template <class Quantize>
mq::result<quantized_weight> finish(const ranges& r, const layout& l,
                                    std::span<const std::int64_t> dims,
                                    const weight_options& options, std::string_view name,
                                    Quantize&& quantize) {
  quantized_weight q;
  q.scale_dims = detail::scale_dims(l, dims);
  if (auto ok = group_params(r, l, options, q, name); !ok) return mq::unexpected_error{ok.error()};
  // 4-bit types quantize with their own clip range into one byte per value, packed afterwards;
  // the kernels measure the error on the clipped integers, so packing does not affect it.
  const qrange full = type_range(options.type);
  // Quantized straight into the string that becomes the tensor's raw_data (see quant.h).
  std::string bytes = util::large_byte_string(l.count());
  kernels::error_sums sums;
  kernels::error_sums* err = options.measure_error ? &sums : nullptr;
  quantize(q, kernels::clip_range{full.qmin, full.qmax}, reinterpret_cast<std::uint8_t*>(bytes.data()), err);
  set_error(err, q);
  q.data = is_4bit(options.type) ? pack_4bit(bytes) : std::move(bytes);
  return q;
}

// ---- float32 bytes at any address ----

// Layouts the byte kernels cover: per tensor, and per channel on the last axis (one column per
// channel of a row-major [outer, channels] matrix).
bool streamable(const layout& l) {
  return l.kind == grouping::per_tensor || (l.kind == grouping::per_channel && l.inner == 1);
}

mq::result<ranges> byte_ranges(const kernel_table& k, std::span<const std::byte> bytes,
                               const layout& l, std::string_view name) {
  ranges r{std::vector<float>(l.groups(), infinity), std::vector<float>(l.groups(), -infinity)};
  if (l.count() == 0) return r;
  std::int64_t bad = no_index;
  if (l.kind == grouping::per_tensor) {
    const kernels::minmax_result t = k.minmax_bytes(bytes.data(), l.count());
    r.mins[0] = t.min;
    r.maxs[0] = t.max;
    bad = t.first_nonfinite;
  } else {
    bad = k.minmax_columns_bytes(bytes.data(), l.outer, l.channels, r.mins.data(), r.maxs.data());
  }
  if (bad != no_index) {
    const auto index = static_cast<std::size_t>(bad);
    return mq::unexpected_error{nonfinite(kernels::load_float(bytes.data(), index), index, name).error()};
  }
  return r;
}

void quantize_byte_groups(const kernel_table& k, std::span<const std::byte> bytes, const layout& l,
                          const quantized_weight& q, kernels::clip_range clip, std::uint8_t* out,
                          kernels::error_sums* err) {
  if (l.count() == 0) return;
  if (l.kind == grouping::per_tensor) {
    (void)k.quantize_bytes(bytes.data(), l.count(), q.scales[0], q.zero_points[0], clip, out, err);
  } else {
    (void)k.quantize_columns_bytes(bytes.data(), l.outer, l.channels, q.scales.data(),
                                   q.zero_points.data(), clip, out, err);
  }
}

}  // namespace

mq::result<quantized_weight> detail::quantize_weight_with(const kernel_table& k,
                                                          std::span<const float> values,
                                                          std::span<const std::int64_t> dims,
                                                          const weight_options& options,
                                                          std::string_view name) {
  auto shape = make_layout(values.size(), dims, options, name);
  if (!shape) return mq::unexpected_error{shape.error()};
  const layout& l = *shape;

  auto r = group_ranges(k, values, l, name);
  if (!r) return mq::unexpected_error{r.error()};
  return finish(*r, l, dims, options, name, [&](const quantized_weight& q, kernels::clip_range clip, std::uint8_t* out, kernels::error_sums* err) {
    quantize_groups(k, values, l, q, clip, out, err);
  });
}

mq::result<quantized_weight> detail::quantize_weight_bytes_with(const kernel_table& k,
                                                                std::span<const std::byte> bytes,
                                                                std::span<const std::int64_t> dims,
                                                                const weight_options& options,
                                                                std::string_view name) {
  if (bytes.size() % sizeof(float) != 0) {
    return mq::fail(errc::invalid_argument, fmt::format("tensor '{}': {} bytes are not a whole number of float32 values", name, bytes.size()));
  }
  const std::size_t count = bytes.size() / sizeof(float);
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) == 0) {
    return quantize_weight_with(k, {reinterpret_cast<const float*>(bytes.data()), count}, dims, options, name);
  }
  auto shape = make_layout(count, dims, options, name);
  if (!shape) return mq::unexpected_error{shape.error()};
  const layout& l = *shape;
  if (!streamable(l)) {  // rare (unaligned conv weights): one aligned copy
    return quantize_weight_with(k, kernels::load_floats(bytes.data(), count), dims, options, name);
  }
  auto r = byte_ranges(k, bytes, l, name);
  if (!r) return mq::unexpected_error{r.error()};
  return finish(*r, l, dims, options, name, [&](const quantized_weight& q, kernels::clip_range clip, std::uint8_t* out, kernels::error_sums* err) {
    quantize_byte_groups(k, bytes, l, q, clip, out, err);
  });
}

mq::result<quantized_weight> quantize_weight(std::span<const float> values,
                                             std::span<const std::int64_t> dims,
                                             const weight_options& options, std::string_view name) {
  return detail::quantize_weight_with(kernels::active_kernels(), values, dims, options, name);
}

mq::result<quantized_weight> quantize_weight_bytes(std::span<const std::byte> bytes,
                                                   std::span<const std::int64_t> dims,
                                                   const weight_options& options,
                                                   std::string_view name) {
  return detail::quantize_weight_bytes_with(kernels::active_kernels(), bytes, dims, options, name);
}

std::vector<float> dequantize(const quantized_weight& q, std::span<const std::int64_t> dims,
                              const weight_options& options) {
  std::size_t count = 1;
  for (const std::int64_t d : dims) count *= d < 0 ? 0 : static_cast<std::size_t>(d);
  auto shape = detail::make_layout(count, dims, options, "");
  if (!shape) return {};
  const layout& l = *shape;
  const bool packed = is_4bit(options.type);
  const std::size_t stored = packed ? (count + 1) / 2 : count;
  if (q.data.size() != stored || q.scales.size() != l.groups() ||
      q.zero_points.size() != l.groups()) {
    return {};
  }
  std::vector<float> out(count);
  detail::for_each_run(l, [&](std::size_t start, std::size_t n, std::size_t g0, std::size_t step) {
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = start + k;
      const std::size_t g = g0 + k * step;
      const std::int32_t integer = to_integer(stored_at(q.data, i, packed), options.type);
      out[i] = dequantize_value(integer, q.scales[g], q.zero_points[g]);
    }
  });
  return out;
}

}  // namespace mq::quant
