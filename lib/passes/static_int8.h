// Static INT8: calibrated activations written as QDQ where ONNX Runtime's CPU provider fuses it
// (quantize_options::calibration). static_int8.cpp plans and writes the graph; accuracy_guard.cpp
// measures candidates on the executor.
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "calib/stats.h"
#include "mq/quantize.h"
#include "onnx_io/model_impl.h"
#include "passes/graph_context.h"

namespace mq::passes {

/// The whole static pipeline on ctx's model (main graph): opset 13, BatchNormalization folded into
/// the Conv before it, calibration, placement, the accuracy guard, the QDQ graph.
[[nodiscard]] result<void> quantize_static(graph_context& ctx);

/// A model in memory around a proto (copies the source model's folder and mappings so that
/// external or in-place weights still resolve), for the executor.
mq::model model_around(const mq::model::impl& source, onnx::ModelProto proto);

/// The worst SNR (dB) over the float outputs, and the SNR of each compared value, of `candidate`
/// against `reference` on `inputs`. Outputs that come from a TopK (data-dependent order) are
/// compared through the TopK's values output instead (sorted, so ties do not reorder it).
struct snr_result {
  double worst_db = 0;
  std::map<std::string, double> per_value;  // compared value -> dB
};
[[nodiscard]] result<snr_result> measure_snr(const mq::model& reference, const mq::model& candidate,
                                             const std::vector<std::map<std::string, tensor>>& inputs, unsigned threads);

/// The values measure_snr compares for a graph: each float output, or for outputs downstream of
/// a TopK, that TopK's values.
std::vector<std::string> compared_values(const onnx::GraphProto& g);

/// Whether some output of `g` is a data-dependent selection: downstream of a TopK (a DETR's
/// re-ranked detections).
bool ranks_outputs(const onnx::GraphProto& g);

/// Why a static INT8 result (`report`, with `options`, of the FP32 graph `original`) is given
/// up for `auto` without calibration ("" when it is kept): under
/// calibration_options::min_int8_mac_share of the multiply-adds left in int8 (the conversions
/// would cost what int8 saves), or a guard that ends under the target on a model that ranks its
/// outputs (a small error there selects other results).
std::string static_fallback_reason(const quantize_report& report, const quantize_options& options,
                                   const onnx::GraphProto& original);

}  // namespace mq::passes
