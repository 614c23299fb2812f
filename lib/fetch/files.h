// File helpers of mq::fetch. mq::fetch uses only the public API of mq::modelquant (whose
// internals are hidden in a shared build), so it carries these few small ones itself.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "mq/result.h"

namespace mq::fetch {

/// "'path'" quoted for error messages.
std::string quote(const std::filesystem::path& path);

/// The OS error text for errno value `err`, lowercase.
std::string os_error(int err);

/// What a file looked like when it was verified: a file with the same size, mtime and inode is
/// taken to hold the same bytes (as `make` and `git` do), so it need not be read again.
struct file_stamp {
  std::uint64_t bytes = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t inode = 0;
  bool operator==(const file_stamp&) const = default;
};

/// The stamp of `path`, or nullopt when it is not a regular file.
std::optional<file_stamp> stamp_of(const std::filesystem::path& path);

/// Writes `text` to `target` atomically: temporary file in the same folder, fsync, rename, fsync
/// of the folder. Nothing but the complete file (or the old one) is ever at `target`.
[[nodiscard]] result<void> write_file_atomic(const std::filesystem::path& target, std::string_view text);

/// Renames `from` over `to` and fsyncs the folder (publishing a finished download).
[[nodiscard]] result<void> publish_file(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace mq::fetch
