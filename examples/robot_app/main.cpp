// What a robot app does at start-up: pull its model from the catalog (download or reuse, verify,
// quantize), read the model's config.json, take the INT8 model when `use_int8` is true and the
// FP32 model otherwise, and load it to check that it is usable before the robot moves.
//
//   usage: robot_app MODEL [ENDPOINT]
//   MODEL     a catalog name, e.g. yolov8n
//   ENDPOINT  where files come from, e.g. file:///srv/model-mirror (a folder laid out as
//             {repo}/resolve/{revision}/{filename}); default: MQ_ENDPOINT, else Hugging Face
//   Environment: MQ_MODELS_DIR (default ./models), MQ_CATALOG (a catalog file of your own
//   models), MQ_OFFLINE=1 (cache only), HF_TOKEN.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <mq/model.h>
#include <mq/signature.h>
#include <mq/store.h>

namespace {

// The value of a top-level key of config.json: `true`/`false`, or a string without escapes.
// Enough for this example's three keys; a real app would use its JSON library here.
std::optional<std::string> json_value(const std::string& json, std::string_view key) {
  std::string quoted(1, '"');  // built by appending: gcc 12 warns (-Wrestrict) on "\"" + string
  quoted.append(key).push_back('"');
  std::size_t at = json.find(quoted);
  if (at == std::string::npos) return std::nullopt;
  at = json.find_first_not_of(" \t\r\n", at + quoted.size());
  if (at == std::string::npos || json[at] != ':') return std::nullopt;
  at = json.find_first_not_of(" \t\r\n", at + 1);
  if (at == std::string::npos) return std::nullopt;
  if (json[at] == '"') {
    const std::size_t end = json.find('"', at + 1);
    if (end == std::string::npos || json.find('\\', at) < end) return std::nullopt;
    return json.substr(at + 1, end - at - 1);
  }
  const std::size_t end = json.find_first_of(",}\r\n", at);
  std::string word = json.substr(at, end == std::string::npos ? std::string::npos : end - at);
  while (!word.empty() && (word.back() == ' ' || word.back() == '\t')) word.pop_back();
  return word;
}

void show_progress(const mq::pull_progress& p) {
  switch (p.stage) {
    case mq::pull_stage::waiting: std::fprintf(stderr, "  waiting for another pull of %s\n", p.model.c_str()); break;
    case mq::pull_stage::downloading:
      // Called often during a download: a real app would rate-limit this.
      if (p.bytes_total != 0 && p.bytes_done == p.bytes_total) {
        std::fprintf(stderr, "  downloaded %s (%llu bytes)\n", p.file.c_str(),
                     static_cast<unsigned long long>(p.bytes_done));
      }
      break;
    case mq::pull_stage::verifying: std::fprintf(stderr, "  verifying %s\n", p.file.c_str()); break;
    case mq::pull_stage::quantizing: std::fprintf(stderr, "  quantizing %s\n", p.file.c_str()); break;
    case mq::pull_stage::cached: std::fprintf(stderr, "  cached %s\n", p.file.c_str()); break;
    case mq::pull_stage::warning: std::fprintf(stderr, "  warning: %s\n", p.message.c_str()); break;
    default:  // stages added later (e.g. by a newer library): their message says what happened
      if (!p.message.empty()) std::fprintf(stderr, "  %s\n", p.message.c_str());
      break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: robot_app MODEL [ENDPOINT]\n");
    return 2;
  }
  const std::string name = argv[1];

  // 1. Pull: the environment gives the defaults, the command line the endpoint.
  mq::store_options options = mq::store_options::from_environment();
  if (argc == 3) options.endpoint = argv[2];
  auto store = mq::model_store::open(options);
  if (!store) {
    std::fprintf(stderr, "robot_app: error: %s\n", store.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "robot_app: pulling %s from %s\n", name.c_str(), options.endpoint.c_str());
  auto pulled = store->pull(name, show_progress);
  if (!pulled) {
    std::fprintf(stderr, "robot_app: error: %s\n", pulled.error().message.c_str());
    return 1;
  }

  // 2. config.json, as an app that starts without pulling would read it from the models folder.
  std::ifstream in(pulled->config, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const std::string config = text.str();
  const auto use_int8 = json_value(config, "use_int8");
  const auto fp32_file = json_value(config, "model_path");
  const auto int8_file = json_value(config, "int8_model_path");
  if (!in || !use_int8 || !fp32_file || (*use_int8 == "true" && !int8_file)) {
    std::fprintf(stderr, "robot_app: error: cannot read %s\n", pulled->config.string().c_str());
    return 1;
  }

  // 3. INT8 when config.json says so, else FP32 (paths in config.json are relative to its folder).
  const bool int8 = *use_int8 == "true";
  const std::filesystem::path chosen = pulled->config.parent_path() / (int8 ? *int8_file : *fp32_file);

  // 4. Load it: proves the file is a valid model before the robot relies on it. (Hand `chosen` to
  //    the inference runtime, e.g. ONNX Runtime, from here.)
  auto model = mq::model::load(chosen);
  if (!model) {
    std::fprintf(stderr, "robot_app: error: %s\n", model.error().message.c_str());
    return 1;
  }
  if (auto checked = model->check(); !checked) {
    std::fprintf(stderr, "robot_app: error: %s\n", checked.error().message.c_str());
    return 1;
  }

  std::printf("model: %s\n", name.c_str());
  std::printf("use_int8: %s\n", int8 ? "true" : "false");
  std::printf("chose: %s %s\n", int8 ? "INT8" : "FP32", chosen.string().c_str());
  std::printf("nodes: %zu\n", model->node_count());
  for (const auto& input : mq::graph_inputs(*model)) {
    std::printf("input: %s (%s)\n", input.name.c_str(), input.type.c_str());
  }
  for (const auto& warning : pulled->warnings) std::printf("warning: %s\n", warning.c_str());
  return 0;
}
