#include "calib/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace mq::calib {

const char* method_name(method m) noexcept {
  switch (m) {
    case method::minmax: return "minmax";
    case method::percentile: return "percentile";
    case method::entropy: return "entropy";
    case method::mse: return "mse";
  }
  return "minmax";
}

void tensor_stats::observe_minmax(std::span<const float> values) noexcept {
  float lo = count_ ? min_ : std::numeric_limits<float>::infinity();
  float hi = count_ ? max_ : -std::numeric_limits<float>::infinity();
  std::uint64_t bad = 0;
  for (float v : values) {
    if (!std::isfinite(v)) {
      ++bad;
      continue;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const std::uint64_t good = values.size() - bad;
  nonfinite_ += bad;
  if (good == 0) return;
  count_ += good;
  min_ = lo;
  max_ = hi;
}

void tensor_stats::begin_histogram(method m) {
  magnitudes_ = m == method::entropy;
  if (magnitudes_) {
    h_lo_ = 0;
    h_hi_ = std::max(std::fabs(min_), std::fabs(max_));
  } else {
    h_lo_ = std::min(min_, 0.0f);
    h_hi_ = std::max(max_, 0.0f);
  }
  hist_.assign(bins, 0);
}

void tensor_stats::observe_histogram(std::span<const float> values) noexcept {
  if (hist_.empty()) return;
  const double width = static_cast<double>(h_hi_) - static_cast<double>(h_lo_);
  if (!(width > 0)) {
    for (float v : values) {
      if (std::isfinite(v)) ++hist_[0];
    }
    return;
  }
  const double inv = static_cast<double>(bins) / width;
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    const double x = magnitudes_ ? std::fabs(static_cast<double>(v)) : static_cast<double>(v);
    auto b = static_cast<std::int64_t>((x - static_cast<double>(h_lo_)) * inv);
    b = std::clamp<std::int64_t>(b, 0, static_cast<std::int64_t>(bins) - 1);
    ++hist_[static_cast<std::size_t>(b)];
  }
}

double tensor_stats::bin_center(std::size_t i) const noexcept {
  const double width = (static_cast<double>(h_hi_) - static_cast<double>(h_lo_)) / static_cast<double>(bins);
  return static_cast<double>(h_lo_) + (static_cast<double>(i) + 0.5) * width;
}

range tensor_stats::pick(method m, double percentile, int levels) const {
  range r{std::min(min_, 0.0f), std::max(max_, 0.0f)};
  if (!seen()) return {0, 0};
  if (m == method::minmax || hist_.empty()) return r;
  range picked = r;
  switch (m) {
    case method::percentile: picked = percentile_range(percentile); break;
    case method::entropy: picked = entropy_range(levels); break;
    case method::mse: picked = mse_range(levels); break;
    case method::minmax: break;
  }
  // Never wider than what was seen; always holding 0.
  picked.lo = std::clamp(picked.lo, r.lo, 0.0f);
  picked.hi = std::clamp(picked.hi, 0.0f, r.hi);
  return picked;
}

range tensor_stats::percentile_range(double percentile) const {
  const std::uint64_t total = std::accumulate(hist_.begin(), hist_.end(), std::uint64_t{0});
  if (total == 0) return {min_, max_};
  // Two-sided: (100 - p) / 2 percent cut from each tail.
  const double tail = std::max(0.0, (100.0 - percentile) / 200.0) * static_cast<double>(total);
  const double width = (static_cast<double>(h_hi_) - static_cast<double>(h_lo_)) / static_cast<double>(bins);
  double acc = 0;
  std::size_t lo_bin = 0;
  for (; lo_bin < bins; ++lo_bin) {
    acc += static_cast<double>(hist_[lo_bin]);
    if (acc > tail) break;
  }
  acc = 0;
  std::size_t hi_bin = bins - 1;
  for (;; --hi_bin) {
    acc += static_cast<double>(hist_[hi_bin]);
    if (acc > tail || hi_bin == 0) break;
  }
  const double lo = static_cast<double>(h_lo_) + static_cast<double>(lo_bin) * width;
  const double hi = static_cast<double>(h_lo_) + static_cast<double>(hi_bin + 1) * width;
  return {lo_bin == 0 ? h_lo_ : static_cast<float>(lo), hi_bin == bins - 1 ? h_hi_ : static_cast<float>(hi)};
}

// TensorRT's entropy calibration on the |x| histogram: for each candidate threshold (a prefix of
// the bins, outliers folded into its last bin), quantize the distribution to `levels / 2` bins,
// expand it back, and keep the threshold with the smallest KL divergence.
range tensor_stats::entropy_range(int levels) const {
  const std::size_t target = static_cast<std::size_t>(std::max(2, levels / 2));
  const double width = (static_cast<double>(h_hi_) - static_cast<double>(h_lo_)) / static_cast<double>(bins);
  double best_kl = std::numeric_limits<double>::infinity();
  std::size_t best = bins;
  std::vector<double> p, q;
  for (std::size_t i = target; i <= bins; i += 8) {
    p.assign(hist_.begin(), hist_.begin() + static_cast<std::ptrdiff_t>(i));
    double outliers = 0;
    for (std::size_t k = i; k < bins; ++k) outliers += static_cast<double>(hist_[k]);
    p.back() += outliers;
    const double total = std::accumulate(p.begin(), p.end(), 0.0);
    if (total <= 0) continue;
    // Merge i bins into `target` bins, then spread each merged count over its non-empty bins.
    q.assign(i, 0);
    const double per = static_cast<double>(i) / static_cast<double>(target);
    for (std::size_t j = 0; j < target; ++j) {
      const auto start = static_cast<std::size_t>(std::floor(static_cast<double>(j) * per));
      const auto end = std::min(i, static_cast<std::size_t>(std::floor(static_cast<double>(j + 1) * per)));
      double sum = 0;
      std::size_t nonzero = 0;
      for (std::size_t k = start; k < end; ++k) {
        sum += static_cast<double>(hist_[k]);
        if (hist_[k] != 0) ++nonzero;
      }
      for (std::size_t k = start; k < end; ++k) {
        if (hist_[k] != 0) q[k] = sum / static_cast<double>(nonzero);
      }
    }
    const double qtotal = std::accumulate(q.begin(), q.end(), 0.0);
    if (qtotal <= 0) continue;
    double kl = 0;
    for (std::size_t k = 0; k < i; ++k) {
      if (p[k] <= 0) continue;
      const double pk = p[k] / total;
      const double qk = q[k] > 0 ? q[k] / qtotal : 1e-12;
      kl += pk * std::log(pk / qk);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best = i;
    }
  }
  const auto t = static_cast<float>(static_cast<double>(best) * width);
  return {std::max(min_, -t), std::min(max_, t)};
}

// The clip range that minimizes the expected squared error of 8-bit quantization over the
// histogram: values inside are rounded (error step^2 / 12), values outside are clipped.
range tensor_stats::mse_range(int levels) const {
  const double full_lo = static_cast<double>(h_lo_);
  const double full_hi = static_cast<double>(h_hi_);
  double best_err = std::numeric_limits<double>::infinity();
  range best{h_lo_, h_hi_};
  for (int step = 100; step >= 5; --step) {
    const double f = step / 100.0;
    const double lo = full_lo * f;
    const double hi = full_hi * f;
    const double delta = (hi - lo) / static_cast<double>(levels - 1);
    if (!(delta > 0)) continue;
    double err = 0;
    for (std::size_t i = 0; i < bins; ++i) {
      if (hist_[i] == 0) continue;
      const double x = bin_center(i);
      double e = 0;
      if (x < lo) e = (lo - x) * (lo - x);
      else if (x > hi) e = (x - hi) * (x - hi);
      else e = delta * delta / 12.0;
      err += e * static_cast<double>(hist_[i]);
    }
    if (err < best_err) {
      best_err = err;
      best = {static_cast<float>(lo), static_cast<float>(hi)};
    }
  }
  return best;
}

}  // namespace mq::calib
