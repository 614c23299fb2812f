// Deterministic test inputs for a session (mq::generate_inputs).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "exec/tensor.h"
#include "mq/session.h"
#include "tensor/half.h"

namespace mq {
namespace {

std::uint32_t fnv1a32(const std::string& s) {
  std::uint32_t h = 0x811c9dc5u;
  for (const char ch : s) {
    h ^= static_cast<unsigned char>(ch);
    h *= 0x01000193u;
  }
  return h;
}

// mulberry32, one u32 per call.
struct mulberry32 {
  std::uint32_t a;
  std::uint32_t next() {
    a += 0x6d2b79f5u;
    std::uint32_t t = a;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return t ^ (t >> 14);
  }
};

bool contains_state(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("state") != std::string::npos;
}

template <class T>
void fill_ints(tensor& t, mulberry32& rng, std::int64_t low, std::int64_t high) {
  auto* p = reinterpret_cast<T*>(t.data.data());
  const auto n = static_cast<std::size_t>(t.element_count());
  const double span = static_cast<double>(high - low);
  for (std::size_t i = 0; i < n; ++i) {
    p[i] = static_cast<T>(low + static_cast<std::int64_t>(std::floor(static_cast<double>(rng.next()) / 4294967296.0 * span)));
  }
}

}  // namespace

result<std::map<std::string, tensor>> generate_inputs(const session& s, const input_options& options) {
  std::map<std::string, tensor> out;
  for (const value_info& v : s.inputs()) {
    tensor t;
    t.type = v.element_type;
    for (std::size_t i = 0; i < v.shape.size(); ++i) {
      std::int64_t d = v.shape[i];
      if (d < 0) {
        auto it = v.dim_names[i].empty() ? options.dims.end() : options.dims.find(v.dim_names[i]);
        d = it != options.dims.end() ? it->second : (i == 0 ? 1 : v.shape.size() == 4 ? 320 : 512);
      }
      t.shape.push_back(d);
    }
    const std::size_t size = exec::exec_element_size(v.element_type);
    if (size == 0) {
      return fail(errc::unsupported, "input '" + v.name + "' has type " + to_string(v.element_type) + ", which cannot be generated");
    }
    t.data.resize(static_cast<std::size_t>(t.element_count()) * size);
    mulberry32 rng{fnv1a32(v.name) ^ (options.seed * 0x9e3779b9u)};
    const auto n = static_cast<std::size_t>(t.element_count());
    const bool zeros = exec::is_float_type(v.element_type) && contains_state(v.name);
    switch (v.element_type) {
      case dtype::float32:
      case dtype::float16:
      case dtype::float64:
      case dtype::bfloat16:
        for (std::size_t i = 0; i < n; ++i) {
          const float x = zeros ? 0.0f : static_cast<float>(-1.0 + static_cast<double>(rng.next()) / 4294967296.0 * 2.0);
          auto* p = t.data.data();
          if (v.element_type == dtype::float32) std::memcpy(p + i * 4, &x, 4);
          else if (v.element_type == dtype::float64) {
            const double d = x;
            std::memcpy(p + i * 8, &d, 8);
          } else {
            const std::uint16_t h = v.element_type == dtype::float16 ? half::float_to_half(x) : half::float_to_bfloat16(x);
            std::memcpy(p + i * 2, &h, 2);
          }
        }
        break;
      case dtype::boolean: fill_ints<std::uint8_t>(t, rng, 0, 2); break;
      case dtype::int8: fill_ints<std::int8_t>(t, rng, 0, 128); break;
      case dtype::uint8: fill_ints<std::uint8_t>(t, rng, 0, 256); break;
      case dtype::int16: fill_ints<std::int16_t>(t, rng, 0, 256); break;
      case dtype::uint16: fill_ints<std::uint16_t>(t, rng, 0, 256); break;
      case dtype::int32: fill_ints<std::int32_t>(t, rng, 0, 256); break;
      case dtype::uint32: fill_ints<std::uint32_t>(t, rng, 0, 256); break;
      case dtype::int64: fill_ints<std::int64_t>(t, rng, 0, 256); break;
      case dtype::uint64: fill_ints<std::uint64_t>(t, rng, 0, 256); break;
      default:
        return fail(errc::unsupported, "input '" + v.name + "' has type " + to_string(v.element_type) + ", which cannot be generated");
    }
    out[v.name] = std::move(t);
  }
  return out;
}

}  // namespace mq
