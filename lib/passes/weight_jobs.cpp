#include "passes/weight_jobs.h"

#include <algorithm>
#include <exception>
#include <new>
#include <string>

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

weight_jobs::weight_jobs(unsigned threads)
    : threads_(threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency())) {}

weight_jobs::~weight_jobs() {
  for (auto& w : workers_) w.request_stop();
  workers_.clear();  // joins; a worker finishes its current job first
}

std::size_t weight_jobs::submit(work w) {
  std::unique_lock lock(mutex_);
  jobs_.push_back({std::move(w), std::nullopt});
  const std::size_t id = jobs_.size() - 1;
  // A worker is started only when no idle one can take the job: a small model on a many-core
  // machine does not pay for threads it cannot use.
  const std::size_t waiting = jobs_.size() - next_;
  if (waiting > idle_ && workers_.size() + 1 < threads_) {
    workers_.emplace_back([this](std::stop_token stop) { worker_loop(stop); });
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

result<quant::quantized_weight>& weight_jobs::result_of(std::size_t id) { return *jobs_.at(id).out; }

void weight_jobs::worker_loop(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_;
    const bool got_job = queued_.wait(lock, stop, [&] { return next_ < jobs_.size(); });
    --idle_;
    if (!got_job) return;  // stop requested
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
  finished_.notify_all();
}

}  // namespace mq::passes
