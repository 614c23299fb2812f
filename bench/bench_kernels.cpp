// Throughput of the quantization kernels, reference vs Eigen side by side, in bytes of float32
// input per second, next to two baselines over the same bytes: memcpy and a plain streaming read.
// Matrices are row-major [rows, cols] with rows = cols = the benchmark argument: 4096 (64 MiB, far
// beyond the caches: memory-bound) and 512 (1 MiB, fits L2: compute-bound). The quantize kernels
// run twice: plain (null error_sums) and `measured` (accumulating the round-trip error, as
// quantize_weight calls them).
//
//
// Then the float kernels of the executor (kernels/gemm.h), for every float table this CPU runs:
// GFLOP/s of the convolution shapes of yolov8n_640 as implicit im2col products (bm_conv), a dense
// product (bm_gemm), depthwise convolutions (bm_depthwise) and the element-wise functions
// (bm_elementwise, in elements per second). Those report CPU time, not wall time: on a shared
// machine another process's time slice would otherwise count as ours.
//
//   bench_kernels --benchmark_min_time=0.05
//   bench_kernels --benchmark_filter='bm_conv'      # the float products only
#include <benchmark/benchmark.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "kernels/gemm.h"
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

// ---- the float kernels (kernels/gemm.h) ----

using mq::kernels::activation;
using mq::kernels::activation_kind;
using mq::kernels::float_kernel_table;

// Every float table this CPU runs, the reference one last (only on small shapes: it is slow).
std::vector<const float_kernel_table*> float_tables() {
  std::vector<const float_kernel_table*> t;
  if (const auto* avx512 = mq::kernels::avx512_float_kernels()) t.push_back(avx512);
  if (const auto* avx2 = mq::kernels::avx2_float_kernels()) t.push_back(avx2);
  t.push_back(&mq::kernels::eigen_float_kernels());
  return t;
}

std::vector<float> gaussian(std::size_t count, unsigned seed) {
  std::vector<float> v(count);
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  for (float& x : v) x = gauss(rng);
  return v;
}

// 64-byte aligned floats (packed A must be).
struct aligned_buffer {
  float* data;
  explicit aligned_buffer(std::size_t bytes)
      : data(static_cast<float*>(std::aligned_alloc(64, (std::max<std::size_t>(bytes, 64) + 63) / 64 * 64))) {}
  aligned_buffer(const aligned_buffer&) = delete;
  aligned_buffer& operator=(const aligned_buffer&) = delete;
  ~aligned_buffer() { std::free(data); }
};

// A convolution as the executor runs it: weights packed once, then the implicit im2col product
// over one image with the bias and the activation fused.
struct conv_shape {
  const char* name;
  std::int64_t in_channels, size, kernel, stride, out_channels;
};

// yolov8n_640's convolutions (pad = kernel / 2): the stem, the stride-2 downsamplings, the 3x3
// bottleneck and head convolutions, the 1x1 mixing ones, plus 16->32 3x3 at 320x320.
const conv_shape conv_shapes[] = {
    {"3x3_3to16_s2_640", 3, 640, 3, 2, 16},          // M16 K27 N102400
    {"3x3_16to32_320", 16, 320, 3, 1, 32},           // M32 K144 N102400
    {"3x3_32to64_s2_160", 32, 160, 3, 2, 64},        // M64 K288 N6400
    {"3x3_64to64_160", 64, 160, 3, 1, 64},           // M64 K576 N25600
    {"3x3_64to80_80", 64, 80, 3, 1, 80},             // M80 K576 N6400
    {"3x3_128to128_40", 128, 40, 3, 1, 128},         // M128 K1152 N1600
    {"3x3_128to256_20", 128, 20, 3, 1, 256},         // M256 K1152 N400
    {"1x1_32to32_160", 32, 160, 1, 1, 32},           // M32 K32 N25600
    {"1x1_128to64_80", 128, 80, 1, 1, 64},           // M64 K128 N6400
    {"1x1_384to256_20", 384, 20, 1, 1, 256},         // M256 K384 N400
};

void bm_conv(benchmark::State& state, const float_kernel_table* t, conv_shape s, activation_kind act) {
  mq::kernels::b_im2col g;
  g.channels = s.in_channels;
  g.height = g.width = s.size;
  g.kh = g.kw = s.kernel;
  g.stride_h = g.stride_w = s.stride;
  g.pad_top = g.pad_left = s.kernel / 2;
  g.out_h = g.out_w = (s.size + 2 * (s.kernel / 2) - s.kernel) / s.stride + 1;
  const std::vector<float> x = gaussian(static_cast<std::size_t>(s.in_channels * s.size * s.size), 1);
  g.x = x.data();
  const std::int64_t m = s.out_channels, k = s.in_channels * s.kernel * s.kernel, n = g.out_h * g.out_w;
  const std::vector<float> w = gaussian(static_cast<std::size_t>(m * k), 2);
  const std::vector<float> bias = gaussian(static_cast<std::size_t>(m), 3);
  aligned_buffer packed(t->packed_a_bytes(m, k));
  t->pack_a(m, k, mq::kernels::a_dense{w.data(), k, false}, packed.data);
  std::vector<float> y(static_cast<std::size_t>(m * n));
  mq::kernels::gemm_args a;
  a.m = m;
  a.n = n;
  a.k = k;
  a.n_begin = 0;
  a.n_end = n;
  a.c = y.data();
  a.ldc = n;
  a.bias = bias.data();
  a.act = {act, 0, 0};
  for (auto _ : state) {
    t->gemm_packed_im2col(packed.data, g, a);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(m * k * n) * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
  state.SetLabel("M" + std::to_string(m) + " K" + std::to_string(k) + " N" + std::to_string(n));
}

// C = A B with both dense (MatMul of two activations: A packed inside every call).
void bm_gemm(benchmark::State& state, const float_kernel_table* t) {
  const std::int64_t n = state.range(0);
  const std::vector<float> a = gaussian(static_cast<std::size_t>(n * n), 4), b = gaussian(static_cast<std::size_t>(n * n), 5);
  std::vector<float> c(static_cast<std::size_t>(n * n));
  mq::kernels::gemm_args g;
  g.m = g.n = g.k = n;
  g.n_begin = 0;
  g.n_end = n;
  g.c = c.data();
  g.ldc = n;
  for (auto _ : state) {
    t->gemm(mq::kernels::a_dense{a.data(), n, false}, mq::kernels::b_dense{b.data(), n, false}, g);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(n * n * n) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Depthwise convolutions of mobile models: 3x3 and 5x5, stride 1 and 2, pad kernel / 2.
void bm_depthwise(benchmark::State& state, const float_kernel_table* t, std::int64_t channels, std::int64_t size,
                  std::int64_t kernel, std::int64_t stride) {
  mq::kernels::b_im2col g;
  g.channels = channels;
  g.height = g.width = size;
  g.kh = g.kw = kernel;
  g.stride_h = g.stride_w = stride;
  g.pad_top = g.pad_left = kernel / 2;
  g.out_h = g.out_w = (size + 2 * (kernel / 2) - kernel) / stride + 1;
  const std::vector<float> x = gaussian(static_cast<std::size_t>(channels * size * size), 6);
  g.x = x.data();
  const std::vector<float> w = gaussian(static_cast<std::size_t>(channels * kernel * kernel), 7);
  const std::vector<float> bias = gaussian(static_cast<std::size_t>(channels), 8);
  std::vector<float> y(static_cast<std::size_t>(channels * g.out_h * g.out_w));
  for (auto _ : state) {
    t->depthwise_conv(g, w.data(), bias.data(), {activation_kind::relu, 0, 0}, y.data(), 0, channels);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(channels * g.out_h * g.out_w * kernel * kernel) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

// y = f(x) over 64 Ki floats (in L2), in elements per second.
void bm_elementwise(benchmark::State& state, const float_kernel_table* t, int which) {
  std::vector<float> x = gaussian(65536, 9);
  for (float& v : x) v *= 4;
  std::vector<float> y(x.size());
  const auto n = static_cast<std::int64_t>(x.size());
  for (auto _ : state) {
    switch (which) {
      case 0: t->exp(x.data(), y.data(), n); break;
      case 1: t->sigmoid(x.data(), y.data(), n); break;
      case 2: t->tanh(x.data(), y.data(), n); break;
      case 3: t->erf(x.data(), y.data(), n); break;
      default: t->apply_activation({activation_kind::silu, 0, 0}, x.data(), y.data(), n); break;
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * n);
}

// Registered at start-up for every table the CPU runs.
const bool float_benchmarks_registered = [] {
  std::vector<const float_kernel_table*> tables = float_tables();
  for (const float_kernel_table* t : tables) {
    const std::string table = t->name;
    for (const conv_shape& s : conv_shapes) {
      benchmark::RegisterBenchmark(("bm_conv/" + table + "/" + s.name).c_str(), bm_conv, t, s, activation_kind::none)
          ->Unit(benchmark::kMillisecond);
    }
    for (const conv_shape& s : {conv_shapes[3], conv_shapes[7]}) {
      benchmark::RegisterBenchmark(("bm_conv/" + table + "/" + s.name + "_silu").c_str(), bm_conv, t, s, activation_kind::silu)
          ->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark(("bm_gemm/" + table).c_str(), bm_gemm, t)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("bm_depthwise/" + table + "/3x3_96_112").c_str(), bm_depthwise, t, 96, 112, 3, 1)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("bm_depthwise/" + table + "/3x3s2_96_112").c_str(), bm_depthwise, t, 96, 112, 3, 2)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("bm_depthwise/" + table + "/5x5_240_28").c_str(), bm_depthwise, t, 240, 28, 5, 1)
        ->Unit(benchmark::kMillisecond);
    const char* names[] = {"exp", "sigmoid", "tanh", "erf", "silu"};
    for (int f = 0; f < 5; ++f) {
      benchmark::RegisterBenchmark(("bm_elementwise/" + table + "/" + names[f]).c_str(), bm_elementwise, t, f);
    }
  }
  // The reference on one small shape, for scale.
  const float_kernel_table* ref_table = &mq::kernels::reference_float_kernels();
  benchmark::RegisterBenchmark("bm_conv/reference/1x1_384to256_20", bm_conv, ref_table, conv_shapes[9], activation_kind::none)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("bm_elementwise/reference/sigmoid", bm_elementwise, ref_table, 1);
  return true;
}();

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
