// Model verification before saving: our own structural checks (always), plus ONNX's checker
// for the operator sets it knows.
#include <onnx/checker.h>
#include <onnx/defs/schema.h>

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "onnx_io/model_impl.h"

namespace mq::onnx_io {
namespace {

using scope = std::vector<const std::unordered_set<std::string>*>;

bool defined(const scope& scopes, const std::string& name) {
  for (const auto* s : scopes) {
    if (s->count(name) != 0) return true;
  }
  return false;
}

// Elements held in the typed field that ONNX uses for this dtype, or -1 when not applicable.
std::int64_t typed_field_elements(const onnx::TensorProto& t) {
  using tp = onnx::TensorProto;
  switch (t.data_type()) {
    case tp::FLOAT: return t.float_data_size();
    case tp::COMPLEX64: return t.float_data_size() / 2;
    case tp::DOUBLE: return t.double_data_size();
    case tp::COMPLEX128: return t.double_data_size() / 2;
    case tp::INT64: return t.int64_data_size();
    case tp::UINT32:
    case tp::UINT64: return t.uint64_data_size();
    case tp::STRING: return t.string_data_size();
    case tp::INT32:
    case tp::INT8:
    case tp::UINT8:
    case tp::INT16:
    case tp::UINT16:
    case tp::BOOL:
    case tp::FLOAT16:
    case tp::BFLOAT16: return t.int32_data_size();
    default: return -1;
  }
}

result<void> verify_initializer(const onnx::TensorProto& t, const std::string& label) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL) return {};  // checked when resolved
  const std::uint64_t expected = expected_bytes(t);
  const std::string what = label + ": initializer '" + t.name() + "' holds ";
  if (t.has_raw_data()) {
    if (expected != 0 && t.raw_data().size() != expected) {
      return fail(errc::invalid_model, what + std::to_string(t.raw_data().size()) + " bytes, its shape needs " +
                                           std::to_string(expected));
    }
    return {};
  }
  // The loader rejects impossible shapes, but passes may have built this tensor since.
  const auto count = checked_element_count(t);
  if (!count) return fail(errc::invalid_model, label + ": " + impossible_shape(t));
  const std::int64_t elements = *count;
  const std::int64_t stored = typed_field_elements(t);
  if (stored >= 0 && stored != elements) {
    return fail(errc::invalid_model, what + std::to_string(stored) + " elements, its shape needs " +
                                         std::to_string(elements));
  }
  return {};
}

std::string node_label(const onnx::NodeProto& node) {
  return "node '" + node.name() + "' (" + node.op_type() + ")";
}

// Every value is defined once (SSA) and before it is used, in this graph or an enclosing one;
// subgraphs are checked with the values visible at their node.
result<void> verify_graph(const onnx::GraphProto& graph, scope& outer, const std::string& label) {
  std::unordered_set<std::string> names;
  auto define = [&](const std::string& name, const char* what) -> result<void> {
    if (name.empty()) return {};
    if (!names.insert(name).second && std::string_view(what) != "initializer") {
      return fail(errc::invalid_model, label + ": value '" + name + "' is defined twice (" + what + ")");
    }
    return {};
  };
  for (const auto& in : graph.input()) {
    if (auto ok = define(in.name(), "graph input"); !ok) return ok;
  }
  for (const auto& t : graph.initializer()) {
    if (auto ok = verify_initializer(t, label); !ok) return ok;
    if (auto ok = define(t.name(), "initializer"); !ok) return ok;
  }
  outer.push_back(&names);
  for (const auto& node : graph.node()) {
    for (const auto& in : node.input()) {
      if (!in.empty() && !defined(outer, in)) {
        outer.pop_back();
        return fail(errc::invalid_model, label + ": " + node_label(node) + " reads '" + in +
                                             "', which is not defined before it");
      }
    }
    for (const auto& attr : node.attribute()) {
      std::vector<const onnx::GraphProto*> subs;
      if (attr.has_g()) subs.push_back(&attr.g());
      for (const auto& g : attr.graphs()) subs.push_back(&g);
      for (const auto* g : subs) {
        if (auto ok = verify_graph(*g, outer, label); !ok) {
          outer.pop_back();
          return ok;
        }
      }
    }
    for (const auto& out : node.output()) {
      if (auto ok = define(out, ("output of " + node_label(node)).c_str()); !ok) {
        outer.pop_back();
        return ok;
      }
    }
  }
  for (const auto& out : graph.output()) {
    if (!defined(outer, out.name())) {
      outer.pop_back();
      return fail(errc::invalid_model, label + ": graph output '" + out.name() + "' is never produced");
    }
  }
  outer.pop_back();
  return {};
}

// ONNX 1.12's checker knows default-domain opsets up to 17; for newer models its schema lookups
// would use older operator versions and reject valid attributes (Split's num_outputs in 18).
bool checker_knows_opsets(const onnx::ModelProto& model) {
  const auto& ranges = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  for (const auto& imp : model.opset_import()) {
    const std::string domain = imp.domain() == "ai.onnx" ? "" : imp.domain();
    auto it = ranges.find(domain);
    if (it != ranges.end() && imp.version() > it->second.second) return false;
  }
  return true;
}

result<void> run_onnx_checker(const model::impl& m) {
  const auto& model = m.proto;
  try {
    onnx::checker::CheckerContext ctx;
    ctx.set_ir_version(static_cast<int>(model.ir_version()));
    std::unordered_map<std::string, int> opsets;
    for (const auto& imp : model.opset_import()) opsets[imp.domain()] = static_cast<int>(imp.version());
    ctx.set_opset_imports(opsets);
    ctx.set_schema_registry(onnx::OpSchemaRegistry::Instance());
    if (!m.base_dir.empty()) ctx.set_model_dir(m.base_dir.string());
    onnx::checker::LexicalScopeContext lex;
    onnx::checker::check_graph(model.graph(), ctx, lex);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    // ONNX's messages can carry a multi-line context dump; keep the first line.
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    return fail(errc::invalid_model, m.label + ": onnx checker: " + msg);
  }
  return {};
}

}  // namespace

bool onnx_checker_applies(const onnx::ModelProto& model) { return checker_knows_opsets(model); }

result<void> check_proto(const model::impl& m) {
  if (m.proto.opset_import_size() == 0) {
    return fail(errc::invalid_model, m.label + ": model imports no operator set");
  }
  scope scopes;
  if (auto ok = verify_graph(m.proto.graph(), scopes, m.label); !ok) return ok;
  if (!checker_knows_opsets(m.proto)) return {};
  return run_onnx_checker(m);
}

}  // namespace mq::onnx_io

namespace mq {

void preload_operator_schemas() {
  // The first lookup registers every schema (once per process, under ONNX's own once-flag).
  (void)onnx::OpSchemaRegistry::Schema("Add", 14, "");
}

}  // namespace mq
