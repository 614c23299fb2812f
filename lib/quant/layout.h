// A weight tensor seen as [outer, channels, inner] around its quantization axis, and which
// scale/zero-point group each element belongs to. Private to lib/quant.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "mq/result.h"
#include "quant/quant.h"

namespace mq::kernels {
struct kernel_table;
}

namespace mq::quant::detail {

/// quantize_weight with an explicit kernel table instead of the one MQ_KERNELS selects; lets a
/// test run the reference and the vectorized path in one process.
[[nodiscard]] mq::result<quantized_weight> quantize_weight_with(
    const kernels::kernel_table& kernels, std::span<const float> values,
    std::span<const std::int64_t> dims, const weight_options& options, std::string_view name);

/// quantize_weight_bytes with an explicit kernel table.
[[nodiscard]] mq::result<quantized_weight> quantize_weight_bytes_with(
    const kernels::kernel_table& kernels, std::span<const std::byte> bytes,
    std::span<const std::int64_t> dims, const weight_options& options, std::string_view name);

/// Per tensor, per channel (one group per index along the axis) or blocked (opset-21 blocks).
enum class grouping { per_tensor, per_channel, blocked };

/// Row-major tensor as [outer, channels, inner]: `channels` is dims[axis], `outer` the product of
/// the dims before it, `inner` of the dims after it. Per tensor: [1, 1, count].
struct layout {
  grouping kind = grouping::per_tensor;
  std::size_t axis = 0;
  std::size_t outer = 1;
  std::size_t channels = 1;
  std::size_t inner = 0;
  std::size_t block = 0;   ///< blocked: block size along the axis
  std::size_t blocks = 1;  ///< blocked: ceil(channels / block)

  /// Number of elements.
  std::size_t count() const noexcept { return outer * channels * inner; }

  /// Number of scale/zero-point groups.
  std::size_t groups() const noexcept {
    switch (kind) {
      case grouping::per_tensor: return 1;
      case grouping::per_channel: return channels;
      case grouping::blocked: return outer * blocks * inner;
    }
    return 1;
  }
};

/// Validates dims against `count` values and the options, and builds the layout.
/// Errors: errc::invalid_argument naming tensor `name`.
[[nodiscard]] mq::result<layout> make_layout(std::size_t count, std::span<const std::int64_t> dims,
                                             const weight_options& options, std::string_view name);

/// Shape of the scale tensor: {} per tensor, {C} per channel, dims with dims[axis] = blocks.
std::vector<std::int64_t> scale_dims(const layout& l, std::span<const std::int64_t> dims);

/// Calls f(start, length, first_group, group_step) for runs of consecutive elements covering the
/// tensor in row-major order; element start + k belongs to group first_group + k * group_step
/// (group_step is 0 or 1). Runs are as long as the layout allows, so per-element work in f needs
/// no division or branching on the layout.
template <class F>
void for_each_run(const layout& l, F&& f) {
  const std::size_t c = l.channels;
  switch (l.kind) {
    case grouping::per_tensor: f(std::size_t{0}, l.count(), std::size_t{0}, std::size_t{0}); return;
    case grouping::per_channel:
      for (std::size_t o = 0; o < l.outer; ++o) {
        if (l.inner == 1) {
          f(o * c, c, std::size_t{0}, std::size_t{1});
          continue;
        }
        for (std::size_t ch = 0; ch < c; ++ch)
          f((o * c + ch) * l.inner, l.inner, ch, std::size_t{0});
      }
      return;
    case grouping::blocked:
      for (std::size_t o = 0; o < l.outer; ++o) {
        if (l.inner == 1) {
          for (std::size_t b = 0; b < l.blocks; ++b) {
            const std::size_t length = std::min(l.block, c - b * l.block);
            f(o * c + b * l.block, length, o * l.blocks + b, std::size_t{0});
          }
          continue;
        }
        for (std::size_t ch = 0; ch < c; ++ch) {
          f((o * c + ch) * l.inner, l.inner, (o * l.blocks + ch / l.block) * l.inner,
            std::size_t{1});
        }
      }
      return;
  }
}

}  // namespace mq::quant::detail
