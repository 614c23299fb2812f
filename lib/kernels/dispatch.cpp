// Picks the kernel implementations once per process, the quantize kernels (kernels.h) and the
// float kernels (gemm.h); the one place that reads MQ_KERNELS.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "mq/version.h"

namespace mq::kernels {

const kernel_table& default_kernels() noexcept {
#if defined(__AVX2__)
  return eigen_kernels();  // the build's own level is AVX2 or higher (MQ_SIMD_FLAGS)
#else
  const kernel_table* avx2 = avx2_kernels();
  return avx2 != nullptr ? *avx2 : eigen_kernels();
#endif
}

kernel_selection select_kernels(const char* env_value) {
  const std::string_view value = env_value == nullptr ? std::string_view{} : env_value;
  if (value.empty()) return {&default_kernels(), {}};
  if (value == "eigen") return {&eigen_kernels(), {}};
  if (value == "reference") return {&reference_kernels(), {}};
  // There is no AVX-512 quantize table: "avx512" (meant for the float kernels) means the fastest.
  if (value == "avx512") return {&default_kernels(), {}};
  if (value == "avx2") {
    if (const kernel_table* avx2 = avx2_kernels()) return {avx2, {}};
    return {&eigen_kernels(), "libmodelquant: warning: MQ_KERNELS='avx2' but this CPU (or build) has no AVX2; "
                              "using the Eigen kernels"};
  }
  return {&reference_kernels(), "libmodelquant: warning: MQ_KERNELS='" + std::string(value) +
                                    "' is not 'eigen', 'avx2', 'avx512' or 'reference'; using the reference kernels"};
}

namespace {

// MQ_KERNELS, read once (both selections use the value seen first).
const char* kernels_setting() {
  static const char* const value = std::getenv("MQ_KERNELS");
  return value;
}

}  // namespace

const kernel_table& active_kernels() {
  // A function-local static: initialized once, thread-safe, and only when first needed.
  static const kernel_table* const table = [] {
    const kernel_selection selection = select_kernels(kernels_setting());
    if (!selection.warning.empty()) std::fprintf(stderr, "%s\n", selection.warning.c_str());
    return selection.table;
  }();
  return *table;
}

const float_kernel_table& default_float_kernels() noexcept {
  if (const float_kernel_table* avx512 = avx512_float_kernels()) return *avx512;
  if (const float_kernel_table* avx2 = avx2_float_kernels()) return *avx2;
  return eigen_float_kernels();
}

float_kernel_selection select_float_kernels(const char* env_value) {
  const std::string_view value = env_value == nullptr ? std::string_view{} : env_value;
  if (value.empty()) return {&default_float_kernels(), {}};
  if (value == "reference") return {&reference_float_kernels(), {}};
  if (value == "eigen") return {&eigen_float_kernels(), {}};
  const float_kernel_table* avx2 = avx2_float_kernels();
  const float_kernel_table* fallback = avx2 != nullptr ? avx2 : &eigen_float_kernels();
  if (value == "avx512") {
    if (const float_kernel_table* avx512 = avx512_float_kernels()) return {avx512, {}};
    return {fallback, "libmodelquant: warning: MQ_KERNELS='avx512' but this CPU (or build) has no AVX-512; "
                      "using the " + std::string(fallback->name) + " float kernels"};
  }
  if (value == "avx2") {
    if (avx2 != nullptr) return {avx2, {}};
    return {&eigen_float_kernels(), "libmodelquant: warning: MQ_KERNELS='avx2' but this CPU (or build) has no "
                                    "AVX2 and FMA; using the eigen float kernels"};
  }
  return {&reference_float_kernels(), "libmodelquant: warning: MQ_KERNELS='" + std::string(value) +
                                          "' is not 'eigen', 'avx2', 'avx512' or 'reference'; using the "
                                          "reference float kernels"};
}

const float_kernel_table& active_float_kernels() {
  static const float_kernel_table* const table = [] {
    const float_kernel_selection selection = select_float_kernels(kernels_setting());
    if (!selection.warning.empty()) std::fprintf(stderr, "%s\n", selection.warning.c_str());
    return selection.table;
  }();
  return *table;
}

}  // namespace mq::kernels

namespace mq {

const char* build_description() noexcept {
#if defined(__x86_64__)
  constexpr const char* arch = "x86_64";
#elif defined(__aarch64__)
  constexpr const char* arch = "aarch64";
#else
  constexpr const char* arch = "generic";
#endif
  // Both selections are made once per process; the text is made once from them.
  static const std::string text = std::string(arch) + "; kernels: " + kernels::active_kernels().name + " (quantize), " +
                                  kernels::active_float_kernels().name + " (float)";
  return text.c_str();
}

}  // namespace mq
