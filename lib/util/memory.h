// Large buffers that are cheap to fill the first time.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mq::util {

/// Asks the kernel to back the 2 MiB-aligned part of [p, p + n) with transparent huge pages
/// (madvise MADV_HUGEPAGE), before the memory is first touched. The first write to fresh memory
/// costs a page fault and zeroing per 4 KiB page, which for a 100 MB model is a large part of a
/// whole run; huge pages cut the faults 512-fold. A hint only: ignored when the system has THP off.
void prefer_huge_pages(const void* p, std::size_t n) noexcept;

/// A string of `n` zero bytes, backed by huge pages where the system allows it (see above).
std::string large_byte_string(std::size_t n);

/// Gives `v` room for `n` elements without touching the memory; when it has to grow, its content
/// is dropped (callers refill it) and the new memory is backed by huge pages where the system
/// allows it.
template <class T>
void reserve_large(std::vector<T>& v, std::size_t n) {
  if (n <= v.capacity()) return;
  std::vector<T> fresh;
  fresh.reserve(n);
  prefer_huge_pages(fresh.data(), n * sizeof(T));
  v.swap(fresh);
}

}  // namespace mq::util
