// Throughput of the quantization kernels, reference vs Eigen side by side, in bytes of float32
// input per second, next to two baselines over the same bytes: memcpy and a plain streaming read.
// Matrices are row-major [rows, cols] with rows = cols = the benchmark argument: 4096 (64 MiB, far
// beyond the caches: memory-bound) and 512 (1 MiB, fits L2: compute-bound). The quantize kernels
// run twice: plain (null error_sums) and `measured` (accumulating the round-trip error, as
// quantize_weight calls them).
//
//   bench_kernels --benchmark_min_time=0.05
#include <benchmark/benchmark.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "kernels/kernels.h"
#include "quant/quant.h"

namespace {

using mq::kernels::kernel_table;

// Weight-like data, generated once per size and shared by every benchmark.
const std::vector<float>& matrix(std::size_t n) {
  static std::vector<float> big;
  static std::vector<float> small;
  std::vector<float>& m = n > 1024 ? big : small;
  if (m.size() != n * n) {
    m.resize(n * n);
    std::mt19937 rng(42);
    std::normal_distribution<float> gauss(0.0f, 0.05f);
    for (float& v : m) v = gauss(rng);
  }
  return m;
}

std::size_t side(const benchmark::State& state) { return static_cast<std::size_t>(state.range(0)); }

void set_bytes(benchmark::State& state, std::size_t floats) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(floats * sizeof(float)));
}

// Per-channel parameters the way quantize_weight gets them (int8 symmetric).
struct channel_params {
  std::vector<float> scales;
  std::vector<std::int32_t> zero_points;
};

channel_params params_from(const std::vector<float>& mins, const std::vector<float>& maxs) {
  channel_params p;
  const auto range =
      mq::quant::range_for(mq::quant::qtype::int8, mq::quant::symmetry::symmetric, false);
  for (std::size_t c = 0; c < mins.size(); ++c) {
    const auto cp =
        mq::quant::compute_params(mins[c], maxs[c], range, mq::quant::symmetry::symmetric);
    p.scales.push_back(cp.scale);
    p.zero_points.push_back(cp.zero_point);
  }
  return p;
}

constexpr mq::kernels::clip_range int8_clip{-128, 127};

// The accumulator a quantize benchmark passes: `err` reset to zero (as quantize_weight starts
// each tensor), or null for the plain kernel.
mq::kernels::error_sums* errors(mq::kernels::error_sums& err, bool measure) {
  if (!measure) return nullptr;
  err = {};
  return &err;
}

// ---- baselines ----

void bm_memcpy(benchmark::State& state) {
  const auto& x = matrix(side(state));
  std::vector<float> out(x.size());
  for (auto _ : state) {
    std::memcpy(out.data(), x.data(), x.size() * sizeof(float));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, x.size());
}

// Sums the float bits as integers: integer addition is associative, so the compiler vectorizes it
// and the loop runs at read bandwidth (a float sum would be one serial dependency chain).
void bm_read_sum(benchmark::State& state) {
  const auto& x = matrix(side(state));
  for (auto _ : state) {
    std::uint32_t sum = 0;
    for (const float v : x) sum += std::bit_cast<std::uint32_t>(v);
    benchmark::DoNotOptimize(sum);
  }
  set_bytes(state, x.size());
}

// ---- kernels ----

void bm_minmax(benchmark::State& state, const kernel_table* k) {
  const auto& x = matrix(side(state));
  for (auto _ : state) benchmark::DoNotOptimize(k->minmax(x));
  set_bytes(state, x.size());
}

void bm_minmax_columns(benchmark::State& state, const kernel_table* k) {
  const std::size_t n = side(state);
  const auto& x = matrix(n);
  std::vector<float> mins(n), maxs(n);
  for (auto _ : state) {
    benchmark::DoNotOptimize(k->minmax_columns(x.data(), n, n, mins.data(), maxs.data()));
    benchmark::ClobberMemory();
  }
  set_bytes(state, x.size());
}

void bm_minmax_rows(benchmark::State& state, const kernel_table* k) {
  const std::size_t n = side(state);
  const auto& x = matrix(n);
  std::vector<float> mins(n), maxs(n);
  for (auto _ : state) {
    benchmark::DoNotOptimize(k->minmax_rows(x.data(), n, n, mins.data(), maxs.data()));
    benchmark::ClobberMemory();
  }
  set_bytes(state, x.size());
}

void bm_quantize(benchmark::State& state, const kernel_table* k, bool measure) {
  const auto& x = matrix(side(state));
  std::vector<std::uint8_t> out(x.size());
  mq::kernels::error_sums err;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        k->quantize(x, 0.0015f, 0, int8_clip, out.data(), errors(err, measure)));
    benchmark::ClobberMemory();
  }
  set_bytes(state, x.size());
}

void bm_quantize_columns(benchmark::State& state, const kernel_table* k, bool measure) {
  const std::size_t n = side(state);
  const auto& x = matrix(n);
  std::vector<float> mins(n), maxs(n);
  (void)k->minmax_columns(x.data(), n, n, mins.data(), maxs.data());
  const channel_params p = params_from(mins, maxs);
  std::vector<std::uint8_t> out(x.size());
  mq::kernels::error_sums err;
  for (auto _ : state) {
    benchmark::DoNotOptimize(k->quantize_columns(x.data(), n, n, p.scales.data(),
                                                 p.zero_points.data(), int8_clip, out.data(),
                                                 errors(err, measure)));
    benchmark::ClobberMemory();
  }
  set_bytes(state, x.size());
}

// The byte kernels on the same matrix stored one byte past a float boundary (how a weight's
// raw_data often sits in a model file).
struct unaligned_matrix {
  std::vector<std::byte> storage;
  explicit unaligned_matrix(const std::vector<float>& x) : storage(x.size() * sizeof(float) + 1) {
    std::memcpy(storage.data() + 1, x.data(), x.size() * sizeof(float));
  }
  const std::byte* data() const { return storage.data() + 1; }
};

void bm_minmax_bytes(benchmark::State& state, const kernel_table* k) {
  const auto& x = matrix(side(state));
  const unaligned_matrix bytes(x);
  for (auto _ : state) benchmark::DoNotOptimize(k->minmax_bytes(bytes.data(), x.size()));
  set_bytes(state, x.size());
}

void bm_minmax_columns_bytes(benchmark::State& state, const kernel_table* k) {
  const std::size_t n = side(state);
  const auto& x = matrix(n);
  const unaligned_matrix bytes(x);
  std::vector<float> mins(n), maxs(n);
  for (auto _ : state) {
    benchmark::DoNotOptimize(k->minmax_columns_bytes(bytes.data(), n, n, mins.data(), maxs.data()));
    benchmark::ClobberMemory();
  }
  set_bytes(state, x.size());
}

void bm_quantize_bytes(benchmark::State& state, const kernel_table* k) {
  const auto& x = matrix(side(state));
  const unaligned_matrix bytes(x);
  std::vector<std::uint8_t> out(x.size());
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        k->quantize_bytes(bytes.data(), x.size(), 0.0015f, 0, int8_clip, out.data(), nullptr));
    benchmark::ClobberMemory();
  }
  set_bytes(state, x.size());
}

void bm_quantize_columns_bytes(benchmark::State& state, const kernel_table* k) {
  const std::size_t n = side(state);
  const auto& x = matrix(n);
  const unaligned_matrix bytes(x);
  std::vector<float> mins(n), maxs(n);
  (void)k->minmax_columns(x.data(), n, n, mins.data(), maxs.data());
  const channel_params p = params_from(mins, maxs);
  std::vector<std::uint8_t> out(x.size());
  for (auto _ : state) {
    benchmark::DoNotOptimize(k->quantize_columns_bytes(bytes.data(), n, n, p.scales.data(),
                                                       p.zero_points.data(), int8_clip,
                                                       out.data(), nullptr));
    benchmark::ClobberMemory();
  }
  set_bytes(state, x.size());
}

void bm_quantize_rows(benchmark::State& state, const kernel_table* k, bool measure) {
  const std::size_t n = side(state);
  const auto& x = matrix(n);
  std::vector<float> mins(n), maxs(n);
  (void)k->minmax_rows(x.data(), n, n, mins.data(), maxs.data());
  const channel_params p = params_from(mins, maxs);
  std::vector<std::uint8_t> out(x.size());
  mq::kernels::error_sums err;
  for (auto _ : state) {
    benchmark::DoNotOptimize(k->quantize_rows(x.data(), n, n, p.scales.data(), p.zero_points.data(),
                                              int8_clip, out.data(), errors(err, measure)));
    benchmark::ClobberMemory();
  }
  set_bytes(state, x.size());
}

// The goal metric: per-channel (columns of [K, N], e.g. MatMul B on axis 1) min/max, parameters
// and quantization of the whole matrix; compare with memcpy of the same bytes.
void bm_per_channel_pipeline(benchmark::State& state, const kernel_table* k) {
  const std::size_t n = side(state);
  const auto& x = matrix(n);
  std::vector<float> mins(n), maxs(n);
  std::vector<std::uint8_t> out(x.size());
  for (auto _ : state) {
    (void)k->minmax_columns(x.data(), n, n, mins.data(), maxs.data());
    const channel_params p = params_from(mins, maxs);
    benchmark::DoNotOptimize(k->quantize_columns(
        x.data(), n, n, p.scales.data(), p.zero_points.data(), int8_clip, out.data(), nullptr));
    benchmark::ClobberMemory();
  }
  set_bytes(state, x.size());
}

// quantize_weight end to end (active kernels, MQ_KERNELS): adds layout handling, the output
// buffer and the SQNR / max error from the kernels' sums.
void bm_quantize_weight_per_channel(benchmark::State& state) {
  const std::size_t n = side(state);
  const auto& x = matrix(n);
  const std::vector<std::int64_t> dims = {static_cast<std::int64_t>(n),
                                          static_cast<std::int64_t>(n)};
  mq::quant::weight_options o;
  o.per_channel = true;
  o.axis = 1;
  for (auto _ : state) {
    auto q = mq::quant::quantize_weight(x, dims, o, "bench");
    benchmark::DoNotOptimize(q);
  }
  set_bytes(state, x.size());
}

const kernel_table* ref = &mq::kernels::reference_kernels();
const kernel_table* eig = &mq::kernels::eigen_kernels();
// The AVX2 table, or the Eigen one on a CPU without AVX2 (its rows then repeat the Eigen ones).
const kernel_table* avx = mq::kernels::avx2_kernels() != nullptr ? mq::kernels::avx2_kernels() : eig;

void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(4096)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(bm_memcpy)->Apply(sizes);
BENCHMARK(bm_read_sum)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax, reference, ref)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax, eigen, eig)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax_columns, reference, ref)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax_columns, eigen, eig)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax_rows, reference, ref)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax_rows, eigen, eig)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize, reference, ref, false)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize, reference_measured, ref, true)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize, eigen, eig, false)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize, eigen_measured, eig, true)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_columns, reference, ref, false)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_columns, reference_measured, ref, true)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_columns, eigen, eig, false)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_columns, eigen_measured, eig, true)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_rows, reference, ref, false)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_rows, reference_measured, ref, true)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_rows, eigen, eig, false)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_rows, eigen_measured, eig, true)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax, avx2, avx)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax_columns, avx2, avx)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize, avx2, avx, false)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize, avx2_measured, avx, true)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_columns, avx2, avx, false)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_rows, avx2, avx, false)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax_bytes, avx2, avx)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax_columns_bytes, avx2, avx)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_bytes, avx2, avx)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_columns_bytes, avx2, avx)->Apply(sizes);
BENCHMARK_CAPTURE(bm_per_channel_pipeline, avx2, avx)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax_bytes, eigen, eig)->Apply(sizes);
BENCHMARK_CAPTURE(bm_minmax_columns_bytes, eigen, eig)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_bytes, eigen, eig)->Apply(sizes);
BENCHMARK_CAPTURE(bm_quantize_columns_bytes, eigen, eig)->Apply(sizes);
BENCHMARK_CAPTURE(bm_per_channel_pipeline, reference, ref)->Apply(sizes);
BENCHMARK_CAPTURE(bm_per_channel_pipeline, eigen, eig)->Apply(sizes);
BENCHMARK(bm_quantize_weight_per_channel)->Apply(sizes);

BENCHMARK_MAIN();
