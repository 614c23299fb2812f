#include "passes/weight_jobs.h"
#include "util/cpu.h"

#include <sched.h>

#include <algorithm>
#include <exception>
#include <new>
#include <string>
#include <system_error>

namespace mq::passes {
namespace {

// A job that throws (out of memory) fails like any other instead of ending the process, which is
// what an exception escaping a worker thread would do.
result<quant::quantized_weight> run_safely(const weight_jobs::work& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return fail(errc::internal, "out of memory while quantizing a weight");
  } catch (const std::exception& e) {
    return fail(errc::internal, std::string("quantizing a weight failed: ") + e.what());
  }
}

}  // namespace

weight_jobs::weight_jobs(unsigned threads, std::size_t memory_budget)
    : threads_(threads != 0 ? threads : util::usable_cores()), budget_(memory_budget) {}

weight_jobs::~weight_jobs() {
  for (auto& w : workers_) w.request_stop();
  workers_.clear();  // joins; a worker finishes its current job first
}

std::size_t weight_jobs::submit(work w, std::size_t bytes) {
  std::unique_lock lock(mutex_);
  // Memory first: while the jobs queued or running hold more than the budget, the caller runs
  // queued jobs itself, or waits for running ones; a single job may always exceed it.
  while (held_ > 0 && held_ + bytes > budget_) {
    if (next_ < jobs_.size()) {
      run_oldest(lock);
    } else {
      finished_.wait(lock);
    }
  }
  jobs_.push_back({std::move(w), std::nullopt, bytes});
  held_ += bytes;
  const std::size_t id = jobs_.size() - 1;
  // A worker is started only when no idle one can take the job: a small model on a many-core
  // machine does not pay for threads it cannot use. When the system refuses a thread, the jobs
  // run on the threads there are (the caller's at least).
  const std::size_t waiting = jobs_.size() - next_;
  if (waiting > idle_ && workers_.size() + 1 < threads_) {
    try {
      workers_.emplace_back([this](std::stop_token stop) { worker_loop(stop); });
    } catch (const std::system_error&) {
      threads_ = static_cast<unsigned>(workers_.size()) + 1;
    }
  }
  if (waiting > workers_.size()) {
    run_oldest(lock);
  } else {
    queued_.notify_one();
  }
  return id;
}

void weight_jobs::wait_all() {
  std::unique_lock lock(mutex_);
  while (next_ < jobs_.size()) run_oldest(lock);
  finished_.wait(lock, [&] { return running_ == 0; });
}

std::size_t weight_jobs::started_workers() {
  std::lock_guard<std::mutex> lock(mutex_);
  return workers_.size();
}

result<quant::quantized_weight>& weight_jobs::result_of(std::size_t id) { return *jobs_.at(id).out; }

void weight_jobs::worker_loop(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_;
    (void)queued_.wait(lock, stop, [&] { return next_ < jobs_.size(); });
    --idle_;
    // wait() returns the predicate even when stopped: check the stop first, so that jobs not
    // started when the owner is destroyed (after an error) are dropped, not run.
    if (stop.stop_requested()) return;
    run_oldest(lock);
  }
}

void weight_jobs::run_oldest(std::unique_lock<std::mutex>& lock) {
  job& j = jobs_[next_++];
  ++running_;
  const work fn = std::move(j.fn);
  lock.unlock();
  auto out = run_safely(fn);
  lock.lock();
  j.out = std::move(out);
  --running_;
  held_ -= j.bytes;
  finished_.notify_all();
}

}  // namespace mq::passes
