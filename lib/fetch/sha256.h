// SHA-256 through OpenSSL's EVP interface (libcrypto, which libcurl already brings): it uses the
// CPU's SHA instructions where there are any, several times faster than portable C++.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "mq/result.h"

namespace mq::fetch {

/// Incremental SHA-256: update() any number of times, then hex() (which ends the hash).
class sha256 {
 public:
  sha256();
  ~sha256();
  sha256(sha256&&) noexcept;
  sha256& operator=(sha256&&) noexcept;
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;

  void update(std::span<const std::byte> data);
  void update(std::string_view data);
  /// The digest as 64 lowercase hex digits. The object is reset afterwards.
  std::string hex();

 private:
  struct context;
  std::unique_ptr<context> ctx_;
};

/// SHA-256 of a string, as hex.
std::string sha256_hex(std::string_view data);

/// SHA-256 of a whole file, as hex; errors name the file.
[[nodiscard]] result<std::string> sha256_file(const std::filesystem::path& path);

/// True when `text` is 64 hex digits (either case).
bool is_sha256_hex(std::string_view text) noexcept;

}  // namespace mq::fetch
