#include "support/run_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace mq::test {
namespace {

using steady = std::chrono::steady_clock;

[[noreturn]] void throw_os_error(const std::string& what) {
  throw std::runtime_error("run_process: " + what + ": " + std::strerror(errno));
}

// Both ends of a pipe, closed on destruction. O_CLOEXEC: only the child's dup2 copies survive
// exec, so the parent sees end-of-file exactly when the child (and nothing else) has exited.
class pipe_fds {
 public:
  pipe_fds() {
    std::array<int, 2> fds{};
    if (::pipe2(fds.data(), O_CLOEXEC) != 0) throw_os_error("pipe2");
    read_end = fds[0];
    write_end = fds[1];
  }
  ~pipe_fds() {
    close_read();
    close_write();
  }
  pipe_fds(const pipe_fds&) = delete;
  pipe_fds& operator=(const pipe_fds&) = delete;
  void close_read() noexcept { close_fd(read_end); }
  void close_write() noexcept { close_fd(write_end); }

  int read_end = -1;
  int write_end = -1;

 private:
  static void close_fd(int& fd) noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// In the child between fork and exec: only async-signal-safe calls. When exec fails, errno goes
// back through `status` so the parent can tell "cannot start" from "exited with 127".
[[noreturn]] void exec_child(const std::vector<char*>& args, const pipe_fds& out, const pipe_fds& err,
                             const pipe_fds& status) {
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
  ::dup2(out.write_end, STDOUT_FILENO);
  ::dup2(err.write_end, STDERR_FILENO);
  ::execv(args[0], args.data());
  const int exec_errno = errno;
  [[maybe_unused]] const ssize_t n = ::write(status.write_end, &exec_errno, sizeof exec_errno);
  ::_exit(127);
}

int poll_timeout_ms(steady::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  return static_cast<int>(std::clamp<long long>(left + 1, 0, INT_MAX));
}

// Reads stdout and stderr until both are closed; kills the child once when the deadline passes.
void drain(pid_t pid, int out_fd, int err_fd, steady::time_point deadline, process_result& result) {
  std::array<pollfd, 2> fds{{{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}}};
  const std::array<std::string*, 2> sinks{&result.out, &result.err};
  int open_count = 2;
  while (open_count > 0) {
    if (!result.timed_out && steady::now() >= deadline) {
      ::kill(pid, SIGKILL);
      result.timed_out = true;
    }
    const int n = ::poll(fds.data(), fds.size(), result.timed_out ? -1 : poll_timeout_ms(deadline));
    if (n < 0 && errno != EINTR) throw_os_error("poll");
    for (std::size_t i = 0; n > 0 && i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      std::array<char, 4096> buffer{};
      const ssize_t got = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (got > 0) {
        sinks[i]->append(buffer.data(), static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        fds[i].fd = -1;  // poll ignores negative descriptors
        --open_count;
      }
    }
  }
}

void wait_for(pid_t pid, process_result& result) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw_os_error("waitpid");
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
}

}  // namespace

std::vector<std::string> emulated_argv(std::vector<std::string> argv) {
  const char* emulator = std::getenv("MQ_TEST_EMULATOR");
  if (emulator != nullptr && *emulator != 0) argv.insert(argv.begin(), emulator);
  return argv;
}

process_result run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  if (argv.empty()) throw std::runtime_error("run_process: empty argv");
  std::vector<std::string> storage = emulated_argv(argv);
  std::vector<char*> args;
  for (auto& a : storage) args.push_back(a.data());
  args.push_back(nullptr);

  pipe_fds out;
  pipe_fds err;
  pipe_fds status;
  const auto deadline = steady::now() + timeout;
  const pid_t pid = ::fork();
  if (pid < 0) throw_os_error("fork");
  if (pid == 0) exec_child(args, out, err, status);

  out.close_write();
  err.close_write();
  status.close_write();
  process_result result;
  int exec_errno = 0;
  if (::read(status.read_end, &exec_errno, sizeof exec_errno) == static_cast<ssize_t>(sizeof exec_errno)) {
    wait_for(pid, result);
    throw std::runtime_error("run_process: cannot start '" + argv[0] + "': " + std::strerror(exec_errno));
  }
  drain(pid, out.read_end, err.read_end, deadline, result);
  wait_for(pid, result);
  return result;
}

}  // namespace mq::test
