#include "calib/calibrate.h"

#include "util/try.h"

namespace mq::calib {

result<std::map<std::string, tensor_stats>> collect(const mq::model& m, const calibration_data& data,
                                                    const std::vector<std::size_t>& indices,
                                                    const std::set<std::string>& tensors,
                                                    const collect_options& options) {
  session_options so;
  so.threads = options.threads;
  so.fuse = false;
  auto s = MQ_TRY(session::create(m, so));
  std::map<std::string, tensor_stats> stats;
  for (const auto& t : tensors) stats[t];
  const int passes = options.how == method::minmax ? 1 : 2;
  const auto start = std::chrono::steady_clock::now();
  for (int pass = 1; pass <= passes; ++pass) {
    if (pass == 2) {
      for (auto& [name, st] : stats) st.begin_histogram(options.how);
    }
    run_options ro;
    ro.check_finite = true;
    ro.observer = [&](const tensor_ref& t) -> result<void> {
      if (t.type != dtype::float32) return {};
      auto it = stats.find(t.name);
      if (it == stats.end()) return {};
      const auto values = t.as<float>();
      if (pass == 1) it->second.observe_minmax(values);
      else it->second.observe_histogram(values);
      return {};
    };
    std::size_t done = 0;
    for (std::size_t index : indices) {
      auto feeds = data.sample(index, s);
      if (!feeds) return unexpected_error{std::move(feeds).error()};
      auto out = s.run(*feeds, ro);
      if (!out) {
        const auto files = data.files();
        const std::string which = index < files.size() ? "'" + files[index].string() + "'" : "sample " + std::to_string(index);
        return fail(out.error().code, "calibration on " + which + ": " + out.error().message);
      }
      ++done;
      if (options.on_progress) {
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        options.on_progress(progress{pass, passes, done, indices.size(), seconds});
      }
    }
  }
  return stats;
}

}  // namespace mq::calib
