#include "fetch/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "fetch/files.h"

namespace mq::fetch {

result<file_lock> file_lock::acquire(const std::filesystem::path& path, const std::function<void()>& on_wait) {
  file_lock lock;
  lock.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock.fd_ < 0) return fail(errc::io, "cannot open lock file " + quote(path) + ": " + os_error(errno));
  if (::flock(lock.fd_, LOCK_EX | LOCK_NB) == 0) return lock;
  if (errno != EWOULDBLOCK) return fail(errc::io, "cannot lock " + quote(path) + ": " + os_error(errno));
  if (on_wait) on_wait();
  while (::flock(lock.fd_, LOCK_EX) != 0) {
    if (errno != EINTR) return fail(errc::io, "cannot lock " + quote(path) + ": " + os_error(errno));
  }
  return lock;
}

file_lock& file_lock::operator=(file_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

file_lock::~file_lock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

}  // namespace mq::fetch
