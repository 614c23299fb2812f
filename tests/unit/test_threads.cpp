// Thread safety as the headers state it: distinct models can be quantized on different threads
// at once, and const members of one model can be called from several threads at once; and
// quantize_options::threads: weights quantized on several threads give the model and report of
// one thread. The results must be byte-identical to the same work done on one thread. Run under
// the asan preset this also catches data races that corrupt memory.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <latch>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mq/model.h"
#include "mq/quantize.h"
#include "e2e/parity_synthetic_model.h"
#include "passes/weight_jobs.h"
#include "support/temp_dir.h"
#include "support/test_models.h"

namespace {

std::vector<float> wave(std::size_t n, float phase) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(static_cast<float>(i) * 0.37f + phase) * 0.5f;
  return v;
}

onnx::ModelProto matmul_model() {
  auto proto = mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 96] x) => (float[1, 64] y) {
  h = MatMul(x, w1)
  r = Relu(h)
  y = MatMul(r, w2)
}
)ONNX");
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("w1", {96, 128}, wave(96 * 128, 0.1f));
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("w2", {128, 64}, wave(128 * 64, 0.7f));
  return proto;
}

onnx::ModelProto conv_model() {
  auto proto = mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 3, 16, 16] x) => (float[1, 10] y) {
  c = Conv <kernel_shape = [3, 3], pads = [1, 1, 1, 1]> (x, cw)
  p = GlobalAveragePool(c)
  f = Flatten(p)
  y = Gemm <transB = 1> (f, gw)
}
)ONNX");
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("cw", {48, 3, 3, 3}, wave(48 * 27, 1.3f));
  *proto.mutable_graph()->add_initializer() = mq::test::float_tensor("gw", {10, 48}, wave(480, 2.1f));
  return proto;
}

struct outcome {
  bool ok = false;
  std::string error;
  std::size_t quantized = 0;
  std::string bytes;
  std::vector<mq::node_report> nodes;
};

outcome quantize_once(const onnx::ModelProto& proto, const mq::quantize_options& options) {
  outcome out;
  auto m = mq::test::to_model(proto);
  auto r = mq::quantize(m, options);
  if (!r) {
    out.error = r.error().message;
    return out;
  }
  auto bytes = m.serialize();
  if (!bytes) {
    out.error = bytes.error().message;
    return out;
  }
  out.ok = true;
  out.quantized = r->quantized_count;
  out.bytes = std::move(*bytes);
  out.nodes = r->nodes;
  return out;
}

}  // namespace

TEST_CASE("two models quantized on two threads at once match the single-thread results", "[threads]") {
  const auto a = matmul_model();
  const auto b = conv_model();
  mq::quantize_options per_channel;
  per_channel.per_channel = true;
  per_channel.min_elements = 0;  // the test models' weights are small
  mq::quantize_options all;
  all.min_elements = 0;

  // Reference: one thread, one after the other.
  const auto expected_a = quantize_once(a, all);
  const auto expected_b = quantize_once(b, per_channel);
  REQUIRE(expected_a.ok);
  REQUIRE(expected_b.ok);
  REQUIRE(expected_a.quantized == 2);
  REQUIRE(expected_b.quantized == 2);
  REQUIRE(expected_a.bytes != expected_b.bytes);

  constexpr int rounds = 20;
  std::vector<outcome> got_a(rounds), got_b(rounds);
  std::latch start(2);
  std::thread ta([&] {
    start.arrive_and_wait();
    for (auto& o : got_a) o = quantize_once(a, all);
  });
  std::thread tb([&] {
    start.arrive_and_wait();
    for (auto& o : got_b) o = quantize_once(b, per_channel);
  });
  ta.join();
  tb.join();

  for (int i = 0; i < rounds; ++i) {
    INFO("round " << i);
    CHECK(got_a[static_cast<std::size_t>(i)].error == "");
    CHECK(got_b[static_cast<std::size_t>(i)].error == "");
    CHECK(got_a[static_cast<std::size_t>(i)].bytes == expected_a.bytes);
    CHECK(got_b[static_cast<std::size_t>(i)].bytes == expected_b.bytes);
  }
}

TEST_CASE("const members of one model may be called from several threads at once", "[threads]") {
  auto m = mq::test::to_model(matmul_model());
  REQUIRE(mq::quantize(m, {}).has_value());
  const mq::model& shared = m;
  const auto expected = shared.serialize();
  REQUIRE(expected.has_value());

  std::vector<std::string> got(2);
  std::vector<std::size_t> names(2);
  std::latch start(2);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < 3; ++i) {
        auto bytes = shared.serialize();
        got[t] = bytes ? *bytes : std::string("error: ") + bytes.error().message;
        names[t] = shared.initializer_names().size();
        (void)shared.metadata("mq.options");
      }
    });
  }
  for (auto& th : threads) th.join();
  for (std::size_t t = 0; t < 2; ++t) {
    CHECK(got[t] == *expected);
    CHECK(names[t] == shared.initializer_names().size());
  }
}

// ---- quantize_options::threads ----

namespace {

// What must not depend on the thread count: the model's bytes and every report field but time.
outcome quantize_with_threads(const onnx::ModelProto& proto, mq::quantize_options options, unsigned threads) {
  options.target_snr_db = 0;  // the subject is the thread count; the accuracy guard has its own tests
  options.threads = threads;
  return quantize_once(proto, options);
}

// sqnr_db compared bit for bit (NaN equals NaN: "not measured" must stay that).
bool same_sqnr(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_same(const outcome& got, const outcome& expected) {
  CHECK(got.error == expected.error);
  CHECK(got.bytes == expected.bytes);
  REQUIRE(got.nodes.size() == expected.nodes.size());
  for (std::size_t i = 0; i < got.nodes.size(); ++i) {
    const auto& a = got.nodes[i];
    const auto& b = expected.nodes[i];
    INFO("node " << b.node);
    CHECK(a.node == b.node);
    CHECK(a.quantized == b.quantized);
    CHECK(a.format == b.format);
    CHECK(a.reason == b.reason);
    CHECK(a.weight == b.weight);
    CHECK(a.granularity == b.granularity);
    CHECK(a.bytes_before == b.bytes_before);
    CHECK(a.bytes_after == b.bytes_after);
    CHECK(same_sqnr(a.sqnr_db, b.sqnr_db));
  }
}

std::vector<std::pair<std::string, mq::quantize_options>> option_sets() {
  std::vector<std::pair<std::string, mq::quantize_options>> sets;
  mq::quantize_options o;
  o.target_snr_db = 0;  // the guard is tested elsewhere
  o.min_elements = 0;
  sets.emplace_back("auto", o);
  o.format = mq::quant_format::qoperator;  // Gemm transB: transposed in the job
  sets.emplace_back("qoperator", o);
  o.per_channel = true;
  sets.emplace_back("qoperator per channel", o);
  o.format = mq::quant_format::qdq;
  o.weights = mq::weight_type::uint8;
  sets.emplace_back("qdq uint8 per channel", o);
  o.measure_error = false;
  sets.emplace_back("qdq uint8 per channel, not measured", o);
  return sets;
}

// Three MatMuls; `bad` lists the weights (0-2) that hold a NaN.
onnx::ModelProto chain_with_nan(std::vector<int> bad) {
  std::vector<mq::test::named_weight> weights;
  for (int k = 0; k < 3; ++k) {
    auto values = wave(32 * 32, static_cast<float>(k));
    if (std::find(bad.begin(), bad.end(), k) != bad.end()) values[static_cast<std::size_t>(7 + k)] = std::nanf("");
    weights.push_back({"w" + std::to_string(k), values});
  }
  return mq::test::matmul_chain(32, weights);
}

}  // namespace

TEST_CASE("weights quantized on several threads: the model and report of one thread", "[threads]") {
  const auto proto = mq::test::synthetic_parity_model();
  for (const auto& [label, options] : option_sets()) {
    const auto expected = quantize_with_threads(proto, options, 1);
    INFO(label << ": " << expected.error);
    REQUIRE(expected.error.empty());
    REQUIRE(std::count_if(expected.nodes.begin(), expected.nodes.end(), [](const auto& n) { return n.quantized; }) >= 5);
    for (const unsigned threads : {2u, 3u, 8u, 0u}) {
      INFO("threads " << threads);
      for (int round = 0; round < 3; ++round) check_same(quantize_with_threads(proto, options, threads), expected);
    }
  }
}

TEST_CASE("the real models quantize the same on one thread and on every core", "[threads][shared]") {
  const auto models = mq::test::shared_models();
  for (const auto& path : models) {
    onnx::ModelProto proto;
    {
      auto loaded = mq::model::load(path);
      REQUIRE(loaded);
      proto.ParseFromString(loaded->serialize().value());
    }
    for (const auto& [label, options] : option_sets()) {
      INFO(path.filename().string() << ", " << label);
      const auto expected = quantize_with_threads(proto, options, 1);
      check_same(quantize_with_threads(proto, options, 0), expected);
    }
  }
}

TEST_CASE("with several threads the error is the first bad weight in walk order", "[threads]") {
  for (const unsigned threads : {1u, 2u, 4u}) {
    for (const auto& bad : std::vector<std::vector<int>>{{1}, {1, 2}, {0, 2}, {2}}) {
      INFO("threads " << threads << ", first bad weight w" << bad[0]);
      for (int round = 0; round < 5; ++round) {
        const auto r = quantize_with_threads(chain_with_nan(bad), [] {
          mq::quantize_options o;
          o.target_snr_db = 0;  // the guard is tested elsewhere
          o.min_elements = 0;
          return o;
        }(), threads);
        CHECK_THAT(r.error, Catch::Contains("'w" + std::to_string(bad[0]) + "'") &&
                                Catch::StartsWith("node 'MatMul#" + std::to_string(bad[0]) + "' (MatMul)"));
      }
    }
  }
}

TEST_CASE("weight_jobs: results by id, every job run once, on any number of threads", "[threads]") {
  for (const unsigned threads : {1u, 2u, 5u, 0u}) {
    INFO("threads " << threads);
    std::atomic<int> runs{0};
    mq::passes::weight_jobs jobs(threads);
    std::vector<std::size_t> ids;
    for (int i = 0; i < 40; ++i) {
      ids.push_back(jobs.submit([i, &runs]() -> mq::result<mq::quant::quantized_weight> {
        ++runs;
        if (i % 7 == 3) return mq::fail(mq::errc::numeric, "job " + std::to_string(i) + " failed");
        mq::quant::quantized_weight q;
        q.data = std::string(static_cast<std::size_t>(i) * 1000, static_cast<char>(i));
        q.scales = {static_cast<float>(i)};
        return q;
      }));
    }
    jobs.wait_all();
    CHECK(runs == 40);
    for (int i = 0; i < 40; ++i) {
      const auto id = ids[static_cast<std::size_t>(i)];
      CHECK(id == static_cast<std::size_t>(i));
      auto& r = jobs.result_of(id);
      if (i % 7 == 3) {
        REQUIRE_FALSE(r);
        CHECK(r.error().message == "job " + std::to_string(i) + " failed");
      } else {
        REQUIRE(r);
        CHECK(r->data == std::string(static_cast<std::size_t>(i) * 1000, static_cast<char>(i)));
        CHECK(r->scales == std::vector<float>{static_cast<float>(i)});
      }
    }
  }
}

TEST_CASE("weight_jobs: a job that throws fails instead of ending the process", "[threads]") {
  for (const unsigned threads : {1u, 2u}) {
    mq::passes::weight_jobs jobs(threads);
    const auto thrower = jobs.submit([]() -> mq::result<mq::quant::quantized_weight> { throw std::bad_alloc(); });
    const auto other = jobs.submit([]() -> mq::result<mq::quant::quantized_weight> {
      throw std::runtime_error("boom");
    });
    const auto fine = jobs.submit([]() -> mq::result<mq::quant::quantized_weight> { return mq::quant::quantized_weight{}; });
    jobs.wait_all();
    REQUIRE_FALSE(jobs.result_of(thrower));
    CHECK(jobs.result_of(thrower).error().code == mq::errc::internal);
    CHECK_THAT(jobs.result_of(thrower).error().message, Catch::Contains("out of memory"));
    REQUIRE_FALSE(jobs.result_of(other));
    CHECK_THAT(jobs.result_of(other).error().message, Catch::Contains("boom"));
    CHECK(jobs.result_of(fine));
  }
}

TEST_CASE("weight_jobs: destroyed with jobs queued, it waits for running ones and drops the rest", "[threads]") {
  // Two threads: the worker takes job A, which blocks until `release`; job B then waits in the
  // queue (one waiting job is not more than the one worker, so the caller does not run it). The
  // owner is destroyed meanwhile, as after an error: A must finish, B must never start.
  std::latch a_running(1);
  std::latch release(1);
  std::atomic<bool> a_done{false};
  std::atomic<bool> b_started{false};
  std::thread releaser;
  {
    mq::passes::weight_jobs jobs(2);
    (void)jobs.submit([&]() -> mq::result<mq::quant::quantized_weight> {
      a_running.count_down();
      release.wait();
      a_done = true;
      return mq::quant::quantized_weight{};
    });
    a_running.wait();
    (void)jobs.submit([&]() -> mq::result<mq::quant::quantized_weight> {
      b_started = true;
      return mq::quant::quantized_weight{};
    });
    // Released only once the destructor below has asked the worker to stop (it waits for A).
    releaser = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      release.count_down();
    });
  }
  releaser.join();
  CHECK(a_done);
  CHECK_FALSE(b_started);
}

TEST_CASE("weight_jobs: the memory budget bounds what the jobs in flight hold", "[threads]") {
  // Budget 100, jobs of 40: at most two in flight (a third would make 120), on 4 threads.
  std::atomic<int> in_flight{0};
  std::atomic<int> most{0};
  {
    mq::passes::weight_jobs jobs(4, 100);
    for (int i = 0; i < 12; ++i) {
      (void)jobs.submit(
          [&]() -> mq::result<mq::quant::quantized_weight> {
            const int now = ++in_flight;
            int seen = most.load();
            while (now > seen && !most.compare_exchange_weak(seen, now)) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            --in_flight;
            return mq::quant::quantized_weight{};
          },
          40);
    }
    jobs.wait_all();
  }
  CHECK(most <= 2);
  CHECK(most >= 1);
  // A single job over the budget still runs.
  mq::passes::weight_jobs small(2, 10);
  const auto id = small.submit([]() -> mq::result<mq::quant::quantized_weight> { return mq::quant::quantized_weight{}; }, 1000);
  small.wait_all();
  CHECK(small.result_of(id).has_value());
}

TEST_CASE("weight_jobs: threads are started only as jobs need them", "[threads]") {
  const auto tasks = [] {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/task"),
                                                  std::filesystem::directory_iterator{}));
  };
  const std::size_t before = tasks();
  std::latch running(2);
  std::latch release(1);
  std::size_t during = 0;
  {
    mq::passes::weight_jobs jobs(16);
    for (int i = 0; i < 2; ++i) {
      (void)jobs.submit([&]() -> mq::result<mq::quant::quantized_weight> {
        running.count_down();
        release.wait();
        return mq::quant::quantized_weight{};
      });
    }
    running.wait();  // both jobs run, each on a worker of its own
    during = tasks();
    CHECK(jobs.started_workers() == 2);
    release.count_down();
    jobs.wait_all();
  }
  // The process's own count too, natively: under qemu-user (the arm64 preset) the emulator's own
  // threads come and go in /proc/self/task.
  const char* emulator = std::getenv("MQ_TEST_EMULATOR");
  if (emulator == nullptr || *emulator == 0) CHECK(during == before + 2);  // not 15 workers for 2 jobs
}

TEST_CASE("large weights read in place from the file, aligned or not: every thread count gives one model",
          "[threads]") {
  // Weights of 512 x 512 floats (1 MiB): over the 64 KiB above which the loader reads tensors in
  // place from the mapped file, and over the 256 KiB above which the AVX2 kernel streams its
  // output. Names of different lengths put the raw data at different offsets mod 4, so some
  // weights go through the byte kernels. Per tensor and per channel, measured and not.
  const std::vector<std::string> names = {"w", "wa", "wab", "wabc", "wabcd", "wabcde"};
  std::vector<mq::test::named_weight> weights;
  for (std::size_t k = 0; k < names.size(); ++k) {
    weights.push_back({names[k], wave(512 * 512, static_cast<float>(k) * 0.3f)});
  }
  const auto proto = mq::test::matmul_chain(512, weights);
  mq::test::temp_dir dir;
  const auto path = dir.path() / "big.onnx";
  mq::test::write_proto(proto, path);

  std::set<std::size_t> offsets_mod_4;
  {
    auto m = mq::model::load(path);
    REQUIRE(m);
    const std::string file = mq::test::read_bytes(path);
    for (const auto& name : names) {
      auto view = m->initializer(name);
      REQUIRE(view);
      const auto bytes = view->bytes();
      // In place: the bytes are inside the mapped file, at the tensor's offset in it.
      const auto at = file.find(std::string(reinterpret_cast<const char*>(bytes.data()), 64));
      REQUIRE(at != std::string::npos);
      // Mapped in place: the address keeps the file offset's alignment (a copy would not).
      CHECK(reinterpret_cast<std::uintptr_t>(bytes.data()) % 4 == at % 4);
      offsets_mod_4.insert(at % 4);
    }
  }
  REQUIRE(offsets_mod_4.size() >= 2);  // aligned and unaligned weights both present

  for (const bool per_channel : {false, true}) {
    for (const bool measure : {false, true}) {
      INFO("per channel " << per_channel << ", measured " << measure);
      mq::quantize_options o;
      o.target_snr_db = 0;  // the guard is tested elsewhere
      o.per_channel = per_channel;
      o.measure_error = measure;
      std::string expected;
      std::vector<double> expected_sqnr;
      for (const unsigned threads : {1u, 2u, 0u}) {
        INFO("threads " << threads);
        o.threads = threads;
        auto m = mq::model::load(path);
        REQUIRE(m);
        auto r = mq::quantize(*m, o);
        REQUIRE(r);
        CHECK(r->quantized_count == 6);
        auto bytes = m->serialize();
        REQUIRE(bytes);
        std::vector<double> sqnr;
        for (const auto& n : r->nodes) sqnr.push_back(n.sqnr_db);
        if (threads == 1) {
          expected = *bytes;
          expected_sqnr = sqnr;
          continue;
        }
        CHECK(*bytes == expected);
        REQUIRE(sqnr.size() == expected_sqnr.size());
        for (std::size_t i = 0; i < sqnr.size(); ++i) CHECK(same_sqnr(sqnr[i], expected_sqnr[i]));
      }
    }
  }
}

TEST_CASE("a weight read in place at any alignment is transposed correctly for MatMulInteger", "[threads]") {
  // One 256 x 256 weight read by a MatMul ([K, N] as stored) and a Gemm with transB = 1 (stored
  // transposed for MatMulInteger). Per tensor both get the same scale, so the Gemm's bytes must be
  // the MatMul's transposed. Weight names of lengths 1 to 4 move its raw data through every
  // offset mod 4 in the file, so the transpose also reads unaligned bytes in place.
  for (const std::string name : {"g", "gg", "ggg", "gggg"}) {
    INFO("weight '" << name << "'");
    auto proto = mq::test::parse_text_model(R"ONNX(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1, 256] x) => (float[1, 256] y, float[1, 256] z) {
  y = MatMul(x, W)
  z = Gemm <transB = 1> (x, W)
}
)ONNX");
    auto* graph = proto.mutable_graph();
    for (auto& n : *graph->mutable_node()) {
      for (auto& in : *n.mutable_input()) {
        if (in == "W") in = name;
      }
    }
    *graph->add_initializer() = mq::test::float_tensor(name, {256, 256}, wave(256 * 256, 0.9f));
    mq::test::temp_dir dir;
    mq::test::write_proto(proto, dir / "t.onnx");
    auto m = mq::model::load(dir / "t.onnx");
    REQUIRE(m);
    mq::quantize_options o;
    o.target_snr_db = 0;  // the guard is tested elsewhere
    o.format = mq::quant_format::qoperator;
    o.threads = 2;
    auto r = mq::quantize(*m, o);
    REQUIRE(r);
    REQUIRE(r->quantized_count == 2);
    const auto as_stored = m->initializer(name + "_quantized");
    const auto transposed = m->initializer(name + "_quantized_1");
    REQUIRE(as_stored);
    REQUIRE(transposed);
    const auto a = as_stored->bytes();
    const auto t = transposed->bytes();
    REQUIRE(a.size() == 256 * 256);
    REQUIRE(t.size() == 256 * 256);
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < 256; ++i) {
      for (std::size_t j = 0; j < 256; ++j) mismatches += a[i * 256 + j] != t[j * 256 + i];
    }
    CHECK(mismatches == 0);
  }
}
