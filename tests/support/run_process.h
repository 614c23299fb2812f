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

/// `argv` as it must be started on this machine: behind the emulator named by MQ_TEST_EMULATOR
/// when that is set (the arm64 build under qemu-user, where an emulated program cannot exec
/// another arm64 program by itself), unchanged otherwise.
std::vector<std::string> emulated_argv(std::vector<std::string> argv);

/// Runs `argv[0]` (a path; PATH is not searched) with arguments `argv`, stdin from /dev/null,
/// stdout and stderr captured (through emulated_argv). A process still running after `timeout` is killed with SIGKILL.
/// Throws std::runtime_error when the program cannot be started (missing, not executable).
process_result run_process(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = std::chrono::seconds(120));

}  // namespace mq::test
