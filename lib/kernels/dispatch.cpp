// Picks the kernel implementation once per process; the one place that reads MQ_KERNELS.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kernels/kernels.h"

namespace mq::kernels {

kernel_selection select_kernels(const char* env_value) {
  const std::string_view value = env_value == nullptr ? std::string_view{} : env_value;
  if (value.empty() || value == "eigen") return {&eigen_kernels(), {}};
  if (value == "reference") return {&reference_kernels(), {}};
  return {&reference_kernels(), "libmodelquant: warning: MQ_KERNELS='" + std::string(value) +
                                    "' is not 'eigen' or 'reference'; using the reference kernels"};
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
