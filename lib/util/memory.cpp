#include "util/memory.h"

#include <sys/mman.h>

#include <cstdint>

namespace mq::util {

void prefer_huge_pages(const void* p, std::size_t n) noexcept {
  constexpr std::uintptr_t huge = 2u << 20;
  // Below a few huge pages the hint saves little and would only fragment small allocations.
  if (p == nullptr || n < 2 * huge) return;
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + huge - 1) & ~(huge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + n) & ~(huge - 1);
  if (begin < end) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

std::string large_byte_string(std::size_t n) {
  std::string s;
  s.reserve(n);
  prefer_huge_pages(s.data(), n);
  s.resize(n);
  return s;
}

}  // namespace mq::util
