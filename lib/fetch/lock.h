// An exclusive advisory lock on a file (flock), held for the object's lifetime. flock locks
// belong to the open file description, so two threads of one process exclude each other too.
// The lock file exists only while it is held: the holder deletes it before it unlocks, and a
// waiter that then gets the lock on the deleted file notices and locks the path's new file.
#pragma once

#include <filesystem>
#include <functional>

#include "mq/result.h"

namespace mq::fetch {

class file_lock {
 public:
  /// Creates `path` if needed and locks it; when another holder has it, calls `on_wait` once
  /// and blocks until it is released. Errors name the lock file.
  [[nodiscard]] static result<file_lock> acquire(const std::filesystem::path& path,
                                                 const std::function<void()>& on_wait = {});

  file_lock() = default;
  file_lock(file_lock&& other) noexcept;
  file_lock& operator=(file_lock&& other) noexcept;
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;
  /// Deletes the lock file and unlocks.
  ~file_lock();

 private:
  void release() noexcept;
  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace mq::fetch
