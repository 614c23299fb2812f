// Runs a real program the way a user would (fork/exec), capturing what it prints and how it ends.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace mq::test {

/// How a process ended and what it wrote.
struct process_result {
  int exit_code = -1;      ///< exit status when it exited normally, -1 when a signal ended it
  int term_signal = 0;     ///< the signal that ended it (SIGKILL after a timeout), 0 when it exited
  bool timed_out = false;  ///< killed because it outlived the timeout
  std::string out;         ///< everything written to stdout
  std::string err;         ///< everything written to stderr
};

/// Runs `argv[0]` (a path; PATH is not searched) with arguments `argv`, stdin from /dev/null,
/// stdout and stderr captured. A process still running after `timeout` is killed with SIGKILL.
/// Throws std::runtime_error when the program cannot be started (missing, not executable).
process_result run_process(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = std::chrono::seconds(120));

}  // namespace mq::test
