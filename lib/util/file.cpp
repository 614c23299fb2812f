#include "util/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

namespace mq::util {

std::string quote(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

std::string os_error(int err) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) noexcept {
  struct stat sa {};
  struct stat sb {};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// ---- mapped_file ----

result<mapped_file> mapped_file::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return fail(err == ENOENT ? errc::not_found : errc::io,
                "cannot open " + quote(path) + ": " + os_error(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(errc::io, "cannot stat " + quote(path) + ": " + os_error(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return fail(errc::io, quote(path) + " is a directory, expected a file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(errc::io, quote(path) + " is not a regular file");
  }
  mapped_file file;
  file.size_ = static_cast<std::size_t>(st.st_size);
  if (file.size_ > 0) {
    void* p = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return fail(errc::io, "cannot map " + quote(path) + ": " + os_error(err));
    }
    file.data_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  return file;
}

bool mapped_file::contains(std::span<const std::byte> range) const noexcept {
  return data_ != nullptr && range.data() >= data_ && range.data() + range.size() <= data_ + size_;
}

bool mapped_file::prefetch(std::span<const std::byte> range) const noexcept {
#ifndef MADV_POPULATE_READ
  constexpr int MADV_POPULATE_READ = 22;  // Linux 5.14; older headers lack it
#endif
  if (!contains(range)) return false;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(range.data()) / page * page;
  const auto end = reinterpret_cast<std::uintptr_t>(range.data() + range.size());
  if (begin < end) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_READ);
  return true;
}

bool mapped_file::release(std::span<const std::byte> range) const noexcept {
  if (!contains(range)) return false;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(range.data()) + page - 1) / page * page;
  const auto end = reinterpret_cast<std::uintptr_t>(range.data() + range.size()) / page * page;
  // MADV_DONTNEED on a private, never written file mapping only unmaps: the bytes stay the same.
  if (begin < end) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  return true;
}

mapped_file::mapped_file(mapped_file&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

mapped_file& mapped_file::operator=(mapped_file&& other) noexcept {
  if (this != &other) {
    this->~mapped_file();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

mapped_file::~mapped_file() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

// ---- atomic_file ----

result<atomic_file> atomic_file::create(const std::filesystem::path& target) {
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    return fail(errc::not_found, "output folder " + quote(dir) + " does not exist");
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return fail(errc::io, "output folder " + quote(dir) + " is not a directory");
  }
  if (std::filesystem::is_directory(target, ec)) {
    return fail(errc::io, "output " + quote(target) + " is a directory");
  }
  std::string pattern = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) {
    const int err = errno;
    return fail(errc::io, "cannot write in output folder " + quote(dir) + ": " + os_error(err));
  }
  // mkstemp creates 0600; give the final file the usual permissions (0666 & ~umask).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  (void)::fchmod(fd, static_cast<mode_t>(0666 & ~mask));
  atomic_file file;
  file.target_ = target;
  file.temp_ = pattern;
  file.fd_ = fd;
  return file;
}

result<void> atomic_file::write(std::span<const std::byte> data) {
  const std::byte* p = data.data();
  std::size_t left = data.size();
  const std::size_t start = written_;
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      return fail(errc::io, "cannot write " + quote(target_) + ": " + os_error(err));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
    written_ += static_cast<std::size_t>(n);
  }
  // Start writing big pieces to disk now, so that commit()'s fsync waits for less (a hint; the
  // fsync still makes the file durable).
  if (data.size() >= (1u << 20)) {
    (void)::sync_file_range(fd_, static_cast<off_t>(start), static_cast<off_t>(data.size()), SYNC_FILE_RANGE_WRITE);
  }
  return {};
}

result<void> atomic_file::write(std::string_view data) {
  return write(std::as_bytes(std::span<const char>(data.data(), data.size())));
}

result<void> atomic_file::pad_to(std::size_t alignment) {
  static constexpr std::array<std::byte, 4096> zeros{};
  while (alignment > 1 && written_ % alignment != 0) {
    const std::size_t n = std::min(alignment - written_ % alignment, zeros.size());
    auto ok = write(std::span<const std::byte>(zeros.data(), n));
    if (!ok) return ok;
  }
  return {};
}

result<void> atomic_file::commit() {
  if (::fsync(fd_) != 0) {
    const int err = errno;
    return fail(errc::io, "cannot flush " + quote(target_) + ": " + os_error(err));
  }
  ::close(fd_);
  fd_ = -1;
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    return fail(errc::io, "cannot rename temporary file to " + quote(target_) + ": " + os_error(err));
  }
  temp_.clear();
  // fsync the folder so the rename itself survives a power loss.
  const std::filesystem::path dir = target_.has_parent_path() ? target_.parent_path() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

void atomic_file::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
}

atomic_file::atomic_file(atomic_file&& other) noexcept
    : target_(std::move(other.target_)),
      temp_(std::exchange(other.temp_, {})),
      fd_(std::exchange(other.fd_, -1)),
      written_(std::exchange(other.written_, 0)) {}

atomic_file& atomic_file::operator=(atomic_file&& other) noexcept {
  if (this != &other) {
    discard();
    target_ = std::move(other.target_);
    temp_ = std::exchange(other.temp_, {});
    fd_ = std::exchange(other.fd_, -1);
    written_ = std::exchange(other.written_, 0);
  }
  return *this;
}

atomic_file::~atomic_file() { discard(); }

}  // namespace mq::util
