// mq-run: run an ONNX model on libmodelquant's executor, save or compare its outputs, time it.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.h"
#include "mq/calibration.h"
#include "mq/model.h"
#include "mq/session.h"
#include "mq/tensor_io.h"
#include "mq/version.h"
#include "util/json.h"

namespace {

using mq::cli::exit_failure;
using mq::cli::exit_ok;
using mq::cli::exit_usage;
constexpr const char* tool = "mq-run";

struct options {
  std::string model;
  std::vector<std::string> inputs;  // NAME=FILE
  std::string output_dir;
  std::string compare;
  unsigned runs = 0;
  unsigned threads = 0;
  std::uint32_t seed = 0;
  std::vector<std::string> dims;  // NAME=V
  bool json = false;
  bool allow_nonfinite = false;
  std::string preprocess;   // for image inputs
  std::string save_inputs;  // DIR: write the inputs as input_<i>.npy
  bool profile = false;
};

bool is_image(const std::string& file) {
  std::string ext = std::filesystem::path(file).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// The preprocessing of image inputs: --preprocess, else `yolo` for Ultralytics exports.
mq::result<mq::preprocess_spec> image_spec(const options& o, const mq::model& m) {
  if (!o.preprocess.empty()) return mq::preprocess_spec::parse(o.preprocess);
  if (m.metadata("author") == "Ultralytics") return mq::preprocess_spec::preset("yolo");
  return mq::fail(mq::errc::invalid_argument, "an image input needs --preprocess yolo|imagenet|unit|FILE.toml");
}

// Float view of any float output (float16 and float64 converted), for statistics and comparison.
std::vector<double> as_doubles(const mq::tensor& t) {
  const auto n = static_cast<std::size_t>(t.element_count());
  std::vector<double> v(n);
  const auto* p = t.data.data();
  for (std::size_t i = 0; i < n; ++i) {
    switch (t.type) {
      case mq::dtype::float32: {
        float f;
        std::memcpy(&f, p + i * 4, 4);
        v[i] = f;
        break;
      }
      case mq::dtype::float64: std::memcpy(&v[i], p + i * 8, 8); break;
      case mq::dtype::int64: {
        std::int64_t x;
        std::memcpy(&x, p + i * 8, 8);
        v[i] = static_cast<double>(x);
        break;
      }
      case mq::dtype::int32: {
        std::int32_t x;
        std::memcpy(&x, p + i * 4, 4);
        v[i] = x;
        break;
      }
      case mq::dtype::uint8:
      case mq::dtype::boolean: v[i] = static_cast<double>(std::to_integer<unsigned>(p[i])); break;
      case mq::dtype::int8: v[i] = static_cast<std::int8_t>(std::to_integer<unsigned>(p[i])); break;
      default: v[i] = std::numeric_limits<double>::quiet_NaN(); break;
    }
  }
  return v;
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

struct stats {
  double min = 0, max = 0, mean = 0;
  std::size_t nonfinite = 0;
};

stats stats_of(const std::vector<double>& v) {
  stats s;
  s.min = std::numeric_limits<double>::infinity();
  s.max = -std::numeric_limits<double>::infinity();
  double sum = 0;
  std::size_t finite = 0;
  for (double x : v) {
    if (!std::isfinite(x)) {
      ++s.nonfinite;
      continue;
    }
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
    sum += x;
    ++finite;
  }
  s.mean = finite ? sum / static_cast<double>(finite) : 0;
  if (finite == 0) s.min = s.max = 0;
  return s;
}

struct comparison {
  double cosine = 1, snr_db = 0, max_abs = 0;
};

comparison compare(const std::vector<double>& ref, const std::vector<double>& got) {
  double dot = 0, na = 0, nb = 0, noise = 0, worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    dot += ref[i] * got[i];
    na += ref[i] * ref[i];
    nb += got[i] * got[i];
    const double e = ref[i] - got[i];
    noise += e * e;
    worst = std::max(worst, std::fabs(e));
  }
  comparison c;
  c.cosine = (na == 0 && nb == 0) ? 1.0 : (na == 0 || nb == 0) ? 0.0 : dot / std::sqrt(na * nb);
  c.snr_db = noise == 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(na / noise);
  c.max_abs = worst;
  return c;
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (std::isnan(v)) return "nan";
  return fmt::format("{:.6g}", v);
}

// JSON numbers cannot be inf/nan: those become strings ("inf", "-inf", "nan").
mq::util::json json_number(double v) {
  if (!std::isfinite(v)) return number(v);
  return v;
}

mq::util::json json_shape(const std::vector<std::int64_t>& shape) {
  auto a = mq::util::json::array();
  for (auto d : shape) a.push_back(d);
  return a;
}

std::optional<std::pair<std::string, std::string>> split_assignment(const std::string& s) {
  const auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0) return std::nullopt;
  return std::make_pair(s.substr(0, eq), s.substr(eq + 1));
}

int run(const options& o) {
  mq::session_options so;
  so.threads = o.threads;
  auto model = mq::model::load(o.model);
  if (!model) return mq::cli::fail(tool, model.error().message);
  auto session = mq::session::create(*model, so);
  if (!session) return mq::cli::fail(tool, session.error().message);

  // Inputs: files first, the rest generated from the seed.
  std::map<std::string, mq::tensor> feeds;
  std::map<std::string, std::string> source;
  for (const auto& spec : o.inputs) {
    auto kv = split_assignment(spec);
    const std::string name = kv->first, file = kv->second;
    auto it = std::find_if(session->inputs().begin(), session->inputs().end(), [&](const auto& v) { return v.name == name; });
    if (it == session->inputs().end()) {
      std::string names;
      for (const auto& v : session->inputs()) names += (names.empty() ? "'" : ", '") + v.name + "'";
      return mq::cli::fail(tool, "'" + o.model + "' has no input '" + name + "' (its inputs: " + names + ")");
    }
    mq::result<mq::tensor> t = mq::tensor{};
    if (is_image(file)) {
      auto image_preprocess = image_spec(o, *model);
      if (!image_preprocess) return mq::cli::fail(tool, image_preprocess.error().message);
      t = mq::load_image_input(file, *image_preprocess, it->shape);
    } else {
      t = mq::read_tensor_file(file);
    }
    if (!t) return mq::cli::fail(tool, "input '" + name + "': " + t.error().message);
    feeds[name] = std::move(*t);
    source[name] = file;
  }
  mq::input_options gen;
  gen.seed = o.seed;
  for (const auto& spec : o.dims) {
    auto kv = split_assignment(spec);
    gen.dims[kv->first] = std::stoll(kv->second);
  }
  auto generated = mq::generate_inputs(*session, gen);
  if (!generated) return mq::cli::fail(tool, generated.error().message);
  for (auto& [name, t] : *generated) {
    if (feeds.count(name) == 0) {
      source[name] = fmt::format("generated (seed {})", o.seed);
      feeds[name] = std::move(t);
    }
  }

  if (!o.save_inputs.empty()) {
    std::error_code ec;
    std::filesystem::create_directory(o.save_inputs, ec);
    if (ec && !std::filesystem::is_directory(o.save_inputs)) {
      return mq::cli::fail(tool, "cannot create folder '" + o.save_inputs + "': " + ec.message());
    }
    for (std::size_t i = 0; i < session->inputs().size(); ++i) {
      const auto path = std::filesystem::path(o.save_inputs) / ("input_" + std::to_string(i) + ".npy");
      auto w = mq::write_npy(path, feeds.at(session->inputs()[i].name));
      if (!w) return mq::cli::fail(tool, "'" + path.string() + "': " + w.error().message);
    }
  }

  mq::run_options ro;
  ro.check_finite = !o.allow_nonfinite;
  auto outputs = session->run(feeds, ro);
  if (!outputs) return mq::cli::fail(tool, outputs.error().message);

  // Timing: the run above was the warm-up.
  std::vector<double> times;
  for (unsigned r = 0; r < o.runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto again = session->run(feeds);
    const auto t1 = std::chrono::steady_clock::now();
    if (!again) return mq::cli::fail(tool, again.error().message);
    times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::vector<mq::node_time> profile;
  std::size_t peak_live = 0;
  if (o.profile) {
    mq::run_options po;
    po.profile = &profile;
    po.peak_live_bytes = &peak_live;
    auto again = session->run(feeds, po);
    if (!again) return mq::cli::fail(tool, again.error().message);
  }
  std::sort(times.begin(), times.end());
  const double median = times.empty() ? 0
                        : times.size() % 2 ? times[times.size() / 2]
                                           : (times[times.size() / 2 - 1] + times[times.size() / 2]) / 2;

  // Comparison with another model on the same inputs.
  std::map<std::string, mq::tensor> other;
  std::vector<std::string> compared;
  if (!o.compare.empty()) {
    auto second = mq::session::load(o.compare, so);
    if (!second) return mq::cli::fail(tool, second.error().message);
    std::map<std::string, mq::tensor> feeds2;
    for (const auto& v : second->inputs()) {
      auto it = feeds.find(v.name);
      if (it == feeds.end()) {
        return mq::cli::fail(tool, "'" + o.compare + "' has input '" + v.name + "', which '" + o.model + "' does not have");
      }
      feeds2[v.name] = it->second;
    }
    auto out2 = second->run(feeds2, ro);
    if (!out2) return mq::cli::fail(tool, out2.error().message);
    other = std::move(*out2);
  }

  // Outputs to files: every file is written to a temporary first; all are renamed at the end.
  std::vector<std::string> files(session->outputs().size());
  if (!o.output_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directory(o.output_dir, ec);
    if (ec && !std::filesystem::is_directory(o.output_dir)) {
      return mq::cli::fail(tool, "cannot create output folder '" + o.output_dir + "': " + ec.message());
    }
    for (std::size_t i = 0; i < session->outputs().size(); ++i) {
      const auto path = std::filesystem::path(o.output_dir) / ("output_" + std::to_string(i) + ".npy");
      auto w = mq::write_npy(path, outputs->at(session->outputs()[i].name));
      if (!w) return mq::cli::fail(tool, "'" + path.string() + "': " + w.error().message);
      files[i] = path.string();
    }
  }

  struct row {
    std::string name;
    const mq::tensor* t;
    stats s;
    std::optional<comparison> c;
    std::string compare_note;
  };
  std::vector<row> rows;
  for (std::size_t i = 0; i < session->outputs().size(); ++i) {
    const auto& name = session->outputs()[i].name;
    const mq::tensor& t = outputs->at(name);
    row r{name, &t, stats_of(as_doubles(t)), std::nullopt, {}};
    if (!o.compare.empty()) {
      auto it = other.find(name);
      if (it == other.end()) {
        r.compare_note = "not an output of the other model";
      } else if (it->second.shape != t.shape) {
        r.compare_note = "shape " + shape_text(it->second.shape) + " in the other model";
      } else {
        r.c = compare(as_doubles(t), as_doubles(it->second));
      }
    }
    rows.push_back(std::move(r));
  }

  if (o.json) {
    mq::util::json j;
    j["model"] = o.model;
    j["threads"] = o.threads;
    auto& inputs = j["inputs"] = mq::util::json::array();
    for (const auto& v : session->inputs()) {
      const auto& t = feeds.at(v.name);
      inputs.push_back({{"name", v.name}, {"type", mq::to_string(t.type)}, {"shape", json_shape(t.shape)}, {"source", source[v.name]}});
    }
    auto& out_rows = j["outputs"] = mq::util::json::array();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      mq::util::json out = {{"name", r.name},          {"type", mq::to_string(r.t->type)}, {"shape", json_shape(r.t->shape)},
                            {"min", json_number(r.s.min)}, {"max", json_number(r.s.max)},      {"mean", json_number(r.s.mean)},
                            {"nonfinite", r.s.nonfinite}};
      if (!files[i].empty()) out["file"] = files[i];
      if (r.c) {
        out["cosine"] = json_number(r.c->cosine);
        out["snr_db"] = json_number(r.c->snr_db);
        out["max_abs_error"] = json_number(r.c->max_abs);
      } else if (!r.compare_note.empty()) {
        out["compare"] = r.compare_note;
      }
      out_rows.push_back(std::move(out));
    }
    if (!o.compare.empty()) j["compare"] = o.compare;
    if (o.runs > 0) {
      j["runs"] = o.runs;
      j["median_ms"] = json_number(median);
      j["min_ms"] = json_number(times.front());
    }
    fmt::print("{}\n", mq::util::dump_json(j));
    return exit_ok;
  }

  fmt::print("{}: {} input(s), {} output(s)\n", o.model, session->inputs().size(), session->outputs().size());
  for (const auto& v : session->inputs()) {
    const auto& t = feeds.at(v.name);
    fmt::print("  input  {:<24} {:<8} {:<18} {}\n", mq::cli::one_line(v.name), mq::to_string(t.type), shape_text(t.shape),
               mq::cli::one_line(source[v.name]));
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    fmt::print("  output {:<24} {:<8} {:<18} min {} max {} mean {}{}{}\n", mq::cli::one_line(r.name), mq::to_string(r.t->type),
               shape_text(r.t->shape), number(r.s.min), number(r.s.max), number(r.s.mean),
               r.s.nonfinite ? fmt::format(" ({} non-finite)", r.s.nonfinite) : std::string(),
               files[i].empty() ? std::string() : " -> " + files[i]);
  }
  if (!o.compare.empty()) {
    fmt::print("\ncompared with {}:\n  {:<24} {:>12} {:>10} {:>14}\n", o.compare, "output", "cosine", "SNR dB", "max abs err");
    for (const auto& r : rows) {
      if (r.c) {
        fmt::print("  {:<24} {:>12.8f} {:>10} {:>14}\n", mq::cli::one_line(r.name), r.c->cosine,
                   std::isinf(r.c->snr_db) ? std::string("inf") : fmt::format("{:.2f}", r.c->snr_db), number(r.c->max_abs));
      } else {
        fmt::print("  {:<24} {}\n", mq::cli::one_line(r.name), r.compare_note);
      }
    }
  }
  if (o.profile) {
    std::map<std::string, std::pair<double, int>> by_op;
    double total = 0;
    for (const auto& t : profile) {
      by_op[t.op_type].first += t.seconds;
      by_op[t.op_type].second += 1;
      total += t.seconds;
    }
    std::vector<std::pair<double, std::string>> order;
    for (const auto& [op, v] : by_op) order.emplace_back(v.first, op);
    std::sort(order.rbegin(), order.rend());
    fmt::print("\nprofile of one run ({:.2f} ms in nodes; at most {:.1f} MB of intermediate values alive at once):\n  {:<24} {:>6} {:>10} {:>7}\n", total * 1e3, static_cast<double>(peak_live) / 1e6, "op", "nodes", "ms", "share");
    for (const auto& [sec, op] : order) {
      fmt::print("  {:<24} {:>6} {:>10.3f} {:>6.1f}%\n", op, by_op[op].second, sec * 1e3, total > 0 ? 100 * sec / total : 0);
    }
    std::vector<mq::node_time> slowest = profile;
    std::sort(slowest.begin(), slowest.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
    fmt::print("  slowest nodes:\n");
    for (std::size_t i = 0; i < slowest.size() && i < 10; ++i) {
      fmt::print("    {:>8.3f} ms  {} ({})\n", slowest[i].seconds * 1e3, mq::cli::one_line(slowest[i].node), slowest[i].op_type);
    }
  }
  if (o.runs > 0) fmt::print("\nmedian {:.2f} ms over {} run(s) (min {:.2f} ms), {} thread(s)\n", median, o.runs, times.front(),
                             o.threads == 0 ? std::string("all") : std::to_string(o.threads));
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"Runs an ONNX model on libmodelquant's executor (no ONNX Runtime): prints its outputs'\n"
               "shapes and statistics, writes them as .npy, compares them with another model's\n"
               "(e.g. an INT8 model against its FP32 source), and times runs.",
               tool};
  app.set_version_flag("--version", std::string(tool) + " " + MQ_VERSION_STRING + "\n" + mq::build_description());
  // MODEL and OTHER are not checked here: a missing or unreadable model is a failure (exit 1, naming
  // the file), as in mq-quantize, not a usage error.
  app.add_option("MODEL", o.model, "the model (.onnx)")->required();
  app.add_option("--input", o.inputs,
                 "NAME=FILE: an input from a .npy or .pb (ONNX TensorProto) file, or a photo (.jpg, .png)\n"
                 "preprocessed by --preprocess; inputs not given are\n"
                 "generated from --seed (floats uniform in [-1,1), inputs named *state* zeros,\n"
                 "integers in [0,256))")
      ->type_name("NAME=FILE")
      ->check([](const std::string& s) { return split_assignment(s) ? std::string() : "expected NAME=FILE, got '" + s + "'"; });
  app.add_option("--output-dir", o.output_dir, "write graph output i as DIR/output_<i>.npy")->type_name("DIR");
  app.add_option("--compare", o.compare, "run OTHER.onnx on the same inputs; print cosine, SNR and max abs error per output")
      ->type_name("OTHER.onnx");
  app.add_option("--runs", o.runs, "time N runs after a warm-up; report the median")->type_name("N")->check(CLI::Range(1u, 100000u));
  app.add_option("--threads", o.threads, "threads per run (default 0: one per core)")->type_name("N")->check(CLI::Range(0u, 1024u));
  app.add_option("--seed", o.seed, "seed of the generated inputs (default 0)")->type_name("S");
  app.add_option("--dim", o.dims, "NAME=V: value of a symbolic input dimension (default: 1 for the first dimension, 320\n"
                                  "in 4-D inputs, 512 otherwise)")
      ->type_name("NAME=V")
      ->check([](const std::string& s) {
        auto kv = split_assignment(s);
        if (!kv) return "expected NAME=V, got '" + s + "'";
        try {
          std::size_t used = 0;
          const long long v = std::stoll(kv->second, &used);
          if (used != kv->second.size() || v < 0) throw std::invalid_argument("dim");
        } catch (const std::exception&) {
          return "the value in '" + s + "' is not a non-negative integer";
        }
        return std::string();
      });
  app.add_option("--preprocess", o.preprocess,
                 "how photos become inputs: yolo | imagenet | unit | FILE.toml (default: yolo for\n"
                 "Ultralytics exports)")
      ->type_name("PRESET|FILE");
  app.add_option("--save-inputs", o.save_inputs, "write the inputs as DIR/input_<i>.npy")->type_name("DIR");
  app.add_flag("--profile", o.profile, "time one more run node by node and print the time per operator type");
  app.add_flag("--json", o.json, "print one JSON object instead of the tables");
  app.add_flag("--allow-nonfinite", o.allow_nonfinite,
               "do not stop when a node makes NaN or infinity out of finite values (default: stop and name it)");
  app.footer("Exit status: 0 success, 1 failure (one line on stderr naming the file, node and problem), 2 usage error.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return mq::cli::usage_error(tool, e.what());
  }
  return run(o);
}
