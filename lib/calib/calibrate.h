// Runs a float model over calibration samples and measures the ranges of chosen tensors.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "calib/stats.h"
#include "mq/calibration.h"
#include "mq/model.h"
#include "mq/result.h"

namespace mq::calib {

/// Where calibration is, for progress lines: pass (1 or 2) of `passes`, samples done of `total`.
struct progress {
  int pass = 1;
  int passes = 1;
  std::size_t done = 0;
  std::size_t total = 0;
  double seconds = 0;
};

struct collect_options {
  method how = method::minmax;
  double percentile = 99.999;
  unsigned threads = 0;
  std::function<void(const progress&)> on_progress;  // may be empty
};

/// Runs `m` (float, planned without fusion so every value is seen) over `data`'s samples at
/// `indices`, and returns the statistics of each float32 tensor named in `tensors` (graph inputs
/// and node outputs of the main graph). Errors name the sample file or the node.
[[nodiscard]] result<std::map<std::string, tensor_stats>> collect(const mq::model& m, const calibration_data& data,
                                                                  const std::vector<std::size_t>& indices,
                                                                  const std::set<std::string>& tensors,
                                                                  const collect_options& options);

}  // namespace mq::calib
