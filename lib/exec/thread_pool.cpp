#include "exec/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MQ_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define MQ_CPU_RELAX() asm volatile("yield")
#else
#define MQ_CPU_RELAX() ((void)0)
#endif

#include "util/cpu.h"

namespace mq::exec {

unsigned resolve_threads(unsigned requested) noexcept {
  return requested == 0 ? util::usable_cores() : requested;
}

namespace {

// How long a worker keeps polling for the next job before it sleeps, and the caller for the
// workers to finish before it sleeps. A model runs hundreds of small kernels one after the
// other: waking a sleeping thread costs tens of microseconds on every one of them, more than
// many kernels take.
constexpr auto spin_time = std::chrono::microseconds(200);

}  // namespace

// A job is a generation number plus the function. Workers poll the generation for a while,
// then sleep on a condition variable; each runs its own chunk of each generation, then counts
// itself done.
struct thread_pool::impl {
  std::mutex lock;
  std::condition_variable wake;
  std::condition_variable done;
  std::vector<std::jthread> workers;
  std::atomic<std::uint64_t> generation{0};
  std::atomic<unsigned> pending{0};   // workers still running the current generation
  std::atomic<unsigned> sleeping{0};  // workers waiting on `wake`
  std::atomic<bool> caller_sleeping{false};
  std::atomic<bool> stopping{false};
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
      // Poll for the next generation, then sleep.
      const auto until = std::chrono::steady_clock::now() + spin_time;
      while (generation.load(std::memory_order_acquire) == seen && !stopping.load(std::memory_order_relaxed) &&
             std::chrono::steady_clock::now() < until) {
        for (int k = 0; k < 64; ++k) MQ_CPU_RELAX();
      }
      if (generation.load(std::memory_order_acquire) == seen && !stopping.load()) {
        std::unique_lock guard(lock);
        sleeping.fetch_add(1);
        wake.wait(guard, [&] { return stopping.load() || generation.load() != seen; });
        sleeping.fetch_sub(1);
      }
      if (stopping.load()) return;
      seen = generation.load(std::memory_order_acquire);
      const auto* fn = job;
      const std::int64_t count = n;
      const unsigned parts = chunks;
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
      if (pending.fetch_sub(1) == 1 && caller_sleeping.load()) {
        std::lock_guard guard(lock);
        done.notify_one();
      }
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
    impl_->stopping.store(true);
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
  impl& s = *impl_;
  // Workers read the job after they see the new generation (release/acquire on `generation`).
  s.job = &fn;
  s.n = n;
  s.chunks = chunks;
  s.pending.store(static_cast<unsigned>(s.workers.size()), std::memory_order_relaxed);
  {
    std::lock_guard guard(s.lock);  // orders the increment with a worker going to sleep
    s.generation.fetch_add(1, std::memory_order_acq_rel);
  }
  if (s.sleeping.load() != 0) s.wake.notify_all();
  const auto [begin, end] = impl::chunk_range(n, chunks, 0);
  std::exception_ptr failure;
  try {
    fn(0, begin, end);
  } catch (...) {
    failure = std::current_exception();
  }
  const auto until = std::chrono::steady_clock::now() + spin_time;
  while (s.pending.load(std::memory_order_acquire) != 0 && std::chrono::steady_clock::now() < until) {
    for (int k = 0; k < 64; ++k) MQ_CPU_RELAX();
  }
  if (s.pending.load(std::memory_order_acquire) != 0) {
    std::unique_lock guard(s.lock);
    s.caller_sleeping.store(true);
    s.done.wait(guard, [&] { return s.pending.load() == 0; });
    s.caller_sleeping.store(false);
  }
  {
    std::lock_guard guard(s.lock);
    s.job = nullptr;
    if (!failure) failure = s.failure;
    s.failure = nullptr;
  }
  s.busy.store(false);
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
