#include "e2e/parity_synthetic_model.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace mq::test {
namespace {

using onnx::TensorProto;

struct lcg {
  std::uint64_t state = 20240604;
  std::uint32_t next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 32);
  }
  double unit() { return static_cast<double>(next()) / 4294967296.0; }            // [0, 1)
  std::int32_t integer(std::int32_t lo, std::int32_t hi) {                          // [lo, hi]
    return lo + static_cast<std::int32_t>(next() % static_cast<std::uint32_t>(hi - lo + 1));
  }
};

// float32 -> binary16 for values that are exactly representable as normal halves (checked).
std::uint16_t exact_half(float v) {
  const auto bits = std::bit_cast<std::uint32_t>(v);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  if ((bits & 0x7fffffffu) == 0) return static_cast<std::uint16_t>(sign);
  const int exponent = static_cast<int>((bits >> 23) & 0xffu) - 127 + 15;
  const std::uint32_t mantissa = bits & 0x7fffffu;
  if (exponent <= 0 || exponent >= 31 || (mantissa & 0x1fffu) != 0) throw std::logic_error("not an exact half");
  return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(exponent) << 10 | mantissa >> 13);
}

std::uint16_t exact_bfloat16(float v) {
  const auto bits = std::bit_cast<std::uint32_t>(v);
  if ((bits & 0xffffu) != 0) throw std::logic_error("not an exact bfloat16");
  return static_cast<std::uint16_t>(bits >> 16);
}

// Multiples of 1/denominator in [-127, 127] with the first element 127: per tensor symmetric int8
// gets scale (127 - -127) / 254 = 1 exactly, so every value with a .5 fraction is a tie.
std::vector<float> tie_values(std::size_t n, int denominator, lcg& rng) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.integer(-127 * denominator, 127 * denominator)) / static_cast<float>(denominator);
  v[0] = 127.0f;
  return v;
}

std::vector<float> random_values(std::size_t n, lcg& rng) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(2.0 * rng.unit() - 1.0);
  return v;
}

TensorProto tensor(const std::string& name, int type, const std::vector<std::int64_t>& dims) {
  TensorProto t;
  t.set_name(name);
  t.set_data_type(type);
  for (auto d : dims) t.add_dims(d);
  return t;
}

TensorProto raw_float(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& v) {
  auto t = tensor(name, TensorProto::FLOAT, dims);
  std::string raw(v.size() * sizeof(float), '\0');
  std::memcpy(raw.data(), v.data(), raw.size());
  t.set_raw_data(raw);
  return t;
}

onnx::NodeProto& node(onnx::GraphProto& g, const std::string& op, std::vector<std::string> inputs, const std::string& output) {
  auto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(output + "_" + op);
  for (auto& i : inputs) n->add_input(i);
  n->add_output(output);
  return *n;
}

void int_attr(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void ints_attr(onnx::NodeProto& n, const std::string& name, const std::vector<std::int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}

void value_info(onnx::ValueInfoProto& vi, const std::string& name, int type, const std::vector<std::int64_t>& dims) {
  vi.set_name(name);
  auto* tt = vi.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type);
  auto* shape = tt->mutable_shape();
  for (auto d : dims) shape->add_dim()->set_dim_value(d);
}

onnx::AttributeProto constant_value(const TensorProto& t) {
  onnx::AttributeProto a;
  a.set_name("value");
  a.set_type(onnx::AttributeProto::TENSOR);
  *a.mutable_t() = t;
  return a;
}

}  // namespace

onnx::ModelProto synthetic_parity_model() {
  constexpr std::int64_t n = 16;
  const std::size_t nn = static_cast<std::size_t>(n * n);
  lcg rng;
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("mq-make-parity-model --synthetic");
  auto* imp = model.add_opset_import();
  imp->set_domain("");
  imp->set_version(13);
  auto& g = *model.mutable_graph();
  g.set_name("parity_synthetic");
  value_info(*g.add_input(), "x", TensorProto::FLOAT, {1, n});
  value_info(*g.add_input(), "c", TensorProto::BOOL, {});
  value_info(*g.add_output(), "out", TensorProto::FLOAT, {1, n});

  // float16, widened into int32_data (how ONNX's typed field stores halves), behind a Cast.
  {
    auto t = tensor("w_f16", TensorProto::FLOAT16, {n, n});
    for (float v : tie_values(nn, 8, rng)) t.add_int32_data(exact_half(v));
    *g.add_initializer() = t;
    int_attr(node(g, "Cast", {"w_f16"}, "w_f16_float"), "to", TensorProto::FLOAT);
    node(g, "MatMul", {"x", "w_f16_float"}, "y1");
  }
  // Square float32 weight (raw_data, a zero, a negative zero and a subnormal) read by a Gemm with
  // transB=1 and, later, by a MatMul: two stored layouts under qoperator that only the consumer tells apart.
  {
    auto v = random_values(nn, rng);
    v[1] = 0.0f;
    v[2] = -0.0f;
    v[3] = 1e-40f;
    *g.add_initializer() = raw_float("w_square", {n, n}, v);
    int_attr(node(g, "Gemm", {"y1", "w_square"}, "y2"), "transB", 1);
  }
  // float64 Constant node (double_data), behind a Cast: rounding to float32 must agree with ORT's Cast.
  {
    auto t = tensor("w_f64", TensorProto::DOUBLE, {n, n});
    for (std::size_t i = 0; i < nn; ++i) t.add_double_data(2.0 * rng.unit() - 1.0);
    auto& c = node(g, "Constant", {}, "w_f64");
    *c.add_attribute() = constant_value(t);
    int_attr(node(g, "Cast", {"w_f64"}, "w_f64_float"), "to", TensorProto::FLOAT);
    node(g, "MatMul", {"y2", "w_f64_float"}, "y3");
  }
  // bfloat16 raw_data behind a Cast.
  {
    auto t = tensor("w_bf16", TensorProto::BFLOAT16, {n, n});
    std::string raw;
    for (float v : tie_values(nn, 2, rng)) {
      const std::uint16_t b = exact_bfloat16(v);
      raw.push_back(static_cast<char>(b & 0xffu));
      raw.push_back(static_cast<char>(b >> 8));
    }
    t.set_raw_data(raw);
    *g.add_initializer() = t;
    int_attr(node(g, "Cast", {"w_bf16"}, "w_bf16_float"), "to", TensorProto::FLOAT);
    node(g, "MatMul", {"y3", "w_bf16_float"}, "y4");
  }
  // float32 in float_data (typed field), ties.
  {
    auto t = tensor("w_typed", TensorProto::FLOAT, {n, n});
    for (float v : tie_values(nn, 4, rng)) t.add_float_data(v);
    *g.add_initializer() = t;
    node(g, "MatMul", {"y4", "w_typed"}, "y5");
  }
  // Conv 3x3 on a 1x1 image (padding 1): per-channel scales of shape [M, 1, 1] for ConvInteger.
  {
    auto shape4 = tensor("shape4", TensorProto::INT64, {4});
    for (std::int64_t d : {std::int64_t{1}, n, std::int64_t{1}, std::int64_t{1}}) shape4.add_int64_data(d);
    *g.add_initializer() = shape4;
    auto shape2 = tensor("shape2", TensorProto::INT64, {2});
    for (std::int64_t d : {std::int64_t{1}, n}) shape2.add_int64_data(d);
    *g.add_initializer() = shape2;
    auto v = random_values(nn * 9, rng);
    for (std::size_t i = 0; i < 9 * static_cast<std::size_t>(n); ++i) v[i] *= 8.0f;  // channel 0 has a wider range
    *g.add_initializer() = raw_float("w_conv", {n, n, 3, 3}, v);
    node(g, "Reshape", {"y5", "shape4"}, "y5_image");
    auto& conv = node(g, "Conv", {"y5_image", "w_conv"}, "y6_image");
    ints_attr(conv, "kernel_shape", {3, 3});
    ints_attr(conv, "pads", {1, 1, 1, 1});
    node(g, "Reshape", {"y6_image", "shape2"}, "y6");
  }
  // If: the then branch reads an outer weight, the else branch has its own Constant weight.
  {
    *g.add_initializer() = raw_float("w_outer", {n, n}, random_values(nn, rng));
    auto& branch = node(g, "If", {"c"}, "z");
    auto* then_attr = branch.add_attribute();
    then_attr->set_name("then_branch");
    then_attr->set_type(onnx::AttributeProto::GRAPH);
    auto& then_g = *then_attr->mutable_g();
    then_g.set_name("then");
    node(then_g, "MatMul", {"y6", "w_outer"}, "z_then");
    value_info(*then_g.add_output(), "z_then", TensorProto::FLOAT, {1, n});
    auto* else_attr = branch.add_attribute();
    else_attr->set_name("else_branch");
    else_attr->set_type(onnx::AttributeProto::GRAPH);
    auto& else_g = *else_attr->mutable_g();
    else_g.set_name("else");
    auto& c = node(else_g, "Constant", {}, "w_inner");
    *c.add_attribute() = constant_value(raw_float("w_inner", {n, n}, random_values(nn, rng)));
    node(else_g, "MatMul", {"y6", "w_inner"}, "z_else");
    value_info(*else_g.add_output(), "z_else", TensorProto::FLOAT, {1, n});
  }
  // An embedding table read by Gather with run-time indices: ONNX Runtime's quantize_dynamic
  // quantizes it as an activation (uint8 asymmetric per tensor), gathered, then DequantizeLinear.
  {
    value_info(*g.add_input(), "ids", TensorProto::INT64, {1, 2});
    value_info(*g.add_output(), "emb", TensorProto::FLOAT, {1, 2, n});
    *g.add_initializer() = raw_float("w_table", {n, n}, random_values(nn, rng));
    int_attr(node(g, "Gather", {"w_table", "ids"}, "emb"), "axis", 0);
  }
  node(g, "MatMul", {"z", "w_square"}, "out");
  return model;
}

}  // namespace mq::test
