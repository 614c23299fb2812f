// Saving: atomic writes, optional external data, and the guard that the in-memory model is
// restored exactly after tensors were moved out for serialization.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <unistd.h>

#include <climits>
#include <list>
#include <optional>
#include <vector>

#include "onnx_io/model_impl.h"
#include "onnx_io/walk.h"
#include "onnx_io/wire.h"
#include "util/try.h"

namespace mq {
namespace {

// Protobuf refuses messages of 2 GiB or more; keep a margin for the fields around the tensors.
constexpr std::uint64_t inline_limit = 2'000'000'000ULL;
// Offsets in the data file are aligned so runtimes can map tensors directly.
constexpr std::size_t data_alignment = 64;

// Moves a tensor's data out of the proto for the duration of one save, then puts it back
// bit for bit (Swap is O(1) and keeps unknown fields).
class tensor_stash {
 public:
  ~tensor_stash() { restore(); }
  // Takes `t`'s content, leaving name/type/dims/doc behind; returns the detached original.
  const onnx::TensorProto& detach(onnx::TensorProto& t) {
    auto& saved = saved_.emplace_back(&t, onnx::TensorProto{}).second;
    saved.Swap(&t);
    t.set_name(saved.name());
    t.set_data_type(saved.data_type());
    *t.mutable_dims() = saved.dims();
    if (saved.has_doc_string()) t.set_doc_string(saved.doc_string());
    return saved;
  }
  void restore() noexcept {
    for (auto& [tensor, saved] : saved_) tensor->Swap(&saved);
    saved_.clear();
  }

 private:
  std::vector<std::pair<onnx::TensorProto*, onnx::TensorProto>> saved_;
};

// The little-endian bytes of a tensor that is inline in the proto. Types ONNX widens into
// int32_data are narrowed into `scratch`.
result<std::span<const std::byte>> inline_bytes(const onnx::TensorProto& t, const model::impl& m,
                                                std::vector<std::byte>& scratch) {
  auto view = MQ_TRY(onnx_io::view_of(t, m));
  if (view.kind() != tensor_view::storage::widened_int32) {
    if (static_cast<dtype>(t.data_type()) == dtype::uint32 && !t.has_raw_data()) {
      // uint32 lives widened in uint64_data; narrow it.
      scratch.resize(static_cast<std::size_t>(t.uint64_data_size()) * 4);
      for (int i = 0; i < t.uint64_data_size(); ++i) {
        const auto v = static_cast<std::uint32_t>(t.uint64_data(i));
        std::memcpy(scratch.data() + static_cast<std::size_t>(i) * 4, &v, 4);
      }
      return std::span<const std::byte>(scratch);
    }
    return view.bytes();
  }
  const std::size_t size = element_size(view.type());
  scratch.resize(static_cast<std::size_t>(t.int32_data_size()) * size);
  for (int i = 0; i < t.int32_data_size(); ++i) {
    const auto v = static_cast<std::uint32_t>(t.int32_data(i));
    std::memcpy(scratch.data() + static_cast<std::size_t>(i) * size, &v, size);  // little-endian low bytes
  }
  return std::span<const std::byte>(scratch);
}

// A tensor whose bytes can be moved to a data file (strings cannot).
bool movable(const onnx::TensorProto& t) {
  return t.data_type() != onnx::TensorProto::STRING && t.data_type() != onnx::TensorProto::UNDEFINED;
}

result<void> refuse_overwriting_input(const model::impl& m, const std::filesystem::path& path,
                                      const std::filesystem::path& data_path) {
  const bool over_source = !m.source.empty() && util::same_file(path, m.source);
  bool over_data = false;
  for (const auto& [file, mapping] : m.external_files) {
    over_data = over_data || util::same_file(path, file) || util::same_file(data_path, file);
  }
  if (over_source || over_data) {
    return fail(errc::invalid_argument, "refusing to write " + util::quote(path) + ": it is the input model " +
                                            (over_source ? "file" : "'s external data") +
                                            "; choose another output path");
  }
  return {};
}

result<void> serialize_to(const onnx::ModelProto& proto, util::atomic_file& out) {
  const std::size_t size = proto.ByteSizeLong();
  if (size > static_cast<std::size_t>(INT_MAX)) {
    return fail(errc::invalid_argument, "cannot write " + util::quote(out.target()) + ": model is " +
                                            std::to_string(size) +
                                            " bytes, over protobuf's 2 GiB limit; save with external data");
  }
  google::protobuf::io::FileOutputStream stream(out.fd());
  bool ok = true;
  {
    google::protobuf::io::CodedOutputStream coded(&stream);
    proto.SerializeWithCachedSizes(&coded);
    ok = !coded.HadError();
  }
  ok = stream.Flush() && ok;
  if (!ok) {
    return fail(errc::io, "cannot write " + util::quote(out.target()) + ": " + util::os_error(stream.GetErrno()));
  }
  return {};
}

// Replaces every EXTERNAL tensor by an inline copy of its bytes (for `never` and `serialize`).
result<void> inline_external(model::impl& m, tensor_stash& stash) {
  result<void> status;
  onnx_io::for_each_tensor(*m.proto.mutable_graph(), [&](onnx::TensorProto& t, onnx_io::tensor_site) {
    if (!status || t.data_location() != onnx::TensorProto::EXTERNAL) return;
    auto ref = onnx_io::resolve_external(t, m);
    if (!ref) {
      status = unexpected_error{std::move(ref).error()};
      return;
    }
    // Keep every other field (segment, doc, unknown fields) exactly as it was.
    t.CopyFrom(stash.detach(t));
    t.clear_external_data();
    t.clear_data_location();
    const auto* p = reinterpret_cast<const char*>(ref->file->bytes().data() + ref->offset);
    t.set_raw_data(p, static_cast<std::size_t>(ref->length));
  });
  return status;
}

// Moves data of existing external tensors and of large initializers into `data`, pointing the
// tensors at `location`. `threshold` applies to inline initializers only.
result<void> externalize(model::impl& m, tensor_stash& stash, util::atomic_file& data,
                         const std::string& location, std::size_t threshold) {
  result<void> status;
  std::vector<std::byte> scratch;
  onnx_io::for_each_tensor(*m.proto.mutable_graph(), [&](onnx::TensorProto& t, onnx_io::tensor_site site) {
    if (!status || !movable(t)) return;
    const bool external = t.data_location() == onnx::TensorProto::EXTERNAL;
    std::span<const std::byte> bytes;
    if (external) {
      auto ref = onnx_io::resolve_external(t, m);
      if (!ref) {
        status = unexpected_error{std::move(ref).error()};
        return;
      }
      bytes = ref->file->bytes().subspan(static_cast<std::size_t>(ref->offset), static_cast<std::size_t>(ref->length));
    } else {
      if (site != onnx_io::tensor_site::initializer || onnx_io::expected_bytes(t) < threshold) return;
      auto b = inline_bytes(t, m, scratch);
      if (!b) {
        status = unexpected_error{std::move(b).error()};
        return;
      }
      bytes = *b;
    }
    if (auto ok = data.pad_to(data_alignment); !ok) {
      status = ok;
      return;
    }
    const std::size_t offset = data.bytes_written();
    if (auto ok = data.write(bytes); !ok) {
      status = ok;
      return;
    }
    stash.detach(t);
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* key, std::string value) {
      auto* e = t.add_external_data();
      e->set_key(key);
      e->set_value(std::move(value));
    };
    add("location", location);
    add("offset", std::to_string(offset));
    add("length", std::to_string(bytes.size()));
  });
  return status;
}

// Writes pieces in order: bytes kept in `owned_`, and payloads that alias tensor bytes held
// elsewhere (the mapped input file, raw_data strings of the proto), which are never copied.
class gathered_output {
 public:
  void own(std::string_view bytes) {
    if (!pieces_.empty() && pieces_.back().data == nullptr) {
      pieces_.back().size += bytes.size();
    } else {
      pieces_.push_back({nullptr, owned_.size(), bytes.size()});
    }
    owned_.append(bytes);
  }
  void own_varint(std::uint64_t value) {
    std::string v;
    onnx_io::append_varint(v, value);
    own(v);
  }
  void alias(std::span<const std::byte> bytes) { pieces_.push_back({bytes.data(), 0, bytes.size()}); }
  result<void> write_to(util::atomic_file& out) const {
    for (const auto& p : pieces_) {
      const std::byte* data = p.data != nullptr ? p.data : reinterpret_cast<const std::byte*>(owned_.data()) + p.offset;
      MQ_TRY_VOID(out.write(std::span<const std::byte>(data, p.size)));
    }
    return {};
  }

 private:
  struct piece {
    const std::byte* data;  // null: the bytes are owned_[offset, offset + size)
    std::size_t offset;
    std::size_t size;
  };
  std::string owned_;
  std::vector<piece> pieces_;
};

// Moves raw_data strings out of tensors for one save and back (swapping keeps their buffers,
// so spans taken from them stay valid until restore).
class raw_data_stash {
 public:
  ~raw_data_stash() { restore(); }
  std::span<const std::byte> detach(onnx::TensorProto& t) {
    auto& saved = saved_.emplace_back(&t, std::string{}).second;
    saved.swap(*t.mutable_raw_data());
    t.clear_raw_data();
    return std::as_bytes(std::span<const char>(saved.data(), saved.size()));
  }
  void restore() noexcept {
    for (auto& [tensor, saved] : saved_) tensor->mutable_raw_data()->swap(saved);
    saved_.clear();
  }

 private:
  std::list<std::pair<onnx::TensorProto*, std::string>> saved_;  // stable addresses
};

// Main-graph initializers with at least this many bytes are written from where their bytes
// already are (the mapped input, or the proto's own string) instead of being copied into a
// serialization buffer first.
constexpr std::size_t splice_threshold = 64 * 1024;

// Wire tags (field number << 3 | length-delimited) of the fields the writer below assembles.
constexpr char model_graph_tag = (7 << 3) | 2;
constexpr char graph_initializer_tag = (5 << 3) | 2;
constexpr char tensor_raw_data_tag = (9 << 3) | 2;

// Bytes of a length-delimited field of `n` bytes with a one-byte tag (every field assembled here).
std::uint64_t length_delimited_size(std::uint64_t n) { return 1 + onnx_io::varint_size(n) + n; }

// Protobuf writes a message's known fields in field-number order and its unknown fields after
// them. So the known fields numbered below N are a prefix of the serialization, and its size is
// where field N goes back in. (Unknown fields come last even when their numbers are small, or
// when a known number arrived with another wire type, so they cannot be located by their tags.)
std::size_t model_head_size(const onnx::ModelProto& m) {  // fields 1-6, before graph (7)
  onnx::ModelProto head;
  if (m.has_ir_version()) head.set_ir_version(m.ir_version());
  if (m.has_producer_name()) head.set_producer_name(m.producer_name());
  if (m.has_producer_version()) head.set_producer_version(m.producer_version());
  if (m.has_domain()) head.set_domain(m.domain());
  if (m.has_model_version()) head.set_model_version(m.model_version());
  if (m.has_doc_string()) head.set_doc_string(m.doc_string());
  return head.ByteSizeLong();
}

std::size_t graph_head_size(const onnx::GraphProto& g) {  // node (1) and name (2), before initializer (5)
  std::size_t n = 0;
  for (const auto& node : g.node()) n += length_delimited_size(node.ByteSizeLong());
  if (g.has_name()) n += length_delimited_size(g.name().size());
  return n;
}

std::size_t tensor_head_size(const onnx::TensorProto& t) {  // fields 1-8, before raw_data (9)
  onnx::TensorProto head = t;  // cheap: its payload was taken out
  head.clear_raw_data();
  head.clear_double_data();
  head.clear_uint64_data();
  head.clear_doc_string();
  head.clear_external_data();
  head.clear_data_location();
  head.mutable_unknown_fields()->Clear();
  return head.ByteSizeLong();
}

// One main-graph initializer: its serialized fields without raw_data, and the raw_data payload
// when it is written by reference.
struct initializer_piece {
  std::string fields;
  std::optional<std::span<const std::byte>> payload;
  std::size_t split = 0;  // where raw_data goes in `fields`
  std::uint64_t encoded_size() const {  // as a TensorProto, without the graph's tag and length
    return fields.size() + (payload ? length_delimited_size(payload->size()) : 0);
  }
};

// Serializes the model with every tensor inline, byte for byte what SerializeToString would give
// for the inlined model (protobuf writes fields in number order; the pieces are put back in that
// order), but large payloads are written straight from where they are.
result<void> write_inline(model::impl& m, util::atomic_file& out) {
  tensor_stash stash;
  raw_data_stash raws;
  auto& graph = *m.proto.mutable_graph();
  std::vector<initializer_piece> pieces(static_cast<std::size_t>(graph.initializer_size()));
  for (int i = 0; i < graph.initializer_size(); ++i) {
    auto& t = *graph.mutable_initializer(i);
    auto& piece = pieces[static_cast<std::size_t>(i)];
    if (t.data_location() == onnx::TensorProto::EXTERNAL) {
      auto ref = MQ_TRY(onnx_io::resolve_external(t, m));
      t.CopyFrom(stash.detach(t));  // every other field (segment, doc, unknown fields) as it was
      t.clear_external_data();
      t.clear_data_location();
      t.clear_raw_data();  // the external bytes replace any (malformed) inline ones, as when inlining
      piece.payload = ref.file->bytes().subspan(static_cast<std::size_t>(ref.offset), static_cast<std::size_t>(ref.length));
    } else if (t.has_raw_data() && t.raw_data().size() >= splice_threshold) {
      piece.payload = raws.detach(t);
    }
  }
  MQ_TRY_VOID(inline_external(m, stash));  // the rest: external tensors in subgraphs and attributes
  for (int i = 0; i < graph.initializer_size(); ++i) {
    pieces[static_cast<std::size_t>(i)].fields = graph.initializer(i).SerializeAsString();
  }
  std::string graph_fields;  // the graph without initializers
  {
    google::protobuf::RepeatedPtrField<onnx::TensorProto> initializers;
    initializers.Swap(graph.mutable_initializer());
    graph_fields = graph.SerializeAsString();
    initializers.Swap(graph.mutable_initializer());
  }
  std::string model_fields;  // the model without its graph
  {
    onnx::GraphProto* g = m.proto.release_graph();
    model_fields = m.proto.SerializeAsString();
    m.proto.set_allocated_graph(g);
  }

  std::uint64_t graph_size = graph_fields.size();
  for (const auto& p : pieces) graph_size += length_delimited_size(p.encoded_size());
  const std::uint64_t total = model_fields.size() + length_delimited_size(graph_size);
  if (total > static_cast<std::uint64_t>(INT_MAX)) {
    return fail(errc::invalid_argument, "cannot write " + util::quote(out.target()) + ": model is " +
                                            std::to_string(total) +
                                            " bytes, over protobuf's 2 GiB limit; save with external data");
  }

  // Where the graph, the initializers and each raw_data go back in (see model_head_size).
  const std::size_t model_split = model_head_size(m.proto);
  const std::size_t graph_split = graph_head_size(graph);
  for (int i = 0; i < graph.initializer_size(); ++i) {
    auto& p = pieces[static_cast<std::size_t>(i)];
    if (p.payload) p.split = tensor_head_size(graph.initializer(i));
  }

  gathered_output file;
  const std::string_view model_view = model_fields;
  const std::string_view graph_view = graph_fields;
  file.own(model_view.substr(0, model_split));
  file.own({&model_graph_tag, 1});
  file.own_varint(graph_size);
  file.own(graph_view.substr(0, graph_split));
  for (const auto& p : pieces) {
    file.own({&graph_initializer_tag, 1});
    file.own_varint(p.encoded_size());
    if (!p.payload) {
      file.own(p.fields);
      continue;
    }
    const std::string_view fields = p.fields;
    file.own(fields.substr(0, p.split));
    file.own({&tensor_raw_data_tag, 1});
    file.own_varint(p.payload->size());
    file.alias(*p.payload);
    file.own(fields.substr(p.split));
  }
  file.own(graph_view.substr(graph_split));
  file.own(model_view.substr(model_split));
  return file.write_to(out);
}

// External data other than the model file itself (which the loader uses to read large
// tensors in place, see wire.h): only real external data makes the output external too.
bool has_external(model::impl& m) {
  bool any = false;
  onnx_io::for_each_tensor(*m.proto.mutable_graph(), [&](onnx::TensorProto& t, onnx_io::tensor_site) {
    if (any || t.data_location() != onnx::TensorProto::EXTERNAL) return;
    any = true;
    for (const auto& e : t.external_data()) {
      if (e.key() == "location" && !m.self_location.empty() && e.value() == m.self_location) any = false;
    }
  });
  return any;
}

}  // namespace

struct staged_files::impl {
  std::vector<util::atomic_file> files;  // published in this order
};

staged_files::staged_files() : impl_(std::make_unique<impl>()) {}
staged_files::staged_files(staged_files&&) noexcept = default;
staged_files& staged_files::operator=(staged_files&&) noexcept = default;
staged_files::~staged_files() = default;

void staged_files::append(staged_files&& later) {
  for (auto& f : later.impl_->files) impl_->files.push_back(std::move(f));
  later.impl_->files.clear();
}

std::vector<std::filesystem::path> staged_files::targets() const {
  std::vector<std::filesystem::path> out;
  for (const auto& f : impl_->files) out.push_back(f.target());
  return out;
}

result<void> staged_files::commit() {
  auto& files = impl_->files;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (auto ok = files[i].commit(); !ok) {
      for (std::size_t k = 0; k < i; ++k) ::unlink(files[k].target().c_str());  // all or nothing
      files.clear();  // the rest: temporaries deleted
      return ok;
    }
  }
  files.clear();
  return {};
}

result<staged_files> stage_file(const std::filesystem::path& path, std::string_view content) {
  auto out = MQ_TRY(util::atomic_file::create(path));
  MQ_TRY_VOID(out.write(content));
  staged_files staged;
  staged.internals().files.push_back(std::move(out));
  return staged;
}

result<void> model::check_output_path(const std::filesystem::path& path) const {
  std::filesystem::path none;
  return refuse_overwriting_input(*impl_, path, none);
}

result<void> model::save(const std::filesystem::path& path, const save_options& options) const {
  auto staged = MQ_TRY(stage(path, options));
  return staged.commit();
}

result<staged_files> model::stage(const std::filesystem::path& path, const save_options& options) const {
  auto& m = *impl_;  // logically const: every change below is undone by the stash
  std::lock_guard lock(m.const_access);
  std::filesystem::path data_path = path;
  data_path += ".data";
  MQ_TRY_VOID(refuse_overwriting_input(m, path, data_path));
  if (options.verify) MQ_TRY_VOID(onnx_io::check_proto(m));

  const bool go_external = options.external == external_data::always ||
                           (options.external == external_data::automatic &&
                            (has_external(m) || onnx_io::inline_size(m) > inline_limit));
  auto out = MQ_TRY(util::atomic_file::create(path));
  staged_files staged;
  if (!go_external) {
    MQ_TRY_VOID(write_inline(m, out));
    staged.internals().files.push_back(std::move(out));
    return staged;
  }
  tensor_stash stash;
  auto data = MQ_TRY(util::atomic_file::create(data_path));
  MQ_TRY_VOID(externalize(m, stash, data, data_path.filename().string(), options.external_threshold_bytes));
  MQ_TRY_VOID(serialize_to(m.proto, out));
  stash.restore();
  // Data first: a model file must never point at a data file that is not complete.
  staged.internals().files.push_back(std::move(data));
  staged.internals().files.push_back(std::move(out));
  return staged;
}

result<std::string> model::serialize() const {
  auto& m = *impl_;
  std::lock_guard lock(m.const_access);
  tensor_stash stash;
  MQ_TRY_VOID(inline_external(m, stash));
  std::string bytes;
  if (m.proto.ByteSizeLong() > static_cast<std::size_t>(INT_MAX) || !m.proto.SerializeToString(&bytes)) {
    return fail(errc::invalid_argument, m.label + ": model is over protobuf's 2 GiB limit; save it to a file "
                                                  "with external data instead");
  }
  return bytes;
}

}  // namespace mq
