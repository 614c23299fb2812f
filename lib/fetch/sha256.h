// SHA-256 (FIPS 180-4), streaming. Written here rather than taken from OpenSSL's libcrypto so
// that mq::fetch depends on nothing but libcurl and toml++ (and an installed static
// libmodelquant-fetch needs no extra find_dependency); it is checked against the NIST vectors.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "mq/result.h"

namespace mq::fetch {

/// Incremental SHA-256: update() any number of times, then hex() (which ends the hash).
class sha256 {
 public:
  sha256() noexcept;
  void update(std::span<const std::byte> data) noexcept;
  void update(std::string_view data) noexcept;
  /// The digest as 64 lowercase hex digits. The object is reset afterwards.
  std::string hex();

 private:
  void block(const std::uint8_t* p) noexcept;
  std::array<std::uint32_t, 8> state_{};
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

/// SHA-256 of a string, as hex.
std::string sha256_hex(std::string_view data);

/// SHA-256 of a whole file, as hex; errors name the file.
[[nodiscard]] result<std::string> sha256_file(const std::filesystem::path& path);

/// True when `text` is 64 hex digits (either case).
bool is_sha256_hex(std::string_view text) noexcept;

}  // namespace mq::fetch
