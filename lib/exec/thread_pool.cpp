#include "exec/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "util/cpu.h"

namespace mq::exec {

unsigned resolve_threads(unsigned requested) noexcept {
  return requested == 0 ? util::usable_cores() : requested;
}

// Workers sleep on a condition variable between jobs. A job is a generation number plus the
// function; every worker runs its own chunk of each generation, then counts itself done.
struct thread_pool::impl {
  std::mutex lock;
  std::condition_variable wake;
  std::condition_variable done;
  std::vector<std::jthread> workers;
  std::uint64_t generation = 0;
  unsigned pending = 0;  // workers still running the current generation
  bool stopping = false;
  const std::function<void(unsigned, std::int64_t, std::int64_t)>* job = nullptr;
  std::int64_t n = 0;
  unsigned chunks = 0;
  std::atomic<bool> busy{false};  // a parallel_for is in progress (nested calls run inline)
  std::exception_ptr failure;     // the first exception a worker's chunk threw (out of memory)

  static std::pair<std::int64_t, std::int64_t> chunk_range(std::int64_t n, unsigned chunks, unsigned c) {
    const std::int64_t base = n / chunks;
    const std::int64_t extra = n % chunks;
    const std::int64_t begin = static_cast<std::int64_t>(c) * base + std::min<std::int64_t>(c, extra);
    return {begin, begin + base + (static_cast<std::int64_t>(c) < extra ? 1 : 0)};
  }

  void worker(unsigned index) {
    std::uint64_t seen = 0;
    for (;;) {
      const std::function<void(unsigned, std::int64_t, std::int64_t)>* fn = nullptr;
      std::int64_t count = 0;
      unsigned parts = 0;
      {
        std::unique_lock guard(lock);
        wake.wait(guard, [&] { return stopping || generation != seen; });
        if (stopping) return;
        seen = generation;
        fn = job;
        count = n;
        parts = chunks;
      }
      // Worker `index` (1-based: the caller is chunk 0) runs chunk `index` when there is one.
      if (index < parts) {
        const auto [begin, end] = chunk_range(count, parts, index);
        if (begin < end) {
          try {
            (*fn)(index, begin, end);
          } catch (...) {
            std::lock_guard guard(lock);
            if (!failure) failure = std::current_exception();
          }
        }
      }
      std::lock_guard guard(lock);
      if (--pending == 0) done.notify_one();
    }
  }
};

thread_pool::thread_pool(unsigned threads) : threads_(std::max(1u, threads)), impl_(std::make_unique<impl>()) {
  for (unsigned i = 1; i < threads_; ++i) {
    try {
      impl_->workers.emplace_back([this, i] { impl_->worker(i); });
    } catch (const std::system_error&) {
      break;  // the system refused a thread: run with the ones we have
    }
  }
  threads_ = static_cast<unsigned>(impl_->workers.size()) + 1;
}

thread_pool::~thread_pool() {
  {
    std::lock_guard guard(impl_->lock);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->workers.clear();
}

void thread_pool::parallel_chunks(std::int64_t n, unsigned chunks,
                                  const std::function<void(unsigned, std::int64_t, std::int64_t)>& fn) {
  if (n <= 0) return;
  chunks = std::clamp(chunks, 1u, threads_);
  if (static_cast<std::int64_t>(chunks) > n) chunks = static_cast<unsigned>(n);
  bool expected = false;
  if (chunks == 1 || !impl_->busy.compare_exchange_strong(expected, true)) {
    // One chunk, or a nested call from inside a chunk: run inline, still split the same way.
    for (unsigned c = 0; c < chunks; ++c) {
      const auto [begin, end] = impl::chunk_range(n, chunks, c);
      if (begin < end) fn(c, begin, end);
    }
    return;
  }
  {
    std::lock_guard guard(impl_->lock);
    impl_->job = &fn;
    impl_->n = n;
    impl_->chunks = chunks;
    impl_->pending = static_cast<unsigned>(impl_->workers.size());
    ++impl_->generation;
  }
  impl_->wake.notify_all();
  const auto [begin, end] = impl::chunk_range(n, chunks, 0);
  std::exception_ptr failure;
  try {
    fn(0, begin, end);
  } catch (...) {
    failure = std::current_exception();
  }
  {
    std::unique_lock guard(impl_->lock);
    impl_->done.wait(guard, [&] { return impl_->pending == 0; });
    impl_->job = nullptr;
    if (!failure) failure = impl_->failure;
    impl_->failure = nullptr;
  }
  impl_->busy.store(false);
  // Every chunk has finished: the caller sees the exception as if it had run them all itself.
  if (failure) std::rethrow_exception(failure);
}

void thread_pool::parallel_for(std::int64_t n, std::int64_t grain,
                               const std::function<void(std::int64_t, std::int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<std::int64_t>(grain, 1);
  const std::int64_t by_grain = (n + grain - 1) / grain;
  const unsigned chunks = static_cast<unsigned>(std::min<std::int64_t>(threads_, by_grain));
  parallel_chunks(n, chunks, [&](unsigned, std::int64_t begin, std::int64_t end) { fn(begin, end); });
}

}  // namespace mq::exec
