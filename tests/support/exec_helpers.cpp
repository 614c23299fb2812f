#include "support/exec_helpers.h"

#include <catch2/catch.hpp>

#include <cstring>

#include "support/test_models.h"

namespace mq::test {

mq::tensor floats(std::vector<std::int64_t> shape, const std::vector<float>& values) {
  return mq::tensor::from<float>(std::move(shape), values);
}

mq::tensor int64s(std::vector<std::int64_t> shape, const std::vector<std::int64_t>& values) {
  return mq::tensor::from<std::int64_t>(std::move(shape), values);
}

std::vector<float> values_of(const mq::tensor& t) {
  REQUIRE(t.type == mq::dtype::float32);
  std::vector<float> v(t.data.size() / sizeof(float));
  if (!v.empty()) std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

mq::result<std::map<std::string, mq::tensor>> run_text(std::string_view onnx_text,
                                                       const std::map<std::string, mq::tensor>& inputs,
                                                       const mq::session_options& options) {
  mq::model m = to_model(parse_text_model(onnx_text));
  auto s = mq::session::create(m, options);
  if (!s) return mq::unexpected_error{std::move(s).error()};
  return s->run(inputs);
}

}  // namespace mq::test
