// The only file of mq::fetch that includes OpenSSL.
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <vector>

#include "fetch/files.h"
#include "fetch/sha256.h"

namespace mq::fetch {

struct sha256::context {
  EVP_MD_CTX* md = nullptr;
  context() : md(EVP_MD_CTX_new()) {
    if (md == nullptr || EVP_DigestInit_ex(md, EVP_sha256(), nullptr) != 1) {
      EVP_MD_CTX_free(md);
      throw std::bad_alloc();  // libcrypto fails here only when it cannot allocate
    }
  }
  ~context() { EVP_MD_CTX_free(md); }
  context(const context&) = delete;
  context& operator=(const context&) = delete;
};

sha256::sha256() : ctx_(std::make_unique<context>()) {}
sha256::~sha256() = default;
sha256::sha256(sha256&&) noexcept = default;
sha256& sha256::operator=(sha256&&) noexcept = default;

void sha256::update(std::span<const std::byte> data) {
  if (!data.empty()) EVP_DigestUpdate(ctx_->md, data.data(), data.size());
}

void sha256::update(std::string_view data) {
  if (!data.empty()) EVP_DigestUpdate(ctx_->md, data.data(), data.size());
}

std::string sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx_->md, digest, &size);
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 0xf];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  sha256 h;
  h.update(data);
  return h.hex();
}

result<std::string> sha256_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errc::io, "cannot read " + quote(path) + ": " + os_error(errno));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  sha256 h;
  std::vector<std::byte> buffer(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return fail(errc::io, "cannot read " + quote(path) + ": " + os_error(err));
    }
    h.update(std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(n)));
  }
  ::close(fd);
  return h.hex();
}

bool is_sha256_hex(std::string_view text) noexcept {
  if (text.size() != 64) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

}  // namespace mq::fetch
