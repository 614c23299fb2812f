// libFuzzer target: arbitrary bytes through the model loader, then through the read-only calls
// a quantizer makes on a loaded model. An error result is the expected outcome for nearly every
// input; a crash, a sanitizer report, a leak or an escaping exception is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>

#include "mq/model.h"
#include "mq/session.h"
#include "onnx_io/model_impl.h"
#include "onnx_io/wire.h"

namespace {

namespace fs = std::filesystem;

// Folder layout the external-data resolver is fuzzed against, created once per process:
//   <root>/model/weights.bin   4 KiB the seed corpus points at (in-bounds and out-of-bounds reads)
//   <root>/model/escape.bin    symlink to <root>/outside.bin (must be refused)
//   <root>/outside.bin
// Without it every input with external data would stop at "no base folder".
class data_folder {
 public:
  data_folder() {
    std::string pattern = (fs::temp_directory_path() / "mq-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    root_ = pattern;
    fs::create_directory(root_ / "model");
    write(root_ / "model" / "weights.bin", 4096);
    write(root_ / "outside.bin", 64);
    fs::create_symlink(root_ / "outside.bin", root_ / "model" / "escape.bin");
  }
  ~data_folder() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  data_folder(const data_folder&) = delete;
  data_folder& operator=(const data_folder&) = delete;
  fs::path model_dir() const { return root_ / "model"; }

 private:
  static void write(const fs::path& path, std::size_t size) {
    std::string bytes(size, '\0');
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 7 + 1);
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(size));
  }
  fs::path root_;
};

const fs::path& base_dir() {
  static const data_folder folder;
  static const fs::path dir = folder.model_dir();
  return dir;
}

// The executor on a model that loaded: planning gives a session or an error; a session runs on
// generated inputs or fails cleanly. Models that would only be slow (large inputs, loops whose
// trip count is data) are planned but not run.
void run_on_executor(const mq::model& m) {
  mq::session_options options;
  options.threads = 1;
  auto s = mq::session::create(m, options);
  if (!s) return;
  std::int64_t total = 0;
  for (const auto& v : s->inputs()) {
    std::int64_t n = 1;
    for (auto d : v.shape) n *= d < 0 ? 4 : std::min<std::int64_t>(d, 1 << 20);
    total += n;
  }
  if (total > (1 << 16)) return;
  bool loops = false;
  for (const auto& n : m.internals().proto.graph().node()) loops = loops || n.op_type() == "Loop" || n.op_type() == "Scan";
  if (loops) return;
  mq::input_options io;
  for (const auto& v : s->inputs()) {
    for (const auto& d : v.dim_names) {
      if (!d.empty()) io.dims[d] = 4;
    }
  }
  auto feeds = mq::generate_inputs(*s, io);
  if (!feeds) return;
  (void)s->run(*feeds);
}

// What a caller does with a model it managed to load: every accessor must give a value or an
// error, never crash.
void exercise(const mq::model& m) {
  auto bytes = m.serialize();
  if (bytes) {
    // A model that loaded serializes to a model that loads (external data is inlined by then).
    auto again = mq::model::load_from_memory(
        std::as_bytes(std::span<const char>(bytes->data(), bytes->size())), {}, "<reserialized>");
    if (!again) {
      std::fprintf(stderr, "round trip failed: %s\n", again.error().message.c_str());
      std::abort();
    }
    // The file writer (large payloads written by reference, the pieces around them put back in
    // protobuf's field order) must write exactly what protobuf's own serializer gives.
    mq::save_options inline_only;
    inline_only.external = mq::external_data::never;
    inline_only.verify = false;
    const fs::path saved = base_dir().parent_path() / "saved.onnx";
    if (m.save(saved, inline_only)) {
      std::ifstream in(saved, std::ios::binary);
      const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (file != *bytes) {
        std::fprintf(stderr, "saved file differs from the serialization (%zu vs %zu bytes)\n", file.size(), bytes->size());
        std::abort();
      }
    }
  }
  run_on_executor(m);
  (void)m.check();
  (void)m.node_count();
  (void)m.opsets();
  (void)m.metadata("mq.options");
  for (const auto& name : m.initializer_names()) {
    auto view = m.initializer(name);
    if (!view) continue;
    (void)view->bytes();
    (void)view->to_float();
    (void)view->as_span<float>();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
  auto m = mq::model::load_from_memory(bytes, base_dir(), "<fuzz>");
  if (m) exercise(*m);
  // The in-place reader's wire-format rewrite (used by model::load on files): it must never read
  // out of bounds, and what it produces must load (or fail cleanly) like any other bytes.
  if (auto stripped = mq::onnx_io::strip_large_tensors(bytes, "weights.bin", 16)) {
    const auto* p = reinterpret_cast<const std::byte*>(stripped->bytes.data());
    auto s = mq::model::load_from_memory({p, stripped->bytes.size()}, base_dir(), "<fuzz-stripped>");
    if (s) exercise(*s);
  }
  return 0;
}
