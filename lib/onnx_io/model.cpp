// mq::model accessors.
#include "onnx_io/model_impl.h"
#include "onnx_io/walk.h"

namespace mq {

result<void> model::check() const {
  std::lock_guard lock(impl_->const_access);
  return onnx_io::check_proto(*impl_);
}

const std::filesystem::path& model::source_path() const noexcept { return impl_->source; }

std::int64_t model::ir_version() const noexcept {
  std::lock_guard lock(impl_->const_access);
  return impl_->proto.ir_version();
}

std::vector<opset_import> model::opsets() const {
  std::lock_guard lock(impl_->const_access);
  std::vector<opset_import> out;
  for (const auto& imp : impl_->proto.opset_import()) out.push_back({imp.domain(), imp.version()});
  return out;
}

std::string model::producer_name() const {
  std::lock_guard lock(impl_->const_access);
  return impl_->proto.producer_name();
}

std::size_t model::node_count() const noexcept {
  std::lock_guard lock(impl_->const_access);
  std::size_t n = 0;
  onnx_io::for_each_graph(*impl_->proto.mutable_graph(),
                          [&](onnx::GraphProto& g, int) { n += static_cast<std::size_t>(g.node_size()); });
  return n;
}

std::vector<std::string> model::initializer_names() const {
  std::lock_guard lock(impl_->const_access);
  std::vector<std::string> names;
  for (const auto& t : impl_->proto.graph().initializer()) names.push_back(t.name());
  return names;
}

result<tensor_view> model::initializer(std::string_view name) const {
  std::lock_guard lock(impl_->const_access);
  for (const auto& t : impl_->proto.graph().initializer()) {
    if (t.name() == name) return onnx_io::view_of(t, *impl_);
  }
  return fail(errc::not_found, impl_->label + ": no initializer named '" + std::string(name) + "'");
}

std::string model::metadata(std::string_view key) const {
  std::lock_guard lock(impl_->const_access);
  for (const auto& p : impl_->proto.metadata_props()) {
    if (p.key() == key) return p.value();
  }
  return {};
}

void model::set_metadata(std::string_view key, std::string_view value) {
  for (auto& p : *impl_->proto.mutable_metadata_props()) {
    if (p.key() == key) {
      p.set_value(std::string(value));
      return;
    }
  }
  auto* p = impl_->proto.add_metadata_props();
  p->set_key(std::string(key));
  p->set_value(std::string(value));
}

}  // namespace mq
