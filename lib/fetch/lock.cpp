#include "fetch/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "fetch/files.h"

namespace mq::fetch {

result<file_lock> file_lock::acquire(const std::filesystem::path& path, const std::function<void()>& on_wait) {
  bool waited = false;
  for (;;) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return fail(errc::io, "cannot open lock file " + quote(path) + ": " + os_error(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) {
        const int err = errno;
        ::close(fd);
        return fail(errc::io, "cannot lock " + quote(path) + ": " + os_error(err));
      }
      if (!waited && on_wait) on_wait();
      waited = true;
      while (::flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
          const int err = errno;
          ::close(fd);
          return fail(errc::io, "cannot lock " + quote(path) + ": " + os_error(err));
        }
      }
    }
    // The previous holder may have deleted the file while we waited: then this lock guards
    // nothing, and the path (if anything) is another file. Lock that one instead.
    struct stat held {};
    struct stat named {};
    if (::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino) {
      file_lock lock;
      lock.fd_ = fd;
      lock.path_ = path;
      return lock;
    }
    ::close(fd);
  }
}

file_lock::file_lock(file_lock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

file_lock& file_lock::operator=(file_lock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

void file_lock::release() noexcept {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still locked: nobody can be holding the file we delete
  ::close(fd_);             // closing the last descriptor releases the lock
  fd_ = -1;
}

file_lock::~file_lock() { release(); }

}  // namespace mq::fetch
