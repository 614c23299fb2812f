// Picks the kernel implementation once per process; the one place that reads MQ_KERNELS.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kernels/kernels.h"

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
  if (value == "avx2") {
    if (const kernel_table* avx2 = avx2_kernels()) return {avx2, {}};
    return {&eigen_kernels(), "libmodelquant: warning: MQ_KERNELS='avx2' but this CPU (or build) has no AVX2; "
                              "using the Eigen kernels"};
  }
  return {&reference_kernels(), "libmodelquant: warning: MQ_KERNELS='" + std::string(value) +
                                    "' is not 'eigen', 'avx2' or 'reference'; using the reference kernels"};
}

const kernel_table& active_kernels() {
  // A function-local static: initialized once, thread-safe, and only when first needed.
  static const kernel_table* const table = [] {
    const kernel_selection selection = select_kernels(std::getenv("MQ_KERNELS"));
    if (!selection.warning.empty()) std::fprintf(stderr, "%s\n", selection.warning.c_str());
    return selection.table;
  }();
  return *table;
}

}  // namespace mq::kernels
