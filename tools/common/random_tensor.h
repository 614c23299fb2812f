// Deterministic pseudo-random float32 initializers for the generated models (mq-make-sample's
// demo model, mq-gen-model's benchmark models): the same seed gives the same bytes everywhere.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace mq::tools {

/// Weights in [-scale, scale) from a 64-bit LCG (its top 24 bits).
struct lcg {
  std::uint64_t state = 42;
  float next(float scale) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto top = static_cast<float>(state >> 40) / static_cast<float>(1ULL << 24);
    return (2.0f * top - 1.0f) * scale;
  }
};

/// Adds a float32 initializer `name` of shape `dims` with values from `rng` (little-endian raw_data).
inline void add_random_tensor(onnx::GraphProto& g, const std::string& name, const std::vector<std::int64_t>& dims,
                              lcg& rng, float scale) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  std::size_t n = 1;
  for (auto d : dims) {
    t->add_dims(d);
    n *= static_cast<std::size_t>(d);
  }
  std::string raw(n * sizeof(float), '\0');
  for (std::size_t i = 0; i < n; ++i) {
    const float v = rng.next(scale);
    std::memcpy(raw.data() + i * sizeof(float), &v, sizeof(float));
  }
  t->set_raw_data(std::move(raw));
}

}  // namespace mq::tools
