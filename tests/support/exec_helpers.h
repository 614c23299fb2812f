// Running small models on the executor in unit tests: ONNX text in, named tensors out.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "mq/model.h"
#include "mq/result.h"
#include "mq/session.h"

namespace mq::test {

/// A float32 tensor.
mq::tensor floats(std::vector<std::int64_t> shape, const std::vector<float>& values);
/// An int64 tensor.
mq::tensor int64s(std::vector<std::int64_t> shape, const std::vector<std::int64_t>& values);

/// The elements of a float32 tensor (fails the test for another type).
std::vector<float> values_of(const mq::tensor& t);

/// Parses the ONNX text into a model, plans it (options) and runs it on `inputs`.
mq::result<std::map<std::string, mq::tensor>> run_text(std::string_view onnx_text,
                                                       const std::map<std::string, mq::tensor>& inputs,
                                                       const mq::session_options& options = {});

}  // namespace mq::test
