// File helpers: read-only mappings and atomic (temp + fsync + rename) writes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

#include "mq/result.h"

namespace mq::util {

/// A whole file mapped read-only (mmap). Empty files map to an empty span.
class mapped_file {
 public:
  /// Opens and maps `path`; errors name the file (missing, a directory, unreadable).
  [[nodiscard]] static result<mapped_file> open(const std::filesystem::path& path);

  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::size_t size() const noexcept { return size_; }
  /// Gives back the memory of the whole pages inside `range` (a part of this mapping) once they
  /// have been read: they are dropped from the process, not changed, and a later read maps them
  /// again from the page cache. Keeps the resident size of a big model low while it is processed
  /// tensor by tensor. False (and nothing done) when `range` is not inside the mapping.
  bool release(std::span<const std::byte> range) const noexcept;
  /// Maps the pages of `range` (a part of this mapping) in one call before they are read, instead of
  /// one page fault per few pages (MADV_POPULATE_READ; a hint, ignored by kernels before 5.14).
  /// False (and nothing done) when `range` is not inside the mapping.
  bool prefetch(std::span<const std::byte> range) const noexcept;
  /// True when `range` lies inside this mapping.
  bool contains(std::span<const std::byte> range) const noexcept;

  mapped_file() = default;
  mapped_file(mapped_file&& other) noexcept;
  mapped_file& operator=(mapped_file&& other) noexcept;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file();

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Writes a file so that `target` either keeps its old content or gets the complete new one:
/// data goes to a temporary file in the same folder, which `commit()` fsyncs and renames over
/// `target` (then fsyncs the folder). Destroying an uncommitted writer deletes the temporary.
class atomic_file {
 public:
  /// Creates the temporary file; fails when the folder is missing or not writable.
  [[nodiscard]] static result<atomic_file> create(const std::filesystem::path& target);

  [[nodiscard]] result<void> write(std::span<const std::byte> data);
  [[nodiscard]] result<void> write(std::string_view data);
  /// Pads with zero bytes up to a multiple of `alignment`.
  [[nodiscard]] result<void> pad_to(std::size_t alignment);
  std::size_t bytes_written() const noexcept { return written_; }
  int fd() const noexcept { return fd_; }
  const std::filesystem::path& temp_path() const noexcept { return temp_; }
  const std::filesystem::path& target() const noexcept { return target_; }

  /// fsync + rename over the target + fsync of the folder.
  [[nodiscard]] result<void> commit();

  atomic_file() = default;
  atomic_file(atomic_file&& other) noexcept;
  atomic_file& operator=(atomic_file&& other) noexcept;
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file();

 private:
  void discard() noexcept;
  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  std::size_t written_ = 0;
};

/// "'path'" quoted for error messages.
std::string quote(const std::filesystem::path& path);

/// The OS error text for errno value `err`, lowercase ("no such file or directory").
std::string os_error(int err);

/// True when `a` and `b` name the same existing file (same device and inode).
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) noexcept;

}  // namespace mq::util
