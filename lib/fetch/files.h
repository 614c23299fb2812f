// File helpers of mq::fetch. mq::fetch uses only the public API of mq::modelquant (whose
// internals are hidden in a shared build), so it carries these few small ones itself.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "mq/result.h"

namespace mq::fetch {

/// "'path'" quoted for error messages.
std::string quote(const std::filesystem::path& path);

/// The OS error text for errno value `err`, lowercase.
std::string os_error(int err);

/// Writes `text` to `target` atomically: temporary file in the same folder, fsync, rename, fsync
/// of the folder. Nothing but the complete file (or the old one) is ever at `target`.
[[nodiscard]] result<void> write_file_atomic(const std::filesystem::path& target, std::string_view text);

/// Renames `from` over `to` and fsyncs the folder (publishing a finished download).
[[nodiscard]] result<void> publish_file(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace mq::fetch
