// The catalog parser (errors name file, line and entry; unknown keys warn), SHA-256 (EVP) on the NIST
// vectors, the JSON writer/reader and config.json.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "fetch/config.h"
#include "fetch/sha256.h"
#include "support/temp_dir.h"
#include "support/test_models.h"

using Catch::Contains;

namespace fs = std::filesystem;

namespace {

const char* good = R"(# comment
[[models]]
name = "yolov8n"
description = "YOLOv8 Nano"
task = "object-detection"
repo = "deepghs/yolos"
filename = "yolov8n/model.onnx"
revision = "v1.0"
sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
labels = "yolov8n/labels.txt"
preprocessing_preset = "yolo"
[models.quantize]
enabled = true
method = "dynamic_int8"
per_channel = true
weight_type = "uint8"
op_types = ["MatMul", "Conv"]
exclude = ["head/*"]

[[models]]
name = "vad"
repo = "o/vad"
filename = "model.onnx"
classes = ["speech"]
)";

std::string error_of(const std::string& text) {
  auto c = mq::catalog::parse(text, "cat.toml");
  REQUIRE_FALSE(c);
  CHECK(c.error().code == mq::errc::invalid_argument);
  return c.error().message;
}

}  // namespace

TEST_CASE("a valid catalog parses with every field", "[catalog]") {
  auto c = mq::catalog::parse(good, "cat.toml");
  REQUIRE(c);
  CHECK(c->warnings.empty());
  REQUIRE(c->models.size() == 2);
  const auto& y = c->models[0];
  CHECK(y.name == "yolov8n");
  CHECK(y.repo == "deepghs/yolos");
  CHECK(y.filename == "yolov8n/model.onnx");
  CHECK(y.revision == "v1.0");
  CHECK(y.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(y.labels == "yolov8n/labels.txt");
  CHECK(y.preprocessing_preset == "yolo");
  CHECK(y.origin == "'cat.toml':2");
  CHECK(y.quantize.enabled);
  CHECK(y.quantize.options.format == mq::quant_format::automatic);
  CHECK(y.quantize.options.per_channel);
  CHECK(y.quantize.options.weights == mq::weight_type::uint8);
  CHECK(y.quantize.options.op_types == std::vector<std::string>{"MatMul", "Conv"});
  CHECK(y.quantize.options.exclude == std::vector<std::string>{"head/*"});
  const auto& v = c->models[1];
  CHECK(v.revision == "main");
  CHECK_FALSE(v.quantize.enabled);
  CHECK(v.classes == std::vector<std::string>{"speech"});
  CHECK(c->find("vad") == &c->models[1]);
  CHECK(c->find("nope") == nullptr);
}

TEST_CASE("catalog errors name the file, the line and the entry", "[catalog]") {
  CHECK(error_of("[[models]]\nname = \"a\"\nfilename = \"m.onnx\"\n") == "'cat.toml':1: model 'a': missing 'repo'");
  CHECK(error_of("[[models]]\nname = \"a\"\nrepo = \"o/r\"\n") == "'cat.toml':1: model 'a': missing 'filename'");
  CHECK(error_of("[[models]]\nrepo = \"o/r\"\nfilename = \"m\"\n") == "'cat.toml':1: model: missing 'name'");
  CHECK_THAT(error_of(std::string(good) + "\n[[models]]\nname = \"vad\"\nrepo = \"o/r\"\nfilename = \"m\"\n"),
             Contains("'cat.toml':26: model 'vad': duplicate name"));
  CHECK_THAT(error_of("[[models]]\nname = \"a\"\nrepo = \"o/r\"\nfilename = \"m\"\n[models.quantize]\nmethod = \"magic\"\n"),
             Contains("'cat.toml':6: model 'a': unknown quantize method 'magic'"));
  CHECK_THAT(error_of("[[models]]\nname = \"a\"\nrepo = \"o/r\"\nfilename = \"m\"\nsha256 = \"abc\"\n"),
             Contains("'cat.toml':5: model 'a': 'sha256' must be 64 hex digits"));
  CHECK_THAT(error_of("[[models]]\nname = \"a\"\nrepo = \"o/r\"\nfilename = \"../../etc/passwd\"\n"),
             Contains("model 'a': 'filename' must be a relative path"));
  CHECK_THAT(error_of("[[models]]\nname = \"../x\"\nrepo = \"o/r\"\nfilename = \"m\"\n"), Contains("model '../x': name must be"));
  CHECK_THAT(error_of("[[models]]\nname = \"a\"\nrepo = 3\nfilename = \"m\"\n"), Contains("'cat.toml':3: model 'a': 'repo' must be a string"));
  CHECK_THAT(error_of("[[models]]\nname = \"a\"\nrepo = \"o/r\"\nfilename = \"m\"\n[models.quantize]\nop_types = [\"Add\"]\n"),
             Contains("unknown op type 'Add'"));
  CHECK_THAT(error_of("[[models]]\nname = \"a\"\nrepo = \"o/r\n"), Contains("'cat.toml':3: invalid toml"));
}

TEST_CASE("extra_files: external data paths, plain or with a sha256 pin", "[catalog]") {
  const std::string head = "[[models]]\nname = \"a\"\nrepo = \"o/r\"\nfilename = \"onnx/model.onnx\"\n";
  const std::string pin(64, 'A');
  auto c = mq::catalog::parse(head + "extra_files = [\"model.onnx.data\", { path = \"data/w.bin\", sha256 = \"" + pin +
                                  "\" }]\n",
                              "cat.toml");
  REQUIRE(c);
  CHECK(c->warnings.empty());
  const auto& extras = c->models[0].extra_files;
  REQUIRE(extras.size() == 2);
  CHECK(extras[0].path == "model.onnx.data");
  CHECK(extras[0].sha256.empty());
  CHECK(extras[1].path == "data/w.bin");
  CHECK(extras[1].sha256 == std::string(64, 'a'));
  const std::vector<std::string> bad_items = {"\"../x.data\"", "\"/abs.data\"", "\"config.json\"", "\"model.onnx\"",
                                             "\"model-int8.onnx.data\"", "\"labels.txt/x\"", "\".hidden\"",
                                             "\"w.bin.partial\"", "{ sha256 = \"" + pin + "\" }",
                                             "{ path = \"w.bin\", sha256 = \"abc\" }", "3"};
  for (const auto& bad : bad_items) {
    INFO(bad);
    CHECK_THAT(error_of(head + "extra_files = [" + bad + "]\n"), Contains("'cat.toml':") && Contains("model 'a'"));
  }
  CHECK_THAT(error_of(head + "extra_files = [\"w.bin\", \"w.bin\"]\n"), Contains("listed twice"));
  CHECK_THAT(error_of(head + "extra_files = \"w.bin\"\n"), Contains("'extra_files' must be an array"));
  auto warned = mq::catalog::parse(head + "extra_files = [{ path = \"w.bin\", size = 3 }]\n", "cat.toml");
  REQUIRE(warned);
  REQUIRE(warned->warnings.size() == 1);
  CHECK_THAT(warned->warnings[0], Contains("unknown key 'extra_files.size'"));
}

TEST_CASE("unknown keys are warnings naming file, line and entry", "[catalog]") {
  auto c = mq::catalog::parse("[[models]]\nname = \"a\"\nrepo = \"o/r\"\nfilename = \"m\"\nsize = 3\n[models.quantize]\nfast = true\n",
                              "cat.toml");
  REQUIRE(c);
  REQUIRE(c->warnings.size() == 2);
  CHECK(c->warnings[0] == "'cat.toml':5: model 'a': unknown key 'size' (ignored)");
  CHECK(c->warnings[1] == "'cat.toml':7: model 'a': unknown key 'quantize.fast' (ignored)");
}

TEST_CASE("a user catalog overrides built-in entries by name", "[catalog]") {
  auto base = mq::catalog::builtin();
  REQUIRE(base);
  CHECK(base->warnings.empty());
  CHECK(base->models.size() >= 6);
  for (const char* task : {"object-detection", "semantic-segmentation", "pose-estimation", "face-detection",
                           "voice-activity-detection", "text-embedding"}) {
    bool found = false;
    for (const auto& m : base->models) found = found || m.task == task;
    CHECK(found);
  }
  auto user = mq::catalog::parse("[[models]]\nname = \"yolov8n\"\nrepo = \"me/mine\"\nfilename = \"y.onnx\"\n"
                                 "[[models]]\nname = \"extra\"\nrepo = \"me/x\"\nfilename = \"x.onnx\"\n", "user.toml");
  REQUIRE(user);
  const auto before = base->models.size();
  auto merged = mq::catalog::merge(std::move(*base), std::move(*user));
  CHECK(merged.models.size() == before + 1);
  CHECK(merged.find("yolov8n")->repo == "me/mine");
  CHECK(merged.find("extra") != nullptr);

  mq::test::temp_dir dir;
  CHECK_THAT(mq::catalog::load_file(dir / "missing.toml").error().message, Contains("missing.toml"));
}

TEST_CASE("sha256 matches the NIST vectors, whole or in pieces", "[sha256]") {
  using mq::fetch::sha256_hex;
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  CHECK(sha256_hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  for (const std::size_t split : {std::size_t{1}, std::size_t{55}, std::size_t{56}, std::size_t{63}, std::size_t{64}, std::size_t{65}, std::size_t{1000}}) {
    mq::fetch::sha256 h;
    h.update(std::string_view(million).substr(0, split));
    h.update(std::string_view(million).substr(split));
    CHECK(h.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
  mq::test::temp_dir dir;
  mq::test::write_bytes(dir / "f", "abc");
  CHECK(*mq::fetch::sha256_file(dir / "f") == sha256_hex("abc"));
  CHECK_THAT(mq::fetch::sha256_file(dir / "none").error().message, Contains("none"));
  CHECK(mq::fetch::is_sha256_hex(sha256_hex("x")));
  CHECK_FALSE(mq::fetch::is_sha256_hex("xyz"));
}

TEST_CASE("config.json text: nlohmann-json, key order kept, invalid UTF-8 replaced, parse errors are values", "[json]") {
  using mq::fetch::json;
  json doc = {{"s", "a\"b\\c\n\x01"}, {"n", 42}, {"f", 0.5}, {"t", true}, {"z", nullptr},
              {"a", json::array({1, "two"})}, {"o", {{"k", "v"}}}, {"bad", "\xff name"}};
  const std::string text = mq::fetch::dump(doc);
  CHECK(text.back() == '\n');
  CHECK(text.find("\"s\"") < text.find("\"n\""));  // written in insertion order
  const auto back = mq::fetch::parse(text);
  REQUIRE_FALSE(back.is_discarded());
  CHECK(mq::fetch::string_at(back, "/s") == "a\"b\\c\n\x01");
  CHECK(mq::fetch::uint_at(back, "/n") == 42);
  CHECK(mq::fetch::bool_at(back, "/t"));
  CHECK(mq::fetch::string_at(back, "/o/k") == "v");
  CHECK(mq::fetch::string_at(back, "/bad") == "\xef\xbf\xbd name");
  // Missing members and members of another type give the default, never an exception.
  CHECK(mq::fetch::string_at(back, "/missing/deeper").empty());
  CHECK(mq::fetch::string_at(back, "/n").empty());
  CHECK(mq::fetch::uint_at(back, "/s") == 0);
  CHECK_FALSE(mq::fetch::bool_at(back, "/a/k"));
  CHECK(mq::fetch::dump(back) == text);
  CHECK(mq::fetch::parse("{\"a\": }").is_discarded());
  CHECK(mq::fetch::parse("[1, 2").is_discarded());
  CHECK(mq::fetch::parse("{} x").is_discarded());
  CHECK(mq::fetch::string_at(mq::fetch::parse("{} x"), "/a").empty());
}

TEST_CASE("config.json records what an app needs", "[config]") {
  auto c = mq::catalog::parse(good, "cat.toml");
  REQUIRE(c);
  mq::fetch::model_config config;
  config.entry = &c->models[0];
  config.url = "https://hub/deepghs/yolos/resolve/v1.0/yolov8n/model.onnx";
  config.sha256 = std::string(64, 'a');
  config.has_labels = true;
  config.has_int8 = true;
  config.cache_key = mq::fetch::int8_cache_key(config.sha256, "opts", "0.1.0");
  config.quantize_status = "quantized";
  config.quantized_nodes = 3;
  config.inputs = mq::fetch::signature_json({{"images", "float", {-1, 3, 640, 640}, {"batch", "", "", ""}, true}});
  auto doc = mq::fetch::parse(mq::fetch::dump(mq::fetch::config_document(config)));
  REQUIRE_FALSE(doc.is_discarded());
  CHECK(doc["use_int8"].get<bool>());
  CHECK(doc["task"].get<std::string>() == "object-detection");
  CHECK(doc["preprocessing_preset"].get<std::string>() == "yolo");
  CHECK(doc["labels_path"].get<std::string>() == "labels.txt");
  CHECK(doc["int8_model_path"].get<std::string>() == "model-int8.onnx");
  CHECK(doc["source"]["revision"].get<std::string>() == "v1.0");
  CHECK(doc["source"]["url"].get<std::string>() == config.url);
  CHECK(doc["inputs"] == mq::fetch::json::parse(R"([{"name": "images", "type": "float", "shape": [null, 3, 640, 640],
                                                     "dim_params": ["batch", null, null, null]}])"));
  CHECK(doc["quantization"]["cache_key"].get<std::string>() == config.cache_key);

  // Nothing quantized (every weight under the size floor): the INT8 file is the FP32 model.
  config.quantized_nodes = 0;
  auto nothing = mq::fetch::parse(mq::fetch::dump(mq::fetch::config_document(config)));
  REQUIRE_FALSE(nothing.is_discarded());
  CHECK_FALSE(nothing["use_int8"].get<bool>());
  CHECK(nothing["int8_model_path"].get<std::string>() == "model-int8.onnx");
  config.quantized_nodes = 3;

  config.has_int8 = false;
  auto fp32_only = mq::fetch::parse(mq::fetch::dump(mq::fetch::config_document(config)));
  REQUIRE_FALSE(fp32_only.is_discarded());
  CHECK_FALSE(fp32_only["use_int8"].get<bool>());
  CHECK(fp32_only["int8_model_path"].is_null());

  // The key changes with each of its parts.
  const auto key = mq::fetch::int8_cache_key("a", "b", "c");
  CHECK(key != mq::fetch::int8_cache_key("x", "b", "c"));
  CHECK(key != mq::fetch::int8_cache_key("a", "x", "c"));
  CHECK(key != mq::fetch::int8_cache_key("a", "b", "x"));
}

TEST_CASE("static_int8 entries: calibration folder, files, preprocessing and options", "[catalog]") {
  mq::test::temp_dir dir;
  const std::string head = "[[models]]\nname = \"det\"\nrepo = \"o/r\"\nfilename = \"m.onnx\"\n[models.quantize]\n"
                           "enabled = true\nmethod = \"static_int8\"\n";
  mq::test::write_bytes(dir / "pre.toml", "preset = \"yolo\"\nsize = 320\n");
  mq::test::write_bytes(dir / "cat.toml", head + "calibration = \"photos\"\ncalibration_files = [\"b.jpg\", \"a.png\"]\n"
                                                 "preprocess = \"pre.toml\"\ncalibration_method = \"percentile\"\n"
                                                 "calibration_count = 16\nactivation_type = \"int8\"\ntarget_snr_db = 30\n");
  auto c = mq::catalog::load_file(dir / "cat.toml");
  REQUIRE(c);
  CHECK(c->warnings.empty());
  const auto& q = c->models[0].quantize;
  CHECK(q.method == "static_int8");
  CHECK(q.options.format == mq::quant_format::automatic);
  // Relative paths are taken from the catalog file's folder.
  CHECK(q.calibration.folder == (fs::absolute(dir.path()) / "photos").lexically_normal());
  CHECK(q.calibration.files == std::vector<std::string>{"b.jpg", "a.png"});
  REQUIRE(q.calibration.preprocess);
  CHECK(q.calibration.preprocess->width == 320);
  CHECK(q.calibration.preprocess->resize == mq::preprocess_spec::resize_mode::letterbox);
  CHECK(q.calibration.method == mq::calibration_method::percentile);
  CHECK(q.calibration.count == 16);
  CHECK(q.calibration.activations == mq::activation_type::int8);
  CHECK(q.options.target_snr_db == 30);

  auto preset = mq::catalog::parse(head + "calibration = \"/data/frames\"\npreprocess = \"yolo\"\n", "cat.toml");
  REQUIRE(preset);
  CHECK(preset->models[0].quantize.calibration.folder == "/data/frames");
  CHECK(preset->models[0].quantize.calibration.preprocess->name == "yolo");
  CHECK(preset->models[0].quantize.calibration.count == 0);  // all

  // No folder at all is valid (mq-pull --calibration gives it, else the fallback).
  auto none = mq::catalog::parse(head + "preprocess = \"yolo\"\n", "cat.toml");
  REQUIRE(none);
  CHECK(none->models[0].quantize.calibration.folder.empty());

  // Files of a hub repo: the entry's repo unless calibration_repo names another; pins kept.
  const std::string pin(64, 'a');
  auto hub = mq::catalog::parse(head + "calibration_repo = \"o/frames\"\ncalibration_revision = \"v2\"\n"
                                       "calibration_files = [\"day/1.jpg\", { path = \"night/2.png\", sha256 = \"" +
                                       std::string(64, 'A') + "\" }]\n", "cat.toml");
  REQUIRE(hub);
  const auto& hc = hub->models[0].quantize.calibration;
  CHECK(hc.folder.empty());
  CHECK(hc.files.empty());
  REQUIRE(hc.hub_files.size() == 2);
  CHECK(hc.hub_files[0].path == "day/1.jpg");
  CHECK(hc.hub_files[0].sha256.empty());
  CHECK(hc.hub_files[1].path == "night/2.png");
  CHECK(hc.hub_files[1].sha256 == pin);  // lowercased
  CHECK(hc.hub_repo == "o/frames");
  CHECK(hc.hub_revision == "v2");

  // The default catalog's YOLO detector is static INT8 with the yolo preprocessing.
  auto builtin = mq::catalog::builtin();
  REQUIRE(builtin);
  const auto* yolo = builtin->find("yolov8n");
  REQUIRE(yolo != nullptr);
  CHECK(yolo->quantize.method == "static_int8");
  REQUIRE(yolo->quantize.calibration.preprocess);
  CHECK(yolo->quantize.calibration.preprocess->name == "yolo");
}

TEST_CASE("static_int8 entries: every field is validated, errors name file, line, entry and field", "[catalog]") {
  const std::string head = "[[models]]\nname = \"det\"\nrepo = \"o/r\"\nfilename = \"m.onnx\"\n[models.quantize]\n"
                           "enabled = true\nmethod = \"static_int8\"\n";
  const std::string at = "'cat.toml':8: model 'det': ";
  CHECK(error_of(head + "preprocess = \"letterbox\"\n") ==
        at + "'quantize.preprocess': unknown preprocessing preset 'letterbox' (presets: yolo, imagenet, unit; or give a .toml "
                                "file)");
  CHECK(error_of(head + "calibration_method = \"max\"\n") ==
        at + "unknown quantize calibration_method 'max' (minmax, percentile, entropy, mse)");
  CHECK(error_of(head + "calibration_count = 0\n") ==
        at + "'quantize.calibration_count' must be an integer from 1 to 1000000 (leave it out for all samples)");
  CHECK(error_of(head + "calibration_count = -3\n") ==
        at + "'quantize.calibration_count' must be an integer from 1 to 1000000 (leave it out for all samples)");
  CHECK(error_of(head + "calibration_count = 2.5\n") ==
        at + "'quantize.calibration_count' must be an integer from 1 to 1000000 (leave it out for all samples)");
  CHECK(error_of(head + "activation_type = \"int16\"\n") == at + "unknown quantize activation_type 'int16' (uint8, int8)");
  CHECK(error_of(head + "target_snr_db = -1\n") ==
        at + "'quantize.target_snr_db' must be a number of dB from 0 (no accuracy guard) to 200");
  CHECK(error_of(head + "target_snr_db = \"high\"\n") ==
        at + "'quantize.target_snr_db' must be a number of dB from 0 (no accuracy guard) to 200");
  CHECK(error_of(head + "calibration = \"\"\n") == at + "'quantize.calibration' must be a folder (a non-empty string)");
  CHECK(error_of(head + "calibration = \"photos\"\n") ==
        at + "'quantize.calibration' must be an absolute path here ('photos'): only a catalog file's paths may be "
             "relative (to its folder)");
  // Without a folder, calibration_files are paths in a hub repo.
  CHECK(error_of(head + "calibration_files = [\"a/../b.png\"]\n") ==
        at + "calibration file 'a/../b.png' must be a relative path in the repo without '..'");
  CHECK(error_of(head + "calibration_files = [\"set/test_data_set_0\"]\n") ==
        at + "calibration file 'set/test_data_set_0' must be an image (.jpg, .jpeg, .png) or a .npy file (a hub's "
             "test_data_set_* folder cannot be listed: convert it to .npy files, or use a local folder)");
  CHECK(error_of(head + "calibration_files = [\"a/x.png\", \"b/x.png\"]\n") ==
        at + "calibration files 'a/x.png' and 'b/x.png' share the file name 'x.png' (both would be calibration/x.png in "
             "the model's folder)");
  CHECK(error_of(head + "calibration_files = [{ path = \"x.png\", sha256 = \"abc\" }]\n") ==
        at + "the sha256 of calibration file 'x.png' must be 64 hex digits");
  CHECK(error_of(head + "calibration_repo = \"frames\"\n") ==
        at + "'quantize.calibration_repo' must be a path like 'owner/name'");
  CHECK(error_of(head + "calibration_repo = \"o/frames\"\n") ==
        at + "the hub's calibration samples are listed in 'quantize.calibration_files', which is missing");
  CHECK(error_of(head + "calibration = \"/p\"\ncalibration_repo = \"o/frames\"\n") ==
        "'cat.toml':9: model 'det': " "'quantize.calibration' is a local folder and 'quantize.calibration_repo' / "
                       "'calibration_revision' say where hub files come from: give one of them");
  const std::string folder = "calibration = \"/p\"\n";
  const std::string at9 = "'cat.toml':9: model 'det': ";
  CHECK(error_of(head + folder + "calibration_files = []\n") ==
        at9 + "'quantize.calibration_files' must be a non-empty array of file names");
  CHECK(error_of(head + folder + "calibration_files = [\"../a.png\"]\n") ==
        at9 + "calibration file '../a.png' must be a file name inside the calibration folder");
  CHECK(error_of(head + folder + "calibration_files = [\"notes.txt\"]\n") ==
        at9 + "calibration file 'notes.txt' must be an image (.jpg, .jpeg, .png), a .npy file or a test_data_set_* folder");
  CHECK(error_of(head + folder + "calibration_files = [\"a.png\", \"a.png\"]\n") ==
        at9 + "calibration file 'a.png' is listed twice");
  CHECK(error_of(head + folder + "calibration_files = [{ path = \"a.png\" }]\n") ==
        at9 + "a { path, sha256 } calibration file is a hub file: pins apply to files downloaded from a repo (without "
              "'quantize.calibration'), not to a local folder's");
  CHECK(error_of(head + "format = \"qdq\"\n") ==
        at + "'quantize.format' must be 'auto' with method = \"static_int8\" (static INT8 is written as QDQ where ONNX "
             "Runtime fuses it, the rest as auto)");
  // The data needs the static method.
  const std::string dynamic = "[[models]]\nname = \"det\"\nrepo = \"o/r\"\nfilename = \"m.onnx\"\n[models.quantize]\n"
                              "enabled = true\nmethod = \"dynamic_int8\"\ncalibration = \"/p\"\n";
  CHECK(error_of(dynamic) == at + "'quantize.calibration' needs method = \"static_int8\" (the method is 'dynamic_int8')");
}
