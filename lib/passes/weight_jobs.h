// Weights quantized on several threads while the graph walk goes on (quantize_options::threads).
// A job only computes: it reads weight bytes that nothing changes until the walk is over and
// returns a quant::quantized_weight. The walk's own thread writes every result into the model
// (finish_weights in graph_context.h), so no protobuf object is ever touched by two threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include "mq/result.h"
#include "quant/quant.h"

namespace mq::passes {

class weight_jobs {
 public:
  using work = std::function<result<quant::quantized_weight>()>;

  /// Memory the queued and running jobs may hold before the caller stops queueing more.
  static constexpr std::size_t default_memory_budget = std::size_t{1} << 30;

  /// `threads`: how many threads quantize, the caller's included; 0 means one per core this
  /// process may use (its CPU affinity).
  explicit weight_jobs(unsigned threads, std::size_t memory_budget = default_memory_budget);
  /// Waits for the jobs that are running; jobs not started are dropped.
  ~weight_jobs();
  weight_jobs(const weight_jobs&) = delete;
  weight_jobs& operator=(const weight_jobs&) = delete;

  /// Queues `w`, which holds about `bytes` of memory until it is done (its input copy, if any,
  /// and its output), and returns its id (0, 1, 2 ... in submission order). When more jobs wait
  /// than there are other threads to take them (always, with one thread), the caller runs the
  /// oldest waiting job itself: every core stays busy and only a few jobs wait. While the jobs in
  /// flight hold more than the memory budget, the caller runs or waits for jobs before queueing.
  std::size_t submit(work w, std::size_t bytes = 0);

  /// Runs the jobs not started yet on the calling thread and waits for the others.
  void wait_all();

  /// Job `id`'s result, once wait_all() has returned.
  result<quant::quantized_weight>& result_of(std::size_t id);

  /// The worker threads started so far (the caller's own not counted).
  std::size_t started_workers();

 private:
  struct job {
    work fn;
    std::optional<result<quant::quantized_weight>> out;
    std::size_t bytes = 0;
  };

  void worker_loop(std::stop_token stop);
  void run_oldest(std::unique_lock<std::mutex>& lock);  // needs next_ < jobs_.size()

  unsigned threads_;
  std::size_t budget_;
  std::size_t held_ = 0;                // bytes of the jobs queued or running
  std::mutex mutex_;
  std::condition_variable_any queued_;  // workers wait here for a job (or stop)
  std::condition_variable finished_;    // wait_all waits here for the running jobs
  std::deque<job> jobs_;                // a deque: references stay valid as jobs are added
  std::size_t next_ = 0;                // the oldest job not started yet
  std::size_t running_ = 0;
  std::size_t idle_ = 0;                // workers waiting for a job
  std::vector<std::jthread> workers_;   // up to threads - 1, started as jobs need them
};

}  // namespace mq::passes
