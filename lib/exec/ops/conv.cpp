// Conv and ConvTranspose on the float kernel table (kernels/gemm.h).
//
// Conv: the weights of each group are packed once at plan time (when they are constants) as the A
// operand of a product whose B operand is the image: the implicit im2col matrix of one image and
// group (gemm_packed_im2col), the image itself for 1x1 stride-1 unpadded convolutions
// (gemm_packed_dense on the NCHW plane, no im2col), an explicit im2col matrix for 3-D and higher.
// Depthwise convolutions (one input and one output channel per group) run depthwise_conv. The bias
// and a fused activation are the product's epilogue. Threads split the output pixels (columns).
//
// ConvTranspose: per image and group, the columns col = W_g^T * x_g (rows: output channel x kernel
// tap, columns: input pixels) are a product with the packed W_g^T, then scattered and added into
// the output (col2im), each output channel by one thread.
#include "exec/ops/conv.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"

namespace mq::exec::ops {

using mq::kernels::a_dense;
using mq::kernels::activation;
using mq::kernels::activation_kind;
using mq::kernels::b_dense;
using mq::kernels::b_im2col;
using mq::kernels::float_kernel_table;
using mq::kernels::gemm_args;

result<pad_mode> read_auto_pad(const node_info& node) {
  const std::string s = node.attr_string("auto_pad", "NOTSET");
  if (s == "NOTSET") return pad_mode::notset;
  if (s == "SAME_UPPER") return pad_mode::same_upper;
  if (s == "SAME_LOWER") return pad_mode::same_lower;
  if (s == "VALID") return pad_mode::valid;
  return node.invalid("auto_pad '" + s + "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
}

namespace {

std::string ints_string(std::span<const std::int64_t> v) { return shape_string(v); }

}  // namespace

result<std::vector<window_axis>> spatial_windows(const run_context& ctx, const shape_t& input,
                                                 std::span<const std::int64_t> kernel,
                                                 const std::vector<std::int64_t>& strides,
                                                 const std::vector<std::int64_t>& dilations,
                                                 const std::vector<std::int64_t>& pads, pad_mode mode, bool ceil_mode) {
  if (input.size() < 3) return ctx.fail("input has shape " + shape_string(input) + ", expected (N, C, spatial...)");
  const std::size_t r = input.size() - 2;
  auto rank_error = [&](const char* what, std::size_t size, std::size_t want) {
    return ctx.fail(std::string(what) + " has " + std::to_string(size) + " values, the input " + shape_string(input) +
                    " needs " + std::to_string(want));
  };
  if (kernel.size() != r) return rank_error("kernel_shape", kernel.size(), r);
  if (!strides.empty() && strides.size() != r) return rank_error("strides", strides.size(), r);
  if (!dilations.empty() && dilations.size() != r) return rank_error("dilations", dilations.size(), r);
  if (mode == pad_mode::notset && !pads.empty() && pads.size() != 2 * r) return rank_error("pads", pads.size(), 2 * r);
  std::vector<window_axis> w(r);
  for (std::size_t i = 0; i < r; ++i) {
    window_axis& a = w[i];
    a.in = input[i + 2];
    a.kernel = kernel[i];
    a.stride = strides.empty() ? 1 : strides[i];
    a.dilation = dilations.empty() ? 1 : dilations[i];
    if (a.kernel < 1 || a.stride < 1 || a.dilation < 1) {
      return ctx.fail("kernel " + ints_string(kernel) + ", strides and dilations must be positive");
    }
    const std::int64_t span = a.span();
    if (mode == pad_mode::same_upper || mode == pad_mode::same_lower) {
      a.out = (a.in + a.stride - 1) / a.stride;
      const std::int64_t total = std::max<std::int64_t>(0, (a.out - 1) * a.stride + span - a.in);
      a.pad_begin = mode == pad_mode::same_upper ? total / 2 : total - total / 2;
      a.pad_end = total - a.pad_begin;
      continue;
    }
    if (mode == pad_mode::notset && !pads.empty()) {
      a.pad_begin = pads[i];
      a.pad_end = pads[i + r];
    }
    const std::int64_t extent = a.in + a.pad_begin + a.pad_end - span;
    if (extent < 0) {
      return ctx.fail("input " + shape_string(input) + " is smaller along spatial axis " + std::to_string(i) +
                      " than the window (" + std::to_string(span) + " with the pads)");
    }
    a.out = extent / a.stride + 1;
    if (ceil_mode && extent % a.stride != 0) {
      ++a.out;
      // A last window that would start in the end padding is dropped.
      if ((a.out - 1) * a.stride >= a.in + a.pad_begin) --a.out;
    }
  }
  return w;
}

result<void> check_window_attributes(const node_info& node) {
  for (const char* name : {"strides", "dilations", "kernel_shape"}) {
    for (auto v : node.attr_ints(name)) {
      if (v < 1) return node.invalid(std::string("attribute '") + name + "' has a value below 1");
    }
  }
  for (auto v : node.attr_ints("pads")) {
    if (v < 0) return node.unsupported("negative pads");
  }
  return {};
}

void for_column_blocks(thread_pool& pool, std::int64_t items, std::int64_t columns, std::int64_t work_per_column,
                       std::int64_t split, const std::function<void(std::int64_t, std::int64_t, std::int64_t)>& fn) {
  if (items <= 0 || columns <= 0) return;
  const auto threads = static_cast<std::int64_t>(pool.threads());
  // Below this much work one thread is faster than waking the others.
  constexpr double min_parallel_work = 1 << 16;
  const double work = static_cast<double>(items) * static_cast<double>(columns) *
                      static_cast<double>(std::max<std::int64_t>(work_per_column, 1));
  if (threads <= 1 || work < min_parallel_work) {
    for (std::int64_t i = 0; i < items; ++i) fn(i, 0, columns);
    return;
  }
  // Few products: each is split into column blocks (whole multiples of 16 columns and of the
  // table's split), so that every thread gets about the same share.
  const std::int64_t unit = std::lcm(std::int64_t{16}, std::max<std::int64_t>(split, 1));
  std::int64_t blocks = 1;
  if (items < 4 * threads) blocks = std::min<std::int64_t>(threads, (columns + unit - 1) / unit);
  const std::int64_t width = ((columns + blocks - 1) / blocks + unit - 1) / unit * unit;
  blocks = (columns + width - 1) / width;
  pool.parallel_for(items * blocks, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t u = begin; u < end; ++u) {
      const std::int64_t item = u / blocks;
      const std::int64_t c0 = (u % blocks) * width;
      fn(item, c0, std::min(columns, c0 + width));
    }
  });
}

namespace {

constexpr std::int64_t parallel_grain_work = 1 << 15;

struct conv_attrs {
  std::vector<std::int64_t> kernel_shape;
  std::vector<std::int64_t> strides;
  std::vector<std::int64_t> dilations;
  std::vector<std::int64_t> pads;
  pad_mode mode = pad_mode::notset;
  std::int64_t group = 1;
  // ConvTranspose only.
  std::vector<std::int64_t> output_padding;
  std::vector<std::int64_t> output_shape;
};

result<conv_attrs> read_conv_attrs(const node_info& node, bool transpose) {
  if (transpose) {
    MQ_TRY_VOID(node.only_attributes(
        {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides", "output_padding", "output_shape"}));
  } else {
    MQ_TRY_VOID(node.only_attributes({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}));
  }
  MQ_TRY_VOID(check_window_attributes(node));
  conv_attrs a;
  a.kernel_shape = node.attr_ints("kernel_shape");
  a.strides = node.attr_ints("strides");
  a.dilations = node.attr_ints("dilations");
  a.pads = node.attr_ints("pads");
  a.mode = MQ_TRY(read_auto_pad(node));
  a.group = node.attr_int("group", 1);
  if (a.group < 1) return node.invalid("group " + std::to_string(a.group) + " is not positive");
  a.output_padding = node.attr_ints("output_padding");
  a.output_shape = node.attr_ints("output_shape");
  for (auto v : a.output_padding) {
    if (v < 0) return node.invalid("output_padding has a negative value");
  }
  return a;
}

std::int64_t product_of(std::span<const std::int64_t> v) {
  std::int64_t p = 1;
  for (auto d : v) p *= d;
  return p;
}

// Floats of one group's packed A block, rounded up to whole 64-byte lines so that every block
// starts aligned.
std::int64_t packed_floats(const float_kernel_table& t, std::int64_t m, std::int64_t k) {
  const std::size_t bytes = t.packed_a_bytes(m, k);
  return static_cast<std::int64_t>((bytes + 63) / 64 * 16);
}

// Packs `groups` row blocks of m/groups x k of the row-major matrix w (rows scaled by row_scale
// when given) into dst, one block every `stride` floats.
void pack_rows(const float_kernel_table& t, const float* w, std::int64_t m, std::int64_t k, std::int64_t groups,
               const std::vector<float>& row_scale, float* dst, std::int64_t stride) {
  const std::int64_t mg = m / groups;
  std::vector<float> scaled;
  for (std::int64_t g = 0; g < groups; ++g) {
    const float* src = w + g * mg * k;
    if (!row_scale.empty()) {
      scaled.assign(src, src + mg * k);
      for (std::int64_t r = 0; r < mg; ++r) {
        const float s = row_scale[static_cast<std::size_t>(g * mg + r)];
        for (std::int64_t j = 0; j < k; ++j) scaled[static_cast<std::size_t>(r * k + j)] *= s;
      }
      src = scaled.data();
    }
    t.pack_a(mg, k, a_dense{src, k, false}, dst + g * stride);
  }
}

// Explicit im2col of one image's `channels` planes for any number of spatial axes: col is
// (channels * taps) x out_pixels, zero where a tap falls in the padding.
void im2col_nd(const float* x, std::int64_t channels, const std::vector<window_axis>& w, float* col) {
  const std::size_t r = w.size();
  std::int64_t in_pixels = 1;
  std::int64_t taps = 1;
  std::int64_t out_pixels = 1;
  for (const auto& a : w) {
    in_pixels *= a.in;
    taps *= a.kernel;
    out_pixels *= a.out;
  }
  std::vector<std::int64_t> tap(r, 0);
  std::vector<std::int64_t> pos(r, 0);
  float* dst = col;
  for (std::int64_t c = 0; c < channels; ++c) {
    const float* plane = x + c * in_pixels;
    std::fill(tap.begin(), tap.end(), 0);
    for (std::int64_t t = 0; t < taps; ++t) {
      std::fill(pos.begin(), pos.end(), 0);
      for (std::int64_t p = 0; p < out_pixels; ++p) {
        std::int64_t offset = 0;
        bool inside = true;
        for (std::size_t i = 0; i < r; ++i) {
          const std::int64_t v = pos[i] * w[i].stride - w[i].pad_begin + tap[i] * w[i].dilation;
          if (v < 0 || v >= w[i].in) inside = false;
          offset = offset * w[i].in + v;
        }
        *dst++ = inside ? plane[offset] : 0.0f;
        for (std::size_t i = r; i-- > 0;) {
          if (++pos[i] < w[i].out) break;
          pos[i] = 0;
        }
      }
      for (std::size_t i = r; i-- > 0;) {
        if (++tap[i] < w[i].kernel) break;
        tap[i] = 0;
      }
    }
  }
}

// The 2-D view of a 1-D or 2-D window as the kernels take it.
b_im2col geometry_2d(const float* x, std::int64_t channels, const std::vector<window_axis>& w) {
  b_im2col g;
  g.x = x;
  g.channels = channels;
  const window_axis one{};
  const window_axis& h = w.size() == 2 ? w[0] : one;
  const window_axis& v = w.back();
  g.height = h.in;
  g.width = v.in;
  g.kh = h.kernel;
  g.kw = v.kernel;
  g.stride_h = h.stride;
  g.stride_w = v.stride;
  g.pad_top = h.pad_begin;
  g.pad_left = v.pad_begin;
  g.dil_h = h.dilation;
  g.dil_w = v.dilation;
  g.out_h = h.out;
  g.out_w = v.out;
  return g;
}

result<std::vector<float>> constant_floats(const node_info& node, const tensor& t, const char* what) {
  if (t.type() != mq::dtype::float32) {
    return node.unsupported("element type " + type_name(t.type()) + " of " + what);
  }
  return std::vector<float>(t.data<float>(), t.data<float>() + t.size());
}

// ---- Conv -------------------------------------------------------------------------------------

class conv_op final : public conv_kernel {
 public:
  conv_op(conv_attrs attrs, const float_kernel_table& table) : a_(std::move(attrs)), table_(table) {}

  result<void> prepare(const node_info& node) {
    if (const tensor* w = node.constant_input(1)) {
      if (w->type() != mq::dtype::float32) return node.unsupported("element type " + type_name(w->type()) + " of weight W");
      if (w->rank() < 3) return node.invalid("weight W has shape " + shape_string(w->shape()) + ", expected (M, C/group, kernel...)");
      if (w->dim(0) % a_.group != 0) {
        return node.invalid("weight W has " + std::to_string(w->dim(0)) + " output channels, not a multiple of group " +
                            std::to_string(a_.group));
      }
      weights_ = *w;
      const std::size_t spatial = w->rank() - 2;
      depthwise_ = w->dim(1) == 1 && w->dim(0) == a_.group && spatial <= 2;
      repack();
      if (!depthwise_ && !packed_.valid()) return mq::fail(errc::internal, node.label() + ": out of memory packing the weights");
    }
    if (node.has_input(2)) {
      if (const tensor* b = node.constant_input(2)) {
        bias_ = MQ_TRY(constant_floats(node, *b, "bias B"));
        if (weights_.defined() && static_cast<std::int64_t>(bias_.size()) != weights_.dim(0)) {
          return node.invalid("bias B has " + std::to_string(bias_.size()) + " values, the weight W " +
                              std::to_string(weights_.dim(0)) + " output channels");
        }
      } else {
        bias_input_ = true;
      }
    }
    return {};
  }

  bool fuse_activation(const activation& act) override {
    if (act_.kind != activation_kind::none) return false;
    act_ = act;
    return true;
  }

  bool fold_batch_norm(std::span<const float> scale, std::span<const float> shift) override {
    if (!weights_.defined() || bias_input_ || act_.kind != activation_kind::none) return false;
    const auto m = static_cast<std::size_t>(weights_.dim(0));
    if (scale.size() != m || shift.size() != m) return false;
    if (!depthwise_ && !packed_.valid()) return false;
    if (row_scale_.empty()) row_scale_.assign(m, 1.0f);
    if (bias_.empty()) bias_.assign(m, 0.0f);
    for (std::size_t i = 0; i < m; ++i) {
      row_scale_[i] *= scale[i];
      bias_[i] = bias_[i] * scale[i] + shift[i];
    }
    repack();
    return true;
  }

  bool consumes_constant(std::size_t i) const noexcept override {
    return (i == 1 && weights_.defined()) || (i == 2 && !bias_input_);
  }
  // Once packed (and any BatchNormalization folded) the weights are read from packed_ or
  // depthwise_w_ only: keep W's shape, not its values.
  void finish_planning() noexcept override {
    if (weights_.defined() && weights_.raw() != nullptr) weights_ = tensor::view(weights_.type(), weights_.shape(), nullptr);
  }

  result<void> run(run_context& ctx) override;

 private:
  // Packs (or copies, for depthwise) the constant weights with the folded row scales.
  void repack() {
    const tensor& w = weights_;
    const std::int64_t m = w.dim(0);
    const std::int64_t k = w.size() / std::max<std::int64_t>(m, 1);
    const float* src = w.data<float>();
    if (depthwise_) {
      depthwise_w_.assign(src, src + w.size());
      if (!row_scale_.empty()) {
        for (std::int64_t i = 0; i < m; ++i) {
          for (std::int64_t j = 0; j < k; ++j) depthwise_w_[static_cast<std::size_t>(i * k + j)] *= row_scale_[static_cast<std::size_t>(i)];
        }
      }
      return;
    }
    packed_stride_ = packed_floats(table_, m / a_.group, k);
    if (!packed_.defined()) packed_ = tensor::empty(mq::dtype::float32, {packed_stride_ * a_.group});
    if (!packed_.valid()) return;
    pack_rows(table_, src, m, k, a_.group, row_scale_, packed_.mutable_data<float>(), packed_stride_);
  }

  conv_attrs a_;
  const float_kernel_table& table_;
  tensor weights_;                 // constant W (shares the model's storage), else undefined
  bool depthwise_ = false;         // constant W of a depthwise convolution
  tensor packed_;                  // weights_ packed, one block per group
  std::int64_t packed_stride_ = 0;  // floats per group block
  std::vector<float> depthwise_w_;  // weights_ with the row scales, for depthwise_conv
  std::vector<float> bias_;        // constant (or folded) bias, M values; empty when none
  bool bias_input_ = false;        // the bias is known only at run time
  std::vector<float> row_scale_;   // folded BatchNormalization scales (empty: none)
  activation act_;
};

result<void> conv_op::run(run_context& ctx) {
  const tensor& x = ctx.in(0);
  if (x.type() != mq::dtype::float32) return ctx.unsupported("element type " + type_name(x.type()));
  const tensor& w = weights_.defined() ? weights_ : ctx.in(1);
  if (w.type() != mq::dtype::float32) return ctx.unsupported("element type " + type_name(w.type()) + " of weight W");
  if (x.rank() < 3) return ctx.fail("input X has shape " + shape_string(x.shape()) + ", expected (N, C, spatial...)");
  if (w.rank() != x.rank()) {
    return ctx.fail("weight W has shape " + shape_string(w.shape()) + ", input X " + shape_string(x.shape()) +
                    ": their ranks differ");
  }
  const std::int64_t groups = a_.group;
  const std::int64_t n = x.dim(0);
  const std::int64_t c = x.dim(1);
  const std::int64_t m = w.dim(0);
  const std::int64_t cg = w.dim(1);
  if (cg * groups != c) {
    return ctx.fail("input X has " + std::to_string(c) + " channels, weight W " + shape_string(w.shape()) +
                    " with group " + std::to_string(groups) + " expects " + std::to_string(cg * groups));
  }
  if (m % groups != 0) {
    return ctx.fail("weight W has " + std::to_string(m) + " output channels, not a multiple of group " + std::to_string(groups));
  }
  const std::vector<std::int64_t> kernel_dims(w.shape().begin() + 2, w.shape().end());
  if (!a_.kernel_shape.empty() && a_.kernel_shape != kernel_dims) {
    return ctx.fail("kernel_shape " + shape_string(a_.kernel_shape) + " does not match weight W " + shape_string(w.shape()));
  }
  const std::vector<window_axis> win = MQ_TRY(spatial_windows(ctx, x.shape(), kernel_dims, a_.strides, a_.dilations, a_.pads, a_.mode, false));
  const float* bias = bias_.empty() ? nullptr : bias_.data();
  if (bias_input_) {
    const tensor& b = ctx.in(2);
    if (b.type() != mq::dtype::float32) return ctx.unsupported("element type " + type_name(b.type()) + " of bias B");
    bias = b.data<float>();
    if (b.size() != m) return ctx.fail("bias B has " + std::to_string(b.size()) + " values, weight W " + std::to_string(m) + " output channels");
  } else if (bias != nullptr && static_cast<std::int64_t>(bias_.size()) != m) {
    return ctx.fail("bias B has " + std::to_string(bias_.size()) + " values, weight W " + std::to_string(m) + " output channels");
  }
  shape_t ys = {n, m};
  std::int64_t in_pixels = 1;
  std::int64_t out_pixels = 1;
  bool pointwise = true;
  for (const auto& a : win) {
    ys.push_back(a.out);
    in_pixels *= a.in;
    out_pixels *= a.out;
    pointwise = pointwise && a.kernel == 1 && a.stride == 1 && a.pad_begin == 0 && a.pad_end == 0;
  }
  const float* px = x.data<float>();
  tensor y = MQ_TRY(ctx.allocate(mq::dtype::float32, ys));
  if (y.size() == 0) {
    ctx.set_output(0, std::move(y));
    return {};
  }
  float* py = y.mutable_data<float>();
  const std::int64_t taps = product_of(kernel_dims);
  const std::int64_t mg = m / groups;
  const std::int64_t kg = cg * taps;
  const activation act = act_;
  const float_kernel_table& t = table_;

  const bool depthwise = weights_.defined() ? depthwise_ : (cg == 1 && m == groups && win.size() <= 2);
  if (depthwise) {
    const float* dw = weights_.defined() ? depthwise_w_.data() : w.data<float>();
    const std::int64_t grain = std::max<std::int64_t>(1, parallel_grain_work / std::max<std::int64_t>(1, taps * out_pixels));
    ctx.pool().parallel_for(n * c, grain, [&](std::int64_t begin, std::int64_t end) {
      while (begin < end) {
        const std::int64_t img = begin / c;
        const std::int64_t c0 = begin % c;
        const std::int64_t c1 = std::min(c, c0 + (end - begin));
        const b_im2col geo = geometry_2d(px + img * c * in_pixels, c, win);
        t.depthwise_conv(geo, dw, bias, act, py + img * m * out_pixels, c0, c1);
        begin += c1 - c0;
      }
    });
    ctx.set_output(0, std::move(y));
    return {};
  }

  const float* packed = nullptr;
  std::int64_t stride = packed_stride_;
  tensor scratch;
  if (weights_.defined()) {
    packed = packed_.data<float>();
  } else {
    stride = packed_floats(t, mg, kg);
    scratch = MQ_TRY(ctx.allocate(mq::dtype::float32, {stride * groups}));
    pack_rows(t, w.data<float>(), m, kg, groups, {}, scratch.mutable_data<float>(), stride);
    packed = scratch.data<float>();
  }
  auto args_for = [&](std::int64_t img, std::int64_t g, std::int64_t b, std::int64_t e) {
    gemm_args args;
    args.m = mg;
    args.n = out_pixels;
    args.k = kg;
    args.n_begin = b;
    args.n_end = e;
    args.c = py + (img * m + g * mg) * out_pixels;
    args.ldc = out_pixels;
    args.bias = bias != nullptr ? bias + g * mg : nullptr;
    args.act = act;
    return args;
  };
  if (pointwise) {
    for_column_blocks(ctx.pool(), n * groups, out_pixels, mg * kg, t.split_columns, [&](std::int64_t item, std::int64_t b, std::int64_t e) {
      const std::int64_t img = item / groups;
      const std::int64_t g = item % groups;
      const b_dense B{px + (img * c + g * cg) * in_pixels, in_pixels, false};
      t.gemm_packed_dense(packed + g * stride, B, args_for(img, g, b, e));
    });
  } else if (win.size() <= 2) {
    for_column_blocks(ctx.pool(), n * groups, out_pixels, mg * kg, t.split_columns, [&](std::int64_t item, std::int64_t b, std::int64_t e) {
      const std::int64_t img = item / groups;
      const std::int64_t g = item % groups;
      const b_im2col B = geometry_2d(px + (img * c + g * cg) * in_pixels, cg, win);
      t.gemm_packed_im2col(packed + g * stride, B, args_for(img, g, b, e));
    });
  } else {
    tensor col = MQ_TRY(ctx.allocate(mq::dtype::float32, {kg, out_pixels}));
    float* pc = col.mutable_data<float>();
    for (std::int64_t img = 0; img < n; ++img) {
      for (std::int64_t g = 0; g < groups; ++g) {
        im2col_nd(px + (img * c + g * cg) * in_pixels, cg, win, pc);
        for_column_blocks(ctx.pool(), 1, out_pixels, mg * kg, t.split_columns, [&](std::int64_t, std::int64_t b, std::int64_t e) {
          t.gemm_packed_dense(packed + g * stride, b_dense{pc, out_pixels, false}, args_for(img, g, b, e));
        });
      }
    }
  }
  ctx.set_output(0, std::move(y));
  return {};
}

result<std::unique_ptr<kernel>> make_conv(node_info& node) {
  conv_attrs a = MQ_TRY(read_conv_attrs(node, false));
  auto k = std::make_unique<conv_op>(std::move(a), mq::kernels::active_float_kernels());
  MQ_TRY_VOID(k->prepare(node));
  return std::unique_ptr<kernel>(std::move(k));
}

// ---- ConvTranspose ----------------------------------------------------------------------------

// For one spatial axis of ConvTranspose: the output size and the pads in effect. An explicit
// output_shape or SAME_* derive the pads from the total padding they need, the odd one at the end
// for SAME_UPPER and at the beginning otherwise (the spec; ONNX Runtime since 1.14).
struct transpose_axis {
  std::int64_t in = 1, kernel = 1, stride = 1, dilation = 1, pad_begin = 0, out = 1;
  // Input positions whose tap `k` lands inside the output: [lo[k], hi[k]).
  std::vector<std::int64_t> lo, hi;
};

class conv_transpose_op final : public kernel {
 public:
  conv_transpose_op(conv_attrs attrs, const float_kernel_table& table) : a_(std::move(attrs)), table_(table) {}

  result<void> prepare(const node_info& node) {
    if (const tensor* w = node.constant_input(1)) {
      if (w->type() != mq::dtype::float32) return node.unsupported("element type " + type_name(w->type()) + " of weight W");
      if (w->rank() < 3) return node.invalid("weight W has shape " + shape_string(w->shape()) + ", expected (C, M/group, kernel...)");
      if (w->dim(0) % a_.group != 0) {
        return node.invalid("weight W has " + std::to_string(w->dim(0)) + " input channels, not a multiple of group " +
                            std::to_string(a_.group));
      }
      weights_ = *w;
      const std::int64_t cg = w->dim(0) / a_.group;
      const std::int64_t rows = w->size() / std::max<std::int64_t>(w->dim(0), 1);
      packed_stride_ = packed_floats(table_, rows, cg);
      packed_ = tensor::empty(mq::dtype::float32, {packed_stride_ * a_.group});
      if (!packed_.valid()) return mq::fail(errc::internal, node.label() + ": out of memory packing the weights");
      pack(w->data<float>(), w->dim(0), rows, packed_.mutable_data<float>(), packed_stride_);
    }
    if (node.has_input(2)) {
      if (const tensor* b = node.constant_input(2)) {
        bias_ = MQ_TRY(constant_floats(node, *b, "bias B"));
      } else {
        bias_input_ = true;
      }
    }
    return {};
  }

  result<void> run(run_context& ctx) override;

 private:
  // A_g = W_g^T (rows: output channel x tap, columns: the group's input channels).
  void pack(const float* w, std::int64_t c, std::int64_t rows, float* dst, std::int64_t stride) const {
    const std::int64_t cg = c / a_.group;
    for (std::int64_t g = 0; g < a_.group; ++g) {
      table_.pack_a(rows, cg, a_dense{w + g * cg * rows, rows, true}, dst + g * stride);
    }
  }

  conv_attrs a_;
  const float_kernel_table& table_;
  tensor weights_;
  tensor packed_;
  std::int64_t packed_stride_ = 0;
  std::vector<float> bias_;
  bool bias_input_ = false;
};

result<void> conv_transpose_op::run(run_context& ctx) {
  const tensor& x = ctx.in(0);
  if (x.type() != mq::dtype::float32) return ctx.unsupported("element type " + type_name(x.type()));
  const tensor& w = weights_.defined() ? weights_ : ctx.in(1);
  if (w.type() != mq::dtype::float32) return ctx.unsupported("element type " + type_name(w.type()) + " of weight W");
  if (x.rank() < 3) return ctx.fail("input X has shape " + shape_string(x.shape()) + ", expected (N, C, spatial...)");
  if (w.rank() != x.rank()) {
    return ctx.fail("weight W has shape " + shape_string(w.shape()) + ", input X " + shape_string(x.shape()) +
                    ": their ranks differ");
  }
  const std::size_t r = x.rank() - 2;
  if (r > 3) return ctx.unsupported("ConvTranspose with " + std::to_string(r) + " spatial axes (at most 3)");
  const std::int64_t groups = a_.group;
  const std::int64_t n = x.dim(0);
  const std::int64_t c = x.dim(1);
  if (w.dim(0) != c) {
    return ctx.fail("input X has " + std::to_string(c) + " channels, weight W " + shape_string(w.shape()) + " expects " +
                    std::to_string(w.dim(0)));
  }
  if (c % groups != 0) return ctx.fail("input X has " + std::to_string(c) + " channels, not a multiple of group " + std::to_string(groups));
  const std::int64_t cg = c / groups;
  const std::int64_t mg = w.dim(1);
  const std::int64_t m = mg * groups;
  const std::vector<std::int64_t> kernel_dims(w.shape().begin() + 2, w.shape().end());
  if (!a_.kernel_shape.empty() && a_.kernel_shape != kernel_dims) {
    return ctx.fail("kernel_shape " + shape_string(a_.kernel_shape) + " does not match weight W " + shape_string(w.shape()));
  }
  auto length_error = [&](const char* what, std::size_t size, std::size_t want) {
    return ctx.fail(std::string(what) + " has " + std::to_string(size) + " values, the input " + shape_string(x.shape()) +
                    " needs " + std::to_string(want));
  };
  if (!a_.strides.empty() && a_.strides.size() != r) return length_error("strides", a_.strides.size(), r);
  if (!a_.dilations.empty() && a_.dilations.size() != r) return length_error("dilations", a_.dilations.size(), r);
  if (!a_.pads.empty() && a_.pads.size() != 2 * r) return length_error("pads", a_.pads.size(), 2 * r);
  if (!a_.output_padding.empty() && a_.output_padding.size() != r) return length_error("output_padding", a_.output_padding.size(), r);
  if (!a_.output_shape.empty() && a_.output_shape.size() != r && a_.output_shape.size() != r + 2) {
    return length_error("output_shape", a_.output_shape.size(), r);
  }
  const float* bias = bias_.empty() ? nullptr : bias_.data();
  std::int64_t bias_size = static_cast<std::int64_t>(bias_.size());
  if (bias_input_) {
    const tensor& b = ctx.in(2);
    if (b.type() != mq::dtype::float32) return ctx.unsupported("element type " + type_name(b.type()) + " of bias B");
    bias = b.data<float>();
    bias_size = b.size();
  }
  if (bias != nullptr && bias_size != m) {
    return ctx.fail("bias B has " + std::to_string(bias_size) + " values, the output " + std::to_string(m) + " channels");
  }

  // Axes padded to three (leading axes of size 1), so one loop nest serves 1-D, 2-D and 3-D.
  std::vector<transpose_axis> ax(3);
  shape_t ys = {n, m};
  for (std::size_t i = 0; i < r; ++i) {
    transpose_axis& a = ax[3 - r + i];
    a.in = x.dim(i + 2);
    a.kernel = kernel_dims[i];
    a.stride = a_.strides.empty() ? 1 : a_.strides[i];
    a.dilation = a_.dilations.empty() ? 1 : a_.dilations[i];
    const std::int64_t adj = a_.output_padding.empty() ? 0 : a_.output_padding[i];
    const std::int64_t full = (a.in - 1) * a.stride + adj + (a.kernel - 1) * a.dilation + 1;
    auto distribute = [&](std::int64_t total) {
      a.pad_begin = a_.mode == pad_mode::same_upper ? total / 2 : total - total / 2;
      return total - a.pad_begin;
    };
    if (!a_.output_shape.empty()) {
      a.out = a_.output_shape[a_.output_shape.size() == r ? i : i + 2];
      distribute(std::max<std::int64_t>(0, full - a.out));
    } else if (a_.mode == pad_mode::same_upper || a_.mode == pad_mode::same_lower) {
      const std::int64_t end = distribute(std::max<std::int64_t>(0, full - a.in * a.stride));
      a.out = full - a.pad_begin - end;
    } else {
      const bool explicit_pads = a_.mode == pad_mode::notset && !a_.pads.empty();
      a.pad_begin = explicit_pads ? a_.pads[i] : 0;
      a.out = full - a.pad_begin - (explicit_pads ? a_.pads[i + r] : 0);
    }
    if (a.out <= 0) return ctx.fail("the output size along spatial axis " + std::to_string(i) + " is " + std::to_string(a.out));
    ys.push_back(a.out);
  }
  std::int64_t in_pixels = 1;
  std::int64_t out_pixels = 1;
  std::int64_t taps = 1;
  for (auto& a : ax) {
    in_pixels *= a.in;
    out_pixels *= a.out;
    taps *= a.kernel;
    a.lo.resize(static_cast<std::size_t>(a.kernel));
    a.hi.resize(static_cast<std::size_t>(a.kernel));
    for (std::int64_t k = 0; k < a.kernel; ++k) {
      // out = i * stride + off must fall in [0, out).
      const std::int64_t off = k * a.dilation - a.pad_begin;
      std::int64_t lo = off >= 0 ? 0 : (-off + a.stride - 1) / a.stride;
      std::int64_t hi = a.out - 1 - off < 0 ? 0 : (a.out - 1 - off) / a.stride + 1;
      hi = std::min(hi, a.in);
      lo = std::min(lo, hi);
      a.lo[static_cast<std::size_t>(k)] = lo;
      a.hi[static_cast<std::size_t>(k)] = hi;
    }
  }
  const float* px = x.data<float>();
  tensor y = MQ_TRY(ctx.allocate(mq::dtype::float32, ys));
  if (y.size() == 0) {
    ctx.set_output(0, std::move(y));
    return {};
  }
  float* py = y.mutable_data<float>();
  for (std::int64_t img = 0; img < n; ++img) {
    for (std::int64_t ch = 0; ch < m; ++ch) {
      std::fill(py + (img * m + ch) * out_pixels, py + (img * m + ch + 1) * out_pixels, bias != nullptr ? bias[ch] : 0.0f);
    }
  }
  const std::int64_t rows = mg * taps;
  const float_kernel_table& t = table_;
  const float* packed = nullptr;
  std::int64_t stride = packed_stride_;
  tensor scratch;
  if (weights_.defined()) {
    packed = packed_.data<float>();
  } else {
    stride = packed_floats(t, rows, cg);
    scratch = MQ_TRY(ctx.allocate(mq::dtype::float32, {stride * groups}));
    pack(w.data<float>(), c, rows, scratch.mutable_data<float>(), stride);
    packed = scratch.data<float>();
  }
  if (in_pixels == 0 || cg == 0) {
    ctx.set_output(0, std::move(y));
    return {};
  }
  tensor col = MQ_TRY(ctx.allocate(mq::dtype::float32, {rows, in_pixels}));
  float* pc = col.mutable_data<float>();
  const transpose_axis& a0 = ax[0];
  const transpose_axis& a1 = ax[1];
  const transpose_axis& a2 = ax[2];
  for (std::int64_t img = 0; img < n; ++img) {
    for (std::int64_t g = 0; g < groups; ++g) {
      const b_dense B{px + (img * c + g * cg) * in_pixels, in_pixels, false};
      for_column_blocks(ctx.pool(), 1, in_pixels, rows * cg, t.split_columns, [&](std::int64_t, std::int64_t b, std::int64_t e) {
        gemm_args args;
        args.m = rows;
        args.n = in_pixels;
        args.k = cg;
        args.n_begin = b;
        args.n_end = e;
        args.c = pc;
        args.ldc = in_pixels;
        t.gemm_packed_dense(packed + g * stride, B, args);
      });
      // col2im: each output channel's plane is summed by one thread, taps in order.
      const std::int64_t grain = std::max<std::int64_t>(1, parallel_grain_work / std::max<std::int64_t>(1, taps * in_pixels));
      ctx.pool().parallel_for(mg, grain, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t oc = begin; oc < end; ++oc) {
          float* plane = py + (img * m + g * mg + oc) * out_pixels;
          const float* src = pc + oc * taps * in_pixels;
          for (std::int64_t k0 = 0; k0 < a0.kernel; ++k0) {
            for (std::int64_t k1 = 0; k1 < a1.kernel; ++k1) {
              for (std::int64_t k2 = 0; k2 < a2.kernel; ++k2, src += in_pixels) {
                const std::int64_t lo2 = a2.lo[static_cast<std::size_t>(k2)];
                const std::int64_t hi2 = a2.hi[static_cast<std::size_t>(k2)];
                const std::int64_t off2 = k2 * a2.dilation - a2.pad_begin;
                for (std::int64_t i0 = a0.lo[static_cast<std::size_t>(k0)]; i0 < a0.hi[static_cast<std::size_t>(k0)]; ++i0) {
                  const std::int64_t o0 = i0 * a0.stride + k0 * a0.dilation - a0.pad_begin;
                  for (std::int64_t i1 = a1.lo[static_cast<std::size_t>(k1)]; i1 < a1.hi[static_cast<std::size_t>(k1)]; ++i1) {
                    const std::int64_t o1 = i1 * a1.stride + k1 * a1.dilation - a1.pad_begin;
                    const std::int64_t out_base = (o0 * a1.out + o1) * a2.out + off2;
                    const float* in_row = src + (i0 * a1.in + i1) * a2.in;
                    for (std::int64_t i2 = lo2; i2 < hi2; ++i2) plane[out_base + i2 * a2.stride] += in_row[i2];
                  }
                }
              }
            }
          }
        }
      });
    }
  }
  ctx.set_output(0, std::move(y));
  return {};
}

result<std::unique_ptr<kernel>> make_conv_transpose(node_info& node) {
  conv_attrs a = MQ_TRY(read_conv_attrs(node, true));
  auto k = std::make_unique<conv_transpose_op>(std::move(a), mq::kernels::active_float_kernels());
  MQ_TRY_VOID(k->prepare(node));
  return std::unique_ptr<kernel>(std::move(k));
}

}  // namespace

void register_conv(op_registry& r) {
  r.add("Conv", make_conv, 1);
  r.add("ConvTranspose", make_conv_transpose, 1);
}

}  // namespace mq::exec::ops
