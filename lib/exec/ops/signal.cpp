// Signal processing (opset 17): DFT, STFT, the HannWindow, HammingWindow and BlackmanWindow
// generators and MelWeightMatrix.
//
// Complex values are the last dimension of size 2 (real, imaginary); real signals have it of
// size 1. Transforms compute in double: a radix-2 FFT when the length is a power of two, else a
// direct DFT with exact twiddle indices ((j * k) mod n), and round once to the element type.
#include <cmath>
#include <complex>
#include <numbers>
#include <string>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"

namespace mq::exec::ops {
namespace {

using i64 = std::int64_t;
using cplx = std::complex<double>;

std::size_t uz(i64 v) noexcept { return static_cast<std::size_t>(v); }

result<i64> scalar_int(const run_context& ctx, std::size_t input, const char* what) {
  const tensor& t = ctx.in(input);
  if (t.size() != 1) return ctx.fail(std::string(what) + " must hold one value, has shape " + shape_string(t.shape()));
  if (t.type() != mq::dtype::int64 && t.type() != mq::dtype::int32) {
    return ctx.fail(std::string(what) + " must be int64 or int32, is " + type_name(t.type()));
  }
  return element_as_int64(t, 0);
}

// The transform of one length-n line, in place. Forward: X[k] = sum_j x[j] e^(-2 pi i jk / n);
// inverse: the same with +i and divided by n.
class dft_plan {
 public:
  dft_plan(i64 n, bool inverse) : n_(n), inverse_(inverse), twiddle_(uz(n)) {
    const double sign = inverse ? 1.0 : -1.0;
    for (i64 k = 0; k < n; ++k) {
      const double a = sign * 2.0 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(n);
      twiddle_[uz(k)] = {std::cos(a), std::sin(a)};
    }
    pow2_ = n > 0 && (n & (n - 1)) == 0;
    scratch_.resize(uz(n));
  }

  void run(cplx* x) {
    if (n_ == 0) return;
    if (pow2_) fft(x);
    else direct(x);
    if (inverse_) {
      const double s = 1.0 / static_cast<double>(n_);
      for (i64 k = 0; k < n_; ++k) x[k] *= s;
    }
  }

 private:
  void direct(cplx* x) {
    for (i64 k = 0; k < n_; ++k) {
      cplx acc = 0;
      i64 t = 0;  // (j * k) mod n
      for (i64 j = 0; j < n_; ++j) {
        acc += x[j] * twiddle_[uz(t)];
        t += k;
        if (t >= n_) t -= n_;
      }
      scratch_[uz(k)] = acc;
    }
    std::copy(scratch_.begin(), scratch_.end(), x);
  }

  void fft(cplx* x) {
    // Bit-reversal permutation, then butterflies.
    for (i64 i = 1, j = 0; i < n_; ++i) {
      i64 bit = n_ >> 1;
      for (; (j & bit) != 0; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) std::swap(x[i], x[j]);
    }
    for (i64 len = 2; len <= n_; len <<= 1) {
      const i64 step = n_ / len;
      for (i64 i = 0; i < n_; i += len) {
        for (i64 k = 0; k < len / 2; ++k) {
          const cplx u = x[i + k];
          const cplx v = x[i + k + len / 2] * twiddle_[uz(k * step)];
          x[i + k] = u + v;
          x[i + k + len / 2] = u - v;
        }
      }
    }
  }

  i64 n_;
  bool inverse_;
  bool pow2_ = false;
  std::vector<cplx> twiddle_;
  std::vector<cplx> scratch_;
};

// ---- DFT ---------------------------------------------------------------------------------------

result<std::unique_ptr<kernel>> make_dft(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"axis", "inverse", "onesided"}));
  const i64 axis_attr = node.attr_int("axis", 1);
  const bool inverse = node.attr_int("inverse", 0) != 0;
  const bool onesided = node.attr_int("onesided", 0) != 0;
  return make_kernel([=](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    const std::size_t rank = x.rank();
    if (rank < 2 || (x.dim(rank - 1) != 1 && x.dim(rank - 1) != 2)) {
      return ctx.fail("input must be [batch, signal dims..., 1 or 2], has shape " + shape_string(x.shape()));
    }
    const i64 r = static_cast<i64>(rank);
    const i64 a = axis_attr < 0 ? axis_attr + r : axis_attr;
    if (a < 0 || a > r - 2) return ctx.fail("axis " + std::to_string(axis_attr) + " is out of range for rank " + std::to_string(r) + " (the last dimension holds the complex parts)");
    const std::size_t axis = uz(a);
    const bool complex_in = x.dim(rank - 1) == 2;
    const i64 len_in = x.dim(axis);
    const bool irfft = inverse && onesided;
    i64 n = irfft ? 2 * (len_in - 1) : len_in;
    if (ctx.has_input(1) && ctx.in(1).size() > 0) n = MQ_TRY(scalar_int(ctx, 1, "dft_length"));
    if (n < 1) return ctx.fail("dft_length must be >= 1, is " + std::to_string(n));
    // Output bins along the axis, and the complex parts of the output.
    const i64 bins = onesided && !inverse ? n / 2 + 1 : n;
    shape_t out_shape = x.shape();
    out_shape[axis] = bins;
    out_shape[rank - 1] = irfft ? 1 : 2;
    i64 outer = 1;
    for (std::size_t k = 0; k < axis; ++k) outer *= x.dim(k);
    i64 inner = 1;  // elements between consecutive signal samples, counted in complex values
    for (std::size_t k = axis + 1; k + 1 < rank; ++k) inner *= x.dim(k);
    const i64 parts_in = complex_in ? 2 : 1;
    tensor y = MQ_TRY(ctx.allocate(x.type(), out_shape));
    const bool known = visit_float(x.type(), [&]<class T>() {
      const T* src = x.data<T>();
      T* dst = y.mutable_data<T>();
      ctx.pool().parallel_for(outer * inner, 1, [&](i64 begin, i64 end) {
        dft_plan plan(n, inverse);
        std::vector<cplx> line(uz(n));
        for (i64 li = begin; li < end; ++li) {
          const i64 o = li / inner;
          const i64 in = li % inner;
          std::fill(line.begin(), line.end(), cplx{});
          if (irfft) {
            // The one-sided spectrum extended by conjugate symmetry (bins past the input are 0).
            const i64 half = n / 2;
            for (i64 k = 0; k <= half && k < len_in; ++k) {
              const T* p = src + ((o * len_in + k) * inner + in) * parts_in;
              const cplx v{static_cast<double>(p[0]), complex_in ? static_cast<double>(p[1]) : 0.0};
              line[uz(k)] = v;
              if (k > 0 && n - k != k) line[uz(n - k)] = std::conj(v);
            }
          } else {
            for (i64 j = 0; j < std::min(n, len_in); ++j) {
              const T* p = src + ((o * len_in + j) * inner + in) * parts_in;
              line[uz(j)] = {static_cast<double>(p[0]), complex_in ? static_cast<double>(p[1]) : 0.0};
            }
          }
          plan.run(line.data());
          for (i64 k = 0; k < bins; ++k) {
            if (irfft) {
              dst[(o * bins + k) * inner + in] = static_cast<T>(line[uz(k)].real());
            } else {
              T* q = dst + ((o * bins + k) * inner + in) * 2;
              q[0] = static_cast<T>(line[uz(k)].real());
              q[1] = static_cast<T>(line[uz(k)].imag());
            }
          }
        }
      });
    });
    if (!known) return ctx.unsupported("element type " + type_name(x.type()));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- STFT --------------------------------------------------------------------------------------

// Frames of `window`'s length (zero past the signal's end) start every frame_step samples; each,
// multiplied by the window, is transformed with a DFT of frame_length points (zero-padded or cut).
// frames = 1 + (signal_length - frame_length) / frame_step. frame_length defaults to the window's
// length, the window to ones.
result<std::unique_ptr<kernel>> make_stft(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"onesided"}));
  const bool onesided = node.attr_int("onesided", 1) != 0;
  return make_kernel([onesided](run_context& ctx) -> result<void> {
    const tensor& x = ctx.in(0);
    if (x.rank() != 3 || (x.dim(2) != 1 && x.dim(2) != 2)) {
      return ctx.fail("signal must be [batch, length, 1 or 2], has shape " + shape_string(x.shape()));
    }
    const i64 batch = x.dim(0);
    const i64 length = x.dim(1);
    const i64 parts = x.dim(2);
    const i64 step = MQ_TRY(scalar_int(ctx, 1, "frame_step"));
    if (step < 1) return ctx.fail("frame_step must be >= 1, is " + std::to_string(step));
    const bool has_window = ctx.has_input(2) && ctx.in(2).size() > 0;
    if (has_window) {
      const tensor& w = ctx.in(2);
      if (w.rank() != 1) return ctx.fail("window must have rank 1, has shape " + shape_string(w.shape()));
      if (w.type() != x.type()) return ctx.fail("window has type " + type_name(w.type()) + ", signal " + type_name(x.type()));
    }
    i64 frame_length = has_window ? ctx.in(2).dim(0) : length;
    if (ctx.has_input(3) && ctx.in(3).size() > 0) frame_length = MQ_TRY(scalar_int(ctx, 3, "frame_length"));
    if (frame_length < 1 || frame_length > length) {
      return ctx.fail("frame_length " + std::to_string(frame_length) + " is out of range [1, " + std::to_string(length) + "]");
    }
    const i64 window_length = has_window ? ctx.in(2).dim(0) : frame_length;
    const i64 frames = 1 + (length - frame_length) / step;
    const i64 bins = onesided ? frame_length / 2 + 1 : frame_length;
    tensor y = MQ_TRY(ctx.allocate(x.type(), {batch, frames, bins, 2}));
    const bool known = visit_float(x.type(), [&]<class T>() {
      const T* src = x.data<T>();
      const T* win = has_window ? ctx.in(2).data<T>() : nullptr;
      T* dst = y.mutable_data<T>();
      ctx.pool().parallel_for(batch * frames, 1, [&](i64 begin, i64 end) {
        dft_plan plan(frame_length, false);
        std::vector<cplx> line(uz(frame_length));
        for (i64 u = begin; u < end; ++u) {
          const i64 b = u / frames;
          const i64 f = u % frames;
          std::fill(line.begin(), line.end(), cplx{});
          for (i64 j = 0; j < std::min(window_length, frame_length); ++j) {
            const i64 t = f * step + j;
            if (t >= length) break;
            const T* p = src + (b * length + t) * parts;
            const double w = win != nullptr ? static_cast<double>(win[j]) : 1.0;
            line[uz(j)] = cplx{static_cast<double>(p[0]), parts == 2 ? static_cast<double>(p[1]) : 0.0} * w;
          }
          plan.run(line.data());
          T* q = dst + u * bins * 2;
          for (i64 k = 0; k < bins; ++k) {
            q[2 * k] = static_cast<T>(line[uz(k)].real());
            q[2 * k + 1] = static_cast<T>(line[uz(k)].imag());
          }
        }
      });
    });
    if (!known) return ctx.unsupported("element type " + type_name(x.type()));
    ctx.set_output(0, std::move(y));
    return {};
  });
}

// ---- window generators, MelWeightMatrix -----------------------------------------------------------

// A tensor of `type` (any numeric type, float16, bfloat16) holding `values` (cast as C++ does:
// integers truncate toward zero).
result<tensor> tensor_of(const run_context& ctx, mq::dtype type, shape_t shape, const std::vector<double>& values) {
  tensor t = MQ_TRY(ctx.allocate(type, std::move(shape)));
  if (type == mq::dtype::float16 || type == mq::dtype::bfloat16) {
    std::uint16_t* p = t.mutable_data<std::uint16_t>();
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto f = static_cast<float>(values[i]);
      p[i] = type == mq::dtype::float16 ? mq::half::float_to_half(f) : mq::half::float_to_bfloat16(f);
    }
    return t;
  }
  const bool known = visit_numeric(type, [&]<class T>() {
    T* p = t.mutable_data<T>();
    for (std::size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  if (!known) return ctx.unsupported("output_datatype " + type_name(type));
  return t;
}

result<mq::dtype> output_datatype(const node_info& node) {
  const i64 dt = node.attr_int("output_datatype", 1);
  const auto type = static_cast<mq::dtype>(dt);
  switch (type) {
    case mq::dtype::float32: case mq::dtype::float64: case mq::dtype::float16: case mq::dtype::bfloat16:
    case mq::dtype::int8: case mq::dtype::uint8: case mq::dtype::int16: case mq::dtype::uint16:
    case mq::dtype::int32: case mq::dtype::uint32: case mq::dtype::int64: case mq::dtype::uint64: return type;
    default: return node.unsupported("output_datatype " + std::to_string(dt));
  }
}

enum class window_kind : std::uint8_t { hann, hamming, blackman };

kernel_factory window_factory(window_kind kind) {
  return [kind](node_info& node) -> result<std::unique_ptr<kernel>> {
    MQ_TRY_VOID(node.only_attributes({"output_datatype", "periodic"}));
    const mq::dtype type = MQ_TRY(output_datatype(node));
    const bool periodic = node.attr_int("periodic", 1) != 0;
    return make_kernel([kind, type, periodic](run_context& ctx) -> result<void> {
      const i64 size = MQ_TRY(scalar_int(ctx, 0, "size"));
      if (size < 0) return ctx.fail("size must be >= 0, is " + std::to_string(size));
      // w[n] as a function of n / N, N = size (periodic) or size - 1 (symmetric).
      const i64 period = periodic ? size : size - 1;
      if (size > 0 && period == 0) return ctx.fail("a symmetric window of size 1 is undefined (its formula divides by size - 1 = 0)");
      std::vector<double> w(uz(size));
      const double two_pi = 2.0 * std::numbers::pi;
      for (i64 i = 0; i < size; ++i) {
        const double a = two_pi * static_cast<double>(i) / static_cast<double>(period);
        switch (kind) {
          case window_kind::hann: w[uz(i)] = 0.5 - 0.5 * std::cos(a); break;
          case window_kind::hamming: w[uz(i)] = 25.0 / 46.0 - 21.0 / 46.0 * std::cos(a); break;
          case window_kind::blackman: w[uz(i)] = 0.42 - 0.5 * std::cos(a) + 0.08 * std::cos(2 * a); break;
        }
      }
      ctx.set_output(0, MQ_TRY(tensor_of(ctx, type, {size}, w)));
      return {};
    });
  };
}

// Triangular filters on the mel scale, mel(f) = 2595 log10(1 + f / 700): num_mel_bins + 2 points
// evenly spaced in mel from mel(lower) (the step is (mel(upper) - mel(lower)) / (num_mel_bins + 2),
// as the ONNX reference computes it), mapped back to hertz and to spectrogram bins as
// floor((dft_length + 1) * f / sample_rate). Filter i rises from point i to point i + 1 (1 there)
// and falls to point i + 2.
result<std::unique_ptr<kernel>> make_mel(node_info& node) {
  MQ_TRY_VOID(node.only_attributes({"output_datatype"}));
  const mq::dtype type = MQ_TRY(output_datatype(node));
  return make_kernel([type](run_context& ctx) -> result<void> {
    const i64 mels = MQ_TRY(scalar_int(ctx, 0, "num_mel_bins"));
    const i64 dft_length = MQ_TRY(scalar_int(ctx, 1, "dft_length"));
    const i64 rate = MQ_TRY(scalar_int(ctx, 2, "sample_rate"));
    for (std::size_t i = 3; i < 5; ++i) {
      if (ctx.in(i).size() != 1 || !is_float_type(ctx.in(i).type())) {
        return ctx.fail(std::string(i == 3 ? "lower_edge_hertz" : "upper_edge_hertz") + " must be one float value");
      }
    }
    const double lower = element_as_double(ctx.in(3), 0);
    const double upper = element_as_double(ctx.in(4), 0);
    if (mels < 1 || dft_length < 1 || rate < 1) return ctx.fail("num_mel_bins, dft_length and sample_rate must be >= 1");
    if (!(lower >= 0 && lower < upper)) return ctx.fail("the edges must satisfy 0 <= lower_edge_hertz < upper_edge_hertz");
    const i64 spectrogram_bins = dft_length / 2 + 1;
    auto mel = [](double f) { return 2595.0 * std::log10(1.0 + f / 700.0); };
    const double low_mel = mel(lower);
    const double step = (mel(upper) - low_mel) / static_cast<double>(mels + 2);
    std::vector<i64> points(uz(mels + 2));
    for (i64 i = 0; i < mels + 2; ++i) {
      const double hz = 700.0 * (std::pow(10.0, (static_cast<double>(i) * step + low_mel) / 2595.0) - 1.0);
      points[uz(i)] = static_cast<i64>(std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(rate)));
      if (points[uz(i)] < 0 || points[uz(i)] > (i <= mels ? spectrogram_bins - 1 : spectrogram_bins)) {
        return ctx.fail("upper_edge_hertz " + std::to_string(upper) + " lies above the spectrogram's last bin (sample_rate / 2)");
      }
    }
    std::vector<double> w(uz(spectrogram_bins * mels), 0.0);
    for (i64 i = 0; i < mels; ++i) {
      const i64 lo = points[uz(i)];
      const i64 mid = points[uz(i + 1)];
      const i64 hi = points[uz(i + 2)];
      if (mid == lo) {
        w[uz(mid * mels + i)] = 1;
      } else {
        for (i64 j = lo; j <= mid; ++j) w[uz(j * mels + i)] = static_cast<double>(j - lo) / static_cast<double>(mid - lo);
      }
      for (i64 j = mid; j < hi; ++j) w[uz(j * mels + i)] = static_cast<double>(hi - j) / static_cast<double>(hi - mid);
    }
    ctx.set_output(0, MQ_TRY(tensor_of(ctx, type, {spectrogram_bins, mels}, w)));
    return {};
  });
}

}  // namespace

void register_signal(op_registry& r) {
  r.add("DFT", make_dft, 17);
  r.add("STFT", make_stft, 17);
  r.add("HannWindow", window_factory(window_kind::hann), 17);
  r.add("HammingWindow", window_factory(window_kind::hamming), 17);
  r.add("BlackmanWindow", window_factory(window_kind::blackman), 17);
  r.add("MelWeightMatrix", make_mel, 17);
}

}  // namespace mq::exec::ops
