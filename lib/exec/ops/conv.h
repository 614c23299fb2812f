// What the Conv family shares with the planner's fusions (fuse.cpp) and with pooling (pool.cpp):
// the planned Conv kernel's fusion hooks and the sliding-window geometry (auto_pad, pads, output
// sizes) of Conv, ConvTranspose and the pooling operators.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "exec/kernel.h"
#include "kernels/gemm.h"

namespace mq::exec::ops {

/// A planned Conv node. The planner fuses what follows it into its epilogue when nothing else
/// reads the Conv's output.
class conv_kernel : public kernel {
 public:
  /// Applies `act` to every output element as it is stored (after the bias). False, and nothing
  /// changes, when an activation is already fused.
  virtual bool fuse_activation(const mq::kernels::activation& act) = 0;
  /// Folds y' = y * scale[m] + shift[m] (m = output channel, a BatchNormalization in inference
  /// form) into the weights and the bias. False, and nothing changes, unless the weights (and the
  /// bias, when there is one) are constants, no activation is fused yet and both spans hold one
  /// value per output channel.
  virtual bool fold_batch_norm(std::span<const float> scale, std::span<const float> shift) = 0;
};

/// The auto_pad attribute of Conv, ConvTranspose and the pooling operators.
enum class pad_mode { notset, same_upper, same_lower, valid };

/// Reads auto_pad (default NOTSET); an unknown value is an invalid model naming the node.
result<pad_mode> read_auto_pad(const node_info& node);

/// One spatial axis of a sliding window: the input size, kernel, stride, dilation, the pads in
/// effect and the output size.
struct window_axis {
  std::int64_t in = 1;
  std::int64_t kernel = 1;
  std::int64_t stride = 1;
  std::int64_t dilation = 1;
  std::int64_t pad_begin = 0;
  std::int64_t pad_end = 0;
  std::int64_t out = 1;
  /// The input extent one window covers.
  std::int64_t span() const noexcept { return (kernel - 1) * dilation + 1; }
};

/// The spatial windows of a Conv or pooling node for `input` (N, C, spatial...): `kernel` (one per
/// spatial axis), `strides`/`dilations` (empty = 1s), `pads` (begin values then end values;
/// empty = 0s; ignored unless `mode` is NOTSET). SAME_* pads so that out = ceil(in / stride),
/// the odd pad at the end (SAME_UPPER) or the beginning (SAME_LOWER); VALID pads nothing. With
/// `ceil_mode` (pooling) the output size rounds up, dropping a last window that would start in
/// the end padding. Fails naming the node when the attribute lengths do not match the rank or a
/// window does not fit in the padded input.
result<std::vector<window_axis>> spatial_windows(const run_context& ctx, const shape_t& input,
                                                 std::span<const std::int64_t> kernel,
                                                 const std::vector<std::int64_t>& strides,
                                                 const std::vector<std::int64_t>& dilations,
                                                 const std::vector<std::int64_t>& pads, pad_mode mode, bool ceil_mode);

/// Checks the values of the window attributes at plan time: strides and dilations >= 1, pads >= 0,
/// kernel_shape >= 1; an invalid model naming the node otherwise.
result<void> check_window_attributes(const node_info& node);

/// Runs fn(item, column_begin, column_end) over `items` products of `columns` columns each (about
/// `work_per_column` multiply-adds per column) on the pool: each column of each item is computed
/// by exactly one call, so results do not depend on the thread count as long as a product's
/// columns do not depend on the range they are computed in: block boundaries are multiples of 16
/// and of `split` (the table's split_columns).
void for_column_blocks(thread_pool& pool, std::int64_t items, std::int64_t columns, std::int64_t work_per_column,
                       std::int64_t split, const std::function<void(std::int64_t, std::int64_t, std::int64_t)>& fn);

}  // namespace mq::exec::ops
