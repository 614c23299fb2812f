// Downloads one URL into a `.partial` file with libcurl (the only file that includes curl):
// resume with Range, retries with backoff, stall detection, bearer token kept to its host.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "mq/result.h"

namespace mq::fetch {

/// How hard to try.
struct transfer_options {
  std::string token;  ///< sent as "Authorization: Bearer ..." to the URL's own scheme+host+port only
  std::chrono::milliseconds connect_timeout{15000};
  /// A transfer that receives no byte for this long is aborted (and retried, resuming).
  std::chrono::milliseconds stall_timeout{30000};
  int max_attempts = 5;  ///< attempts in total, for transient failures (reset, timeout, stall, 5xx)
  std::chrono::milliseconds backoff{500};  ///< wait before the 2nd attempt; doubles each time (max 30 s)
  int max_redirects = 10;
};

/// What a finished transfer reports.
struct transfer_result {
  std::uint64_t bytes = 0;     ///< size of the complete file
  /// The hub's X-Linked-Etag when a response of the redirect chain has one (the hub puts it on its
  /// redirect to the CDN), else the final response's ETag; "" when the server gave none.
  std::string etag;
  std::string final_url;       ///< after redirects
  int attempts = 0;            ///< requests that failed transiently before success, plus one
  std::uint64_t resumed_from = 0;  ///< bytes already in `partial` when the last request started
};

/// Called as bytes arrive: bytes in the file so far, and the total (0 when unknown).
using byte_progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

/// Downloads `url` (http, https or file) and appends it to `partial`, resuming from the bytes
/// already there (Range request; a server that answers 200 instead restarts from zero).
/// On success `partial` holds the whole file. On failure `partial` keeps what arrived (so the
/// next run resumes). Errors (`errc::network`, `errc::not_found`) name the URL and the cause:
/// HTTP status with what to check (401/403: token; 404: repo, revision, filename), curl's
/// error, or "stalled: no data for N ms".
[[nodiscard]] result<transfer_result> download(const std::string& url, const std::filesystem::path& partial,
                                               const transfer_options& options, const byte_progress& progress = {});

/// What a HEAD request tells about a URL, redirects followed (and the token kept) like `download`.
struct remote_file {
  std::string etag;       ///< the hub's X-Linked-Etag when any response of the chain has one, else the final ETag
  std::uint64_t size = 0; ///< Content-Length of the final response (0 when unknown)
  std::string final_url;
};

/// A HEAD request for `url` (http or https): the cheap "did the upstream file change?" check.
/// Errors as for `download` (`errc::not_found` for 404, `errc::network` otherwise).
[[nodiscard]] result<remote_file> probe(const std::string& url, const transfer_options& options);

/// "scheme://host:port" of a URL (lowercase scheme and host, default port filled in), or "".
std::string url_origin(const std::string& url);

}  // namespace mq::fetch
