// The threads one session runs its kernels on: a fixed set of workers and a parallel_for that
// splits a range into one contiguous chunk per thread (the calling thread takes the first).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace mq::exec {

class thread_pool {
 public:
  /// `threads` counts the calling thread: 1 runs everything inline (no worker is started).
  explicit thread_pool(unsigned threads);
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool();

  unsigned threads() const noexcept { return threads_; }

  /// Calls fn(begin, end) over [0, n) split into at most threads() chunks of at least `grain`
  /// items, and returns when every chunk is done. Chunks are contiguous and in order, so a kernel
  /// gets the same split (and the same result) for the same n and thread count. Not reentrant:
  /// fn must not call parallel_for on the same pool (nested calls run inline).
  void parallel_for(std::int64_t n, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& fn);

  /// The same with an explicit chunk count (at most threads()); fn(chunk, begin, end).
  void parallel_chunks(std::int64_t n, unsigned chunks,
                       const std::function<void(unsigned, std::int64_t, std::int64_t)>& fn);

 private:
  struct impl;
  unsigned threads_;
  std::unique_ptr<impl> impl_;
};

/// Threads for a requested count: 0 means one per core the process may run on (CPU affinity).
unsigned resolve_threads(unsigned requested) noexcept;

}  // namespace mq::exec
