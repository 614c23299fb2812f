// Validation of a weight's dims and quantization axis, and its [outer, channels, inner] view.
#include "quant/layout.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdint>
#include <limits>

namespace mq::quant::detail {
namespace {

mq::unexpected_error invalid(std::string_view name, const std::string& what) {
  return mq::fail(errc::invalid_argument, fmt::format("tensor '{}': {}", name, what));
}

// Product of dims[first, last); dims are already checked non-negative and their total to fit.
std::size_t product(std::span<const std::int64_t> dims, std::size_t first, std::size_t last) {
  std::size_t p = 1;
  for (std::size_t d = first; d < last; ++d) p *= static_cast<std::size_t>(dims[d]);
  return p;
}

// Checks that dims are non-negative and describe exactly `count` elements.
mq::result<void> check_dims(std::size_t count, std::span<const std::int64_t> dims,
                            std::string_view name) {
  std::uint64_t total = 1;
  bool overflow = false;
  for (const std::int64_t d : dims) {
    if (d < 0)
      return invalid(name, fmt::format("dims [{}] contain a negative size", fmt::join(dims, ", ")));
    if (d != 0 &&
        total > std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(d)) {
      overflow = true;
    }
    total *= static_cast<std::uint64_t>(d);
  }
  if (overflow || total != count) {
    return invalid(name, fmt::format("dims [{}] do not describe the {} values given",
                                     fmt::join(dims, ", "), count));
  }
  return {};
}

// Python-style axis normalization, as ORT's normalize_axis.
mq::result<std::size_t> normalize_axis(int axis, std::size_t rank, std::string_view name) {
  const auto r = static_cast<std::int64_t>(rank);
  const std::int64_t a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= r) {
    return invalid(name, fmt::format("axis {} is out of range for rank {}", axis, rank));
  }
  return static_cast<std::size_t>(a);
}

}  // namespace

mq::result<layout> make_layout(std::size_t count, std::span<const std::int64_t> dims,
                               const weight_options& options, std::string_view name) {
  if (auto ok = check_dims(count, dims, name); !ok) return mq::unexpected_error{ok.error()};
  if (options.block_size < 0) {
    return invalid(
        name, fmt::format("block_size {} is negative; use 0 for no blocks", options.block_size));
  }
  layout l;
  l.inner = count;
  if (options.block_size == 0 && !options.per_channel) return l;

  auto axis = normalize_axis(options.axis, dims.size(), name);
  if (!axis) return mq::unexpected_error{axis.error()};
  l.axis = *axis;
  l.outer = product(dims, 0, l.axis);
  l.channels = static_cast<std::size_t>(dims[l.axis]);
  l.inner = product(dims, l.axis + 1, dims.size());
  if (options.block_size > 0) {
    l.kind = grouping::blocked;
    l.block = static_cast<std::size_t>(options.block_size);
    // ceil(channels / block), without overflow for a huge block_size
    l.blocks = l.channels / l.block + (l.channels % l.block != 0 ? 1 : 0);
  } else {
    l.kind = grouping::per_channel;
  }
  return l;
}

std::vector<std::int64_t> scale_dims(const layout& l, std::span<const std::int64_t> dims) {
  switch (l.kind) {
    case grouping::per_tensor: return {};
    case grouping::per_channel: return {static_cast<std::int64_t>(l.channels)};
    case grouping::blocked: {
      std::vector<std::int64_t> shape(dims.begin(), dims.end());
      shape[l.axis] = static_cast<std::int64_t>(l.blocks);
      return shape;
    }
  }
  return {};
}

}  // namespace mq::quant::detail
