// Activation statistics for static INT8: per tensor, streamed over the calibration samples (no
// tensor is kept), then reduced to the range [lo, hi] its quantization parameters come from.
//
// minmax needs one pass. The histogram methods need two: the first finds each tensor's min and
// max, the second fills a fixed histogram over that range (2048 bins), from which percentile,
// entropy (KL divergence, as TensorRT and ONNX Runtime's entropy calibrator) or mse pick a
// narrower range. Memory is a few KiB per tensor whatever the number of samples.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mq::calib {

enum class method { minmax, percentile, entropy, mse };

/// "minmax", ...
const char* method_name(method m) noexcept;

struct range {
  float lo = 0;
  float hi = 0;
};

class tensor_stats {
 public:
  static constexpr std::size_t bins = 2048;

  /// Pass 1: min, max (finite values only; a NaN or inf is counted, never widens the range).
  void observe_minmax(std::span<const float> values) noexcept;
  /// Starts pass 2 over the range pass 1 found: a histogram of the values over [min, max], or of
  /// their magnitudes over [0, max |x|] for entropy (TensorRT's method is defined on |x|).
  void begin_histogram(method m);
  /// Pass 2.
  void observe_histogram(std::span<const float> values) noexcept;

  bool seen() const noexcept { return count_ > 0; }
  float min() const noexcept { return min_; }
  float max() const noexcept { return max_; }
  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t nonfinite() const noexcept { return nonfinite_; }

  /// The range the method gives (minmax: [min, max]); always contains 0 (quantization needs zero
  /// exactly representable). `percentile` is the share kept, in percent (99.999 = ONNX Runtime's
  /// default). `levels` is the number of quantization levels (256 for 8 bits).
  range pick(method m, double percentile = 99.999, int levels = 256) const;

  /// The histogram (pass 2), for tests.
  const std::vector<std::uint64_t>& histogram() const noexcept { return hist_; }

 private:
  range percentile_range(double percentile) const;
  range entropy_range(int levels) const;
  range mse_range(int levels) const;
  double bin_center(std::size_t i) const noexcept;

  float min_ = 0;
  float max_ = 0;
  std::uint64_t count_ = 0;
  std::uint64_t nonfinite_ = 0;
  // Pass 2: histogram over [h_lo_, h_hi_].
  float h_lo_ = 0;
  float h_hi_ = 0;
  bool magnitudes_ = false;
  std::vector<std::uint64_t> hist_;
};

}  // namespace mq::calib
